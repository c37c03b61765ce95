/**
 * The parts of the OCI runtime-spec `config.json` the runtime reads, and a validator that
 * turns `unknown` (the parsed file) into them. Unknown fields are kept but ignored.
 */
import { invalidArgument } from '@berth/errors';

/** A mount of `config.json` (`mounts[]`). */
export interface OciMount {
  readonly destination: string;
  readonly source?: string;
  readonly type?: string;
  readonly options?: readonly string[];
}

/** `process.rlimits[]`. */
export interface OciRlimit {
  readonly type: string;
  readonly soft: number;
  readonly hard: number;
}

/** `process.capabilities`. */
export interface OciCapabilitySets {
  readonly bounding?: readonly string[];
  readonly effective?: readonly string[];
  readonly permitted?: readonly string[];
  readonly inheritable?: readonly string[];
  readonly ambient?: readonly string[];
}

/** `process`. */
export interface OciProcess {
  readonly terminal?: boolean;
  readonly consoleSize?: { readonly height: number; readonly width: number };
  readonly cwd: string;
  readonly env?: readonly string[];
  readonly args?: readonly string[];
  readonly rlimits?: readonly OciRlimit[];
  readonly capabilities?: OciCapabilitySets;
  readonly noNewPrivileges?: boolean;
  readonly oomScoreAdj?: number;
  readonly user: { readonly uid: number; readonly gid: number; readonly umask?: number; readonly additionalGids?: readonly number[] };
}

/** `linux.namespaces[]`. */
export interface OciNamespace {
  readonly type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';
  readonly path?: string;
}

/** `linux.uidMappings[]` / `gidMappings[]`. */
export interface OciIdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

/** `linux.devices[]`. */
export interface OciDevice {
  readonly type: string;
  readonly path: string;
  readonly major?: number;
  readonly minor?: number;
  readonly fileMode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** `linux.seccomp`. */
export interface OciSeccomp {
  readonly defaultAction: string;
  readonly defaultErrnoRet?: number;
  readonly architectures?: readonly string[];
  readonly syscalls?: readonly {
    readonly names: readonly string[];
    readonly action: string;
    readonly errnoRet?: number;
    readonly args?: readonly { readonly index: number; readonly value: number; readonly valueTwo?: number; readonly op: string }[];
  }[];
}

/** One hook (`hooks.*[]`). */
export interface OciHook {
  readonly path: string;
  readonly args?: readonly string[];
  readonly env?: readonly string[];
  readonly timeout?: number;
}

/** `linux`. */
export interface OciLinux {
  readonly namespaces?: readonly OciNamespace[];
  readonly uidMappings?: readonly OciIdMapping[];
  readonly gidMappings?: readonly OciIdMapping[];
  readonly devices?: readonly OciDevice[];
  readonly cgroupsPath?: string;
  readonly resources?: Readonly<Record<string, unknown>>;
  readonly sysctl?: Readonly<Record<string, string>>;
  readonly seccomp?: OciSeccomp;
  readonly rootfsPropagation?: string;
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
}

/** The runtime's view of `config.json`. */
export interface OciConfig {
  readonly ociVersion: string;
  readonly root: { readonly path: string; readonly readonly?: boolean };
  readonly mounts?: readonly OciMount[];
  readonly process?: OciProcess;
  readonly hostname?: string;
  readonly domainname?: string;
  readonly hooks?: Readonly<Record<string, readonly OciHook[]>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly linux?: OciLinux;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the fields the runtime relies on and returns the config typed. Throws
 * InvalidArgument naming the first bad field.
 */
export function parseConfig(raw: unknown, where = 'config.json'): OciConfig {
  const bad = (field: string, want: string) => invalidArgument(`${where}: ${field} must be ${want}`);
  if (!isObject(raw)) throw bad('the document', 'a JSON object');
  if (typeof raw['ociVersion'] !== 'string') throw bad('ociVersion', 'a string');
  const root = raw['root'];
  if (!isObject(root) || typeof root['path'] !== 'string') throw bad('root.path', 'a string');
  const proc = raw['process'];
  if (proc !== undefined) {
    if (!isObject(proc)) throw bad('process', 'an object');
    if (typeof proc['cwd'] !== 'string' || !proc['cwd'].startsWith('/')) throw bad('process.cwd', 'an absolute path');
    const user = proc['user'];
    if (!isObject(user) || typeof user['uid'] !== 'number' || typeof user['gid'] !== 'number') throw bad('process.user', 'an object with numeric uid and gid');
    const args = proc['args'];
    if (args !== undefined && (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))) throw bad('process.args', 'an array of strings');
    const env = proc['env'];
    if (env !== undefined && (!Array.isArray(env) || !env.every((a) => typeof a === 'string'))) throw bad('process.env', 'an array of strings');
  }
  const mounts = raw['mounts'];
  if (mounts !== undefined) {
    if (!Array.isArray(mounts)) throw bad('mounts', 'an array');
    mounts.forEach((m: unknown, i) => {
      if (!isObject(m) || typeof m['destination'] !== 'string') throw bad(`mounts[${i}].destination`, 'a string');
    });
  }
  const linux = raw['linux'];
  if (linux !== undefined) {
    if (!isObject(linux)) throw bad('linux', 'an object');
    const ns = linux['namespaces'];
    if (ns !== undefined) {
      if (!Array.isArray(ns)) throw bad('linux.namespaces', 'an array');
      const known = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);
      ns.forEach((n: unknown, i) => {
        if (!isObject(n) || typeof n['type'] !== 'string' || !known.has(n['type'])) throw bad(`linux.namespaces[${i}].type`, `one of ${[...known].join(', ')}`);
      });
    }
  }
  return raw as unknown as OciConfig;
}

/** Parses the `process` of `runc exec --process <file>`. */
export function parseProcess(raw: unknown, where = 'process.json'): OciProcess {
  const cfg = parseConfig({ ociVersion: '1.0.0', root: { path: '/' }, process: raw }, where);
  if (cfg.process === undefined) throw invalidArgument(`${where}: process is missing`);
  return cfg.process;
}
