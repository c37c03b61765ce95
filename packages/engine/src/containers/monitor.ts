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
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { selfStart, type ContainerEngine, type Container } from './engine.js';
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

function exitStatusOf(child: ChildProcess, onError: (e: Error) => void): Promise<number> {
  return new Promise((resolve) => {
    child.on('error', (e) => { onError(e); resolve(125); });
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0)));
  });
}

async function waitPid(pidFile: string, exited: Promise<number>): Promise<number | undefined> {
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

/** Runs a container until it is done (restarts included). Returns its last exit code. */
export async function monitor(engine: ContainerEngine, ref: string, o: MonitorOptions): Promise<MonitorResult> {
  let c: Container = engine.beginStart(ref);
  const id = c.id;
  const opts = c.config.options;
  const logging = o.io.kind !== 'tty';
  const log = logging ? new JsonLogWriter(join(engine.dir(id), 'log.json'), {
    ...(opts.logMaxSize === undefined ? {} : { maxSize: opts.logMaxSize }),
    ...(opts.logMaxFile === undefined ? {} : { maxFile: opts.logMaxFile }),
  }) : undefined;
  let ready = false;
  let result: MonitorResult = { code: 0 };
  let forward: ((sig: NodeJS.Signals) => void) | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      const { pidFile, logFile } = await engine.prepareStart(c);
      phase('start prepare');
      const io = o.io;
      const child = engine.deps.runtime.run(id, {
        bundle: engine.dir(id),
        pidFile,
        logFile,
        stdio: io.kind === 'tty' ? 'inherit' : [io.kind === 'attach' && io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        detached: io.kind !== 'tty',
      });
      child.stdout?.on('data', (d: Buffer) => {
        log?.write('stdout', d);
        if (io.kind === 'attach' && io.stdout !== false) process.stdout.write(d);
      });
      child.stderr?.on('data', (d: Buffer) => {
        log?.write('stderr', d);
        if (io.kind === 'attach' && io.stderr !== false) process.stderr.write(d);
      });
      if (io.kind === 'attach' && io.stdin && child.stdin) {
        child.stdin.on('error', () => undefined);
        process.stdin.pipe(child.stdin);
      }
      if (io.kind === 'attach' && io.sigProxy && forward === undefined) {
        forward = (sig) => {
          try { engine.deps.runtime.kill(id, constants.signals[sig]); } catch { /* exited meanwhile */ }
        };
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) process.on(s, forward);
      }
      let spawnError: string | undefined;
      const exited = exitStatusOf(child, (e) => { spawnError = (e as NodeJS.ErrnoException).code ?? e.message; });
      const pid = await waitPid(pidFile, exited);
      if (pid !== undefined) {
        c = engine.started(id, pid, process.pid, attempt > 0);
        if (!ready) { ready = true; o.onReady?.({ ok: true, pid }); }
      }
      phase('spawn runtime');
      const status = await exited;
      phase('runtime run (create, exec, wait)');
      // Drain what the pipes still hold before recording the exit.
      await Promise.all([child.stdout, child.stderr].map((s) => (s && !s.readableEnded ? new Promise((r) => s.once('close', r)) : undefined)));
      if (io.kind === 'attach' && io.stdin) process.stdin.unpipe();
      result = engine.finished(id, status, logFile, { started: pid !== undefined, ...(spawnError === undefined ? {} : { spawnError }) });
      phase('record exit');
      if (result.error) {
        if (!ready) { ready = true; o.onReady?.({ ok: false, code: result.code, error: result.error.message }); }
        break;
      }
      if (!engine.shouldRestart(id, result.code)) break;
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
    if (o.io.kind === 'attach') process.stdin.destroy();
  }
  const after = engine.deps.store.find(id);
  if (after && after.state.status === 'exited') {
    if (opts.autoRemove) {
      // remove unmounts too: one pass over the mounts instead of two.
      await engine.remove(id, { force: true, volumes: true }).catch(() => undefined);
      phase('remove (unmount, delete)');
    } else {
      await engine.release(id);
      phase('rootfs unmount');
    }
  }
  return result;
}
