/**
 * Garbage collection, mark and sweep, and the views built on it (`image prune`, `system df`).
 *
 * Roots: every image in the store (tagged or dangling — `image prune` is what drops images),
 * images containers use, and digests held by leases (work in flight). Marked: each root image's
 * config, manifests, layer blobs and chainIDs. Swept: unmarked blobs, layer directories and
 * layer rows, plus temp files of processes that are gone. Deletion trusts only the mark.
 */
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { write } from './db.js';
import type { Digest } from './digest.js';
import type { Store } from './store.js';
import type { RemoveResult } from './images.js';

/** What a GC removed. */
export interface GcResult {
  readonly blobs: readonly Digest[];
  readonly layers: readonly Digest[];
  readonly temps: readonly string[];
  /** Bytes freed (blob sizes + layer sizes as recorded). */
  readonly reclaimed: number;
}

/** Everything reachable from the roots. */
export function mark(store: Store): Set<string> {
  const live = new Set<string>(store.images.leased());
  const ids = new Set<string>([...store.images.list().map((i) => i.id), ...store.images.imagesInUse()]);
  for (const id of ids) {
    let img;
    try { img = store.images.get(id as Digest); } catch { continue; }
    live.add(img.id);
    for (const m of img.manifests) live.add(m.digest);
    for (const l of img.layers) { live.add(l.blob); live.add(l.chainID); }
  }
  return live;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}

/** Sweeps what {@link mark} did not reach. Resumable ingests (named refs) younger than a day are kept. */
export function collectGarbage(store: Store, options: { readonly dryRun?: boolean } = {}): GcResult {
  const live = mark(store);
  const dry = options.dryRun === true;
  let reclaimed = 0;
  const blobs: Digest[] = [];
  for (const d of store.blobs.list()) {
    if (live.has(d)) continue;
    blobs.push(d);
    try { reclaimed += store.blobs.info(d).size; } catch { /* raced */ }
    if (!dry) store.blobs.delete(d);
  }
  const rows = new Map(store.images.layers().map((l) => [l.chainID, l]));
  const layers: Digest[] = [];
  for (const c of new Set([...store.layers.list(), ...rows.keys()])) {
    if (live.has(c)) continue;
    layers.push(c);
    reclaimed += rows.get(c)?.size ?? 0;
    if (!dry) {
      store.layers.delete(c);
      write(store.db, () => store.db.prepare('DELETE FROM layers WHERE chain_id = ? AND NOT EXISTS (SELECT 1 FROM image_layers WHERE chain_id = ?)').run(c, c));
    }
  }
  const temps: string[] = [];
  for (const t of store.layers.temps()) {
    if (t.alive) continue;
    temps.push(t.path);
    if (!dry) rmSync(t.path, { recursive: true, force: true });
  }
  for (const t of staleIngests(store)) {
    temps.push(t);
    if (!dry) rmSync(t, { force: true });
  }
  return { blobs, layers, temps, reclaimed };
}

/** Partial ingests nobody will finish: anonymous ones of dead processes, named ones older than a day. */
export function staleIngests(store: Store): string[] {
  let names: string[];
  try { names = readdirSync(store.blobs.tmpDir); } catch { return []; }
  const out: string[] = [];
  for (const n of names) {
    const p = join(store.blobs.tmpDir, n);
    const anon = /^ingest-anon-(\d+)-/.exec(n);
    if (anon) { if (!pidAlive(Number(anon[1]))) out.push(p); continue; }
    if (n.startsWith('lock-')) {
      let owner = 0;
      try { owner = Number(readFileSync(p, 'utf8')); } catch { continue; }
      if (owner > 0 && !pidAlive(owner)) out.push(p);
      continue;
    }
    try { if (Date.now() - statSync(p).mtimeMs > 86_400_000) out.push(p); } catch { /* gone */ }
  }
  return out;
}

/** What `image prune` did. */
export interface PruneResult {
  readonly removed: readonly RemoveResult[];
  readonly reclaimed: number;
}

/** `image prune`: removes dangling images (no tags), or with `all` every image no container uses; then GC. */
export function pruneImages(store: Store, options: { readonly all?: boolean } = {}): PruneResult {
  const inUse = new Set(store.images.imagesInUse());
  const removed: RemoveResult[] = [];
  for (const img of store.images.list()) {
    if (inUse.has(img.id)) continue;
    if (!options.all && img.tags.length > 0) continue;
    removed.push(store.images.remove(img.id, { force: true }));
  }
  const gc = collectGarbage(store);
  return { removed, reclaimed: gc.reclaimed };
}

/** One row of `system df`. */
export interface DfRow {
  readonly type: 'Images' | 'Containers' | 'Local Volumes' | 'Build Cache';
  readonly total: number;
  readonly active: number;
  readonly size: number;
  readonly reclaimable: number;
}

/** Per-image sizes for `system df -v`: shared with other images vs unique to it. */
export interface ImageDf {
  readonly id: Digest;
  readonly tags: readonly string[];
  readonly size: number;
  readonly shared: number;
  readonly unique: number;
  readonly containers: number;
}

/** Image and layer disk usage: each layer counted once in the total; shared = used by 2+ images. */
export function imageDiskUsage(store: Store): { images: ImageDf[]; total: number; active: number; size: number; reclaimable: number } {
  const imgs = store.images.list();
  const layerSize = new Map(store.images.layers().map((l) => [l.chainID, { size: l.size ?? l.diffSize, images: l.images }]));
  const inUse = new Set(store.images.imagesInUse());
  const images: ImageDf[] = imgs.map((img) => {
    let shared = 0; let unique = 0;
    for (const l of img.layers) {
      const s = layerSize.get(l.chainID);
      if (!s) continue;
      if (s.images > 1) shared += s.size; else unique += s.size;
    }
    return { id: img.id, tags: img.tags, size: shared + unique, shared, unique, containers: store.images.containersUsing(img.id).length };
  });
  let size = 0;
  for (const v of layerSize.values()) size += v.size;
  const activeLayers = new Set<string>();
  for (const img of imgs) if (inUse.has(img.id)) for (const l of img.layers) activeLayers.add(l.chainID);
  let activeSize = 0;
  for (const c of activeLayers) activeSize += layerSize.get(c as Digest)?.size ?? 0;
  return { images, total: imgs.length, active: imgs.filter((i) => inUse.has(i.id)).length, size, reclaimable: size - activeSize };
}
