/**
 * `Sys`: the one door to the kernel. Every privileged side effect of berth goes through it.
 * `LinuxSys` implements it on the addon; `RecordingSys` (a fake) records calls and can fail
 * the Nth one, so logic above the door is tested without root.
 *
 * All calls are synchronous: each is one or a few syscalls. Failures throw a BerthError
 * (from @berth/errors) carrying `errno`, `syscall` and `path`.
 */

/** How {@link Sys.resolveInRoot} treats `..` and symlinks that would leave the root. */
export type ResolveMode =
  /** Like a chroot (openat2 RESOLVE_IN_ROOT): `..` at the root stays at the root, absolute symlinks restart at the root. Never escapes. */
  | 'in-root'
  /** Like RESOLVE_BENEATH: any step that would leave the root is refused with EXDEV. */
  | 'beneath';

/** Options of {@link Sys.resolveInRoot}. */
export interface ResolveOptions {
  readonly mode?: ResolveMode;
  /** When the last component does not exist, resolve its parent and return parent + name (for creating it). Default false. */
  readonly allowMissingLeaf?: boolean;
  /** Do not follow a symlink in the last component (like O_NOFOLLOW / lstat). Default false. */
  readonly noFollowLeaf?: boolean;
}

/** The door: every privileged call berth makes. Implemented by LinuxSys (the addon) and RecordingSys (a fake). */
export interface Sys {
  /** mount(2). `flags` is a bitmask of {@link MountFlags}. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  /** umount2(2). `flags` is a bitmask of {@link UmountFlags}. */
  umount2(target: string, flags?: number): void;
  /**
   * flock(2) on an open fd. With `nonBlocking`, returns false instead of waiting when the lock is held.
   */
  flock(fd: number, op: 'shared' | 'exclusive' | 'unlock', nonBlocking?: boolean): boolean;
  /**
   * Resolves `path` inside `root` and returns the absolute host path of the result, which is
   * always `root` or below it. Uses openat2(RESOLVE_IN_ROOT|RESOLVE_BENEATH) where the kernel has
   * it, else a careful component-by-component walk with O_PATH|O_NOFOLLOW.
   * `path` is read relative to `root` in both modes (a leading `/` means `root`); the result is
   * spelled with `root` (made absolute) as its prefix. Magic links (/proc/…/fd/*) are refused (ELOOP).
   */
  resolveInRoot(root: string, path: string, options?: ResolveOptions): string;

  /**
   * Opens `path` inside `root`, resolved as by {@link resolveInRoot}, and returns the fd (always
   * close-on-exec; the caller closes it). The race-free form: the fd is the object that was inside
   * the root, whatever is renamed or swapped afterwards. With `O_CREAT` in `flags` a missing leaf
   * is created inside the root (a dangling symlink leaf is followed in the root first).
   */
  openInRoot(root: string, path: string, options?: OpenInRootOptions): number;

  /**
   * mknod(2): a FIFO, character or block device. `mode` holds the type ({@link FileType}) and the
   * permission bits, which the umask reduces; an overlay whiteout is `FileType.CHR` with 0/0.
   */
  mknod(path: string, mode: number, major?: number, minor?: number): void;
  /** lsetxattr(2): sets an extended attribute on `path` itself (a symlink is not followed). */
  lsetxattr(path: string, name: string, value: Uint8Array, flag?: XattrFlag): void;
  /** lgetxattr(2): the attribute's value, or undefined when `path` has no attribute `name`. */
  lgetxattr(path: string, name: string): Buffer | undefined;
  /** llistxattr(2): the names of the attributes of `path` itself (only those the caller may see). */
  llistxattr(path: string): string[];
  /** lremovexattr(2). Throws NotFound (ENODATA) when there is no such attribute. */
  lremovexattr(path: string, name: string): void;
  /**
   * utimensat(2) with AT_SYMLINK_NOFOLLOW: sets the access and modification times of `path`
   * itself, exactly, in nanoseconds since the epoch (as `lstat(…, { bigint: true })` gives them).
   */
  lutimens(path: string, atimeNs: bigint, mtimeNs: bigint): void;

  /** socketpair(AF_UNIX, SOCK_STREAM): two connected sockets, both close-on-exec. */
  socketpair(): [number, number];
  /** Sends `fd` (SCM_RIGHTS) with `message` (at least one byte goes; empty sends a NUL) over a unix socket. */
  sendFd(socketFd: number, fd: number, message?: Uint8Array): void;
  /**
   * Receives one fd (close-on-exec) and the bytes sent with it. A non-blocking socket with nothing
   * queued throws Unavailable (EAGAIN); end of stream throws ECONNRESET.
   */
  recvFd(socketFd: number): ReceivedFd;

  /** pidfd_open(2): an fd for `pid` that keeps naming that process even after the pid is reused. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2): signals the process of a pidfd; ESRCH once it has exited and been reaped. */
  pidfdSendSignal(pidfd: number, signal: NodeJS.Signals | number): void;

  /**
   * execve(2): replaces this process (its pid stays) with the program at `path`, run with `argv`
   * and this process's environment. `fds[i]` becomes its fd 3+i; fds 0-2 stay; every other fd
   * is close-on-exec. Returns only by throwing.
   */
  execve(path: string, argv: readonly string[], fds?: readonly number[]): never;

  /**
   * posix_spawn(3): starts the program at `path` with `argv` and this process's environment, and
   * returns its pid. `fds[i]` becomes its fd i and every other fd is closed in it; its signals
   * are at their defaults, none blocked; `setsid` makes it lead a session of its own. Unlike
   * node:child_process, which forks, this copies nothing of this process. Throws when the
   * program cannot be executed (ENOENT, EACCES…). Reap it with {@link waitPid}.
   */
  spawn(path: string, argv: readonly string[], fds: readonly number[], options?: { readonly setsid?: boolean }): number;
  /** waitpid(2) on a child of this process, off the main thread: its exit code, or the signal that ended it. */
  waitPid(pid: number): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
}

/** Options of {@link Sys.openInRoot}. */
export interface OpenInRootOptions {
  readonly mode?: ResolveMode;
  /** Do not follow a symlink in the last component: opening one fails with ELOOP, unless `flags` has O_PATH. */
  readonly noFollowLeaf?: boolean;
  /** open(2) flags from `fs.constants` (`O_RDONLY`, `O_WRONLY | O_CREAT | O_TRUNC`, `O_PATH` …). Default O_RDONLY. */
  readonly flags?: number;
  /** Permission bits of a created file (the umask applies). Default 0o666. */
  readonly perm?: number;
}

/** What {@link Sys.recvFd} got: the fd and the bytes that came with it. */
export interface ReceivedFd {
  readonly fd: number;
  readonly message: Buffer;
}

/** How {@link Sys.lsetxattr} treats an existing attribute: `create` fails if it exists, `replace` if it does not. */
export type XattrFlag = 'create' | 'replace';

/** mount(2) flags (from <sys/mount.h>). */
export const MountFlags = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** umount2(2) flags. */
export const UmountFlags = {
  FORCE: 0x1,
  DETACH: 0x2,
  EXPIRE: 0x4,
  NOFOLLOW: 0x8,
} as const;

/** File type bits of a `mode` (from <sys/stat.h>), for {@link Sys.mknod}. */
export const FileType = {
  FIFO: 0o010000,
  CHR: 0o020000,
  DIR: 0o040000,
  BLK: 0o060000,
  REG: 0o100000,
  LNK: 0o120000,
  SOCK: 0o140000,
} as const;

/**
 * open(2) flags Node's `fs.constants` lacks, for {@link Sys.openInRoot}. O_PATH: an fd that names
 * an object without opening it for I/O (value of x86-64, arm64 and most Linux architectures).
 */
export const OpenFlags = {
  PATH: 0o10000000,
} as const;
