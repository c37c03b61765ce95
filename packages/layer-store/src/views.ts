/**
 * Docker-shaped views of stored images: `image inspect` JSON and `image history` rows.
 */
import type { Digest } from './digest.js';
import { familiar } from './names.js';
import type { Store } from './store.js';

/** `docker image inspect` JSON for one image. */
export interface ImageInspect {
  Id: Digest;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  Author: string;
  Config: unknown;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

/** The inspect JSON of the image `ref` resolves to. */
export function inspectImage(store: Store, ref: string): ImageInspect {
  const img = store.images.resolve(ref);
  const cfg = store.images.config(img.id);
  const history = cfg.history ?? [];
  const out: ImageInspect = {
    Id: img.id,
    RepoTags: img.tags.map(familiar),
    RepoDigests: img.repoDigests.map(familiar),
    Parent: '',
    Comment: history[history.length - 1]?.comment ?? '',
    Created: cfg.created ?? '0001-01-01T00:00:00Z',
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture,
    Os: cfg.os,
    Size: img.size,
    RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: new Date(img.addedAt).toISOString() },
  };
  if (cfg.variant !== undefined) out.Variant = cfg.variant;
  return out;
}

/** One row of `image history`, newest first. */
export interface HistoryRow {
  /** The image ID on the top row, `<missing>` below (as Docker shows for pulled images). */
  readonly id: string;
  readonly created: string | undefined;
  readonly createdBy: string;
  readonly size: number;
  readonly comment: string;
}

/** The history of the image `ref` resolves to, newest first, each row with its layer's size. */
export function imageHistory(store: Store, ref: string): HistoryRow[] {
  const img = store.images.resolve(ref);
  const cfg = store.images.config(img.id);
  const rows: HistoryRow[] = [];
  const layers = [...img.layers];
  let li = 0;
  const history = cfg.history && cfg.history.length > 0
    ? cfg.history
    : layers.map(() => ({ created: cfg.created, created_by: '', comment: '' }));
  for (const h of history) {
    let size = 0;
    if (!('empty_layer' in h && h.empty_layer === true)) {
      size = layers[li]?.size ?? 0;
      li++;
    }
    rows.push({ id: '<missing>', created: h.created, createdBy: h.created_by ?? '', size, comment: h.comment ?? '' });
  }
  rows.reverse();
  if (rows[0]) rows[0] = { ...rows[0], id: img.id };
  return rows;
}
