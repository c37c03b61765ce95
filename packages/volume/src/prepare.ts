/**
 * From mount requests to OCI `mounts` entries, at container create:
 *
 *   requests (-v, --mount, --tmpfs)  ┐
 *   --volumes-from (their recorded)  ├─ merge by target (explicit > volumes-from > image VOLUME)
 *   image VOLUME paths (anonymous)   ┘
 *     → volumes found or created, binds' sources checked (or made, for -v)
 *     → one transaction records the container's mounts in `volume_mounts` (the in-use marks)
 *     → copy-up of the image's content into empty volumes (unless nocopy)
 *     → OCI mounts, parents before children
 *
 * The OCI runtime performs the mounts; this module only touches the host to create
 * directories and to copy content into volumes.
 */
import {
  chownSync, copyFileSync, existsSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync,
  readdirSync, readlinkSync, chmodSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, constants,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { invalidArgument, toBerthError } from '@berth/errors';
import { write } from '@berth/layer-store/db';
import { cleanPath, type MountRequest, type Propagation } from './parse.js';
import type { Volume, VolumeStore } from './store.js';

/** One entry of the OCI runtime spec's `mounts`. */
export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  /** Mutable on purpose: assignable to the runtime spec's `mounts[].options` as it is. */
  readonly options: string[];
}

/** A mount as recorded for a container: the request with its volume resolved to a name. */
export type RecordedMount =
  | { readonly type: 'volume'; readonly name: string; readonly target: string; readonly readonly: boolean; readonly nocopy: boolean; readonly anonymous: boolean }
  | { readonly type: 'bind'; readonly source: string; readonly target: string; readonly readonly: boolean; readonly propagation: Propagation; readonly recursive: boolean }
  | { readonly type: 'tmpfs'; readonly target: string; readonly readonly: boolean; readonly size?: number; readonly mode?: number; readonly options: readonly string[] };

/** Options of {@link prepareMounts}. */
export interface PrepareOptions {
  /** Host path where the image's file tree is visible (e.g. the container's mounted rootfs): the copy-up source. */
  readonly imageRootfs?: string;
  /** The image config's `Volumes` (paths, or Docker's `{ "/path": {} }` object): each not otherwise mounted gets an anonymous volume. */
  readonly imageVolumes?: readonly string[] | Readonly<Record<string, unknown>> | null;
  /** `--volumes-from`: containers (full ids) whose recorded volumes and binds this one shares; `readonly` overrides their modes. */
  readonly volumesFrom?: readonly { readonly containerId: string; readonly readonly?: boolean }[];
}

/** What {@link prepareMounts} did. */
export interface PreparedMounts {
  /** OCI mounts, parents before children. */
  readonly mounts: readonly OciMount[];
  /** What was recorded for the container (also what `--volumes-from` of it will share). */
  readonly recorded: readonly RecordedMount[];
  /** Volumes created by this call (named ones absent before, and anonymous ones). */
  readonly createdVolumes: readonly string[];
  /** Volumes the image's content was copied into. */
  readonly copiedUp: readonly string[];
}

interface MountRow { container_id: string; destination: string; volume: string | null; spec: string }

function parseRecorded(json: string): RecordedMount {
  const v: unknown = JSON.parse(json);
  if (typeof v !== 'object' || v === null) throw invalidArgument('a recorded mount is not a JSON object');
  const t = (v as { type?: unknown }).type;
  if (t !== 'volume' && t !== 'bind' && t !== 'tmpfs') throw invalidArgument(`a recorded mount has type ${String(t)}`);
  if (typeof (v as { target?: unknown }).target !== 'string') throw invalidArgument('a recorded mount has no target');
  return v as RecordedMount;
}

/** The mounts recorded for a container (by `prepareMounts`), in target order. */
export function recordedMounts(store: VolumeStore, containerId: string): RecordedMount[] {
  const rows = store.db.prepare('SELECT * FROM volume_mounts WHERE container_id = ? ORDER BY destination').all(containerId) as MountRow[];
  return rows.map((r) => parseRecorded(r.spec));
}

function imageVolumePaths(v: PrepareOptions['imageVolumes']): string[] {
  if (v === undefined || v === null) return [];
  const paths = Array.isArray(v) ? (v as readonly string[]) : Object.keys(v);
  return paths.filter((p) => p.startsWith('/') && cleanPath(p) !== '/').map(cleanPath);
}

/**
 * Resolves every mount of a new container: creates volumes that are missing (named ones from
 * `-v name:/p`, anonymous ones from `-v /p` and the image's `VOLUME`), checks bind sources
 * (making missing ones for `-v`, refusing for `--mount`), records the container's mounts (the
 * in-use marks), copies the image's content into empty volumes, and returns OCI mounts.
 */
export function prepareMounts(store: VolumeStore, containerId: string, requests: readonly MountRequest[], options: PrepareOptions = {}): PreparedMounts {
  // Merge by target: explicit requests first (duplicates are an error), then volumes-from, then the image.
  const byTarget = new Map<string, MountRequest | RecordedMount>();
  for (const r of requests) {
    const target = cleanPath(r.target);
    if (byTarget.has(target)) throw invalidArgument(`duplicate mount point "${target}": mount one thing there`);
    byTarget.set(target, r);
  }
  for (const from of options.volumesFrom ?? []) {
    const theirs = recordedMounts(store, from.containerId);
    for (const m of theirs) {
      if (m.type === 'tmpfs' || byTarget.has(m.target)) continue;
      byTarget.set(m.target, from.readonly === undefined ? m : { ...m, readonly: from.readonly });
    }
  }
  for (const p of imageVolumePaths(options.imageVolumes)) {
    if (!byTarget.has(p)) byTarget.set(p, { type: 'volume', target: p, readonly: false, nocopy: false });
  }

  // Bind sources: `-v` makes a missing one (Docker's behaviour); `--mount` refuses it.
  for (const m of byTarget.values()) {
    if (m.type !== 'bind') continue;
    if (existsSync(m.source)) continue;
    if ('createSource' in m && m.createSource) {
      try { mkdirSync(m.source, { recursive: true, mode: 0o755 }); } catch (e) { throw toBerthError(e, `create the bind source ${m.source}`); }
    } else {
      throw invalidArgument(`bind source path does not exist: ${m.source}: create it first, or use -v (which creates it)`);
    }
  }

  const created: string[] = [];
  const recorded: RecordedMount[] = [];
  const volumes = new Map<string, Volume>();
  write(store.db, () => {
    store.db.prepare('DELETE FROM volume_mounts WHERE container_id = ?').run(containerId);
    const insert = store.db.prepare('INSERT INTO volume_mounts (container_id, destination, volume, spec) VALUES (?, ?, ?, ?)');
    for (const [target, m] of byTarget) {
      let rec: RecordedMount;
      if (m.type === 'volume') {
        const name = 'name' in m ? m.name : m.source;
        let vol = name === undefined ? undefined : store.find(name);
        if (vol === undefined) {
          const labels = 'labels' in m ? m.labels : undefined;
          const driverOptions = 'driverOptions' in m ? m.driverOptions : undefined;
          vol = store.create({ ...(name === undefined ? {} : { name }), ...(labels === undefined ? {} : { labels }), ...(driverOptions === undefined ? {} : { options: driverOptions }) });
          created.push(vol.name);
        }
        volumes.set(vol.name, vol);
        rec = { type: 'volume', name: vol.name, target, readonly: m.readonly, nocopy: m.nocopy, anonymous: vol.anonymous };
      } else if (m.type === 'bind') {
        rec = { type: 'bind', source: m.source, target, readonly: m.readonly, propagation: m.propagation, recursive: m.recursive };
      } else {
        rec = {
          type: 'tmpfs', target, readonly: m.readonly, options: m.options,
          ...(m.size === undefined ? {} : { size: m.size }), ...(m.mode === undefined ? {} : { mode: m.mode }),
        };
      }
      insert.run(containerId, target, rec.type === 'volume' ? rec.name : null, JSON.stringify(rec));
      recorded.push(rec);
    }
  });

  const copiedUp: string[] = [];
  if (options.imageRootfs !== undefined) {
    for (const rec of recorded) {
      if (rec.type !== 'volume' || rec.nocopy) continue;
      const vol = volumes.get(rec.name);
      if (vol === undefined || Object.keys(vol.options).length > 0) continue; // a tmpfs/bind/device volume has no _data to fill
      // Someone else has the (empty) _data mounted: fill it in place so they see the content too.
      const inPlace = store.users(vol.name).some((u) => u !== containerId);
      if (copyUp(options.imageRootfs, rec.target, vol.mountpoint, { inPlace })) copiedUp.push(vol.name);
    }
  }

  const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length);
  const sorted = [...recorded].sort((a, b) => depth(a.target) - depth(b.target) || (a.target < b.target ? -1 : 1));
  const mounts = sorted.map((r) => ociMount(r, (name) => volumes.get(name) ?? store.get(name)));
  return { mounts, recorded: sorted, createdVolumes: created, copiedUp };
}

/** The OCI mount of a recorded mount. */
export function ociMount(r: RecordedMount, volume: (name: string) => Volume): OciMount {
  const mode = r.readonly ? 'ro' : 'rw';
  switch (r.type) {
    case 'bind':
      return { destination: r.target, type: 'bind', source: r.source, options: [r.recursive ? 'rbind' : 'bind', r.propagation, mode] };
    case 'tmpfs': {
      const given = new Set(r.options);
      const defaults = [['nosuid', 'suid'], ['nodev', 'dev'], ['noexec', 'exec']].filter(([on, off]) => !given.has(on as string) && !given.has(off as string)).map(([on]) => on as string);
      return {
        destination: r.target, type: 'tmpfs', source: 'tmpfs',
        options: [
          ...defaults, ...r.options,
          ...(r.size === undefined ? [] : [`size=${r.size}`]),
          ...(r.mode === undefined ? [] : [`mode=${r.mode.toString(8)}`]),
          mode,
        ],
      };
    }
    case 'volume': {
      const v = volume(r.name);
      const type = v.options['type'];
      const o = (v.options['o'] ?? '').split(',').filter((x) => x !== '');
      if (type === undefined) return { destination: r.target, type: 'bind', source: v.mountpoint, options: ['rbind', 'rprivate', mode] };
      if (type === 'none' || o.includes('bind') || o.includes('rbind')) {
        const rest = o.filter((x) => x !== 'bind' && x !== 'rbind' && x !== 'ro' && x !== 'rw');
        return { destination: r.target, type: 'bind', source: v.options['device'] ?? v.mountpoint, options: ['rbind', 'rprivate', ...rest, mode] };
      }
      const rest = o.filter((x) => x !== 'ro' && x !== 'rw');
      return { destination: r.target, type, source: v.options['device'] ?? type, options: [...rest, r.readonly || o.includes('ro') ? 'ro' : 'rw'] };
    }
  }
}

/**
 * Drops a removed container's mount records. With `removeAnonymous` (`rm -v`), its anonymous
 * volumes that no other container uses are removed too; named volumes are never removed here.
 */
export function releaseMounts(store: VolumeStore, containerId: string, options: { readonly removeAnonymous?: boolean } = {}): { readonly removed: readonly string[] } {
  const names = write(store.db, () => {
    const rows = store.db.prepare('SELECT * FROM volume_mounts WHERE container_id = ? AND volume IS NOT NULL').all(containerId) as MountRow[];
    store.db.prepare('DELETE FROM volume_mounts WHERE container_id = ?').run(containerId);
    return [...new Set(rows.map((r) => r.volume as string))];
  });
  const removed: string[] = [];
  if (options.removeAnonymous) {
    for (const n of names) {
      const v = store.find(n);
      if (v === undefined || !v.anonymous) continue;
      try { if (store.remove(n, { force: true })) removed.push(n); } catch { /* shared through --volumes-from: keep it */ }
    }
  }
  return { removed };
}

const maxHops = 40;

/**
 * Resolves `path` inside `root` as the container would see it: symlinks (absolute ones from
 * `root`) and `..` never leave `root`. Returns undefined when a component is missing.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  const todo = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift() as string;
    if (part === '..') { done.pop(); continue; }
    const host = join(root, ...done, part);
    let st;
    try { st = lstatSync(host); } catch { return undefined; }
    if (st.isSymbolicLink()) {
      if (++hops > maxHops) return undefined;
      const target = readlinkSync(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

function isEmptyDir(dir: string): boolean {
  try { return readdirSync(dir).length === 0; } catch { return false; }
}

/**
 * Docker's copy-up: when `volumeData` is empty and the image has a directory at `target`, copies
 * its content (owners, modes, times, symlinks, hard links kept) and gives `volumeData` the
 * directory's owner and mode. Returns true when it copied.
 *
 * The copy is built beside `volumeData` and renamed over it (rename(2) replaces an empty
 * directory atomically): a crash mid-copy leaves `_data` empty, so the next use copies again,
 * and of two containers copying at once one wins whole. With `inPlace` (another container
 * already has `volumeData` mounted, so its inode must stay) the copy goes straight into it.
 */
export function copyUp(imageRootfs: string, target: string, volumeData: string, options: { readonly inPlace?: boolean } = {}): boolean {
  if (!isEmptyDir(volumeData)) return false;
  const src = resolveInRoot(imageRootfs, target);
  if (src === undefined) return false;
  const st = statSync(src);
  if (!st.isDirectory()) return false;
  const dst = options.inPlace ? volumeData : `${volumeData}.copyup-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    if (!options.inPlace) mkdirSync(dst, { mode: 0o700 });
    copyTree(src, dst, new Map());
    chownSync(dst, st.uid, st.gid);
    chmodSync(dst, st.mode & 0o7777);
    if (options.inPlace) return true;
    try {
      renameSync(dst, volumeData);
    } catch (e) {
      // Another copy-up won the race (or the volume was written meanwhile): keep what is there.
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') { rmSync(dst, { recursive: true, force: true }); return false; }
      throw e;
    }
    return true;
  } catch (e) {
    if (!options.inPlace) rmSync(dst, { recursive: true, force: true });
    throw toBerthError(e, `copy the image's ${target} into the volume at ${volumeData}`);
  }
}

function copyTree(src: string, dst: string, links: Map<string, string>): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    const st = lstatSync(s);
    if (st.isDirectory()) {
      mkdirSync(d, { mode: 0o700 });
      copyTree(s, d, links);
      chownSync(d, st.uid, st.gid);
      chmodSync(d, st.mode & 0o7777);
      utimesSync(d, st.atime, st.mtime);
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(s), d);
      lchownSync(d, st.uid, st.gid);
      lutimesSync(d, st.atime, st.mtime);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) { linkSync(first, d); continue; }
      copyFileSync(s, d, constants.COPYFILE_EXCL);
      // chown before chmod: chown clears set-id bits.
      chownSync(d, st.uid, st.gid);
      chmodSync(d, st.mode & 0o7777);
      utimesSync(d, st.atime, st.mtime);
      if (st.nlink > 1) links.set(key, d);
    }
    // Device nodes, fifos and sockets are not copied: Node has no mknod, and images rarely keep them in volumes.
  }
}
