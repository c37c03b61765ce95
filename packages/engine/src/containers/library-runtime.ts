/**
 * berth's own OCI runtime, in this process: @berth/runtime's library (createRuntime) instead of
 * a `berth-runtime` child per operation. The state directory is the one `berth-runtime --root`
 * uses, so either can act on a container the other made.
 *
 *   foreground run   berth-shim in foreground mode, a child of this CLI, which waits for it
 *   detached start   berth-shim in monitor mode (double-forked, setsid, subreaper, json-file
 *                    log with rotation, exit file); once the container exits the shim execs the
 *                    exit command in its place: `berth container cleanup <id>`
 *
 * The control operations the engine calls synchronously (state, kill, delete, ps) read the
 * runtime's state.json and the container's cgroup directories directly: no process spawned.
 */
import { existsSync, fstatSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import type { StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import { BerthError, failedPrecondition, notFound, toBerthError } from '@berth/errors';
import { createRuntime, parseProcess, procStat, type Runtime, type RunStarted, type StdioEntry, type StdioSpec } from '@berth/runtime';
import type { ContainerRuntime, MonitoredStart, MonitoredStartOptions, RunExit, RunHandle, RunProcessOptions, RuntimeState } from './oci-runtime.js';

/** The part of the runtime's state.json read here. */
interface StoredState {
  readonly pid: number;
  readonly startTime: string;
  readonly cgroupDirs?: readonly string[];
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms: number): void => void Atomics.wait(sleepBuf, 0, 0, ms);

/** A start failure of the library as the engine reports it (Docker's words, exec errors kept). */
function startFailure(e: unknown): BerthError {
  const err = toBerthError(e);
  const exec = err.detail?.['exec'] === true;
  return new BerthError(err.code, `cannot start container: ${err.message}`, { cause: e, detail: { ...err.detail, exec } });
}

function stdioSpec(s: StdioOptions): StdioSpec {
  if (s === 'inherit' || s === 'ignore') return s;
  if (!Array.isArray(s)) return 'inherit';
  const one = (v: unknown): StdioEntry => (v === 'ignore' || v === 'pipe' || typeof v === 'number' ? v : 'inherit');
  return [one(s[0]), one(s[1]), one(s[2])];
}

/** Whether `fd` is a terminal (a tty or pty device), without loading node:tty. */
function isTerminal(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    const major = (st.rdev >> 8) & 0xfff;
    return st.isCharacterDevice() && (major === 4 || major === 5 || (major >= 136 && major <= 143));
  } catch {
    return false;
  }
}

/** berth's runtime as a library, with its state under `root`. */
export class LibraryRuntime implements ContainerRuntime {
  readonly name = 'berth-runtime';
  readonly binary = 'berth-runtime (in process)';
  readonly #root: string;
  #lib: Runtime | undefined;

  constructor(root: string) {
    this.#root = root;
  }

  get #rt(): Runtime {
    return (this.#lib ??= createRuntime({ root: this.#root }));
  }

  #load(id: string): StoredState | undefined {
    try {
      return JSON.parse(readFileSync(join(this.#root, id, 'state.json'), 'utf8')) as StoredState;
    } catch {
      return undefined;
    }
  }

  exists(id: string): boolean {
    return existsSync(join(this.#root, id));
  }

  async run(id: string, o: RunProcessOptions): Promise<RunHandle> {
    let onStarted: (s: RunStarted) => void = () => {};
    const started = new Promise<RunStarted>((r) => (onStarted = r));
    // Without a terminal, the shim writes the log and copies the output to ours (log_tee), and
    // the container reads our stdin itself (-i): no pipe through this process. Not a terminal's
    // stdin though: the container, in a process group of its own, would be stopped reading it.
    const log = o.stdio === 'inherit' || (o.stdio.stdin && isTerminal(0)) ? undefined : o.log;
    const exited = this.#rt.run(id, {
      bundle: o.bundle, pidFile: o.pidFile,
      stdio: o.stdio === 'inherit' ? 'inherit'
        : log !== undefined ? [o.stdio.stdin ? 'inherit' : 'ignore', log.tee.stdout ? 'inherit' : 'ignore', log.tee.stderr ? 'inherit' : 'ignore']
        : [o.stdio.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(log === undefined ? {} : {
        logFile: log.file, logTee: log.tee,
        ...(log.maxSize === undefined ? {} : { logMaxSize: log.maxSize }),
        ...(log.maxFile === undefined ? {} : { logMaxFile: log.maxFile }),
      }),
      onStarted,
      // With a terminal the runtime forwards this process's signals; with pipes the engine
      // decides (--sig-proxy) and the shim stays out of the terminal's process group.
      forwardSignals: o.stdio === 'inherit',
      ...(o.detached === true ? { ownProcessGroup: true } : {}),
    });
    const first = await Promise.race([started, exited.then(() => undefined, (e: unknown) => { throw startFailure(e); })]);
    if (first === undefined) throw failedPrecondition(`container ${id.slice(0, 12)} exited before it started`);
    const s = first;
    return {
      pid: s.pid, stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, ...(log === undefined ? {} : { logged: true }),
      exited: exited.then(async (x) => {
        // The run is over once the pipes are drained: their last output belongs to it.
        await Promise.all([s.stdout, s.stderr].map((p) => (p && !p.readableEnded && !p.destroyed ? new Promise((r) => p.once('close', r)) : undefined)));
        return { status: x.exitCode, oomKilled: x.oomKilled === true };
      }, (e: unknown) => { throw toBerthError(e); }),
    };
  }

  /** The cgroup move's grace period (see @berth/runtime's cgroups/warm.ts), started early. */
  readonly warm = (): void => this.#rt.warmCgroups();

  readonly startMonitored = async (id: string, o: MonitoredStartOptions): Promise<MonitoredStart> => {
    let st;
    try {
      st = await this.#rt.create(id, {
        bundle: o.bundle, stdio: 'ignore', monitor: true, logFile: o.logFile, exitCommand: o.exitCommand, terminalToLog: true,
        ...(o.logMaxSize === undefined ? {} : { logMaxSize: o.logMaxSize }),
        ...(o.logMaxFile === undefined ? {} : { logMaxFile: o.logMaxFile }),
      });
    } catch (e) {
      throw startFailure(e);
    }
    // The shim forked away from the process we spawned: the init's parent is the monitor.
    const monitorPid = procStat(st.pid)?.ppid ?? 0;
    try {
      await this.#rt.start(id);
    } catch (e) {
      await this.#rt.delete(id, { force: true }).catch(() => undefined);
      throw startFailure(e);
    }
    return { pid: st.pid, monitorPid };
  };

  readonly monitorSocket = (id: string): string | undefined => {
    const p = join(this.#root, id, 'shim.sock');
    return existsSync(p) ? p : undefined;
  };

  readonly recordedExit = (id: string): number | undefined => {
    try {
      const x = JSON.parse(readFileSync(join(this.#root, id, 'exit.json'), 'utf8')) as { exitCode?: unknown };
      return typeof x.exitCode === 'number' ? x.exitCode : undefined;
    } catch {
      return undefined;
    }
  };

  readonly monitoredExit = async (id: string): Promise<RunExit | undefined> => {
    if (!existsSync(join(this.#root, id, 'exit.json'))) return undefined;
    const x = await this.#rt.wait(id);
    return x.exitCode < 0 ? undefined : { status: x.exitCode, oomKilled: x.oomKilled === true };
  };

  async exec(id: string, processFile: string, o: { readonly stdio: StdioOptions; readonly detach?: boolean; readonly pidFile?: string }): Promise<number> {
    const proc = parseProcess(JSON.parse(readFileSync(processFile, 'utf8')) as unknown, processFile);
    try {
      const r = await this.#rt.exec(id, proc, {
        stdio: stdioSpec(o.stdio), ...(o.detach === true ? { detach: true } : {}), ...(o.pidFile === undefined ? {} : { pidFile: o.pidFile }),
      });
      return r.exitCode;
    } catch (e) {
      throw startFailure(e);
    }
  }

  /** Pids in the container's cgroups (the init alone when they cannot be read). */
  ps(id: string): number[] {
    const s = this.#load(id);
    if (s === undefined) throw notFound(`container "${id}" does not exist`);
    const pids = new Set<number>();
    for (const d of s.cgroupDirs ?? []) {
      try {
        for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l !== '') pids.add(Number(l));
      } catch { /* not there (v1 controller absent) */ }
    }
    if (pids.size === 0 && this.state(id)?.status !== 'stopped') pids.add(s.pid);
    return [...pids];
  }

  kill(id: string, signal: number, all = false): void {
    const st = this.state(id);
    if (st === undefined) throw notFound(`container "${id}" does not exist`);
    if (st.status === 'stopped' && !all) throw failedPrecondition(`container "${id}" is not running`);
    for (const p of all ? this.ps(id) : [st.pid]) {
      try { process.kill(p, signal); } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw toBerthError(e, `kill ${p}`);
      }
    }
  }

  /** Kills what is left (with `force`), removes the cgroups and the state. */
  delete(id: string, force = false): void {
    const s = this.#load(id);
    if (s === undefined) {
      rmSync(join(this.#root, id), { recursive: true, force: true });
      return;
    }
    const st = this.state(id);
    if (st !== undefined && st.status !== 'stopped') {
      if (!force) throw failedPrecondition(`cannot delete container "${id}" that is not stopped: ${st.status}`);
      this.#thaw(s);
      this.kill(id, 9, true);
    }
    // SIGKILL is asynchronous: wait (up to 5 s) for the cgroups to empty before removing them.
    for (let i = 0; i < 500 && this.ps(id).some((p) => procStat(p) !== undefined && procStat(p)?.state !== 'Z'); i++) {
      this.kill(id, 9, true);
      sleepSync(10);
    }
    for (const d of [...(s.cgroupDirs ?? [])].reverse()) removeCgroup(d);
    rmSync(join(this.#root, id), { recursive: true, force: true });
  }

  #thaw(s: StoredState): void {
    for (const d of s.cgroupDirs ?? []) {
      for (const [f, v] of [['freezer.state', 'THAWED'], ['cgroup.freeze', '0']] as const) {
        try { writeFileSync(join(d, f), v); } catch { /* not this hierarchy */ }
      }
    }
  }

  state(id: string): RuntimeState | undefined {
    const s = this.#load(id);
    if (s === undefined) return undefined;
    const dir = join(this.#root, id);
    const p = procStat(s.pid);
    if (existsSync(join(dir, 'exit.json')) || p === undefined || p.state === 'Z' || p.state === 'X' || p.startTime !== s.startTime) return { status: 'stopped', pid: 0 };
    if (existsSync(join(dir, 'exec.fifo'))) return { status: 'created', pid: s.pid };
    return { status: existsSync(join(dir, 'paused')) ? 'paused' : 'running', pid: s.pid };
  }

  pause(id: string): Promise<void> {
    return this.#rt.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.#rt.resume(id);
  }
}

/** rmdir of a cgroup and the cgroups a container made inside it, deepest first. */
function removeCgroup(dir: string): void {
  try {
    for (const e of readdirSync(dir)) {
      const sub = join(dir, e);
      try { if (statSync(sub).isDirectory()) removeCgroup(sub); } catch { /* gone */ }
    }
    rmdirSync(dir);
  } catch { /* gone, or still busy: system check reports it */ }
}
