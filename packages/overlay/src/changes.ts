/**
 * `docker diff`: what a container's tree adds, changes and deletes relative to its image.
 *
 * Two shapes of container tree:
 * - `overlay`: the upper dir holds only what the container wrote; names not in it show the image
 *   through. A whiteout (char 0/0) deletes a name; an opaque directory hides every image child.
 * - `full` (vfs): the upper dir is the whole tree; an image name missing from it was deleted.
 *
 * A directory present on both sides counts as changed when its type, mode, owner or mtime
 * differs: overlayfs copies a parent up unchanged when a child changes, and it is reported only
 * when its own metadata (e.g. its mtime, after a child was added) changed, as Docker does. A
 * non-directory in an overlay upper dir is changed, full stop (the container wrote it or its
 * metadata; the diff tar carries it, so `changes` lists it — Docker's rule). In a full tree,
 * it is changed when its type, mode, owner, size, mtime, device number or link target differs.
 */
import { readdir, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { canceled, toBerthError } from '@berth/errors';
import type { Change, SnapshotterSys } from './types.js';
import { isOpaque, isWhiteout, lstatOrNull, LowerView, type LowerEntry } from './lower.js';

/** The shape of the upper dir: overlay's partial tree, or a full copy. */
export type TreeMode = 'overlay' | 'full';

/** Compares two stats the way `changes` does; true when the entry changed. */
export async function entryDiffers(upper: BigIntStats, upperPath: string, lower: LowerEntry): Promise<boolean> {
  const l = lower.stat;
  if (upper.mode !== l.mode || upper.uid !== l.uid || upper.gid !== l.gid) return true;
  if (upper.isDirectory()) return upper.mtimeNs !== l.mtimeNs;
  if (upper.mtimeNs !== l.mtimeNs || upper.size !== l.size) return true;
  if ((upper.isCharacterDevice() || upper.isBlockDevice()) && upper.rdev !== l.rdev) return true;
  if (upper.isSymbolicLink()) return (await readlink(upperPath)) !== (await readlink(lower.path));
  return false;
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    throw toBerthError(e, `read ${dir}`);
  }
}

/** Computes the changes of `upperDir` over the image made of `lowerDirs` (topmost first). */
export async function computeChanges(
  sys: SnapshotterSys, upperDir: string, lowerDirs: readonly string[], mode: TreeMode, signal?: AbortSignal,
): Promise<Change[]> {
  const view = new LowerView(sys, lowerDirs);
  const out: Change[] = [];
  const check = (): void => {
    if (signal?.aborted) throw canceled('changes: canceled', { cause: signal.reason });
  };

  const addAll = async (rel: string, dir: string): Promise<void> => {
    check();
    for (const name of await names(dir)) {
      const p = join(dir, name);
      const st = await lstatOrNull(p);
      if (st === null || (mode === 'overlay' && isWhiteout(st))) continue;
      out.push({ path: `${rel}/${name}`, kind: 'A' });
      if (st.isDirectory()) await addAll(`${rel}/${name}`, p);
    }
  };

  /**
   * `rel`: path of the directory ('' for the root); `lower`: the image's directory at `rel` (if
   * the image has a directory there); `hidden`: the image's children do not show through.
   */
  const walk = async (rel: string, dir: string, lower: LowerEntry | undefined, hidden: boolean): Promise<void> => {
    check();
    const lowerChildren = lower === undefined ? new Map<string, LowerEntry>() : await view.readdir(lower);
    const upperNames = await names(dir);
    for (const name of upperNames) {
      const p = join(dir, name);
      const path = `${rel}/${name}`;
      const st = await lstatOrNull(p);
      if (st === null) continue;
      const le = lowerChildren.get(name);
      if (mode === 'overlay' && isWhiteout(st)) {
        if (le !== undefined) out.push({ path, kind: 'D' });
        continue;
      }
      if (le === undefined) {
        out.push({ path, kind: 'A' });
        if (st.isDirectory()) await addAll(path, p);
        continue;
      }
      if (st.isDirectory()) {
        const opaque = mode === 'overlay' && isOpaque(sys, p);
        if (!le.stat.isDirectory()) {
          out.push({ path, kind: 'C' });
          await walk(path, p, undefined, true);
        } else {
          if (await entryDiffers(st, p, le)) out.push({ path, kind: 'C' });
          await walk(path, p, le, hidden || opaque);
        }
      } else if (mode === 'overlay' || await entryDiffers(st, p, le)) {
        out.push({ path, kind: 'C' });
      }
    }
    if (mode === 'full' || hidden) {
      const present = new Set(upperNames);
      for (const name of lowerChildren.keys()) if (!present.has(name)) out.push({ path: `${rel}/${name}`, kind: 'D' });
    }
  };

  const root = view.root();
  const rootOpaque = mode === 'overlay' && isOpaque(sys, upperDir);
  await walk('', upperDir, root, rootOpaque);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
