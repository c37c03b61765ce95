/**
 * The init layer (Docker's `<id>-init`): mount points a runtime needs, made in
 * `$root/containers/<key>/init/`, mounted as the topmost lower dir. They then exist in a
 * read-only rootfs too, and the container's diff never lists them.
 *
 * Parent directories it has to make copy the image's mode, owner and times (overlayfs shows a
 * directory's attributes from its topmost layer, so a plain 0755 `etc/` here would change the
 * image's `/etc`); its root copies the image's root.
 *
 * A few dozen tiny fs calls, made on the calling thread: `berth run` makes one of these per
 * container, and a thread-pool round trip per call would cost it more than the calls themselves.
 */
import { chmodSync, lchownSync, mkdirSync, symlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { copyTimes } from './times.js';
import { join, posix } from 'node:path';
import { invalidArgument, toBerthError } from '@berth/errors';
import type { InitEntry, SnapshotterSys } from './types.js';
import { LowerView } from './lower.js';

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
