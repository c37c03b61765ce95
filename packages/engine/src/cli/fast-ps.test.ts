import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@berth/layer-store/db';
import { containerStore } from '../containers/record.js';
import { run } from './fast-ps.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-fast-ps-'));
const root = join(dir, 'root');
const ps = (...args: string[]) => run(['--root', root, '--state', join(dir, 'state'), 'ps', ...args]);

test('declines what it does not answer itself, having printed nothing: other commands, help, bad flags and filters', () => {
  assert.is(run(['version']), false);
  assert.is(run(['-v', 'ps']), false);
  assert.is(ps('--help'), false);
  assert.is(ps('--bogus'), false);
  assert.is(ps('-n'), false);
  assert.is(ps('extra'), false);
});

test('answers from berth.db, and leaves a row whose holder is gone to the engine to settle', () => {
  assert.is(ps('-aq'), true, 'an empty store');
  const store = containerStore(openDatabase(root));
  const config = { options: { labels: {} }, image: {}, path: 'true', args: [] } as never;
  const c = store.insert({ image: 'busybox:latest', imageId: 'sha256:x', config });
  assert.is(ps('-aq'), true, 'a created container has no holder');
  assert.is(ps('-a', '--filter', 'bogus=1'), false, 'the full CLI reports the unknown filter');
  // A running row held by a shim that is gone: pid 2^22+1 exceeds pid_max, so it is no process.
  store.update(c.id, { status: 'running', pid: 2 ** 22 + 2, shimPid: 2 ** 22 + 1, startedAt: new Date().toISOString() });
  assert.is(ps('-q'), false);
  assert.is(ps('-aq'), false);
  store.update(c.id, { status: 'exited', pid: 0, shimPid: 0, exitCode: 137 });
  assert.is(ps('-aq'), true);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
