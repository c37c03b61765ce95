/**
 * The container's OCI runtime spec (`config.json`), built as a pure function of the image
 * config, the user's run options and a few facts about the host. Nothing here touches the
 * disk: files the spec needs (passwd, group, a seccomp profile) are handed in as text.
 *
 * Policy (Docker's, so images behave the same):
 *   command   = Entrypoint (or --entrypoint) + (command line args, else image Cmd)
 *   env       = PATH default, image Env, --env-file, -e, then HOSTNAME (and TERM with -t)
 *   mounts    = /proc /dev /dev/pts /dev/shm /dev/mqueue /sys (+ /sys/fs/cgroup ro),
 *               /etc/hosts /etc/hostname /etc/resolv.conf from the container dir, user mounts
 *   caps      = Docker's 14 defaults, ± --cap-add/--cap-drop, all with --privileged
 */
import { failedPrecondition, invalidArgument, notFound } from '@berth/errors';
import type { RunOptions } from './options.js';
import type { Rlimit } from './units.js';

/** The fields of an image config (`config` of the OCI image config) that shape a container. */
export interface ImageRunConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly StopSignal?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly Volumes?: Readonly<Record<string, unknown>> | null;
}

/** An OCI runtime-spec mount. */
export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** The subset of the OCI runtime spec berth writes. */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    consoleSize?: { height: number; width: number };
    user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities?: { bounding: string[]; effective: string[]; permitted: string[]; inheritable?: string[]; ambient?: string[] };
    rlimits?: Rlimit[];
    noNewPrivileges?: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: SpecMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath: string;
    resources: {
      devices: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[];
      memory?: { limit?: number; swap?: number };
      cpu?: { shares?: number; quota?: number; period?: number; cpus?: string };
      pids?: { limit: number };
    };
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: unknown;
    sysctl?: Record<string, string>;
  };
}

/** Facts about the host the spec depends on. */
export interface HostFacts {
  /** Hard rlimits of the engine process by OCI type (from /proc/self/limits); containers never get more. */
  readonly hardLimits: Readonly<Record<string, number>>;
  /** Highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  readonly capLast: number;
  /** True on a cgroup v2-only host: containers get a private cgroup namespace there. */
  readonly cgroupV2: boolean;
  /**
   * The capabilities berth itself holds (its bounding set, /proc/self/status CapBnd): a container
   * can never get more, so --privileged and --cap-add ALL stop there. Absent: every known one.
   */
  readonly boundingCaps?: readonly string[];
}

/** Capability names of a CapBnd-style hex mask. */
export function capsOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return allCapabilities.filter((_c, i) => (mask >> BigInt(i)) & 1n);
}

/** Everything {@link buildSpec} needs. */
export interface SpecInput {
  /** The container ID (64 hex). */
  readonly id: string;
  readonly image: ImageRunConfig;
  readonly options: RunOptions;
  /** Absolute path of the mounted rootfs. */
  readonly rootfs: string;
  /** The container's directory (holds hosts, hostname, resolv.conf). */
  readonly containerDir: string;
  /** The user's mounts (volumes, binds, tmpfs), parents first: @berth/volume's `prepareMounts`. */
  readonly userMounts?: readonly SpecMount[];
  /** The caller's environment, for bare `-e NAME`. */
  readonly callerEnv: Readonly<Record<string, string | undefined>>;
  readonly host: HostFacts;
  /** The rootfs's /etc/passwd and /etc/group, when present, to resolve user names. */
  readonly passwd?: string;
  readonly group?: string;
  /** The seccomp profile a process with these capabilities gets by default (@berth/runtime's); none when absent. */
  readonly defaultSeccomp?: (caps: readonly string[]) => unknown;
  /** The parsed JSON of `--security-opt seccomp=<file>`. */
  readonly seccompFile?: unknown;
  /** A static init binary on the host for `--init` (catatonit or tini-static), bind-mounted at /dev/init. */
  readonly initPath?: string;
  /** The cgroup path (relative: below the engine's own cgroup). */
  readonly cgroupsPath: string;
  /** The terminal size, with -t. */
  readonly consoleSize?: { readonly height: number; readonly width: number };
}

/** Docker's default capabilities (moby oci/caps/defaults.go). */
export const defaultCapabilities: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability, by number (linux/capability.h). */
export const allCapabilities: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Paths hidden from unprivileged containers (moby oci/defaults.go). */
export const maskedPaths: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** Paths read-only in unprivileged containers. */
export const readonlyPaths: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The PATH a container gets when its image sets none. */
export const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Normalizes `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays. */
export function normalizeCap(name: string, known: readonly string[] = allCapabilities): string {
  const up = name.toUpperCase();
  if (up === 'ALL') return 'ALL';
  const cap = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!known.includes(cap)) throw invalidArgument(`unknown capability "${name}": use a name like NET_ADMIN or ALL`);
  return cap;
}

/** The capability set from defaults, --cap-add, --cap-drop (drops first, as Docker; ALL expands). */
export function capabilitySet(options: Pick<RunOptions, 'capAdd' | 'capDrop' | 'privileged'>, capLast: number, bounding?: readonly string[]): string[] {
  const known = allCapabilities.slice(0, capLast + 1).filter((c) => bounding === undefined || bounding.includes(c));
  if (options.privileged) return [...known];
  const add = options.capAdd.map((c) => normalizeCap(c));
  const drop = options.capDrop.map((c) => normalizeCap(c));
  let caps = drop.includes('ALL') ? [] : defaultCapabilities.filter((c) => !drop.includes(c));
  if (add.includes('ALL')) caps = known.filter((c) => !drop.includes(c) || add.includes(c));
  for (const c of add) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps.filter((c) => known.includes(c));
}

/** The command line: entrypoint + (args or image Cmd). Throws when nothing is left to run. */
export function commandLine(image: ImageRunConfig, options: Pick<RunOptions, 'entrypoint' | 'command'>): string[] {
  let entrypoint = [...(image.Entrypoint ?? [])];
  let cmd = [...(image.Cmd ?? [])];
  if (options.entrypoint !== undefined) {
    entrypoint = options.entrypoint === '' ? [] : [options.entrypoint];
    cmd = []; // Docker: a new entrypoint drops the image's Cmd
  }
  if (options.command.length > 0) cmd = [...options.command];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument('no command specified: the image has no Entrypoint or Cmd; give a command after the image name');
  return args;
}

/** Merges environment lists: later `K=V` replaces earlier `K`; bare `K` takes the caller's value or is dropped. */
export function mergeEnv(lists: readonly (readonly string[])[], callerEnv: Readonly<Record<string, string | undefined>>): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const e of list) {
      const i = e.indexOf('=');
      if (i < 0) {
        const v = callerEnv[e];
        if (v !== undefined) map.set(e, `${e}=${v}`);
        else map.delete(e);
      } else {
        map.set(e.slice(0, i), e);
      }
    }
  }
  return [...map.values()];
}

/** A user resolved against the image's /etc/passwd and /etc/group. */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  readonly home: string;
}

function parseColonFile(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

/** Resolves `user[:group]` (names or numbers) like Docker; the empty string means root. */
export function resolveUser(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const [u = '', g] = spec === '' ? ['root'] : spec.split(':');
  const users = parseColonFile(passwd);
  const groups = parseColonFile(group);
  const entry = /^\d+$/.test(u) ? users.find((e) => e[2] === u) : users.find((e) => e[0] === u);
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    gid = entry ? Number(entry[3]) : 0;
  } else if (entry) {
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  } else if (u === 'root') {
    uid = 0;
    gid = 0;
  } else {
    throw notFound(`unable to find user ${u}: no matching entries in the image's /etc/passwd`);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const ge = groups.find((e) => e[0] === g);
      if (!ge) throw notFound(`unable to find group ${g}: no matching entries in the image's /etc/group`);
      gid = Number(ge[2]);
    }
  }
  const name = entry?.[0];
  const additionalGids = name === undefined || g !== undefined ? [] : groups
    .filter((e) => (e[3] ?? '').split(',').includes(name))
    .map((e) => Number(e[2]))
    .filter((n) => n !== gid);
  return { uid, gid, additionalGids, home: entry?.[5] || '/' };
}

/** The mounts every container gets (moby oci/defaults.go). */
function defaultMounts(privileged: boolean): SpecMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  ];
}

/** Devices the container may use (cgroup device rules): everything denied, then the usual set. */
function deviceRules(privileged: boolean): RuntimeSpec['linux']['resources']['devices'] {
  if (privileged) return [{ allow: true, access: 'rwm' }];
  const c = (major: number, minor: number | undefined, access: string) =>
    (minor === undefined ? { allow: true, type: 'c', major, access } : { allow: true, type: 'c', major, minor, access });
  return [
    { allow: false, access: 'rwm' },
    c(1, 3, 'rwm'), c(1, 5, 'rwm'), c(1, 7, 'rwm'), c(1, 8, 'rwm'), c(1, 9, 'rwm'), // null zero full random urandom
    c(5, 0, 'rwm'), c(5, 1, 'rwm'), c(5, 2, 'rwm'), c(136, undefined, 'rwm'), // tty console ptmx pts/*
    c(10, 200, 'rwm'), // tun
  ];
}

/** Limits from --ulimit, refused above the host's hard limit (the kernel would refuse them at start). */
export function rlimits(ulimits: readonly Rlimit[], hard: Readonly<Record<string, number>>): Rlimit[] {
  return ulimits.map((l) => {
    const max = hard[l.type];
    if (max !== undefined && l.hard > max) {
      const name = l.type.replace(/^RLIMIT_/, '').toLowerCase();
      throw invalidArgument(`--ulimit ${name}=${l.soft}:${l.hard} exceeds this host's hard limit ${max}: use at most ${name}=${Math.min(l.soft, max)}:${max}`);
    }
    return l;
  });
}

/** Validates a seccomp profile file (OCI `linux.seccomp` shape, or Docker's with `names`). */
export function checkSeccompProfile(profile: unknown): unknown {
  if (typeof profile !== 'object' || profile === null || typeof (profile as { defaultAction?: unknown }).defaultAction !== 'string') {
    throw invalidArgument('invalid seccomp profile: it must be a JSON object with a "defaultAction"');
  }
  const syscalls = (profile as { syscalls?: unknown }).syscalls;
  if (syscalls !== undefined && !Array.isArray(syscalls)) throw invalidArgument('invalid seccomp profile: "syscalls" must be a list');
  return profile;
}

/** The container's hostname: --hostname, else the first 12 characters of its ID. */
export function containerHostname(id: string, options: Pick<RunOptions, 'hostname'>): string {
  return options.hostname ?? id.slice(0, 12);
}

/** Builds the OCI runtime spec of a container. Pure: same input, same spec. */
export function buildSpec(input: SpecInput): RuntimeSpec {
  const { options: o, image } = input;
  const hostname = containerHostname(input.id, o);
  const user = resolveUser(o.user ?? image.User ?? '', input.passwd, input.group);
  const env = mergeEnv([[defaultPath], image.Env ?? [], o.env], input.callerEnv);
  const keys = new Set(env.map((e) => e.slice(0, e.indexOf('='))));
  if (!keys.has('HOSTNAME')) env.push(`HOSTNAME=${hostname}`);
  if (o.tty && !keys.has('TERM')) env.push('TERM=xterm');
  if (!keys.has('HOME')) env.push(`HOME=${user.home}`);
  const caps = capabilitySet(o, input.host.capLast, input.host.boundingCaps);

  const namespaces: { type: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (o.network !== 'host') namespaces.push({ type: 'network' });
  if (input.host.cgroupV2) namespaces.push({ type: 'cgroup' });

  const mounts = defaultMounts(o.privileged);
  const etc: SpecMount[] = ['hosts', 'hostname', 'resolv.conf'].map((f) => ({
    destination: `/etc/${f}`, type: 'bind', source: `${input.containerDir}/${f}`, options: ['rbind', 'rprivate', o.readOnly ? 'ro' : 'rw'],
  }));
  const user_: SpecMount[] = (input.userMounts ?? []).map((m) => ({ ...m, options: [...(m.options ?? [])] }));
  let args = commandLine(image, o);
  if (o.init) {
    // A minimal init as pid 1 reaps zombies and forwards signals to the command (Docker's --init).
    if (input.initPath === undefined) throw failedPrecondition('--init needs a static init on the host: install catatonit (or tini-static)');
    user_.push({ destination: '/dev/init', type: 'bind', source: input.initPath, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    args = ['/dev/init', '--', ...args];
  }
  const targets = new Set(user_.map((m) => m.destination));
  // A user mount on a default destination (e.g. --tmpfs /dev/shm) replaces the default.
  const all = [...mounts, ...etc].filter((m) => !targets.has(m.destination)).concat(user_);

  const resources: RuntimeSpec['linux']['resources'] = { devices: deviceRules(o.privileged) };
  const r = o.resources;
  if (r.memory !== undefined || r.memorySwap !== undefined) {
    // Docker: with --memory and no --memory-swap, swap is limited to as much again (swap = 2 × memory).
    const swap = r.memorySwap ?? (r.memory === undefined ? undefined : 2 * r.memory);
    resources.memory = { ...(r.memory === undefined ? {} : { limit: r.memory }), ...(swap === undefined ? {} : { swap }) };
  }
  if (r.cpuQuota !== undefined || r.cpuShares !== undefined || r.cpusetCpus !== undefined) {
    resources.cpu = {
      ...(r.cpuShares === undefined ? {} : { shares: r.cpuShares }),
      ...(r.cpuQuota === undefined ? {} : { quota: r.cpuQuota, period: r.cpuPeriod ?? 100_000 }),
      ...(r.cpusetCpus === undefined ? {} : { cpus: r.cpusetCpus }),
    };
  }
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) resources.pids = { limit: r.pidsLimit };

  let seccomp: unknown;
  if (!o.privileged && o.security.seccomp !== 'unconfined') {
    seccomp = o.security.seccomp === 'default' ? input.defaultSeccomp?.(caps) : checkSeccompProfile(input.seccompFile);
  }

  const annotations: Record<string, string> = { ...(image.Labels ?? {}), ...o.labels };
  const spec: RuntimeSpec = {
    ociVersion: '1.2.0',
    process: {
      terminal: o.tty,
      ...(o.tty && input.consoleSize ? { consoleSize: { ...input.consoleSize } } : {}),
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length > 0 ? { additionalGids: [...user.additionalGids] } : {}) },
      args,
      env,
      cwd: o.workdir ?? (image.WorkingDir || '/'),
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      ...(o.ulimits.length > 0 ? { rlimits: rlimits(o.ulimits, input.host.hardLimits) } : {}),
      noNewPrivileges: o.security.noNewPrivileges,
      oomScoreAdj: 0,
    },
    root: { path: input.rootfs, readonly: o.readOnly },
    hostname,
    mounts: all,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources,
      ...(o.privileged ? {} : { maskedPaths: [...maskedPaths], readonlyPaths: [...readonlyPaths] }),
      ...(seccomp === undefined ? {} : { seccomp }),
    },
  };
  return spec;
}

/** /etc/hosts of a container: localhost entries and its own hostname. */
export function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n');
}

/**
 * /etc/resolv.conf of a container from the host's: with its own network namespace, a
 * loopback nameserver of the host (systemd-resolved's 127.0.0.53) is unreachable, so it is
 * dropped; with none left, public resolvers are used as Docker does.
 */
export function resolvConf(hostText: string, network: 'none' | 'host'): string {
  if (network === 'host') return hostText;
  const lines = hostText.split('\n').filter((l) => l.trim() !== '' && !/^\s*nameserver\s+(127\.|::1)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return lines.join('\n').replace(/\n*$/, '\n');
}
