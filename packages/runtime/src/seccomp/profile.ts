import { invalidArgument } from '@berth/errors';
import { defaultCapabilities, normalizeCapability } from '../caps/caps.js';

/** One argument comparison of a seccomp rule (OCI `linux.seccomp.syscalls[].args[]`). */
export interface LinuxSeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

/** One rule: `action` for the syscalls in `names`, when every comparison in `args` holds. */
export interface LinuxSyscall {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO' | 'SCMP_ACT_KILL' | 'SCMP_ACT_KILL_PROCESS' | 'SCMP_ACT_TRAP' | 'SCMP_ACT_LOG';
  readonly errnoRet?: number;
  readonly args?: readonly LinuxSeccompArg[];
}

/** The OCI runtime-spec `linux.seccomp` object, as berth produces it. */
export interface LinuxSeccomp {
  readonly defaultAction: 'SCMP_ACT_ERRNO';
  readonly defaultErrnoRet: number;
  readonly architectures: readonly string[];
  readonly syscalls: readonly LinuxSyscall[];
}

const EPERM = 1;
const ENOSYS = 38;

/**
 * The syscalls every container may make: the ordinary life of a process — files, memory,
 * processes and threads, signals, time, IPC, sockets — and nothing that reaches past the
 * container (mounts, namespaces, modules, keyrings, the clock, other processes' memory).
 * Names that do not exist on an architecture are skipped by whoever loads the filter.
 */
const ordinary: readonly string[] = [
  // files and directories
  'access', 'faccessat', 'faccessat2', 'chdir', 'fchdir', 'getcwd',
  'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'chown', 'chown32', 'fchown', 'fchown32', 'fchownat', 'lchown', 'lchown32',
  'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'dup', 'dup2', 'dup3', 'fcntl', 'fcntl64', 'flock',
  'read', 'readv', 'pread64', 'preadv', 'preadv2', 'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2',
  'lseek', '_llseek', 'sendfile', 'sendfile64', 'splice', 'tee', 'vmsplice', 'copy_file_range', 'readahead',
  'fallocate', 'fadvise64', 'fadvise64_64', 'arm_fadvise64_64', 'ftruncate', 'ftruncate64', 'truncate', 'truncate64',
  'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'sync_file_range2', 'arm_sync_file_range',
  'getdents', 'getdents64', 'mkdir', 'mkdirat', 'rmdir', 'mknod', 'mknodat', 'link', 'linkat', 'symlink', 'symlinkat',
  'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2', 'readlink', 'readlinkat',
  'stat', 'stat64', 'lstat', 'lstat64', 'fstat', 'fstat64', 'fstatat64', 'newfstatat', 'statx',
  'statfs', 'statfs64', 'fstatfs', 'fstatfs64', 'umask', 'utime', 'utimes', 'utimensat', 'utimensat_time64', 'futimesat',
  'getxattr', 'lgetxattr', 'fgetxattr', 'setxattr', 'lsetxattr', 'fsetxattr', 'listxattr', 'llistxattr', 'flistxattr',
  'removexattr', 'lremovexattr', 'fremovexattr',
  'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark', 'ioctl',
  'io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64',
  'memfd_create', 'cachestat',
  // memory
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'mincore', 'msync', 'remap_file_pages',
  'mlock', 'mlock2', 'mlockall', 'munlock', 'munlockall', 'membarrier', 'pkey_alloc', 'pkey_free', 'pkey_mprotect',
  'mseal', 'map_shadow_stack',
  // processes and threads (clone and personality have rules of their own below)
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'waitpid',
  'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid',
  'getuid', 'getuid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getegid', 'getegid32',
  'getresuid', 'getresuid32', 'getresgid', 'getresgid32', 'getgroups', 'getgroups32', 'setgroups', 'setgroups32',
  'setuid', 'setuid32', 'setgid', 'setgid32', 'setreuid', 'setreuid32', 'setregid', 'setregid32',
  'setresuid', 'setresuid32', 'setresgid', 'setresgid32', 'setfsuid', 'setfsuid32', 'setfsgid', 'setfsgid32',
  'capget', 'capset', 'prctl', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'get_robust_list', 'rseq',
  'restart_syscall', 'getpriority', 'setpriority', 'ioprio_get', 'ioprio_set',
  'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getattr', 'sched_setattr', 'sched_getparam',
  'sched_setparam', 'sched_getscheduler', 'sched_setscheduler', 'sched_get_priority_max', 'sched_get_priority_min',
  'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'getcpu',
  'getrlimit', 'ugetrlimit', 'setrlimit', 'prlimit64', 'getrusage', 'times', 'uname', 'sysinfo',
  'kill', 'tkill', 'tgkill', 'pidfd_open', 'pidfd_send_signal', 'seccomp',
  'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
  'get_thread_area', 'set_thread_area', 'set_tls', 'cacheflush', 'breakpoint',
  // signals
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigsuspend', 'rt_sigtimedwait',
  'rt_sigtimedwait_time64', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'sigaction', 'sigaltstack', 'signal',
  'signalfd', 'signalfd4', 'sigpending', 'sigprocmask', 'sigreturn', 'sigsuspend', 'pause', 'alarm',
  // time (reading it; setting it needs CAP_SYS_TIME)
  'clock_gettime', 'clock_gettime64', 'clock_getres', 'clock_getres_time64', 'clock_nanosleep', 'clock_nanosleep_time64',
  'nanosleep', 'gettimeofday', 'time', 'adjtimex', 'getitimer', 'setitimer',
  'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64',
  'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
  // waiting, events, IPC
  'futex', 'futex_time64', 'futex_waitv', 'futex_wait', 'futex_wake', 'futex_requeue',
  'eventfd', 'eventfd2', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_wait', 'epoll_wait_old',
  'epoll_pwait', 'epoll_pwait2', 'poll', 'ppoll', 'ppoll_time64', 'select', '_newselect', 'pselect6', 'pselect6_time64',
  'pipe', 'pipe2', 'ipc', 'msgget', 'msgctl', 'msgsnd', 'msgrcv', 'semget', 'semctl', 'semop', 'semtimedop',
  'semtimedop_time64', 'shmget', 'shmctl', 'shmat', 'shmdt',
  'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedsend_time64', 'mq_timedreceive', 'mq_timedreceive_time64',
  'mq_notify', 'mq_getsetattr',
  // sockets
  'socket', 'socketpair', 'socketcall', 'bind', 'connect', 'listen', 'accept', 'accept4', 'getsockname', 'getpeername',
  'getsockopt', 'setsockopt', 'send', 'sendto', 'sendmsg', 'sendmmsg', 'recv', 'recvfrom', 'recvmsg', 'recvmmsg',
  'recvmmsg_time64', 'shutdown',
  // randomness
  'getrandom',
];

/**
 * Syscalls a capability brings back, as Docker's profile does: the kernel checks the
 * capability too, but seccomp keeps these shut for a container that lacks it (smaller
 * attack surface for kernel bugs). A group opens when the process has any of its `caps`.
 */
const byCapability: readonly { readonly caps: readonly string[]; readonly names: readonly string[] }[] = [
  {
    caps: ['CAP_SYS_ADMIN'],
    names: [
      'mount', 'umount', 'umount2', 'pivot_root', 'mount_setattr', 'move_mount', 'open_tree', 'fsopen', 'fsconfig',
      'fsmount', 'fspick', 'unshare', 'setns', 'sethostname', 'setdomainname', 'name_to_handle_at', 'quotactl',
      'quotactl_fd', 'fanotify_init', 'lookup_dcookie', 'swapon', 'swapoff', 'clone3',
    ],
  },
  { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'], names: ['bpf'] },
  { caps: ['CAP_SYS_ADMIN', 'CAP_PERFMON'], names: ['perf_event_open'] },
  { caps: ['CAP_SYS_ADMIN', 'CAP_SYSLOG'], names: ['syslog'] },
  { caps: ['CAP_DAC_READ_SEARCH'], names: ['open_by_handle_at'] },
  { caps: ['CAP_SYS_BOOT'], names: ['reboot', 'kexec_load', 'kexec_file_load'] },
  { caps: ['CAP_SYS_CHROOT'], names: ['chroot'] },
  { caps: ['CAP_SYS_MODULE'], names: ['init_module', 'finit_module', 'delete_module'] },
  { caps: ['CAP_SYS_PACCT'], names: ['acct'] },
  { caps: ['CAP_SYS_PTRACE'], names: ['ptrace', 'kcmp', 'pidfd_getfd', 'process_vm_readv', 'process_vm_writev', 'process_madvise', 'userfaultfd'] },
  { caps: ['CAP_SYS_RAWIO'], names: ['iopl', 'ioperm'] },
  { caps: ['CAP_SYS_TIME'], names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64'] },
  { caps: ['CAP_SYS_TTY_CONFIG'], names: ['vhangup'] },
  { caps: ['CAP_SYS_NICE'], names: ['get_mempolicy', 'set_mempolicy', 'set_mempolicy_home_node', 'mbind', 'move_pages'] },
];

/**
 * Never allowed, whatever the capabilities (listed so tests and readers see the choice):
 * the kernel keyring is not namespaced, io_uring has been a steady source of kernel
 * exploits and bypasses seccomp for the operations it performs, and the rest are obsolete
 * or unsafe interfaces.
 */
export const neverAllowedSyscalls: readonly string[] = Object.freeze([
  'keyctl', 'add_key', 'request_key', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'uselib', 'nfsservctl',
  'create_module', 'get_kernel_syms', 'query_module', '_sysctl', 'sysfs', 'ustat', 'vm86', 'vm86old', 'modify_ldt',
]);

/**
 * clone(2) flags that create namespaces: CLONE_NEWNS 0x20000, CLONE_NEWCGROUP 0x02000000,
 * CLONE_NEWUTS 0x04000000, CLONE_NEWIPC 0x08000000, CLONE_NEWUSER 0x10000000,
 * CLONE_NEWPID 0x20000000, CLONE_NEWNET 0x40000000 (CLONE_NEWTIME shares bits with the
 * exit signal and exists only for clone3/unshare).
 */
export const cloneNamespaceFlags = 0x7e020000;

/**
 * personality(2) values a container may set: PER_LINUX (0), PER_LINUX32 (8), UNAME26
 * (0x20000), UNAME26|PER_LINUX32, and 0xffffffff, which only queries. Others (such as
 * ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC) weaken the process's own protections.
 */
export const allowedPersonalities: readonly number[] = Object.freeze([0x0, 0x8, 0x20000, 0x20008, 0xffffffff]);

/** Seccomp architectures a filter covers on each host CPU: the native one and those it can also execute. */
export const seccompArchitectures: Readonly<Record<string, readonly string[]>> = Object.freeze({
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  ia32: ['SCMP_ARCH_X86'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  arm: ['SCMP_ARCH_ARM'],
});

const x86Only = new Set(['arch_prctl', 'get_thread_area', 'set_thread_area', 'iopl', 'ioperm']);
const armOnly = new Set(['set_tls', 'cacheflush', 'breakpoint', 'arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2']);

export interface SeccompProfileOptions {
  /** The host CPU as Node names it (`x64`, `arm64` …); default `process.arch`. */
  readonly arch?: string;
}

/**
 * berth's default seccomp profile for a process holding `caps` (default: Docker's default
 * set): deny by default with EPERM, allow the ordinary syscalls, open the guarded ones
 * only for the capability that governs them, allow clone(2) only without namespace flags
 * unless CAP_SYS_ADMIN (clone3, whose flags seccomp cannot inspect, then answers ENOSYS so
 * libc falls back to clone), and personality(2) only with harmless values. Plain data: the
 * OCI `linux.seccomp` object, ready for config.json.
 */
export function defaultSeccompProfile(caps: readonly string[] = defaultCapabilities, options: SeccompProfileOptions = {}): LinuxSeccomp {
  const arch = options.arch ?? process.arch;
  const architectures = seccompArchitectures[arch];
  if (architectures === undefined) throw invalidArgument(`no seccomp profile for CPU "${arch}": berth knows x64, ia32, arm64 and arm`);
  const x86 = architectures.some((a) => a.startsWith('SCMP_ARCH_X86'));
  const have = new Set<string>(caps.map(normalizeCapability));
  const sysAdmin = have.has('CAP_SYS_ADMIN');

  const allowed = new Set(ordinary);
  for (const group of byCapability) {
    if (group.caps.some((c) => have.has(c))) for (const n of group.names) allowed.add(n);
  }
  if (sysAdmin) allowed.add('clone');
  const names = [...allowed]
    .filter((n) => (x86 ? !armOnly.has(n) : !x86Only.has(n)))
    .sort();

  const syscalls: LinuxSyscall[] = [{ names, action: 'SCMP_ACT_ALLOW' }];
  if (!sysAdmin) {
    // (flags & namespace flags) == 0. clone's flags are argument 0 on x86 and arm (1 on s390).
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  for (const value of allowedPersonalities) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: [...architectures], syscalls };
}

/** The syscall names a profile allows unconditionally (rules with no argument filter). */
export function allowedSyscalls(profile: LinuxSeccomp): Set<string> {
  const out = new Set<string>();
  for (const rule of profile.syscalls) {
    if (rule.action === 'SCMP_ACT_ALLOW' && (rule.args === undefined || rule.args.length === 0)) for (const n of rule.names) out.add(n);
  }
  return out;
}
