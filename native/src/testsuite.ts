// The Sys conformance suite: behaviour every implementation of Sys shows alike, so a test that
// passes against RecordingSys means the same against LinuxSys. Run on both in this package; any
// other implementation (a wrapper, a remote door) should run it too.
//
// It takes the test runner's register function instead of importing one, and asserts with
// node:assert, so it adds no dependency to the package.
import * as assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '@berth/errors';
import type { Sys } from './sys.js';

/** What one case of the suite gets. */
export interface SysFixture {
  readonly sys: Sys;
  /** A fresh scratch directory on a file system that supports `user.*` xattrs. */
  readonly dir: string;
  /** The implementation may mount (the real door as root; a fake). */
  readonly canMount: boolean;
  /** Fds returned by the implementation are real and must be closed (false for a fake). */
  readonly realFds: boolean;
  /** Called after the case, pass or fail. */
  readonly cleanup?: () => void;
}

/** A test runner's register function (uvu's `test`, node:test's `test`, …). */
export type Register = (name: string, fn: () => void | Promise<void>) => void;

/** The BerthError `fn` throws; fails the test when it throws nothing or something else. */
export function errorOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BerthError) return e;
    throw new assert.AssertionError({ message: `expected a BerthError, got ${String(e)}` });
  }
  throw new assert.AssertionError({ message: 'expected an error, got none' });
}

/** Registers the conformance cases with `register`, each on a fresh fixture from `make`. */
export function sysConformance(register: Register, make: () => SysFixture): void {
  const run = (name: string, fn: (f: SysFixture) => void): void =>
    register(`Sys conformance: ${name}`, () => {
      const f = make();
      try {
        fn(f);
      } finally {
        f.cleanup?.();
      }
    });

  run('xattrs are set, read, listed, replaced and removed on the path itself', ({ sys, dir }) => {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    assert.equal(sys.lgetxattr(file, 'user.berth.a'), undefined);
    sys.lsetxattr(file, 'user.berth.a', Buffer.from('one'));
    sys.lsetxattr(file, 'user.berth.b', new Uint8Array([0, 255]), 'create');
    assert.deepEqual(sys.lgetxattr(file, 'user.berth.a'), Buffer.from('one'));
    assert.deepEqual(sys.lgetxattr(file, 'user.berth.b'), Buffer.from([0, 255]));
    assert.deepEqual(sys.llistxattr(file).filter((n) => n.startsWith('user.berth.')).sort(), ['user.berth.a', 'user.berth.b']);
    sys.lsetxattr(file, 'user.berth.a', Buffer.from('two'), 'replace');
    assert.deepEqual(sys.lgetxattr(file, 'user.berth.a'), Buffer.from('two'));
    sys.lremovexattr(file, 'user.berth.a');
    assert.equal(sys.lgetxattr(file, 'user.berth.a'), undefined);
  });

  run('xattr flags and removal fail like the kernel: AlreadyExists, NotFound (ENODATA)', ({ sys, dir }) => {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    sys.lsetxattr(file, 'user.berth.x', Buffer.from('1'));
    const exists = errorOf(() => sys.lsetxattr(file, 'user.berth.x', Buffer.from('2'), 'create'));
    assert.equal(exists.code, 'AlreadyExists');
    assert.equal(exists.errno, 'EEXIST');
    assert.equal(exists.path, file);
    const replace = errorOf(() => sys.lsetxattr(file, 'user.berth.none', Buffer.from('2'), 'replace'));
    assert.equal(replace.code, 'NotFound');
    assert.equal(replace.errno, 'ENODATA');
    const remove = errorOf(() => sys.lremovexattr(file, 'user.berth.none'));
    assert.equal(remove.code, 'NotFound');
    assert.ok(remove.message.startsWith(`remove xattr user.berth.none of ${file}: `), remove.message);
  });

  run('mount then umount2; unmounting what is not mounted is InvalidArgument (EINVAL) naming it', ({ sys, dir, canMount }) => {
    if (!canMount) return;
    const target = join(dir, 'm');
    mkdirSync(target);
    sys.mount('tmpfs', target, 'tmpfs', 0, 'size=1m');
    sys.umount2(target);
    const e = errorOf(() => sys.umount2(target));
    assert.equal(e.code, 'InvalidArgument');
    assert.equal(e.errno, 'EINVAL');
    assert.equal(e.syscall, 'umount2');
    assert.equal(e.path, target);
    assert.equal(e.message, `unmount ${target}: invalid argument`);
  });

  run('resolveInRoot: a leading / means the root, .. is clamped in-root and refused beneath', ({ sys, dir }) => {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    assert.equal(sys.resolveInRoot(root, ''), root);
    assert.equal(sys.resolveInRoot(root, '/a/b'), join(root, 'a', 'b'));
    assert.equal(sys.resolveInRoot(root, '../../a/./b'), join(root, 'a', 'b'));
    assert.equal(sys.resolveInRoot(`${root}/`, 'a/b/..', { mode: 'beneath' }), join(root, 'a'));
    const e = errorOf(() => sys.resolveInRoot(root, 'a/../../b', { mode: 'beneath' }));
    assert.equal(e.errno, 'EXDEV');
    assert.equal(e.code, 'InvalidArgument');
    assert.match(e.message, new RegExp(`^resolve "a/\\.\\./\\.\\./b" in ${root}: `));
  });

  run('fd passing: the message arrives with a new fd; nothing else is queued', ({ sys, dir, realFds }) => {
    const file = join(dir, 'passed');
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r');
    const [a, b] = sys.socketpair();
    try {
      sys.sendFd(a, fd, Buffer.from('hello'));
      const got = sys.recvFd(b);
      if (realFds) closeSync(got.fd);
      assert.notEqual(got.fd, fd);
      assert.equal(got.message.toString(), 'hello');
      sys.sendFd(b, fd);
      const bare = sys.recvFd(a);
      if (realFds) closeSync(bare.fd);
      assert.deepEqual(bare.message, Buffer.from([0]));
    } finally {
      closeSync(fd);
      if (realFds) {
        closeSync(a);
        closeSync(b);
      }
    }
  });

  run('flock: a free lock is taken and released, also non-blocking', ({ sys, dir }) => {
    const file = join(dir, 'lock');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    try {
      assert.equal(sys.flock(fd, 'exclusive', true), true);
      assert.equal(sys.flock(fd, 'shared'), true);
      assert.equal(sys.flock(fd, 'unlock'), true);
    } finally {
      closeSync(fd);
    }
  });

  run('pidfd: signal 0 through a pidfd of a live process succeeds', ({ sys, realFds }) => {
    const pidfd = sys.pidfdOpen(process.pid);
    try {
      sys.pidfdSendSignal(pidfd, 0);
    } finally {
      if (realFds) closeSync(pidfd);
    }
  });
}
