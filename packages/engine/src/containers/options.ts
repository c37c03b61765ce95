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
import {
  parseMountFlag, parseMountFlags, parseTmpfsFlag, parseVolumeFlag, parseVolumesFromFlag, type MountRequest as VolumeMountRequest,
} from '@berth/volume';

/** A mount the user asked for (`-v`, `--mount`, `--tmpfs`): @berth/volume's request. */
export type MountRequest = VolumeMountRequest;

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

/** Parses `-v src:dst[:opts]` (@berth/volume's parser, kept here for the flag tests). */
export const parseVolume = parseVolumeFlag;
/** Parses `--mount type=bind|volume|tmpfs,source=…,target=…[,…]`. */
export const parseMount = parseMountFlag;
/** Parses `--tmpfs /path[:opts]`. */
export const parseTmpfs = parseTmpfsFlag;

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
  const mounts = parseMountFlags({
    ...(flags.volume === undefined ? {} : { volume: flags.volume }),
    ...(flags.mount === undefined ? {} : { mount: flags.mount }),
    ...(flags.tmpfs === undefined ? {} : { tmpfs: flags.tmpfs }),
  });
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
    volumesFrom: (flags.volumesFrom ?? []).map((v) => { parseVolumesFromFlag(v); return v; }),
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
