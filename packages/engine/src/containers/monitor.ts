/**
 * The container monitor: spawns the runtime's `run`, records the init pid, copies output to
 * the json-file log (and the terminal when attached), records the exit, carries out the
 * restart policy and `--rm`. It runs inside the foreground `berth run`/`start -a`, or as a
 * detached `berth container monitor <id>` (setsid, no terminal) that outlives the CLI.
 *
 *   monitor                      runtime `run`                 container init
 *     beginStart (row: starting, owner = me)
 *     spawn ───────────────────────►  create + start ─────────────► exec
 *     pid file appears → started (row: running, shim_pid = me)
 *     ◄───────────── exit status (128+n for signal n) ◄───────────── exit
 *     finished (row: exited, exit file) → restart? → release rootfs → --rm? remove
 */
import { join } from 'node:path';
import { toBerthError, type BerthError } from '@berth/errors';
import type { RunExit, RunHandle } from './oci-runtime.js';
import { constants } from 'node:os';
import type { ContainerEngine } from './engine.js';
import { selfStart, type Container } from './record.js';
import { JsonLogWriter } from './logs.js';
import { phase } from './trace.js';

/** How the monitor connects the container's stdio. */
export type MonitorIO =
  /** Foreground with -t: the runtime gets the terminal; it makes the pty and proxies it. */
  | { readonly kind: 'tty' }
  /** Foreground without -t: output to the terminal and the log; stdin piped with -i. */
  | { readonly kind: 'attach'; readonly stdin: boolean; readonly sigProxy: boolean; readonly stdout?: boolean; readonly stderr?: boolean }
  /** Detached: output to the log only. */
  | { readonly kind: 'detached' };

/** Options of {@link monitor}. */
export interface MonitorOptions {
  readonly io: MonitorIO;
  /** Called once the first start succeeded or failed (the detached monitor reports to its CLI here). */
  readonly onReady?: (r: { readonly ok: true; readonly pid: number } | { readonly ok: false; readonly code: number; readonly error: string }) => void;
}

/** The result of a monitored run. */
export interface MonitorResult {
  readonly code: number;
  readonly error?: Error;
}

/** Runs a container until it is done (restarts included). Returns its last exit code. */
export async function monitor(engine: ContainerEngine, ref: string, o: MonitorOptions): Promise<MonitorResult> {
  let c: Container = engine.beginStart(ref);
  const id = c.id;
  const opts = c.config.options;
  const logging = o.io.kind !== 'tty';
  const containerLog = join(engine.dir(id), 'log.json');
  const rotation = {
    ...(opts.logMaxSize === undefined ? {} : { maxSize: opts.logMaxSize }),
    ...(opts.logMaxFile === undefined ? {} : { maxFile: opts.logMaxFile }),
  };
  // Written here only when the runtime does not write it itself (RunHandle.logged).
  let log: JsonLogWriter | undefined;
  let stdinPiped = false;
  let ready = false;
  let result: MonitorResult = { code: 0 };
  let released = false;
  let forward: ((sig: NodeJS.Signals) => void) | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      const { pidFile, logFile } = await engine.prepareStart(c);
      phase('start prepare');
      const io = o.io;
      let handle: RunHandle | undefined;
      let failure: BerthError | undefined;
      try {
        handle = await engine.deps.runtime.run(id, {
          bundle: engine.dir(id), pidFile, logFile,
          stdio: io.kind === 'tty' ? 'inherit' : { stdin: io.kind === 'attach' && io.stdin },
          detached: io.kind !== 'tty',
          ...(logging ? {
            log: { file: containerLog, ...rotation, tee: { stdout: io.kind === 'attach' && io.stdout !== false, stderr: io.kind === 'attach' && io.stderr !== false } },
          } : {}),
        });
      } catch (e) {
        failure = toBerthError(e);
      }
      phase('spawn runtime');
      let exit: RunExit = { status: 125, oomKilled: false };
      if (handle !== undefined) {
        c = engine.started(id, handle.pid, process.pid, attempt > 0);
        if (!ready) { ready = true; o.onReady?.({ ok: true, pid: handle.pid }); }
        if (logging && handle.logged !== true) log ??= new JsonLogWriter(containerLog, rotation);
        handle.stdout?.on('data', (d: Buffer) => {
          log?.write('stdout', d);
          if (io.kind === 'attach' && io.stdout !== false) process.stdout.write(d);
        });
        handle.stderr?.on('data', (d: Buffer) => {
          log?.write('stderr', d);
          if (io.kind === 'attach' && io.stderr !== false) process.stderr.write(d);
        });
        const stdin = handle.stdin;
        if (io.kind === 'attach' && io.stdin && stdin) {
          stdin.on('error', () => undefined);
          process.stdin.pipe(stdin);
          stdinPiped = true;
        }
        if (io.kind === 'attach' && io.sigProxy && forward === undefined) {
          forward = (sig) => {
            try { void engine.deps.runtime.kill(id, constants.signals[sig]); } catch { /* exited meanwhile */ }
          };
          for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) process.on(s, forward);
        }
        try {
          exit = await handle.exited;
        } catch (e) {
          failure = toBerthError(e);
        }
        phase('runtime run (create, exec, wait)');
        if (stdinPiped) process.stdin.unpipe();
      }
      // A `berth stop` marked it stopping: no restart policy applies then (Docker's rule).
      const stopped = engine.deps.store.find(id)?.state.status === 'stopping';
      released = await engine.releaseIfDone(c, { status: exit.status, failed: failure !== undefined, stopped });
      result = engine.finished(id, failure === undefined ? exit : { ...exit, failure });
      phase('record exit');
      if (result.error) {
        if (!ready) { ready = true; o.onReady?.({ ok: false, code: result.code, error: result.error.message }); }
        break;
      }
      if (stopped || !engine.shouldRestart(id, result.code)) break;
      // Back off like Docker (100 ms, doubling), then claim the row again for the next start.
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5_000)));
      try {
        c = engine.deps.store.transition(id, (cur) => {
          if (cur.state.status !== 'exited') throw new Error('no longer restartable');
          return { status: 'starting', owner: process.pid, holderStart: selfStart() };
        });
      } catch {
        break;
      }
    }
  } finally {
    if (forward) for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) process.off(s, forward);
    log?.close();
    // (Only when it was piped in: touching process.stdin makes its stream, ~3 ms of a run.)
    if (stdinPiped) process.stdin.destroy();
  }
  const after = engine.deps.store.find(id);
  if (after && after.state.status === 'exited') {
    if (opts.autoRemove) {
      // remove unmounts too: one pass over the mounts instead of two.
      await engine.remove(id, { force: true, volumes: true }).catch(() => undefined);
      phase('remove (unmount, delete)');
    } else if (!released) {
      await engine.release(id);
      phase('rootfs unmount');
    }
  }
  return result;
}

/**
 * Starts a container held by the runtime's own monitor (berth-shim), detached: no process of
 * this CLI stays behind. The shim records the exit and then runs `exitCommand` in its place
 * (`berth container cleanup <id>`, see {@link cleanupMonitored}), which carries out the restart
 * policy and --rm. The row's holder is the shim (pid and start time): once it is gone without
 * a recorded exit (killed, or the host rebooted), readers mark the container exited.
 *
 *   CLI (or cleanup, restarting)        berth-shim (monitor)              container init
 *     beginStart (starting, owner me)
 *     create ─────────────────────────► fork, setsid, clone ─────────────► steps, waits
 *     start ──────────────────────────────────────────────────────────────► exec
 *     started (running, holder = shim)
 *     exit                                 log.json ◄─── stdout/stderr
 *                                          exit.json ◄── wait ◄────────── exit
 *                                          exec `berth container cleanup <id>` (same pid)
 */
export async function startMonitored(engine: ContainerEngine, ref: string, exitCommand: readonly string[], restarting = false): Promise<Container> {
  const begun = engine.beginStart(ref);
  const id = begun.id;
  const startMon = engine.deps.runtime.startMonitored;
  if (startMon === undefined) throw new Error(`the runtime ${engine.deps.runtime.name} has no monitor of its own`);
  const opts = begun.config.options;
  try {
    await engine.prepareStart(begun);
    phase('start prepare');
    const s = await startMon(id, {
      bundle: engine.dir(id), logFile: join(engine.dir(id), 'log.json'), exitCommand,
      ...(opts.logMaxSize === undefined ? {} : { logMaxSize: opts.logMaxSize }),
      ...(opts.logMaxFile === undefined ? {} : { logMaxFile: opts.logMaxFile }),
    });
    phase('start monitored');
    return engine.started(id, s.pid, s.monitorPid, restarting);
  } catch (e) {
    const failure = toBerthError(e);
    const r = engine.finished(id, { status: 125, oomKilled: false, failure });
    if (opts.autoRemove) await engine.remove(id, { force: true, volumes: true }).catch(() => undefined);
    else await engine.release(id);
    throw r.error ?? failure;
  }
}

/**
 * `berth container cleanup <id>`: run by a container's shim in its own place once the
 * container exited (so this process is the row's holder). Records the exit, then restarts the
 * container under a new shim when its policy says so, else unmounts it or, with --rm, removes it.
 * Does nothing when the row is no longer held by this process (removed, or taken over).
 */
export async function cleanupMonitored(engine: ContainerEngine, id: string, exitCommand: readonly string[]): Promise<void> {
  // The shim may exit before its starter recorded it as the holder: wait for that (briefly).
  let c = engine.deps.store.find(id);
  for (let i = 0; c && c.state.status === 'starting' && i < 2000; i++) {
    await new Promise((r) => setTimeout(r, 5));
    c = engine.deps.store.find(id);
  }
  if (!c || c.state.shimPid !== process.pid || !['running', 'paused', 'stopping'].includes(c.state.status)) return;
  const exit = (await engine.deps.runtime.monitoredExit?.(c.id).catch(() => undefined)) ?? { status: 137, oomKilled: false };
  // A `berth stop` marked it stopping: no restart policy applies then (Docker's rule).
  const stopped = c.state.status === 'stopping';
  const released = await engine.releaseIfDone(c, { status: exit.status, failed: false, stopped });
  const r = engine.finished(c.id, exit);
  for (let attempt = c.state.restartCount; !stopped && engine.shouldRestart(c.id, r.code); attempt++) {
    // Back off like Docker (100 ms, doubling); a stop or rm meanwhile wins.
    await new Promise((res) => setTimeout(res, Math.min(100 * 2 ** Math.min(attempt, 10), 5_000)));
    if (!engine.shouldRestart(c.id, r.code)) break;
    try {
      await startMonitored(engine, c.id, exitCommand, true);
      return;
    } catch {
      // recorded by startMonitored; the policy decides again on the new exit code
      const now = engine.deps.store.find(c.id);
      if (!now || now.state.status !== 'exited') return;
    }
  }
  const after = engine.deps.store.find(c.id);
  if (after && after.state.status === 'exited') {
    if (after.config.options.autoRemove) await engine.remove(c.id, { force: true, volumes: true });
    else if (!released) await engine.release(c.id); // a restart that did not happen
  }
}
