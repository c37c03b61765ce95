import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { invalidArgument } from '@berth/errors';
import { cgroupMode, type CgroupMode } from './mode.js';

/** Where one cgroup hierarchy is mounted: `root` is the cgroup shown at `mountpoint`. */
export interface CgroupMount {
  readonly mountpoint: string;
  readonly root: string;
}

/**
 * The host's cgroup layout as this process sees it:
 * - `v1`: v1 controller name (`memory`, `cpu`, `name=systemd` …) → its mount;
 * - `unified`: the cgroup2 mount, if any;
 * - `self`: controller name (`''` for cgroup2) → this process's cgroup, from /proc/self/cgroup.
 */
export interface CgroupHost {
  readonly mode: CgroupMode;
  readonly v1: ReadonlyMap<string, CgroupMount>;
  readonly unified: CgroupMount | undefined;
  readonly self: ReadonlyMap<string, string>;
}

/** The cgroup mounts of a mountinfo text. The first mount of a hierarchy wins. */
export function parseCgroupMounts(mountinfo: string): { v1: Map<string, CgroupMount>; unified: CgroupMount | undefined } {
  const v1 = new Map<string, CgroupMount>();
  let unified: CgroupMount | undefined;
  for (const line of mountinfo.split('\n')) {
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const [fstype, , superopts = ''] = line.slice(sep + 3).split(' ');
    const mount = { root: unescape(fields[3] ?? '/'), mountpoint: unescape(fields[4] ?? '') };
    if (fstype === 'cgroup2') {
      // Prefer /sys/fs/cgroup itself over stray cgroup2 mounts elsewhere.
      if (unified === undefined || mount.mountpoint === '/sys/fs/cgroup') unified = mount;
    } else if (fstype === 'cgroup') {
      for (const opt of superopts.split(',')) {
        if (['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'noprefix', 'xattr', 'cpuset_v2_mode', 'favordynmods'].includes(opt)) continue;
        if (opt.startsWith('release_agent=')) continue;
        if (!v1.has(opt)) v1.set(opt, mount);
      }
    }
  }
  return { v1, unified };
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** /proc/<pid>/cgroup as controller → path; the cgroup2 line (`0::/x`) is under `''`. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m === null) continue;
    const [, , controllers = '', path = '/'] = m;
    if (controllers === '') out.set('', path);
    else for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

/** Reads this process's cgroup layout from /proc (or from the given texts). */
export function readCgroupHost(texts: { readonly mountinfo?: string; readonly procSelfCgroup?: string } = {}): CgroupHost {
  const mountinfo = texts.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8');
  const procSelfCgroup = texts.procSelfCgroup ?? readFileSync('/proc/self/cgroup', 'utf8');
  const { v1, unified } = parseCgroupMounts(mountinfo);
  return { mode: cgroupMode(mountinfo), v1, unified, self: parseProcCgroup(procSelfCgroup) };
}

/** The parent cgroup, below the engine's own, that berth's containers go in by default. */
export const defaultCgroupParent = 'berth';

/**
 * The directory of a container's cgroup in one hierarchy.
 *
 * - an absolute `cgroupsPath` (`/a/b`) is taken from the root of the hierarchy (as this
 *   process sees it: under a cgroup namespace, from the namespace's root);
 * - a relative one (`b`, or the container id) goes under `parent`, which itself is relative
 *   to this process's own cgroup in that hierarchy (`<own cgroup>/berth/b` by default) or,
 *   if absolute, from the root of the hierarchy.
 *
 * `..` is refused, so a relative path cannot climb out of the parent. systemd-style paths
 * (`slice:prefix:name`) are refused: berth drives cgroupfs itself.
 */
export function cgroupDir(mount: CgroupMount, selfPath: string | undefined, cgroupsPath: string, parent: string = defaultCgroupParent): string {
  for (const [what, p] of [['cgroupsPath', cgroupsPath], ['cgroup parent', parent]] as const) {
    if (p.includes(':')) throw invalidArgument(`${what} "${p}" looks like a systemd slice path: berth manages cgroupfs directly, give a path like /berth/<id> or <id>`);
    if (p.split('/').includes('..')) throw invalidArgument(`${what} "${p}" must not contain "..": give a path below the cgroup parent`);
  }
  if (cgroupsPath.trim() === '' || posix.normalize(cgroupsPath) === '/') throw invalidArgument(`cgroupsPath "${cgroupsPath}" names no cgroup: give a path like /berth/<id> or <id>`);
  let rel: string;
  if (cgroupsPath.startsWith('/')) rel = cgroupsPath;
  else if (parent.startsWith('/')) rel = posix.join(parent, cgroupsPath);
  else rel = posix.join(visible(mount, selfPath ?? '/'), parent, cgroupsPath);
  return posix.join(mount.mountpoint, rel);
}

/** Our own cgroup path as seen below the mount (strip the mount's root when the kernel shows it). */
function visible(mount: CgroupMount, selfPath: string): string {
  if (mount.root !== '/' && (selfPath === mount.root || selfPath.startsWith(`${mount.root}/`))) {
    return selfPath.slice(mount.root.length) || '/';
  }
  return selfPath;
}
