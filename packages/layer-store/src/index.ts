/**
 * Public API of @berth/layer-store: content-addressed blobs, safe layer unpacking, the image
 * store in berth.db, docker-archive / OCI layout load and save, import, GC and checks.
 *
 *   const store = Store.open('/var/lib/berth', { sys });   // sys: the kernel door, for unpacking
 *   await loadArchive(store, fs.createReadStream('busybox.tar'));
 *   store.images.resolve('busybox').id;                     // sha256:… (the config digest)
 */
export { writeFileAtomic, commitRename, fsyncDir } from './atomic.js';
export { chainIDs, parseDigest, isDigest, type Digest } from './digest.js';
export { openDatabase, migrate, write, type DB, type Migration } from './db.js';
export { FileBlobStore, type BlobInfo, type IngestOptions, type ContentReader, type Ingester, type ContentStore } from './blobs.js';
export { unpackLayer, decompressing, detectCompression, entryPath, type UnpackSys, type UnpackResult, type UnpackOptions, type Compression } from './unpack.js';
export { LayerStore } from './layers.js';
export { ChunkQueue } from './chunk-queue.js';
export {
  ImageStore, imageStoreOwner,
  type ImageRecord, type ImageLayer, type NewImage, type ImageUsers, type RemoveResult,
} from './images.js';
export { Store, type StoreOptions } from './store.js';
export {
  loadArchive, loadOciDir, saveArchive, saveOciDir, loadMessages, prepareLayers,
  type LoadResult, type LoadOptions, type SaveFormat,
} from './archive.js';
export { importTarball, applyChanges, type ImportOptions } from './import.js';
export { collectGarbage, mark, pruneImages, imageDiskUsage, staleIngests, type GcResult, type PruneResult, type DfRow, type ImageDf } from './gc.js';
export { checkStore, type CheckReport } from './check.js';
export { inspectImage, imageHistory, type ImageInspect, type HistoryRow } from './views.js';
export { parseName, normalizeName, familiar, formatName, type ImageName } from './names.js';
