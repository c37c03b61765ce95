/**
 * Unpacked layers on disk, one directory per chainID (the overlay lower dirs):
 *
 *   $root/layers/<chainID hex>/                       a finished layer's diff, in overlayfs form
 *   $root/layers/<chainID hex>.tmp-<pid>-<random>/     an unpack in progress (never used by anyone)
 *
 * A layer appears under its final name only by the rename after a complete, verified unpack,
 * so a crash leaves at most a `.tmp-` directory, which `check` reports and GC removes.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { failedPrecondition } from '@berth/errors';
import { LinuxSys } from '@berth/native';
import { fsyncDir } from './atomic.js';
import { hexOf, isDigest, type Digest } from './digest.js';
import { unpackLayer, type UnpackOptions, type UnpackResult, type UnpackSys } from './unpack.js';
import { UnpackPool } from './unpack-pool.js';

/** Unpacked layers by chainID. */
export class LayerStore {
  readonly dir: string;
  private pool: UnpackPool | undefined;

  /**
   * With the real kernel door (a `LinuxSys`) layers unpack on worker threads, each with its own
   * `LinuxSys`, so layers unpacking at once use several cores; any other `sys` (a test's fake)
   * is called on this thread.
   */
  constructor(readonly root: string, private readonly sys: UnpackSys | undefined) {
    this.dir = join(root, 'layers');
  }

  private unpackInto(source: AsyncIterable<Uint8Array>, dir: string, options: UnpackOptions): Promise<UnpackResult> {
    if (!(this.sys instanceof LinuxSys)) return unpackLayer(this.sys as UnpackSys, source, dir, options);
    this.pool ??= new UnpackPool();
    return this.pool.unpack(source, dir, options);
  }

  /**
   * Gets `count` unpack workers ready ahead of the unpacks (a pull calls it once it knows how many
   * layers it will fetch), so their start-up overlaps the requests; no-op without workers.
   */
  warm(count: number): void {
    if (!(this.sys instanceof LinuxSys)) return;
    this.pool ??= new UnpackPool();
    this.pool.warm(count);
  }

  /** Stops idle unpack workers (they never keep the process alive; this frees them sooner). */
  async close(): Promise<void> {
    await this.pool?.close();
  }

  /** The directory of a layer (it may not exist). */
  path(chainID: Digest): string {
    return join(this.dir, hexOf(chainID));
  }

  has(chainID: Digest): boolean {
    try { return statSync(this.path(chainID)).isDirectory(); } catch { return false; }
  }

  /** Every finished layer's chainID. */
  list(): Digest[] {
    let names: string[];
    try { names = readdirSync(this.dir); } catch { return []; }
    return names.filter((n) => !n.includes('.')).map((n) => `sha256:${n}`).filter(isDigest);
  }

  /** True when this store can unpack (it was given a kernel door). */
  get canUnpack(): boolean {
    return this.sys !== undefined;
  }

  /** Unfinished unpacks: `{ name, pid, alive }` for each `.tmp-` directory. */
  temps(): Array<{ readonly path: string; readonly pid: number; readonly alive: boolean }> {
    let names: string[];
    try { names = readdirSync(this.dir); } catch { return []; }
    return names.filter((n) => n.includes('.tmp-')).map((n) => {
      const pid = Number(/\.tmp-(\d+)-/.exec(n)?.[1] ?? 0);
      return { path: join(this.dir, n), pid, alive: pid > 0 && pidAlive(pid) };
    });
  }

  /**
   * Unpacks `source` as layer `chainID`: into a temp dir, verified, then renamed into place.
   * When the layer already exists the source is not read and `undefined` is returned.
   */
  async unpack(chainID: Digest, source: AsyncIterable<Uint8Array>, options: UnpackOptions = {}): Promise<UnpackResult | undefined> {
    if (this.has(chainID)) return undefined;
    if (this.sys === undefined) throw failedPrecondition(`cannot unpack layer ${chainID}: this berth has no kernel access (the native addon is not loaded)`);
    mkdirSync(this.dir, { recursive: true });
    const tmp = join(this.dir, `${hexOf(chainID)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(tmp, 0o755);
    try {
      const r = await this.unpackInto(source, tmp, options);
      try {
        renameSync(tmp, this.path(chainID));
      } catch (e) {
        // Another process finished the same layer first (rename onto a non-empty dir fails): keep theirs.
        if (!this.has(chainID)) throw e;
        rmSync(tmp, { recursive: true, force: true });
        return r;
      }
      fsyncDir(this.dir);
      return r;
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Removes a layer directory (no-op when absent). */
  delete(chainID: Digest): void {
    const p = this.path(chainID);
    // Rename first so a crash mid-delete leaves a temp dir, never a half layer under its name.
    const doomed = join(this.dir, `${hexOf(chainID)}.tmp-0-deleted${randomBytes(4).toString('hex')}`);
    try { renameSync(p, doomed); } catch { return; }
    fsyncDir(this.dir);
    rmSync(doomed, { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}
