import { failedPrecondition, invalidArgument, unavailable } from '@berth/errors';
import type { CgroupFs } from './fs.js';
import type { CgroupMount } from './host.js';
import {
  Files,
  busyError,
  counter,
  killAll,
  missingController,
  sleep,
  waitEmpty,
  type ApplyReport,
  type CgroupManager,
  type DestroyOptions,
} from './manager.js';
import {
  deviceRuleLine,
  parseCount,
  parseKeyValues,
  parseLimit,
  type CgroupStats,
  type LinuxDeviceCgroup,
  type LinuxResources,
  type LinuxThrottleDevice,
} from './resources.js';

/** The v1 controllers a container's cgroup is created in, when the host mounts them. */
export const v1Controllers = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'devices', 'freezer', 'blkio', 'hugetlb', 'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc'] as const;

/** One hierarchy the cgroup lives in: its mount and the cgroup's directory there. */
export interface V1Placement {
  readonly mount: CgroupMount;
  readonly dir: string;
}

/**
 * The cgroup v1 driver: one directory per mounted hierarchy (controllers mounted together,
 * like `cpu,cpuacct`, share one). Limits map to the v1 files:
 *
 * ```
 * memory.limit      → memory.limit_in_bytes        cpu.shares        → cpu.shares
 * memory.swap       → memory.memsw.limit_in_bytes  cpu.quota/period  → cpu.cfs_quota_us / cpu.cfs_period_us
 * memory.reservation→ memory.soft_limit_in_bytes   cpu.cpus/mems     → cpuset.cpus / cpuset.mems
 * pids.limit        → pids.max                     devices[]         → devices.deny / devices.allow
 * ```
 */
export class V1CgroupManager implements CgroupManager {
  readonly version = 1 as const;
  readonly dirs: readonly string[];
  private readonly files: Files;
  private readonly byController: ReadonlyMap<string, V1Placement>;
  private readonly kill: (pid: number, signal: NodeJS.Signals) => void;
  private readonly timeoutMs: number;

  /** `placements`: controller → where its hierarchy is mounted and the cgroup's directory in it. */
  constructor(
    readonly name: string,
    placements: ReadonlyMap<string, V1Placement>,
    fs: CgroupFs,
    options: { readonly kill?: (pid: number, signal: NodeJS.Signals) => void; readonly timeoutMs?: number } = {},
  ) {
    this.byController = placements;
    this.dirs = [...new Set([...placements.values()].map((p) => p.dir))];
    this.files = new Files(fs);
    this.kill = options.kill ?? ((pid, sig) => process.kill(pid, sig));
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  private dir(controller: string): string | undefined {
    return this.byController.get(controller)?.dir;
  }

  private need(controller: string, what: string): string {
    const d = this.dir(controller);
    if (d === undefined) throw missingController(controller, what, 'on this host (no v1 hierarchy mounts it)');
    return d;
  }

  async create(resources: LinuxResources = {}): Promise<ApplyReport> {
    const created: string[] = [];
    try {
      const done = new Set<string>();
      for (const [controller, { mount, dir }] of this.byController) {
        if (done.has(dir)) continue;
        done.add(dir);
        const made = await this.files.mkdirs(mount.mountpoint, dir);
        created.push(...made);
        // A new v1 cpuset cgroup starts with empty cpus and mems and refuses tasks until they
        // are set: copy them down from the parent, level by level (cgroups(7), cpuset(7)).
        if (controller === 'cpuset' || dir === this.dir('cpuset')) {
          for (const d of made) await this.inheritCpuset(d);
        }
      }
      return await this.apply(resources, false);
    } catch (e) {
      // Leave nothing half made behind: remove what this call created, deepest first.
      for (const d of created.reverse()) await this.files.fs.rmdir(d).catch(() => undefined);
      throw e;
    }
  }

  private async inheritCpuset(dir: string): Promise<void> {
    const parent = dir.slice(0, dir.lastIndexOf('/'));
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if ((await this.files.readOr(`${dir}/${f}`, '')).trim() !== '') continue;
      const value = (await this.files.read(`${parent}/${f}`)).trim();
      if (value !== '') await this.files.write(`${dir}/${f}`, value);
    }
  }

  async exists(): Promise<boolean> {
    for (const d of this.dirs) if (await this.files.exists(d)) return true;
    return false;
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw invalidArgument(`pid ${pid} is not a process id`);
    for (const d of this.dirs) await this.files.write(`${d}/cgroup.procs`, pid);
  }

  update(resources: LinuxResources): Promise<ApplyReport> {
    return this.apply(resources, true);
  }

  private async apply(r: LinuxResources, update: boolean): Promise<ApplyReport> {
    const warnings: string[] = [];
    const w = (path: string, value: string | number) => this.files.write(path, value);
    if (r.unified !== undefined && Object.keys(r.unified).length > 0) {
      throw invalidArgument(`resources.unified (${Object.keys(r.unified).join(', ')}) needs cgroup v2; this host uses cgroup v1`);
    }

    const m = r.memory;
    if (m !== undefined) {
      const wantsLimit = m.limit !== undefined && m.limit !== 0;
      const wantsSwap = m.swap !== undefined && m.swap !== 0;
      if (wantsLimit || wantsSwap || m.reservation !== undefined || m.swappiness !== undefined || m.disableOOMKiller === true) {
        const d = this.need('memory', 'set a memory limit');
        const memsw = `${d}/memory.memsw.limit_in_bytes`;
        const hasSwapAccounting = await this.files.exists(memsw);
        let swap = wantsSwap ? m.swap : undefined;
        if (swap !== undefined && !hasSwapAccounting) {
          if (swap !== -1) {
            throw failedPrecondition(
              `cannot set the memory+swap limit to ${swap}: the kernel does not account swap (no memory.memsw.limit_in_bytes); boot it with swapaccount=1 or leave the swap limit out`,
            );
          }
          warnings.push('memory swap: the kernel does not account swap (no memory.memsw.*), so swap is not limited');
          swap = undefined;
        }
        // An unlimited memory limit with no word on swap lifts the swap limit too (as runc does);
        // otherwise memsw, which must stay ≥ memory, would keep capping it.
        if (m.limit === -1 && swap === undefined && hasSwapAccounting && update) swap = -1;
        if (wantsLimit && m.limit !== undefined) {
          const limitFile = `${d}/memory.limit_in_bytes`;
          if (swap !== undefined) {
            // memsw ≥ memory at every instant, so order the writes: memsw first when growing.
            const current = parseLimit(await this.files.readOr(memsw, 'max'));
            const memswFirst = swap === -1 || (m.limit !== -1 && current !== null && m.limit > current);
            if (memswFirst) {
              await w(memsw, swap);
              await w(limitFile, m.limit);
            } else {
              await w(limitFile, m.limit);
              await w(memsw, swap);
            }
          } else {
            await w(limitFile, m.limit);
          }
        } else if (swap !== undefined) {
          await w(memsw, swap);
        }
        if (m.reservation !== undefined) await w(`${d}/memory.soft_limit_in_bytes`, m.reservation);
        if (m.swappiness !== undefined) {
          if (!Number.isInteger(m.swappiness) || m.swappiness < 0 || m.swappiness > 100) throw invalidArgument(`memory swappiness ${m.swappiness} is not between 0 and 100`);
          if (await this.files.exists(`${d}/memory.swappiness`)) await w(`${d}/memory.swappiness`, m.swappiness);
          else warnings.push('memory swappiness: the kernel has no memory.swappiness, not set');
        }
        if (m.disableOOMKiller === true) await w(`${d}/memory.oom_control`, 1);
      }
      if ((m.kernel ?? 0) !== 0 || (m.kernelTCP ?? 0) !== 0) warnings.push('memory kernel/kernelTCP: kernel memory limits are deprecated by the kernel and ignored');
    }

    const c = r.cpu;
    if (c !== undefined) {
      if (c.shares !== undefined && c.shares !== 0) await w(`${this.need('cpu', 'set cpu shares')}/cpu.shares`, c.shares);
      if ((c.period !== undefined && c.period !== 0) || (c.quota !== undefined && c.quota !== 0)) {
        const d = this.need('cpu', 'set a cpu quota');
        if (c.period !== undefined && c.period !== 0) await w(`${d}/cpu.cfs_period_us`, c.period);
        if (c.quota !== undefined && c.quota !== 0) await w(`${d}/cpu.cfs_quota_us`, c.quota);
      }
      if (c.burst !== undefined) {
        const d = this.need('cpu', 'set a cpu burst');
        if (await this.files.exists(`${d}/cpu.cfs_burst_us`)) await w(`${d}/cpu.cfs_burst_us`, c.burst);
        else warnings.push('cpu burst: the kernel has no cpu.cfs_burst_us, not set');
      }
      if (c.realtimePeriod !== undefined && c.realtimePeriod !== 0) await w(`${this.need('cpu', 'set a realtime period')}/cpu.rt_period_us`, c.realtimePeriod);
      if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== 0) await w(`${this.need('cpu', 'set a realtime runtime')}/cpu.rt_runtime_us`, c.realtimeRuntime);
      if (c.idle !== undefined) await w(`${this.need('cpu', 'set cpu idle')}/cpu.idle`, c.idle);
      if (c.cpus !== undefined && c.cpus !== '') await w(`${this.need('cpuset', 'pin cpus')}/cpuset.cpus`, c.cpus);
      if (c.mems !== undefined && c.mems !== '') await w(`${this.need('cpuset', 'pin memory nodes')}/cpuset.mems`, c.mems);
    }

    if (r.pids !== undefined && r.pids.limit !== 0) {
      await w(`${this.need('pids', 'set a pids limit')}/pids.max`, r.pids.limit > 0 ? r.pids.limit : 'max');
    }

    if (r.devices !== undefined && r.devices.length > 0) {
      const d = this.need('devices', 'restrict devices');
      const changes = update ? await this.deviceChanges(d, r.devices) : undefined;
      for (const [file, line] of changes ?? r.devices.map((rule) => [rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleLine(rule)] as const)) {
        await w(`${d}/${file}`, line);
      }
    }

    const b = r.blockIO;
    if (b !== undefined) {
      if (b.weight !== undefined && b.weight !== 0) {
        const d = this.need('blkio', 'set a block io weight');
        if (await this.files.exists(`${d}/blkio.weight`)) await w(`${d}/blkio.weight`, b.weight);
        else if (await this.files.exists(`${d}/blkio.bfq.weight`)) await w(`${d}/blkio.bfq.weight`, b.weight);
        else warnings.push('blkio weight: no io scheduler with weights (cfq/bfq) on this kernel, not set');
      }
      const throttle = async (devs: readonly LinuxThrottleDevice[] | undefined, file: string) => {
        if (devs === undefined) return;
        const d = this.need('blkio', 'throttle block io');
        for (const dev of devs) await w(`${d}/${file}`, `${dev.major}:${dev.minor} ${dev.rate}`);
      };
      await throttle(b.throttleReadBpsDevice, 'blkio.throttle.read_bps_device');
      await throttle(b.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device');
      await throttle(b.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device');
      await throttle(b.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device');
    }

    for (const h of r.hugepageLimits ?? []) {
      await w(`${this.need('hugetlb', `limit ${h.pageSize} huge pages`)}/hugetlb.${h.pageSize}.limit_in_bytes`, h.limit);
    }

    const n = r.network;
    if (n !== undefined) {
      if (n.classID !== undefined) {
        const d = this.dir('net_cls');
        if (d === undefined) warnings.push('network classID: the net_cls controller is not mounted, not set');
        else await w(`${d}/net_cls.classid`, n.classID);
      }
      for (const p of n.priorities ?? []) {
        const d = this.dir('net_prio');
        if (d === undefined) {
          warnings.push('network priorities: the net_prio controller is not mounted, not set');
          break;
        }
        await w(`${d}/net_prio.ifpriomap`, `${p.name} ${p.priority}`);
      }
    }
    return { warnings };
  }

  /**
   * On a live cgroup, replaying a default-deny list would start with "deny a" and leave the
   * container without even /dev/null for a moment. When both the current list
   * (devices.list) and the new one deny by default, write only the difference of their
   * allowed entries instead. Undefined when the lists cannot be compared that way.
   */
  private async deviceChanges(dir: string, rules: readonly LinuxDeviceCgroup[]): Promise<Array<readonly [string, string]> | undefined> {
    let denyByDefault = false;
    let target: string[] = [];
    let sawAll = false;
    for (const rule of rules) {
      const line = deviceRuleLine(rule);
      if (line === 'a') {
        if ((rule.access ?? 'rwm').length !== 3) return undefined;
        denyByDefault = !rule.allow;
        target = [];
        sawAll = true;
      } else if (rule.allow) {
        if (!target.includes(line)) target.push(line);
      } else {
        if (!denyByDefault) return undefined;
        target = target.filter((l) => l !== line);
      }
    }
    const current = (await this.files.read(`${dir}/devices.list`)).split('\n').map((l) => l.trim()).filter(Boolean);
    if (!sawAll || !denyByDefault || current.includes('a *:* rwm')) return undefined;
    return [
      ...current.filter((l) => !target.includes(l)).map((l) => ['devices.deny', l] as const),
      ...target.filter((l) => !current.includes(l)).map((l) => ['devices.allow', l] as const),
    ];
  }

  async stats(): Promise<CgroupStats> {
    const f = this.files;
    const acct = this.dir('cpuacct');
    const cpu = this.dir('cpu');
    const mem = this.dir('memory');
    const pids = this.dir('pids');
    let userNs = 0;
    let systemNs = 0;
    if (acct !== undefined) {
      const user = await f.readOr(`${acct}/cpuacct.usage_user`, '');
      const sys = await f.readOr(`${acct}/cpuacct.usage_sys`, '');
      if (user !== '' && sys !== '') {
        userNs = parseCount(user);
        systemNs = parseCount(sys);
      } else {
        // cpuacct.stat counts USER_HZ ticks (100 per second on every Linux ABI).
        const stat = parseKeyValues(await f.readOr(`${acct}/cpuacct.stat`, ''));
        userNs = (stat.get('user') ?? 0) * 1e7;
        systemNs = (stat.get('system') ?? 0) * 1e7;
      }
    }
    const cpuStat = parseKeyValues(cpu === undefined ? '' : await f.readOr(`${cpu}/cpu.stat`, ''));
    const memStat = parseKeyValues(mem === undefined ? '' : await f.readOr(`${mem}/memory.stat`, ''));
    return {
      cpu: {
        usageNs: acct === undefined ? 0 : parseCount(await f.readOr(`${acct}/cpuacct.usage`, '0')),
        userNs,
        systemNs,
        periods: cpuStat.get('nr_periods') ?? 0,
        throttledPeriods: cpuStat.get('nr_throttled') ?? 0,
        throttledNs: cpuStat.get('throttled_time') ?? 0,
      },
      memory: {
        usage: mem === undefined ? 0 : parseCount(await f.readOr(`${mem}/memory.usage_in_bytes`, '0')),
        limit: mem === undefined ? null : parseLimit(await f.readOr(`${mem}/memory.limit_in_bytes`, 'max')),
        maxUsage: mem === undefined ? null : parseLimit(await f.readOr(`${mem}/memory.max_usage_in_bytes`, '')),
        cache: memStat.get('total_cache') ?? memStat.get('cache') ?? 0,
        oomKills: mem === undefined ? 0 : await counter(f, `${mem}/memory.oom_control`, 'oom_kill'),
      },
      pids: {
        current: pids === undefined ? 0 : parseCount(await f.readOr(`${pids}/pids.current`, '0')),
        limit: pids === undefined ? null : parseLimit(await f.readOr(`${pids}/pids.max`, 'max')),
      },
    };
  }

  async freeze(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const d = this.need('freezer', 'freeze the container');
    // Writing FROZEN starts freezing; the state reads FREEZING until every task has stopped.
    // Re-writing it nudges tasks that were forking meanwhile (as runc does).
    const deadline = Date.now() + this.timeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      await this.files.write(`${d}/freezer.state`, 'FROZEN');
      if ((await this.files.read(`${d}/freezer.state`)).trim() === 'FROZEN') return;
      if (Date.now() >= deadline) {
        await this.files.write(`${d}/freezer.state`, 'THAWED');
        throw unavailable(`freeze cgroup ${this.name}: its tasks did not stop within ${this.timeoutMs} ms; thawed it again`);
      }
      await sleep(delay, options.signal, `freeze cgroup ${this.name}`);
    }
  }

  async thaw(): Promise<void> {
    await this.files.write(`${this.need('freezer', 'thaw the container')}/freezer.state`, 'THAWED');
  }

  async oomKilled(): Promise<boolean> {
    const mem = this.dir('memory');
    if (mem === undefined) return false;
    return (await counter(this.files, `${mem}/memory.oom_control`, 'oom_kill')) > 0;
  }

  async processes(): Promise<number[]> {
    const all = new Set<number>();
    for (const d of this.dirs) for (const p of await this.files.pids(d)) all.add(p);
    return [...all].sort((a, b) => a - b);
  }

  async destroy(options: DestroyOptions = {}): Promise<void> {
    if (!(await this.exists())) return;
    const left = await this.processes();
    if (left.length > 0) {
      if (options.force !== true) throw busyError(this.name, left);
      // Freeze first so nothing forks between reading the list and the kills.
      const frozen = this.dir('freezer') !== undefined && (await this.freeze(options).then(() => true, () => false));
      killAll(await this.processes(), this.kill);
      if (frozen) await this.thaw();
      await waitEmpty(this.name, () => this.processes(), this.timeoutMs, options.signal);
    }
    for (const d of this.dirs) await this.files.removeTree(d, this.timeoutMs, options.signal);
  }
}
