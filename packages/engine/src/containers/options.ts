/**
 * What a user asks of a container (`berth create/run` flags), in validated form, and the
 * parsers from raw flag text. The spec builder (spec.ts) turns these options plus the
 * image config into an OCI runtime spec.
 */
import { invalidArgument, notImplemented } from '@berth/errors';
import {
  parseBytes, parseCpus, parseCpuset, parseInteger, parseRestart, parseSignal, parseSwap, parseUlimit,
  parseDuration, type RestartPolicy, type Rlimit,
} from './units.js';

/** A mount the user asked for (`-v`, `--mount`, `--tmpfs`). */
export type MountRequest =
  | { readonly type: 'bind'; readonly source: string; readonly target: string; readonly readonly: boolean }
  | { readonly type: 'volume'; readonly name: string; readonly target: string; readonly readonly: boolean; readonly anonymous?: boolean }
  | { readonly type: 'tmpfs'; readonly target: string; readonly options: readonly string[] };

/** `--security-opt` values berth understands. */
export interface SecurityOptions {
  readonly noNewPrivileges: boolean;
  /** 'default' = the runtime's profile; 'unconfined' = none; else a path to a profile file. */
  readonly seccomp: 'default' | 'unconfined' | { readonly file: string };
}

/** The container's resource limits (cgroup). */
export interface ResourceOptions {
  readonly memory?: number;
  readonly memorySwap?: number;
  readonly cpuQuota?: number;
  readonly cpuPeriod?: number;
  readonly cpuShares?: number;
  readonly cpusetCpus?: string;
  readonly pidsLimit?: number;
}

/** Validated options of `berth create` / `berth run`. */
export interface RunOptions {
  readonly name?: string;
  readonly tty: boolean;
  readonly interactive: boolean;
  /** Environment from `-e`/`--env-file`, in order (`K=V`; a bare `K` takes the caller's value). */
  readonly env: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  /** `--entrypoint`: replaces the image entrypoint; '' clears it. */
  readonly entrypoint?: string;
  /** The command after the image name (replaces the image Cmd when non-empty). */
  readonly command: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly hostname?: string;
  readonly mounts: readonly MountRequest[];
  /** `--volumes-from c[:ro|rw]`: the volumes and binds of other containers (resolved at create). */
  readonly volumesFrom: readonly string[];
  readonly network: 'none' | 'host';
  readonly resources: ResourceOptions;
  readonly readOnly: boolean;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly privileged: boolean;
  readonly security: SecurityOptions;
  readonly ulimits: readonly Rlimit[];
  readonly init: boolean;
  readonly restart: RestartPolicy;
  readonly autoRemove: boolean;
  readonly stopSignal?: number;
  /** Seconds to wait after the stop signal before SIGKILL. */
  readonly stopTimeout?: number;
  readonly logMaxSize?: number;
  readonly logMaxFile?: number;
}

/** The raw flag values commander hands over for `create`/`run`. */
export interface RawRunFlags {
  readonly name?: string;
  readonly tty?: boolean;
  readonly interactive?: boolean;
  readonly env?: readonly string[];
  readonly envFile?: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly entrypoint?: string;
  readonly label?: readonly string[];
  readonly hostname?: string;
  readonly volume?: readonly string[];
  readonly mount?: readonly string[];
  readonly tmpfs?: readonly string[];
  readonly volumesFrom?: readonly string[];
  readonly network?: string;
  readonly memory?: string;
  readonly memorySwap?: string;
  readonly cpus?: string;
  readonly cpuShares?: string;
  readonly cpusetCpus?: string;
  readonly pidsLimit?: string;
  readonly readOnly?: boolean;
  readonly capAdd?: readonly string[];
  readonly capDrop?: readonly string[];
  readonly privileged?: boolean;
  readonly securityOpt?: readonly string[];
  readonly ulimit?: readonly string[];
  readonly init?: boolean;
  readonly restart?: string;
  readonly rm?: boolean;
  readonly stopSignal?: string;
  readonly stopTimeout?: string;
  readonly logOpt?: readonly string[];
}

/** Reads `--env-file` text: `K=V` lines, `#` comments and blank lines skipped, a bare `K` kept. */
export function parseEnvFile(path: string, text: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const key = line.split('=')[0] ?? '';
    if (key === '' || /\s/.test(key)) throw invalidArgument(`invalid line ${i + 1} in env file ${path}: "${raw}" is not KEY=VALUE`);
    out.push(line);
  });
  return out;
}

/** Parses `-l key=value` labels (a bare `key` gets the empty value). */
export function parseLabels(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of items) {
    const i = l.indexOf('=');
    const k = i < 0 ? l : l.slice(0, i);
    if (k === '') throw invalidArgument(`invalid label "${l}": use key=value`);
    out[k] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

const volumeName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Parses `-v src:dst[:ro|rw]` (src absolute = bind mount, else a named volume) or `-v dst` (anonymous volume). */
export function parseVolume(value: string): MountRequest {
  const parts = value.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) {
    throw invalidArgument(`invalid volume "${value}": use /host/path:/container/path[:ro] or name:/container/path[:ro]`);
  }
  const [a, b, mode] = parts as [string, string | undefined, string | undefined];
  if (mode !== undefined && !['ro', 'rw', 'z', 'Z'].some((m) => mode.split(',').includes(m))) {
    throw invalidArgument(`invalid volume mode "${mode}" in "${value}": use ro or rw`);
  }
  const readonly = mode?.split(',').includes('ro') ?? false;
  if (b === undefined) {
    if (!a.startsWith('/')) throw invalidArgument(`invalid volume "${value}": the container path must be absolute`);
    return { type: 'volume', name: '', target: a, readonly };
  }
  if (!b.startsWith('/')) throw invalidArgument(`invalid volume "${value}": the container path "${b}" must be absolute`);
  if (a.startsWith('/')) return { type: 'bind', source: a, target: b, readonly };
  if (!volumeName.test(a)) throw invalidArgument(`invalid volume name "${a}": use letters, digits, _ . and -`);
  return { type: 'volume', name: a, target: b, readonly };
}

/** Parses `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]`. */
export function parseMount(value: string): MountRequest {
  const kv: Record<string, string> = {};
  for (const part of value.split(',')) {
    const i = part.indexOf('=');
    kv[i < 0 ? part : part.slice(0, i)] = i < 0 ? 'true' : part.slice(i + 1);
  }
  const type = kv['type'] ?? 'volume';
  const target = kv['target'] ?? kv['destination'] ?? kv['dst'];
  const source = kv['source'] ?? kv['src'];
  const readonly = ['true', '1'].includes(kv['readonly'] ?? kv['ro'] ?? 'false');
  if (target === undefined || !target.startsWith('/')) throw invalidArgument(`invalid --mount "${value}": target=<absolute path> is required`);
  switch (type) {
    case 'bind':
      if (source === undefined || !source.startsWith('/')) throw invalidArgument(`invalid --mount "${value}": a bind mount needs source=<absolute host path>`);
      return { type: 'bind', source, target, readonly };
    case 'volume':
      if (source !== undefined && !volumeName.test(source)) throw invalidArgument(`invalid volume name "${source}" in --mount`);
      return { type: 'volume', name: source ?? '', target, readonly };
    case 'tmpfs': {
      const opts: string[] = [];
      if (kv['tmpfs-size'] !== undefined) opts.push(`size=${parseBytes('--mount tmpfs-size', kv['tmpfs-size'])}`);
      if (kv['tmpfs-mode'] !== undefined) opts.push(`mode=${kv['tmpfs-mode']}`);
      return { type: 'tmpfs', target, options: opts };
    }
    default:
      throw invalidArgument(`invalid --mount type "${type}": use bind, volume or tmpfs`);
  }
}

/** Parses `--tmpfs /path[:opts]`. */
export function parseTmpfs(value: string): MountRequest {
  const i = value.indexOf(':');
  const target = i < 0 ? value : value.slice(0, i);
  if (!target.startsWith('/')) throw invalidArgument(`invalid --tmpfs "${value}": the path must be absolute`);
  return { type: 'tmpfs', target, options: i < 0 ? [] : value.slice(i + 1).split(',').filter((o) => o !== '') };
}

/** Parses `--security-opt` values. */
export function parseSecurityOpts(items: readonly string[]): SecurityOptions {
  let noNewPrivileges = false;
  let seccomp: SecurityOptions['seccomp'] = 'default';
  for (const item of items) {
    const [k, v] = item.includes('=') ? [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)] : [item, undefined];
    if (k === 'no-new-privileges' && (v === undefined || v === 'true')) noNewPrivileges = true;
    else if (k === 'no-new-privileges' && v === 'false') noNewPrivileges = false;
    else if (k === 'seccomp' && v === 'unconfined') seccomp = 'unconfined';
    else if (k === 'seccomp' && v !== undefined && v !== '') seccomp = { file: v };
    else throw invalidArgument(`unsupported --security-opt "${item}": use no-new-privileges, seccomp=unconfined or seccomp=<profile.json>`);
  }
  return { noNewPrivileges, seccomp };
}

/** Validates `--network`. Bridge networks arrive with @berth/network; until then a clear error. */
export function parseNetwork(value: string | undefined): 'none' | 'host' {
  if (value === undefined || value === 'none' || value === 'host') return value ?? 'none';
  if (value === 'bridge' || value === 'default') {
    throw notImplemented(`network "${value}" is not available yet: use --network none or --network host`);
  }
  throw invalidArgument(`unknown network "${value}": use --network none or --network host`);
}

/** Parses `--log-opt max-size=10m` / `max-file=3`. */
function parseLogOpts(items: readonly string[]): { maxSize?: number; maxFile?: number } {
  const out: { maxSize?: number; maxFile?: number } = {};
  for (const item of items) {
    const [k, v = ''] = [item.slice(0, Math.max(0, item.indexOf('='))), item.slice(item.indexOf('=') + 1)];
    if (k === 'max-size') out.maxSize = parseBytes('--log-opt max-size', v);
    else if (k === 'max-file') out.maxFile = parseInteger('--log-opt max-file', v, 1);
    else throw invalidArgument(`unsupported --log-opt "${item}": use max-size=<size> or max-file=<n>`);
  }
  return out;
}

const nameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Validates a container name like Docker (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`). */
export function checkName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!nameRe.test(n)) throw invalidArgument(`invalid container name "${name}": use letters, digits, _ . and -, starting with a letter or digit`);
  return n;
}

/** Turns raw flags (plus the env-file contents the caller read) into validated options. */
export function parseRunFlags(
  flags: RawRunFlags,
  command: readonly string[],
  readFile: (path: string) => string,
): RunOptions {
  const env: string[] = [];
  for (const f of flags.envFile ?? []) env.push(...parseEnvFile(f, readFile(f)));
  env.push(...(flags.env ?? []));
  const mounts = [
    ...(flags.volume ?? []).map(parseVolume),
    ...(flags.mount ?? []).map(parseMount),
    ...(flags.tmpfs ?? []).map(parseTmpfs),
  ];
  const cpus = flags.cpus === undefined ? undefined : parseCpus(flags.cpus);
  const memory = flags.memory === undefined ? undefined : parseBytes('--memory', flags.memory);
  if (memory !== undefined && memory < 6 * 1024 * 1024) throw invalidArgument('--memory must be at least 6m');
  const memorySwap = flags.memorySwap === undefined ? undefined : parseSwap(flags.memorySwap);
  if (memorySwap !== undefined && memorySwap !== -1) {
    if (memory === undefined) throw invalidArgument('--memory-swap needs --memory too');
    if (memorySwap < memory) throw invalidArgument('--memory-swap must be at least --memory (it is memory plus swap)');
  }
  const resources: ResourceOptions = {
    ...(memory === undefined ? {} : { memory }),
    ...(memorySwap === undefined ? {} : { memorySwap }),
    ...(cpus === undefined ? {} : { cpuQuota: cpus.quota, cpuPeriod: cpus.period }),
    ...(flags.cpuShares === undefined ? {} : { cpuShares: parseInteger('--cpu-shares', flags.cpuShares, 2) }),
    ...(flags.cpusetCpus === undefined ? {} : { cpusetCpus: parseCpuset(flags.cpusetCpus) }),
    ...(flags.pidsLimit === undefined ? {} : { pidsLimit: parseInteger('--pids-limit', flags.pidsLimit, -1) }),
  };
  const log = parseLogOpts(flags.logOpt ?? []);
  const restart = parseRestart(flags.restart ?? 'no');
  if (flags.rm === true && restart.name !== 'no') throw invalidArgument('--rm and --restart cannot be used together');
  const hostname = flags.hostname;
  if (hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname)) {
    throw invalidArgument(`invalid hostname "${hostname}": use letters, digits, . and -, at most 63 characters`);
  }
  return {
    ...(flags.name === undefined ? {} : { name: checkName(flags.name) }),
    tty: flags.tty === true,
    interactive: flags.interactive === true,
    env,
    ...(flags.workdir === undefined ? {} : { workdir: checkAbsolute('--workdir', flags.workdir) }),
    ...(flags.user === undefined ? {} : { user: flags.user }),
    ...(flags.entrypoint === undefined ? {} : { entrypoint: flags.entrypoint }),
    command,
    labels: parseLabels(flags.label ?? []),
    ...(hostname === undefined ? {} : { hostname }),
    mounts,
    volumesFrom: flags.volumesFrom ?? [],
    network: parseNetwork(flags.network),
    resources,
    readOnly: flags.readOnly === true,
    capAdd: flags.capAdd ?? [],
    capDrop: flags.capDrop ?? [],
    privileged: flags.privileged === true,
    security: parseSecurityOpts(flags.securityOpt ?? []),
    ulimits: (flags.ulimit ?? []).map(parseUlimit),
    init: flags.init === true,
    restart,
    autoRemove: flags.rm === true,
    ...(flags.stopSignal === undefined ? {} : { stopSignal: parseSignal(flags.stopSignal) }),
    ...(flags.stopTimeout === undefined ? {} : { stopTimeout: parseInteger('--stop-timeout', flags.stopTimeout, -1) }),
    ...(log.maxSize === undefined ? {} : { logMaxSize: log.maxSize }),
    ...(log.maxFile === undefined ? {} : { logMaxFile: log.maxFile }),
  };
}

function checkAbsolute(flag: string, p: string): string {
  if (!p.startsWith('/')) throw invalidArgument(`invalid ${flag} "${p}": the path must be absolute`);
  return p;
}

export { parseDuration };
