/**
 * Spawning a program with exactly the given fds as its fds 0…n-1, and nothing else of ours.
 *
 * node:child_process is the ordinary way, and costs a short CLI dearly: loading it (with net,
 * dgram and the stream machinery behind it) and its first spawn take ~8 ms of a `berth run`,
 * where the fork and exec themselves take ~1 ms. When no stream is wanted (every fd is one we
 * already hold) libuv's process handle, which child_process itself is built on, does the same
 * job directly: `process.binding('process_wrap')`. That binding is one Node keeps for
 * compatibility (DEP0111, documentation-only); where it is gone, child_process does it.
 */
import { constants } from 'node:os';
import { fromErrno } from '@berth/errors';

/** How a spawned process ended: its exit code, or the signal that killed it. */
export interface SpawnExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process started by {@link spawnWithFds}. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly exited: Promise<SpawnExit>;
  /** This process may exit while it runs. */
  unref(): void;
}

interface ProcessWrap {
  pid: number;
  onexit: (code: number, signal: string) => void;
  spawn(options: object): number;
  close(): void;
  unref(): void;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [-v, k]));

function processWrap(): (new () => ProcessWrap) | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): { Process?: new () => ProcessWrap } }).binding('process_wrap');
    return binding.Process;
  } catch {
    return undefined;
  }
}

/**
 * Runs `file` (argv[0] = file) with `fds[i]` as its fd i, this process's environment, in a
 * session of its own with `detached`. Throws when it cannot be started (ENOENT, EACCES…).
 */
export function spawnWithFds(file: string, args: readonly string[], fds: readonly number[], o: { readonly detached?: boolean } = {}): SpawnedProcess {
  const Process = processWrap();
  if (Process === undefined) return spawnWithChildProcess(file, args, fds, o);
  const handle = new Process();
  let onExit: (e: SpawnExit) => void = () => {};
  const exited = new Promise<SpawnExit>((r) => (onExit = r));
  handle.onexit = (code, signal) => {
    handle.close();
    onExit({ code: signal ? null : code, signal: signal ? (signal as NodeJS.Signals) : null });
  };
  const err = handle.spawn({
    file, args: [file, ...args],
    envPairs: Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
    stdio: fds.map((fd) => ({ type: 'fd', fd })),
    detached: o.detached === true,
  });
  if (err !== 0) {
    handle.close();
    throw fromErrno(`spawn ${file}`, errnoNames.get(err) ?? `E${-err}`, { syscall: 'spawn', path: file });
  }
  return { pid: handle.pid, exited, unref: () => handle.unref() };
}

/** {@link spawnWithFds} through node:child_process (where the binding is gone). */
export function spawnWithChildProcess(file: string, args: readonly string[], fds: readonly number[], o: { readonly detached?: boolean } = {}): SpawnedProcess {
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(file, [...args], { stdio: [...fds], detached: o.detached === true });
  const exited = new Promise<SpawnExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { pid: child.pid ?? 0, exited, unref: () => child.unref() };
}
