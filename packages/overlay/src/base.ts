/**
 * What both snapshotters share: validating a prepare call, recording and performing mounts,
 * unmounting, removal. They differ in how `upper/` is filled and read.
 */
import { constants, existsSync } from 'node:fs';
import { mkdir, open, readdir, realpath, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';
import type { Readable } from 'node:stream';
import { canceled, conflict, invalidArgument, isBerthError, notFound, toBerthError, unavailable } from '@berth/errors';
import type { Change, Driver, MountSpec, PrepareOptions, SignalOptions, Snapshotter, SnapshotterSys } from './types.js';
import {
  checkKey, containerPaths, readSnapshot, writeMountRecords, writeSnapshot,
  type ContainerPaths, type SnapshotRecord,
} from './layout.js';
import { performMounts, readMountInfo, unmountUnder } from './mounts.js';
import { checkInitEntries, makeInitLayer } from './init.js';

/** Options every snapshotter takes. */
export interface SnapshotterOptions {
  /** berth's root dir (`$root`); containers live in `$root/containers/<key>/`. */
  readonly root: string;
  /** The kernel door: mount, umount2 and (optionally) lgetxattr. */
  readonly sys: SnapshotterSys;
}

/** How long a snapshotter call waits for another process's hold on the same key. */
const lockTimeoutMs = 60_000;

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw canceled(`${what}: canceled`, { cause: signal.reason });
}

export abstract class BaseSnapshotter implements Snapshotter {
  abstract readonly driver: Driver;
  protected readonly root: string;
  protected readonly sys: SnapshotterSys;

  constructor(options: SnapshotterOptions) {
    if (!isAbsolute(options.root)) throw invalidArgument(`root dir "${options.root}" must be an absolute path`);
    this.root = normalize(options.root);
    this.sys = options.sys;
  }

  /** Fills the container's dirs and returns its mounts (the driver's part of `prepare`). */
  protected abstract create(p: ContainerPaths, lowerDirs: readonly string[], readonly: boolean, signal?: AbortSignal): Promise<MountSpec[]>;
  /** The container's changes, given its record. */
  protected abstract changesOf(p: ContainerPaths, rec: SnapshotRecord, signal?: AbortSignal): Promise<Change[]>;
  abstract diffTar(key: string, options?: SignalOptions): Readable;

  async prepare(key: string, lowerDirs: readonly string[], options: PrepareOptions = {}): Promise<readonly MountSpec[]> {
    const p = containerPaths(this.root, key);
    await mkdir(p.dir, { recursive: true, mode: 0o755 });
    return this.locked(key, options.signal, () => this.prepareLocked(key, lowerDirs, options));
  }

  private async prepareLocked(key: string, lowerDirs: readonly string[], options: PrepareOptions): Promise<readonly MountSpec[]> {
    const p = containerPaths(this.root, key);
    const readonly = options.readonly ?? false;
    const init = options.init ?? [];
    checkInitEntries(init);
    const image = await checkLowerDirs(lowerDirs);
    const lowers = init.length > 0 ? [p.init, ...image] : image;
    let existing: SnapshotRecord | undefined;
    try {
      existing = await readSnapshot(this.root, key);
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
    }
    if (existing !== undefined) {
      const same = existing.driver === this.driver && existing.readonly === readonly &&
        existing.lowerDirs.length === lowers.length && existing.lowerDirs.every((d, i) => d === lowers[i]) &&
        JSON.stringify(existing.init) === JSON.stringify(init);
      if (!same) throw conflict(`container rootfs "${key}" already exists with other layers or options; remove it first`);
      return existing.mounts;
    }
    await mkdir(p.rootfs, { recursive: true, mode: 0o755 });
    try {
      if (init.length > 0) {
        await rm(p.init, { recursive: true, force: true }); // left by a prepare that crashed before its record
        await makeInitLayer(this.sys, p.init, image, init);
      }
      const mounts = await this.create(p, lowers, readonly, options.signal);
      writeSnapshot(this.root, { version: 1, key, driver: this.driver, readonly, lowerDirs: lowers, init, mounts });
      return mounts;
    } catch (e) {
      await this.removeOwnFiles(p);
      throw e;
    }
  }

  async mounts(key: string): Promise<readonly MountSpec[]> {
    return (await readSnapshot(this.root, key)).mounts;
  }

  async mount(key: string): Promise<void> {
    return this.locked(key, undefined, () => this.mountLocked(key));
  }

  private async mountLocked(key: string): Promise<void> {
    const rec = await this.record(key);
    if (await this.isMounted(key)) return;
    // Record first: a crash after the mount never leaves a mount that no record explains.
    const now = new Date().toISOString();
    writeMountRecords(this.root, key, rec.mounts.map((m) => ({ target: m.target, type: m.type, mountedAt: now })));
    try {
      performMounts(this.sys, rec.mounts);
    } catch (e) {
      writeMountRecords(this.root, key, []);
      throw e;
    }
  }

  async unmount(key: string): Promise<void> {
    return this.locked(key, undefined, () => this.unmountLocked(key));
  }

  private async unmountLocked(key: string): Promise<void> {
    const p = containerPaths(this.root, key);
    const target = await realpath(p.rootfs).catch(() => p.rootfs);
    await unmountUnder(this.sys, target);
    if (existsSync(p.mounts)) writeMountRecords(this.root, key, []);
  }

  async isMounted(key: string): Promise<boolean> {
    const p = containerPaths(this.root, key);
    const target = await realpath(p.rootfs).catch(() => undefined);
    if (target === undefined) return false;
    return (await readMountInfo()).some((m) => m.mountPoint === target);
  }

  async remove(key: string, options: SignalOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `remove rootfs of ${key}`);
    const p = containerPaths(this.root, key);
    await this.locked(key, options.signal, async () => {
      await this.unmountLocked(key);
      await this.removeOwnFiles(p);
      await this.forget(p);
    });
  }

  /** What a driver keeps about a container outside its dir, dropped once it is removed. */
  protected async forget(_p: ContainerPaths): Promise<void> {}

  /**
   * Runs `fn` holding an exclusive flock(2) on the container's dir, so that concurrent CLIs
   * never prepare or mount one key twice. Lock order: this lock is a leaf — taken inside any lock
   * of the caller's (the engine's container lock), and no other lock is taken while it is held.
   * It is polled (non-blocking flock) so the event loop never blocks; it goes with the fd, so a
   * crashed holder never leaves it taken. Without `sys.flock`, or before the dir exists, no lock.
   */
  private async locked<T>(key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const dir = containerPaths(this.root, key).dir;
    const flock = this.sys.flock?.bind(this.sys);
    if (flock === undefined) return fn();
    let fh: FileHandle;
    try {
      fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fn();
      throw toBerthError(e, `lock ${dir}`);
    }
    try {
      const deadline = Date.now() + lockTimeoutMs;
      for (let wait = 2; !flock(fh.fd, 'exclusive', true); wait = Math.min(wait * 2, 100)) {
        throwIfAborted(signal, `lock container rootfs "${key}"`);
        if (Date.now() > deadline) throw unavailable(`container rootfs "${key}" is locked by another berth process; retry when it is done`);
        await new Promise((r) => setTimeout(r, wait));
      }
      return await fn();
    } finally {
      await fh.close(); // releases the lock
    }
  }

  async changes(key: string, options: SignalOptions = {}): Promise<Change[]> {
    const rec = await this.record(key);
    if (rec.readonly) return [];
    return this.changesOf(containerPaths(this.root, key), rec, options.signal);
  }

  /** The record of `key`, checked to belong to this driver. */
  protected async record(key: string): Promise<SnapshotRecord> {
    const rec = await readSnapshot(this.root, checkKey(key));
    if (rec.driver !== this.driver) {
      throw conflict(`container rootfs "${key}" was made by the ${rec.driver} driver, not ${this.driver}; use the same storage driver`);
    }
    return rec;
  }

  private async removeOwnFiles(p: ContainerPaths): Promise<void> {
    try {
      for (const path of [p.snapshot, p.mounts, p.rootfs, p.upper, p.work, p.init, `${p.upper}.partial`]) {
        await rm(path, { recursive: true, force: true });
      }
      // The engine's files may share the dir; remove it only when nothing else is left.
      if ((await readdir(p.dir).catch(() => ['?'])).length === 0) await rmdir(p.dir).catch(() => undefined);
    } catch (e) {
      throw toBerthError(e, `remove rootfs files in ${p.dir}`);
    }
  }
}

/** Checks the lower dirs: absolute, normalized, distinct, existing directories. */
async function checkLowerDirs(lowerDirs: readonly string[]): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const d of lowerDirs) {
    if (!isAbsolute(d)) throw invalidArgument(`layer dir "${d}" must be an absolute path`);
    const n = normalize(d).replace(/\/+$/, '') || '/';
    if (seen.has(n)) throw invalidArgument(`layer dir "${d}" appears twice in the layer chain`);
    seen.add(n);
    let st;
    try {
      st = await stat(n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`layer dir "${d}" not found: pull the image again`, { path: d });
      throw toBerthError(e, `layer dir ${d}`);
    }
    if (!st.isDirectory()) throw invalidArgument(`layer dir "${d}" is not a directory`);
    out.push(n);
  }
  return out;
}
