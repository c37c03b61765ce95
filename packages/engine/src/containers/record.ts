/**
 * What berth.db holds of a container (its config and state) and whether the berth process that
 * holds a transient status still lives: all that `ps` needs, without the engine (and the runtime,
 * volumes and layer store behind it), so that the fast `ps` entry (cli/fast-ps.ts) and the
 * engine's reconcile decide alike.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { failedPrecondition } from '@berth/errors';
import type { RunOptions } from './options.js';
import type { ImageRunConfig } from './spec.js';
import type { DB } from '@berth/layer-store/db';
import { ContainerStore, type ContainerRecord, type ContainerState } from './store.js';

/** What the engine keeps about a container, fixed at create. */
export interface ContainerConfig {
  readonly options: RunOptions;
  readonly image: ImageRunConfig;
  readonly lowerDirs: readonly string[];
  readonly path: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly hostname: string;
  readonly user: string;
  readonly workdir: string;
}

/** Validates a stored config (written by this engine; checked for shape only). */
export function parseContainerConfig(json: unknown): ContainerConfig {
  const c = json as Partial<ContainerConfig> | null;
  if (typeof c !== 'object' || c === null || typeof c.options !== 'object' || !Array.isArray(c.args)) {
    throw failedPrecondition('a container config in berth.db is damaged: remove the container with berth rm -f');
  }
  return c as ContainerConfig;
}

/** A container as the engine sees it. */
export type Container = ContainerRecord<ContainerConfig>;

/** The containers of berth.db, each row's config checked by {@link parseContainerConfig}. */
export function containerStore(db: DB): ContainerStore<ContainerConfig> {
  return new ContainerStore<ContainerConfig>(db, parseContainerConfig);
}

/** A container's directory in the store: `$root/containers/<id>/` (config.json, hosts, log.json, its rootfs …). */
export function containerDir(root: string, id: string): string {
  return join(root, 'containers', id);
}

/** The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or '' when it is gone. */
export function processStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

let ownStart: string | undefined;
/** This process's start time, recorded beside its pid when it holds a container (read once). */
export const selfStart = (): string => (ownStart ||= processStart(process.pid));

/**
 * True when `pid` is the live berth process that took the row: same start time when one was
 * recorded (a pid reused after a reboot or a crash is someone else), and a berth command line.
 */
export function monitorAlive(pid: number, start = ''): boolean {
  if (pid <= 0) return false;
  if (start !== '' && processStart(pid) !== start) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berth');
  } catch {
    return false;
  }
}

/** Statuses that a live berth process holds: the shim (running, paused) or the CLI that set them. */
const transient: ReadonlySet<ContainerState['status']> = new Set(['starting', 'running', 'paused', 'stopping', 'removing']);

/**
 * True when the row's status is one a berth process holds and that process is gone (killed, or
 * the host rebooted): the row is stale, and the engine's reconcile must settle it before anyone
 * shows it (never a ghost "running").
 */
export function holderGone(c: ContainerRecord<unknown>): boolean {
  if (!transient.has(c.state.status)) return false;
  const holder = c.state.status === 'running' || c.state.status === 'paused' ? c.state.shimPid : c.state.owner;
  return !monitorAlive(holder, c.state.holderStart);
}
