/**
 * The engine's view of an OCI runtime, and an implementation that drives any runtime with
 * runc's command line (`runc`, or `berth-runtime` from @berth/runtime, which speaks it too):
 *
 *   run --bundle <dir> --pid-file <file> <id>     the runtime stays the container's parent and
 *                                                 exits with its status (128+n for signal n)
 *   kill <id> <signal> · delete [--force] <id> · state <id> · pause/resume <id>
 *
 * The process that spawns `run` is the container's monitor: the foreground CLI, or the
 * detached `berth container monitor` (see monitor.ts).
 */
import type { StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { constants } from 'node:os';
/** node:child_process (and net behind it) loads at the first spawn, not at start-up: ps never spawns. */
const childProcess = () => process.getBuiltinModule('node:child_process');
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode, unavailable } from '@berth/errors';

/** What the runtime reports about a container. */
export interface RuntimeState {
  readonly status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  readonly pid: number;
}

/** How the container's fds 0-2 are connected in a foreground run. */
export type RunStdio =
  /** The caller's terminal, as is (-t: the runtime makes the pty and proxies it). */
  | 'inherit'
  /** Pipes to the caller: stdout and stderr always, stdin when asked. */
  | { readonly stdin: boolean };

/** Options of {@link ContainerRuntime.run}. */
export interface RunProcessOptions {
  readonly bundle: string;
  readonly pidFile: string;
  /** Runtime's own JSON log (errors of create/start land there). */
  readonly logFile: string;
  readonly stdio: RunStdio;
  /** Own process group, so a terminal's Ctrl-C reaches the container only through the engine. */
  readonly detached?: boolean;
  /**
   * The container's json-file log, for a runtime that can write it itself (and copy the output
   * to this process's stdout/stderr per `tee`): it then says so with {@link RunHandle.logged}
   * and gives no output pipes. Others ignore it: the engine logs what their pipes carry.
   */
  readonly log?: { readonly file: string; readonly maxSize?: number; readonly maxFile?: number; readonly tee: { readonly stdout: boolean; readonly stderr: boolean } };
}

/** How a run ended: the status (128+n for signal n) and whether the OOM killer did it. */
export interface RunExit {
  readonly status: number;
  readonly oomKilled: boolean;
}

/** A container process that runs, in the foreground of its caller. */
export interface RunHandle {
  /** Host pid of the container's init. */
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exited: Promise<RunExit>;
  /** The runtime writes the log ({@link RunProcessOptions.log}); stdout and stderr are null. */
  readonly logged?: boolean;
}

/** Options of {@link ContainerRuntime.startMonitored}. */
export interface MonitoredStartOptions {
  readonly bundle: string;
  /** The json-file log the monitor writes the container's output to, and its rotation. */
  readonly logFile: string;
  readonly logMaxSize?: number;
  readonly logMaxFile?: number;
  /** Run by the monitor, in its place, once the exit status is recorded (`berth container cleanup`). */
  readonly exitCommand: readonly string[];
}

/** A container started under a monitor of the runtime's own (berth-shim), detached from its caller. */
export interface MonitoredStart {
  readonly pid: number;
  /** The monitor's pid: the container's holder. */
  readonly monitorPid: number;
}

/** An OCI runtime, as the engine uses it. */
export interface ContainerRuntime {
  readonly name: string;
  /** The binary run (its path, as given), for messages. */
  readonly binary: string;
  /**
   * Creates and starts the container in the foreground of this process. Resolves once it runs;
   * rejects with the start failure (a BerthError, `detail.exec` for an exec error).
   */
  run(id: string, options: RunProcessOptions): Promise<RunHandle>;
  /**
   * Optional: begin what the runtime will wait for when it starts a container shortly (the
   * engine calls it ~10 ms ahead, when it prepares the rootfs).
   */
  readonly warm?: () => void;
  /**
   * Present when the runtime has a monitor of its own: starts the container held by it, with no
   * process of the caller's left behind. Resolves once the container runs.
   */
  readonly startMonitored?: (id: string, options: MonitoredStartOptions) => Promise<MonitoredStart>;
  /** The unix socket a monitored container's monitor answers on (attach, resize, kill, state), when it has one. */
  readonly monitorSocket?: (id: string) => string | undefined;
  /** The exit code a monitored container's monitor recorded (read synchronously), or undefined. */
  readonly recordedExit?: (id: string) => number | undefined;
  /** The exit a monitored container's monitor recorded, or undefined (none yet, or none kept). */
  readonly monitoredExit?: (id: string) => Promise<RunExit | undefined>;
  /** Runs another process (an OCI `process` JSON file) in a running container; resolves with its status (0 once started with `detach`). */
  exec(id: string, processFile: string, options: { readonly stdio: StdioOptions; readonly detach?: boolean; readonly pidFile?: string; readonly logFile: string }): Promise<number>;
  /** Pids of the container's processes (host pid namespace). */
  ps(id: string): number[];
  /** True when the runtime holds state for `id` (cheap: no process spawned). */
  exists(id: string): boolean;
  kill(id: string, signal: number, all?: boolean): void;
  delete(id: string, force?: boolean): void;
  state(id: string): RuntimeState | undefined;
  pause(id: string): void | Promise<void>;
  resume(id: string): void | Promise<void>;
}

/** Waits for a pid file to hold a pid; undefined once `exited` settled without one. */
async function waitPid(pidFile: string, exited: Promise<unknown>): Promise<number | undefined> {
  let done = false;
  void exited.then(() => { done = true; });
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) return pid;
    } catch { /* not yet */ }
    if (done) return undefined;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** A runtime binary with runc's CLI, keeping its state under `stateRoot`. */
export class OciCliRuntime implements ContainerRuntime {
  readonly name: string;
  readonly #binary: string;
  readonly #root: string;

  get binary(): string { return this.#binary; }

  constructor(binary: string, stateRoot: string) {
    this.#binary = binary;
    this.#root = stateRoot;
    this.name = binary.split('/').pop() ?? binary;
  }

  exists(id: string): boolean {
    return existsSync(join(this.#root, id));
  }

  async run(id: string, o: RunProcessOptions): Promise<RunHandle> {
    const child = childProcess().spawn(this.#binary, ['--root', this.#root, '--log', o.logFile, '--log-format', 'json', 'run', '--bundle', o.bundle, '--pid-file', o.pidFile, id], {
      stdio: o.stdio === 'inherit' ? 'inherit' : [o.stdio.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: o.detached ?? false,
    });
    // Taken into our own streams at once: a child that exits before anyone reads its pipes has
    // them resumed by Node (flushStdio), its output dropped, and the pid file comes later.
    const { PassThrough } = process.getBuiltinModule('node:stream');
    const take = (r: Readable | null): Readable | null => (r === null ? null : r.pipe(new PassThrough()));
    const stdout = take(child.stdout);
    const stderr = take(child.stderr);
    let spawnError: string | undefined;
    const status = new Promise<number>((resolve) => {
      child.on('error', (e) => { spawnError = (e as NodeJS.ErrnoException).code ?? e.message; resolve(125); });
      child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)));
    });
    // The exit counts once the pipes are drained: their last output belongs to the run.
    const exited = status.then(async (st) => {
      await Promise.all([stdout, stderr].map((s) => (s && !s.readableEnded && !s.destroyed ? new Promise((r) => s.once('close', r)) : undefined)));
      return { status: st, oomKilled: st !== 0 && runtimeOomKilled(o.logFile) };
    });
    const pid = await waitPid(o.pidFile, status);
    if (pid === undefined) {
      const st = await status;
      const failure = st !== 0 ? runtimeError(o.logFile) : undefined;
      if (failure !== undefined) throw startError(failure);
      // The runtime ended before the container's init ever ran, saying nothing: Docker's
      // "OCI runtime create failed", exit 125.
      throw new BerthError(ErrorCode.Unavailable, spawnError !== undefined
        ? `cannot run the OCI runtime ${this.#binary}: ${spawnError}: install it, or unset BERTH_RUNTIME to use berth's own`
        : `OCI runtime ${this.#binary} failed to create the container (exit status ${st}) and logged no reason: check the runtime, or unset BERTH_RUNTIME to use berth's own`,
      { detail: { exec: false } });
    }
    return { pid, stdin: child.stdin, stdout, stderr, exited };
  }

  async exec(id: string, processFile: string, o: { readonly stdio: StdioOptions; readonly detach?: boolean; readonly pidFile?: string; readonly logFile: string }): Promise<number> {
    const child = childProcess().spawn(this.#binary, ['--root', this.#root, '--log', o.logFile, '--log-format', 'json', 'exec', '--process', processFile,
      ...(o.detach ? ['--detach'] : []), ...(o.pidFile === undefined ? [] : ['--pid-file', o.pidFile]), id], { stdio: o.stdio });
    const status = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(125));
      child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)));
    });
    const failure = status !== 0 ? runtimeError(o.logFile) : undefined;
    if (failure !== undefined) throw startError(failure);
    return status;
  }

  ps(id: string): number[] {
    const out = this.#call(['ps', '--format', 'json', id], `list the processes of container ${id.slice(0, 12)}`);
    const pids = JSON.parse(out) as unknown;
    return Array.isArray(pids) ? pids.filter((p): p is number => typeof p === 'number') : [];
  }

  #call(args: readonly string[], what: string): string {
    const r = childProcess().spawnSync(this.#binary, ['--root', this.#root, ...args], { encoding: 'utf8' });
    if (r.error) throw unavailable(`cannot run the OCI runtime ${this.#binary}: ${r.error.message}`, { cause: r.error });
    if (r.status !== 0) {
      const msg = (r.stderr.trim().split('\n').pop() ?? '').replace(/^time=.*?msg="?|"$/g, '');
      const notExist = /does not exist|not found|no such/i.test(msg);
      throw new BerthError(notExist ? ErrorCode.NotFound : ErrorCode.FailedPrecondition, `${what}: ${msg || `exit status ${r.status}`}`);
    }
    return r.stdout;
  }

  kill(id: string, signal: number, all = false): void {
    this.#call(['kill', ...(all ? ['--all'] : []), id, String(signal)], `kill container ${id.slice(0, 12)}`);
  }

  delete(id: string, force = false): void {
    try {
      this.#call(['delete', ...(force ? ['--force'] : []), id], `delete container ${id.slice(0, 12)}`);
    } catch (e) {
      if (!(e instanceof BerthError && e.code === ErrorCode.NotFound)) throw e;
    }
  }

  state(id: string): RuntimeState | undefined {
    try {
      const s = JSON.parse(this.#call(['state', id], `state of container ${id.slice(0, 12)}`)) as { status?: unknown; pid?: unknown };
      const status = typeof s.status === 'string' ? s.status : 'stopped';
      return { status: status as RuntimeState['status'], pid: typeof s.pid === 'number' ? s.pid : 0 };
    } catch (e) {
      if (e instanceof BerthError && e.code === ErrorCode.NotFound) return undefined;
      throw e;
    }
  }

  pause(id: string): void {
    this.#call(['pause', id], `pause container ${id.slice(0, 12)}`);
  }

  resume(id: string): void {
    this.#call(['resume', id], `unpause container ${id.slice(0, 12)}`);
  }
}

/**
 * The last error a runtime wrote to its JSON log, or undefined. A `run` that exits non-zero
 * with an error in its log failed to start the container; otherwise the status is the container's.
 */
export function runtimeError(logFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  let last: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const o = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (o.level === 'error' && typeof o.msg === 'string') last = o.msg;
    } catch { /* not JSON */ }
  }
  return last;
}

/**
 * Whether the runtime's JSON log says the container was killed by the kernel's OOM killer: a
 * line with `"oomKilled": true` (what `berth-runtime run` writes when its foreground shim read
 * an OOM kill from the container's memory cgroup, before removing it).
 */
export function runtimeOomKilled(logFile: string): boolean {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    if (!line.includes('oomKilled')) return false;
    try { return (JSON.parse(line) as { oomKilled?: unknown }).oomKilled === true; } catch { return false; }
  });
}

/**
 * A start failure as Docker reports it: 127 when the command is not found, 126 when it cannot
 * be run, else 125. The message keeps the runtime's reason.
 */
export function startError(message: string): BerthError {
  const reason = message.replace(/^.*?(exec: )/, '$1').replace(/^runc (run|create) failed: /, '');
  const notFound = /executable file not found|no such file or directory/.test(reason);
  const cannot = /permission denied|is a directory|exec format error/.test(reason);
  return new BerthError(notFound ? ErrorCode.NotFound : cannot ? ErrorCode.PermissionDenied : ErrorCode.FailedPrecondition,
    `cannot start container: ${reason}`, { detail: { exec: notFound || cannot } });
}
