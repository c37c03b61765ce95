/**
 * Starting berth-shim and speaking its sync protocol (drawn in native/shim/shim.c):
 * write the plan on fd 3, read `pid N` on fd 4, let the caller prepare the child (uid/gid
 * maps, cgroups), answer `go` (at once, with the plan, when there is nothing to prepare),
 * then read `ready` or a structured error.
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, read, readFileSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { LinuxSys, shimPath } from '@berth/native';
import type { Readable, Writable } from 'node:stream';
import { BerthError, fromErrno, internal, notFound } from '@berth/errors';
import { encodePlan, type Step } from './plan.js';
import { spawnWithFds, type SpawnedProcess } from './spawn.js';

/** The status a process ended with: `exitCode` is 128+signal for a signal, as shells report it. */
export interface ExitStatus {
  readonly exitCode: number;
  readonly signal?: NodeJS.Signals;
  readonly oomKilled?: boolean;
}

/** A started shim whose init is ready (blocked before exec, or already exec'd). */
export interface ShimHandle {
  /** The shim as node:child_process spawned it (with its `'pipe'` stdio), when it did. */
  readonly child?: ChildProcess;
  /** Host pid of the container's init (or exec'd process). */
  readonly pid: number;
  /** Resolves when the shim reports the exit (foreground and monitor modes), or on the shim's own exit. */
  readonly exited: Promise<ExitStatus>;
  /** Stops listening: the caller may exit while the shim and the container run on. */
  release(): void;
}

/** What {@link startShim} needs. */
export interface StartShimOptions {
  readonly shimPath: string;
  readonly steps: readonly Step[];
  /** The container's fds 0-2 as the shim (and the init) receive them. */
  readonly stdio: readonly ('inherit' | 'ignore' | 'pipe' | number)[];
  /**
   * Runs between clone and release: write id maps, join cgroups. A throw aborts the init.
   * Without it, `go` is written as soon as `releaseAfter` settles (with the plan when there is
   * none): no round trip through this process's event loop.
   */
  readonly prepare?: (pid: number) => Promise<void>;
  /** Without `prepare`: what must be done before the init is released (the cgroup it joins); a rejection aborts the init. */
  readonly releaseAfter?: Promise<unknown>;
  /** The shim forks away as the monitor: its own exit means nothing, the `exit` line does. */
  readonly monitor?: boolean;
  /** Spawn the shim in its own process group (setpgid), out of the terminal's signals. */
  readonly detached?: boolean;
  /**
   * The caller waits for the shim's end and never releases it (foreground run or exec): then,
   * without `'pipe'` stdio, the shim is reached without node:child_process (see startShim).
   */
  readonly readToEnd?: boolean;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));
const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([k, v]) => [v, k as NodeJS.Signals]));

/** A shim report line `error\t<stage>\t<op>\t<errno>\t<path>` as a BerthError. */
export function shimError(line: string): BerthError {
  const [, stage = 'init', op = 'unknown', errnoText = '0', path = ''] = line.replace(/\n$/, '').split('\t');
  const errno = errnoNames.get(Number(errnoText)) ?? `E${errnoText}`;
  const what = path === '' ? `${stage}: ${op}` : `${stage}: ${op} ${path}`;
  if (stage === 'exec') return execError(op, errno, path);
  if (op === 'setrlimit' && errno === 'EPERM') {
    const hard = hostHardLimit(path);
    const hint = hard === undefined ? 'it exceeds the hard limit of the runtime' : `the host's hard limit is ${hard}`;
    return fromErrno(what, errno, { syscall: op, path, detail: { stage }, message: `operation not permitted: ${hint}; request at most that (or raise the host's limit)` });
  }
  return fromErrno(what, errno, { syscall: op, ...(path === '' ? {} : { path }), detail: { stage } });
}

/**
 * A program that could not be started, worded as runc words it (`exec: "/etc": permission
 * denied`; a directory says so). The engine maps NotFound to exit status 127 and the others to 126,
 * and matches these phrases in a runtime's log: "executable file not found", "no such file or
 * directory", "permission denied", "is a directory", "exec format error".
 */
function execError(op: string, errno: string, path: string): BerthError {
  const opts = { errno, syscall: op, path, detail: { exec: true, stage: 'exec' } };
  const q = JSON.stringify(path);
  switch (errno) {
    case 'ENOENT':
      return new BerthError('NotFound', path.includes('/') ? `exec: ${q}: stat ${path}: no such file or directory` : `exec: ${q}: executable file not found in $PATH`, opts);
    case 'EISDIR':
      return new BerthError('PermissionDenied', `exec: ${q}: permission denied (is a directory)`, opts);
    case 'EACCES':
      return new BerthError('PermissionDenied', `exec: ${q}: permission denied`, opts);
    case 'ENOEXEC':
      return new BerthError('FailedPrecondition', `exec: ${q}: exec format error`, opts);
    default:
      return fromErrno(`exec: ${q}`, errno, { syscall: op, path, detail: { exec: true, stage: 'exec' } });
  }
}

const limitRows: Readonly<Record<string, string>> = {
  RLIMIT_CPU: 'Max cpu time', RLIMIT_FSIZE: 'Max file size', RLIMIT_DATA: 'Max data size', RLIMIT_STACK: 'Max stack size',
  RLIMIT_CORE: 'Max core file size', RLIMIT_RSS: 'Max resident set', RLIMIT_NPROC: 'Max processes', RLIMIT_NOFILE: 'Max open files',
  RLIMIT_MEMLOCK: 'Max locked memory', RLIMIT_AS: 'Max address space', RLIMIT_LOCKS: 'Max file locks',
  RLIMIT_SIGPENDING: 'Max pending signals', RLIMIT_MSGQUEUE: 'Max msgqueue size', RLIMIT_NICE: 'Max nice priority',
  RLIMIT_RTPRIO: 'Max realtime priority', RLIMIT_RTTIME: 'Max realtime timeout',
};

/** The hard limit of an rlimit (`RLIMIT_NOFILE`) this process has, from /proc/self/limits. */
function hostHardLimit(name: string): string | undefined {
  const row = limitRows[name];
  if (row === undefined) return undefined;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(row));
    return line?.slice(row.length).trim().split(/\s+/)[1];
  } catch {
    return undefined;
  }
}

/**
 * Where berth-shim is: $BERTH_SHIM, beside the running bundle (the runtime's and the engine's
 * builds copy it there), else where @berth/native's build put it.
 */
export function findShim(): string {
  const env = process.env['BERTH_SHIM'];
  if (env) return env;
  if (typeof __dirname === 'string') {
    const beside = join(__dirname, 'berth-shim');
    if (existsSync(beside)) return beside;
  }
  try {
    return shimPath();
  } catch (e) {
    throw notFound(`berth-shim not found: build it (npx nx run @berth/runtime:build) or set BERTH_SHIM`, { cause: e });
  }
}

/** The control channel to a shim: plan and `go` in, report lines out. */
interface Channel {
  write(data: Buffer | string): void;
  /** Starts reading: each report line, then `end` once the shim closed its side. */
  listen(onLine: (line: string) => void, onEnd: () => void): void;
  /** Stops reading and writing (the caller goes on without the shim). */
  close(): void;
}

/**
 * Spawns the shim, runs the sync protocol and resolves once the init reported `ready`.
 *
 * Two ways to reach it. With any `'pipe'` stdio, or a monitor (which forks away and keeps its
 * side open), node:child_process with pipes. Otherwise, when the caller waits for the shim's
 * end anyway (`readToEnd`: a foreground run or exec), one socketpair from the addon carries
 * both directions (the shim's fds 3 and 4) and the shim is spawned by {@link spawnWithFds}:
 * no child_process, no stream objects, ~8 ms less of a `berth run`.
 */
export async function startShim(opts: StartShimOptions): Promise<ShimHandle> {
  const plan = encodePlan(opts.steps);
  const goNow = !opts.prepare && !opts.releaseAfter;
  const first = goNow ? Buffer.concat([plan, Buffer.from('go\n')]) : plan;
  const direct = opts.readToEnd === true && opts.monitor !== true && !opts.stdio.includes('pipe');
  return direct ? runProtocol(opts, ...spawnOverSocket(opts, first)) : runProtocol(opts, ...spawnWithPipes(opts, first));
}

/** The shim's exit as the protocol sees it: its code and signal, or a failure to start it. */
type ShimExit = Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;

function spawnWithPipes(opts: StartShimOptions, first: Buffer): [Channel, ShimExit, () => void, ChildProcess] {
  // Loaded here, not at the top: state/kill/delete never spawn, and node:child_process (with
  // net and stream behind it) is a good part of a short CLI run's start-up.
  const { spawn } = process.getBuiltinModule('node:child_process');
  const stdio: StdioOptions = [...opts.stdio, 'pipe', 'pipe'];
  const child = spawn(opts.shimPath, [], { stdio, ...(opts.detached === true ? { detached: true } : {}) });
  const ctlIn = child.stdio[3] as Writable;
  const ctlOut = child.stdio[4] as Readable;
  ctlIn.on('error', () => {});
  ctlIn.write(first);
  const channel: Channel = {
    write: (data) => { ctlIn.write(data); },
    listen: (onLine, onEnd) => {
      let buf = '';
      ctlOut.setEncoding('utf8');
      ctlOut.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      ctlOut.on('end', onEnd);
    },
    close: () => { ctlIn.destroy(); ctlOut.destroy(); },
  };
  const exit: ShimExit = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return [channel, exit, () => child.unref(), child];
}

function spawnOverSocket(opts: StartShimOptions, first: Buffer): [Channel, ShimExit, () => void, undefined] {
  const [mine, theirs] = new LinuxSys().socketpair();
  // ('pipe' never comes here: startShim sends those through child_process.)
  const devNull = opts.stdio.some((s) => s === 'ignore' || s === 'pipe') ? openSync('/dev/null', 'r+') : -1;
  let spawned: SpawnedProcess;
  try {
    const fds = opts.stdio.map((s, i) => (s === 'inherit' ? i : s === 'ignore' || s === 'pipe' ? devNull : s));
    spawned = spawnWithFds(opts.shimPath, [], [...fds, theirs, theirs], { ...(opts.detached === true ? { detached: true } : {}) });
  } catch (e) {
    closeSync(mine);
    throw internal(`start berth-shim ${opts.shimPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(theirs);
    if (devNull >= 0) closeSync(devNull);
  }
  // The shim's exit, read once its side of the socket is closed (it exits then), not before: a
  // released shim (the caller goes on without it) keeps no waitpid of ours pending.
  let reap: () => void = () => {};
  const exit: ShimExit = new Promise((resolve, reject) => {
    reap = () => { spawned.wait().then(resolve, reject); };
  });
  // After the end nothing writes or reads: the fd number may belong to another file by then.
  let open = true;
  const shut = (): void => {
    if (!open) return;
    open = false;
    closeSync(mine);
  };
  const channel: Channel = {
    // A blocking socket: the plan (tens of kB) fits its buffer, and the shim reads it at once.
    // A shim already gone makes the write fail: its end says what happened.
    write: (data) => {
      const b = typeof data === 'string' ? Buffer.from(data) : data;
      try {
        for (let at = 0; open && at < b.length;) at += writeSync(mine, b, at);
      } catch { /* gone */ }
    },
    listen: (onLine, onEnd) => {
      const chunk = Buffer.alloc(4096);
      let buf = '';
      // One read at a time on the thread pool; it blocks there until the shim says something.
      const next = (): void => read(mine, chunk, 0, chunk.length, null, (err, n) => {
        if (err || n === 0 || !open) {
          if (open) reap(); // the shim closed its side: it is exiting
          shut();
          onEnd();
          return;
        }
        buf += chunk.toString('utf8', 0, n);
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        next();
      });
      next();
    },
    close: shut,
  };
  channel.write(first);
  return [channel, exit, () => {}, undefined];
}

/** The sync protocol over a channel (see the top of this file). */
function runProtocol(opts: StartShimOptions, channel: Channel, shimExit: ShimExit, unref: () => void, child: ChildProcess | undefined): Promise<ShimHandle> {
  let pid = 0;
  let ready = false;
  let failure: BerthError | undefined;
  const releaseWhen = (p: Promise<unknown>): void => {
    p.then(
      () => channel.write('go\n'),
      (e: unknown) => {
        failure = e instanceof BerthError ? e : internal(`prepare container init: ${String(e)}`, { cause: e });
        channel.write('abort\n');
      },
    );
  };
  // The shim reads "go" after it reports the pid, whenever it arrives: with nothing that needs
  // the pid, the init is released as soon as the caller is done, while the shim starts.
  if (!opts.prepare && opts.releaseAfter) releaseWhen(opts.releaseAfter);
  let exitLine: ExitStatus | undefined;
  let onReady: (h: ShimHandle) => void = () => {};
  let onFail: (e: BerthError) => void = () => {};
  let onExit: (s: ExitStatus) => void = () => {};
  const exited = new Promise<ExitStatus>((r) => (onExit = r));
  const readyP = new Promise<ShimHandle>((res, rej) => {
    onReady = res;
    onFail = rej;
  });
  const release = (): void => {
    channel.close();
    unref();
  };
  channel.listen((line) => {
    if (line.startsWith('pid ')) {
      pid = Number(line.slice(4));
      if (opts.prepare) releaseWhen(opts.prepare(pid));
    } else if (line === 'ready') {
      ready = true;
      onReady({ ...(child === undefined ? {} : { child }), pid, exited, release });
    } else if (line.startsWith('error')) {
      failure ??= shimError(line);
      if (!ready) onFail(failure);
    } else if (line.startsWith('exit ')) {
      const [, code = '0', sig = '0', oom] = line.split(' ');
      const signal = signalNames.get(Number(sig));
      exitLine = { exitCode: Number(code), ...(signal && Number(sig) !== 0 ? { signal } : {}), ...(oom === undefined ? {} : { oomKilled: oom === '1' }) };
      // The shim has reaped the process and removed the cgroups before it says so: the caller
      // need not wait for the shim's own exit.
      onExit(exitLine);
    }
  }, () => {
    if (!ready) onFail(failure ?? internal('berth-shim exited before the container init was ready'));
    if (exitLine) onExit(exitLine);
    else if (opts.monitor === true) onExit({ exitCode: -1 });
  });
  shimExit.then(({ code, signal }) => {
    if (opts.monitor === true) return;
    if (exitLine) onExit(exitLine);
    else if (signal) onExit({ exitCode: 128 + (constants.signals[signal] ?? 0), signal });
    else onExit({ exitCode: code ?? 0 });
  }, (e: unknown) => onFail(internal(`start berth-shim ${opts.shimPath}: ${(e as Error).message}`, { cause: e })));
  return readyP;
}
