/**
 * `system check`: is the store consistent? Every image's config, manifests and layer blobs
 * exist; every blob's bytes hash to its name; every unpacked layer is recorded; no partial
 * blob or layer is visible under a final name. Leftover temp files of dead processes are
 * reported as notes (invisible, and GC removes them), not as problems.
 */
import { lstatSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Digest } from './digest.js';
import { staleIngests } from './gc.js';
import type { Store } from './store.js';

/** The findings of a check. */
export interface CheckReport {
  /** Inconsistencies: the store is not clean when there is any. */
  readonly problems: readonly string[];
  /** Harmless findings (leftovers GC will remove). */
  readonly notes: readonly string[];
  readonly counts: { readonly images: number; readonly blobs: number; readonly layers: number };
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Checks the store. With `quick`, blob contents are not re-hashed. */
export async function checkStore(store: Store, options: { readonly quick?: boolean } = {}): Promise<CheckReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const images = store.images.list();
  const blobs = store.blobs.list();
  const blobSet = new Set<string>(blobs);
  for (const img of images) {
    const short = img.id.slice(7, 19);
    if (!blobSet.has(img.id)) problems.push(`image ${short}: config blob ${img.id} is missing`);
    for (const m of img.manifests) if (!blobSet.has(m.digest)) problems.push(`image ${short}: manifest blob ${m.digest} is missing`);
    for (const l of img.layers) if (!blobSet.has(l.blob)) problems.push(`image ${short}: layer blob ${l.blob} is missing`);
  }
  if (!options.quick) {
    for (const d of blobs) {
      const got = await hashFile(store.blobs.path(d));
      if (got !== d) problems.push(`blob ${d} is corrupt: its content hashes to ${got}`);
    }
  }
  const rows = new Set<string>(store.images.layers().map((l) => l.chainID));
  const dirs = store.layers.list();
  for (const c of dirs) {
    try {
      if (!lstatSync(store.layers.path(c as Digest)).isDirectory()) problems.push(`layer ${c} is not a directory`);
    } catch { /* raced */ }
    if (!rows.has(c)) notes.push(`layer ${c} is unpacked but no image uses it (GC will remove it)`);
  }
  for (const t of store.layers.temps()) {
    if (!t.alive) notes.push(`unfinished layer unpack ${t.path} from a process that is gone (invisible; GC removes it)`);
  }
  for (const t of staleIngests(store)) notes.push(`unfinished ingest ${t} (invisible; GC removes it)`);
  return { problems, notes, counts: { images: images.length, blobs: blobs.length, layers: dirs.length } };
}
