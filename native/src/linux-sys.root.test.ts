// The real door, as root: mounts, locks between processes, in-root resolution with both resolvers,
// device nodes, xattrs, fd passing and pidfds. Every mount, temp dir, fd and child is cleaned up.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BerthError } from '@berth/errors';
import { FileType, LinuxSys, MountFlags, OpenFlags, UmountFlags, type ResolveOptions, type Resolver } from './index.js';
import { errorOf, sysConformance } from './testsuite.js';

const sys = new LinuxSys();
const base = mkdtempSync(join(tmpdir(), 'berth-native-'));
const mounted: string[] = [];
const children: ChildProcess[] = [];
const fds: number[] = [];

function mountTmpfs(dir: string): void {
  mkdirSync(dir, { recursive: true });
  sys.mount('tmpfs', dir, 'tmpfs', MountFlags.NOSUID | MountFlags.NODEV, 'size=4m,mode=0755');
  mounted.push(dir);
}

function mountinfoHas(target: string): boolean {
  // field 5 of /proc/self/mountinfo is the mount point
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === target);
}


test.after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const fd of fds) {
    try { closeSync(fd); } catch { /* already closed by the test */ }
  }
  for (const m of mounted.reverse()) {
    try { sys.umount2(m, UmountFlags.DETACH); } catch { /* unmounted by the test */ }
  }
  rmSync(base, { recursive: true, force: true });
});

// ---- mount / umount2 ----

test('mount tmpfs on a temp dir shows in mountinfo; umount2 removes it', () => {
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  sys.mount('tmpfs', dir, 'tmpfs', MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC, 'size=1m');
  try {
    assert.ok(mountinfoHas(dir), 'the tmpfs is in /proc/self/mountinfo');
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir) ?? '';
    assert.match(line, / - tmpfs tmpfs /);
    assert.match(line.split(' ')[5] ?? '', /nosuid,nodev,noexec/);
    writeFileSync(join(dir, 'f'), 'x');
  } finally {
    sys.umount2(dir);
  }
  assert.not.ok(mountinfoHas(dir), 'gone after umount2');
  assert.throws(() => statSync(join(dir, 'f')), 'the file lived on the tmpfs');
});

test('mount on a missing target is NotFound and names the path', () => {
  const target = join(base, 'no', 'such', 'dir');
  const e = errorOf(() => sys.mount('tmpfs', target, 'tmpfs', 0));
  assert.is(e.code, 'NotFound');
  assert.is(e.errno, 'ENOENT');
  assert.is(e.syscall, 'mount');
  assert.is(e.path, target);
  assert.is(e.message, `mount tmpfs on ${target}: no such file or directory`);
});

test('mount of an unknown file system type and umount2 of a non-mount fail with their errno', () => {
  const dir = join(base, 'plain');
  mkdirSync(dir);
  const nodev = errorOf(() => sys.mount('x', dir, 'berthfs-nope', 0));
  assert.is(nodev.errno, 'ENODEV');
  assert.is(nodev.path, dir);
  const inval = errorOf(() => sys.umount2(dir));
  assert.is(inval.code, 'InvalidArgument');
  assert.is(inval.errno, 'EINVAL');
  assert.is(inval.syscall, 'umount2');
  assert.is(inval.message, `unmount ${dir}: invalid argument`);
});

test('bind mount, remount read-only, lazy unmount', () => {
  const src = join(base, 'bind-src');
  const dst = join(base, 'bind-dst');
  mkdirSync(src);
  mkdirSync(dst);
  writeFileSync(join(src, 'hello'), 'hi');
  sys.mount(src, dst, null, MountFlags.BIND);
  mounted.push(dst);
  assert.is(readFileSync(join(dst, 'hello'), 'utf8'), 'hi');
  sys.mount(null, dst, null, MountFlags.BIND | MountFlags.REMOUNT | MountFlags.RDONLY);
  assert.throws(() => writeFileSync(join(dst, 'new'), 'x'), /EROFS/);
  sys.umount2(dst, UmountFlags.DETACH);
  assert.not.ok(mountinfoHas(dst));
});

// ---- flock ----

function lockHolder(file: string, holdMs: number): ChildProcess {
  // A separate process (flock locks are per open file description, so only another process or
  // another open() contends): it locks, says so, holds for holdMs, exits.
  const code = `
    import { openSync } from 'node:fs';
    import { LinuxSys } from '@berth/native';
    const fd = openSync(${JSON.stringify(file)}, 'r');
    new LinuxSys().flock(fd, 'exclusive');
    process.stdout.write('locked\\n');
    setTimeout(() => process.exit(0), ${holdMs});
  `;
  const child = spawn(process.execPath, ['--conditions=berth-source', '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: process.env['BERTH_REPO'] ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return child;
}

async function untilLocked(child: ChildProcess): Promise<void> {
  let out = '';
  for await (const chunk of child.stdout ?? []) {
    out += String(chunk);
    if (out.includes('locked')) return;
  }
  throw new Error('the lock holder exited before locking');
}

test('flock: exclusive contention with another process, non-blocking then blocking', async () => {
  const file = join(base, 'lockfile');
  writeFileSync(file, '');
  const child = lockHolder(file, 600);
  await untilLocked(child);
  const fd = openSync(file, 'r');
  fds.push(fd);
  assert.is(sys.flock(fd, 'exclusive', true), false, 'held by the child: non-blocking says no');
  assert.is(sys.flock(fd, 'shared', true), false, 'a shared lock conflicts with an exclusive one too');
  const started = Date.now();
  assert.is(sys.flock(fd, 'exclusive'), true, 'blocking waits for the child to exit');
  assert.ok(Date.now() - started >= 200, `waited ${Date.now() - started} ms`);
  assert.is(sys.flock(fd, 'unlock'), true);
  if (child.exitCode === null) await once(child, 'exit');
});

test('flock: shared locks coexist; a bad fd is an error with the fd in the message', () => {
  const file = join(base, 'shared-lock');
  writeFileSync(file, '');
  const a = openSync(file, 'r');
  const b = openSync(file, 'r');
  fds.push(a, b);
  assert.is(sys.flock(a, 'shared', true), true);
  assert.is(sys.flock(b, 'shared', true), true);
  assert.is(sys.flock(b, 'exclusive', true), false, 'upgrading while another shares is refused');
  const e = errorOf(() => sys.flock(987654, 'exclusive', true));
  assert.is(e.errno, 'EBADF');
  assert.match(e.message, /fd 987654/);
  assert.is(e.path, undefined, 'an fd is not a path');
});

// ---- resolveInRoot ----

// root/
//   etc/passwd            "inside"
//   dir/                  empty
//   file                  regular file
//   abs       -> /
//   absetc    -> /etc
//   rel       -> ../../../../../../etc      (climbs out, relatively)
//   chain1    -> chain2 -> dir/../rel       (a chain that ends out of the root)
//   loop1     -> loop2 -> loop1
//   dangling  -> /newfile
//   dangrel   -> dir/new
//   dangesc   -> ../../../../dir/escaped
function makeTree(at: string): string {
  mkdirSync(join(at, 'etc'), { recursive: true });
  mkdirSync(join(at, 'dir'));
  writeFileSync(join(at, 'etc', 'passwd'), 'inside\n');
  writeFileSync(join(at, 'file'), '');
  for (const [name, target] of [
    ['abs', '/'], ['absetc', '/etc'], ['rel', '../../../../../../etc'], ['chain1', 'chain2'], ['chain2', 'dir/../rel'],
    ['loop1', 'loop2'], ['loop2', 'loop1'], ['dangling', '/newfile'], ['dangrel', 'dir/new'], ['dangesc', '../../../../dir/escaped'],
  ] as const) symlinkSync(target, join(at, name));
  return at;
}
const root = makeTree(join(base, 'root'));
// the root itself reached through a symlink: results are spelled with the caller's root
symlinkSync(root, join(base, 'root-link'));

type Expect = string | { readonly errno: string; readonly code: string };
interface Case {
  readonly path: string;
  readonly options?: ResolveOptions;
  readonly inRoot: Expect;
  readonly beneath: Expect;
}
const EXDEV = { errno: 'EXDEV', code: 'InvalidArgument' } as const;
const ELOOP = { errno: 'ELOOP', code: 'InvalidArgument' } as const;
const ENOENT = { errno: 'ENOENT', code: 'NotFound' } as const;
const ENOTDIR = { errno: 'ENOTDIR', code: 'InvalidArgument' } as const;
const missing = { allowMissingLeaf: true } as const;
const cases: Case[] = [
  { path: '', inRoot: '', beneath: '' },
  { path: '/', inRoot: '', beneath: '' },
  { path: 'etc/passwd', inRoot: 'etc/passwd', beneath: 'etc/passwd' },
  { path: '/etc/passwd', inRoot: 'etc/passwd', beneath: 'etc/passwd' },
  { path: '../../etc/passwd', inRoot: 'etc/passwd', beneath: EXDEV },
  { path: 'dir/../etc/./passwd', inRoot: 'etc/passwd', beneath: 'etc/passwd' },
  { path: 'abs', inRoot: '', beneath: EXDEV },
  { path: 'abs/etc/passwd', inRoot: 'etc/passwd', beneath: EXDEV },
  { path: 'abs', options: { noFollowLeaf: true }, inRoot: 'abs', beneath: 'abs' },
  { path: 'absetc/passwd', inRoot: 'etc/passwd', beneath: EXDEV },
  { path: 'rel/passwd', inRoot: 'etc/passwd', beneath: EXDEV },
  { path: 'chain1/passwd', inRoot: 'etc/passwd', beneath: EXDEV },
  { path: 'loop1', inRoot: ELOOP, beneath: ELOOP },
  { path: 'loop1', options: { noFollowLeaf: true }, inRoot: 'loop1', beneath: 'loop1' },
  { path: 'dir/loop2/x', inRoot: ENOENT, beneath: ENOENT },
  { path: 'loop2/x', inRoot: ELOOP, beneath: ELOOP },
  { path: 'file/x', inRoot: ENOTDIR, beneath: ENOTDIR },
  { path: 'dir/nothing', inRoot: ENOENT, beneath: ENOENT },
  { path: 'dir/nothing', options: missing, inRoot: 'dir/nothing', beneath: 'dir/nothing' },
  { path: 'nowhere/nothing', options: missing, inRoot: ENOENT, beneath: ENOENT },
  { path: '../../nothing', options: missing, inRoot: 'nothing', beneath: EXDEV },
  { path: 'abs/nothing', options: missing, inRoot: 'nothing', beneath: EXDEV },
  // a dangling symlink as the missing leaf is followed, so creating the result stays inside
  { path: 'dangling', options: missing, inRoot: 'newfile', beneath: EXDEV },
  { path: 'dangrel', options: missing, inRoot: 'dir/new', beneath: 'dir/new' },
  { path: 'dangesc', options: missing, inRoot: 'dir/escaped', beneath: EXDEV },
  { path: 'dangling', options: { allowMissingLeaf: true, noFollowLeaf: true }, inRoot: 'dangling', beneath: 'dangling' },
];

const resolvers: Resolver[] = ['openat2', 'walk', 'auto'];
for (const resolver of resolvers) {
  test(`resolveInRoot (${resolver}): escapes are contained (in-root) or refused (beneath)`, () => {
    const r = new LinuxSys({ resolver });
    if (resolver === 'openat2' && !r.openat2Available()) {
      console.log('# skip: the kernel has no openat2 (Linux < 5.6)');
      return;
    }
    for (const c of cases) {
      for (const mode of ['in-root', 'beneath'] as const) {
        const want = mode === 'in-root' ? c.inRoot : c.beneath;
        const label = `${resolver} ${mode} ${JSON.stringify(c.path)} ${JSON.stringify(c.options ?? {})}`;
        const run = () => r.resolveInRoot(root, c.path, { ...c.options, mode });
        if (typeof want === 'string') {
          assert.is(run(), want === '' ? root : join(root, want), label);
        } else {
          const e = errorOf(run);
          assert.is(e.errno, want.errno, `${label}: ${e.message}`);
          assert.is(e.code, want.code, label);
          assert.ok(e.message.startsWith(`resolve ${JSON.stringify(c.path)} in ${root}: `), e.message);
          const parts = c.path.split('/').filter((p) => p !== '' && p !== '.');
          assert.is(e.path, parts.length === 0 ? root : `${root}/${parts.join('/')}`, label);
        }
      }
    }
  });

  test(`resolveInRoot (${resolver}): a root reached through a symlink keeps the caller's spelling`, () => {
    const r = new LinuxSys({ resolver });
    if (resolver === 'openat2' && !r.openat2Available()) return;
    const viaLink = join(base, 'root-link');
    assert.is(r.resolveInRoot(viaLink, '../../etc/passwd'), join(viaLink, 'etc', 'passwd'));
    assert.is(readFileSync(r.resolveInRoot(viaLink, 'abs/etc/passwd'), 'utf8'), 'inside\n');
    assert.is(r.resolveInRoot('/', 'etc/../etc'), '/etc', 'the host root works as a root');
  });
}

for (const resolver of resolvers) {
  test(`openInRoot (${resolver}): opens and creates inside the root only; fds are close-on-exec`, () => {
    const r = new LinuxSys({ resolver });
    if (resolver === 'openat2' && !r.openat2Available()) return;
    const tree = makeTree(join(base, `open-${resolver}`));
    const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL } = fsConstants;
    const O_PATH = OpenFlags.PATH;
    const readFd = (fd: number): string => {
      fds.push(fd);
      assert.ok((fdFlags(fd) & O_CLOEXEC) !== 0, 'O_CLOEXEC');
      return readFileSync(fd, 'utf8');
    };
    assert.is(readFd(r.openInRoot(tree, 'abs/etc/passwd')), 'inside\n');
    assert.is(readFd(r.openInRoot(tree, '../../rel/passwd', { flags: O_RDONLY })), 'inside\n');
    assert.is(errorOf(() => r.openInRoot(tree, 'abs/etc/passwd', { mode: 'beneath' })).errno, 'EXDEV');
    // creating through a dangling absolute symlink lands inside the root
    const created = r.openInRoot(tree, 'dangling', { flags: O_WRONLY | O_CREAT, perm: 0o600 });
    fds.push(created);
    writeFileSync(created, 'made');
    assert.is(readFileSync(join(tree, 'newfile'), 'utf8'), 'made');
    assert.is(statSync(join(tree, 'newfile')).mode & 0o777, 0o600);
    // O_EXCL refuses any existing leaf, a dangling symlink too (open(2)); without it the link is followed
    assert.is(errorOf(() => r.openInRoot(tree, 'dangrel', { flags: O_WRONLY | O_CREAT | O_EXCL })).errno, 'EEXIST');
    const rel = r.openInRoot(tree, 'dangrel', { mode: 'beneath', flags: O_WRONLY | O_CREAT });
    fds.push(rel);
    assert.ok(statSync(join(tree, 'dir', 'new')).isFile(), 'a relative dangling link is created beneath too');
    assert.is(errorOf(() => r.openInRoot(tree, 'dangesc', { mode: 'beneath', flags: O_WRONLY | O_CREAT })).errno, 'EXDEV');
    const excl = errorOf(() => r.openInRoot(tree, 'etc/passwd', { flags: O_WRONLY | O_CREAT | O_EXCL }));
    assert.is(excl.code, 'AlreadyExists');
    assert.is(errorOf(() => r.openInRoot(tree, 'loop1')).errno, 'ELOOP');
    assert.is(errorOf(() => r.openInRoot(tree, 'abs', { noFollowLeaf: true })).errno, 'ELOOP');
    const link = r.openInRoot(tree, 'abs', { noFollowLeaf: true, flags: O_PATH });
    fds.push(link);
    assert.ok(fstatSync(link).isSymbolicLink(), 'O_PATH|O_NOFOLLOW gives the link itself');
    assert.is(errorOf(() => r.openInRoot(tree, 'nowhere/x', { flags: O_WRONLY | O_CREAT })).code, 'NotFound');
  });
}

test('resolveInRoot and openInRoot: a directory swapped for a symlink to / meanwhile never yields anything outside', async () => {
  const raceRoot = join(base, 'race');
  mkdirSync(join(raceRoot, 'd', 'etc'), { recursive: true });
  writeFileSync(join(raceRoot, 'd', 'etc', 'passwd'), 'inside\n');
  // the attacker: swaps d between a real directory and a symlink to the host root, as fast as it can
  const attacker = spawn('/bin/sh', ['-c', 'cd "$1" && while :; do mv d d2; ln -s / d; rm d; mv d2 d; done', 'sh', raceRoot], { stdio: 'ignore' });
  children.push(attacker);
  const seen = { ok: 0, failed: 0 };
  const deadline = Date.now() + 1500;
  try {
    while (Date.now() < deadline) {
      for (const resolver of ['openat2', 'walk'] as const) {
        for (const mode of ['in-root', 'beneath'] as const) {
          try {
            const r = new LinuxSys({ resolver });
            const got = r.resolveInRoot(raceRoot, 'd/etc/passwd', { mode, allowMissingLeaf: true });
            assert.ok(got.startsWith(`${raceRoot}/`), got);
            // the fd form is race-free: whatever it opened is the file inside
            const fd = r.openInRoot(raceRoot, 'd/etc/passwd', { mode });
            try {
              assert.is(readFileSync(fd, 'utf8'), 'inside\n');
            } finally {
              closeSync(fd);
            }
            seen.ok += 1;
          } catch (e) {
            assert.ok(e instanceof BerthError && ['ENOENT', 'EXDEV', 'EAGAIN'].includes(e.errno ?? ''), String(e));
            seen.failed += 1;
          }
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    attacker.kill('SIGKILL');
    await once(attacker, 'exit').catch(() => undefined);
  }
  assert.ok(seen.ok > 0, `no resolution succeeded (${seen.failed} failed)`);
});

test('resolveInRoot: magic links under /proc are refused (ELOOP) by both resolvers', () => {
  for (const resolver of ['auto', 'walk'] as const) {
    const e = errorOf(() => new LinuxSys({ resolver }).resolveInRoot('/', 'proc/self/fd/0'));
    assert.is(e.errno, 'ELOOP', resolver);
  }
});

test('resolveInRoot: a missing root is NotFound naming the root', () => {
  const e = errorOf(() => sys.resolveInRoot(join(base, 'no-root'), 'x'));
  assert.is(e.code, 'NotFound');
  assert.is(e.path, join(base, 'no-root'));
});

// ---- mknod ----

test('mknod: a whiteout (char 0/0), a FIFO and a char device node', () => {
  const dir = join(base, 'nodes');
  mkdirSync(dir);
  sys.mknod(join(dir, 'wh'), FileType.CHR | 0o644);
  const wh = statSync(join(dir, 'wh'));
  assert.ok(wh.isCharacterDevice());
  assert.is(wh.rdev, 0);
  sys.mknod(join(dir, 'fifo'), FileType.FIFO | 0o600);
  assert.ok(statSync(join(dir, 'fifo')).isFIFO());
  assert.is(statSync(join(dir, 'fifo')).mode & 0o777, 0o600);
  sys.mknod(join(dir, 'null'), FileType.CHR | 0o666, 1, 3);
  assert.is(statSync(join(dir, 'null')).rdev, (1 << 8) | 3);
  const e = errorOf(() => sys.mknod(join(dir, 'fifo'), FileType.FIFO | 0o600));
  assert.is(e.code, 'AlreadyExists');
  assert.is(e.path, join(dir, 'fifo'));
});

// ---- xattrs ----

test('xattrs: trusted.overlay.opaque and security.capability set, got, listed, removed; symlinks not followed', () => {
  const dir = join(base, 'xattr');
  mountTmpfs(dir); // tmpfs supports trusted.* and security.* whatever /tmp is
  const file = join(dir, 'f');
  writeFileSync(file, '');
  sys.lsetxattr(file, 'trusted.overlay.opaque', Buffer.from('y'));
  // a VFS_CAP_REVISION_2 blob: magic_etc, then permitted/inheritable low words, then high words
  const caps = Buffer.alloc(20);
  caps.writeUInt32LE(0x02000001, 0); // revision 2, effective bit
  caps.writeUInt32LE(1 << 10, 4); // CAP_NET_BIND_SERVICE permitted
  sys.lsetxattr(file, 'security.capability', caps);
  assert.equal(sys.lgetxattr(file, 'trusted.overlay.opaque'), Buffer.from('y'));
  assert.equal(sys.lgetxattr(file, 'security.capability'), caps);
  assert.is(sys.lgetxattr(file, 'trusted.nothing'), undefined);
  assert.equal(sys.llistxattr(file).sort(), ['security.capability', 'trusted.overlay.opaque']);
  assert.is(errorOf(() => sys.lsetxattr(file, 'trusted.overlay.opaque', Buffer.from('n'), 'create')).code, 'AlreadyExists');
  sys.lsetxattr(file, 'trusted.overlay.opaque', Buffer.from('n'), 'replace');
  assert.equal(sys.lgetxattr(file, 'trusted.overlay.opaque'), Buffer.from('n'));
  sys.lremovexattr(file, 'trusted.overlay.opaque');
  assert.is(errorOf(() => sys.lremovexattr(file, 'trusted.overlay.opaque')).code, 'NotFound');
  assert.equal(sys.llistxattr(file), ['security.capability']);

  symlinkSync('f', join(dir, 'link'));
  sys.lsetxattr(join(dir, 'link'), 'trusted.on-link', new Uint8Array([1, 2]));
  assert.equal(sys.lgetxattr(join(dir, 'link'), 'trusted.on-link'), Buffer.from([1, 2]));
  assert.is(sys.lgetxattr(file, 'trusted.on-link'), undefined, 'the target was not touched');
  const e = errorOf(() => sys.llistxattr(join(dir, 'missing')));
  assert.is(e.code, 'NotFound');
  assert.is(e.path, join(dir, 'missing'));
});

// ---- fd passing and pidfds ----

function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return parseInt(m?.[1] ?? '0', 8);
}
const O_CLOEXEC = 0o2000000;

test('sendFd/recvFd pass an open file with its message; every fd is close-on-exec', () => {
  const [a, b] = sys.socketpair();
  fds.push(a, b);
  assert.ok((fdFlags(a) & O_CLOEXEC) !== 0 && (fdFlags(b) & O_CLOEXEC) !== 0, 'socketpair fds are O_CLOEXEC');
  const file = join(base, 'passed');
  writeFileSync(file, 'through the socket');
  const fd = openSync(file, 'r');
  fds.push(fd);
  sys.sendFd(a, fd, Buffer.from('console'));
  const got = sys.recvFd(b);
  fds.push(got.fd);
  assert.is.not(got.fd, fd);
  assert.is(got.message.toString(), 'console');
  assert.ok((fdFlags(got.fd) & O_CLOEXEC) !== 0, 'the received fd is O_CLOEXEC');
  assert.is(fstatSync(got.fd).ino, fstatSync(fd).ino);
  const buf = Buffer.alloc(64);
  assert.is(buf.subarray(0, readSync(got.fd, buf, 0, 64, 0)).toString(), 'through the socket');

  sys.sendFd(b, fd); // no message: one NUL byte carries the fd
  const bare = sys.recvFd(a);
  fds.push(bare.fd);
  assert.equal(bare.message, Buffer.from([0]));

  closeSync(a);
  const e = errorOf(() => sys.recvFd(b));
  assert.is(e.errno, 'ECONNRESET', 'end of stream');
});

test('pidfd: signal a child through its pidfd; ESRCH (NotFound) once it is reaped', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  assert.ok(child.pid !== undefined);
  const pidfd = sys.pidfdOpen(child.pid ?? 0);
  fds.push(pidfd);
  assert.ok((fdFlags(pidfd) & O_CLOEXEC) !== 0);
  const exited = once(child, 'exit');
  sys.pidfdSendSignal(pidfd, 'SIGTERM');
  const [, signal] = await exited;
  assert.is(signal, 'SIGTERM');
  const e = errorOf(() => sys.pidfdSendSignal(pidfd, 0));
  assert.is(e.errno, 'ESRCH');
  assert.is(e.code, 'NotFound');
});

test('lutimens sets times to the nanosecond on the path itself: a symlink, not its target', () => {
  const dir = mkdtempSync(join(base, 'times-'));
  const file = join(dir, 'f');
  const link = join(dir, 'l');
  writeFileSync(file, '');
  symlinkSync('f', link);
  const before = lstatSync(file, { bigint: true });
  const at = 1_700_000_000_123_456_789n;
  const mt = 1_600_000_000_987_654_321n;
  sys.lutimens(link, at, mt);
  const l = lstatSync(link, { bigint: true });
  assert.is(l.atimeNs, at);
  assert.is(l.mtimeNs, mt);
  assert.is(lstatSync(file, { bigint: true }).mtimeNs, before.mtimeNs, 'the target keeps its times');
  sys.lutimens(file, mt, at);
  assert.is(lstatSync(file, { bigint: true }).mtimeNs, at);
  const e = errorOf(() => sys.lutimens(join(dir, 'missing'), at, mt));
  assert.is(e.code, 'NotFound');
  assert.is(e.path, join(dir, 'missing'));
});

test('createFile makes a whole file (data, owner, mode, mtime); it never replaces or follows what is there', () => {
  const dir = mkdtempSync(join(base, 'create-'));
  const file = join(dir, 'f');
  const data = Buffer.from('layer file\n'.repeat(1000));
  sys.createFile(file, data.subarray(11), { mode: 0o640, uid: 1000, gid: 1001, mtime: 1_600_000_000.25 });
  const st = lstatSync(file, { bigint: true });
  assert.ok(readFileSync(file).equals(data.subarray(11)));
  assert.is(Number(st.mode & 0o7777n), 0o640);
  assert.is(Number(st.uid), 1000);
  assert.is(Number(st.gid), 1001);
  assert.is(st.mtimeNs, 1_600_000_000_250_000_000n);
  assert.is(st.atimeNs, st.mtimeNs);
  // chmod after chown: setuid survives (chown clears it).
  const suid = join(dir, 'suid');
  sys.createFile(suid, Buffer.alloc(0), { mode: 0o600, chmod: 0o4755, uid: 0, gid: 0, mtime: 0 });
  assert.is(lstatSync(suid).mode & 0o7777, 0o4755);
  assert.is(lstatSync(suid).size, 0);
  const exists = errorOf(() => sys.createFile(file, data, { mode: 0o644, uid: 0, gid: 0, mtime: 0 }));
  assert.is(exists.errno, 'EEXIST');
  assert.ok(readFileSync(file).equals(data.subarray(11)), 'the file is untouched');
  const outside = join(dir, 'outside');
  symlinkSync(outside, join(dir, 'link'));
  assert.is(errorOf(() => sys.createFile(join(dir, 'link'), data, { mode: 0o644, uid: 0, gid: 0, mtime: 0 })).errno, 'EEXIST');
  assert.not.ok(statSync(outside, { throwIfNoEntry: false }), 'a symlink is not followed');
  assert.is(errorOf(() => sys.createFile(join(dir, 'missing', 'f'), data, { mode: 0o644, uid: 0, gid: 0, mtime: 0 })).code, 'NotFound');
});

test('execve replaces the process (same pid) and hands the given fds over as 3, 4 …; a missing program throws', async () => {
  const dir = mkdtempSync(join(base, 'execve-'));
  const file = join(dir, 'data');
  writeFileSync(file, 'from fd 3\n');
  const script = [
    `import { openSync } from 'node:fs';`,
    `import { LinuxSys } from ${JSON.stringify(new URL('./index.ts', import.meta.url).pathname)};`,
    `const sys = new LinuxSys();`,
    `try { sys.execve('/nonexistent/prog', ['x']); } catch (e) { process.stdout.write(e.code + ' ' + e.path + '\\n'); }`,
    `process.stdout.write('pid ' + process.pid + '\\n');`,
    `const fd = openSync(${JSON.stringify(file)}, 'r');`,
    `sys.execve('/bin/sh', ['sh', '-c', 'echo "pid $$"; cat <&3; ls /proc/self/fd'], [fd]);`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  assert.is(code, 0, out);
  const lines = out.trim().split('\n');
  assert.is(lines[0], 'NotFound /nonexistent/prog');
  const pids = lines.filter((l) => l.startsWith('pid '));
  assert.is(pids.length, 2);
  assert.is(pids[0], pids[1], 'the program runs in the same process');
  assert.ok(lines.includes('from fd 3'));
  // 0-2, the handed-over 3, and ls's own directory fd: nothing of Node's leaked through.
  assert.equal(lines.slice(lines.indexOf('from fd 3') + 1).map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4]);
});

sysConformance(test, () => {
  const dir = mkdtempSync(join(base, 'conformance-'));
  return { sys, dir, canMount: true, realFds: true };
});

test.run();
