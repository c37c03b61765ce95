import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot } from './resolve.js';

const root = mkdtempSync(join(tmpdir(), 'berth-resolve-'));
mkdirSync(join(root, 'usr/lib'), { recursive: true });
symlinkSync('/', join(root, 'escape'));
symlinkSync('../../..', join(root, 'usr/up'));
symlinkSync('/usr/lib', join(root, 'lib'));
symlinkSync('loop2', join(root, 'loop1'));
symlinkSync('loop1', join(root, 'loop2'));

test('plain paths and missing components stay inside the root as written', () => {
  assert.equal(resolveInRoot(root, '/usr/lib'), join(root, 'usr/lib'));
  assert.equal(resolveInRoot(root, '/new/dir/x'), join(root, 'new/dir/x'));
  assert.equal(resolveInRoot(root, '/'), root);
});

test('absolute symlinks restart at the root; .. stops at the root', () => {
  assert.equal(resolveInRoot(root, '/escape/etc/passwd'), join(root, 'etc/passwd'));
  assert.equal(resolveInRoot(root, '/usr/up/etc'), join(root, 'etc'));
  assert.equal(resolveInRoot(root, '/../../etc'), join(root, 'etc'));
  assert.equal(resolveInRoot(root, '/lib/x'), join(root, 'usr/lib/x'));
});

test('symlink loops are refused', () => {
  assert.throws(() => resolveInRoot(root, '/loop1/x'), /too many levels of symbolic links/);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
