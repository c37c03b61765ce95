import type { Readable } from 'node:stream';
import type { Sys } from '@berth/native';

/** The storage drivers: overlayfs, or the copy-based fallback (Docker's `vfs`). */
export type Driver = 'overlay' | 'vfs';

/**
 * One mount, as plain data (containerd's `mount.Mount`): whoever needs the mount performs it,
 * with {@link mountCalls} / {@link performMounts}. `options` mixes mount(2) flags (`ro`, `bind`,
 * `nosuid` …) and filesystem data (`lowerdir=…`).
 */
export interface MountSpec {
  readonly type: string;
  readonly source: string;
  /** Absolute path of the mount point. */
  readonly target: string;
  readonly options: readonly string[];
  /**
   * Directory that relative paths in `options` are relative to. mount(2) resolves them against
   * the working directory of the mounting process, so the performer must be in this directory
   * (overlay lower dirs are short relative links: a 128-layer list must fit the 4096-byte data page).
   */
  readonly cwd?: string;
}

/** A change of the container's tree relative to its image, as `docker diff` prints it. */
export interface Change {
  /** Absolute path inside the container (`/etc/hosts`). */
  readonly path: string;
  /** A: added, C: changed, D: deleted. */
  readonly kind: 'A' | 'C' | 'D';
}

/**
 * An entry of a container's init layer (Docker's `-init` layer): a mount point the runtime needs
 * (`/etc/hosts`, `/proc` …), made in a layer between the image and the container's writes, so it
 * exists even in a read-only rootfs and never shows in `changes` or `diffTar`.
 */
export interface InitEntry {
  /** Absolute path in the container. */
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  /** A symlink's target. */
  readonly target?: string;
}

/** Options of {@link Snapshotter.prepare}. */
export interface PrepareOptions {
  /** A read-only root: no upper dir, writes fail with EROFS. Default false. */
  readonly readonly?: boolean;
  /**
   * Mount points to make in an init layer above the image (see {@link InitEntry};
   * `defaultInitEntries` is Docker's list). Entries the image already has are left to it, and so
   * is any entry below a non-directory of the image (e.g. `/etc` a symlink).
   */
  readonly init?: readonly InitEntry[];
  /**
   * A throwaway rootfs (`run --rm`): the overlay is mounted `volatile` (kernel >= 5.10, when the
   * driver probe found it accepted), so its unmount skips syncing the whole upper filesystem.
   * Writes may be lost in a host crash. Ignored by vfs, read-only and layerless roots. Default false.
   */
  readonly volatile?: boolean;
  readonly signal?: AbortSignal;
}

/** Options of the snapshotter's long-running calls. */
export interface SignalOptions {
  readonly signal?: AbortSignal;
}

/**
 * The part of the kernel door the snapshotters use. `flock` (optional) serializes calls for one
 * key across processes. The xattr calls are optional too: without
 * `lgetxattr` opaque directories (`trusted.overlay.opaque=y`) cannot be seen, so a directory
 * removed and re-created in a container diffs as changed rather than replaced; without
 * `llistxattr` diff tars carry no xattrs.
 */
export type SnapshotterSys = Pick<Sys, 'mount' | 'umount2'> & Partial<Pick<Sys, 'flock' | 'lgetxattr' | 'llistxattr' | 'lutimens'>>;

/**
 * A container's root filesystem made from an image's unpacked layers. Lifecycle per key
 * (a container id): `prepare` → `mount` ⇄ `unmount` → `remove`. Every call is safe to repeat.
 */
export interface Snapshotter {
  /** The mechanism of this snapshotter. */
  readonly driver: Driver;
  /**
   * Creates the container's dirs (`$root/containers/<key>/upper, work, rootfs`) and returns the
   * mounts that make `rootfs/` its root filesystem, without performing them.
   * `lowerDirs`: the unpacked layers, topmost first, absolute paths.
   */
  prepare(key: string, lowerDirs: readonly string[], options?: PrepareOptions): Promise<readonly MountSpec[]>;
  /** The mounts `prepare` returned for `key`. */
  mounts(key: string): Promise<readonly MountSpec[]>;
  /** Performs the mounts of `key` (recorded in `mounts.json` first). No-op when mounted. */
  mount(key: string): Promise<void>;
  /** Unmounts `key`'s rootfs (and anything below it). No-op when not mounted. */
  unmount(key: string): Promise<void>;
  /** Unmounts and deletes everything `prepare` created for `key`. */
  remove(key: string, options?: SignalOptions): Promise<void>;
  /** True when `key`'s rootfs is mounted (per /proc/self/mountinfo). */
  isMounted(key: string): Promise<boolean>;
  /** What the container added, changed or deleted relative to its image, sorted by path. */
  changes(key: string, options?: SignalOptions): Promise<Change[]>;
  /** The container's changes as an uncompressed OCI layer tar (whiteouts included), streamed. */
  diffTar(key: string, options?: SignalOptions): Readable;
}
