/**
 * The init plan: `config.json` compiled into the flat, ordered list of steps that berth-shim
 * executes (native/shim/shim.c documents each op). Pure: every host fact the compiler needs
 * (is a bind source a directory?) is passed in.
 *
 *   header (shim, before clone)   mode, exitfile, clone, setns, sc_default/sc_arch/sc_rule, sc_cache
 *   rootfs                        propagation, bind rootfs, fifo_open, console_connect, mounts,
 *                                 devices, symlinks, pivot_root
 *   after pivot                   console, sysctl, mask, readonly, remount /, hostname
 *   process                       chdir, rlimit, oom_score_adj, lookpath, ready, wait_start,
 *                                 [seccomp_load], bounding, keepcaps, groups, setgid, setuid,
 *                                 capset, ambient, umask, nnp, [seccomp_load], env, exec
 */
import { constants } from 'node:os';
import { posix } from 'node:path';
import { invalidArgument } from '@berth/errors';
import { capNumber } from './caps/index.js';
import type { OciConfig, OciDevice, OciHook, OciMount, OciNamespace, OciProcess, OciSeccomp } from './spec.js';

/** One step: an op and its string arguments. */
export type Step = readonly [op: string, ...args: string[]];

/** How the shim behaves once the init is ready (see shim.c). */
export type ShimMode = 'exit' | 'foreground' | 'monitor';

/** Inputs of {@link compilePlan} besides the config. */
export interface PlanOptions {
  /** Absolute host path of the rootfs. */
  readonly rootfs: string;
  /** Absolute host path of the bundle (relative bind sources resolve against it). */
  readonly bundle: string;
  readonly mode: ShimMode;
  /** The exec fifo: the init blocks on it before the process starts (create); absent for run. */
  readonly execFifo?: string;
  /** runc's `--console-socket`: the pty master is sent there. */
  readonly consoleSocket?: string;
  /** Where the monitor records the exit status. */
  readonly exitFile?: string;
  /** True when a host path is a directory (decides mkdir or touch for bind targets). */
  readonly isDir?: (hostPath: string) => boolean;
  /** The container's state dir: createContainer/startContainer hooks read hookstate.json there. */
  readonly stateDir?: string;
  /** Monitor mode: the process's stdout/stderr go to this file as Docker json-file lines. */
  readonly logFile?: string;
  /** Cgroup directories the shim joins the init to before releasing it. */
  readonly cgroupDirs?: readonly string[];
  /**
   * Of `cgroupDirs`, the cgroup v1 ones: the init joins them itself (`cgroup_self`), unless it
   * is in a user namespace.
   */
  readonly cgroupSelfJoin?: readonly string[];
  /**
   * What a `cgroup` mount shows: each of the container's cgroup directories and the name it
   * gets below the mount point (`memory`, `cpu` … on v1; `''` for a v2 directory, bound at
   * the mount point itself). Without it a cgroup mount is an empty read-only tmpfs.
   */
  readonly cgroupViews?: readonly { readonly name: string; readonly dir: string }[];
  /** Host path of a container path, resolved inside the rootfs (default: plain join, no symlinks followed). */
  readonly resolve?: (containerPath: string) => string;
  /** Where berth-shim may keep compiled seccomp filters (BPF), keyed by the profile. */
  readonly seccompCache?: string;
}

/** Inputs of {@link compileExecPlan}. */
export interface ExecPlanOptions {
  /** Pid of the container's init, whose namespaces are joined. */
  readonly initPid: number;
  /** Namespace types the container has its own of. */
  readonly namespaces: readonly OciNamespace['type'][];
  readonly mode: ShimMode;
  readonly consoleSocket?: string;
  readonly seccomp?: OciSeccomp;
  /** Where berth-shim may keep compiled seccomp filters (BPF), keyed by the profile. */
  readonly seccompCache?: string;
}

/** clone(2) / setns(2) flags of each namespace type. */
export const namespaceFlags: Readonly<Record<OciNamespace['type'], number>> = {
  mount: 0x20000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  cgroup: 0x02000000,
  time: 0x80,
};

/** /proc/<pid>/ns/<name> for each namespace type. */
export const namespaceProcNames: Readonly<Record<OciNamespace['type'], string>> = {
  mount: 'mnt', uts: 'uts', ipc: 'ipc', user: 'user', pid: 'pid', network: 'net', cgroup: 'cgroup', time: 'time',
};

const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20, MANDLOCK: 0x40,
  DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800, BIND: 0x1000, REC: 0x4000,
  UNBINDABLE: 0x20000, PRIVATE: 0x40000, SLAVE: 0x80000, SHARED: 0x100000, RELATIME: 0x200000,
  STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
} as const;

/** Mount options that set (true) or clear (false) a flag. */
const flagOptions: Readonly<Record<string, readonly [number, boolean]>> = {
  ro: [MS.RDONLY, true], rw: [MS.RDONLY, false], nosuid: [MS.NOSUID, true], suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true], dev: [MS.NODEV, false], noexec: [MS.NOEXEC, true], exec: [MS.NOEXEC, false],
  sync: [MS.SYNCHRONOUS, true], async: [MS.SYNCHRONOUS, false], dirsync: [MS.DIRSYNC, true],
  mand: [MS.MANDLOCK, true], nomand: [MS.MANDLOCK, false], noatime: [MS.NOATIME, true], atime: [MS.NOATIME, false],
  nodiratime: [MS.NODIRATIME, true], diratime: [MS.NODIRATIME, false], relatime: [MS.RELATIME, true],
  norelatime: [MS.RELATIME, false], strictatime: [MS.STRICTATIME, true], nostrictatime: [MS.STRICTATIME, false],
  lazytime: [MS.LAZYTIME, true], nosymfollow: [MS.NOSYMFOLLOW, true], symfollow: [MS.NOSYMFOLLOW, false],
  bind: [MS.BIND, true], rbind: [MS.BIND | MS.REC, true], defaults: [0, true],
};

const propagationOptions: Readonly<Record<string, number>> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

/** Mount flags, propagation flags and fs data of a mount's options. */
export function parseMountOptions(options: readonly string[] = []): { flags: number; propagation: number[]; data: string[] } {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const o of options) {
    const f = flagOptions[o];
    if (f) {
      flags = f[1] ? flags | f[0] : flags & ~f[0];
    } else if (propagationOptions[o] !== undefined) {
      propagation.push(propagationOptions[o]);
    } else if (o !== 'tmpcopyup' && !o.startsWith('idmap') && !o.startsWith('ridmap')) {
      data.push(o);
    }
  }
  return { flags, propagation, data };
}

/** The devices every container gets (runtime-spec "Default Devices"). */
export const defaultDevices: readonly Required<OciDevice>[] = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

const rlimitNumbers: Readonly<Record<string, number>> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

/** Seccomp architecture names of the OCI spec (`SCMP_ARCH_X86_64`) as libseccomp resolves them. */
function scArch(a: string): string {
  return a.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

/** u64 as a string: rlimit "unlimited" is 2^64-1 in config.json and may exceed JS precision. */
function u64(n: number): string {
  return n >= Number.MAX_SAFE_INTEGER || n < 0 ? '18446744073709551615' : String(n);
}

function capMask(names: readonly string[] | undefined): string {
  let mask = 0n;
  for (const n of names ?? []) {
    try {
      mask |= 1n << BigInt(capNumber(n));
    } catch {
      // runc ignores capabilities the kernel lacks; so do we.
    }
  }
  return `0x${mask.toString(16)}`;
}

/** The seccomp header records of a profile. */
export function seccompSteps(sc: OciSeccomp): Step[] {
  const steps: Step[] = [['sc_default', sc.defaultAction, String(sc.defaultErrnoRet ?? constants.errno.EPERM)]];
  for (const a of sc.architectures ?? []) steps.push(['sc_arch', scArch(a)]);
  for (const rule of sc.syscalls ?? []) {
    const args = rule.args ?? [];
    const cmp = args.flatMap((a) => [String(a.index), a.op, String(a.value), String(a.valueTwo ?? 0)]);
    for (const name of rule.names) {
      steps.push(['sc_rule', rule.action, String(rule.errnoRet ?? constants.errno.EPERM), name, String(args.length), ...cmp]);
    }
  }
  return steps;
}

/** The process part of a plan: from chdir to execve. Shared by create and exec. */
function processSteps(proc: OciProcess, opts: { waitStart: boolean; seccomp: boolean }): Step[] {
  const steps: Step[] = [['chdir', proc.cwd]];
  for (const r of proc.rlimits ?? []) {
    const res = rlimitNumbers[r.type];
    if (res === undefined) throw invalidArgument(`process.rlimits: unknown rlimit "${r.type}"`);
    steps.push(['rlimit', String(res), u64(r.soft), u64(r.hard), r.type]);
  }
  if (proc.oomScoreAdj !== undefined) steps.push(['oom_score_adj', String(proc.oomScoreAdj)]);
  const args = proc.args ?? [];
  const argv0 = args[0];
  if (argv0 === undefined) throw invalidArgument('process.args must name the program to run');
  const pathVar = (proc.env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  steps.push(['lookpath', argv0, pathVar]);
  steps.push(['ready']);
  if (opts.waitStart) steps.push(['wait_start']);
  const nnp = proc.noNewPrivileges === true;
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before dropping
  // capabilities. With it, load it as late as possible, just before execve (runc's order).
  if (opts.seccomp && !nnp) steps.push(['seccomp_load']);
  const caps = proc.capabilities;
  steps.push(['bounding', capMask(caps?.bounding)]);
  steps.push(['keepcaps', '1']);
  const u = proc.user;
  steps.push(['groups', ...(u.additionalGids ?? []).map(String)]);
  steps.push(['setgid', String(u.gid)]);
  steps.push(['setuid', String(u.uid)]);
  steps.push(['keepcaps', '0']);
  steps.push(['capset', capMask(caps?.effective), capMask(caps?.permitted), capMask(caps?.inheritable)]);
  if ((caps?.ambient ?? []).length > 0) steps.push(['ambient', capMask(caps?.ambient)]);
  steps.push(['umask', String(u.umask ?? 0o022)]);
  if (nnp) steps.push(['nnp']);
  if (opts.seccomp && nnp) steps.push(['seccomp_load']);
  steps.push(['env', ...(proc.env ?? [])]);
  steps.push(['exec', ...args]);
  return steps;
}

function within(rootfs: string, dest: string): string {
  const clean = posix.normalize(`/${dest}`);
  return clean === '/' ? rootfs : `${rootfs}${clean}`;
}

/**
 * Compiles `config.json` into the plan berth-shim runs for `create`/`run`.
 * Throws InvalidArgument for a config it cannot honour.
 */
export function compilePlan(config: OciConfig, opts: PlanOptions): Step[] {
  const proc = config.process;
  if (proc === undefined) throw invalidArgument('config.json has no process to run');
  const linux = config.linux ?? {};
  const nsList = linux.namespaces ?? [];
  const has = (t: OciNamespace['type']): boolean => nsList.some((n) => n.type === t);
  const userns = has('user');
  const rootfs = opts.rootfs;
  const isDir = opts.isDir ?? (() => true);
  const resolveDest = opts.resolve ?? ((dest: string) => within(rootfs, dest));
  const steps: Step[] = [['mode', opts.mode]];
  if (opts.exitFile !== undefined) steps.push(['exitfile', opts.exitFile]);
  if (opts.execFifo !== undefined) steps.push(['mkfifo', opts.execFifo]);
  // v1 dirs the init joins itself (writing "0" to their tasks: no grace period, see
  // native/shim/shim.c "joining the cgroups"); the shim moves it into the others. Not from a
  // user namespace (new or joined), whose root may not write the host's cgroup files.
  const inUserNs = (linux.namespaces ?? []).some((n) => n.type === 'user');
  const selfJoin = new Set(inUserNs ? [] : opts.cgroupSelfJoin ?? []);
  for (const d of opts.cgroupDirs ?? []) steps.push([selfJoin.has(d) ? 'cgroup_self' : 'cgroup', d]);
  if (opts.mode === 'foreground' && (opts.cgroupDirs ?? []).length > 0) steps.push(['cleanup_cgroups']);
  if (opts.logFile !== undefined) {
    if (opts.mode === 'exit') throw invalidArgument('a log file needs a shim that stays: the monitor (the default) or a foreground run, not runc-style');
    steps.push(['log', opts.logFile]);
  }
  let cloneFlags = 0;
  // Join the user namespace first: the others are owned by it.
  const ordered = [...nsList].sort((a, b) => (a.type === 'user' ? -1 : b.type === 'user' ? 1 : 0));
  let cgroupns = false;
  for (const ns of ordered) {
    if (ns.path !== undefined && ns.path !== '') steps.push(['setns', String(namespaceFlags[ns.type]), ns.path]);
    else if (ns.type === 'cgroup') cgroupns = true;
    else cloneFlags |= namespaceFlags[ns.type];
  }
  steps.push(['clone', String(cloneFlags)]);
  // A cgroup namespace is rooted at the cgroup its creator is in: unshare it in the init,
  // once the shim has put the init in the container's cgroups (as runc does).
  if (cgroupns) steps.push(['unshare', String(namespaceFlags.cgroup)]);
  const seccomp = linux.seccomp !== undefined;
  if (linux.seccomp) steps.push(...seccompSteps(linux.seccomp), ...(opts.seccompCache !== undefined ? [['sc_cache', opts.seccompCache] as const] : []));

  if (!has('mount')) throw invalidArgument('config.json: linux.namespaces must include a mount namespace');
  // In a new user namespace the init still carries the host's uid 0, which is unmapped there
  // (files it creates would be EOVERFLOW): become the namespace's root once the maps exist.
  if (userns) steps.push(['setgid', '0'], ['setuid', '0']);
  // Make every mount private (or as asked) so nothing we mount leaks to the host, then
  // bind the rootfs onto itself: pivot_root needs a mount point.
  const rootProp = propagationOptions[linux.rootfsPropagation ?? 'rprivate'];
  if (rootProp === undefined) throw invalidArgument(`config.json: unknown rootfsPropagation "${linux.rootfsPropagation}"`);
  steps.push(['mount', '', '/', '', String(MS.REC | MS.SLAVE), '']);
  steps.push(['mount', rootfs, rootfs, '', String(MS.BIND | MS.REC), '']);
  if (opts.execFifo !== undefined) steps.push(['fifo_open', opts.execFifo]);
  const createHooks = config.hooks?.['createContainer'] ?? [];
  const startHooks = config.hooks?.['startContainer'] ?? [];
  if ((createHooks.length > 0 || startHooks.length > 0) && opts.stateDir !== undefined) steps.push(['state_dir', opts.stateDir]);
  if (proc.terminal === true) steps.push(consoleHeader(opts.mode, opts.consoleSocket));

  let devMounted = false;
  let devptsMounted = false;
  for (const m of config.mounts ?? []) {
    steps.push(...mountSteps(m, { rootfs, bundle: opts.bundle, isDir, netns: has('network'), userns, resolve: resolveDest, cgroupViews: opts.cgroupViews ?? [] }));
    if (posix.normalize(m.destination) === '/dev') devMounted = true;
    if (m.type === 'devpts') devptsMounted = true;
  }
  // Devices: mknod where we may; in a user namespace bind the host's nodes instead.
  const devices = devMounted ? [...defaultDevices, ...(linux.devices ?? [])] : [...(linux.devices ?? [])];
  for (const d of devices) {
    const target = within(rootfs, d.path);
    if (userns) {
      steps.push(['touch', target], ['mount', d.path, target, '', String(MS.BIND), '']);
    } else {
      steps.push(['mkdirp', posix.dirname(target)]);
      steps.push(['mknod', target, d.type, String(d.major ?? 0), String(d.minor ?? 0), String(d.fileMode ?? 0o666), String(d.uid ?? 0), String(d.gid ?? 0)]);
    }
  }
  if (devMounted) {
    const links: [string, string][] = [['/proc/self/fd', 'fd'], ['/proc/self/fd/0', 'stdin'], ['/proc/self/fd/1', 'stdout'], ['/proc/self/fd/2', 'stderr']];
    if (devptsMounted) links.push(['pts/ptmx', 'ptmx']);
    for (const [target, name] of links) steps.push(['symlink', target, `${rootfs}/dev/${name}`]);
  }
  // createContainer: in the container's namespaces, its path resolved in the runtime's (before pivot_root).
  for (const h of createHooks) steps.push(hookStep('createContainer', h));
  steps.push(['pivot_root', rootfs]);
  // After pivot_root the old root is gone; give "/" the asked-for propagation.
  steps.push(['mount', '', '/', '', String(rootProp), '']);

  if (proc.terminal === true) steps.push(['console', String(proc.consoleSize?.height ?? 0), String(proc.consoleSize?.width ?? 0)]);
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) steps.push(['sysctl', `/proc/sys/${key.replace(/\./g, '/')}`, value]);
  for (const p of linux.maskedPaths ?? []) steps.push(['mask', p]);
  for (const p of linux.readonlyPaths ?? []) steps.push(['readonly', p]);
  if (config.root.readonly === true) steps.push(['remount', '/', String(MS.BIND | MS.REMOUNT | MS.RDONLY)]);
  if (config.hostname !== undefined && config.hostname !== '') {
    if (!has('uts')) throw invalidArgument('config.json: a hostname needs a uts namespace');
    steps.push(['hostname', config.hostname]);
  }
  if (config.domainname !== undefined && config.domainname !== '') steps.push(['domainname', config.domainname]);
  const procSteps = processSteps(proc, { waitStart: opts.execFifo !== undefined, seccomp });
  // startContainer: as part of start, in the container (path resolved there), before the process.
  const at = procSteps.findIndex((st) => st[0] === (opts.execFifo !== undefined ? 'wait_start' : 'ready')) + 1;
  procSteps.splice(at, 0, ...startHooks.map((h) => hookStep('startContainer', h)));
  steps.push(...procSteps);
  return steps;
}

interface MountContext {
  readonly rootfs: string;
  readonly bundle: string;
  readonly isDir: (hostPath: string) => boolean;
  readonly netns: boolean;
  readonly userns: boolean;
  readonly resolve?: (containerPath: string) => string;
  readonly cgroupViews?: readonly { readonly name: string; readonly dir: string }[];
}

/** The steps of one `mounts[]` entry. */
export function mountSteps(m: OciMount, ctx: MountContext): Step[] {
  const target = ctx.resolve ? ctx.resolve(m.destination) : within(ctx.rootfs, m.destination);
  const { flags, propagation, data } = parseMountOptions(m.options);
  let type = m.type ?? '';
  let source = m.source ?? '';
  let mflags = flags;
  const steps: Step[] = [];
  // sysfs needs a network namespace of our own; without one, bind the host's (read-only).
  if (type === 'sysfs' && !ctx.netns) {
    type = 'bind';
    source = '/sys';
    mflags |= MS.BIND | MS.REC;
  }
  // The container sees its own cgroups, read-only: on v1 a tmpfs holding one bind of each
  // controller's directory (as Docker shows them), on v2 a bind of its one directory.
  if (type === 'cgroup' || type === 'cgroup2') {
    const safe = MS.NOSUID | MS.NODEV | MS.NOEXEC;
    const views = ctx.cgroupViews ?? [];
    const binds: Step[] = views.flatMap((v) => {
      const at = v.name === '' ? target : `${target}/${v.name}`;
      return [['mkdirp', at], ['mount', v.dir, at, '', String(MS.BIND), ''], ['remount', at, String(MS.BIND | MS.REMOUNT | MS.RDONLY | safe)]] as Step[];
    });
    if (views.length === 1 && views[0]?.name === '') return binds;
    return [
      ['mkdirp', target], ['mount', 'tmpfs', target, 'tmpfs', String(safe), 'mode=755'],
      ...binds,
      ['remount', target, String(MS.REMOUNT | MS.RDONLY | safe)],
    ];
  }
  const bind = (mflags & MS.BIND) !== 0 || type === 'bind';
  if (bind) {
    mflags |= MS.BIND;
    if (!source.startsWith('/')) source = posix.join(ctx.bundle, source);
    steps.push(ctx.isDir(source) ? ['mkdirp', target] : ['touch', target]);
    steps.push(['mount', source, target, '', String(mflags & (MS.BIND | MS.REC)), '']);
    // A bind mount ignores other flags until remounted.
    const rest = mflags & ~(MS.BIND | MS.REC);
    if (rest !== 0) steps.push(['remount', target, String(MS.BIND | MS.REMOUNT | rest)]);
  } else {
    steps.push(['mkdirp', target]);
    steps.push(['mount', source === '' ? type : source, target, type, String(mflags), data.join(',')]);
  }
  for (const p of propagation) steps.push(['mount', '', target, '', String(p), '']);
  return steps;
}

/** Compiles the plan of `exec`: join the container's namespaces, then run `proc`. */
export function compileExecPlan(proc: OciProcess, opts: ExecPlanOptions): Step[] {
  const steps: Step[] = [['mode', opts.mode]];
  // The shim connects before joining the container's mount namespace: the path is the caller's.
  if (proc.terminal === true) steps.push(consoleHeader(opts.mode, opts.consoleSocket));
  const order: OciNamespace['type'][] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];
  for (const t of order) {
    if (!opts.namespaces.includes(t)) continue;
    steps.push(['setns', String(namespaceFlags[t]), `/proc/${opts.initPid}/ns/${namespaceProcNames[t]}`]);
  }
  steps.push(['clone', '0']);
  if (opts.seccomp) steps.push(...seccompSteps(opts.seccomp), ...(opts.seccompCache !== undefined ? [['sc_cache', opts.seccompCache] as const] : []));
  if (proc.terminal === true) steps.push(['console', String(proc.consoleSize?.height ?? 0), String(proc.consoleSize?.width ?? 0)]);
  steps.push(...processSteps(proc, { waitStart: false, seccomp: opts.seccomp !== undefined }));
  return steps;
}

/** A hook the init runs: `hook <kind> <timeout> <path> <nargs> <args…> <env…>`. */
function hookStep(kind: string, h: OciHook): Step {
  const args = h.args ?? [];
  return ['hook', kind, String(h.timeout ?? 0), h.path, String(args.length), ...args, ...(h.env ?? [])];
}

/**
 * Where a terminal's pty master goes: to the console socket when one is given; in the
 * foreground without one, to the shim itself, which proxies its own stdio (as `runc run -t`).
 */
function consoleHeader(mode: ShimMode, consoleSocket: string | undefined): Step {
  if (consoleSocket !== undefined) return ['console_connect', consoleSocket];
  if (mode === 'foreground') return ['console_self'];
  throw invalidArgument('process.terminal is set: pass --console-socket to receive the pty');
}

/** The plan on the wire: u32 LE length, then per step its token count and its tokens, each NUL-terminated. */
export function encodePlan(steps: readonly Step[]): Buffer {
  // One string and one encoding: a plan has hundreds of tokens (the seccomp rules), and this
  // runs once per process, in V8's interpreter: native join/split per step, no loop per token
  // (a Buffer per token cost about a millisecond of `run`, a JS loop per token several).
  const parts: string[] = [];
  for (const step of steps) {
    const body = step.join('\0');
    if (body.split('\0').length !== step.length) throw invalidArgument(`plan step ${step[0]}: argument contains a NUL byte`);
    parts.push(`${step.length}\0${body}\0`);
  }
  const text = parts.join('');
  const length = Buffer.byteLength(text);
  const out = Buffer.allocUnsafe(4 + length);
  out.writeUInt32LE(length, 0);
  out.write(text, 4, 'utf8');
  return out;
}
