// Public API of @berth/runtime.
export * from './cgroups/index.js';
export * from './caps/index.js';
