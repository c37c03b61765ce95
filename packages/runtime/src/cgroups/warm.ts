import { close, openSync, write } from 'node:fs';
import { posix } from 'node:path';
import { cgroupDriverVersion } from './mode.js';
import type { CgroupHost } from './host.js';

/**
 * Starts, in the background, the wait that the next move of a process into a cgroup would
 * otherwise pay on the critical path of `run`, `create` and `exec`.
 *
 * Why: moving a process (a write to `cgroup.procs`, v1 or v2) takes the kernel's global
 * `cgroup_threadgroup_rwsem` for writing, and a percpu rw-semaphore's writer first waits for an
 * RCU grace period (rcu_sync_enter, kernel/rcu/sync.c) — about 9 ms on this host, the largest
 * single item of a container start (runc pays it too). Writers that come within about one grace
 * period of the previous one find the readers still on the slow path and do not wait again. So
 * this writes this very process's pid into the cgroup it is already in — a move to where it is,
 * which changes nothing — from libuv's thread pool, while the caller reads the bundle, compiles
 * the plan and starts berth-shim; when the shim then joins the init to the container's cgroups,
 * the grace period has passed. Failures (a read-only cgroupfs, no permission) only cost the wait.
 */
export function warmCgroupMigration(host: CgroupHost): void {
  const target = ownProcsFile(host);
  if (target === undefined) return;
  // Opened here, written by one thread-pool request that starts at once: fs.writeFile would
  // queue its write only after the open's callback, when the caller's synchronous work is done.
  let fd: number;
  try {
    fd = openSync(target, 'r+');
  } catch {
    return;
  }
  write(fd, String(process.pid), () => close(fd, () => {}));
}

/**
 * Whether a container's init joins its cgroups itself on this host: with cgroup v1 it writes
 * "0" to each hierarchy's `tasks`, a single-threaded self-move that skips the lock and its
 * grace period altogether (native/shim/shim.c, "joining the cgroups"). Then there is nothing to
 * warm, and warming would hurt: the waiting move holds cgroup_mutex, so the container's cgroups
 * could only be made once the grace period is over. (A container in a user namespace is still
 * joined through cgroup.procs; it pays the wait.)
 */
export function initJoinsItself(host: CgroupHost): boolean {
  return cgroupDriverVersion(host.mode) === 1 && host.v1.size > 0;
}

/** `cgroup.procs` of this process's own cgroup in one hierarchy (cgroup2, else a v1 one). */
function ownProcsFile(host: CgroupHost): string | undefined {
  if (cgroupDriverVersion(host.mode) === 2 || host.v1.size === 0) {
    const self = host.self.get('');
    if (host.unified === undefined || self === undefined) return undefined;
    return procsFile(host.unified.mountpoint, host.unified.root, self);
  }
  // pids and freezer take any process; cpuset refuses moves into a cgroup without cpus.
  for (const c of ['pids', 'freezer', 'cpu', 'memory']) {
    const mount = host.v1.get(c);
    const self = host.self.get(c);
    if (mount !== undefined && self !== undefined) return procsFile(mount.mountpoint, mount.root, self);
  }
  return undefined;
}

function procsFile(mountpoint: string, root: string, self: string): string {
  const visible = root !== '/' && (self === root || self.startsWith(`${root}/`)) ? self.slice(root.length) || '/' : self;
  return posix.join(mountpoint, visible, 'cgroup.procs');
}
