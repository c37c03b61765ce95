/**
 * The init layer (Docker's `<id>-init`): mount points a runtime needs, mounted as the topmost
 * lower dir. They then exist in a read-only rootfs too, and the container's diff never lists them.
 *
 * Parent directories it has to make copy the image's mode, owner and times (overlayfs shows a
 * directory's attributes from its topmost layer, so a plain 0755 `etc/` here would change the
 * image's `/etc`); its root copies the image's root.
 *
 * Its content depends only on the image's layers and the entries, so unlike Docker's it is made
 * once per image and shared, read-only, by every container of it: `$root/overlay/init/<name>/`,
 * named by an FNV-1a of both, with `<name>.json` beside it recording them. Making one was most
 * of a prepare (a few dozen lookups, mkdirs, chowns and times: 3-10 ms of a `berth run`). It is
 * made in a temp dir and renamed into place, so no process ever sees half of one; two processes
 * making it at once both succeed, one of the two copies stays. A name whose record names another
 * image (a clash) is not used: that container gets its own, in `containers/<key>/init/`.
 * {@link pruneInitLayers} removes the layers of images whose layer dirs are gone.
 *
 * A few dozen tiny fs calls, made on the calling thread: a thread-pool round trip per call would
 * cost a one-shot CLI more than the calls themselves.
 */
import { chmodSync, existsSync, lchownSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { copyTimes } from './times.js';
import { join, posix } from 'node:path';
import { invalidArgument, toBerthError } from '@berth/errors';
import type { InitEntry, SnapshotterSys } from './types.js';
import { LowerView } from './lower.js';
import { fnv1a64, initLayersDir, writeFileAtomic } from './layout.js';

/** Docker's init layer entries (without `/.dockerenv`). */
export const defaultInitEntries: readonly InitEntry[] = [
  { path: '/dev/pts', kind: 'dir' },
  { path: '/dev/shm', kind: 'dir' },
  { path: '/proc', kind: 'dir' },
  { path: '/sys', kind: 'dir' },
  { path: '/dev/console', kind: 'file' },
  { path: '/etc/hosts', kind: 'file' },
  { path: '/etc/hostname', kind: 'file' },
  { path: '/etc/resolv.conf', kind: 'file' },
  { path: '/etc/mtab', kind: 'symlink', target: '/proc/mounts' },
];

/** Checks init entries: absolute, normalized paths below `/`; symlinks have a target. */
export function checkInitEntries(entries: readonly InitEntry[]): void {
  for (const e of entries) {
    if (!e.path.startsWith('/') || posix.normalize(e.path) !== e.path || e.path === '/' || e.path.endsWith('/') || e.path.split('/').includes('..')) {
      throw invalidArgument(`init entry "${e.path}" must be a normalized absolute path below /`);
    }
    if (e.kind === 'symlink' && (e.target === undefined || e.target === '')) throw invalidArgument(`init entry "${e.path}": a symlink needs a target`);
  }
}

function copyAttrs(path: string, st: BigIntStats): void {
  lchownSync(path, Number(st.uid), Number(st.gid));
  chmodSync(path, Number(st.mode & 0o7777n));
}

/** Makes the init layer in `dir` over the image `lowerDirs` (topmost first). */
export async function makeInitLayer(sys: SnapshotterSys, dir: string, lowerDirs: readonly string[], entries: readonly InitEntry[]): Promise<void> {
  const view = new LowerView(sys, lowerDirs);
  const times: Array<{ path: string; from: string }> = [];
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const root = view.root();
    if (root !== undefined) {
      copyAttrs(dir, root.stat);
      times.push({ path: dir, from: root.path });
    }
    const made = new Set<string>();
    entries: for (const e of entries) {
      const parts = e.path.split('/').filter((s) => s !== '');
      for (let i = 1; i < parts.length; i++) {
        const rel = `/${parts.slice(0, i).join('/')}`;
        if (made.has(rel)) continue;
        const le = view.lookup(rel);
        if (le !== undefined && !le.stat.isDirectory()) continue entries; // e.g. /etc is a symlink: not ours to shadow
        const p = join(dir, rel);
        mkdirSync(p, { mode: 0o755 });
        if (le !== undefined) {
          copyAttrs(p, le.stat);
          times.push({ path: p, from: le.path });
        }
        made.add(rel);
      }
      if (made.has(e.path) || view.lookup(e.path) !== undefined) continue;
      const p = join(dir, e.path);
      if (e.kind === 'dir') mkdirSync(p, { mode: 0o755 });
      else if (e.kind === 'file') writeFileSync(p, '', { mode: 0o644 });
      else symlinkSync(e.target ?? '', p);
      made.add(e.path);
    }
    // Deepest first: making a child changes its parent's times.
    for (const t of times.sort((a, b) => b.path.length - a.path.length)) await copyTimes(sys, t.from, t.path);
  } catch (e) {
    throw toBerthError(e, `make init layer ${dir}`);
  }
}

/** Sequence of this process's temp dirs. */
let tmpSeq = 0;

/**
 * The shared init layer of the image `lowerDirs` (topmost first) with `entries`, made when
 * missing; undefined when its name is taken by another image's (see the top of this file).
 */
export async function sharedInitLayer(sys: SnapshotterSys, root: string, lowerDirs: readonly string[], entries: readonly InitEntry[]): Promise<string | undefined> {
  const record = JSON.stringify({ lowerDirs, entries });
  const dir = join(initLayersDir(root), fnv1a64(record));
  const recorded = readOrUndefined(`${dir}.json`);
  if (recorded !== undefined && recorded !== record) return undefined;
  if (recorded !== undefined && existsSync(dir)) return dir;
  mkdirSync(initLayersDir(root), { recursive: true, mode: 0o700 });
  // Named by pid and sequence: one of that name is left by a crashed process that had our pid.
  const tmp = `${dir}.tmp-${process.pid}-${tmpSeq++}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await makeInitLayer(sys, tmp, lowerDirs, entries);
    // The record first: a layer dir always has one (pruneInitLayers reads it).
    writeFileAtomic(`${dir}.json`, record, { durable: false });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(dir)) return dir; // another process made it first
    throw toBerthError(e, `make init layer ${dir}`);
  }
  return dir;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** How old a temp dir (or a layer without its record) must be before prune takes it as left by a crash. */
const staleMs = 3600_000;

/**
 * Removes the shared init layers whose image is gone (one of its layer dirs no longer exists;
 * no container can be prepared from it then) and temp dirs that crashed prepares left; returns
 * how many it removed. Their short links go with `OverlaySnapshotter.pruneLinks`, run after this.
 */
export function pruneInitLayers(root: string): number {
  const base = initLayersDir(root);
  let names: string[];
  try {
    names = readdirSync(base);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw toBerthError(e, `read ${base}`);
  }
  const old = (path: string): boolean => {
    try { return Date.now() - statSync(path).mtimeMs > staleMs; } catch { return false; }
  };
  let removed = 0;
  for (const name of names) {
    const path = join(base, name);
    if (/^[0-9a-f]{16}$/.test(name)) {
      const text = readOrUndefined(`${path}.json`);
      let gone = text === undefined && old(path);
      if (text !== undefined) {
        try {
          gone = (JSON.parse(text) as { lowerDirs: string[] }).lowerDirs.some((d) => !existsSync(d));
        } catch {
          gone = true; // an unreadable record: nothing can use the layer either
        }
      }
      if (!gone) continue;
      rmSync(path, { recursive: true, force: true });
      rmSync(`${path}.json`, { force: true });
      removed++;
    } else if (/^[0-9a-f]{16}\.tmp-/.test(name) && old(path)) {
      rmSync(path, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
