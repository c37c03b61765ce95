import { invalidArgument } from '@berth/errors';

/**
 * The OCI runtime-spec `linux.resources` object (config-linux.md), the fields the cgroup
 * drivers read. Numbers are bytes, microseconds or counts as in the spec; `-1` means
 * unlimited where the spec allows it.
 */
export interface LinuxResources {
  readonly devices?: readonly LinuxDeviceCgroup[];
  readonly memory?: LinuxMemory;
  readonly cpu?: LinuxCpu;
  readonly pids?: LinuxPids;
  readonly blockIO?: LinuxBlockIO;
  readonly hugepageLimits?: readonly { readonly pageSize: string; readonly limit: number }[];
  readonly network?: { readonly classID?: number; readonly priorities?: readonly { readonly name: string; readonly priority: number }[] };
  /** cgroup v2 only: file name → value, written as given (e.g. `{"memory.high": "64M"}`). */
  readonly unified?: Readonly<Record<string, string>>;
}

/** One device-cgroup rule: `allow` or deny `type major:minor access`; absent fields mean "all". */
export interface LinuxDeviceCgroup {
  readonly allow: boolean;
  /** `a` (all), `c` or `b`. */
  readonly type?: string;
  readonly major?: number;
  readonly minor?: number;
  /** Some of `rwm`. */
  readonly access?: string;
}

export interface LinuxMemory {
  readonly limit?: number;
  readonly reservation?: number;
  /** Memory plus swap, as the spec (and cgroup v1's memsw) counts it. */
  readonly swap?: number;
  readonly kernel?: number;
  readonly kernelTCP?: number;
  readonly swappiness?: number;
  readonly disableOOMKiller?: boolean;
  readonly useHierarchy?: boolean;
  readonly checkBeforeUpdate?: boolean;
}

export interface LinuxCpu {
  readonly shares?: number;
  readonly quota?: number;
  readonly burst?: number;
  readonly period?: number;
  readonly realtimeRuntime?: number;
  readonly realtimePeriod?: number;
  readonly cpus?: string;
  readonly mems?: string;
  readonly idle?: number;
}

export interface LinuxPids {
  /** Maximum number of tasks; 0 leaves it unset, a negative value means unlimited. */
  readonly limit: number;
}

export interface LinuxBlockIO {
  readonly weight?: number;
  readonly leafWeight?: number;
  readonly weightDevice?: readonly { readonly major: number; readonly minor: number; readonly weight?: number; readonly leafWeight?: number }[];
  readonly throttleReadBpsDevice?: readonly LinuxThrottleDevice[];
  readonly throttleWriteBpsDevice?: readonly LinuxThrottleDevice[];
  readonly throttleReadIOPSDevice?: readonly LinuxThrottleDevice[];
  readonly throttleWriteIOPSDevice?: readonly LinuxThrottleDevice[];
}

export interface LinuxThrottleDevice {
  readonly major: number;
  readonly minor: number;
  readonly rate: number;
}

/** What a container's cgroup reports for `berth stats`. Limits are `null` when unlimited. */
export interface CgroupStats {
  readonly cpu: {
    /** Total CPU time consumed by the cgroup's tasks, in nanoseconds. */
    readonly usageNs: number;
    readonly userNs: number;
    readonly systemNs: number;
    /** CFS enforcement periods elapsed, how many of them throttled the cgroup, and for how long in total. */
    readonly periods: number;
    readonly throttledPeriods: number;
    readonly throttledNs: number;
  };
  readonly memory: {
    readonly usage: number;
    readonly limit: number | null;
    /** Peak usage (v1 max_usage_in_bytes, v2 memory.peak); `null` where the kernel does not keep it. */
    readonly maxUsage: number | null;
    /** Page cache charged to the cgroup (what `docker stats` subtracts from usage). */
    readonly cache: number;
    /** How many times the OOM killer killed a task of this cgroup. */
    readonly oomKills: number;
  };
  readonly pids: {
    readonly current: number;
    readonly limit: number | null;
  };
}

/**
 * runc's conversion of cgroup v1 `cpu.shares` [2, 262144] to cgroup v2 `cpu.weight`
 * [1, 10000]: linear, so the default 1024 shares become weight 39 (not 100).
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

/** runc's conversion of a blkio weight [10, 1000] to an io.weight [1, 10000]. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}

/**
 * The value of cgroup v2 `memory.swap.max` for the spec's memory+swap `swap` and memory
 * `limit` (v2 counts swap alone). Undefined when nothing should be written.
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): string | undefined {
  if (swap === undefined || swap === 0) return undefined;
  if (swap === -1) return 'max';
  if (limit === undefined || limit === -1 || limit === 0) {
    throw invalidArgument(`memory swap limit ${swap} needs a memory limit too: set both, or neither`);
  }
  if (swap < limit) throw invalidArgument(`memory+swap limit ${swap} is below the memory limit ${limit}: it must be at least as large`);
  return String(swap - limit);
}

/** The `cpu.max` line of cgroup v2 for a quota and period, or undefined when neither is set. */
export function cpuMaxV2(quota: number | undefined, period: number | undefined): string | undefined {
  if ((quota === undefined || quota === 0) && (period === undefined || period === 0)) return undefined;
  let line = quota !== undefined && quota > 0 ? String(quota) : 'max';
  if (period !== undefined && period !== 0) line += ` ${period}`;
  return line;
}

/** A v1 devices-controller line (`c 1:3 rwm`) for one rule. */
export function deviceRuleLine(rule: LinuxDeviceCgroup): string {
  const type = rule.type ?? 'a';
  if (!['a', 'b', 'c'].includes(type)) throw invalidArgument(`device rule type "${type}" is not one of a, b, c`);
  const num = (n: number | undefined, what: string): string => {
    if (n === undefined || n === -1) return '*';
    if (!Number.isInteger(n) || n < 0) throw invalidArgument(`device rule ${what} number ${n} is not a non-negative integer`);
    return String(n);
  };
  const access = rule.access ?? 'rwm';
  if (!/^[rwm]{1,3}$/.test(access)) throw invalidArgument(`device rule access "${access}" must be letters from rwm`);
  if (type === 'a') return 'a';
  return `${type} ${num(rule.major, 'major')}:${num(rule.minor, 'minor')} ${access}`;
}

/** True when the rule says "deny everything", the usual first rule of a default-deny list. */
export function isDenyAll(rule: LinuxDeviceCgroup): boolean {
  return !rule.allow && (rule.type === undefined || rule.type === 'a') && rule.major === undefined && rule.minor === undefined;
}

/** True when a rule list leaves every device reachable (empty, or ends up with "allow all"). */
export function allowsAllDevices(rules: readonly LinuxDeviceCgroup[] | undefined): boolean {
  if (rules === undefined || rules.length === 0) return true;
  const last = rules[rules.length - 1];
  return last !== undefined && last.allow && (last.type === undefined || last.type === 'a') && last.major === undefined && last.minor === undefined;
}

/**
 * The device rules a container gets by default, as runc and Docker give them: deny all,
 * then allow mknod of any char/block node (the node is still useless without a later
 * allow) and read/write of the harmless character devices.
 */
export const defaultDeviceRules: readonly LinuxDeviceCgroup[] = Object.freeze([
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
]);

/** Parses `key value` lines (memory.stat, cpu.stat, memory.events …) into numbers. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === undefined || k === '' || v === undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n)) out.set(k, n);
  }
  return out;
}

/** A limit read from a cgroup file: `max`, -1 or a v1 "unlimited" value (≥ 2^62) become null. */
export function parseLimit(text: string): number | null {
  const t = text.trim();
  if (t === '' || t === 'max' || t === '-1') return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n >= 2 ** 62) return null;
  return n;
}

/** A plain counter read from a cgroup file (0 when empty or unreadable text). */
export function parseCount(text: string): number {
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : 0;
}
