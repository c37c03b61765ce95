// Public API of @berth/native: the Sys door, its real and fake implementations, and where the
// native build's files are. Importing this module loads nothing native.
export {
  type Sys, type ResolveMode, type ResolveOptions, type OpenInRootOptions, type ReceivedFd, type XattrFlag,
  MountFlags, UmountFlags, FileType, OpenFlags,
} from './sys.js';
export { LinuxSys, type LinuxSysOptions, type Resolver } from './linux-sys.js';
export { RecordingSys, type SysOp, type SysCall, type FailRule, type FakeMount } from './recording-sys.js';
export { addonPath, shimPath, searchDirs } from './locate.js';
export { gunzipper, type GunzipOptions } from './inflate.js';
