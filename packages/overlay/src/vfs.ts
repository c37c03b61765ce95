/**
 * `CopySnapshotter` (Docker's `vfs`): when overlayfs is unavailable, a container's rootfs is a
 * full copy of its image in `upper/`, bind-mounted on `rootfs/`. Slow to prepare and heavy on
 * disk, but it works on any filesystem.
 *
 * The copy applies the layers bottom to top: first the layer's whiteouts and opaque dirs delete
 * from the tree (and a name that changes between directory and non-directory is removed), then
 * `cp -a` copies the layer over, whiteouts left out (owners, modes, times, xattrs, hard links and
 * device nodes, which Node cannot create). The copy is made in
 * `upper.partial/` and renamed, so a crash never leaves a half tree that looks finished.
 */
import { spawn } from 'node:child_process';
import { chmod, lchown, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { copyTimes } from './times.js';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { canceled, internal, toBerthError } from '@berth/errors';
import type { Change, MountSpec, SignalOptions, SnapshotterSys } from './types.js';
import { containerPaths, type ContainerPaths, type SnapshotRecord } from './layout.js';
import { BaseSnapshotter, throwIfAborted, type CreateOptions } from './base.js';
import { computeChanges } from './changes.js';
import { changeItems, tarStream, type TarItem } from './difftar.js';
import { isOpaque, isWhiteout, lstatOrNull } from './lower.js';

/** Snapshotter that copies the image (no overlayfs needed). */
export class CopySnapshotter extends BaseSnapshotter {
  readonly driver = 'vfs' as const;

  protected async create(p: ContainerPaths, lowers: readonly string[], { readonly, signal }: CreateOptions): Promise<MountSpec[]> {
    const partial = `${p.upper}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { mode: 0o755 });
    for (const layer of [...lowers].reverse()) {
      throwIfAborted(signal, `copy layer ${layer}`);
      const whiteouts: string[] = [];
      await this.clear(layer, partial, '', whiteouts);
      await copyLayer(this.sys, layer, partial, whiteouts, signal);
    }
    await rm(p.upper, { recursive: true, force: true }); // left by a prepare that crashed before its record
    await rename(partial, p.upper);
    return [{ type: 'bind', source: p.upper, target: p.rootfs, options: readonly ? ['rbind', 'ro'] : ['rbind', 'rw'] }];
  }

  /**
   * Deletes from `tree` what `layer` hides at `rel`: whiteouts, children of opaque dirs, names
   * whose type changes between directory and non-directory. Collects the whiteouts' paths.
   */
  private async clear(layer: string, tree: string, rel: string, whiteouts: string[]): Promise<void> {
    for (const name of await readdir(join(layer, rel))) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const ls = await lstatOrNull(join(layer, r));
      if (ls === null) continue;
      const ts = await lstatOrNull(join(tree, r));
      if (isWhiteout(ls)) {
        whiteouts.push(r);
        if (ts !== null) await rm(join(tree, r), { recursive: true, force: true });
        continue;
      }
      if (ts !== null && ls.isDirectory() !== ts.isDirectory()) {
        await rm(join(tree, r), { recursive: true, force: true });
      } else if (ts !== null && ls.isDirectory() && isOpaque(this.sys, join(layer, r))) {
        for (const child of await readdir(join(tree, r))) await rm(join(tree, r, child), { recursive: true, force: true });
      }
      // Every dir is walked, even one the tree lacks: its whiteouts must not be copied.
      if (ls.isDirectory()) await this.clear(layer, tree, r, whiteouts);
    }
  }

  protected changesOf(p: ContainerPaths, rec: SnapshotRecord, signal?: AbortSignal): Promise<Change[]> {
    return computeChanges(this.sys, p.upper, rec.lowerDirs, 'full', signal);
  }

  diffTar(key: string, options: SignalOptions = {}): Readable {
    const self = this;
    async function* items(): AsyncGenerator<TarItem> {
      const changes = await self.changes(key, options);
      yield* changeItems(containerPaths(self.root, key).upper, changes);
    }
    return tarStream(this.sys, items(), options.signal);
  }
}

/**
 * Copies `layer` over `tree`, leaving out its whiteouts (`whiteouts`: their paths): a whiteout
 * device must not be created — overlayfs refuses mknod of one (EPERM) when `$root` is itself on
 * overlayfs, the very case vfs is for. A layer without whiteouts is one `cp`; otherwise the dirs
 * holding whiteouts are walked and their other children copied in batches, and those dirs get
 * the layer's owner, mode and times afterwards (children first, since copying touches them).
 */
async function copyLayer(sys: SnapshotterSys, layer: string, tree: string, whiteouts: readonly string[], signal?: AbortSignal): Promise<void> {
  if (whiteouts.length === 0) return cp([`${layer}/.`], tree, signal);
  const skip = new Set(whiteouts);
  const walkDirs = new Set<string>(['']);
  for (const w of whiteouts) for (let d = dirname(w); d !== '.'; d = dirname(d)) walkDirs.add(d);
  const into = async (rel: string): Promise<void> => {
    const here = rel === '' ? layer : join(layer, rel);
    const there = rel === '' ? tree : join(tree, rel);
    await mkdir(there, { recursive: true });
    const sources: string[] = [];
    const deeper: string[] = [];
    for (const name of (await readdir(here)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (skip.has(r)) continue;
      if (walkDirs.has(r)) deeper.push(r);
      else sources.push(join(here, name));
    }
    for (let i = 0; i < sources.length; i += 256) await cp(sources.slice(i, i + 256), there, signal);
    for (const d of deeper) await into(d);
    const st = await lstat(here);
    await lchown(there, st.uid, st.gid);
    await chmod(there, st.mode & 0o7777);
    await copyTimes(sys, here, there);
  };
  await into('');
}

/**
 * `cp -a --remove-destination <sources> <tree>/`: copy over the tree (a source `dir/.` copies
 * its contents; a source dir merges into an existing one). Removing each destination first keeps
 * a file hard-linked from a lower layer from being written through.
 */
function cp(sources: readonly string[], tree: string, signal?: AbortSignal): Promise<void> {
  const layer = sources[0] ?? '';
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--remove-destination', '--', ...sources, `${tree}/`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(signal === undefined ? {} : { signal }),
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { if (err.length < 4096) err += d.toString(); });
    child.on('error', (e) => {
      reject(signal?.aborted ? canceled(`copy layer ${layer}: canceled`, { cause: e }) : toBerthError(e, `copy layer ${layer}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(internal(`copy layer ${layer} into ${tree}: cp exited ${String(code)}: ${err.trim().split('\n')[0] ?? ''}`));
    });
  });
}
