// spawnWithFds (libuv's process handle) and its node:child_process fallback: the same contract.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '@berth/errors';
import { spawnWithChildProcess, spawnWithFds } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const [name, spawn] of [['process handle', spawnWithFds], ['child_process', spawnWithChildProcess]] as const) {
  test(`${name}: the given fds are the program's 0..n-1; exit code and signal`, async () => {
    const out = join(dir, `${name}.out`);
    const [devNull, fd] = [openSync('/dev/null', 'r'), openSync(out, 'w')];
    try {
      // fd 1 and fd 3 are the same file; the program lists its fds.
      const p = spawn('/bin/sh', ['-c', 'echo one; echo three >&3; ls /proc/self/fd >&3; exit 5'], [devNull, fd, fd, fd]);
      assert.ok(p.pid > 0);
      assert.equal(await p.exited, { code: 5, signal: null });
    } finally {
      for (const f of [devNull, fd]) closeSync(f);
    }
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.slice(0, 2), ['one', 'three']);
    const fds = lines.slice(2).map(Number);
    for (const n of [0, 1, 2, 3]) assert.ok(fds.includes(n), `fd ${n} given`);
    const killed = spawn('/bin/sh', ['-c', 'kill -TERM $$'], [0, 1, 2]);
    assert.equal(await killed.exited, { code: null, signal: 'SIGTERM' });
  });
}

test('a program that is not there fails to spawn with ENOENT', () => {
  try {
    spawnWithFds(join(dir, 'nope'), [], [0, 1, 2]);
    assert.unreachable('spawned');
  } catch (e) {
    assert.ok(isBerthError(e), String(e));
    assert.is((e as { errno?: string }).errno, 'ENOENT');
  }
});

test.run();
