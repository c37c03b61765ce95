/**
 * Parsers for the small value grammars of `berth run` flags: sizes (`64m`, `1g`), CPU
 * counts (`1.5`), ulimits (`nofile=1024:2048`), restart policies (`on-failure:3`),
 * signals (`SIGTERM`, `15`), durations (`10s`). Each returns a plain value or throws an
 * InvalidArgument BerthError that names the flag and says what a good value looks like.
 */
import { invalidArgument } from '@berth/errors';
import { constants } from 'node:os';

const sizeUnits: Readonly<Record<string, number>> = {
  '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4,
};

/** Parses a byte size like Docker (`RAMInBytes`): `64m`, `1g`, `512k`, `1024` (binary units). */
export function parseBytes(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? sizeUnits[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw invalidArgument(`invalid size "${value}" for ${flag}: use a number with an optional unit b, k, m or g (e.g. 64m)`);
  }
  return Math.floor(Number(m[1]) * unit);
}

/** Parses `--memory-swap`: a size, or -1 for unlimited swap. */
export function parseSwap(value: string): number {
  return value.trim() === '-1' ? -1 : parseBytes('--memory-swap', value);
}

/** Parses `--cpus 1.5` into a CFS quota over a 100 ms period. */
export function parseCpus(value: string): { readonly quota: number; readonly period: number } {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw invalidArgument(`invalid value "${value}" for --cpus: use a positive number of CPUs, e.g. 0.5 or 2`);
  }
  const period = 100_000;
  return { quota: Math.round(n * period), period };
}

/** Parses a non-negative integer flag value. */
export function parseInteger(flag: string, value: string, min = 0): number {
  if (!/^-?\d+$/.test(value.trim()) || Number(value) < min) {
    throw invalidArgument(`invalid value "${value}" for ${flag}: use an integer ≥ ${min}`);
  }
  return Number(value);
}

/** Parses `--cpuset-cpus`: `0-3`, `0,2`, `1`. */
export function parseCpuset(value: string): string {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(value)) {
    throw invalidArgument(`invalid value "${value}" for --cpuset-cpus: use a list like 0-3 or 0,2`);
  }
  return value;
}

/** The rlimit names `--ulimit` accepts, with their OCI type. */
const ulimitTypes: Readonly<Record<string, string>> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

/** One process resource limit, as in the OCI runtime spec. */
export interface Rlimit {
  readonly type: string;
  readonly soft: number;
  readonly hard: number;
}

/** Parses `--ulimit name=soft[:hard]` (`-1` = unlimited). */
export function parseUlimit(value: string): Rlimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value.trim());
  const type = m ? ulimitTypes[m[1] ?? ''] : undefined;
  if (!m || type === undefined) {
    throw invalidArgument(`invalid --ulimit "${value}": use name=soft[:hard] with name one of ${Object.keys(ulimitTypes).join(', ')}`);
  }
  const num = (s: string): number => (s === '-1' ? Number.MAX_SAFE_INTEGER : Number(s));
  const soft = num(m[2] ?? '');
  const hard = m[3] === undefined ? soft : num(m[3]);
  if (soft > hard) throw invalidArgument(`invalid --ulimit "${value}": the soft limit ${soft} is above the hard limit ${hard}`);
  return { type, soft, hard };
}

/** Reads the hard limits of this process from a /proc/<pid>/limits text, keyed by OCI type. */
export function parseProcLimits(text: string): Readonly<Record<string, number>> {
  const names: Readonly<Record<string, string>> = {
    'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
    'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
    'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
    'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
    'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO',
    'Max realtime timeout': 'RLIMIT_RTTIME',
  };
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const type = m ? names[m[1] ?? ''] : undefined;
    if (!m || type === undefined) continue;
    out[type] = m[3] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[3]);
  }
  return out;
}

/** A restart policy (`--restart`). */
export interface RestartPolicy {
  readonly name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** For on-failure: how many restarts at most (0 = unbounded). */
  readonly maxRetries: number;
}

/** Parses `--restart no|on-failure[:N]|always|unless-stopped`. */
export function parseRestart(value: string): RestartPolicy {
  const m = /^(no|on-failure|always|unless-stopped)(?::(\d+))?$/.exec(value);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw invalidArgument(`invalid --restart "${value}": use no, on-failure[:max-retries], always or unless-stopped`);
  }
  return { name: m[1] as RestartPolicy['name'], maxRetries: m[2] === undefined ? 0 : Number(m[2]) };
}

/** Parses a signal name or number (`SIGTERM`, `TERM`, `15`) to its number. */
export function parseSignal(value: string): number {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`;
    const n = (constants.signals as Readonly<Record<string, number | undefined>>)[name];
    if (n !== undefined) return n;
  }
  throw invalidArgument(`invalid signal "${value}": use a name like SIGTERM or a number like 15`);
}

/** The name of a signal number (`15` → `SIGTERM`), or its number as text. */
export function signalName(n: number): string {
  for (const [name, v] of Object.entries(constants.signals)) if (v === n) return name;
  return String(n);
}

/** Parses a duration: `10s`, `1m30s`, `500ms`, `2h`, or a plain number of seconds. Returns milliseconds. */
export function parseDuration(flag: string, value: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    at = re.lastIndex;
  }
  if (at !== value.length || value === '') {
    throw invalidArgument(`invalid duration "${value}" for ${flag}: use e.g. 10s, 1m30s or 500ms`);
  }
  return total;
}
