// RecordingSys: a fake Sys for tests of the logic above the door. It touches nothing on the host:
// it records every call as plain data, keeps just enough state to answer like the kernel would
// (a mount table, xattrs, fds passed over fake socket pairs) and fails on demand.
import { posix } from 'node:path';
import { BerthError } from '@berth/errors';
import { errnoError } from './errno.js';
import type { OpenInRootOptions, ReceivedFd, ResolveOptions, Sys, XattrFlag } from './sys.js';

/** The name of a {@link Sys} operation. */
export type SysOp =
  | 'mount' | 'umount2' | 'flock' | 'resolveInRoot' | 'openInRoot' | 'mknod'
  | 'lsetxattr' | 'lgetxattr' | 'llistxattr' | 'lremovexattr' | 'lutimens'
  | 'socketpair' | 'sendFd' | 'recvFd' | 'pidfdOpen' | 'pidfdSendSignal' | 'execve' | 'spawn' | 'waitPid';

/** One recorded call: the operation and its arguments (byte arrays copied into Buffers). */
export interface SysCall {
  readonly op: SysOp;
  readonly args: readonly unknown[];
}

/** When to fail: the `nth` call (1-based) of `op` (or of any op), `times` times, with `errno`. */
export interface FailRule {
  readonly op?: SysOp;
  /** Fail from the nth matching call on (default 1: the first). */
  readonly nth?: number;
  /** How many matching calls fail (default 1). */
  readonly times?: number;
  /** The errno to fail with (`EBUSY`, `EPERM` …). For flock with `nonBlocking`, `EWOULDBLOCK` makes it return false. */
  readonly errno: string;
}

interface ActiveRule {
  readonly rule: FailRule;
  seen: number;
  failed: number;
}

/** A mount the fake believes is in place. */
export interface FakeMount {
  readonly source: string | null;
  readonly target: string;
  readonly fstype: string | null;
  readonly flags: number;
  readonly data: string | null;
}

const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
const MS_MOVE = 0x2000;
const propagation = 0x20000 | 0x40000 | 0x80000 | 0x100000; // UNBINDABLE | PRIVATE | SLAVE | SHARED
const MNT_DETACH = 0x2;

/**
 * A recording fake of {@link Sys}. `calls` lists every call in order; `failOn` makes chosen calls
 * throw the BerthError LinuxSys would throw. State it keeps:
 *  - `mounts`: new mounts are pushed (remount, move and propagation changes are only recorded),
 *    umount2 removes the newest mount on the target, or throws EINVAL as the kernel does;
 *  - xattrs per path, so lgetxattr/llistxattr answer what lsetxattr set;
 *  - socket pairs with fake fd numbers (from 1000): sendFd queues on the peer, recvFd dequeues
 *    (EAGAIN when empty).
 * resolveInRoot is lexical only (no file system): `..` is clamped at the root (in-root) or
 * refused with EXDEV (beneath).
 */
export class RecordingSys implements Sys {
  readonly calls: SysCall[] = [];
  readonly mounts: FakeMount[] = [];
  readonly #rules: ActiveRule[] = [];
  readonly #xattrs = new Map<string, Map<string, Buffer>>();
  readonly #peers = new Map<number, number>();
  readonly #queues = new Map<number, ReceivedFd[]>();
  #nextFd = 1000;

  /** Makes matching calls fail; rules are checked in the order they were added. Chainable. */
  failOn(rule: FailRule): this {
    this.#rules.push({ rule, seen: 0, failed: 0 });
    return this;
  }

  /** The recorded calls of one operation. */
  callsOf(op: SysOp): SysCall[] {
    return this.calls.filter((c) => c.op === op);
  }

  /** The recorded operations' names, in order (handy for asserting a sequence). */
  ops(): SysOp[] {
    return this.calls.map((c) => c.op);
  }

  /** Forgets recorded calls and failure rules (state such as mounts and xattrs stays). */
  clear(): void {
    this.calls.length = 0;
    this.#rules.length = 0;
  }

  #record(op: SysOp, args: readonly unknown[], what: string, path?: string): void {
    this.calls.push({ op, args: args.map((a) => (a instanceof Uint8Array ? Buffer.from(a) : a)) });
    for (const active of this.#rules) {
      if (active.rule.op !== undefined && active.rule.op !== op) continue;
      active.seen += 1;
      if (active.seen >= (active.rule.nth ?? 1) && active.failed < (active.rule.times ?? 1)) {
        active.failed += 1;
        throw this.#error(active.rule.errno, what, op, path);
      }
    }
  }

  #error(errno: string, what: string, syscall: string, path?: string): BerthError {
    return errnoError(what, errno, { syscall, ...(path === undefined ? {} : { path }) });
  }

  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
    this.#record('mount', [source, target, fstype, flags, data], `mount ${fstype ?? source ?? 'none'} on ${target}`, target);
    if ((flags & (MS_REMOUNT | propagation)) !== 0 && (flags & MS_BIND) === 0) return;
    if ((flags & MS_MOVE) !== 0) {
      const i = this.#findMount(source ?? '');
      if (i >= 0) this.mounts.splice(i, 1);
    }
    if ((flags & MS_REMOUNT) !== 0) return;
    this.mounts.push({ source, target, fstype, flags, data });
  }

  #findMount(target: string): number {
    for (let i = this.mounts.length - 1; i >= 0; i--) if (this.mounts[i]?.target === target) return i;
    return -1;
  }

  umount2(target: string, flags = 0): void {
    this.#record('umount2', [target, flags], `unmount ${target}`, target);
    const i = this.#findMount(target);
    if (i < 0) throw this.#error('EINVAL', `unmount ${target}`, 'umount2', target);
    this.mounts.splice(i, 1);
    if ((flags & MNT_DETACH) !== 0) {
      // a lazy unmount takes the submounts with it
      for (let j = this.mounts.length - 1; j >= 0; j--) if (this.mounts[j]?.target.startsWith(`${target}/`)) this.mounts.splice(j, 1);
    }
  }

  flock(fd: number, op: 'shared' | 'exclusive' | 'unlock', nonBlocking = false): boolean {
    try {
      this.#record('flock', [fd, op, nonBlocking], `lock fd ${fd}`);
    } catch (e) {
      if (nonBlocking && e instanceof BerthError && (e.errno === 'EWOULDBLOCK' || e.errno === 'EAGAIN')) return false;
      throw e;
    }
    return true;
  }

  resolveInRoot(root: string, path: string, options: ResolveOptions = {}): string {
    const absRoot = posix.resolve(root);
    const what = `resolve ${JSON.stringify(path)} in ${absRoot}`;
    this.#record('resolveInRoot', [root, path, { ...options }], what, posix.join(absRoot, path));
    const lexical = this.#lexical(absRoot, path, options.mode ?? 'in-root');
    if (lexical === undefined) throw this.#error('EXDEV', what, 'openat2', posix.join(absRoot, path));
    return lexical;
  }

  /** `path` joined to `root` lexically, `..` clamped at the root (in-root) or undefined (beneath, escaping). */
  #lexical(absRoot: string, path: string, mode: 'in-root' | 'beneath'): string | undefined {
    const parts: string[] = [];
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      if (part !== '..') parts.push(part);
      else if (parts.length > 0) parts.pop();
      else if (mode === 'beneath') return undefined;
    }
    return parts.length === 0 ? absRoot : posix.join(absRoot, ...parts);
  }

  /** Records the call and returns a fake fd number (from 1000): it opens nothing. */
  openInRoot(root: string, path: string, options: OpenInRootOptions = {}): number {
    const absRoot = posix.resolve(root);
    const what = `open ${JSON.stringify(path)} in ${absRoot}`;
    this.#record('openInRoot', [root, path, { ...options }], what, posix.join(absRoot, path));
    const lexical = this.#lexical(absRoot, path, options.mode ?? 'in-root');
    if (lexical === undefined) throw this.#error('EXDEV', what, 'openat2', posix.join(absRoot, path));
    return this.#nextFd++;
  }

  mknod(path: string, mode: number, major = 0, minor = 0): void {
    this.#record('mknod', [path, mode, major, minor], `create node ${path}`, path);
  }

  lsetxattr(path: string, name: string, value: Uint8Array, flag?: XattrFlag): void {
    const what = `set xattr ${name} on ${path}`;
    this.#record('lsetxattr', flag === undefined ? [path, name, value] : [path, name, value, flag], what, path);
    const attrs = this.#xattrs.get(path) ?? new Map<string, Buffer>();
    if (flag === 'create' && attrs.has(name)) throw this.#error('EEXIST', what, 'lsetxattr', path);
    if (flag === 'replace' && !attrs.has(name)) throw this.#error('ENODATA', what, 'lsetxattr', path);
    attrs.set(name, Buffer.from(value));
    this.#xattrs.set(path, attrs);
  }

  lgetxattr(path: string, name: string): Buffer | undefined {
    this.#record('lgetxattr', [path, name], `get xattr ${name} of ${path}`, path);
    const v = this.#xattrs.get(path)?.get(name);
    return v === undefined ? undefined : Buffer.from(v);
  }

  llistxattr(path: string): string[] {
    this.#record('llistxattr', [path], `list xattrs of ${path}`, path);
    return [...(this.#xattrs.get(path)?.keys() ?? [])];
  }

  lremovexattr(path: string, name: string): void {
    const what = `remove xattr ${name} of ${path}`;
    this.#record('lremovexattr', [path, name], what, path);
    if (this.#xattrs.get(path)?.delete(name) !== true) throw this.#error('ENODATA', what, 'lremovexattr', path);
  }

  /** Records the call; the times set are not kept (nothing reads them back through Sys). */
  lutimens(path: string, atimeNs: bigint, mtimeNs: bigint): void {
    this.#record('lutimens', [path, atimeNs, mtimeNs], `set the times of ${path}`, path);
  }

  socketpair(): [number, number] {
    this.#record('socketpair', [], 'create a socket pair');
    const a = this.#nextFd++;
    const b = this.#nextFd++;
    this.#peers.set(a, b);
    this.#peers.set(b, a);
    return [a, b];
  }

  sendFd(socketFd: number, fd: number, message: Uint8Array = new Uint8Array(0)): void {
    const what = `send fd ${fd} over socket fd ${socketFd}`;
    this.#record('sendFd', [socketFd, fd, message], what);
    const peer = this.#peers.get(socketFd);
    if (peer === undefined) throw this.#error('ENOTSOCK', what, 'sendmsg');
    const queue = this.#queues.get(peer) ?? [];
    // the receiver gets a new fd number, as with SCM_RIGHTS
    queue.push({ fd: this.#nextFd++, message: Buffer.from(message.length > 0 ? message : [0]) });
    this.#queues.set(peer, queue);
  }

  recvFd(socketFd: number): ReceivedFd {
    const what = `receive an fd from socket fd ${socketFd}`;
    this.#record('recvFd', [socketFd], what);
    const got = this.#queues.get(socketFd)?.shift();
    if (got === undefined) throw this.#error('EAGAIN', what, 'recvmsg');
    return got;
  }

  pidfdOpen(pid: number): number {
    this.#record('pidfdOpen', [pid], `open a pidfd for pid ${pid}`);
    return this.#nextFd++;
  }

  pidfdSendSignal(pidfd: number, signal: NodeJS.Signals | number): void {
    this.#record('pidfdSendSignal', [pidfd, signal], `send ${String(signal)} through pidfd ${pidfd}`);
  }
  /** Records the call; a fake cannot replace the process, so it then throws NotImplemented (or the failure a rule gives). */
  execve(path: string, argv: readonly string[], fds: readonly number[] = []): never {
    this.#record('execve', [path, [...argv], [...fds]], `execute ${path}`, path);
    throw new BerthError('NotImplemented', `execute ${path}: RecordingSys cannot replace the process`);
  }

  /** Records the call; a fake starts nothing, so it then throws NotImplemented (or the failure a rule gives). */
  spawn(path: string, argv: readonly string[], fds: readonly number[], options: { readonly setsid?: boolean } = {}): number {
    this.#record('spawn', [path, [...argv], [...fds], options.setsid === true], `start ${path}`, path);
    throw new BerthError('NotImplemented', `start ${path}: RecordingSys cannot start processes`);
  }

  /** Records the call; there is no child of a fake to wait for. */
  waitPid(pid: number): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
    try {
      this.#record('waitPid', [pid], `wait for process ${pid}`);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.reject(new BerthError('NotImplemented', `wait for process ${pid}: RecordingSys starts no processes`));
  }

}
