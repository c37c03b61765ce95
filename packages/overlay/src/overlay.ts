/**
 * `OverlaySnapshotter`: a container's rootfs is an overlayfs mount of the image's layer dirs
 * (lower, read-only, shared by every container of the image) under the container's own `upper/`.
 *
 * The lower dirs are named through short links, `$root/overlay/l/<12 hex>` → layer dir, and
 * mounted from `$root/overlay` as `lowerdir=l/…:l/…`: 15 bytes a layer, so the 128 layers
 * Docker allows (and more) fit mount(2)'s one page of data, which absolute paths would overflow.
 * A link's name is derived from the layer dir, so every process finds the same link without a
 * shared table: from its own name when that is a digest (layer-store names a layer dir by its
 * chain ID), else from a 64-bit FNV-1a of its path, then (on clashes) from a sha256 of it; a
 * clash moves to the next name. No hashing module is loaded on the common path (node:crypto is
 * several ms of a start). A shared init layer's link stays like a layer's (pruneLinks drops it
 * once the layer is pruned); a container's own init layer's link goes with the container.
 *
 * A `volatile` rootfs is mounted with overlay's `volatile` option: the kernel then skips the
 * sync of the whole upper filesystem that an overlay unmount does, and marks the work dir
 * (`work/work/incompat/volatile`) so that the next mount of it fails, since a crash may have
 * lost writes (Documentation/filesystems/overlayfs.rst, "Volatile mount"). Such a rootfs is
 * throwaway by definition: `mount` removes the mark first.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { readdir, readlink, stat, unlink } from 'node:fs/promises';
import { copyTimes } from './times.js';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { conflict, invalidArgument, toBerthError } from '@berth/errors';
import type { Change, MountSpec, SignalOptions, SnapshotterSys } from './types.js';
import { containerPaths, fnv1a64, type ContainerPaths, type SnapshotRecord } from './layout.js';
import { BaseSnapshotter, type CreateOptions, type SnapshotterOptions } from './base.js';
import { computeChanges } from './changes.js';
import { overlayItems, tarStream, type TarItem } from './difftar.js';
import { mountDataLimit } from './mounts.js';

export { fnv1a64 } from './layout.js';

async function copyRootAttrs(sys: SnapshotterSys, from: string, to: string): Promise<void> {
  const st = lstatSync(from);
  chownSync(to, st.uid, st.gid);
  chmodSync(to, st.mode & 0o7777);
  await copyTimes(sys, from, to);
}


/** The names a layer dir's short link may take, in the order tried (see the top of this file). */
function* linkNames(layerDir: string): Generator<string> {
  const own = basename(layerDir);
  if (/^[0-9a-f]{64}$/.test(own)) for (const len of [12, 20, 64]) yield own.slice(0, len);
  const fnv = fnv1a64(layerDir);
  yield fnv.slice(0, 12);
  yield fnv;
  const hash = createHash('sha256').update(layerDir).digest('hex');
  for (const len of [12, 20, 64]) yield hash.slice(0, len);
}

/** Options of {@link OverlaySnapshotter}. */
export interface OverlaySnapshotterOptions extends SnapshotterOptions {
  /**
   * Extra overlay options, e.g. `index=off,redirect_dir=off,metacopy=off` (what the support
   * probe found the kernel accepts): diffs read the upper dir, so features that leave data
   * or renames in the lower dirs must be off.
   */
  readonly mountOptions?: readonly string[];
  /** The kernel accepts overlay's `volatile` option (the probe's verdict); default false. */
  readonly volatileSupported?: boolean;
}

/** Snapshotter on overlayfs. */
export class OverlaySnapshotter extends BaseSnapshotter {
  readonly driver = 'overlay' as const;
  private readonly extra: readonly string[];
  private readonly volatileSupported: boolean;
  /** Links made or checked by this instance: layer dir → `l/<name>`. */
  private readonly links = new Map<string, string>();

  constructor(options: OverlaySnapshotterOptions) {
    super(options);
    this.extra = options.mountOptions ?? [];
    this.volatileSupported = options.volatileSupported ?? false;
    if (/[,:]/.test(this.root)) throw invalidArgument(`root dir "${this.root}" contains ',' or ':', which overlay mount options cannot carry`);
  }

  /** `$root/overlay`, the directory overlay mounts are performed from. */
  get linkBase(): string {
    return join(this.root, 'overlay');
  }

  /** Only a read-write overlay (an upper dir over at least one layer) has anything to sync. */
  protected override volatileApplies(readonly: boolean, lowerCount: number): boolean {
    return this.volatileSupported && !readonly && lowerCount > 0;
  }

  protected override beforeMount(p: ContainerPaths, rec: SnapshotRecord): void {
    // The mark a volatile mount leaves; the kernel refuses to mount over it (see the top).
    if (rec.volatile) rmSync(join(p.work, 'work', 'incompat'), { recursive: true, force: true });
  }

  protected async create(p: ContainerPaths, lowers: readonly string[], { readonly, volatile }: CreateOptions): Promise<MountSpec[]> {
    const top = lowers[0];
    if (readonly && lowers.length <= 1) {
      // overlayfs needs two lower dirs without an upper one: bind the layer (or an empty dir).
      if (top === undefined) mkdirSync(p.upper, { recursive: true, mode: 0o755 });
      return [{ type: 'bind', source: top ?? p.upper, target: p.rootfs, options: ['rbind', 'ro'] }];
    }
    // recursive: a prepare that crashed before writing snapshot.json may have left them (empty).
    if (!readonly) mkdirSync(p.upper, { recursive: true, mode: 0o755 });
    // The merged root shows the upper root's attributes: give it the image's.
    if (!readonly && top !== undefined) await copyRootAttrs(this.sys, top, p.upper);
    if (top === undefined) {
      // An image without layers (FROM scratch): the upper dir is the whole tree.
      return [{ type: 'bind', source: p.upper, target: p.rootfs, options: ['rbind', 'rw'] }];
    }
    if (!readonly) mkdirSync(p.work, { recursive: true, mode: 0o700 });
    const links: string[] = [];
    for (const d of lowers) links.push(await this.link(d));
    const options = [`lowerdir=${links.join(':')}`];
    if (readonly) options.unshift('ro');
    else options.push(`upperdir=${p.upper}`, `workdir=${p.work}`);
    options.push(...this.extra);
    if (volatile) options.push('volatile');
    const data = options.filter((o) => o !== 'ro').join(',');
    if (Buffer.byteLength(data) > mountDataLimit) {
      throw invalidArgument(`image has too many layers (${lowers.length}) for overlayfs: its mount options take ${Buffer.byteLength(data)} bytes of ${mountDataLimit}`);
    }
    return [{ type: 'overlay', source: 'overlay', target: p.rootfs, options, cwd: this.linkBase }];
  }

  /** The short link (relative to {@link linkBase}) naming `layerDir`, created when missing. */
  async link(layerDir: string): Promise<string> {
    const known = this.links.get(layerDir);
    if (known !== undefined) return known;
    const made = this.makeLink(layerDir);
    this.links.set(layerDir, made);
    return made;
  }

  private makeLink(layerDir: string): string {
    const dir = join(this.linkBase, 'l');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of linkNames(layerDir)) {
      const path = join(dir, name);
      try {
        symlinkSync(layerDir, path);
        return `l/${name}`;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toBerthError(e, `link layer ${layerDir}`);
      }
      if (readlinkSync(path) === layerDir) return `l/${name}`;
    }
    throw conflict(`link layer ${layerDir}: every short name is taken by another layer; remove ${dir} and retry`);
  }

  protected override forget(p: ContainerPaths): void {
    // A container's own init layer (made on a clash of the shared one's name): its link goes
    // with it (the links of image layers and shared init layers stay). Without one, no search
    // through the link names (whose last ones hash with node:crypto, ms to load).
    if (!existsSync(p.init)) return;
    const dir = join(this.linkBase, 'l');
    for (const name of linkNames(p.init)) {
      const path = join(dir, name);
      let target: string | undefined;
      try { target = readlinkSync(path); } catch { /* no link by this name */ }
      if (target === p.init) {
        try { unlinkSync(path); } catch { /* removed meanwhile */ }
        this.links.delete(p.init);
        return;
      }
    }
  }

  /**
   * Removes the short links whose layer dir is gone (the layer store deleted it); returns how
   * many. Links of existing layers stay, whether or not a container uses them.
   */
  async pruneLinks(): Promise<number> {
    const dir = join(this.linkBase, 'l');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw toBerthError(e, `read ${dir}`);
    }
    let removed = 0;
    for (const name of names) {
      const path = join(dir, name);
      const target = await readlink(path).catch(() => undefined);
      if (target === undefined || await stat(target).then(() => true, () => false)) continue;
      await unlink(path).catch(() => undefined);
      this.links.delete(target);
      removed++;
    }
    return removed;
  }

  protected changesOf(p: ContainerPaths, rec: SnapshotRecord, signal?: AbortSignal): Promise<Change[]> {
    return computeChanges(this.sys, p.upper, rec.lowerDirs, 'overlay', signal);
  }

  diffTar(key: string, options: SignalOptions = {}): Readable {
    const self = this;
    async function* items(): AsyncGenerator<TarItem> {
      const rec = self.record(key);
      if (rec.readonly) return;
      yield* overlayItems(self.sys, containerPaths(self.root, key).upper);
    }
    return tarStream(this.sys, items(), options.signal);
  }
}
