// Finding the native build's files, and loading nothing until the first call.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BerthError } from '@berth/errors';
import { addonPath, LinuxSys, searchDirs, shimPath } from './index.js';
import { locate } from './locate.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-locate-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('BERTH_NATIVE_DIR comes first, then beside the module, then ../build/Release', () => {
  const dirs = searchDirs({ BERTH_NATIVE_DIR: dir });
  assert.is(dirs[0], dir);
  assert.ok(dirs[2]?.endsWith(join('build', 'Release')), dirs.join(' '));
  writeFileSync(join(dir, 'berth_native.node'), '');
  assert.is(addonPath({ BERTH_NATIVE_DIR: dir }), join(dir, 'berth_native.node'));
});

test('berth-shim must be executable to count', () => {
  const shim = join(dir, 'berth-shim');
  writeFileSync(shim, '#!/bin/sh\n');
  chmodSync(shim, 0o644);
  // process.getuid() === 0 can execute any file with an x bit somewhere; with none it cannot
  assert.is.not(shimPath({ BERTH_NATIVE_DIR: dir }), shim);
  chmodSync(shim, 0o755);
  assert.is(shimPath({ BERTH_NATIVE_DIR: dir }), shim);
});

test('a missing build is a FailedPrecondition that says how to build', () => {
  try {
    locate('berth-no-such-file', constants.R_OK, 'native addon', { BERTH_NATIVE_DIR: dir });
    assert.unreachable('found a file that does not exist');
  } catch (e) {
    assert.ok(e instanceof BerthError);
    assert.is(e.code, 'FailedPrecondition');
    assert.match(e.message, /^berth's native addon is not built: run `npm run build -w native` \(needs g\+\+, make, python3\)/);
    assert.match(e.message, new RegExp(dir));
  }
});

test('a LinuxSys on a broken addon constructs fine and fails on its first call', () => {
  const sys = new LinuxSys({ addonPath: join(dir, 'berth_native.node') }); // the empty file above
  try {
    sys.umount2('/nowhere');
    assert.unreachable('loaded an empty file');
  } catch (e) {
    assert.ok(e instanceof BerthError);
    assert.is(e.code, 'Internal');
    assert.match(e.message, /^load berth's native addon .*berth_native\.node: .*rebuild it with `npm run build -w native`$/);
  }
});

test('BERTH_RESOLVER picks the resolver unless the options do', () => {
  const saved = process.env['BERTH_RESOLVER'];
  try {
    process.env['BERTH_RESOLVER'] = 'walk';
    assert.is(new LinuxSys().resolver, 'walk');
    assert.is(new LinuxSys({ resolver: 'openat2' }).resolver, 'openat2');
    process.env['BERTH_RESOLVER'] = 'bogus';
    assert.is(new LinuxSys().resolver, 'auto');
  } finally {
    if (saved === undefined) delete process.env['BERTH_RESOLVER'];
    else process.env['BERTH_RESOLVER'] = saved;
  }
});

test('importing @berth/native maps no native code; the first LinuxSys call does', () => {
  const code = `
    import { readFileSync } from 'node:fs';
    import { LinuxSys } from '@berth/native';
    const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('berth_native.node');
    const before = mapped();
    const sys = new LinuxSys();
    const constructed = mapped();
    sys.openat2Available();
    console.log(JSON.stringify([before, constructed, mapped()]));
  `;
  const r = spawnSync(process.execPath, ['--conditions=berth-source', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: process.env['BERTH_REPO'] ?? process.cwd(),
    encoding: 'utf8',
  });
  if (r.status !== 0 && /not built/.test(r.stderr)) {
    console.log('# skip: the addon is not built');
    return;
  }
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), [false, false, true]);
});

test.run();
