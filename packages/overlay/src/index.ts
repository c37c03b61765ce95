// Public API of @berth/overlay: a container's root filesystem from a layer chain.
export type { Change, Driver, InitEntry, MountSpec, PrepareOptions, SignalOptions, Snapshotter, SnapshotterSys } from './types.js';
export type { SnapshotterOptions } from './base.js';
export { OverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay.js';
export { CopySnapshotter } from './vfs.js';
export { defaultInitEntries, pruneInitLayers } from './init.js';
export { createSnapshotter, detectDriver, readDriverVerdict, type CreateSnapshotterOptions, type DriverVerdict } from './factory.js';
export {
  findOrphanMounts, repairOrphanMounts, mountCalls, performMounts, parseMountInfo, mountDataLimit,
  type FindOrphanOptions, type MountCall, type MountInfo, type OrphanMount,
} from './mounts.js';
