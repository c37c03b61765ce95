/**
 * Performing mount descriptions, reading /proc/self/mountinfo, and mount hygiene: every mount a
 * snapshotter makes is recorded in its container's `mounts.json` before it is made, so a mount
 * below `$root` that no record explains belongs to nobody (`berth system check` lists it,
 * `--repair` unmounts it).
 */
import { readFileSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { MountFlags, UmountFlags } from '@berth/native';
import { failedPrecondition, isBerthError, toBerthError } from '@berth/errors';
import type { MountSpec, SnapshotterSys } from './types.js';
import { readMountRecords, writeMountRecords } from './layout.js';

/** One mount(2) call, as `Sys.mount` takes it. */
export interface MountCall {
  readonly source: string;
  readonly target: string;
  readonly fstype: string | null;
  readonly flags: number;
  readonly data: string | null;
}

const flagOptions: Readonly<Record<string, number>> = {
  ro: MountFlags.RDONLY,
  rw: 0,
  nosuid: MountFlags.NOSUID,
  nodev: MountFlags.NODEV,
  noexec: MountFlags.NOEXEC,
  sync: MountFlags.SYNCHRONOUS,
  dirsync: MountFlags.DIRSYNC,
  noatime: MountFlags.NOATIME,
  nodiratime: MountFlags.NODIRATIME,
  relatime: MountFlags.RELATIME,
  strictatime: MountFlags.STRICTATIME,
  bind: MountFlags.BIND,
  rbind: MountFlags.BIND | MountFlags.REC,
};

/**
 * The mount(2) calls that perform `m`. A read-only bind mount takes two: the kernel ignores
 * MS_RDONLY on the first MS_BIND call (mount(2), "Creating a bind mount"), so it is remounted.
 */
export function mountCalls(m: MountSpec): MountCall[] {
  let flags = 0;
  const data: string[] = [];
  for (const o of m.options) {
    const f = flagOptions[o];
    if (f === undefined) data.push(o);
    else flags |= f;
  }
  const isBind = (flags & MountFlags.BIND) !== 0;
  const dataText = data.length > 0 ? data.join(',') : null;
  if (isBind) {
    const first: MountCall = { source: m.source, target: m.target, fstype: null, flags: flags & (MountFlags.BIND | MountFlags.REC), data: null };
    const rest = flags & ~(MountFlags.BIND | MountFlags.REC);
    if (rest === 0) return [first];
    return [first, { source: m.source, target: m.target, fstype: null, flags: MountFlags.BIND | MountFlags.REMOUNT | rest, data: null }];
  }
  return [{ source: m.source, target: m.target, fstype: m.type, flags, data: dataText }];
}

/** The limit of mount(2)'s data argument: the kernel copies one page, with its NUL. */
export const mountDataLimit = 4095;

/**
 * Performs `mounts` in order through `sys`. A description with `cwd` is mounted from that
 * directory: process.chdir there, mount, chdir back — synchronously, so no other JavaScript runs
 * in between (Node's own fs calls take absolute paths). Workers cannot chdir; they get an error.
 * On failure, the mounts made so far are undone.
 */
export function performMounts(sys: SnapshotterSys, mounts: readonly MountSpec[]): void {
  const done: string[] = [];
  try {
    for (const m of mounts) {
      const calls = mountCalls(m);
      for (const c of calls) {
        if (c.data !== null && Buffer.byteLength(c.data) > mountDataLimit) {
          throw failedPrecondition(`mount ${m.type} on ${m.target}: mount options are ${Buffer.byteLength(c.data)} bytes, over the kernel's ${mountDataLimit}`);
        }
      }
      const previous = m.cwd === undefined ? undefined : enter(m.cwd, m.target);
      try {
        calls.forEach((c, i) => {
          sys.mount(c.source, c.target, c.fstype, c.flags, c.data);
          if (i === 0) done.push(c.target);
        });
      } finally {
        if (previous !== undefined) process.chdir(previous);
      }
    }
  } catch (e) {
    for (const t of done.reverse()) {
      try { sys.umount2(t, UmountFlags.DETACH); } catch { /* best effort: the first error is the one to report */ }
    }
    throw e;
  }
}

function enter(dir: string, target: string): string {
  let previous = '/';
  try {
    previous = process.cwd();
  } catch {
    // The working directory was deleted (ENOENT): come back to / instead.
  }
  try {
    process.chdir(dir);
  } catch (e) {
    throw toBerthError(e, `mount on ${target}: cannot enter ${dir} (mounts with relative paths need the main thread)`);
  }
  return previous;
}

/** One line of /proc/self/mountinfo (proc(5)). */
export interface MountInfo {
  readonly id: number;
  readonly parent: number;
  readonly mountPoint: string;
  readonly fstype: string;
  readonly source: string;
  readonly superOptions: string;
}

/** Mount points escape space, tab, newline and backslash as octal (`\040`). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses mountinfo text; malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 4) continue;
    const id = Number(f[0]);
    const parent = Number(f[1]);
    if (!Number.isInteger(id) || !Number.isInteger(parent)) continue;
    out.push({
      id, parent,
      mountPoint: unescape(f[4] ?? ''),
      fstype: f[dash + 1] ?? '',
      source: unescape(f[dash + 2] ?? ''),
      superOptions: f[dash + 3] ?? '',
    });
  }
  return out;
}

/**
 * Reads this process's mount table, on the calling thread: procfs generates it in one go in
 * the kernel, no disk is read, and `mount`/`unmount` read it on every call.
 */
export function readMountInfo(): MountInfo[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** Mounts at `dir` or below it, deepest (and most recent) first: the order to unmount them. */
export function mountsUnder(table: readonly MountInfo[], dir: string): MountInfo[] {
  return table.filter((m) => isUnder(m.mountPoint, dir))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
}

/**
 * Unmounts everything at or below `dir` (stacked mounts included). A busy mount is detached
 * (MNT_DETACH) so that removal never leaves it behind.
 */
export function unmountUnder(sys: SnapshotterSys, dir: string): number {
  let count = 0;
  for (let round = 0; round < 8; round++) {
    const found = mountsUnder(readMountInfo(), dir);
    if (found.length === 0) return count;
    for (const m of found) {
      try {
        sys.umount2(m.mountPoint, 0);
      } catch (e) {
        if (isBerthError(e) && e.errno === 'EBUSY') sys.umount2(m.mountPoint, UmountFlags.DETACH);
        else if (isBerthError(e) && e.errno === 'EINVAL') continue; // already gone (stacked mounts)
        else throw e;
      }
      count++;
    }
  }
  throw failedPrecondition(`unmount ${dir}: mounts keep reappearing; check what mounts there`);
}

/** A mount below `$root` that no container's record explains. */
export interface OrphanMount {
  readonly target: string;
  readonly fstype: string;
  readonly source: string;
  /** The container key its path names, if any. */
  readonly key?: string;
  /** Why nothing owns it. */
  readonly reason: 'unknown container' | 'not recorded' | 'probe leftover';
}

/** Options of {@link findOrphanMounts}. */
export interface FindOrphanOptions {
  /** The mount table to check (default: /proc/self/mountinfo). */
  readonly mountInfo?: readonly MountInfo[];
}

/**
 * Mounts below `$root/containers/` and `$root/overlay/` that nothing owns: their container is
 * not in `ownedKeys` (the engine's containers), or they are on an owned container's rootfs and
 * its `mounts.json` does not list them (other mounts in an owned container's dir are the
 * engine's business). Deepest first, the order to unmount them in.
 */
export async function findOrphanMounts(root: string, ownedKeys: Iterable<string>, options: FindOrphanOptions = {}): Promise<OrphanMount[]> {
  let real: string;
  try {
    real = await realpath(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toBerthError(e, `check mounts of ${root}`);
  }
  const owned = new Set(ownedKeys);
  const table = options.mountInfo ?? readMountInfo();
  const containersDir = join(real, 'containers');
  const overlayDir = join(real, 'overlay');
  const records = new Map<string, Set<string>>();
  const recorded = async (key: string): Promise<Set<string>> => {
    let r = records.get(key);
    if (r === undefined) {
      let list: string[] = [];
      try {
        list = readMountRecords(root, key).map((m) => m.target);
      } catch (e) {
        if (!isBerthError(e)) throw e; // an unreadable record owns nothing
      }
      r = new Set(await Promise.all(list.map((t) => realpath(t).catch(() => t))));
      records.set(key, r);
    }
    return r;
  };
  const out: OrphanMount[] = [];
  for (const m of mountsUnder(table, real)) {
    const base = { target: m.mountPoint, fstype: m.fstype, source: m.source };
    if (isUnder(m.mountPoint, overlayDir)) {
      out.push({ ...base, reason: 'probe leftover' });
      continue;
    }
    if (!isUnder(m.mountPoint, containersDir) || m.mountPoint === containersDir) continue;
    const key = m.mountPoint.slice(containersDir.length + 1).split(sep)[0] ?? '';
    if (!owned.has(key)) {
      out.push({ ...base, key, reason: 'unknown container' });
      continue;
    }
    // Of an owned container, only its rootfs is ours to judge: other mounts in its dir (a shm
    // tmpfs, say) are the engine's. A recorded mount owns what is below it (runtime submounts).
    if (!isUnder(m.mountPoint, join(containersDir, key, 'rootfs'))) continue;
    const rec = await recorded(key);
    if (![...rec].some((t) => isUnder(m.mountPoint, t))) out.push({ ...base, key, reason: 'not recorded' });
  }
  return out;
}

/**
 * Unmounts the mounts {@link findOrphanMounts} reports and returns them. Records of owned
 * containers that list mounts no longer present are emptied.
 */
export async function repairOrphanMounts(root: string, ownedKeys: Iterable<string>, sys: SnapshotterSys): Promise<OrphanMount[]> {
  const keys = [...ownedKeys];
  const orphans = await findOrphanMounts(root, keys);
  for (const o of orphans) {
    try {
      sys.umount2(o.target, 0);
    } catch (e) {
      if (isBerthError(e) && e.errno === 'EBUSY') sys.umount2(o.target, UmountFlags.DETACH);
      else if (!(isBerthError(e) && e.errno === 'EINVAL')) throw e;
    }
  }
  const table = readMountInfo();
  const present = new Set(table.map((m) => m.mountPoint));
  for (const key of keys) {
    let recs;
    try { recs = readMountRecords(root, key); } catch { continue; }
    if (recs.length === 0) continue;
    const live = [];
    for (const r of recs) if (present.has(await realpath(r.target).catch(() => r.target))) live.push(r);
    if (live.length !== recs.length) writeMountRecords(root, key, live);
  }
  return orphans;
}
