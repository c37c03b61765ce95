/**
 * What both snapshotters share: validating a prepare call, recording and performing mounts,
 * unmounting, removal. They differ in how `upper/` is filled and read.
 *
 * The calls `berth run` makes (prepare, mount, unmount, remove, isMounted, the lock) use
 * node:fs's synchronous calls: each is a tiny metadata call, and a one-shot CLI otherwise pays for
 * loading node:fs/promises, starting libuv's thread pool and a round trip to it per call, several
 * times what the calls cost. The public API stays Promise-returning; only the lock waits (polling
 * a non-blocking flock on a timer), so the event loop never blocks on another process. The
 * price: `remove` deletes a container's upper dir on the calling thread too, however big.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, realpathSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import type { Readable } from 'node:stream';
import { canceled, conflict, invalidArgument, isBerthError, notFound, toBerthError, unavailable } from '@berth/errors';
import type { Change, Driver, MountSpec, PrepareOptions, SignalOptions, Snapshotter, SnapshotterSys } from './types.js';
import {
  checkKey, containerPaths, readSnapshot, writeMountRecords, writeSnapshot,
  type ContainerPaths, type SnapshotRecord,
} from './layout.js';
import { performMounts, readMountInfo, unmountUnder } from './mounts.js';
import { checkInitEntries, makeInitLayer, sharedInitLayer } from './init.js';

/** Options every snapshotter takes. */
export interface SnapshotterOptions {
  /** berth's root dir (`$root`); containers live in `$root/containers/<key>/`. */
  readonly root: string;
  /** The kernel door: mount, umount2 and (optionally) lgetxattr. */
  readonly sys: SnapshotterSys;
}

/** What {@link BaseSnapshotter.create} is asked to make. */
export interface CreateOptions {
  readonly readonly: boolean;
  /** Mount the overlay `volatile` (already checked against {@link BaseSnapshotter.volatileApplies}). */
  readonly volatile: boolean;
  readonly signal?: AbortSignal;
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
  protected abstract create(p: ContainerPaths, lowerDirs: readonly string[], options: CreateOptions): Promise<MountSpec[]>;
  /**
   * Whether a prepare asking for `volatile` gets it with these options: only a driver whose
   * mounts can carry it says yes (default: no).
   */
  protected volatileApplies(_readonly: boolean, _lowerCount: number): boolean {
    return false;
  }
  /** Readies the container's dirs for mounting `rec` (after a check that it is not mounted). */
  protected beforeMount(_p: ContainerPaths, _rec: SnapshotRecord): void {}
  /** The container's changes, given its record. */
  protected abstract changesOf(p: ContainerPaths, rec: SnapshotRecord, signal?: AbortSignal): Promise<Change[]>;
  abstract diffTar(key: string, options?: SignalOptions): Readable;

  async prepare(key: string, lowerDirs: readonly string[], options: PrepareOptions = {}): Promise<readonly MountSpec[]> {
    const p = containerPaths(this.root, key);
    mkdirSync(p.dir, { recursive: true, mode: 0o755 });
    return this.locked(key, options.signal, () => this.prepareLocked(key, lowerDirs, options));
  }

  private async prepareLocked(key: string, lowerDirs: readonly string[], options: PrepareOptions): Promise<readonly MountSpec[]> {
    const p = containerPaths(this.root, key);
    const readonly = options.readonly ?? false;
    const init = options.init ?? [];
    checkInitEntries(init);
    const image = checkLowerDirs(lowerDirs);
    // (The init layer, when asked, is one more lower dir.)
    const volatile = options.volatile === true && this.volatileApplies(readonly, image.length + (init.length > 0 ? 1 : 0));
    let existing: SnapshotRecord | undefined;
    try {
      existing = readSnapshot(this.root, key);
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
    }
    if (existing !== undefined) {
      const imageOf = existing.lowerDirs.slice(existing.init.length > 0 ? 1 : 0);
      const same = existing.driver === this.driver && existing.readonly === readonly && existing.volatile === volatile &&
        imageOf.length === image.length && imageOf.every((d, i) => d === image[i]) &&
        JSON.stringify(existing.init) === JSON.stringify(init);
      if (!same) throw conflict(`container rootfs "${key}" already exists with other layers or options; remove it first`);
      return existing.mounts;
    }
    mkdirSync(p.rootfs, { recursive: true, mode: 0o755 });
    try {
      let lowers = image;
      if (init.length > 0) {
        let initDir = await sharedInitLayer(this.sys, this.root, image, init);
        if (initDir === undefined) {
          initDir = p.init;
          rmSync(p.init, { recursive: true, force: true }); // left by a prepare that crashed before its record
          await makeInitLayer(this.sys, p.init, image, init);
        }
        lowers = [initDir, ...image];
      }
      const mounts = await this.create(p, lowers, { readonly, volatile, ...(options.signal === undefined ? {} : { signal: options.signal }) });
      writeSnapshot(this.root, { version: 1, key, driver: this.driver, readonly, volatile, lowerDirs: lowers, init, mounts });
      return mounts;
    } catch (e) {
      this.removeOwnFiles(p);
      throw e;
    }
  }

  async mounts(key: string): Promise<readonly MountSpec[]> {
    return readSnapshot(this.root, key).mounts;
  }

  async mount(key: string): Promise<void> {
    return this.locked(key, undefined, () => this.mountLocked(key));
  }

  private mountLocked(key: string): void {
    const rec = this.record(key);
    if (this.mountedNow(key)) return;
    this.beforeMount(containerPaths(this.root, key), rec);
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

  /** Unmounts `key`'s rootfs; `record` empties its mounts.json (remove deletes it instead). */
  private unmountLocked(key: string, record = true): void {
    const p = containerPaths(this.root, key);
    let target = p.rootfs;
    try { target = realpathSync.native(p.rootfs); } catch { /* gone: nothing can be mounted on it by that name */ }
    unmountUnder(this.sys, target);
    if (record && existsSync(p.mounts)) writeMountRecords(this.root, key, []);
  }

  async isMounted(key: string): Promise<boolean> {
    return this.mountedNow(key);
  }

  private mountedNow(key: string): boolean {
    const p = containerPaths(this.root, key);
    let target: string;
    try {
      target = realpathSync.native(p.rootfs);
    } catch {
      return false;
    }
    return readMountInfo().some((m) => m.mountPoint === target);
  }

  async remove(key: string, options: SignalOptions = {}): Promise<void> {
    throwIfAborted(options.signal, `remove rootfs of ${key}`);
    const p = containerPaths(this.root, key);
    await this.locked(key, options.signal, () => {
      // (A crash before the files go leaves mounts.json naming mounts that are gone: harmless,
      // system check --repair drops such entries.)
      this.unmountLocked(key, false);
      this.forget(p);
      this.removeOwnFiles(p);
    });
  }

  /**
   * What a driver keeps about a container outside its dir, dropped before its files go (a
   * failure after leaves only a dangling link, which pruneLinks removes).
   */
  protected forget(_p: ContainerPaths): void {}

  /**
   * Runs `fn` holding an exclusive flock(2) on the container's dir, so that concurrent CLIs
   * never prepare or mount one key twice. Lock order: this lock is a leaf — taken inside any lock
   * of the caller's (the engine's container lock), and no other lock is taken while it is held.
   * It is polled (non-blocking flock) so the event loop never blocks; it goes with the fd, so a
   * crashed holder never leaves it taken. Without `sys.flock`, or before the dir exists, no lock.
   */
  private async locked<T>(key: string, signal: AbortSignal | undefined, fn: () => T | Promise<T>): Promise<T> {
    const dir = containerPaths(this.root, key).dir;
    const flock = this.sys.flock?.bind(this.sys);
    if (flock === undefined) return fn();
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY); // libuv adds O_CLOEXEC
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return fn();
      throw toBerthError(e, `lock ${dir}`);
    }
    try {
      const deadline = Date.now() + lockTimeoutMs;
      for (let wait = 2; !flock(fd, 'exclusive', true); wait = Math.min(wait * 2, 100)) {
        throwIfAborted(signal, `lock container rootfs "${key}"`);
        if (Date.now() > deadline) throw unavailable(`container rootfs "${key}" is locked by another berth process; retry when it is done`);
        await new Promise((r) => setTimeout(r, wait));
      }
      return await fn();
    } finally {
      closeSync(fd); // releases the lock
    }
  }

  async changes(key: string, options: SignalOptions = {}): Promise<Change[]> {
    const rec = this.record(key);
    if (rec.readonly) return [];
    return this.changesOf(containerPaths(this.root, key), rec, options.signal);
  }

  /** The record of `key`, checked to belong to this driver. */
  protected record(key: string): SnapshotRecord {
    const rec = readSnapshot(this.root, checkKey(key));
    if (rec.driver !== this.driver) {
      throw conflict(`container rootfs "${key}" was made by the ${rec.driver} driver, not ${this.driver}; use the same storage driver`);
    }
    return rec;
  }

  private removeOwnFiles(p: ContainerPaths): void {
    try {
      for (const path of [p.snapshot, p.mounts, p.rootfs, p.upper, p.work, p.init, `${p.upper}.partial`]) {
        rmSync(path, { recursive: true, force: true });
      }
      // The engine's files may share the dir; remove it only when nothing else is left.
      let left = ['?'];
      try { left = readdirSync(p.dir); } catch { /* already gone, or unreadable: leave it */ }
      if (left.length === 0) {
        try { rmdirSync(p.dir); } catch { /* another process just put a file there */ }
      }
    } catch (e) {
      throw toBerthError(e, `remove rootfs files in ${p.dir}`);
    }
  }
}

/** Checks the lower dirs: absolute, normalized, distinct, existing directories. */
function checkLowerDirs(lowerDirs: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const d of lowerDirs) {
    if (!isAbsolute(d)) throw invalidArgument(`layer dir "${d}" must be an absolute path`);
    const n = normalize(d).replace(/\/+$/, '') || '/';
    if (seen.has(n)) throw invalidArgument(`layer dir "${d}" appears twice in the layer chain`);
    seen.add(n);
    let st;
    try {
      st = statSync(n);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`layer dir "${d}" not found: pull the image again`, { path: d });
      throw toBerthError(e, `layer dir ${d}`);
    }
    if (!st.isDirectory()) throw invalidArgument(`layer dir "${d}" is not a directory`);
    out.push(n);
  }
  return out;
}
