/**
 * `berth inspect` of containers: its flags, the Docker-shaped JSON and the text printed. Shared by
 * the containers command group and the fast entry (../fast-inspect.ts); kept free of the engine.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { recordedMounts, type VolumeStore } from '@berth/volume';
import { containerDir, type Container } from '../../containers/record.js';
import { signalName } from '../../containers/units.js';
import { dockerStatus } from './ps.js';

/** The flags of `inspect`, as commander gives them. */
export interface InspectFlags {
  readonly format?: string;
}

/** What inspect reads beside the container's row: the store's root and the recorded mounts. */
export interface InspectStore {
  readonly root: string;
  readonly volumes: VolumeStore;
}

/** Declares `inspect`'s description, arguments and flags on `c`; the caller adds the action. */
export function inspectCommand(c: Command): Command {
  return c
    .description('show low-level information on containers as JSON')
    .argument('<container...>')
    .option('-f, --format <template>', "a template like '{{.State.Status}}'");
}

/** Docker-shaped `inspect` JSON of a container. */
export function inspectJson(store: InspectStore, c: Container): Record<string, unknown> {
  const dir = containerDir(store.root, c.id);
  const o = c.config.options;
  const s = c.state;
  return {
    Id: c.id,
    Created: c.created,
    Path: c.config.path,
    Args: c.config.args,
    State: {
      Status: dockerStatus(c),
      Running: s.status === 'running' || s.status === 'paused' || s.status === 'stopping',
      Paused: s.status === 'paused',
      Restarting: false,
      OOMKilled: s.oomKilled,
      Dead: false,
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt || '0001-01-01T00:00:00Z',
      FinishedAt: s.finishedAt || '0001-01-01T00:00:00Z',
    },
    Image: c.imageId,
    ResolvConfPath: join(dir, 'resolv.conf'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    LogPath: join(dir, 'log.json'),
    Name: `/${c.name}`,
    RestartCount: s.restartCount,
    Driver: 'overlay',
    Platform: 'linux',
    HostConfig: {
      AutoRemove: o.autoRemove,
      NetworkMode: o.network,
      RestartPolicy: { Name: o.restart.name, MaximumRetryCount: o.restart.maxRetries },
      Privileged: o.privileged,
      ReadonlyRootfs: o.readOnly,
      CapAdd: o.capAdd,
      CapDrop: o.capDrop,
      SecurityOpt: [
        ...(o.security.noNewPrivileges ? ['no-new-privileges'] : []),
        ...(o.security.seccomp === 'unconfined' ? ['seccomp=unconfined'] : typeof o.security.seccomp === 'object' ? [`seccomp=${o.security.seccomp.file}`] : []),
      ],
      Memory: o.resources.memory ?? 0,
      MemorySwap: o.resources.memorySwap ?? 0,
      NanoCpus: o.resources.cpuQuota === undefined ? 0 : Math.round((o.resources.cpuQuota / (o.resources.cpuPeriod ?? 100000)) * 1e9),
      CpuShares: o.resources.cpuShares ?? 0,
      CpusetCpus: o.resources.cpusetCpus ?? '',
      PidsLimit: o.resources.pidsLimit ?? null,
      Ulimits: o.ulimits.map((u) => ({ Name: u.type.replace('RLIMIT_', '').toLowerCase(), Soft: u.soft, Hard: u.hard })),
      Init: o.init,
      LogConfig: { Type: 'json-file', Config: { ...(o.logMaxSize === undefined ? {} : { 'max-size': String(o.logMaxSize) }), ...(o.logMaxFile === undefined ? {} : { 'max-file': String(o.logMaxFile) }) } },
    },
    Mounts: recordedMounts(store.volumes, c.id).map((m) => (m.type === 'bind'
      ? { Type: 'bind', Source: m.source, Destination: m.target, Mode: '', RW: !m.readonly, Propagation: m.propagation }
      : m.type === 'volume'
        ? { Type: 'volume', Name: m.name, Source: join(store.root, 'volumes', m.name, '_data'), Destination: m.target, Driver: 'local', Mode: '', RW: !m.readonly, Propagation: '' }
        : { Type: 'tmpfs', Source: '', Destination: m.target, Mode: '', RW: !m.readonly, Propagation: '' })),
    Config: {
      Hostname: c.config.hostname,
      User: c.config.user,
      Tty: o.tty,
      OpenStdin: o.interactive,
      Env: c.config.env,
      Cmd: o.command.length > 0 ? o.command : c.config.image.Cmd ?? null,
      Image: c.image,
      WorkingDir: c.config.workdir,
      Entrypoint: o.entrypoint !== undefined ? (o.entrypoint === '' ? null : [o.entrypoint]) : c.config.image.Entrypoint ?? null,
      Labels: { ...(c.config.image.Labels ?? {}), ...o.labels },
      StopSignal: signalName(o.stopSignal ?? 15),
      StopTimeout: o.stopTimeout ?? 10,
    },
    NetworkSettings: { Networks: { [o.network]: { NetworkID: o.network, IPAddress: '', Gateway: '', MacAddress: '' } }, Ports: {}, SandboxKey: '' },
  };
}

/** What inspect prints for these containers' JSON: a JSON array, or the template once per container. */
export function inspectText(out: readonly Record<string, unknown>[], o: InspectFlags): string {
  const format = o.format;
  if (format === undefined) return JSON.stringify(out, null, 4) + '\n';
  return out.map((j) => format.replace(/\{\{\s*((?:\.\w+)+)\s*\}\}/g, (_m, path: string) => {
    let v: unknown = j;
    for (const k of path.split('.').slice(1)) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }) + '\n').join('');
}
