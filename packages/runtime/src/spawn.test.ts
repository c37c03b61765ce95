// spawnWithFds (the addon's posix_spawn): the given fds and nothing else, the exit, the errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '@berth/errors';
import { LinuxSys } from '@berth/native';
import { spawnWithFds } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the given fds are the program\'s 0..n-1, and no other fd; exit code and signal', async () => {
  const out = join(dir, 'out');
  const [devNull, fd] = [openSync('/dev/null', 'r'), openSync(out, 'w')];
  try {
    // fd 1 and fd 3 are the same file; the program lists its fds.
    const p = spawnWithFds('/bin/sh', ['-c', 'echo one; echo three >&3; ls /proc/self/fd >&3; exit 5'], [devNull, fd, fd, fd]);
    assert.ok(p.pid > 0);
    assert.equal(await p.wait(), { code: 5, signal: null });
    assert.is(p.wait(), p.wait(), 'one wait');
  } finally {
    for (const f of [devNull, fd]) closeSync(f);
  }
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines.slice(0, 2), ['one', 'three']);
  // 0-3, and the one ls opened to list them: nothing else, even an fd this process inherited
  // without close-on-exec (as the test runner may).
  const fds = lines.slice(2).map(Number);
  for (const n of [0, 1, 2, 3]) assert.ok(fds.includes(n), `fd ${n} given`);
  assert.ok(fds.length === 5 && fds.every((n) => n <= 4), `only the fds given: ${fds.join(' ')}`);
  const killed = spawnWithFds('/bin/sh', ['-c', 'kill -TERM $$'], [0, 1, 2]);
  assert.equal(await killed.wait(), { code: null, signal: 'SIGTERM' });
});

test('fds that sit on each other\'s targets are moved, not clobbered', async () => {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const [fa, fb] = [openSync(a, 'w'), openSync(b, 'w')];
  try {
    // fd 1 gets what is at fb, fd 2 what is at fa: a swap if fa/fb were 2/1.
    const p = spawnWithFds('/bin/sh', ['-c', 'echo to-b; echo to-a >&2'], [0, fb, fa]);
    assert.equal(await p.wait(), { code: 0, signal: null });
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
  assert.is(readFileSync(a, 'utf8'), 'to-a\n');
  assert.is(readFileSync(b, 'utf8'), 'to-b\n');
});

test('signals are at their defaults and unblocked (Node ignores SIGPIPE); detached leads a session', async () => {
  const out = join(dir, 'sig');
  const fd = openSync(out, 'w');
  try {
    // SigIgn and SigBlk of the program: 0 for both (glibc's internal 32 and 33 included). Its
    // session id is its pid.
    const p = spawnWithFds('/bin/sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status; cut -d" " -f6 /proc/$$/stat; echo $$'], [0, fd, 2], { detached: true });
    assert.equal(await p.wait(), { code: 0, signal: null });
  } finally {
    closeSync(fd);
  }
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.match(lines.find((l) => l.startsWith('SigIgn:')) ?? '', /^SigIgn:\s+0+$/);
  assert.match(lines.find((l) => l.startsWith('SigBlk:')) ?? '', /^SigBlk:\s+0+$/);
  const [sid, pid] = lines.slice(-2);
  assert.is(sid, pid);
});

test('a program that is not there fails to spawn with ENOENT', () => {
  try {
    spawnWithFds(join(dir, 'nope'), [], [0, 1, 2]);
    assert.unreachable('spawned');
  } catch (e) {
    assert.ok(isBerthError(e), String(e));
    assert.is((e as { errno?: string }).errno, 'ENOENT');
  }
});

test('waiting for a process that is not our child fails with ECHILD', async () => {
  const e = await new LinuxSys().waitPid(1).then(() => undefined, (err: unknown) => err);
  assert.ok(isBerthError(e), String(e));
  assert.is((e as { errno?: string }).errno, 'ECHILD');
});

test.run();
