/**
 * Where the snapshotters keep their files, and the two small JSON records they write.
 *
 * ```
 * $root/
 *   overlay/
 *     l/<12 hex>  -> /abs/path/of/a/layer    short links: lowerdir=l/A:l/B… (mounted from $root/overlay)
 *     probe.json                             cached verdict of the overlay support probe
 *     init/<16 hex>/      an init layer shared by the containers of one image (see init.ts)
 *     init/<16 hex>.json  {lowerDirs, entries}: what it was made for
 *   containers/<key>/
 *     upper/        overlay: the container's writes (whiteouts: char 0/0, opaque: trusted.overlay.opaque=y)
 *                   vfs: a full copy of the image's tree
 *     work/         overlay's work dir (overlay, read-write only); after a `volatile` mount the
 *                   kernel leaves work/work/incompat/volatile, which `mount` clears
 *     rootfs/       the mount point
 *     init/         the container's own init layer, only when the shared one's name was taken
 *     snapshot.json {version, key, driver, readonly, volatile, lowerDirs, init, mounts}  written once by prepare
 *                   (fsync'd unless volatile);
 *                   lowerDirs are the ones mounted: the init layer (when asked) and then the image's
 *     mounts.json   {version, mounts: [{target, type, mountedAt}]}     written before mounting,
 *                                                                      emptied after unmounting
 * ```
 * The engine's own files (config.json, hosts …) live beside these; `remove` deletes only ours.
 * The records are a few hundred bytes: they are read and written on the calling thread.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { failedPrecondition, invalidArgument, notFound, toBerthError } from '@berth/errors';
import type { Driver, InitEntry, MountSpec } from './types.js';

const keyPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Checks that `key` is a usable container id (one path component, no dot-dots). */
export function checkKey(key: string): string {
  if (!keyPattern.test(key)) {
    throw invalidArgument(`invalid container key ${JSON.stringify(key)}: use 1-128 letters, digits, '_', '.', '-', starting with a letter or digit`);
  }
  return key;
}

/** The paths of one container's snapshot. */
export interface ContainerPaths {
  readonly dir: string;
  readonly upper: string;
  readonly work: string;
  readonly rootfs: string;
  readonly snapshot: string;
  readonly mounts: string;
  readonly init: string;
}

export function containerPaths(root: string, key: string): ContainerPaths {
  const dir = join(root, 'containers', checkKey(key));
  return {
    dir,
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    rootfs: join(dir, 'rootfs'),
    snapshot: join(dir, 'snapshot.json'),
    mounts: join(dir, 'mounts.json'),
    init: join(dir, 'init'),
  };
}

/**
 * FNV-1a, 64 bits, of the UTF-8 bytes of `s`, as 16 hex digits: a name, not a checksum. In two
 * 32-bit halves (BigInt arithmetic took ~4 ms for a path on a cold start): the prime is
 * 2^40 + 0x1b3, so h * prime = h * 0x1b3 + (lo << 8) * 2^32 (mod 2^64).
 */
export function fnv1a64(s: string): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const byte of Buffer.from(s)) {
    lo ^= byte;
    const low = (lo >>> 0) * 0x1b3; // < 2^41: exact in a double
    hi = (Math.imul(hi, 0x1b3) + Math.floor(low / 0x100000000) + (lo << 8)) >>> 0;
    lo = low >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Where the init layers shared by the containers of one image live (see init.ts). */
export function initLayersDir(root: string): string {
  return join(root, 'overlay', 'init');
}

/** Sequence of this process's temp files (see writeFileAtomic). */
let tmpSeq = 0;

/**
 * Writes a small file atomically: temp file, fsync, rename, fsync the directory. With
 * `durable: false` the fsyncs are skipped: for records that a reboot makes moot anyway (mounts do
 * not survive one), atomicity against a crashed process is what matters.
 */
export function writeFileAtomic(path: string, data: string, options: { readonly durable?: boolean } = {}): void {
  const durable = options.durable ?? true;
  // Named by pid and sequence (no random bytes: node:crypto is ms of a start). A file of that
  // name is left by a crashed process that had our pid: stale, so it is replaced.
  const tmp = `${path}.tmp-${process.pid}-${tmpSeq++}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    rmSync(tmp, { force: true });
    fd = openSync(tmp, 'wx', 0o600);
  }
  try {
    writeFileSync(fd, data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (!durable) return;
  const dfd = openSync(dirname(path), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

/** What `prepare` recorded for a container. */
export interface SnapshotRecord {
  readonly version: 1;
  readonly key: string;
  readonly driver: Driver;
  readonly readonly: boolean;
  /**
   * The overlay mount carries `volatile` (no sync of the upper fs; see PrepareOptions.volatile).
   * Absent in records written before it existed: false.
   */
  readonly volatile: boolean;
  /** The lower dirs as mounted, topmost first: init/ (when made), then the image's layers. */
  readonly lowerDirs: readonly string[];
  /** The init entries asked for. */
  readonly init: readonly InitEntry[];
  readonly mounts: readonly MountSpec[];
}

/** One mount `mount` performed (or is about to perform). */
export interface MountRecord {
  readonly target: string;
  readonly type: string;
  readonly mountedAt: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Validates a {@link MountSpec} read from disk. */
export function parseMountSpec(v: unknown, where: string): MountSpec {
  if (!isObject(v) || typeof v['type'] !== 'string' || typeof v['source'] !== 'string' ||
      typeof v['target'] !== 'string' || !isStringArray(v['options']) ||
      (v['cwd'] !== undefined && typeof v['cwd'] !== 'string')) {
    throw failedPrecondition(`${where}: invalid mount description; remove the container and create it again`);
  }
  const base = { type: v['type'], source: v['source'], target: v['target'], options: v['options'] };
  return typeof v['cwd'] === 'string' ? { ...base, cwd: v['cwd'] } : base;
}

function parseSnapshot(v: unknown, where: string): SnapshotRecord {
  if (!isObject(v) || v['version'] !== 1 || typeof v['key'] !== 'string' ||
      (v['driver'] !== 'overlay' && v['driver'] !== 'vfs') || typeof v['readonly'] !== 'boolean' ||
      (v['volatile'] !== undefined && typeof v['volatile'] !== 'boolean') ||
      !isStringArray(v['lowerDirs']) || !Array.isArray(v['mounts'])) {
    throw failedPrecondition(`${where}: invalid snapshot record; remove the container and create it again`);
  }
  const mounts = v['mounts'].map((m) => parseMountSpec(m, where));
  const initRaw = v['init'] ?? [];
  if (!Array.isArray(initRaw)) throw failedPrecondition(`${where}: invalid init entries; remove the container and create it again`);
  const init = initRaw.map((e): InitEntry => {
    if (!isObject(e) || typeof e['path'] !== 'string' || (e['kind'] !== 'file' && e['kind'] !== 'dir' && e['kind'] !== 'symlink') ||
        (e['target'] !== undefined && typeof e['target'] !== 'string')) {
      throw failedPrecondition(`${where}: invalid init entry; remove the container and create it again`);
    }
    return typeof e['target'] === 'string' ? { path: e['path'], kind: e['kind'], target: e['target'] } : { path: e['path'], kind: e['kind'] };
  });
  return {
    version: 1, key: v['key'], driver: v['driver'], readonly: v['readonly'], volatile: v['volatile'] === true,
    lowerDirs: v['lowerDirs'], init, mounts,
  };
}

function parseMounts(v: unknown, where: string): MountRecord[] {
  if (!isObject(v) || v['version'] !== 1 || !Array.isArray(v['mounts'])) {
    throw failedPrecondition(`${where}: invalid mount record; run 'berth system check --repair'`);
  }
  return v['mounts'].map((m) => {
    if (!isObject(m) || typeof m['target'] !== 'string' || typeof m['type'] !== 'string' || typeof m['mountedAt'] !== 'string') {
      throw failedPrecondition(`${where}: invalid mount record; run 'berth system check --repair'`);
    }
    return { target: m['target'], type: m['type'], mountedAt: m['mountedAt'] };
  });
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toBerthError(e, `read ${path}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw failedPrecondition(`${path}: not valid JSON; remove the container and create it again`, { cause: e });
  }
}

/** Reads the snapshot record of `key`; NotFound when it was never prepared. */
export function readSnapshot(root: string, key: string): SnapshotRecord {
  const p = containerPaths(root, key);
  const v = readJson(p.snapshot);
  if (v === undefined) throw notFound(`container rootfs "${key}" not found: prepare it first`, { path: p.snapshot });
  return parseSnapshot(v, p.snapshot);
}

/** Reads the mounts recorded for `key` (none when the file is absent). */
export function readMountRecords(root: string, key: string): MountRecord[] {
  const p = containerPaths(root, key);
  const v = readJson(p.mounts);
  return v === undefined ? [] : parseMounts(v, p.mounts);
}

/**
 * Writes the record of a prepare. Durably, unless the rootfs is volatile: its writes do not
 * outlive a host crash either, and a lost record only makes `mount` fail until `remove`.
 */
export function writeSnapshot(root: string, rec: SnapshotRecord): void {
  writeFileAtomic(containerPaths(root, rec.key).snapshot, JSON.stringify(rec, null, 2) + '\n', { durable: !rec.volatile });
}

export function writeMountRecords(root: string, key: string, mounts: readonly MountRecord[]): void {
  writeFileAtomic(containerPaths(root, key).mounts, JSON.stringify({ version: 1, mounts }, null, 2) + '\n', { durable: false });
}
