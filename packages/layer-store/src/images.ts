/**
 * The image store: images, their manifests and layers, tags and repo digests, in berth.db.
 *
 *   berth.db (owner "layer-store")
 *   ├── images          id (config digest) PK · created · architecture · os · variant · size · added_at
 *   │   ├── image_layers    (image_id, idx) PK · chain_id · diff_id · blob · media_type · blob_size
 *   │   ├── manifests       digest PK · image_id · media_type · size       (manifests we keep as blobs)
 *   │   ├── tags            name PK ("docker.io/library/busybox:latest") · image_id · tagged_at
 *   │   └── repo_digests    name PK ("docker.io/library/busybox@sha256:…") · image_id
 *   ├── layers          chain_id PK · diff_id · parent · diff_size (tar bytes) · size (unpacked bytes, NULL until unpacked)
 *   └── leases          id PK · expires_at · pid ── lease_resources (lease_id, digest): GC roots for work in flight
 *
 * Child rows cascade when an image goes. Blobs and layer directories are never deleted
 * by hand-kept counts: `collectGarbage` marks from images, containers and leases and sweeps.
 */
import { randomBytes } from 'node:crypto';
import { conflict, invalidArgument, notFound } from '@berth/errors';
import { parseImageConfig, type ImageConfig } from '@berth/oci-spec';
import type { FileBlobStore } from './blobs.js';
import { migrate, write, type DB, type Migration } from './db.js';
import { chainIDs, hexOf, isDigest, parseDigest, type Digest } from './digest.js';
import { familiar, normalizeName, parseName } from './names.js';

const migrations: Migration[] = [{
  version: 1,
  up: `
    CREATE TABLE images (
      id TEXT PRIMARY KEY, created TEXT, architecture TEXT NOT NULL, os TEXT NOT NULL, variant TEXT,
      size INTEGER NOT NULL, added_at INTEGER NOT NULL);
    CREATE TABLE image_layers (
      image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
      chain_id TEXT NOT NULL, diff_id TEXT NOT NULL, blob TEXT NOT NULL, media_type TEXT NOT NULL, blob_size INTEGER NOT NULL,
      PRIMARY KEY (image_id, idx));
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE TABLE manifests (
      digest TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
      media_type TEXT NOT NULL, size INTEGER NOT NULL);
    CREATE TABLE tags (name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, tagged_at INTEGER NOT NULL);
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
    CREATE TABLE layers (
      chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent TEXT, diff_size INTEGER NOT NULL, size INTEGER);
    CREATE TABLE leases (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
    CREATE TABLE lease_resources (
      lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE, digest TEXT NOT NULL,
      PRIMARY KEY (lease_id, digest));
  `,
}, {
  // Leases name the process holding them, so a crashed process's lease ends with it.
  version: 2,
  up: 'ALTER TABLE leases ADD COLUMN pid INTEGER NOT NULL DEFAULT 0',
}];

/** The schema owner name of the image store's tables in berth.db. */
export const imageStoreOwner = 'layer-store';

/** One layer of an image as stored. */
export interface ImageLayer {
  readonly chainID: Digest;
  readonly diffID: Digest;
  /** The blob holding the layer (compressed or not). */
  readonly blob: Digest;
  readonly mediaType: string;
  readonly blobSize: number;
  /** Bytes of the uncompressed tar. */
  readonly diffSize: number;
  /** Bytes of file content once unpacked (the tar size until then): what `images` and `df` count. */
  readonly size: number;
}

/** An image as the store knows it. */
export interface ImageRecord {
  /** The config digest. */
  readonly id: Digest;
  readonly created: string | undefined;
  readonly architecture: string;
  readonly os: string;
  readonly variant: string | undefined;
  /** Sum of the layers' sizes (unpacked content; tar bytes for layers not unpacked). */
  readonly size: number;
  readonly addedAt: number;
  /** Full names: `docker.io/library/busybox:latest`. */
  readonly tags: readonly string[];
  /** Full names with digest: `docker.io/library/busybox@sha256:…`. */
  readonly repoDigests: readonly string[];
  readonly layers: readonly ImageLayer[];
  readonly manifests: ReadonlyArray<{ readonly digest: Digest; readonly mediaType: string; readonly size: number }>;
}

/** What {@link ImageStore.add} needs: the config, the layer blobs (already in the blob store), names. */
export interface NewImage {
  readonly config: Digest;
  readonly layers: ReadonlyArray<{ readonly blob: Digest; readonly mediaType: string; readonly blobSize: number; readonly diffSize: number; readonly size?: number }>;
  /** Manifest blobs (already stored) that describe the image. */
  readonly manifests?: ReadonlyArray<{ readonly digest: Digest; readonly mediaType: string; readonly size: number }>;
  /** Names to tag it with (any form; normalized). A tag moves from whatever image held it. */
  readonly tags?: readonly string[];
  /** Repository names (`docker.io/library/busybox`) to record `repo@<digest>` for. */
  readonly repos?: readonly string[];
  /**
   * The digests recorded per repository in `repos` (the image's RepoDigests). Default: the
   * manifests' digests. A multi-platform pull gives the index digest here, as Docker does.
   */
  readonly repoDigests?: readonly Digest[];
}

/** Who uses images besides tags: the engine's containers. Wired by the engine. */
export interface ImageUsers {
  /** IDs (or names) of the containers using image `id`. */
  containersUsing(id: Digest): readonly string[];
  /** Images containers use (GC roots). */
  imagesInUse(): readonly Digest[];
}

/** Result of {@link ImageStore.remove}, in Docker's words. */
export interface RemoveResult {
  readonly untagged: readonly string[];
  readonly deleted: readonly Digest[];
}

interface ImageRow { id: string; created: string | null; architecture: string; os: string; variant: string | null; size: number; added_at: number }

/** The image store over berth.db and the blob store. */
export class ImageStore {
  private users: ImageUsers | undefined;

  constructor(readonly db: DB, readonly blobs: FileBlobStore) {
    migrate(db, imageStoreOwner, migrations);
  }

  /** The engine tells the store about containers (for delete refusals and GC roots). */
  setUsers(users: ImageUsers): void {
    this.users = users;
  }

  /** Containers using an image (none until the engine wires {@link setUsers}). */
  containersUsing(id: Digest): readonly string[] {
    return this.users?.containersUsing(id) ?? [];
  }

  /** Images containers use. */
  imagesInUse(): readonly Digest[] {
    return this.users?.imagesInUse() ?? [];
  }

  /** Reads and validates an image's config blob. */
  config(id: Digest): ImageConfig {
    let raw: unknown;
    try { raw = JSON.parse(this.blobs.read(id).toString('utf8')); } catch (e) {
      throw notFound(`config of image ${id} is missing or unreadable: run 'berth system check'`, { cause: e });
    }
    return parseImageConfig(raw, `config of image ${hexOf(id).slice(0, 12)}`);
  }

  /**
   * Records an image whose config and layer blobs are in the blob store, in one transaction;
   * tags move to it. Returns the stored record.
   */
  add(img: NewImage): ImageRecord {
    const cfg = this.config(img.config);
    const diffIDs = cfg.rootfs.diff_ids.map((d) => parseDigest(d));
    if (diffIDs.length !== img.layers.length) {
      throw invalidArgument(`image ${img.config}: the config lists ${diffIDs.length} layers, the manifest ${img.layers.length}`);
    }
    const chains = chainIDs(diffIDs);
    const now = Date.now();
    write(this.db, () => {
      const size = img.layers.reduce((n, l) => n + l.diffSize, 0);
      this.db.prepare(`INSERT INTO images (id, created, architecture, os, variant, size, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO NOTHING`).run(img.config, cfg.created ?? null, cfg.architecture, cfg.os, cfg.variant ?? null, size, now);
      const insLayer = this.db.prepare(`INSERT OR REPLACE INTO image_layers (image_id, idx, chain_id, diff_id, blob, media_type, blob_size) VALUES (?, ?, ?, ?, ?, ?, ?)`);
      const insChain = this.db.prepare(`INSERT INTO layers (chain_id, diff_id, parent, diff_size) VALUES (?, ?, ?, ?) ON CONFLICT(chain_id) DO NOTHING`);
      img.layers.forEach((l, i) => {
        const chain = chains[i] as Digest;
        insLayer.run(img.config, i, chain, diffIDs[i], l.blob, l.mediaType, l.blobSize);
        insChain.run(chain, diffIDs[i], i === 0 ? null : chains[i - 1], l.diffSize);
        if (l.size !== undefined) this.db.prepare('UPDATE layers SET size = ? WHERE chain_id = ?').run(l.size, chain);
      });
      for (const m of img.manifests ?? []) {
        this.db.prepare(`INSERT INTO manifests (digest, image_id, media_type, size) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING`).run(m.digest, img.config, m.mediaType, m.size);
      }
      const insRepoDigest = this.db.prepare(`INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?, ?)`);
      for (const d of img.repoDigests ?? (img.manifests ?? []).map((m) => m.digest)) {
        for (const r of img.repos ?? []) insRepoDigest.run(`${parseName(r).repo}@${parseDigest(d)}`, img.config);
      }
      for (const t of img.tags ?? []) this.tagId(img.config, t, now);
    });
    return this.get(img.config);
  }

  private tagId(id: Digest, name: string, now: number): void {
    const n = parseName(name);
    if (n.digest !== undefined) throw invalidArgument(`cannot tag with a digest reference "${name}": use name:tag`);
    this.db.prepare(`INSERT INTO tags (name, image_id, tagged_at) VALUES (?, ?, ?)
      ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at`).run(normalizeName(name), id, now);
  }

  /** Gives image `ref` the name `target` (moving it from any other image). */
  tag(ref: string, target: string): ImageRecord {
    const img = this.resolve(ref);
    write(this.db, () => this.tagId(img.id, target, Date.now()));
    return this.get(img.id);
  }

  /** Removes a tag; returns false when no image had it. */
  untag(name: string): boolean {
    return write(this.db, () => this.db.prepare('DELETE FROM tags WHERE name = ?').run(normalizeName(name)).changes > 0);
  }

  /** All images, newest first. */
  list(): ImageRecord[] {
    const rows = this.db.prepare('SELECT id FROM images ORDER BY added_at DESC, id').all() as Array<{ id: string }>;
    return rows.map((r) => this.get(r.id as Digest));
  }

  /** The image with this exact ID; NotFound otherwise. */
  get(id: Digest): ImageRecord {
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    if (!row) throw notFound(`no such image: ${id}`);
    const tags = (this.db.prepare('SELECT name FROM tags WHERE image_id = ? ORDER BY tagged_at, name').all(id) as Array<{ name: string }>).map((r) => r.name);
    const repoDigests = (this.db.prepare('SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name').all(id) as Array<{ name: string }>).map((r) => r.name);
    const layers = (this.db.prepare(`SELECT il.chain_id, il.diff_id, il.blob, il.media_type, il.blob_size, l.diff_size, l.size
      FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ? ORDER BY il.idx`).all(id) as Array<{
      chain_id: string; diff_id: string; blob: string; media_type: string; blob_size: number; diff_size: number; size: number | null;
    }>).map((l) => ({
      chainID: l.chain_id as Digest, diffID: l.diff_id as Digest, blob: l.blob as Digest, mediaType: l.media_type,
      blobSize: l.blob_size, diffSize: l.diff_size, size: l.size ?? l.diff_size,
    }));
    const manifests = (this.db.prepare('SELECT digest, media_type, size FROM manifests WHERE image_id = ? ORDER BY digest').all(id) as Array<{ digest: string; media_type: string; size: number }>)
      .map((m) => ({ digest: m.digest as Digest, mediaType: m.media_type, size: m.size }));
    return {
      id, created: row.created ?? undefined, architecture: row.architecture, os: row.os, variant: row.variant ?? undefined,
      size: layers.reduce((n, l) => n + l.size, 0), addedAt: row.added_at, tags, repoDigests, layers, manifests,
    };
  }

  /**
   * Finds an image by name (`busybox`, `busybox:1`, `docker.io/library/busybox:1`),
   * by `name@sha256:…` (a repo digest), by full ID (`sha256:…`) or by an ID prefix of 4+ hex digits.
   */
  resolve(ref: string): ImageRecord {
    const found = this.find(ref);
    if (!found) throw notFound(`no such image: ${ref}`);
    return found;
  }

  /** Like {@link resolve}, but `undefined` when nothing matches. */
  find(ref: string): ImageRecord | undefined {
    const idOf = (sql: string, arg: string): Digest | undefined => (this.db.prepare(sql).get(arg) as { image_id?: string; id?: string } | undefined)?.image_id as Digest | undefined;
    if (isDigest(ref)) return this.exists(ref) ? this.get(ref) : undefined;
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (/^[a-f0-9]{4,64}$/.test(hex)) {
      const rows = this.db.prepare('SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2').all(`sha256:${hex}`, `sha256:${hex}g`) as Array<{ id: string }>;
      if (rows.length > 1) throw invalidArgument(`image ID prefix "${ref}" is ambiguous: give more digits`);
      // A name that looks like hex (e.g. "cafe") still resolves as a name when it is tagged.
      const byName = /^[a-f0-9]{4,64}$/.test(ref) ? this.byName(ref) : undefined;
      if (byName) return byName;
      if (rows[0]) return this.get(rows[0].id as Digest);
      if (ref.startsWith('sha256:')) return undefined;
    }
    const n = parseName(ref);
    if (n.digest !== undefined) {
      const id = idOf('SELECT image_id FROM repo_digests WHERE name = ?', `${n.repo}@${n.digest}`)
        ?? (this.db.prepare('SELECT image_id FROM manifests WHERE digest = ?').get(n.digest) as { image_id?: string } | undefined)?.image_id as Digest | undefined;
      return id ? this.get(id) : undefined;
    }
    return this.byName(ref);
  }

  private byName(ref: string): ImageRecord | undefined {
    let full: string;
    try { full = normalizeName(ref); } catch { return undefined; }
    const row = this.db.prepare('SELECT image_id FROM tags WHERE name = ?').get(full) as { image_id: string } | undefined;
    return row ? this.get(row.image_id as Digest) : undefined;
  }

  private exists(id: Digest): boolean {
    return this.db.prepare('SELECT 1 FROM images WHERE id = ?').get(id) !== undefined;
  }

  /**
   * `rmi`: by name, untags; the image itself goes when its last tag does (or when named by ID).
   * Refuses an image containers use, or an ID with several tags, unless `force`.
   * The caller runs GC afterwards to free the blobs and layers nothing uses.
   */
  remove(ref: string, options: { readonly force?: boolean } = {}): RemoveResult {
    const img = this.resolve(ref);
    const byName = !isDigest(ref) && !/^(sha256:)?[a-f0-9]{4,64}$/.test(ref);
    const short = hexOf(img.id).slice(0, 12);
    const users = this.containersUsing(img.id);
    return write(this.db, () => {
      const untagged: string[] = [];
      if (byName) {
        const n = parseName(ref);
        if (n.digest === undefined) {
          const full = normalizeName(ref);
          if (users.length > 0 && img.tags.length === 1 && !options.force) {
            throw conflict(`unable to remove repository reference "${ref}" (must force) - container ${users[0]} is using its referenced image ${short}`);
          }
          this.db.prepare('DELETE FROM tags WHERE name = ?').run(full);
          untagged.push(familiar(full));
          if (img.tags.length > 1 || (users.length > 0)) return { untagged, deleted: [] };
        } else {
          this.db.prepare('DELETE FROM repo_digests WHERE name = ?').run(`${n.repo}@${n.digest}`);
          untagged.push(familiar(`${n.repo}@${n.digest}`));
          if (img.tags.length > 0) return { untagged, deleted: [] };
        }
      } else {
        if (img.tags.length > 1 && !options.force) {
          throw conflict(`unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
        }
        if (users.length > 0 && !options.force) {
          throw conflict(`unable to delete ${short} (must be forced) - image is being used by container ${users[0]}`);
        }
      }
      for (const t of img.tags) if (!untagged.includes(familiar(t))) untagged.push(familiar(t));
      for (const d of img.repoDigests) untagged.push(familiar(d));
      if (users.length > 0) {
        // Forced while in use: the names go, the image stays (dangling) for its containers.
        this.db.prepare('DELETE FROM tags WHERE image_id = ?').run(img.id);
        this.db.prepare('DELETE FROM repo_digests WHERE image_id = ?').run(img.id);
        return { untagged, deleted: [] };
      }
      this.db.prepare('DELETE FROM images WHERE id = ?').run(img.id);
      const deleted: Digest[] = [img.id];
      // Layer rows no image references any more (deepest first, as Docker lists them).
      for (const l of [...img.layers].reverse()) {
        const used = this.db.prepare('SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1').get(l.chainID);
        if (!used) {
          this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(l.chainID);
          deleted.push(l.chainID);
        }
      }
      return { untagged, deleted };
    });
  }

  /** Records a layer's unpacked size once its directory exists. */
  setLayerSize(chainID: Digest, size: number, diffSize?: number): void {
    write(this.db, () => {
      this.db.prepare('UPDATE layers SET size = ? WHERE chain_id = ?').run(size, chainID);
      if (diffSize !== undefined) this.db.prepare('UPDATE layers SET diff_size = ? WHERE chain_id = ?').run(diffSize, chainID);
    });
  }

  /** Every layer row: chainID, diffID, parent, sizes, and how many images use it (a display count). */
  layers(): Array<{ chainID: Digest; diffID: Digest; parent: Digest | undefined; diffSize: number; size: number | undefined; images: number }> {
    const rows = this.db.prepare(`SELECT l.chain_id, l.diff_id, l.parent, l.diff_size, l.size,
      (SELECT COUNT(DISTINCT image_id) FROM image_layers il WHERE il.chain_id = l.chain_id) AS images FROM layers l`).all() as Array<{
      chain_id: string; diff_id: string; parent: string | null; diff_size: number; size: number | null; images: number }>;
    return rows.map((r) => ({ chainID: r.chain_id as Digest, diffID: r.diff_id as Digest, parent: (r.parent ?? undefined) as Digest | undefined, diffSize: r.diff_size, size: r.size ?? undefined, images: r.images }));
  }

  /** Digests (blobs or chainIDs) held by live leases. Expired leases, and those of processes that are gone, are dropped. */
  leased(): Set<string> {
    return write(this.db, () => {
      this.db.prepare('DELETE FROM leases WHERE expires_at < ?').run(Date.now());
      for (const { id, pid } of this.db.prepare('SELECT id, pid FROM leases WHERE pid > 0').all() as Array<{ id: string; pid: number }>) {
        if (!pidAlive(pid)) this.db.prepare('DELETE FROM leases WHERE id = ?').run(id);
      }
      return new Set((this.db.prepare('SELECT digest FROM lease_resources').all() as Array<{ digest: string }>).map((r) => r.digest));
    });
  }

  /**
   * Runs `fn` holding a lease: digests it adds with `hold` are GC roots until the lease ends
   * (or expires after `ttlMs`, should this process die).
   */
  async withLease<T>(fn: (hold: (d: Digest) => void) => Promise<T>, ttlMs = 3_600_000): Promise<T> {
    const id = randomBytes(8).toString('hex');
    write(this.db, () => this.db.prepare('INSERT INTO leases (id, expires_at, pid) VALUES (?, ?, ?)').run(id, Date.now() + ttlMs, process.pid));
    const hold = (d: Digest): void => { write(this.db, () => this.db.prepare('INSERT OR IGNORE INTO lease_resources (lease_id, digest) VALUES (?, ?)').run(id, d)); };
    try {
      return await fn(hold);
    } finally {
      write(this.db, () => this.db.prepare('DELETE FROM leases WHERE id = ?').run(id));
    }
  }
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}
