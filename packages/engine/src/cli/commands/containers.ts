/** node:child_process (and net behind it) loads at the first spawn, not at start-up: ps never spawns. */
const childProcess = () => process.getBuiltinModule('node:child_process');
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { totalmem as totalMem } from 'node:os';
import { Option, type Command } from 'commander';
import { BerthError, ErrorCode, invalidArgument, toBerthError, exitStatus, isBerthError } from '@berth/errors';
import type { Context } from '../context.js';
import type { Container, ContainerEngine, PullPolicy } from '../../containers/engine.js';
import { needRefs } from '../../containers/engine.js';
import { copyIn, copyOut, parseCpArg, tarIn, tarOut } from '../../containers/copy.js';
import { LinuxSys } from '@berth/native';
import { parseRunFlags, type RawRunFlags } from '../../containers/options.js';
import { cleanupMonitored, monitor, startMonitored } from '../../containers/monitor.js';
import { openEngine } from '../../containers/wiring.js';
import { readLog, selectLog } from '../../containers/logs.js';
import { parseDuration, parseSignal, signalName } from '../../containers/units.js';
import { phase } from '../../containers/trace.js';
import { recordedMounts } from '@berth/volume';
import { printSync } from '../output.js';
import { psCommand, psText, table, type PsFlags } from './ps.js';
import { inspectCommand, inspectJson, inspectText, type InspectFlags } from './inspect.js';
import { collect } from '../program.js';


/** The `berth create/run` flags, shared. */
function runOptions(cmd: Command): Command {
  return cmd
    .helpOption('--help', 'display help for command')
    .option('--name <name>', 'assign a name to the container')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-e, --env <K=V>', 'set an environment variable (repeatable)', collect)
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user to run as (name or uid)')
    .option('--entrypoint <cmd>', 'override the image entrypoint')
    .option('-l, --label <k=v>', 'set a label (repeatable)', collect)
    .option('-h, --hostname <name>', 'container hostname')
    .option('-v, --volume <src:dst[:ro]>', 'bind mount a host path or a named volume (repeatable)', collect)
    .option('--mount <spec>', 'type=bind|volume|tmpfs,source=…,target=… (repeatable)', collect)
    .option('--tmpfs <path[:opts]>', 'mount a tmpfs (repeatable)', collect)
    .option('--volumes-from <container[:ro|rw]>', "mount another container's volumes (repeatable)", collect)
    .option('--network <mode>', 'none or host', 'none')
    .option('--net <mode>', 'alias of --network')
    .option('-m, --memory <size>', 'memory limit (e.g. 64m)')
    .option('--memory-swap <size>', 'memory + swap limit, -1 for unlimited swap')
    .option('--cpus <n>', 'number of CPUs')
    .option('--cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs the container may use (0-3, 0,1)')
    .option('--pids-limit <n>', 'maximum number of processes')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--cap-add <cap>', 'add a Linux capability (repeatable)', collect)
    .option('--cap-drop <cap>', 'drop a Linux capability (repeatable)', collect)
    .option('--privileged', 'give all capabilities and devices, no seccomp')
    .option('--security-opt <opt>', 'no-new-privileges, seccomp=unconfined|<file> (repeatable)', collect)
    .option('--ulimit <name=soft[:hard]>', 'set a resource limit (repeatable)', collect)
    .option('--init', 'run an init inside the container that reaps zombies')
    .option('--restart <policy>', 'no, on-failure[:N], always, unless-stopped')
    .option('--rm', 'remove the container when it exits')
    .option('--stop-signal <sig>', 'signal to stop the container')
    .option('--stop-timeout <s>', 'seconds to wait before killing on stop')
    .option('--log-opt <k=v>', 'max-size=<size>, max-file=<n> (repeatable)', collect)
    .addOption(new Option('--pull <policy>', 'pull the image: missing, always, never').choices(['missing', 'always', 'never']).default('missing'));
}

interface CliRunFlags extends RawRunFlags {
  readonly net?: string;
  readonly pull: PullPolicy;
  readonly detach?: boolean;
  readonly sigProxy?: boolean;
  readonly attach?: string[];
}

function toOptions(flags: CliRunFlags, command: readonly string[]) {
  const f: RawRunFlags = flags.net !== undefined && flags.network === 'none' ? { ...flags, network: flags.net } : flags;
  return parseRunFlags(f, command, (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw invalidArgument(`cannot read env file ${p}: ${toBerthError(e).message}`);
    }
  });
}

/** The command that runs this berth again (for the detached monitor). */
function selfArgv(): string[] {
  const script = process.env['BERTH_SELF'] ?? process.argv[1] ?? '';
  return [...process.execArgv, script];
}

/** What a container's shim runs once the container exited (see monitor.ts `cleanupMonitored`). */
function cleanupCommand(ctx: Context, id: string): string[] {
  return [process.execPath, ...selfArgv(), '--root', ctx.root, '--state', ctx.state, 'container', 'cleanup', id];
}

/**
 * Starts a container detached; resolves when it runs (or failed to start). Held by the
 * runtime's own monitor (berth-shim) when it has one, else by a `berth container monitor`.
 */
async function startDetached(ctx: Context, engine: ContainerEngine, c: Container): Promise<void> {
  if (engine.deps.runtime.startMonitored !== undefined) {
    await startMonitored(engine, c.id, cleanupCommand(ctx, c.id));
    return;
  }
  const sdir = engine.stateDir(c.id);
  mkdirSync(sdir, { recursive: true, mode: 0o700 });
  const errLog = join(sdir, 'monitor.log');
  const errFd = openSync(errLog, 'w', 0o600);
  const child = childProcess().spawn(process.execPath, [...selfArgv(), '--root', ctx.root, '--state', ctx.state, 'container', 'monitor', c.id], {
    detached: true,
    stdio: ['ignore', 'pipe', errFd],
  });
  closeSync(errFd);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    child.stdout?.on('close', () => resolve(buf));
    child.on('error', () => resolve(''));
  });
  child.stdout?.destroy();
  child.unref();
  let r: { ok?: boolean; code?: number; error?: string } = {};
  try { r = JSON.parse(line) as typeof r; } catch { /* no report */ }
  if (r.ok === true) return;
  if (typeof r.error === 'string') {
    const code = r.code === 127 ? ErrorCode.NotFound : r.code === 126 ? ErrorCode.PermissionDenied : ErrorCode.FailedPrecondition;
    throw new BerthError(code, r.error, { detail: { exec: r.code === 126 || r.code === 127 } });
  }
  let why = '';
  try { why = readFileSync(errLog, 'utf8').trim().split('\n').pop() ?? ''; } catch { /* none */ }
  throw toBerthError(new Error(why.replace(/^berth: /, '') || `the container monitor of ${c.id.slice(0, 12)} exited before the container started`));
}

/** Runs (foreground) or starts (detached) a created container; returns the CLI exit status. */
async function runCreated(ctx: Context, engine: ContainerEngine, c: Container, flags: { detach?: boolean; interactive?: boolean; tty?: boolean; sigProxy?: boolean; attach?: readonly string[] }): Promise<number> {
  if (flags.detach) {
    await startDetached(ctx, engine, c);
    return 0;
  }
  const tty = c.config.options.tty;
  const r = await monitor(engine, c.id, {
    io: tty ? { kind: 'tty' } : {
      kind: 'attach',
      stdin: flags.interactive === true || c.config.options.interactive || (flags.attach ?? []).includes('stdin'),
      sigProxy: flags.sigProxy !== false,
      // -a picks the streams shown (default all), as docker run -a does; the log keeps both.
      ...(flags.attach === undefined || flags.attach.length === 0 ? {} : { stdout: flags.attach.includes('stdout'), stderr: flags.attach.includes('stderr') }),
    },
  });
  if (r.error) {
    process.stderr.write(`berth: ${r.error.message}\n`);
  }
  return r.code;
}

/**
 * Connects to a berth-shim's socket (see native/shim/shim.c): `attach` streams the pty's output
 * to stdout and stdin to the pty (the terminal raw meanwhile); SIGWINCH sends `resize`. The
 * socket path can exceed sun_path's 108 bytes: connect from its directory, by name.
 */
async function attachSocket(path: string, forward?: (sig: NodeJS.Signals) => void): Promise<void> {
  const net = process.getBuiltinModule('node:net');
  const dir = path.slice(0, path.lastIndexOf('/'));
  const name = path.slice(path.lastIndexOf('/') + 1);
  const connect = (): import('node:net').Socket => {
    const cwd = process.cwd();
    process.chdir(dir);
    try { return net.createConnection(name); } finally { process.chdir(cwd); }
  };
  const resize = (): void => {
    if (!process.stdout.isTTY) return;
    const s = connect();
    s.on('error', () => undefined);
    s.end(`resize ${process.stdout.rows} ${process.stdout.columns}\n`);
  };
  const sock = connect();
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', (e) => reject(toBerthError(e, 'attach to the container monitor')));
  });
  sock.write('attach\n');
  resize();
  const raw = process.stdin.isTTY === true;
  if (raw) process.stdin.setRawMode(true);
  // stdin's end is not the container's: the socket stays open for its output until it exits.
  process.stdin.pipe(sock, { end: false });
  sock.pipe(process.stdout);
  process.on('SIGWINCH', resize);
  if (forward) for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  try {
    await new Promise<void>((resolve) => { sock.once('close', () => resolve()); });
  } finally {
    process.off('SIGWINCH', resize);
    if (forward) for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, forward);
    process.stdin.unpipe(sock);
    if (raw) process.stdin.setRawMode(false);
    process.stdin.destroy();
  }
}

function mib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)}GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(2)}MiB` : `${(n / 1024).toFixed(2)}KiB`;
}

/** CPU time, memory and pids of the cgroups of a process (v1 controllers, or the v2 unified group). */
export function cgroupStats(pid: number): { cpuNs?: number; memory?: number; limit?: number; pids?: number } {
  let text = '';
  try { text = readFileSync(`/proc/${pid}/cgroup`, 'utf8'); } catch { return {}; }
  const num = (p: string): number | undefined => {
    try {
      const v = readFileSync(p, 'utf8').trim();
      return v === 'max' ? undefined : Number(v.split('\n')[0]);
    } catch { return undefined; }
  };
  const out: { cpuNs?: number; memory?: number; limit?: number; pids?: number } = {};
  for (const line of text.split('\n')) {
    const [, ctrls = '', path = ''] = line.split(':');
    const set = ctrls.split(',');
    if (set.includes('cpuacct')) { const v = num(`/sys/fs/cgroup/cpuacct${path}/cpuacct.usage`); if (v !== undefined) out.cpuNs = v; }
    if (set.includes('memory')) {
      const m = num(`/sys/fs/cgroup/memory${path}/memory.usage_in_bytes`);
      const l = num(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`);
      if (m !== undefined) out.memory = m;
      if (l !== undefined) out.limit = Math.min(l, totalMem());
    }
    if (set.includes('pids')) { const v = num(`/sys/fs/cgroup/pids${path}/pids.current`); if (v !== undefined) out.pids = v; }
    if (ctrls === '' && line.startsWith('0::') && existsSync(`/sys/fs/cgroup${path}/memory.current`)) {
      const base = `/sys/fs/cgroup${path}`;
      const m = num(`${base}/memory.current`);
      if (m !== undefined) out.memory = m;
      out.limit = num(`${base}/memory.max`) ?? totalMem();
      const p = num(`${base}/pids.current`);
      if (p !== undefined) out.pids = p;
      try {
        const u = /usage_usec (\d+)/.exec(readFileSync(`${base}/cpu.stat`, 'utf8'));
        if (u) out.cpuNs = Number(u[1]) * 1000;
      } catch { /* no cpu controller */ }
    }
  }
  if (out.limit === undefined) out.limit = totalMem();
  return out;
}

/** Parses --since/--until: an RFC 3339 time, a Unix timestamp, or a duration before now. */
function parseTime(flag: string, v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return t;
  return Date.now() - parseDuration(flag, v);
}

/** Prints log entries appended after `offset` until the container no longer runs. */
async function followLog(engine: ContainerEngine, c: Container, path: string, from: number, print: (e: { log: string; stream: string; time: string }) => void): Promise<void> {
  let offset = from;
  let partial = '';
  let lastPass = false;
  for (;;) {
    let size = 0;
    try { size = statSync(path).size; } catch { /* rotated */ }
    if (size < offset) offset = 0;
    if (size > offset) {
      const fd = openSync(path, 'r');
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      const lines = (partial + buf.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        try { print(JSON.parse(l) as { log: string; stream: string; time: string }); } catch { /* torn */ }
      }
    }
    const cur = engine.deps.store.find(c.id);
    if (!cur) return;
    const st = engine.reconcile(cur).state.status;
    if (st !== 'running' && st !== 'paused' && st !== 'starting' && st !== 'stopping') {
      // The monitor writes the last output before it records the exit: one more read gets it.
      if (lastPass) return;
      lastPass = true;
      continue;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function eachRef(refs: readonly string[], fn: (ref: string) => Promise<void> | void): Promise<void> {
  let failed: unknown;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (e) {
      failed = e;
      process.stderr.write(`berth: ${toBerthError(e).message}\n`);
    }
  }
  if (failed !== undefined) process.exitCode = exitStatus(toBerthError(failed));
}

/**
 * Registers the container commands; with `only` (the command that runs), just that one:
 * registering all of them (create and run have ~60 options each) took ~3 ms of every
 * container command.
 */
export function register(cmd: Command, ctx: () => Context, only?: string): void {
  const want = (name: string): boolean => only === undefined || only === name;
  if (want('create')) runOptions(cmd.command('create')
    .description('create a container without starting it')
    .argument('<image>', 'image to create the container from')
    .argument('[command...]', 'command and arguments')
    .passThroughOptions())
    .action(async (image: string, command: string[], flags: CliRunFlags) => {
      const engine = openEngine(ctx());
      const c = await engine.create(image, toOptions(flags, command), flags.pull);
      process.stdout.write(`${c.id}\n`);
    });

  if (want('run')) runOptions(cmd.command('run')
    .description('run a command in a new container')
    .argument('<image>', 'image to run')
    .argument('[command...]', 'command and arguments')
    .passThroughOptions()
    .option('-d, --detach', 'run in the background and print the container ID')
    .option('--no-sig-proxy', 'do not forward signals to the container')
    .option('-a, --attach <stream>', 'attach to stdin, stdout or stderr (repeatable)', collect))
    .action(async (image: string, command: string[], flags: CliRunFlags) => {
      phase('flags parse');
      const c = ctx();
      const engine = openEngine(c);
      phase('db open');
      const opts = toOptions(flags, command);
      const created = await engine.create(image, opts, flags.pull);
      try {
        for (const s of flags.attach ?? []) {
          if (!['stdin', 'stdout', 'stderr'].includes(s)) throw invalidArgument(`invalid -a "${s}": use stdin, stdout or stderr`);
        }
        if (flags.detach && (flags.attach ?? []).length > 0) throw invalidArgument('conflicting options: cannot specify both --attach and --detach');
        const code = await runCreated(c, engine, created, { detach: flags.detach === true, interactive: opts.interactive, sigProxy: flags.sigProxy !== false, ...(flags.attach === undefined ? {} : { attach: flags.attach }) });
        if (flags.detach) process.stdout.write(`${created.id}\n`);
        process.exitCode = code;
      } catch (e) {
        if (opts.autoRemove) await engine.remove(created.id, { force: true, volumes: true }).catch(() => undefined);
        throw e;
      }
    });

  if (want('start')) cmd.command('start')
    .description('start one or more stopped containers')
    .argument('<container...>')
    .option('-a, --attach', 'attach stdout/stderr and forward signals')
    .option('-i, --interactive', "attach the container's stdin")
    .action(async (refs: string[], o: { attach?: boolean; interactive?: boolean }) => {
      const c = ctx();
      const engine = openEngine(c);
      if (o.attach || o.interactive) {
        if (refs.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
        process.exitCode = await runCreated(c, engine, engine.get(refs[0] ?? ''), { interactive: o.interactive === true });
        return;
      }
      await eachRef(refs, async (ref) => {
        const ct = engine.get(ref);
        if (ct.state.status !== 'running') await startDetached(c, engine, ct);
        process.stdout.write(`${ref}\n`);
      });
    });

  if (want('stop')) cmd.command('stop')
    .description('stop one or more running containers')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing it')
    .option('-s, --signal <signal>', 'signal to send first')
    .action(async (refs: string[], o: { time?: string }) => {
      const engine = openEngine(ctx());
      await eachRef(refs, async (ref) => {
        await engine.stop(ref, o.time === undefined ? undefined : Number(o.time));
        process.stdout.write(`${ref}\n`);
      });
    });

  if (want('restart')) cmd.command('restart')
    .description('restart one or more containers')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing it')
    .action(async (refs: string[], o: { time?: string }) => {
      const c = ctx();
      const engine = openEngine(c);
      await eachRef(refs, async (ref) => {
        const ct = await engine.stop(ref, o.time === undefined ? undefined : Number(o.time));
        await startDetached(c, engine, engine.get(ct.id));
        process.stdout.write(`${ref}\n`);
      });
    });

  if (want('kill')) cmd.command('kill')
    .description('kill one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .action(async (refs: string[], o: { signal: string }) => {
      const engine = openEngine(ctx());
      const sig = parseSignal(o.signal);
      await eachRef(refs, (ref) => {
        engine.kill(ref, sig);
        process.stdout.write(`${ref}\n`);
      });
    });

  for (const [name, on] of [['pause', true], ['unpause', false]] as const) {
    if (!want(name)) continue;
    cmd.command(name)
      .description(`${on ? 'pause' : 'unpause'} all processes of one or more containers`)
      .argument('<container...>')
      .action(async (refs: string[]) => {
        const engine = openEngine(ctx());
        await eachRef(refs, async (ref) => { await engine.pause(ref, on); process.stdout.write(`${ref}\n`); });
      });
  }

  if (want('rm')) cmd.command('rm')
    .description('remove one or more containers')
    .argument('[container...]')
    .option('-f, --force', 'kill and remove a running container')
    .option('-v, --volumes', 'remove its anonymous volumes')
    .action(async (refs: string[], o: { force?: boolean; volumes?: boolean }) => {
      needRefs(refs, 'rm');
      const engine = openEngine(ctx());
      await eachRef(refs, async (ref) => {
        await engine.remove(ref, { force: o.force === true, volumes: o.volumes === true });
        process.stdout.write(`${ref}\n`);
      });
    });

  if (want('wait')) cmd.command('wait')
    .description('wait for containers to stop, print their exit codes')
    .argument('<container...>')
    .action(async (refs: string[]) => {
      const engine = openEngine(ctx());
      await eachRef(refs, async (ref) => { process.stdout.write(`${await engine.wait(ref)}\n`); });
    });

  if (want('rename')) cmd.command('rename')
    .description('rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action((ref: string, name: string) => { openEngine(ctx()).rename(ref, name); });

  const ps = (c: Command) => psCommand(c).action((o: PsFlags) => {
    phase('flags parse');
    const engine = openEngine(ctx());
    phase('db open');
    const list = engine.list();
    phase('list, reconcile');
    printSync(psText(list, o));
  });
  if (want('ps')) ps(cmd.command('ps'));

  if (want('inspect')) inspectCommand(cmd.command('inspect')).action(async (refs: string[], o: InspectFlags) => {
    const engine = openEngine(ctx());
    const out: Record<string, unknown>[] = [];
    await eachRef(refs, (ref) => { out.push(inspectJson(engine.deps, engine.get(ref))); });
    process.stdout.write(inspectText(out, o));
  });

  if (want('logs')) cmd.command('logs')
    .description("fetch a container's logs")
    .argument('<container>')
    .option('-f, --follow', 'follow log output')
    .option('--tail <n>', "number of lines from the end ('all')", 'all')
    .option('--since <time>', 'since a time (RFC 3339) or a duration ago (10m)')
    .option('--until <time>', 'until a time (RFC 3339) or a duration ago')
    .option('-t, --timestamps', 'show timestamps')
    .action(async (ref: string, o: { follow?: boolean; tail: string; since?: string; until?: string; timestamps?: boolean }) => {
      const engine = openEngine(ctx());
      const c = engine.get(ref);
      const path = join(engine.dir(c.id), 'log.json');
      const since = o.since === undefined ? undefined : parseTime('--since', o.since);
      const until = o.until === undefined ? undefined : parseTime('--until', o.until);
      const print = (e: { log: string; stream: string; time: string }) => {
        (e.stream === 'stderr' ? process.stderr : process.stdout).write(o.timestamps ? `${e.time} ${e.log}` : e.log);
      };
      const all = readLog(path);
      const tail = o.tail === 'all' ? undefined : Number(o.tail);
      for (const e of selectLog(all, { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }), ...(tail === undefined ? {} : { tail }) })) print(e);
      if (!o.follow) return;
      let offset = 0;
      try { offset = statSync(path).size; } catch { /* not yet */ }
      await followLog(engine, c, path, offset, (e) => { if (until === undefined || Date.parse(e.time) <= until) print(e); });
    });

  if (want('attach')) cmd.command('attach')
    .description("attach to a running container's output (stdout/stderr) until it exits")
    .argument('<container>')
    .option('--no-stdin', 'do not attach stdin (berth attaches output only)')
    .option('--sig-proxy', 'forward signals to the container', true)
    .option('--no-sig-proxy', 'do not forward signals')
    .action(async (ref: string, o: { sigProxy?: boolean }) => {
      const engine = openEngine(ctx());
      const c = engine.get(ref);
      if (c.state.status !== 'running' && c.state.status !== 'paused') throw invalidArgument(`you cannot attach to a stopped container ${c.name}: start it first`);
      const sock = c.config.options.tty ? engine.deps.runtime.monitorSocket?.(c.id) : undefined;
      if (sock !== undefined) {
        // A terminal held by berth-shim: its socket carries the pty both ways, and resizes.
        await attachSocket(sock, o.sigProxy !== false ? (sig) => { try { engine.kill(c.id, parseSignal(sig)); } catch { /* exited */ } } : undefined);
        process.exitCode = await engine.wait(c.id);
        return;
      }
      const path = join(engine.dir(c.id), 'log.json');
      let offset = 0;
      try { offset = statSync(path).size; } catch { /* not yet */ }
      const forward = (sig: NodeJS.Signals) => { try { engine.kill(c.id, parseSignal(sig)); } catch { /* exited */ } };
      if (o.sigProxy !== false) for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
      await followLog(engine, c, path, offset, (e) => { (e.stream === 'stderr' ? process.stderr : process.stdout).write(e.log); });
      const after = engine.deps.store.find(c.id);
      process.exitCode = after?.state.exitCode ?? 0;
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, forward);
    });

  if (want('exec')) cmd.command('exec')
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-d, --detach', 'run the command in the background')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-e, --env <K=V>', 'set an environment variable (repeatable)', collect)
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-w, --workdir <dir>', 'working directory')
    .action(async (ref: string, command: string[], o: { detach?: boolean; interactive?: boolean; tty?: boolean; env?: string[]; user?: string; workdir?: string }) => {
      const engine = openEngine(ctx());
      const c = engine.get(ref);
      const { processFile, logFile } = engine.prepareExec(c, {
        command, tty: o.tty === true && o.detach !== true, env: o.env ?? [],
        ...(o.user === undefined ? {} : { user: o.user }), ...(o.workdir === undefined ? {} : { workdir: o.workdir }),
      });
      try {
        process.exitCode = await engine.deps.runtime.exec(c.id, processFile, {
          stdio: o.detach ? 'ignore' : o.tty ? 'inherit' : [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
          detach: o.detach === true,
          logFile,
        });
      } finally {
        rmSync(processFile, { force: true });
        rmSync(logFile, { force: true });
      }
    });

  if (want('cp')) cmd.command('cp')
    .description('copy files between a container and the host (- for a tar stream)')
    .argument('<src>', 'container:path, a host path, or -')
    .argument('<dst>', 'container:path, a host path, or -')
    .action(async (a: string, b: string) => {
      const src = parseCpArg(a);
      const dst = parseCpArg(b);
      const ref = src.container ?? dst.container;
      if (ref === undefined || (src.container !== undefined && dst.container !== undefined)) {
        throw invalidArgument('one side of berth cp must be container:path and the other a host path or -');
      }
      const engine = openEngine(ctx());
      const c = engine.get(ref);
      const rootfs = join(engine.dir(c.id), 'rootfs');
      const mounted = c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'created';
      if (!mounted) await engine.deps.snapshotter.mount(c.id);
      const sys = new LinuxSys();
      try {
        if (src.container !== undefined) {
          if (dst.path === '-') await tarOut(sys, rootfs, src.path, process.stdout);
          else copyOut(sys, rootfs, src.path, dst.path);
        } else if (src.path === '-') await tarIn(sys, rootfs, dst.path, process.stdin);
        else copyIn(sys, rootfs, src.path, dst.path);
      } finally {
        if (!mounted) await engine.release(c.id);
      }
    });

  if (want('top')) cmd.command('top')
    .description('show the processes of a container')
    .argument('<container>')
    .argument('[ps-options...]', "options for ps (default -f)")
    .allowUnknownOption()
    .action((ref: string, psArgs: string[]) => {
      const engine = openEngine(ctx());
      const c = engine.get(ref);
      if (c.state.status !== 'running' && c.state.status !== 'paused') throw invalidArgument(`container ${c.name} is not running`);
      const pids = engine.deps.runtime.ps(c.id);
      const r = childProcess().spawnSync('ps', [...(psArgs.length > 0 ? psArgs : ['-f']), '-p', pids.join(',')], { encoding: 'utf8' });
      process.stdout.write(r.stdout);
    });

  if (want('port')) cmd.command('port')
    .description('list the port mappings of a container')
    .argument('<container>')
    .action((ref: string) => {
      // Ports are published only on bridge networks, which arrive with @berth/network.
      openEngine(ctx()).get(ref);
    });

  if (want('stats')) cmd.command('stats')
    .description("show containers' CPU, memory and pids usage")
    .argument('[container...]')
    .option('-a, --all', 'all containers (default: running)')
    .option('--no-stream', 'print one sample and exit')
    .option('--format <format>', "'json' for JSON lines")
    .action(async (refs: string[], o: { all?: boolean; stream?: boolean; format?: string }) => {
      const engine = openEngine(ctx());
      for (;;) {
        const list = refs.length > 0 ? refs.map((r) => engine.get(r)) : engine.list().filter((c) => o.all || c.state.status === 'running' || c.state.status === 'paused');
        const first = list.map((c) => ({ c, cpu: cgroupStats(c.state.pid).cpuNs, t: process.hrtime.bigint() }));
        await new Promise((r) => setTimeout(r, 500));
        const rows = first.map(({ c, cpu, t }) => {
          const s = cgroupStats(c.state.pid);
          const dt = Number(process.hrtime.bigint() - t);
          const cpuPct = cpu === undefined || s.cpuNs === undefined || dt <= 0 ? 0 : ((s.cpuNs - cpu) / dt) * 100;
          const mem = s.memory ?? 0;
          const limit = s.limit ?? 0;
          return {
            ID: c.id.slice(0, 12), Name: c.name, CPUPerc: `${cpuPct.toFixed(2)}%`,
            MemUsage: `${mib(mem)} / ${mib(limit)}`, MemPerc: `${(limit > 0 ? (mem / limit) * 100 : 0).toFixed(2)}%`,
            NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: String(s.pids ?? 0),
          };
        });
        if (o.format === 'json') process.stdout.write(rows.map((r) => JSON.stringify(r) + '\n').join(''));
        else {
          if (o.stream !== false) process.stdout.write('\x1b[2J\x1b[H');
          process.stdout.write(table(rows, [['ID', 'CONTAINER ID'], ['Name', 'NAME'], ['CPUPerc', 'CPU %'], ['MemUsage', 'MEM USAGE / LIMIT'], ['MemPerc', 'MEM %'], ['NetIO', 'NET I/O'], ['BlockIO', 'BLOCK I/O'], ['PIDs', 'PIDS']]));
        }
        if (o.stream === false) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    });

  if (want('events')) cmd.command('events')
    .description('stream container events (create, start, die, destroy …)')
    .option('--since <time>', 'show events since a time (RFC 3339, Unix seconds, or a duration ago)')
    .option('--until <time>', 'stop at a time')
    .option('-f, --filter <k=v>', 'container=<name|id>, event=<action>, image=<name> (repeatable)', collect)
    .option('--format <format>', "'json' for JSON lines")
    .action(async (o: { since?: string; until?: string; filter?: string[]; format?: string }) => {
      const c = ctx();
      const path = join(c.root, 'events.log');
      const since = o.since === undefined ? Date.now() : parseTime('--since', o.since);
      const until = o.until === undefined ? undefined : parseTime('--until', o.until);
      const filters = o.filter ?? [];
      const match = (e: { Action: string; id: string; from: string; Actor: { Attributes: Record<string, string> } }) => filters.every((f) => {
        const [k, v = ''] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
        if (k === 'container') return e.id.startsWith(v) || e.Actor.Attributes['name'] === v;
        if (k === 'event') return e.Action === v;
        if (k === 'image') return e.from === v || e.from === `${v}:latest`;
        if (k === 'type') return v === 'container';
        throw invalidArgument(`invalid filter "${k}": use container, event, image or type`);
      });
      let offset = 0;
      let partial = '';
      for (;;) {
        let size = 0;
        try { size = statSync(path).size; } catch { /* no events yet */ }
        if (size > offset) {
          const fd = openSync(path, 'r');
          const buf = Buffer.alloc(size - offset);
          readSync(fd, buf, 0, buf.length, offset);
          closeSync(fd);
          offset = size;
          const lines = (partial + buf.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) {
            let e: { Action: string; id: string; from: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
            try { e = JSON.parse(l) as typeof e; } catch { continue; }
            const ms = e.timeNano / 1e6;
            if (ms < since || (until !== undefined && ms > until) || !match(e)) continue;
            if (o.format === 'json') process.stdout.write(l + '\n');
            else {
              const attrs = Object.entries(e.Actor.Attributes).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(', ');
              process.stdout.write(`${new Date(ms).toISOString()} container ${e.Action} ${e.id} (${attrs})\n`);
            }
          }
        }
        if (until !== undefined && Date.now() > until) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    });

  if (!want('container')) return;
  const container = cmd.command('container').description('manage containers');
  ps(container.command('ls'));
  container.command('monitor', { hidden: true })
    .description('hold a container as its monitor (started by berth itself)')
    .argument('<id>')
    .action(async (id: string) => {
      const engine = openEngine(ctx());
      let reported = false;
      const report = (r: object) => {
        if (reported) return;
        reported = true;
        try { process.stdout.write(JSON.stringify(r) + '\n'); process.stdout.end(); } catch { /* the CLI went away */ }
      };
      process.stdout.on('error', () => undefined);
      try {
        await monitor(engine, id, { io: { kind: 'detached' }, onReady: report });
      } catch (e) {
        const err = toBerthError(e);
        report({ ok: false, code: exitStatus(err), error: err.message });
        throw e;
      }
    });
  container.command('cleanup', { hidden: true })
    .description("record a container's exit, restart or remove it (run by its berth-shim)")
    .argument('<id>')
    .action(async (id: string) => {
      const context = ctx();
      const engine = openEngine(context);
      try {
        await cleanupMonitored(engine, id, cleanupCommand(context, id));
      } catch (e) {
        // No terminal here (the shim's stdio is /dev/null): leave the reason beside the state.
        try { appendFileSync(join(engine.stateDir(id), 'cleanup.log'), `${new Date().toISOString()} ${toBerthError(e).message}\n`); } catch { /* removed */ }
        throw e;
      }
    });
  container.command('prune')
    .description('remove all stopped containers')
    .option('-f, --force', 'do not prompt (berth never prompts)')
    .action(async () => {
      const engine = openEngine(ctx());
      for (const c of engine.list()) {
        if (c.state.status !== 'exited' && c.state.status !== 'created') continue;
        try {
          await engine.remove(c.id);
          process.stdout.write(`${c.id}\n`);
        } catch (e) {
          if (!isBerthError(e, 'Conflict')) throw e;
        }
      }
    });
}
