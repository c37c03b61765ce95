import { readFileSync } from 'node:fs';

/**
 * How the host mounts cgroups:
 * - `v2`: the unified hierarchy alone at /sys/fs/cgroup (modern distributions);
 * - `hybrid`: v1 controllers with a cgroup2 mount beside them at /sys/fs/cgroup/unified;
 * - `v1`: v1 controllers only.
 * Containers on `v1` and `hybrid` hosts use the v1 driver.
 */
export type CgroupMode = 'v1' | 'hybrid' | 'v2';

/** Reads the host's cgroup layout from a mountinfo text (default: /proc/self/mountinfo). */
export function cgroupMode(mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8')): CgroupMode {
  let v1 = false;
  let unifiedAtRoot = false;
  let unifiedElsewhere = false;
  for (const line of mountinfo.split('\n')) {
    // mountinfo: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    const mountpoint = fields[4] ?? '';
    if (fstype === 'cgroup2') {
      if (mountpoint === '/sys/fs/cgroup') unifiedAtRoot = true;
      else unifiedElsewhere = true;
    } else if (fstype === 'cgroup') {
      v1 = true;
    }
  }
  if (unifiedAtRoot && !v1) return 'v2';
  if (v1 && unifiedElsewhere) return 'hybrid';
  if (v1) return 'v1';
  return unifiedAtRoot || unifiedElsewhere ? 'v2' : 'v1';
}

/** The cgroup driver version containers get on a host of the given mode. */
export function cgroupDriverVersion(mode: CgroupMode): 1 | 2 {
  return mode === 'v2' ? 2 : 1;
}
