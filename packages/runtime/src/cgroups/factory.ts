import { failedPrecondition } from '@berth/errors';
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
