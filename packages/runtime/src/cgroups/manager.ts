import { canceled, conflict, failedPrecondition, toBerthError, unavailable } from '@berth/errors';
import { posix } from 'node:path';
import type { CgroupFs } from './fs.js';
import type { CgroupMode } from './mode.js';
import type { CgroupHost } from './host.js';
import type { DeviceFilterLoader } from './devicefilter.js';
import { parseCount, type CgroupStats, type LinuxResources } from './resources.js';

/**
 * One container's cgroup. Lifecycle: `create` (directories + limits) → `addProcess` (the
 * init, before it execs) → any of `update`, `stats`, `freeze`/`thaw`, `oomKilled`,
 * `processes` → `destroy` once the container's processes are gone.
 */
export interface CgroupManager {
  /** The driver: 1 for cgroup v1 hierarchies, 2 for the unified hierarchy. */
  readonly version: 1 | 2;
  /** The cgroup's directories: one per v1 hierarchy (co-mounted controllers share one), or the one v2 directory. */
  readonly dirs: readonly string[];
  /** Creates the cgroup (and missing parents) and applies `resources`. Joining an existing cgroup is allowed. */
  create(resources?: LinuxResources): Promise<ApplyReport>;
  /** True while any of the cgroup's directories exists. */
  exists(): Promise<boolean>;
  /** Moves a process (all its threads) into the cgroup. */
  addProcess(pid: number): Promise<void>;
  /** Applies changed limits to a live cgroup; fields left out stay as they are. */
  update(resources: LinuxResources): Promise<ApplyReport>;
  stats(): Promise<CgroupStats>;
  /** Stops every task of the cgroup (v1 freezer, v2 cgroup.freeze) and waits until they are stopped. */
  freeze(options?: { readonly signal?: AbortSignal }): Promise<void>;
  thaw(): Promise<void>;
  /** True once the kernel's OOM killer has killed a task of this cgroup. */
  oomKilled(): Promise<boolean>;
  /** Pids of the processes in the cgroup and its child cgroups. */
  processes(): Promise<number[]>;
  /**
   * Removes the cgroup from every hierarchy. Refuses (Conflict) while processes remain,
   * unless `force`, which kills them (SIGKILL) first. Removing a missing cgroup is a no-op.
   */
  destroy(options?: DestroyOptions): Promise<void>;
}

/** What applying resources skipped; each warning says what was not enforced and why. */
export interface ApplyReport {
  readonly warnings: readonly string[];
}

export interface DestroyOptions {
  /** Kill the remaining processes instead of refusing. */
  readonly force?: boolean;
  /** Stops the waiting (for killed processes to go, for a busy cgroup to empty) with a Canceled error. */
  readonly signal?: AbortSignal;
}

/** Options of {@link cgroupManager}. */
export interface CgroupManagerOptions {
  /** The host's cgroup mode; default: the mode of `host`. `v1` and `hybrid` get the v1 driver. */
  readonly mode?: CgroupMode;
  /** The host layout; default: read from /proc/self. */
  readonly host?: CgroupHost;
  /** The door to cgroup files; default: the real filesystem. */
  readonly fs?: CgroupFs;
  /** Where relative cgroup paths go, relative to our own cgroup unless absolute; default `berth`. */
  readonly parent?: string;
  /** Sends a signal to a pid (default `process.kill`); used by `destroy({force})`. */
  readonly kill?: (pid: number, signal: NodeJS.Signals) => void;
  /** cgroup v2: loads and attaches the eBPF device program (see `deviceFilterProgram`); without it v2 device rules only warn. */
  readonly deviceFilter?: DeviceFilterLoader;
  /** How long `freeze` and `destroy` wait for the kernel, in ms (default 5000). */
  readonly timeoutMs?: number;
}

// ---- helpers shared by the two drivers ----

/** Waits `ms`, or rejects with a Canceled error as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, what = 'cgroup operation'): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(canceled(`${what}: canceled`, { cause: signal.reason }));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(canceled(`${what}: canceled`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Errno of a Node-style error, if any. */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The cgroup files of one driver with errors that name the file and the value. */
export class Files {
  constructor(readonly fs: CgroupFs) {}

  async write(path: string, value: string | number): Promise<void> {
    const data = String(value);
    try {
      await this.fs.write(path, data);
    } catch (e) {
      throw toBerthError(e, `write "${data}" to ${path}`);
    }
  }

  async read(path: string): Promise<string> {
    try {
      return await this.fs.read(path);
    } catch (e) {
      throw toBerthError(e, `read ${path}`);
    }
  }

  /** The file's content, or `fallback` when it does not exist (controller absent, old kernel). */
  async readOr(path: string, fallback: string): Promise<string> {
    try {
      return await this.fs.read(path);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENODEV' || errnoOf(e) === 'EOPNOTSUPP') return fallback;
      throw toBerthError(e, `read ${path}`);
    }
  }

  exists(path: string): Promise<boolean> {
    return this.fs.exists(path);
  }

  /** mkdir -p below `top` (which must exist); returns the directories it created, top-down. */
  async mkdirs(top: string, dir: string): Promise<string[]> {
    const created: string[] = [];
    const rel = posix.relative(top, dir);
    let cur = top;
    for (const part of rel === '' ? [] : rel.split('/')) {
      cur = posix.join(cur, part);
      try {
        if (await this.fs.mkdir(cur)) created.push(cur);
      } catch (e) {
        throw toBerthError(e, `create cgroup ${cur}`);
      }
    }
    return created;
  }

  /** Pids in `cgroup.procs` of `dir` and of its child cgroups. */
  async pids(dir: string): Promise<number[]> {
    if (!(await this.fs.exists(dir))) return [];
    const out = (await this.readOr(`${dir}/cgroup.procs`, ''))
      .split('\n')
      .map((l) => Number.parseInt(l, 10))
      .filter((n) => Number.isInteger(n) && n > 0);
    for (const child of await this.children(dir)) out.push(...(await this.pids(`${dir}/${child}`)));
    return out;
  }

  private async children(dir: string): Promise<string[]> {
    try {
      return await this.fs.children(dir);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw toBerthError(e, `list child cgroups of ${dir}`);
    }
  }

  /**
   * Removes `dir` and its child cgroups, deepest first. A cgroup stays busy for a moment
   * after its last task exits (the kernel finishes the exit asynchronously), so EBUSY is
   * retried until `timeoutMs`.
   */
  async removeTree(dir: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (!(await this.fs.exists(dir))) return;
    for (const child of await this.children(dir)) await this.removeTree(`${dir}/${child}`, timeoutMs, signal);
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        await this.fs.rmdir(dir);
        return;
      } catch (e) {
        const code = errnoOf(e);
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || Date.now() >= deadline) throw toBerthError(e, `remove cgroup ${dir}`);
      }
      await sleep(delay, signal, `remove cgroup ${dir}`);
    }
  }
}

/** Sends SIGKILL to each pid, ignoring those already gone. */
export function killAll(pids: readonly number[], kill: (pid: number, signal: NodeJS.Signals) => void): void {
  for (const pid of pids) {
    try {
      kill(pid, 'SIGKILL');
    } catch (e) {
      if (errnoOf(e) !== 'ESRCH') throw toBerthError(e, `kill process ${pid} of the cgroup`);
    }
  }
}

/** Polls `pids()` until empty or the deadline. */
export async function waitEmpty(name: string, pids: () => Promise<number[]>, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const left = await pids();
    if (left.length === 0) return;
    if (Date.now() >= deadline) throw unavailable(`cgroup ${name}: ${left.length} process(es) still running ${timeoutMs} ms after SIGKILL (pids ${left.slice(0, 5).join(', ')})`);
    await sleep(delay, signal, `wait for cgroup ${name} to empty`);
  }
}

/** The error `destroy` gives while processes remain. */
export function busyError(name: string, pids: readonly number[]): Error {
  return conflict(
    `cgroup ${name} still has ${pids.length} process(es) (pids ${pids.slice(0, 5).join(', ')}${pids.length > 5 ? ', …' : ''}): stop the container first, or remove it with force`,
    { detail: { pids: [...pids] } },
  );
}

/** The error for a limit whose controller this host lacks. */
export function missingController(controller: string, what: string, where: string): Error {
  return failedPrecondition(`cannot ${what}: the ${controller} cgroup controller is not available ${where}; leave the limit out or enable the controller`);
}

/** Reads `name` from a key/value cgroup file (memory.events, oom_control). */
export async function counter(files: Files, path: string, key: string): Promise<number> {
  const text = await files.readOr(path, '');
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key && v !== undefined) return parseCount(v);
  }
  return 0;
}
