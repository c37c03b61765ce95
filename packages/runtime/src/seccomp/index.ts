// Seccomp: berth's default profile, as the OCI linux.seccomp object.
export {
  allowedPersonalities,
  allowedSyscalls,
  cloneNamespaceFlags,
  defaultSeccompProfile,
  neverAllowedSyscalls,
  seccompArchitectures,
  type LinuxSeccomp,
  type LinuxSeccompArg,
  type LinuxSyscall,
  type SeccompProfileOptions,
} from './profile.js';
