// Loading berth_native.node and turning its errors into BerthErrors. Nothing here runs at import
// time: the addon is opened by the first LinuxSys call that needs it.
import { constants as osConstants } from 'node:os';
import { BerthError, internal } from '@berth/errors';
import { errnoError } from './errno.js';
import { addonPath } from './locate.js';

/** The ABI version of the bindings this TypeScript expects (`abi` in csrc/addon.cc). */
const expectedAbi = 7;

/** The raw functions of the addon. Results are `unknown`: LinuxSys validates each one. */
export interface Addon {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): unknown;
  umount2(target: string, flags: number): unknown;
  flock(fd: number, op: number, nonBlocking: boolean): unknown;
  resolveInRoot(root: string, path: string, mode: string, allowMissingLeaf: boolean, noFollowLeaf: boolean, resolver: string): unknown;
  openInRoot(
    root: string, path: string, mode: string, allowMissingLeaf: boolean, noFollowLeaf: boolean, resolver: string, flags: number, perm: number,
  ): unknown;
  openat2Available(): unknown;
  mknod(path: string, mode: number, major: number, minor: number): unknown;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): unknown;
  lgetxattr(path: string, name: string): unknown;
  llistxattr(path: string): unknown;
  lremovexattr(path: string, name: string): unknown;
  lutimens(path: string, atimeNs: bigint, mtimeNs: bigint): unknown;
  createFile(path: string, data: Uint8Array, createMode: number, uid: number, gid: number, chmodMode: number, mtime: number): unknown;
  socketpair(): unknown;
  sendFd(socketFd: number, fd: number, message: Buffer): unknown;
  recvFd(socketFd: number): unknown;
  pidfdOpen(pid: number): unknown;
  pidfdSendSignal(pidfd: number, signal: number): unknown;
  execve(path: string, argv: readonly string[], fds: readonly number[]): unknown;
  spawn(path: string, argv: readonly string[], fds: readonly number[], setsid: boolean): unknown;
  waitPid(pid: number, callback: (err: Error | null, code?: number, signal?: number) => void): unknown;
  /** A gzip decoder on the calling thread (csrc/inflate.cc); `check` false skips the CRC-32. */
  Inflater: new (check: boolean) => RawInflater;
  inflaterAvailable(): unknown;
}

/** csrc/inflate.cc's `Inflater`: see inflate.ts. */
export interface RawInflater {
  /** Bytes written to `output`; the offset reached in `input` is then in `consumed`. */
  run(input: Uint8Array, offset: number, output: Uint8Array): number;
  readonly consumed: number;
  end(): void;
  close(): void;
}

const functions = [
  'mount', 'umount2', 'flock', 'resolveInRoot', 'openInRoot', 'openat2Available', 'mknod', 'lsetxattr', 'lgetxattr',
  'llistxattr', 'lremovexattr', 'lutimens', 'createFile', 'socketpair', 'sendFd', 'recvFd', 'pidfdOpen', 'pidfdSendSignal', 'execve', 'spawn', 'waitPid', 'Inflater',
  'inflaterAvailable',
] as const satisfies readonly (keyof Addon)[];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Opens the addon at `path` (default: {@link addonPath}) and checks that it has every binding. */
export function loadAddon(path: string = addonPath()): Addon {
  const mod: { exports: unknown } = { exports: {} };
  try {
    // process.dlopen rather than require: it works alike from ESM sources and the CJS bundle.
    process.dlopen(mod, path, osConstants.dlopen.RTLD_NOW);
  } catch (e) {
    throw internal(`load berth's native addon ${path}: ${e instanceof Error ? e.message : String(e)}; rebuild it with \`npm run build -w native\``, { cause: e, path });
  }
  const exp = mod.exports;
  if (!isRecord(exp) || exp['abi'] !== expectedAbi || functions.some((f) => typeof exp[f] !== 'function')) {
    throw internal(`berth's native addon ${path} is out of date: rebuild it with \`npm run build -w native\``, { path });
  }
  return exp as unknown as Addon;
}

const errnoNames: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  // Linux aliases (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP, EDEADLOCK = EDEADLK): prefer the
  // name the errors package and man pages use.
  const preferred = new Set(['EAGAIN', 'EOPNOTSUPP', 'EDEADLK']);
  for (const [name, n] of Object.entries(osConstants.errno)) {
    if (!m.has(n) || preferred.has(name)) m.set(n, name);
  }
  return m;
})();

/** Options of {@link toSysError}. */
export interface ToSysErrorOptions {
  /** The path to report (default: the one the addon reported). */
  readonly path?: string;
  /** The call needs root (mount, mknod, trusted.* xattrs): EPERM/EACCES then say so. */
  readonly privileged?: boolean;
}

/**
 * A BerthError for a failed addon call: `what` names the operation and its object; the addon's
 * errno, syscall and path are kept. Anything that is not an addon syscall error becomes Internal.
 */
export function toSysError(e: unknown, what: string, options: ToSysErrorOptions = {}): BerthError {
  const { path, privileged = false } = options;
  if (e instanceof BerthError) return e;
  if (!(e instanceof Error)) return internal(`${what}: ${String(e)}`, { cause: e });
  const sys = e as Error & { errno?: unknown; code?: unknown; syscall?: unknown; path?: unknown };
  if (typeof sys.errno !== 'number') {
    // a TypeError from argument checks: a bug in the caller, not a syscall failure
    return internal(`${what}: ${e.message}`, { cause: e });
  }
  const errno = typeof sys.code === 'string' ? sys.code : errnoNames.get(sys.errno) ?? `E${sys.errno}`;
  const syscall = typeof sys.syscall === 'string' ? sys.syscall : undefined;
  const where = path ?? (typeof sys.path === 'string' ? sys.path : undefined);
  const text = /: ([^:]*)$/.exec(e.message)?.[1];
  return errnoError(what, errno, {
    cause: e,
    privileged,
    ...(syscall === undefined ? {} : { syscall }),
    ...(where === undefined ? {} : { path: where }),
    ...(text === undefined ? {} : { text }),
  });
}
