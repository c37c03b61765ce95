// Public API of @berth/native.
export { type Sys, type ResolveMode, type ResolveOptions, MountFlags, UmountFlags } from './sys.js';
