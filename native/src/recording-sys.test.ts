// The fake door: what it records, how it fails on demand, and the little state it keeps.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileType, MountFlags, RecordingSys, UmountFlags } from './index.js';
import { errorOf, sysConformance } from './testsuite.js';


test('records every call in order, as plain data that survives JSON', () => {
  const sys = new RecordingSys();
  sys.mount('overlay', '/r', 'overlay', MountFlags.NODEV, 'lowerdir=/a,upperdir=/u,workdir=/w');
  sys.mknod('/r/.wh', FileType.CHR, 0, 0);
  sys.lsetxattr('/r/d', 'trusted.overlay.opaque', Buffer.from('y'));
  sys.umount2('/r', UmountFlags.DETACH);
  assert.equal(sys.ops(), ['mount', 'mknod', 'lsetxattr', 'umount2']);
  assert.equal(sys.calls[0], { op: 'mount', args: ['overlay', '/r', 'overlay', MountFlags.NODEV, 'lowerdir=/a,upperdir=/u,workdir=/w'] });
  assert.equal(sys.callsOf('mknod'), [{ op: 'mknod', args: ['/r/.wh', FileType.CHR, 0, 0] }]);
  const copy: unknown = JSON.parse(JSON.stringify(sys.calls));
  assert.ok(Array.isArray(copy) && copy.length === 4);
});

test('fails the nth call of an op with the errno, as LinuxSys would, then recovers', () => {
  const sys = new RecordingSys().failOn({ op: 'mount', nth: 2, errno: 'EBUSY' });
  sys.mount('tmpfs', '/a', 'tmpfs', 0);
  const e = errorOf(() => sys.mount('tmpfs', '/b', 'tmpfs', 0));
  assert.is(e.code, 'Conflict');
  assert.is(e.errno, 'EBUSY');
  assert.is(e.syscall, 'mount');
  assert.is(e.path, '/b');
  assert.is(e.message, 'mount tmpfs on /b: device or resource busy');
  sys.mount('tmpfs', '/c', 'tmpfs', 0);
  assert.equal(sys.mounts.map((m) => m.target), ['/a', '/c'], 'the failed mount left no trace');
  assert.is(sys.calls.length, 3, 'the failed call is recorded too');
});

test('fails the nth call of any op, several times; errno codes match the real door', () => {
  const sys = new RecordingSys().failOn({ nth: 2, times: 2, errno: 'EPERM' });
  sys.mknod('/x', FileType.FIFO | 0o644);
  assert.is(errorOf(() => sys.lsetxattr('/x', 'trusted.a', new Uint8Array([1]))).code, 'PermissionDenied');
  assert.is(errorOf(() => sys.llistxattr('/x')).code, 'PermissionDenied');
  assert.equal(sys.llistxattr('/x'), []);
  const codes = new RecordingSys().failOn({ op: 'resolveInRoot', errno: 'ELOOP' }).failOn({ op: 'lgetxattr', errno: 'ENODATA' });
  assert.is(errorOf(() => codes.resolveInRoot('/r', 'a')).code, 'InvalidArgument');
  assert.is(errorOf(() => codes.lgetxattr('/r', 'user.x')).code, 'NotFound');
});

test('flock: EWOULDBLOCK makes a non-blocking lock return false and a blocking one throw', () => {
  const sys = new RecordingSys().failOn({ op: 'flock', errno: 'EWOULDBLOCK', times: 2 });
  assert.is(sys.flock(3, 'exclusive', true), false);
  assert.is(errorOf(() => sys.flock(3, 'exclusive')).code, 'Unavailable');
  assert.is(sys.flock(3, 'exclusive', true), true);
  assert.equal(sys.callsOf('flock').map((c) => c.args), [[3, 'exclusive', true], [3, 'exclusive', false], [3, 'exclusive', true]]);
});

test('the mount table: umount2 of what is not mounted is EINVAL; lazy unmount takes submounts', () => {
  const sys = new RecordingSys();
  assert.is(errorOf(() => sys.umount2('/nothing')).errno, 'EINVAL');
  sys.mount('tmpfs', '/c', 'tmpfs', 0);
  sys.mount('/src', '/c/vol', null, MountFlags.BIND);
  sys.mount(null, '/c', null, MountFlags.REMOUNT | MountFlags.RDONLY);
  sys.mount(null, '/c', null, MountFlags.PRIVATE | MountFlags.REC);
  assert.is(sys.mounts.length, 2, 'remount and propagation changes add no mount');
  sys.umount2('/c', UmountFlags.DETACH);
  assert.equal(sys.mounts, []);
});

test('resolveInRoot is lexical: .. is clamped in-root and refused beneath', () => {
  const sys = new RecordingSys();
  const table: [string, 'in-root' | 'beneath', string | null][] = [
    ['', 'in-root', '/r'],
    ['/etc/passwd', 'in-root', '/r/etc/passwd'],
    ['../../etc/passwd', 'in-root', '/r/etc/passwd'],
    ['a/./b/../c', 'beneath', '/r/a/c'],
    ['a/../../x', 'beneath', null],
  ];
  for (const [path, mode, want] of table) {
    if (want === null) assert.is(errorOf(() => sys.resolveInRoot('/r/', path, { mode })).errno, 'EXDEV', path);
    else assert.is(sys.resolveInRoot('/r/', path, { mode }), want, path);
  }
});

test('openInRoot records the call and hands out a fake fd; beneath escapes are EXDEV', () => {
  const sys = new RecordingSys();
  const fd = sys.openInRoot('/r', 'etc/passwd', { flags: 0 });
  assert.ok(fd >= 1000, 'a fake fd that cannot be mistaken for a real low one');
  assert.equal(sys.callsOf('openInRoot')[0]?.args, ['/r', 'etc/passwd', { flags: 0 }]);
  assert.is(errorOf(() => sys.openInRoot('/r', '../x', { mode: 'beneath' })).errno, 'EXDEV');
});

test('xattrs round-trip per path; create/replace flags and removal behave like the kernel', () => {
  const sys = new RecordingSys();
  sys.lsetxattr('/f', 'trusted.overlay.opaque', Buffer.from('y'));
  assert.equal(sys.lgetxattr('/f', 'trusted.overlay.opaque'), Buffer.from('y'));
  assert.is(sys.lgetxattr('/g', 'trusted.overlay.opaque'), undefined);
  assert.is(errorOf(() => sys.lsetxattr('/f', 'trusted.overlay.opaque', Buffer.from('n'), 'create')).code, 'AlreadyExists');
  assert.is(errorOf(() => sys.lsetxattr('/f', 'user.new', Buffer.from('n'), 'replace')).code, 'NotFound');
  assert.equal(sys.llistxattr('/f'), ['trusted.overlay.opaque']);
  sys.lremovexattr('/f', 'trusted.overlay.opaque');
  assert.is(errorOf(() => sys.lremovexattr('/f', 'trusted.overlay.opaque')).code, 'NotFound');
});

test('fd passing over a fake socket pair; nothing queued is EAGAIN', () => {
  const sys = new RecordingSys();
  const [a, b] = sys.socketpair();
  sys.sendFd(a, 7, Buffer.from('pty'));
  const got = sys.recvFd(b);
  assert.is.not(got.fd, 7);
  assert.is(got.message.toString(), 'pty');
  assert.is(errorOf(() => sys.recvFd(b)).code, 'Unavailable');
  const pidfd = sys.pidfdOpen(42);
  sys.pidfdSendSignal(pidfd, 'SIGKILL');
  assert.equal(sys.callsOf('pidfdSendSignal')[0]?.args, [pidfd, 'SIGKILL']);
});

test('clear() forgets calls and rules', () => {
  const sys = new RecordingSys().failOn({ errno: 'EIO' });
  sys.clear();
  sys.mknod('/x', FileType.FIFO);
  assert.equal(sys.ops(), ['mknod']);
});

sysConformance(test, () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-fake-'));
  return { sys: new RecordingSys(), dir, canMount: true, realFds: false, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

test.run();
