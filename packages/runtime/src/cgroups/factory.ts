import { failedPrecondition, invalidArgument } from '@berth/errors';
import { NodeCgroupFs } from './fs.js';
import { cgroupDir, readCgroupHost } from './host.js';
import type { CgroupManager, CgroupManagerOptions } from './manager.js';
import { cgroupDriverVersion } from './mode.js';
import { V1CgroupManager, v1Controllers, type V1Placement } from './v1.js';
import { V2CgroupManager } from './v2.js';

/**
 * The cgroup of one container, with the driver the host needs: `V1CgroupManager` on v1 and
 * hybrid hosts, `V2CgroupManager` on unified ones. `cgroupsPath` is the OCI
 * `linux.cgroupsPath` or, when the config has none, the container id: relative paths nest
 * under `berth` below the engine's own cgroup in each hierarchy (as /proc/self/cgroup
 * names it), absolute ones are taken from the hierarchy's root. Nothing is touched until
 * `create`.
 */
export function cgroupManager(cgroupsPath: string, options: CgroupManagerOptions = {}): CgroupManager {
  const host = options.host ?? readCgroupHost();
  const fs = options.fs ?? new NodeCgroupFs();
  const mode = options.mode ?? host.mode;
  const extra = {
    ...(options.kill === undefined ? {} : { kill: options.kill }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.deviceFilter === undefined ? {} : { deviceFilter: options.deviceFilter }),
  };
  if (cgroupDriverVersion(mode) === 2) {
    if (host.unified === undefined) throw failedPrecondition('no cgroup2 filesystem is mounted: mount it at /sys/fs/cgroup to run containers');
    const dir = cgroupDir(host.unified, host.self.get(''), cgroupsPath, options.parent);
    return new V2CgroupManager(cgroupsPath, host.unified, dir, fs, extra);
  }
  const placements = new Map<string, V1Placement>();
  for (const controller of v1Controllers) {
    const mount = host.v1.get(controller);
    if (mount === undefined) continue;
    placements.set(controller, { mount, dir: cgroupDir(mount, host.self.get(controller), cgroupsPath, options.parent) });
  }
  if (placements.size === 0) throw failedPrecondition('no cgroup v1 controller is mounted under /sys/fs/cgroup: mount them (or cgroup2) to run containers');
  return new V1CgroupManager(cgroupsPath, placements, fs, extra);
}

/**
 * The manager of a cgroup made earlier, found again by the directories its manager
 * reported (`dirs`). Relative cgroup paths resolve against the calling process's own
 * cgroup, which a later process (another CLI run, containerd calling `delete`) may not
 * share; keeping `dirs` in the container's state and coming back through here always
 * finds the same cgroup.
 */
export function cgroupManagerAt(dirs: readonly string[], options: Omit<CgroupManagerOptions, 'parent'> = {}): CgroupManager {
  const host = options.host ?? readCgroupHost();
  const fs = options.fs ?? new NodeCgroupFs();
  const extra = {
    ...(options.kill === undefined ? {} : { kill: options.kill }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.deviceFilter === undefined ? {} : { deviceFilter: options.deviceFilter }),
  };
  const under = (dir: string, mountpoint: string) => dir.startsWith(`${mountpoint}/`);
  if (dirs.length === 0) throw invalidArgument('no cgroup directories given: pass the dirs a cgroup manager reported');
  const first = dirs[0] ?? '';
  const v2 = cgroupDriverVersion(options.mode ?? host.mode) === 2 || (dirs.length === 1 && host.unified !== undefined && under(first, host.unified.mountpoint));
  if (v2) {
    if (host.unified === undefined || dirs.length !== 1 || !under(first, host.unified.mountpoint)) {
      throw invalidArgument(`cgroup directories ${dirs.join(', ')} are not one directory of the cgroup2 hierarchy`);
    }
    return new V2CgroupManager(first.slice(host.unified.mountpoint.length), host.unified, first, fs, extra);
  }
  const placements = new Map<string, V1Placement>();
  for (const dir of dirs) {
    let matched = false;
    for (const controller of v1Controllers) {
      const mount = host.v1.get(controller);
      if (mount === undefined || !under(dir, mount.mountpoint)) continue;
      placements.set(controller, { mount, dir });
      matched = true;
    }
    if (!matched) throw invalidArgument(`${dir} is not below a mounted cgroup v1 controller`);
  }
  const own = [...placements.values()].find((p) => p.dir === first);
  return new V1CgroupManager(own === undefined ? first : first.slice(own.mount.mountpoint.length), placements, fs, extra);
}
