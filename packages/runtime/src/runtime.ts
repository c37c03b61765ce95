/**
 * The runtime as a library: `createRuntime({root})` gives create/start/state/kill/wait/
 * delete/exec/run over OCI bundles. The CLI (`berth-runtime`) and the engine both use it.
 *
 * State directory (`root`, default /run/berth-runtime):
 *
 *   <root>/.seccomp-cache/    compiled seccomp filters (BPF) berth-shim keeps, one per profile
 *   <root>/<id>/state.json   {ociVersion,id,pid,bundle,rootfs,created,owner,annotations,
 *                              startTime,cgroupsPath,namespaces,seccomp?}   written at create
 *               exec.fifo    exists from create until start (the init blocks on it)
 *               exit.json    {"exitCode","signal"} written by a monitor shim when the init exits
 *               shim.sock    a monitor shim with a log file answers there (see native/shim/shim.c)
 *               init.pid     the init's pid, written by berth-shim when the caller handed off to it
 *                            (see CreateOptions.handoff: state.json then has pid 0 and `shim`)
 *
 * Status: stopped if exit.json exists or the init (pid + start time) is gone; created while
 * exec.fifo exists; else running.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync, readdirSync, constants as fsc } from 'node:fs';
import { constants } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { alreadyExists, failedPrecondition, invalidArgument, isBerthError, notFound, toBerthError, BerthError } from '@berth/errors';
import { cgroupManager, cgroupManagerAt, defaultDeviceRules, readCgroupHost, type CgroupHost, type CgroupManager, type LinuxDeviceCgroup, type LinuxResources } from './cgroups/index.js';
import { initJoinsItself, warmCgroupMigration } from './cgroups/warm.js';
import { compileExecPlan, compilePlan, encodePlan, type ShimMode, type Step } from './plan.js';
import { resolveInRoot, type InRootResolver } from './resolve.js';
import { LinuxSys } from '@berth/native';
import { findShim, startShim, type ExitStatus, type ShimHandle } from './shim.js';
import { parseConfig, type OciConfig, type OciDevice, type OciHook, type OciIdMapping, type OciNamespace, type OciProcess, type OciSeccomp } from './spec.js';

export type { ExitStatus } from './shim.js';

/** The OCI status of a container. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** runc's `state` JSON. */
export interface ContainerState {
  readonly ociVersion: string;
  readonly id: string;
  readonly pid: number;
  readonly status: ContainerStatus;
  readonly bundle: string;
  readonly rootfs: string;
  readonly created: string;
  readonly owner: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

interface StoredState {
  readonly ociVersion: string;
  readonly id: string;
  readonly pid: number;
  readonly bundle: string;
  readonly rootfs: string;
  readonly created: string;
  readonly owner: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly startTime: string;
  /** The monitor shim (pid and start time) when one owns the init. */
  readonly monitor?: { readonly pid: number; readonly startTime: string };
  /** A handed-off run: the process that became berth-shim; the init's pid is then in init.pid. */
  readonly shim?: { readonly pid: number; readonly startTime: string };
  readonly cgroupsPath: string;
  /** The cgroup's directories as create made them (the caller's own cgroup may differ later). */
  readonly cgroupDirs?: readonly string[];
  readonly namespaces: readonly OciNamespace['type'][];
  readonly seccomp?: OciSeccomp;
  readonly poststop?: readonly OciHook[];
  readonly poststart?: readonly OciHook[];
  readonly startContainer?: readonly OciHook[];
}

/** Where the container's fds 0-2 come from: inherited, discarded, or given fds. */
export type StdioSpec = 'inherit' | 'ignore' | readonly [StdioEntry, StdioEntry, StdioEntry];
/** One of fds 0-2: an fd, inherited, discarded, or (foreground `run`) a pipe to the caller. */
export type StdioEntry = number | 'inherit' | 'ignore' | 'pipe';

/** What a foreground {@link Runtime.run} hands its caller once the container's process runs. */
export interface RunStarted {
  /** Host pid of the container's init. */
  readonly pid: number;
  /** The caller's ends of the `'pipe'` stdio entries (null for the others). */
  readonly stdin: import('node:stream').Writable | null;
  readonly stdout: import('node:stream').Readable | null;
  readonly stderr: import('node:stream').Readable | null;
}

/** Options of {@link Runtime.create}. */
export interface CreateOptions {
  /** The bundle directory (holding config.json). */
  readonly bundle: string;
  readonly stdio?: StdioSpec;
  /** Written with the init's pid once it exists. */
  readonly pidFile?: string;
  /** runc's console socket: receives the pty master when `process.terminal` is set. */
  readonly consoleSocket?: string;
  /**
   * `true` (default): a berth-shim monitor owns the init, outlives the caller and records its
   * exit status for {@link Runtime.wait}. `false`: runc's behaviour, the init is reparented to
   * the caller's subreaper, which reaps it.
   */
  readonly monitor?: boolean;
  /**
   * Monitor or foreground mode: the process's stdout and stderr become pipes the shim drains
   * into this file, one Docker json-file line per line of output (`{"log","stream","time"}`).
   */
  readonly logFile?: string;
  /**
   * Foreground mode with `logFile`: the shim also copies the output, raw, to its own stdout /
   * stderr (which it has from `stdio`): an attached `berth run`, without the output going
   * through this process.
   */
  readonly logTee?: { readonly stdout: boolean; readonly stderr: boolean };
  /** With `logFile`: rotate the log past this many bytes (Docker's max-size)… */
  readonly logMaxSize?: number;
  /** …keeping this many files in all, `log`, `log.1` … (Docker's max-file, default 1). */
  readonly logMaxFile?: number;
  /**
   * Monitor mode: once the process has exited and its status is in the exit file, the shim
   * execs this command (conmon's --exit-command) in its own place, so the holder's pid stays
   * the same until the caller's cleanup has run.
   */
  readonly exitCommand?: readonly string[];
  /**
   * Monitor mode with `logFile` and `process.terminal`: the shim itself takes the pty master
   * and logs what it shows (no console socket; `berth run -d -t`).
   */
  readonly terminalToLog?: boolean;
  /** Foreground `run`: called once the process runs, with its pid and the stdio pipes. */
  readonly onStarted?: (started: RunStarted) => void;
  /** Foreground `run`: forward this process's signals to the container (default true). */
  readonly forwardSignals?: boolean;
  /** Start the shim in a process group of its own (a terminal's Ctrl-C then reaches only the caller). */
  readonly ownProcessGroup?: boolean;
  /**
   * Foreground `run` of a CLI whose work ends with the container (`berth-runtime run`): this
   * process becomes berth-shim (execve, same pid) instead of spawning it and waiting. The shim
   * forwards signals, exits with the container's status, removes the cgroups and the state dir.
   * A failure to start execs `onError` with the shim's error line appended (the caller's own code
   * reports it: berth-runtime's `__shim-error`); `oomNote` is the log that says when the OOM killer
   * acted. Taken only when nothing needs this process meanwhile: no hooks, no id maps, no
   * `'pipe'` stdio, no `onStarted`; otherwise `run` goes the ordinary way.
   */
  readonly handoff?: { readonly onError: readonly string[]; readonly oomNote?: { readonly file: string; readonly json: boolean } };
}

/** Options of {@link Runtime.exec}. */
export interface ExecOptions {
  readonly stdio?: StdioSpec;
  readonly pidFile?: string;
  readonly consoleSocket?: string;
  /** Return once the process started (runc `exec -d`); else wait for its exit. */
  readonly detach?: boolean;
}

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /** State directory; default /run/berth-runtime. */
  readonly root?: string;
  /** Path of berth-shim; default: found beside the bundle or in the repo. */
  readonly shimPath?: string;
  /** Cgroups of a container (default: the cgroup drivers of this package). */
  readonly cgroups?: (cgroupsPath: string) => CgroupManager;
  /** The cgroup of an existing container from its saved directories (default: `cgroupManagerAt`). */
  readonly cgroupsAt?: (dirs: readonly string[]) => CgroupManager;
  /** Resolves mount destinations inside the rootfs (default: an lstat/readlink walk; `Sys.resolveInRoot` fits). */
  readonly resolveInRoot?: InRootResolver;
  /** Replaces this process for {@link CreateOptions.handoff} (default: `LinuxSys.execve` of @berth/native). */
  readonly execve?: (path: string, argv: readonly string[], fds: readonly number[]) => never;
}

/** The runtime API the engine and the CLI call. */
export interface Runtime {
  /** Creates the container: namespaces, mounts, cgroups; the init waits before exec. */
  create(id: string, options: CreateOptions): Promise<ContainerState>;
  /** Lets a created container's init exec its process. */
  start(id: string): Promise<void>;
  /** create + start in the foreground: resolves with the process's exit status, then deletes. */
  /**
   * Starts, in the background, the RCU grace period that the next move of a process into a
   * cgroup waits for (see cgroups/warm.ts), for a caller about to create a container: started
   * about one grace period (~10 ms) before `create`, it is over by the time the init joins.
   * Nothing to do with cgroup v1, where the init joins itself without that wait.
   */
  warmCgroups(): void;
  run(id: string, options: CreateOptions & { readonly detach?: boolean }): Promise<ExitStatus>;
  state(id: string): Promise<ContainerState>;
  list(): Promise<ContainerState[]>;
  /** Sends a signal (name or number) to the init, or with `all` to every process of the container. */
  kill(id: string, signal?: string | number, options?: { readonly all?: boolean }): Promise<void>;
  /** Resolves when the container stops; exit status is known when a monitor shim owned it. */
  wait(id: string, options?: { readonly signal?: AbortSignal }): Promise<ExitStatus>;
  /** Removes a stopped container (with `force`, kills it first): cgroups, state; runs poststop hooks. */
  delete(id: string, options?: { readonly force?: boolean }): Promise<void>;
  /** Runs another process in a running container. */
  exec(id: string, process: OciProcess, options?: ExecOptions): Promise<ExitStatus & { readonly pid: number }>;
  /** Pids of the container's processes. */
  ps(id: string): Promise<number[]>;
  /** Freezes every process of a running container (status `paused`). */
  pause(id: string): Promise<void>;
  /** Thaws a paused container. */
  resume(id: string): Promise<void>;
  /** Changes the limits of a live container (`linux.resources` fields; the others stay). */
  update(id: string, resources: LinuxResources): Promise<readonly string[]>;
}

const idPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,1023}$/;

function checkId(id: string): void {
  if (!idPattern.test(id)) throw invalidArgument(`invalid container id "${id}": use letters, digits, "_", "." and "-"`);
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), the state letter and the parent; undefined when gone. */
export function procStat(pid: number): { startTime: string; state: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', ppid: Number(rest[1]), startTime: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * Removes a container's state dir. It holds only files (state.json, exit.json, exec.fifo …):
 * unlink them and rmdir, which costs a fraction of rmSync's first call (it loads Node's rimraf);
 * anything unexpected falls back to rmSync.
 */
function removeStateDir(path: string): void {
  try {
    for (const f of readdirSync(path)) unlinkSync(join(path, f));
    rmdirSync(path);
  } catch {
    rmSync(path, { recursive: true, force: true });
  }
}

/**
 * Now as an RFC 3339 UTC time with milliseconds, what `new Date().toISOString()` gives: the
 * first toISOString of a process sets up V8's time-zone cache (it reads /etc/localtime), ~0.7 ms
 * of every create and run; the getUTC* getters do not.
 */
export function isoNow(d: Date = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o644 });
  renameSync(tmp, path);
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms: number): void => void Atomics.wait(sleepBuf, 0, 0, ms);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A signal given as `9`, `KILL` or `SIGKILL` as its number. */
export function parseSignal(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = (sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`) as NodeJS.Signals;
  const n = constants.signals[name];
  if (n === undefined) throw invalidArgument(`unknown signal "${sig}": use a name like TERM or KILL, or a number`);
  return n;
}

function stdioArray(s: StdioSpec | undefined): StdioEntry[] {
  if (s === undefined || s === 'inherit') return ['inherit', 'inherit', 'inherit'];
  if (s === 'ignore') return ['ignore', 'ignore', 'ignore'];
  return [...s];
}

function writeIdMaps(pid: number, uid: readonly OciIdMapping[] | undefined, gid: readonly OciIdMapping[] | undefined): void {
  const text = (m: readonly OciIdMapping[]) => m.map((x) => `${x.containerID} ${x.hostID} ${x.size}\n`).join('');
  if (uid && uid.length > 0) writeFileSync(`/proc/${pid}/uid_map`, text(uid));
  if (gid && gid.length > 0) writeFileSync(`/proc/${pid}/gid_map`, text(gid));
}

/**
 * The config's device rules followed by runc's default allows and an allow for each
 * `linux.devices` node: the runtime creates those nodes, so the cgroup must let them work.
 */
export function withDefaultDevices(resources: Readonly<Record<string, unknown>> | undefined, devices: readonly OciDevice[] | undefined): LinuxResources {
  const res = (resources ?? {}) as LinuxResources;
  const own = (res.devices ?? [{ allow: false, access: 'rwm' }]) as readonly LinuxDeviceCgroup[];
  const extra: LinuxDeviceCgroup[] = (devices ?? []).map((d) => ({
    allow: true, type: d.type === 'b' ? 'b' : 'c', ...(d.major !== undefined ? { major: d.major } : {}), ...(d.minor !== undefined ? { minor: d.minor } : {}), access: 'rwm',
  }));
  return { ...res, devices: withoutRepeats([...own, ...defaultDeviceRules.filter((r) => r.allow), ...extra]) };
}

/**
 * Drops an allow rule that repeats one since the last deny: writing it again changes nothing,
 * and a config that lists runc's defaults itself (Docker's, the engine's) would write each twice.
 */
function withoutRepeats(rules: readonly LinuxDeviceCgroup[]): LinuxDeviceCgroup[] {
  const out: LinuxDeviceCgroup[] = [];
  let since = new Set<string>();
  for (const r of rules) {
    if (!r.allow) {
      since = new Set();
      out.push(r);
      continue;
    }
    const key = `${r.type ?? 'a'} ${r.major ?? '*'}:${r.minor ?? '*'} ${r.access ?? 'rwm'}`;
    if (since.has(key)) continue;
    since.add(key);
    out.push(r);
  }
  return out;
}

/**
 * The name each cgroup directory gets inside the container's /sys/fs/cgroup: its v1
 * hierarchy's mount point name (`memory`, `cpu,cpuacct`), or `''` for the cgroup2 directory.
 */
export function cgroupViews(dirs: readonly string[], host: CgroupHost = readCgroupHost()): { name: string; dir: string }[] {
  const mounts = [...new Set([...host.v1.values()].map((m) => m.mountpoint))];
  return dirs.flatMap((dir) => {
    const v1 = mounts.find((mp) => dir.startsWith(`${mp}/`));
    if (v1 !== undefined) return [{ name: v1.slice(v1.lastIndexOf('/') + 1), dir }];
    if (host.unified !== undefined && dir.startsWith(`${host.unified.mountpoint}/`)) return [{ name: '', dir }];
    return [];
  });
}

/**
 * A systemd-style `cgroupsPath` (`slice:prefix:name`, as containerd and podman pass with
 * systemd cgroups) as the cgroupfs path systemd would use: `machine-x.slice:libpod:abc` →
 * `/machine.slice/machine-x.slice/libpod-abc.scope`. berth drives cgroupfs itself (no D-Bus);
 * other paths are returned unchanged.
 */
export function cgroupfsPath(path: string): string {
  const m = /^([^:/]*):([^:/]*):([^:/]+)$/.exec(path);
  if (m === null) return path;
  const [, slice = '', prefix = '', name = ''] = m;
  const leaf = name.endsWith('.slice') ? name : `${prefix === '' ? '' : `${prefix}-`}${name}.scope`;
  const s = slice === '' || slice === '-.slice' ? 'system.slice' : slice;
  // systemd nests a-b.slice inside a.slice: expand each dash-separated prefix.
  const parts = s.replace(/\.slice$/, '').split('-');
  const dirs = parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`);
  return `/${[...dirs, leaf].join('/')}`;
}

/** Runs hooks in order with the state on stdin; the first failure throws. */
export async function runHooks(kind: string, hooks: readonly OciHook[] | undefined, state: ContainerState): Promise<void> {
  if (hooks === undefined || hooks.length === 0) return;
  const { spawn } = process.getBuiltinModule('node:child_process');
  for (const h of hooks) {
    await new Promise<void>((res, rej) => {
      const [argv0, ...args] = h.args && h.args.length > 0 ? h.args : [h.path];
      const child = spawn(h.path, args, { argv0: argv0 ?? h.path, env: Object.fromEntries((h.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])), stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      child.stdin?.on('error', () => {});
      child.stdin?.end(JSON.stringify(state));
      const timer = h.timeout ? setTimeout(() => child.kill('SIGKILL'), h.timeout * 1000) : undefined;
      child.on('error', (e) => rej(toBerthError(e, `${kind} hook ${h.path}`)));
      child.on('exit', (code, sig) => {
        if (timer) clearTimeout(timer);
        if (code === 0) res();
        else rej(failedPrecondition(`${kind} hook ${h.path} failed (${sig ?? `exit status ${code}`}): ${err.trim()}`));
      });
    });
  }
}

/**
 * execve through @berth/native, loaded only by a run that hands off. Node's life ends here, so
 * what it does at exit is done first: 'exit' is emitted with status 0 (the loader of the bundled
 * CLI then keeps V8's code cache of this run, as it does when a command exits 0).
 */
function defaultExecve(path: string, argv: readonly string[], fds: readonly number[]): never {
  const sys = new LinuxSys();
  process.exitCode = 0;
  process.emit('exit', 0);
  return sys.execve(path, argv, fds);
}

/** The OCI runtime over a state directory. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const root = options.root ?? '/run/berth-runtime';
  const shimPath = () => options.shimPath ?? findShim();
  const resolveIn = options.resolveInRoot ?? resolveInRoot;
  // The host's cgroup layout, read once per runtime (mountinfo can be long on a busy host).
  let host: CgroupHost | undefined;
  const hostInfo = (): CgroupHost => (host ??= readCgroupHost());
  const cgroupsOf = options.cgroups ?? ((p: string) => cgroupManager(p, { host: hostInfo() }));
  const cgroupsAt = options.cgroupsAt ?? ((dirs: readonly string[]) => cgroupManagerAt(dirs, { host: hostInfo() }));
  const cgOf = (s: StoredState): CgroupManager => (s.cgroupDirs && s.cgroupDirs.length > 0 ? cgroupsAt(s.cgroupDirs) : cgroupsOf(s.cgroupsPath));
  const dir = (id: string) => join(root, id);

  const load = (id: string): StoredState => {
    checkId(id);
    let text: string;
    try {
      text = readFileSync(join(dir(id), 'state.json'), 'utf8');
    } catch {
      throw notFound(`container "${id}" does not exist`);
    }
    const s = JSON.parse(text) as StoredState;
    return s.shim !== undefined && s.pid === 0 ? withHandoffInit(s) : s;
  };

  // A handed-off run: the init is the child of the process that became the shim, named by the
  // init.pid the shim writes once the init is ready; until then (or if the shim is gone) pid 0.
  const withHandoffInit = (s: StoredState): StoredState => {
    const shim = s.shim;
    if (shim === undefined || procStat(shim.pid)?.startTime !== shim.startTime) return s;
    let pid = 0;
    try {
      pid = Number(readFileSync(join(dir(s.id), 'init.pid'), 'utf8'));
    } catch {
      return s;
    }
    const st = procStat(pid);
    return st !== undefined && st.ppid === shim.pid ? { ...s, pid, startTime: st.startTime } : s;
  };

  const statusOf = (s: StoredState): ContainerStatus => {
    if (existsSync(join(dir(s.id), 'exit.json'))) return 'stopped';
    // (This very process as the shim: the run's error report, after the shim gave up.)
    if (s.pid === 0 && s.shim !== undefined) return s.shim.pid !== process.pid && procStat(s.shim.pid)?.startTime === s.shim.startTime ? 'creating' : 'stopped';
    const st = procStat(s.pid);
    if (st === undefined || st.state === 'Z' || st.state === 'X' || st.startTime !== s.startTime) return 'stopped';
    if (existsSync(join(dir(s.id), 'exec.fifo'))) return 'created';
    return existsSync(join(dir(s.id), 'paused')) ? 'paused' : 'running';
  };

  const view = (s: StoredState): ContainerState => {
    const status = statusOf(s);
    return {
      ociVersion: s.ociVersion, id: s.id, pid: status === 'stopped' ? 0 : s.pid, status, bundle: s.bundle,
      rootfs: s.rootfs, created: s.created, owner: s.owner, ...(s.annotations ? { annotations: s.annotations } : {}),
    };
  };

  async function create(id: string, opts: CreateOptions, mode?: ShimMode): Promise<{ state: ContainerState; shim: ShimHandle }> {
    checkId(id);
    const bundle = resolve(opts.bundle);
    let config: OciConfig;
    try {
      config = parseConfig(JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')), join(bundle, 'config.json'));
    } catch (e) {
      if (isBerthError(e)) throw e;
      throw toBerthError(e, `read bundle config ${join(bundle, 'config.json')}`);
    }
    const rootfs = isAbsolute(config.root.path) ? config.root.path : join(bundle, config.root.path);
    if (!existsSync(rootfs)) throw notFound(`rootfs ${rootfs} does not exist: check root.path in ${join(bundle, 'config.json')}`);
    mkdirSync(root, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(dir(id), { mode: 0o711 });
    } catch (e) {
      if ((e as { code?: string }).code === 'EEXIST') throw alreadyExists(`container with id "${id}" already exists`);
      throw toBerthError(e, `create state dir ${dir(id)}`);
    }
    const shimMode: ShimMode = mode ?? (opts.monitor === false ? 'exit' : 'monitor');
    const fifo = join(dir(id), 'exec.fifo');
    const linux = config.linux ?? {};
    const cgroupsPath = cgroupfsPath(linux.cgroupsPath ?? id);
    let cg: CgroupManager | undefined;
    try {
      const created = isoNow();
      const stateFor = (pid: number): ContainerState => ({
        ociVersion: config.ociVersion, id, pid, status: 'creating', bundle, rootfs, created, owner: '',
        ...(config.annotations ? { annotations: config.annotations } : {}),
      });
      // state.json: the init (pid and start time) and who holds it, with what later calls need.
      const toStore = (pid: number, startTime: string, holder: Pick<StoredState, 'monitor' | 'shim'>): StoredState => {
        const { status: _creating, ...base } = stateFor(pid);
        return {
          ...base, startTime, cgroupsPath, cgroupDirs: cgm.dirs, ...holder,
          namespaces: (linux.namespaces ?? []).filter((n) => !n.path).map((n) => n.type),
          ...(linux.seccomp ? { seccomp: linux.seccomp } : {}),
          ...(config.hooks?.['poststop'] ? { poststop: config.hooks['poststop'] } : {}),
          ...(config.hooks?.['poststart'] ? { poststart: config.hooks['poststart'] } : {}),
        };
      };
      const cgm = cgroupsOf(cgroupsPath);
      cg = cgm;
      const views = cgroupViews(cgm.dirs, hostInfo());
      const ptyToLog = opts.terminalToLog === true && shimMode === 'monitor' && opts.logFile !== undefined && opts.consoleSocket === undefined && config.process?.terminal === true;
      const planned = compilePlan(config, {
        rootfs, bundle, mode: shimMode,
        ...(shimMode !== 'foreground' ? { execFifo: fifo } : {}),
        ...(opts.consoleSocket !== undefined ? { consoleSocket: opts.consoleSocket } : ptyToLog ? { consoleSocket: '' } : {}),
        ...(shimMode === 'monitor' ? { exitFile: join(dir(id), 'exit.json') } : {}),
        isDir: (p) => { try { return statSync(p).isDirectory(); } catch { return true; } },
        resolve: (dest) => resolveIn(rootfs, dest),
        stateDir: dir(id),
        seccompCache: join(root, '.seccomp-cache'),
        cgroupDirs: cgm.dirs,
        cgroupViews: views,
        // (Real cgroupfs only: a test's own CgroupManager may name any dirs.)
        ...(options.cgroups === undefined ? { cgroupSelfJoin: views.filter((v) => v.name !== '').map((v) => v.dir) } : {}),
        ...(opts.logFile !== undefined ? { logFile: resolve(opts.logFile) } : {}),
      });
      // The shim moves the init into each `cgroup` dir through cgroup.procs (the others it joins
      // itself): start the grace period that move waits for now, before the cgroups are made
      // (see cgroups/warm.ts).
      if (options.cgroups === undefined && planned.some((st) => st[0] === 'cgroup')) warmCgroupMigration(hostInfo());
      // (The shim keeps the pty itself: its console_self in place of a console socket to connect.)
      const steps: Step[] = ptyToLog ? planned.map((st): Step => (st[0] === 'console_connect' ? ['console_self'] : st)) : planned;
      // Monitor extras, header records the shim reads wherever they stand in the plan.
      if (opts.logFile !== undefined && (opts.logMaxSize ?? 0) > 0) steps.push(['log_rotate', String(opts.logMaxSize), String(Math.max(1, opts.logMaxFile ?? 1))]);
      if (opts.logFile !== undefined && shimMode === 'foreground' && opts.logTee !== undefined) {
        steps.push(['log_tee', opts.logTee.stdout ? '1' : '0', opts.logTee.stderr ? '1' : '0']);
      }
      if (shimMode === 'monitor' && opts.exitCommand !== undefined && opts.exitCommand.length > 0) steps.push(['exit_command', ...opts.exitCommand]);
      // The monitor answers on <root>/<id>/shim.sock (state, kill, resize, attach) while it drains the log.
      if (shimMode === 'monitor' && opts.logFile !== undefined) steps.push(['socket', join(dir(id), 'shim.sock')]);
      // Make the cgroup while the shim starts and clones; only the join waits for the pid.
      const cgReady = cgm.create(withDefaultDevices(linux.resources, linux.devices));
      cgReady.catch(() => {});
      // Id maps, hooks and the hooks' state need the init's pid: then the shim waits for us
      // between clone and release. Otherwise "go" follows the plan as soon as the cgroup is
      // made (cgroupfs calls are synchronous: while the shim starts), with no round trip.
      const hooks = config.hooks ?? {};
      const needsPid = (linux.uidMappings ?? []).length > 0 || (linux.gidMappings ?? []).length > 0 ||
        ['prestart', 'createRuntime', 'createContainer', 'startContainer'].some((k) => (hooks[k] ?? []).length > 0);
      const handoff = opts.handoff;
      if (handoff !== undefined && shimMode === 'foreground' && !needsPid && Object.values(hooks).every((h) => (h ?? []).length === 0) &&
          opts.onStarted === undefined && !stdioArray(opts.stdio).includes('pipe')) {
        await cgReady;
        const self = procStat(process.pid);
        writeAtomic(join(dir(id), 'state.json'), JSON.stringify(toStore(0, '', self ? { shim: { pid: process.pid, startTime: self.startTime } } : {})));
        const extra: Step[] = [
          ['pidfile', join(dir(id), 'init.pid')],
          ...(opts.pidFile !== undefined ? [['pidfile', resolve(opts.pidFile)] as Step] : []),
          ['rmstate', dir(id)],
          ['on_error', ...handoff.onError],
          ...(handoff.oomNote !== undefined ? [['oom_note', handoff.oomNote.file, handoff.oomNote.json ? 'json' : 'text'] as Step] : []),
        ];
        // The plan and "go" from a file (unlinked once open), the reports to /dev/null: nobody
        // reads them, the shim acts on them itself.
        const planFile = join(dir(id), 'plan');
        writeFileSync(planFile, Buffer.concat([encodePlan([...steps, ...extra]), Buffer.from('go\n')]), { mode: 0o600 });
        const planFd = openSync(planFile, 'r');
        unlinkSync(planFile);
        const reports = openSync('/dev/null', 'w');
        const path = shimPath();
        return (options.execve ?? defaultExecve)(path, [path], [planFd, reports]);
      }
      const shim = await startShim({
        shimPath: shimPath(),
        steps,
        stdio: stdioArray(opts.stdio),
        monitor: shimMode === 'monitor',
        // (run waits for the end of a foreground shim; create never does)
        readToEnd: shimMode === 'foreground',
        ...(opts.ownProcessGroup === true ? { detached: true } : {}),
        ...(needsPid ? {
          prepare: async (pid: number) => {
            writeIdMaps(pid, linux.uidMappings, linux.gidMappings);
            await cgReady; // made while the shim started and cloned; it joins the init after "go"
            const st = stateFor(pid);
            // What createContainer/startContainer hooks get on stdin (the init reads it through the state dir).
            writeAtomic(join(dir(id), 'hookstate.json'), JSON.stringify(st));
            await runHooks('prestart', hooks['prestart'], st);
            await runHooks('createRuntime', hooks['createRuntime'], st);
          },
        } : { releaseAfter: cgReady }),
      });
      const initStat = procStat(shim.pid);
      const monitorStat = shimMode === 'monitor' && initStat ? procStat(initStat.ppid) : undefined;
      const stored = toStore(shim.pid, initStat?.startTime ?? '',
        monitorStat && initStat ? { monitor: { pid: initStat.ppid, startTime: monitorStat.startTime } } : {});
      writeAtomic(join(dir(id), 'state.json'), JSON.stringify(stored));
      if (opts.pidFile !== undefined) writeAtomic(resolve(opts.pidFile), String(shim.pid));
      return { state: view(stored), shim };
    } catch (e) {
      // Errors must leave no trace (runtime-spec lifecycle step 2).
      if (cg) await cg.destroy({ force: true }).catch(() => {});
      rmSync(dir(id), { recursive: true, force: true });
      throw e;
    }
  }

  async function start(id: string): Promise<void> {
    const s = load(id);
    const status = statusOf(s);
    if (status !== 'created') throw failedPrecondition(`cannot start a container that is ${status}: container "${id}" must be created`);
    const fifo = join(dir(id), 'exec.fifo');
    // Open without blocking, then wait for the init's byte: a dead init must not hang start.
    const fd = openSync(fifo, fsc.O_RDONLY | fsc.O_NONBLOCK);
    try {
      const b = Buffer.alloc(1);
      for (;;) {
        let n = 0;
        try {
          n = readSync(fd, b, 0, 1, null);
        } catch (e) {
          if ((e as { code?: string }).code !== 'EAGAIN') throw e;
        }
        if (n === 1) break;
        if (statusOf(s) === 'stopped') throw failedPrecondition(`container "${id}" init exited before start`);
        sleepSync(1);
      }
    } finally {
      closeSync(fd);
    }
    rmSync(fifo, { force: true });
    await runHooks('poststart', s.poststart, view(s)).catch(() => {});
  }

  async function state(id: string): Promise<ContainerState> {
    return view(load(id));
  }

  async function list(): Promise<ContainerState[]> {
    let names: string[] = [];
    try {
      names = readdirSync(root);
    } catch {
      return [];
    }
    const out: ContainerState[] = [];
    for (const n of names) {
      try {
        out.push(view(load(n)));
      } catch {
        // a container being created or deleted right now
      }
    }
    return out;
  }

  async function ps(id: string): Promise<number[]> {
    const s = load(id);
    try {
      return await cgOf(s).processes();
    } catch {
      return statusOf(s) === 'stopped' ? [] : [s.pid];
    }
  }

  async function kill(id: string, signal: string | number = 'SIGTERM', o: { readonly all?: boolean } = {}): Promise<void> {
    const s = load(id);
    const sig = parseSignal(signal);
    const status = statusOf(s);
    if (status === 'stopped' && o.all !== true) throw failedPrecondition(`container "${id}" is not running`);
    const pids = o.all === true ? await ps(id) : [s.pid];
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ESRCH') throw toBerthError(e, `kill ${p}`);
      }
    }
  }

  async function wait(id: string, o: { readonly signal?: AbortSignal } = {}): Promise<ExitStatus> {
    const s = load(id);
    const exitFile = join(dir(id), 'exit.json');
    for (;;) {
      if (o.signal?.aborted) throw new BerthError('Canceled', `wait for container "${id}" canceled`);
      if (existsSync(exitFile)) {
        const e = JSON.parse(readFileSync(exitFile, 'utf8')) as { exitCode: number; signal: number };
        const oom = await cgOf(s).oomKilled().catch(() => false);
        const name = Object.entries(constants.signals).find(([, v]) => v === e.signal)?.[0] as NodeJS.Signals | undefined;
        return { exitCode: e.exitCode, ...(e.signal && name ? { signal: name } : {}), oomKilled: oom };
      }
      if (statusOf(s) === 'stopped') {
        // A live monitor is about to write the exit file; without one the status is unknown.
        const m = s.monitor;
        const monitorAlive = m !== undefined && procStat(m.pid)?.startTime === m.startTime && procStat(m.pid)?.state !== 'Z';
        if (!monitorAlive) {
          await sleep(20);
          if (existsSync(exitFile)) continue;
          return { exitCode: -1 };
        }
      }
      await sleep(20);
    }
  }

  async function del(id: string, o: { readonly force?: boolean } = {}): Promise<void> {
    const s = load(id);
    let status = statusOf(s);
    if (status !== 'stopped') {
      if (o.force !== true) throw failedPrecondition(`cannot delete container "${id}" that is not stopped: ${status} (stop it first or use --force)`);
      if (status === 'paused') await cgOf(s).thaw().catch(() => {});
      await kill(id, 'SIGKILL', { all: true }).catch(() => {});
      for (let i = 0; i < 500 && (status = statusOf(s)) !== 'stopped'; i++) await sleep(10);
    }
    await cgOf(s).destroy({ force: true });
    removeStateDir(dir(id));
    await runHooks('poststop', s.poststop, { ...view(s), status: 'stopped' }).catch(() => {});
  }

  async function run(id: string, opts: CreateOptions & { readonly detach?: boolean }): Promise<ExitStatus> {
    if (opts.detach === true) {
      await create(id, opts, opts.monitor === false ? 'exit' : 'monitor').then(({ shim }) => shim.release());
      await start(id);
      return { exitCode: 0 };
    }
    const { state: st, shim } = await create(id, opts, 'foreground');
    const forward = (sig: NodeJS.Signals) => { try { process.kill(st.pid, sig); } catch { /* gone */ } };
    const sigs: NodeJS.Signals[] = opts.forwardSignals === false ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
    opts.onStarted?.({ pid: st.pid, stdin: shim.child?.stdin ?? null, stdout: shim.child?.stdout ?? null, stderr: shim.child?.stderr ?? null });
    for (const sg of sigs) process.on(sg, forward);
    try {
      const result = await shim.exited;
      if (result.oomKilled !== undefined) return result; // the shim read it before removing the cgroup
      const oom = await cgOf(load(id)).oomKilled().catch(() => false);
      return { ...result, oomKilled: oom };
    } finally {
      for (const sg of sigs) process.off(sg, forward);
      await del(id, { force: true }).catch(() => {});
    }
  }

  async function exec(id: string, proc: OciProcess, o: ExecOptions = {}): Promise<ExitStatus & { pid: number }> {
    const s = load(id);
    if (statusOf(s) !== 'running' && statusOf(s) !== 'created') throw failedPrecondition(`cannot exec in a stopped container: container "${id}" is not running`);
    if (options.cgroupsAt === undefined) warmCgroupMigration(hostInfo());
    const steps = compileExecPlan(proc, {
      initPid: s.pid, namespaces: s.namespaces, mode: o.detach === true ? 'exit' : 'foreground',
      ...(o.consoleSocket !== undefined ? { consoleSocket: o.consoleSocket } : {}),
      ...(s.seccomp ? { seccomp: s.seccomp, seccompCache: join(root, '.seccomp-cache') } : {}),
    });
    const cg = cgOf(s);
    const shim = await startShim({
      shimPath: shimPath(), steps, stdio: stdioArray(o.stdio), readToEnd: o.detach !== true,
      prepare: async (pid) => { await cg.addProcess(pid).catch(() => {}); },
    });
    if (o.pidFile !== undefined) writeAtomic(resolve(o.pidFile), String(shim.pid));
    if (o.detach === true) return { exitCode: 0, pid: shim.pid };
    const forward = (sig: NodeJS.Signals) => { try { process.kill(shim.pid, sig); } catch { /* gone */ } };
    const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
    for (const sg of sigs) process.on(sg, forward);
    try {
      return { ...(await shim.exited), pid: shim.pid };
    } finally {
      for (const sg of sigs) process.off(sg, forward);
    }
  }

  async function pause(id: string): Promise<void> {
    const s = load(id);
    const status = statusOf(s);
    if (status !== 'running') throw failedPrecondition(`cannot pause container "${id}": it is ${status}, not running`);
    await cgOf(s).freeze();
    writeFileSync(join(dir(id), 'paused'), '');
  }

  async function resume(id: string): Promise<void> {
    const s = load(id);
    const status = statusOf(s);
    if (status !== 'paused') throw failedPrecondition(`cannot resume container "${id}": it is ${status}, not paused`);
    await cgOf(s).thaw();
    rmSync(join(dir(id), 'paused'), { force: true });
  }

  async function update(id: string, resources: LinuxResources): Promise<readonly string[]> {
    const s = load(id);
    if (statusOf(s) === 'stopped') throw failedPrecondition(`cannot update container "${id}": it is stopped`);
    return (await cgOf(s).update(resources)).warnings;
  }

  return {
    pause, resume, update,
    warmCgroups: () => { if (options.cgroups === undefined && !initJoinsItself(hostInfo())) warmCgroupMigration(hostInfo()); },
    create: async (id, o) => {
      const { state: st, shim } = await create(id, o);
      shim.release();
      return st;
    },
    start, run, state, list, kill, wait, delete: del, exec, ps,
  };
}

