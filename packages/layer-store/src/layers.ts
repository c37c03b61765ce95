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
import { fsyncDir } from './atomic.js';
import { hexOf, isDigest, type Digest } from './digest.js';
import { unpackLayer, type UnpackOptions, type UnpackResult, type UnpackSys } from './unpack.js';

/** Unpacked layers by chainID. */
export class LayerStore {
  readonly dir: string;

  constructor(readonly root: string, private readonly sys: UnpackSys | undefined) {
    this.dir = join(root, 'layers');
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
      const r = await unpackLayer(this.sys, source, tmp, options);
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
