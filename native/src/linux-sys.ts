// LinuxSys: the Sys door on the real kernel, through berth_native.node.
import { resolve as resolvePath } from 'node:path';
import { constants as osConstants } from 'node:os';
import { invalidArgument, internal } from '@berth/errors';
import { type Addon, loadAddon, toSysError } from './addon.js';
import type { OpenInRootOptions, ReceivedFd, ResolveOptions, Sys, XattrFlag } from './sys.js';

/** The name of signal `n` (waitPid). */
const signalName = (n: number): NodeJS.Signals =>
  (Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`) as NodeJS.Signals;

/** Which resolver {@link LinuxSys.resolveInRoot} uses. */
export type Resolver =
  /** openat2(2) where the kernel has it (Linux 5.6+), else the component walk. */
  | 'auto'
  /** openat2(2) only: NotImplemented (ENOSYS) on older kernels. */
  | 'openat2'
  /** The O_PATH|O_NOFOLLOW component walk only (the fallback, forced — for tests). */
  | 'walk';

/** Options of {@link LinuxSys}. */
export interface LinuxSysOptions {
  /** Default: `$BERTH_RESOLVER` when set to one of the values, else `auto`. */
  readonly resolver?: Resolver;
  /** The addon file to load (default: found by `addonPath()`). */
  readonly addonPath?: string;
}

const flockOps = { shared: 1, exclusive: 2, unlock: 8 } as const; // LOCK_SH, LOCK_EX, LOCK_UN
const xattrFlags = { create: 1, replace: 2 } as const; // XATTR_CREATE, XATTR_REPLACE

function isResolver(v: unknown): v is Resolver {
  return v === 'auto' || v === 'openat2' || v === 'walk';
}

function fdNumber(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  throw internal(`${what}: the native addon returned ${String(v)} instead of a file descriptor`);
}

function checkFd(fd: number, what: string): void {
  if (!Number.isInteger(fd) || fd < 0) throw invalidArgument(`${what}: ${String(fd)} is not a file descriptor`);
}

/**
 * The real door to the kernel. The addon is loaded on the first call, not at construction or
 * import, so code that only builds plans never needs it.
 */
export class LinuxSys implements Sys {
  readonly #resolver: Resolver;
  readonly #addonPath: string | undefined;
  #addon: Addon | undefined;

  constructor(options: LinuxSysOptions = {}) {
    const fromEnv = process.env['BERTH_RESOLVER'];
    this.#resolver = options.resolver ?? (isResolver(fromEnv) ? fromEnv : 'auto');
    this.#addonPath = options.addonPath;
  }

  /** The resolver this instance uses. */
  get resolver(): Resolver {
    return this.#resolver;
  }

  #native(): Addon {
    this.#addon ??= this.#addonPath === undefined ? loadAddon() : loadAddon(this.#addonPath);
    return this.#addon;
  }

  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
    const what = `mount ${fstype ?? source ?? 'none'} on ${target}`;
    try {
      this.#native().mount(source, target, fstype, flags, data);
    } catch (e) {
      throw toSysError(e, what, { path: target, privileged: true });
    }
  }

  umount2(target: string, flags = 0): void {
    try {
      this.#native().umount2(target, flags);
    } catch (e) {
      throw toSysError(e, `unmount ${target}`, { path: target, privileged: true });
    }
  }

  flock(fd: number, op: 'shared' | 'exclusive' | 'unlock', nonBlocking = false): boolean {
    checkFd(fd, `lock fd ${fd}`);
    let got: unknown;
    try {
      got = this.#native().flock(fd, flockOps[op], nonBlocking);
    } catch (e) {
      throw toSysError(e, `${op === 'unlock' ? 'unlock' : `lock (${op})`} fd ${fd}`);
    }
    if (typeof got !== 'boolean') throw internal(`lock fd ${fd}: the native addon returned ${String(got)}`);
    return got;
  }

  resolveInRoot(root: string, path: string, options: ResolveOptions = {}): string {
    const absRoot = resolvePath(root);
    const what = `resolve ${JSON.stringify(path)} in ${absRoot}`;
    let got: unknown;
    try {
      got = this.#native().resolveInRoot(
        absRoot, path, options.mode ?? 'in-root', options.allowMissingLeaf ?? false, options.noFollowLeaf ?? false, this.#resolver,
      );
    } catch (e) {
      throw toSysError(e, what);
    }
    if (typeof got !== 'string' || !(got === absRoot || got.startsWith(absRoot === '/' ? '/' : `${absRoot}/`))) {
      throw internal(`${what}: the native addon returned ${String(got)}, which is not below the root`);
    }
    return got;
  }

  openInRoot(root: string, path: string, options: OpenInRootOptions = {}): number {
    const absRoot = resolvePath(root);
    const what = `open ${JSON.stringify(path)} in ${absRoot}`;
    let got: unknown;
    try {
      got = this.#native().openInRoot(
        absRoot, path, options.mode ?? 'in-root', false, options.noFollowLeaf ?? false, this.#resolver, options.flags ?? 0, options.perm ?? 0o666,
      );
    } catch (e) {
      throw toSysError(e, what);
    }
    return fdNumber(got, what);
  }

  /** True when the kernel has openat2(2), i.e. `auto` resolution does not need the walk. */
  openat2Available(): boolean {
    return this.#native().openat2Available() === true;
  }

  mknod(path: string, mode: number, major = 0, minor = 0): void {
    try {
      this.#native().mknod(path, mode, major, minor);
    } catch (e) {
      throw toSysError(e, `create node ${path}`, { path, privileged: true });
    }
  }

  lsetxattr(path: string, name: string, value: Uint8Array, flag?: XattrFlag): void {
    const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    try {
      this.#native().lsetxattr(path, name, buf, flag === undefined ? 0 : xattrFlags[flag]);
    } catch (e) {
      throw toSysError(e, `set xattr ${name} on ${path}`, { path, privileged: !name.startsWith('user.') });
    }
  }

  lgetxattr(path: string, name: string): Buffer | undefined {
    let got: unknown;
    try {
      got = this.#native().lgetxattr(path, name);
    } catch (e) {
      throw toSysError(e, `get xattr ${name} of ${path}`, { path });
    }
    if (got === undefined || Buffer.isBuffer(got)) return got;
    throw internal(`get xattr ${name} of ${path}: the native addon returned ${String(got)}`);
  }

  llistxattr(path: string): string[] {
    let got: unknown;
    try {
      got = this.#native().llistxattr(path);
    } catch (e) {
      throw toSysError(e, `list xattrs of ${path}`, { path });
    }
    if (Array.isArray(got) && got.every((n) => typeof n === 'string')) return got as string[];
    throw internal(`list xattrs of ${path}: the native addon returned ${String(got)}`);
  }

  lremovexattr(path: string, name: string): void {
    try {
      this.#native().lremovexattr(path, name);
    } catch (e) {
      throw toSysError(e, `remove xattr ${name} of ${path}`, { path, privileged: !name.startsWith('user.') });
    }
  }

  lutimens(path: string, atimeNs: bigint, mtimeNs: bigint): void {
    try {
      this.#native().lutimens(path, atimeNs, mtimeNs);
    } catch (e) {
      throw toSysError(e, `set the times of ${path}`, { path });
    }
  }

  /**
   * Creates the regular file `path` with all of `data` in one call (open O_CREAT|O_EXCL|O_NOFOLLOW
   * with `mode`, write, fchown, fchmod to `chmod` when given, futimens to `mtime` seconds,
   * close): what unpacking a small file takes. Fails with EEXIST rather than replace or follow
   * whatever is at `path`.
   */
  createFile(path: string, data: Uint8Array, options: { readonly mode: number; readonly uid: number; readonly gid: number; readonly chmod?: number; readonly mtime: number }): void {
    try {
      this.#native().createFile(path, data, options.mode, options.uid, options.gid, options.chmod ?? -1, options.mtime);
    } catch (e) {
      throw toSysError(e, `create ${path}`, { path });
    }
  }

  socketpair(): [number, number] {
    let got: unknown;
    try {
      got = this.#native().socketpair();
    } catch (e) {
      throw toSysError(e, 'create a socket pair');
    }
    if (!Array.isArray(got) || got.length !== 2) throw internal(`create a socket pair: the native addon returned ${String(got)}`);
    return [fdNumber(got[0], 'create a socket pair'), fdNumber(got[1], 'create a socket pair')];
  }

  sendFd(socketFd: number, fd: number, message: Uint8Array = new Uint8Array(0)): void {
    const what = `send fd ${fd} over socket fd ${socketFd}`;
    checkFd(socketFd, what);
    checkFd(fd, what);
    try {
      this.#native().sendFd(socketFd, fd, Buffer.from(message));
    } catch (e) {
      throw toSysError(e, what);
    }
  }

  recvFd(socketFd: number): ReceivedFd {
    const what = `receive an fd from socket fd ${socketFd}`;
    checkFd(socketFd, what);
    let got: unknown;
    try {
      got = this.#native().recvFd(socketFd);
    } catch (e) {
      throw toSysError(e, what);
    }
    if (typeof got === 'object' && got !== null && 'fd' in got && 'message' in got && Buffer.isBuffer(got.message)) {
      return { fd: fdNumber(got.fd, what), message: got.message };
    }
    throw internal(`${what}: the native addon returned ${String(got)}`);
  }

  pidfdOpen(pid: number): number {
    const what = `open a pidfd for pid ${pid}`;
    if (!Number.isInteger(pid) || pid <= 0) throw invalidArgument(`${what}: not a process id`);
    let got: unknown;
    try {
      got = this.#native().pidfdOpen(pid);
    } catch (e) {
      throw toSysError(e, what);
    }
    return fdNumber(got, what);
  }

  pidfdSendSignal(pidfd: number, signal: NodeJS.Signals | number): void {
    const what = `send ${String(signal)} through pidfd ${pidfd}`;
    checkFd(pidfd, what);
    const n = typeof signal === 'number' ? signal : osConstants.signals[signal];
    if (!Number.isInteger(n) || n < 0) throw invalidArgument(`${what}: unknown signal`);
    try {
      this.#native().pidfdSendSignal(pidfd, n);
    } catch (e) {
      throw toSysError(e, what);
    }
  }

  execve(path: string, argv: readonly string[], fds: readonly number[] = []): never {
    for (const fd of fds) checkFd(fd, `pass fd ${fd} to ${path}`);
    try {
      this.#native().execve(path, argv, fds);
    } catch (e) {
      throw toSysError(e, `execute ${path}`, { path });
    }
    throw internal(`execve ${path} returned`);
  }

  spawn(path: string, argv: readonly string[], fds: readonly number[], options: { readonly setsid?: boolean } = {}): number {
    for (const fd of fds) checkFd(fd, `pass fd ${fd} to ${path}`);
    let got: unknown;
    try {
      got = this.#native().spawn(path, argv, fds, options.setsid === true);
    } catch (e) {
      throw toSysError(e, `start ${path}`, { path });
    }
    if (typeof got !== 'number' || !Number.isInteger(got) || got <= 0) throw internal(`start ${path}: the native addon returned ${String(got)}`);
    return got;
  }

  waitPid(pid: number): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
    const what = `wait for process ${pid}`;
    if (!Number.isInteger(pid) || pid <= 0) return Promise.reject(invalidArgument(`${what}: not a process id`));
    return new Promise((resolve, reject) => {
      try {
        this.#native().waitPid(pid, (err, code, signal) => {
          if (err) reject(toSysError(err, what));
          else if (signal) resolve({ code: null, signal: signalName(signal) });
          else resolve({ code: code ?? 0, signal: null });
        });
      } catch (e) {
        reject(toSysError(e, what));
      }
    });
  }
}
