/**
 * The image's tree as overlayfs shows it: a stack of unpacked layers (topmost first) merged with
 * overlay's rules, read without mounting. In a layer, a whiteout is a character device 0/0 that
 * hides the name below it; a directory with `trusted.overlay.opaque=y` hides the directories of
 * the same path below it; a directory over a non-directory hides it (overlayfs(5) docs,
 * Documentation/filesystems/overlayfs.rst "whiteouts and opaque directories").
 */
import { lstatSync, type BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { toBerthError } from '@berth/errors';
import type { SnapshotterSys } from './types.js';

/** The xattr overlayfs marks opaque directories with (privileged mounts). */
export const opaqueXattr = 'trusted.overlay.opaque';

/** True for an overlay whiteout: a character device with device number 0/0. */
export function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** True when directory `path` is marked opaque. Always false when `sys` cannot read xattrs. */
export function isOpaque(sys: SnapshotterSys, path: string): boolean {
  if (sys.lgetxattr === undefined) return false;
  const v = sys.lgetxattr(path, opaqueXattr);
  return v !== undefined && v.length === 1 && v[0] === 0x79; // 'y'
}

/** lstat that returns null for a name that does not exist (or whose parent is not a directory). */
export async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (e) {
    return missing(e, path);
  }
}

/** {@link lstatOrNull} on the calling thread: for the few stats of a prepare (see LowerView). */
export function lstatOrNullSync(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch (e) {
    return missing(e, path);
  }
}

function missing(e: unknown, path: string): null {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return null;
  throw toBerthError(e, `lstat ${path}`);
}

/** A name of the merged image tree. */
export interface LowerEntry {
  /** Its stat in the topmost layer that has it. */
  readonly stat: BigIntStats;
  /** Its path in that layer. */
  readonly path: string;
  /** For a directory: its paths in every layer that contributes children, topmost first. */
  readonly dirs: readonly string[];
}

/**
 * Reads the merged tree of a layer stack. `root` and `lookup` (a few stats each: what a prepare
 * needs) run on the calling thread; a one-shot CLI would pay a thread-pool round trip per stat.
 * `readdir`, for walks over whole trees, stays asynchronous. Layers are immutable once
 * unpacked, so what `lookup` resolved is kept for the view's life.
 */
export class LowerView {
  constructor(private readonly sys: SnapshotterSys, private readonly lowerDirs: readonly string[]) {}

  /** Entries `lookup` resolved, by path (the root as ''): a prepare asks for the same parents often. */
  private readonly found = new Map<string, LowerEntry | undefined>();

  /** The root directory of the merged tree, or undefined for an empty stack. */
  root(): LowerEntry | undefined {
    if (this.found.has('')) return this.found.get('');
    const top = this.lowerDirs[0];
    if (top === undefined) return undefined;
    let stat: BigIntStats;
    try {
      stat = lstatSync(top, { bigint: true });
    } catch (e) {
      throw toBerthError(e, `read layer ${top}`);
    }
    const dirs: string[] = [];
    for (const d of this.lowerDirs) {
      dirs.push(d);
      if (isOpaque(this.sys, d)) break;
    }
    const root = { stat, path: top, dirs };
    this.found.set('', root);
    return root;
  }

  /** The children of a merged directory, by name. */
  async readdir(dir: LowerEntry): Promise<Map<string, LowerEntry>> {
    const names = new Set<string>();
    for (const d of dir.dirs) {
      for (const n of await readdir(d).catch((e: unknown) => { throw toBerthError(e, `read layer dir ${d}`); })) names.add(n);
    }
    const out = new Map<string, LowerEntry>();
    for (const name of [...names].sort()) {
      const steps = this.resolve(dir.dirs, name);
      let step = steps.next();
      while (!step.done) step = steps.next(await lstatOrNull(step.value));
      if (step.value !== undefined) out.set(name, step.value);
    }
    return out;
  }

  /**
   * The merged entry at `path` ('/etc/hosts'), or undefined when the image has nothing there
   * (a non-directory on the way counts as nothing below it).
   */
  lookup(path: string): LowerEntry | undefined {
    let cur = this.root();
    let at = '';
    for (const name of path.split('/').filter((s) => s !== '')) {
      if (cur === undefined || !cur.stat.isDirectory()) return undefined;
      at += `/${name}`;
      if (this.found.has(at)) {
        cur = this.found.get(at);
        continue;
      }
      const steps = this.resolve(cur.dirs, name);
      let step = steps.next();
      while (!step.done) step = steps.next(lstatOrNullSync(step.value));
      cur = step.value;
      this.found.set(at, cur);
    }
    return cur;
  }

  /**
   * The merged entry `name` of the directory whose layer paths are `dirs`. A coroutine: it
   * yields each path to lstat and is resumed with the stat (null when missing), so that the
   * synchronous and the asynchronous readers share overlay's rules.
   */
  private *resolve(dirs: readonly string[], name: string): Generator<string, LowerEntry | undefined, BigIntStats | null> {
    let top: { stat: BigIntStats; path: string } | undefined;
    const sub: string[] = [];
    for (const d of dirs) {
      const p = join(d, name);
      const st = yield p;
      if (st === null) continue;
      if (top === undefined) {
        if (isWhiteout(st)) return undefined;
        if (!st.isDirectory()) return { stat: st, path: p, dirs: [] };
        top = { stat: st, path: p };
      } else if (isWhiteout(st) || !st.isDirectory()) {
        break;
      }
      sub.push(p);
      if (isOpaque(this.sys, p)) break;
    }
    return top === undefined ? undefined : { ...top, dirs: sub };
  }
}
