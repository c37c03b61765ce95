// cgroups: one manager per container, with a v1 and a v2 driver behind one interface.
export { cgroupMode, cgroupDriverVersion, type CgroupMode } from './mode.js';
export { cgroupManager, cgroupManagerAt } from './factory.js';
export type { ApplyReport, CgroupManager, CgroupManagerOptions, DestroyOptions } from './manager.js';
export { V1CgroupManager, v1Controllers, type V1Placement } from './v1.js';
export { V2CgroupManager, v2Controllers } from './v2.js';
export { deviceAllowed, deviceFilterProgram, type DeviceFilterLoader, type DeviceFilterProgram } from './devicefilter.js';
export { MemoryCgroupFs, NodeCgroupFs, type CgroupFs, type MemoryCgroupFsOptions } from './fs.js';
export {
  cgroupDir,
  defaultCgroupParent,
  parseCgroupMounts,
  parseProcCgroup,
  readCgroupHost,
  type CgroupHost,
  type CgroupMount,
} from './host.js';
export {
  defaultDeviceRules,
  sharesToWeight,
  type CgroupStats,
  type LinuxBlockIO,
  type LinuxCpu,
  type LinuxDeviceCgroup,
  type LinuxMemory,
  type LinuxPids,
  type LinuxResources,
  type LinuxThrottleDevice,
} from './resources.js';
