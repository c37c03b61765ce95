// Public API of @berth/runtime.
export { cgroupMode, cgroupDriverVersion, type CgroupMode } from './cgroups/mode.js';
