/**
 * Public API of @berth/volume: named and anonymous volumes of the `local` driver, and the
 * mounts of a container (volumes, binds, tmpfs) from the flags a user gives to OCI mounts.
 *
 *   const store = VolumeStore.open('/var/lib/berth');
 *   const reqs = ['data:/data', '/srv:/srv:ro'].map(parseVolumeFlag);
 *   const { mounts } = prepareMounts(store, containerId, reqs, { imageRootfs, imageVolumes });
 *   // … the container runs with `mounts` in its config.json; at remove:
 *   releaseMounts(store, containerId, { removeAnonymous: true });
 */
export {
  VolumeStore, checkVolumeName, duBytes, volumeMigrations, volumeStoreOwner,
  type Volume, type NewVolume, type VolumeFilter, type VolumeInspect, type VolumeStoreOptions, type ExtraUsers,
} from './store.js';
export {
  parseVolumeFlag, parseMountFlag, parseTmpfsFlag, parseVolumesFromFlag, parseMountFlags, parseSize, cleanPath,
  type MountFlags,
  type MountRequest, type VolumeMountRequest, type BindMountRequest, type TmpfsMountRequest,
  type VolumesFromRequest, type Propagation,
} from './parse.js';
export {
  prepareMounts, releaseMounts, recordedMounts, ociMount, copyUp, resolveInRoot,
  type OciMount, type RecordedMount, type PrepareOptions, type PreparedMounts,
} from './prepare.js';
