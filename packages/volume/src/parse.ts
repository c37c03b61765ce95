/**
 * Pure parsers of the mount flags of `berth run`/`create`: `-v`, `--mount`, `--tmpfs`,
 * `--volumes-from`, each into a typed {@link MountRequest}, with Docker's rules and errors a
 * person can act on. No file system access here: whether a bind source exists is decided by
 * `prepareMounts`.
 */
import { invalidArgument } from '@berth/errors';
import { checkVolumeName } from './store.js';

/** Mount propagation of a bind (`-v …:rshared`, `bind-propagation=`). */
export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
const propagations: ReadonlySet<string> = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

/** A named or anonymous volume at `target`. */
export interface VolumeMountRequest {
  readonly type: 'volume';
  /** The volume's name; absent for an anonymous volume (`-v /path`, image `VOLUME`). */
  readonly source?: string;
  readonly target: string;
  readonly readonly: boolean;
  /** Do not copy the image's content at `target` into an empty volume. */
  readonly nocopy: boolean;
  /** Labels and driver options for a volume this mount creates (`volume-label=`, `volume-opt=`). */
  readonly labels?: Readonly<Record<string, string>>;
  readonly driverOptions?: Readonly<Record<string, string>>;
}

/** A host path bound at `target`. */
export interface BindMountRequest {
  readonly type: 'bind';
  /** Absolute host path. */
  readonly source: string;
  readonly target: string;
  readonly readonly: boolean;
  /** `-v` creates a missing host path (Docker's behaviour); `--mount` refuses it. */
  readonly createSource: boolean;
  readonly propagation: Propagation;
  /** false for `bind-nonrecursive=true`: submounts of the source are not bound. */
  readonly recursive: boolean;
}

/** A fresh tmpfs at `target`. */
export interface TmpfsMountRequest {
  readonly type: 'tmpfs';
  readonly target: string;
  readonly readonly: boolean;
  /** Size in bytes; absent means the kernel's default (half of RAM). */
  readonly size?: number;
  /** Mode of the tmpfs root, e.g. 0o1777. */
  readonly mode?: number;
  /** Other mount options (`noexec`, `uid=1000` …) as given. */
  readonly options: readonly string[];
}

/** One mount a user or an image asked for. */
export type MountRequest = VolumeMountRequest | BindMountRequest | TmpfsMountRequest;

/** `--volumes-from container[:ro|rw]`. */
export interface VolumesFromRequest {
  readonly container: string;
  /** undefined keeps each mount's own mode. */
  readonly readonly?: boolean;
}

function checkTarget(flag: string, value: string, target: string | undefined): string {
  if (target === undefined || target === '') throw invalidArgument(`invalid ${flag} "${value}": the container path (target) is missing`);
  if (!target.startsWith('/')) throw invalidArgument(`invalid ${flag} "${value}": the container path "${target}" must be absolute`);
  const clean = cleanPath(target);
  if (clean === '/') throw invalidArgument(`invalid ${flag} "${value}": the container path cannot be "/"`);
  return clean;
}

/** Lexically cleans an absolute path: no `.`, `..`, doubled or trailing slashes. */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

function checkHostPath(flag: string, value: string, source: string): string {
  if (!source.startsWith('/')) {
    throw invalidArgument(`invalid ${flag} "${value}": the host path "${source}" is relative: use an absolute path (e.g. "$PWD/${source.replace(/^\.\//, '')}")`);
  }
  return cleanPath(source);
}

/**
 * Parses `-v`/`--volume`: `/container/path` (anonymous volume), `name:/path[:opts]` (named
 * volume, created if absent), `/host/path:/path[:opts]` (bind; a missing host path is created).
 * Options, comma-separated: `ro`, `rw`, `nocopy`, a propagation (`rshared` …), `z`/`Z` (accepted,
 * no SELinux here), `consistent`/`cached`/`delegated` (accepted, no meaning on Linux).
 */
export function parseVolumeFlag(value: string): MountRequest {
  if (value === '') throw invalidArgument('invalid -v "": the volume specification is empty: use [name|/host/path:]/container/path[:ro]');
  const parts = value.split(':');
  if (parts.length > 3) throw invalidArgument(`invalid -v "${value}": too many ":" separators: use [name|/host/path:]/container/path[:options]`);
  let source: string | undefined;
  let target: string | undefined;
  let opts = '';
  if (parts.length === 1) target = parts[0];
  else if (parts.length === 2) {
    // "/data:ro" is a mode on an anonymous volume, which Docker refuses; so do we, clearly.
    if (parts[0]?.startsWith('/') && !parts[1]?.startsWith('/') && /^[a-zA-Z,]+$/.test(parts[1] ?? '')) {
      throw invalidArgument(`invalid -v "${value}": an anonymous volume takes no options: name it (myvol:${parts[0]}:${parts[1]}) or use --mount`);
    }
    [source, target] = parts;
  } else [source, target, opts = ''] = parts;
  if (source === '') throw invalidArgument(`invalid -v "${value}": the source before ":" is empty`);
  const dst = checkTarget('-v', value, target);

  let readonly = false;
  let nocopy = false;
  let propagation: Propagation | undefined;
  let sawMode = false;
  for (const o of opts === '' ? [] : opts.split(',')) {
    if (o === 'ro' || o === 'rw') {
      if (sawMode) throw invalidArgument(`invalid -v "${value}": give ro or rw once`);
      sawMode = true;
      readonly = o === 'ro';
    } else if (o === 'nocopy') nocopy = true;
    else if (propagations.has(o)) propagation = o as Propagation;
    else if (o === 'z' || o === 'Z' || o === 'consistent' || o === 'cached' || o === 'delegated') continue;
    else throw invalidArgument(`invalid -v "${value}": unknown option "${o}": use ro, rw, nocopy, z, Z or a propagation (rprivate, rshared, rslave …)`);
  }

  if (source === undefined) return { type: 'volume', target: dst, readonly, nocopy };
  if (source.startsWith('/')) {
    if (nocopy) throw invalidArgument(`invalid -v "${value}": nocopy applies to volumes, not to a host path`);
    return { type: 'bind', source: checkHostPath('-v', value, source), target: dst, readonly, createSource: true, propagation: propagation ?? 'rprivate', recursive: true };
  }
  if (source.startsWith('.') || source.includes('/') || source.startsWith('~')) checkHostPath('-v', value, source);
  try {
    checkVolumeName(source);
  } catch {
    throw invalidArgument(`invalid -v "${value}": "${source}" is neither a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+) nor an absolute host path`);
  }
  if (propagation !== undefined) throw invalidArgument(`invalid -v "${value}": propagation "${propagation}" applies to a host path, not to a volume`);
  return { type: 'volume', source, target: dst, readonly, nocopy };
}

function parseBool(flag: string, value: string, key: string, v: string | undefined): boolean {
  if (v === undefined) return true;
  switch (v.toLowerCase()) {
    case '1': case 'true': return true;
    case '0': case 'false': return false;
    default: throw invalidArgument(`invalid ${flag} "${value}": ${key}=${v} is not a boolean: use true or false`);
  }
}

/** Docker's byte sizes: `64m`, `1g`, `512k`, `100b`, `1024` (binary units, case-insensitive). */
export function parseSize(what: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (m === null) throw invalidArgument(`invalid ${what} "${v}": use a size like 64m, 1g or 1048576`);
  const exp = ['', 'k', 'm', 'g', 't', 'p'].indexOf((m[2] ?? '').toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

function parseMode(what: string, v: string): number {
  if (!/^[0-7]{1,4}$/.test(v)) throw invalidArgument(`invalid ${what} "${v}": use an octal mode like 1777 or 0755`);
  return parseInt(v, 8);
}

function keyValue(flag: string, value: string, key: string, v: string | undefined): [string, string] {
  const i = (v ?? '').indexOf('=');
  if (v === undefined || i <= 0) throw invalidArgument(`invalid ${flag} "${value}": ${key} needs key=value`);
  return [v.slice(0, i), v.slice(i + 1)];
}

/**
 * Parses `--mount type=volume|bind|tmpfs,source=…,target=…[,readonly][,volume-nocopy]
 * [,volume-label=k=v][,volume-opt=k=v][,bind-propagation=…][,bind-nonrecursive]
 * [,tmpfs-size=…][,tmpfs-mode=…]`. A bind's source must exist (checked at prepare time).
 */
export function parseMountFlag(value: string): MountRequest {
  const flag = '--mount';
  const kv = new Map<string, string | undefined>();
  const labels: Record<string, string> = {};
  const driverOptions: Record<string, string> = {};
  for (const field of value.split(',')) {
    if (field === '') continue;
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? undefined : field.slice(i + 1);
    if (key === 'volume-label') { const [a, b] = keyValue(flag, value, key, v); labels[a] = b; continue; }
    if (key === 'volume-opt') { const [a, b] = keyValue(flag, value, key, v); driverOptions[a] = b; continue; }
    const canon = ({ src: 'source', dst: 'target', destination: 'target', ro: 'readonly' } as Record<string, string>)[key] ?? key;
    if (!known.has(canon)) throw invalidArgument(`invalid ${flag} "${value}": unknown key "${key}": use type, source, target, readonly, volume-*, bind-* or tmpfs-*`);
    if (kv.has(canon)) throw invalidArgument(`invalid ${flag} "${value}": ${canon} given twice`);
    if (v === undefined && !booleans.has(canon)) throw invalidArgument(`invalid ${flag} "${value}": ${key} needs a value (${key}=…)`);
    kv.set(canon, v);
  }
  const type = kv.get('type') ?? 'volume';
  if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') throw invalidArgument(`invalid ${flag} "${value}": type "${type}" is not supported: use volume, bind or tmpfs`);
  const target = checkTarget(flag, value, kv.get('target'));
  const readonly = kv.has('readonly') ? parseBool(flag, value, 'readonly', kv.get('readonly')) : false;
  const source = kv.get('source');
  const hasVolumeOpts = kv.has('volume-nocopy') || kv.has('volume-driver') || Object.keys(labels).length > 0 || Object.keys(driverOptions).length > 0;
  const hasBindOpts = kv.has('bind-propagation') || kv.has('bind-nonrecursive');
  const hasTmpfsOpts = kv.has('tmpfs-size') || kv.has('tmpfs-mode');
  const mix = (opts: boolean, kind: string): void => {
    if (opts) throw invalidArgument(`invalid ${flag} "${value}": ${kind}-* options do not apply to a mount of type ${type}`);
  };

  switch (type) {
    case 'bind': {
      mix(hasVolumeOpts, 'volume'); mix(hasTmpfsOpts, 'tmpfs');
      if (source === undefined || source === '') throw invalidArgument(`invalid ${flag} "${value}": a bind mount needs source=<absolute host path>`);
      const p = kv.get('bind-propagation') ?? 'rprivate';
      if (!propagations.has(p)) throw invalidArgument(`invalid ${flag} "${value}": bind-propagation "${p}" is not one of ${[...propagations].join(', ')}`);
      return {
        type: 'bind', source: checkHostPath(flag, value, source), target, readonly, createSource: false,
        propagation: p as Propagation, recursive: !(kv.has('bind-nonrecursive') && parseBool(flag, value, 'bind-nonrecursive', kv.get('bind-nonrecursive'))),
      };
    }
    case 'tmpfs': {
      mix(hasVolumeOpts, 'volume'); mix(hasBindOpts, 'bind');
      if (source !== undefined && source !== '') throw invalidArgument(`invalid ${flag} "${value}": a tmpfs mount takes no source`);
      const size = kv.get('tmpfs-size');
      const mode = kv.get('tmpfs-mode');
      return {
        type: 'tmpfs', target, readonly, options: [],
        ...(size === undefined ? {} : { size: parseSize(`${flag} tmpfs-size`, size) }),
        ...(mode === undefined ? {} : { mode: parseMode(`${flag} tmpfs-mode`, mode) }),
      };
    }
    default: {
      mix(hasBindOpts, 'bind'); mix(hasTmpfsOpts, 'tmpfs');
      const driver = kv.get('volume-driver');
      if (driver !== undefined && driver !== 'local') throw invalidArgument(`invalid ${flag} "${value}": volume-driver "${driver}" is not supported: use local`);
      if (source !== undefined && source !== '') {
        if (source.startsWith('/') || source.startsWith('.')) throw invalidArgument(`invalid ${flag} "${value}": source "${source}" is a path: use type=bind for a host path`);
        try { checkVolumeName(source); } catch {
          throw invalidArgument(`invalid ${flag} "${value}": "${source}" is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)`);
        }
      }
      const nocopy = kv.has('volume-nocopy') && parseBool(flag, value, 'volume-nocopy', kv.get('volume-nocopy'));
      return {
        type: 'volume', target, readonly, nocopy,
        ...(source === undefined || source === '' ? {} : { source }),
        ...(Object.keys(labels).length === 0 ? {} : { labels }),
        ...(Object.keys(driverOptions).length === 0 ? {} : { driverOptions }),
      };
    }
  }
}

const known: ReadonlySet<string> = new Set([
  'type', 'source', 'target', 'readonly', 'consistency', 'volume-nocopy', 'volume-driver',
  'bind-propagation', 'bind-nonrecursive', 'tmpfs-size', 'tmpfs-mode',
]);
const booleans: ReadonlySet<string> = new Set(['readonly', 'volume-nocopy', 'bind-nonrecursive']);

/** tmpfs options `--tmpfs` passes on to mount(2) as they are. */
const tmpfsFlags: ReadonlySet<string> = new Set([
  'ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'relatime', 'norelatime',
  'strictatime', 'nostrictatime', 'diratime', 'nodiratime', 'sync', 'async', 'dirsync', 'mand', 'nomand',
]);
const tmpfsValued: ReadonlySet<string> = new Set(['uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol', 'huge']);

/** Parses `--tmpfs /path[:size=64m,mode=1777,noexec,uid=1000 …]`. */
export function parseTmpfsFlag(value: string): TmpfsMountRequest {
  const flag = '--tmpfs';
  const i = value.indexOf(':');
  const target = checkTarget(flag, value, i < 0 ? value : value.slice(0, i));
  let readonly = false;
  let size: number | undefined;
  let mode: number | undefined;
  const options: string[] = [];
  for (const o of i < 0 ? [] : value.slice(i + 1).split(',')) {
    if (o === '') continue;
    const eq = o.indexOf('=');
    const k = eq < 0 ? o : o.slice(0, eq);
    const v = eq < 0 ? undefined : o.slice(eq + 1);
    if (k === 'size' && v !== undefined) size = parseSize(`${flag} size`, v);
    else if (k === 'mode' && v !== undefined) mode = parseMode(`${flag} mode`, v);
    else if ((k === 'ro' || k === 'rw') && v === undefined) readonly = k === 'ro';
    else if (v === undefined && tmpfsFlags.has(k)) options.push(k);
    else if (v !== undefined && tmpfsValued.has(k) && v !== '') options.push(o);
    else throw invalidArgument(`invalid ${flag} "${value}": unknown tmpfs option "${o}": use size=, mode=, uid=, gid=, nr_inodes=, ro, noexec, nosuid, nodev …`);
  }
  return { type: 'tmpfs', target, readonly, options, ...(size === undefined ? {} : { size }), ...(mode === undefined ? {} : { mode }) };
}

/** Parses `--volumes-from container[:ro|rw]`. */
export function parseVolumesFromFlag(value: string): VolumesFromRequest {
  const [container = '', mode, extra] = value.split(':');
  if (container === '' || extra !== undefined) throw invalidArgument(`invalid --volumes-from "${value}": use container[:ro|rw]`);
  if (mode === undefined) return { container };
  if (mode !== 'ro' && mode !== 'rw') throw invalidArgument(`invalid --volumes-from "${value}": mode "${mode}" is not ro or rw`);
  return { container, readonly: mode === 'ro' };
}

/** The mount flags of `run`/`create`, as the CLI collects them. */
export interface MountFlags {
  readonly volume?: readonly string[];
  readonly mount?: readonly string[];
  readonly tmpfs?: readonly string[];
}

/**
 * Parses all mount flags of one container (`-v`, then `--mount`, then `--tmpfs`) and refuses two
 * mounts at one target, so every error shows before anything is created.
 */
export function parseMountFlags(flags: MountFlags): MountRequest[] {
  const all: MountRequest[] = [
    ...(flags.volume ?? []).map(parseVolumeFlag),
    ...(flags.mount ?? []).map(parseMountFlag),
    ...(flags.tmpfs ?? []).map(parseTmpfsFlag),
  ];
  const seen = new Set<string>();
  for (const m of all) {
    if (seen.has(m.target)) throw invalidArgument(`duplicate mount point "${m.target}": mount one thing there`);
    seen.add(m.target);
  }
  return all;
}
