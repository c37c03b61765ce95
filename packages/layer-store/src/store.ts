/**
 * The store facade: one root, its database, blobs, layers and images, opened together.
 *
 *   $root/berth.db        images, tags, layers, leases (see images.ts for the schema)
 *   $root/blobs/sha256/   content-addressed blobs (blobs.ts)
 *   $root/layers/         unpacked layers by chainID (layers.ts)
 *   $root/tmp/            ingests in progress
 */
import { openDatabase, type DB } from './db.js';
import { FileBlobStore } from './blobs.js';
import { ImageStore } from './images.js';
import { LayerStore } from './layers.js';
import type { UnpackSys } from './unpack.js';

/** Options of {@link Store.open}. */
export interface StoreOptions {
  /** The kernel door for unpacking layers; without it layers are verified but not unpacked. */
  readonly sys?: UnpackSys;
}

/** Everything under one `$root`. */
export class Store {
  private constructor(
    readonly root: string,
    readonly db: DB,
    readonly blobs: FileBlobStore,
    readonly images: ImageStore,
    /** Unpacked layers; `layers.canUnpack` is false when opened without a `sys`. */
    readonly layers: LayerStore,
  ) {}

  /** Opens (creating when needed) the store at `root` and migrates its schema. */
  static open(root: string, options: StoreOptions = {}): Store {
    const db = openDatabase(root);
    const blobs = new FileBlobStore(root);
    const images = new ImageStore(db, blobs);
    return new Store(root, db, blobs, images, new LayerStore(root, options.sys));
  }

  /** Closes the database and stops idle layer-unpack workers. */
  close(): void {
    this.db.close();
    void this.layers.close();
  }
}
