// Public API of @berth/runtime.
export * from './cgroups/index.js';
export * from './caps/index.js';
export {
  createRuntime,
  parseSignal,
  procStat,
  type ContainerState,
  type ContainerStatus,
  type CreateOptions,
  type ExecOptions,
  type ExitStatus,
  type Runtime,
  type RuntimeOptions,
  type StdioSpec,
  type StdioEntry,
  type RunStarted,
} from './runtime.js';
export { compilePlan, compileExecPlan, encodePlan, type Step, type ShimMode, type PlanOptions } from './plan.js';
export { parseConfig, parseProcess, type OciConfig, type OciProcess, type OciMount, type OciSeccomp, type OciHook } from './spec.js';
export { defaultSpec, defaultMaskedPaths, defaultReadonlyPaths } from './default-spec.js';
export { findShim } from './shim.js';
export * from './seccomp/index.js';
