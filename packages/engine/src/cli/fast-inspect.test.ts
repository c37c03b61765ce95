import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@berth/layer-store/db';
import { containerStore } from '../containers/record.js';
import { run } from './fast-inspect.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-fast-inspect-'));
const root = join(dir, 'root');
const inspect = (...args: string[]) => run(['--root', root, '--state', join(dir, 'state'), 'inspect', ...args]);

test('answers for containers it finds; declines (printing nothing) other commands, help, bad flags, unknown references and stale rows', () => {
  assert.is(run(['ps']), false);
  assert.is(inspect('--help'), false);
  assert.is(inspect(), false, 'a container is required');
  const store = containerStore(openDatabase(root));
  const config = { options: { labels: {}, restart: { name: 'no', maxRetries: 0 }, security: {}, resources: {}, ulimits: [], command: [] }, image: {}, path: 'true', args: [] } as never;
  const c = store.insert({ name: 'one', image: 'busybox:latest', imageId: 'sha256:x', config });
  assert.is(inspect('-f', '{{.Name}}', 'one'), true);
  assert.is(inspect('-z', 'one'), false);
  assert.is(inspect('one', 'nosuch'), false, 'the full CLI reports the unknown one and prints the other');
  // A running row held by a shim that is gone: pid 2^22+1 exceeds pid_max, so it is no process.
  store.update(c.id, { status: 'running', pid: 2 ** 22 + 2, shimPid: 2 ** 22 + 1, startedAt: new Date().toISOString() });
  assert.is(inspect('-f', '{{.State.Status}}', 'one'), false);
  store.update(c.id, { status: 'exited', pid: 0, shimPid: 0, exitCode: 137 });
  assert.is(inspect('-f', '{{.State.Status}}', c.id.slice(0, 6)), true);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
