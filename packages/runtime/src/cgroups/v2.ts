import { failedPrecondition, invalidArgument, unavailable } from '@berth/errors';
import { posix } from 'node:path';
import type { CgroupFs } from './fs.js';
import type { CgroupMount } from './host.js';
import { deviceFilterProgram, type DeviceFilterLoader } from './devicefilter.js';
import {
  Files,
  busyError,
  counter,
  errnoOf,
  killAll,
  sleep,
  waitEmpty,
  type ApplyReport,
  type CgroupManager,
  type DestroyOptions,
} from './manager.js';
import {
  allowsAllDevices,
  blkioWeightToIoWeight,
  cpuMaxV2,
  parseCount,
  parseKeyValues,
  parseLimit,
  sharesToWeight,
  swapToV2,
  type CgroupStats,
  type LinuxResources,
  type LinuxThrottleDevice,
} from './resources.js';

/** The v2 controllers berth enables for its cgroups, when the parent offers them. */
export const v2Controllers = ['cpu', 'cpuset', 'memory', 'pids', 'io', 'hugetlb', 'misc', 'rdma'] as const;

/**
 * The cgroup v2 driver: one directory in the unified hierarchy. Each ancestor, from the
 * hierarchy root down, gets the controllers it offers enabled in `cgroup.subtree_control`
 * (a cgroup with processes of its own cannot do that — the "no internal processes" rule —
 * so berth must not run in the cgroup it nests containers under on a v2 host). Limits:
 *
 * ```
 * memory.limit       → memory.max        cpu.shares        → cpu.weight (runc's conversion)
 * memory.swap − limit→ memory.swap.max   cpu.quota/period  → cpu.max "quota period"
 * memory.reservation → memory.low        cpu.cpus/mems     → cpuset.cpus / cpuset.mems
 * pids.limit         → pids.max          unified{k: v}     → k
 * ```
 */
export class V2CgroupManager implements CgroupManager {
  readonly version = 2 as const;
  readonly dirs: readonly string[];
  private readonly files: Files;
  private readonly kill: (pid: number, signal: NodeJS.Signals) => void;
  private readonly timeoutMs: number;
  private readonly deviceFilter: DeviceFilterLoader | undefined;
  /** Why a controller could not be enabled on the way down, for the error if a limit needs it. */
  private readonly enableFailures = new Map<string, string>();

  constructor(
    readonly name: string,
    private readonly mount: CgroupMount,
    readonly dir: string,
    fs: CgroupFs,
    options: {
      readonly kill?: (pid: number, signal: NodeJS.Signals) => void;
      readonly timeoutMs?: number;
      readonly deviceFilter?: DeviceFilterLoader;
    } = {},
  ) {
    this.dirs = [dir];
    this.deviceFilter = options.deviceFilter;
    this.files = new Files(fs);
    this.kill = options.kill ?? ((pid, sig) => process.kill(pid, sig));
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  async create(resources: LinuxResources = {}): Promise<ApplyReport> {
    const created = await this.files.mkdirs(this.mount.mountpoint, this.dir);
    try {
      await this.enableControllers();
      return await this.apply(resources);
    } catch (e) {
      for (const d of created.reverse()) await this.files.fs.rmdir(d).catch(() => undefined);
      throw e;
    }
  }

  /** Enables, top-down, every controller each ancestor offers in its subtree_control. */
  private async enableControllers(): Promise<void> {
    const rel = posix.relative(this.mount.mountpoint, this.dir).split('/');
    let cur = this.mount.mountpoint;
    for (const part of rel) {
      const available = new Set((await this.files.readOr(`${cur}/cgroup.controllers`, '')).trim().split(/\s+/).filter(Boolean));
      const enabled = new Set((await this.files.readOr(`${cur}/cgroup.subtree_control`, '')).trim().split(/\s+/).filter(Boolean));
      for (const c of v2Controllers) {
        if (!available.has(c) || enabled.has(c)) continue;
        try {
          await this.files.fs.write(`${cur}/cgroup.subtree_control`, `+${c}`);
        } catch (e) {
          const why =
            errnoOf(e) === 'EBUSY'
              ? `${cur} has processes of its own and so cannot delegate controllers (cgroup v2 "no internal processes" rule); run berth in a leaf cgroup or use a cgroup parent outside its own cgroup`
              : `enabling it in ${cur}/cgroup.subtree_control failed (${errnoOf(e) ?? String(e)})`;
          if (!this.enableFailures.has(c)) this.enableFailures.set(c, why);
        }
      }
      cur = posix.join(cur, part);
    }
  }

  /** Writes `file` of the cgroup, or fails naming the controller that would provide it. */
  private async set(file: string, value: string | number, what: string): Promise<void> {
    const path = `${this.dir}/${file}`;
    if (!(await this.files.exists(path))) {
      const controller = file.slice(0, file.indexOf('.'));
      const why = this.enableFailures.get(controller) ?? `${this.dir} has no ${file} (the ${controller} controller is not enabled for it)`;
      throw failedPrecondition(`cannot ${what}: ${why}`);
    }
    await this.files.write(path, value);
  }

  async exists(): Promise<boolean> {
    return this.files.exists(this.dir);
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw invalidArgument(`pid ${pid} is not a process id`);
    await this.files.write(`${this.dir}/cgroup.procs`, pid);
  }

  update(resources: LinuxResources): Promise<ApplyReport> {
    return this.apply(resources);
  }

  private async apply(r: LinuxResources): Promise<ApplyReport> {
    const warnings: string[] = [];
    const m = r.memory;
    if (m !== undefined) {
      const swap = swapToV2(m.swap, m.limit);
      if (m.limit !== undefined && m.limit !== 0) await this.set('memory.max', m.limit === -1 ? 'max' : m.limit, 'set a memory limit');
      if (swap !== undefined) {
        if (await this.files.exists(`${this.dir}/memory.swap.max`)) await this.set('memory.swap.max', swap, 'set a swap limit');
        else if (swap === 'max') warnings.push('memory swap: the kernel does not account swap (no memory.swap.max), so swap is not limited');
        else throw failedPrecondition(`cannot set the memory+swap limit to ${m.swap}: the kernel does not account swap (no memory.swap.max); leave the swap limit out`);
      }
      if (m.reservation !== undefined && m.reservation !== 0) await this.set('memory.low', m.reservation === -1 ? 'max' : m.reservation, 'set a memory reservation');
      if (m.swappiness !== undefined) warnings.push('memory swappiness: cgroup v2 has no per-cgroup swappiness, not set');
      if (m.disableOOMKiller === true) warnings.push('memory disableOOMKiller: cgroup v2 cannot disable the OOM killer, not set');
      if ((m.kernel ?? 0) !== 0 || (m.kernelTCP ?? 0) !== 0) warnings.push('memory kernel/kernelTCP: kernel memory limits do not exist on cgroup v2, ignored');
    }

    const c = r.cpu;
    if (c !== undefined) {
      if (c.shares !== undefined && c.shares !== 0) {
        if (c.shares < 2 || c.shares > 262144) throw invalidArgument(`cpu shares ${c.shares} are outside [2, 262144]`);
        await this.set('cpu.weight', sharesToWeight(c.shares), 'set cpu shares');
      }
      const max = cpuMaxV2(c.quota, c.period);
      if (max !== undefined) await this.set('cpu.max', max, 'set a cpu quota');
      if (c.burst !== undefined) await this.set('cpu.max.burst', c.burst, 'set a cpu burst');
      if (c.idle !== undefined) await this.set('cpu.idle', c.idle, 'set cpu idle');
      if ((c.realtimePeriod ?? 0) !== 0 || (c.realtimeRuntime ?? 0) !== 0) warnings.push('cpu realtime period/runtime: cgroup v2 has no realtime cpu limits, not set');
      if (c.cpus !== undefined && c.cpus !== '') await this.set('cpuset.cpus', c.cpus, 'pin cpus');
      if (c.mems !== undefined && c.mems !== '') await this.set('cpuset.mems', c.mems, 'pin memory nodes');
    }

    if (r.pids !== undefined && r.pids.limit !== 0) await this.set('pids.max', r.pids.limit > 0 ? r.pids.limit : 'max', 'set a pids limit');

    if (r.devices !== undefined && r.devices.length > 0) {
      if (this.deviceFilter !== undefined) await this.deviceFilter.attach(this.dir, deviceFilterProgram(r.devices));
      else if (!allowsAllDevices(r.devices)) {
        warnings.push('devices: cgroup v2 restricts devices with an eBPF program and no loader was given; device rules are not enforced');
      }
    }

    const b = r.blockIO;
    if (b !== undefined) {
      if (b.weight !== undefined && b.weight !== 0) {
        if (await this.files.exists(`${this.dir}/io.bfq.weight`)) await this.set('io.bfq.weight', b.weight, 'set a block io weight');
        else await this.set('io.weight', `default ${blkioWeightToIoWeight(b.weight)}`, 'set a block io weight');
      }
      const throttle = async (devs: readonly LinuxThrottleDevice[] | undefined, key: string) => {
        for (const dev of devs ?? []) await this.set('io.max', `${dev.major}:${dev.minor} ${key}=${dev.rate}`, 'throttle block io');
      };
      await throttle(b.throttleReadBpsDevice, 'rbps');
      await throttle(b.throttleWriteBpsDevice, 'wbps');
      await throttle(b.throttleReadIOPSDevice, 'riops');
      await throttle(b.throttleWriteIOPSDevice, 'wiops');
    }

    for (const h of r.hugepageLimits ?? []) await this.set(`hugetlb.${h.pageSize}.max`, h.limit, `limit ${h.pageSize} huge pages`);

    if (r.network !== undefined && (r.network.classID !== undefined || (r.network.priorities ?? []).length > 0)) {
      warnings.push('network classID/priorities: cgroup v2 has no net_cls/net_prio controllers, not set');
    }

    for (const [key, value] of Object.entries(r.unified ?? {})) {
      if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key)) throw invalidArgument(`resources.unified key "${key}" is not a cgroup file name like memory.high`);
      await this.set(key, value, `set ${key}`);
    }
    return { warnings };
  }

  async stats(): Promise<CgroupStats> {
    const f = this.files;
    const d = this.dir;
    const cpu = parseKeyValues(await f.readOr(`${d}/cpu.stat`, ''));
    const mem = parseKeyValues(await f.readOr(`${d}/memory.stat`, ''));
    const peak = await f.readOr(`${d}/memory.peak`, '');
    return {
      cpu: {
        usageNs: (cpu.get('usage_usec') ?? 0) * 1000,
        userNs: (cpu.get('user_usec') ?? 0) * 1000,
        systemNs: (cpu.get('system_usec') ?? 0) * 1000,
        periods: cpu.get('nr_periods') ?? 0,
        throttledPeriods: cpu.get('nr_throttled') ?? 0,
        throttledNs: (cpu.get('throttled_usec') ?? 0) * 1000,
      },
      memory: {
        usage: parseCount(await f.readOr(`${d}/memory.current`, '0')),
        limit: parseLimit(await f.readOr(`${d}/memory.max`, 'max')),
        maxUsage: peak === '' ? null : parseCount(peak),
        cache: mem.get('file') ?? 0,
        oomKills: await counter(f, `${d}/memory.events`, 'oom_kill'),
      },
      pids: {
        current: parseCount(await f.readOr(`${d}/pids.current`, '0')),
        limit: parseLimit(await f.readOr(`${d}/pids.max`, 'max')),
      },
    };
  }

  async freeze(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    await this.files.write(`${this.dir}/cgroup.freeze`, 1);
    // The write starts freezing; cgroup.events says "frozen 1" once every task has stopped.
    const deadline = Date.now() + this.timeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      if ((await counter(this.files, `${this.dir}/cgroup.events`, 'frozen')) === 1) return;
      if (Date.now() >= deadline) {
        await this.files.write(`${this.dir}/cgroup.freeze`, 0);
        throw unavailable(`freeze cgroup ${this.name}: its tasks did not stop within ${this.timeoutMs} ms; thawed it again`);
      }
      await sleep(delay, options.signal, `freeze cgroup ${this.name}`);
    }
  }

  async thaw(): Promise<void> {
    await this.files.write(`${this.dir}/cgroup.freeze`, 0);
  }

  async oomKilled(): Promise<boolean> {
    return (await counter(this.files, `${this.dir}/memory.events`, 'oom_kill')) > 0;
  }

  async processes(): Promise<number[]> {
    return [...new Set(await this.files.pids(this.dir))].sort((a, b) => a - b);
  }

  async destroy(options: DestroyOptions = {}): Promise<void> {
    if (!(await this.exists())) return;
    const left = await this.processes();
    if (left.length > 0) {
      if (options.force !== true) throw busyError(this.name, left);
      // cgroup.kill (Linux 5.14) kills the whole subtree atomically, forks included.
      if (await this.files.exists(`${this.dir}/cgroup.kill`)) {
        await this.files.write(`${this.dir}/cgroup.kill`, 1);
      } else {
        const frozen = await this.freeze(options).then(() => true, () => false);
        killAll(await this.processes(), this.kill);
        if (frozen) await this.thaw();
      }
      await waitEmpty(this.name, () => this.processes(), this.timeoutMs, options.signal);
    }
    await this.files.removeTree(this.dir, this.timeoutMs, options.signal);
  }
}
