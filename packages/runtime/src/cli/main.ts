/**
 * `berth-runtime`: runc's command line over the runtime library, so containerd and podman can
 * drive berth. Arguments are parsed by hand: the CLI must start fast (`run` of /bin/true is
 * measured against runc), and runc's flags are few and fixed.
 *
 * Errors: a line `time="…" level=error msg="…"` on stderr, a JSON line to `--log` (as
 * containerd's shim reads it), exit status 1. `run` and `exec` exit with the process's status.
 */
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BerthError, invalidArgument, toBerthError } from '@berth/errors';
import { defaultSpec } from '../default-spec.js';
import type { LinuxResources } from '../cgroups/index.js';
import { createRuntime, type StdioSpec } from '../runtime.js';
import { addonPath } from '@berth/native';
import { shimError } from '../shim.js';
import { parseConfig, parseProcess, type OciProcess } from '../spec.js';
import { features } from './features.js';

declare const BERTH_VERSION: string | undefined;
const version = typeof BERTH_VERSION === 'string' ? BERTH_VERSION : '0.1.0-dev';

/** Long flags that take a value (everything else given as `--flag` is boolean). */
const valued = new Set([
  'root', 'log', 'log-format', 'bundle', 'pid-file', 'console-socket', 'process', 'format',
  'preserve-fds', 'pidfd-socket', 'cwd', 'env', 'user', 'signal', 'rootless', 'criu', 'additional-gids',
  'process-label', 'apparmor', 'cap', 'resources',
]);

/** Short flags that take a value, per command (runc reuses letters: `delete -f` is --force, `ps -f` is --format). */
const valuedShort: Readonly<Record<string, readonly string[]>> = {
  create: ['b'], run: ['b'], spec: ['b'], update: ['r'], exec: ['p', 'e', 'u', 'g', 'c'], ps: ['f'], list: ['f'], ls: ['f'],
};

interface Parsed {
  readonly flags: Map<string, string[]>;
  readonly args: string[];
}

/** Splits argv into flags (`--x v`, `--x=v`, `-x v`) and positional arguments; stops at `--` or, after the command's id, at the first positional for exec. */
function parseFlags(argv: readonly string[], stopAfter = Infinity, short: readonly string[] = []): Parsed {
  const flags = new Map<string, string[]>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (args.length >= stopAfter) { args.push(a); continue; }
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('-') && a !== '-') {
      let name = a.replace(/^--?/, '');
      let value: string | undefined;
      const eq = name.indexOf('=');
      if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
      const takes = a.startsWith('--') ? valued.has(name) : short.includes(name);
      if (value === undefined && takes) value = argv[++i] ?? '';
      const list = flags.get(name) ?? [];
      list.push(value ?? 'true');
      flags.set(name, list);
    } else {
      args.push(a);
    }
  }
  return { flags, args };
}

const flag = (p: Parsed, ...names: string[]): string | undefined => {
  for (const n of names) {
    const v = p.flags.get(n);
    if (v !== undefined) return v[v.length - 1];
  }
  return undefined;
};
const bool = (p: Parsed, ...names: string[]): boolean => {
  const v = flag(p, ...names);
  return v !== undefined && v !== 'false';
};

function needId(p: Parsed, cmd: string): string {
  const id = p.args[0];
  if (id === undefined || id === '') throw invalidArgument(`"${cmd}" requires a container id: berth-runtime ${cmd} <container-id>`);
  return id;
}

const usage = `berth-runtime ${version}: an OCI runtime compatible with runc's command line

usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ID

commands:
  create --bundle DIR [--pid-file F] [--console-socket S] ID   create a container; its process waits for start
  start ID                                   start the process of a created container
  run --bundle DIR [-d] [--pid-file F] [--console-socket S] ID   create and start; wait unless -d
  state ID                                   print the state as JSON
  kill [--all] ID [SIGNAL]                   send a signal (default SIGTERM)
  delete [--force] ID                        remove a stopped container
  exec [--process F | [-u UID[:GID]] [--cwd D] [-e K=V] [--cap C] [-t] ID CMD...] [-d] [--pid-file F] [--console-socket S]
  ps [--format table|json] ID                list the container's processes
  pause ID / resume ID                       freeze and thaw every process of the container
  update --resources F|- ID                  change limits (linux.resources JSON)
  list [--format table|json]                 list containers
  spec [--bundle DIR]                        write a default config.json
  features                                   print the runtime's features as JSON
`;

/** Runs the CLI; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  // Global flags come before the command.
  let i = 0;
  const global: string[] = [];
  while (i < argv.length && (argv[i] ?? '').startsWith('-')) {
    const a = argv[i] ?? '';
    global.push(a);
    const name = a.replace(/^--?/, '');
    if (!name.includes('=') && valued.has(name)) global.push(argv[++i] ?? '');
    i++;
  }
  const g = parseFlags(global);
  const cmd = argv[i];
  const rest = argv.slice(i + 1);
  const logFile = flag(g, 'log');
  const logJson = flag(g, 'log-format') === 'json';
  try {
    if (bool(g, 'version', 'v')) {
      process.stdout.write(`berth-runtime version ${version}\ncommit: berth\nspec: 1.2.0\n`);
      return 0;
    }
    if (cmd === undefined || bool(g, 'help', 'h') || cmd === 'help') {
      process.stdout.write(usage);
      return cmd === undefined && !bool(g, 'help', 'h') ? 1 : 0;
    }
    const rt = () => createRuntime({ root: flag(g, 'root') ?? '/run/berth-runtime' });
    // Facts the caller reads back from --log (the engine takes OOMKilled from here, as from runc's).
    const note = (msg: string, fields: Record<string, unknown>): void => {
      if (logFile === undefined) return;
      const time = new Date().toISOString();
      const line = logJson ? `${JSON.stringify({ level: 'info', msg, ...fields, time })}\n` : `time="${time}" level=info msg="${msg}"\n`;
      try { appendFileSync(logFile, line); } catch { /* the log is best effort */ }
    };
    return await dispatch(cmd, rest, rt, note, global);
  } catch (e) {
    const err = e instanceof BerthError ? e : toBerthError(e);
    const time = new Date().toISOString();
    process.stderr.write(`time="${time}" level=error msg="${err.message.replace(/"/g, '\\"')}"\n`);
    if (logFile !== undefined) {
      const line = logJson ? `${JSON.stringify({ level: 'error', msg: err.message, time })}\n` : `time="${time}" level=error msg="${err.message}"\n`;
      try { appendFileSync(logFile, line); } catch { /* the log is best effort */ }
    }
    return 1;
  }
}

/** Whether @berth/native's addon is there (the handoff of `run` needs its execve). */
function addonBuilt(): boolean {
  try {
    addonPath();
    return true;
  } catch {
    return false;
  }
}

function stdioFor(): StdioSpec {
  return 'inherit';
}

async function dispatch(
  cmd: string,
  rawArgv: readonly string[],
  rt: () => ReturnType<typeof createRuntime>,
  note: (msg: string, fields: Record<string, unknown>) => void,
  global: readonly string[],
): Promise<number> {
  const short = valuedShort[cmd] ?? [];
  const argv = rawArgv;
  const parse = (a: readonly string[], stopAfter = Infinity): Parsed => parseFlags(a, stopAfter, short);
  switch (cmd) {
    case 'create':
    case 'run': {
      const p = parse(argv);
      const id = needId(p, cmd);
      const bundle = resolve(flag(p, 'bundle', 'b') ?? '.');
      const common = {
        bundle, stdio: stdioFor(), monitor: false,
        ...(flag(p, 'pid-file') !== undefined ? { pidFile: resolve(flag(p, 'pid-file') ?? '') } : {}),
        ...(flag(p, 'console-socket') !== undefined ? { consoleSocket: resolve(flag(p, 'console-socket') ?? '') } : {}),
      };
      if (cmd === 'create') {
        await rt().create(id, common);
        return 0;
      }
      // In the foreground this process becomes berth-shim (see CreateOptions.handoff); a failure to
      // start comes back here as `__shim-error`, with the same global flags.
      const logFile = flag(parseFlags(global), 'log');
      const handoff = !addonBuilt() ? undefined : {
        onError: [process.execPath, process.argv[1] ?? '', ...global, '__shim-error', id],
        ...(logFile !== undefined ? { oomNote: { file: resolve(logFile), json: flag(parseFlags(global), 'log-format') === 'json' } } : {}),
      };
      const result = await rt().run(id, { ...common, detach: bool(p, 'detach', 'd'), ...(handoff ? { handoff } : {}) });
      if (result.oomKilled === true) note('container was OOM-killed', { oomKilled: true });
      return result.exitCode;
    }
    case '__shim-error': {
      // berth-shim of a handed-off run failed to start the container: clean up as create would
      // have, and report the error as create would have.
      const [id = '', line = ''] = argv;
      await rt().delete(id, { force: true }).catch(() => {});
      throw shimError(line);
    }
    case 'start': {
      await rt().start(needId(parse(argv), cmd));
      return 0;
    }
    case 'state': {
      const s = await rt().state(needId(parse(argv), cmd));
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      return 0;
    }
    case 'kill': {
      const p = parse(argv);
      await rt().kill(needId(p, cmd), p.args[1] ?? 'SIGTERM', { all: bool(p, 'all', 'a') });
      return 0;
    }
    case 'delete': {
      const p = parse(argv);
      const id = needId(p, cmd);
      const force = bool(p, 'force', 'f');
      try {
        await rt().delete(id, { force });
      } catch (e) {
        // runc: `delete --force` of a container that does not exist is not an error.
        if (force && e instanceof BerthError && e.code === 'NotFound') return 0;
        throw e;
      }
      return 0;
    }
    case 'exec': {
      const p = parse(argv, 1);
      const id = needId(p, cmd);
      const r = rt();
      let proc: OciProcess;
      const file = flag(p, 'process', 'p');
      if (file !== undefined) {
        proc = parseProcess(JSON.parse(readFileSync(file, 'utf8')), file);
      } else {
        const st = await r.state(id);
        const cfg = parseConfig(JSON.parse(readFileSync(join(st.bundle, 'config.json'), 'utf8')));
        const base = cfg.process ?? defaultSpec().process;
        if (base === undefined || p.args.length < 2) throw invalidArgument('exec needs a command: berth-runtime exec <id> <command> [args...] or --process <file>');
        const env = [...(base.env ?? []), ...(p.flags.get('env') ?? []), ...(p.flags.get('e') ?? [])];
        const userFlag = flag(p, 'user', 'u');
        let user = base.user;
        if (userFlag !== undefined) {
          const [u = '', g] = userFlag.split(':');
          if (!/^\d+$/.test(u) || (g !== undefined && !/^\d+$/.test(g))) throw invalidArgument(`exec --user "${userFlag}": give uid[:gid] as numbers`);
          user = { uid: Number(u), gid: g === undefined ? Number(u) : Number(g) };
        }
        const extraCaps = [...(p.flags.get('cap') ?? []), ...(p.flags.get('c') ?? [])];
        const caps = base.capabilities;
        const withCaps = (set: readonly string[] | undefined) => [...new Set([...(set ?? []), ...extraCaps])];
        const capabilities = extraCaps.length === 0 || caps === undefined ? caps : {
          bounding: withCaps(caps.bounding), effective: withCaps(caps.effective), permitted: withCaps(caps.permitted),
          ...(caps.inheritable ? { inheritable: caps.inheritable } : {}), ...(caps.ambient ? { ambient: caps.ambient } : {}),
        };
        proc = {
          ...base, args: p.args.slice(1), env, terminal: bool(p, 'tty', 't'), cwd: flag(p, 'cwd') ?? base.cwd, user,
          ...(capabilities ? { capabilities } : {}), ...(bool(p, 'no-new-privs') ? { noNewPrivileges: true } : {}),
        };
      }
      const result = await r.exec(id, proc, {
        stdio: 'inherit', detach: bool(p, 'detach', 'd'),
        ...(flag(p, 'pid-file') !== undefined ? { pidFile: resolve(flag(p, 'pid-file') ?? '') } : {}),
        ...(flag(p, 'console-socket') !== undefined ? { consoleSocket: resolve(flag(p, 'console-socket') ?? '') } : {}),
      });
      return result.exitCode;
    }
    case 'ps': {
      const p = parse(argv);
      const pids = await rt().ps(needId(p, cmd));
      if ((flag(p, 'format', 'f') ?? 'table') === 'json') process.stdout.write(`${JSON.stringify(pids)}\n`);
      else process.stdout.write(`PID\n${pids.map((x) => `${x}\n`).join('')}`);
      return 0;
    }
    case 'list':
    case 'ls': {
      const p = parse(argv);
      const all = await rt().list();
      if ((flag(p, 'format', 'f') ?? 'table') === 'json') {
        process.stdout.write(`${JSON.stringify(all.map((s) => ({ ociVersion: s.ociVersion, id: s.id, pid: s.pid, status: s.status, bundle: s.bundle, rootfs: s.rootfs, created: s.created, owner: s.owner })))}\n`);
      } else if (bool(p, 'quiet', 'q')) {
        process.stdout.write(all.map((s) => `${s.id}\n`).join(''));
      } else {
        const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...all.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner || 'root'])];
        const w = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
        process.stdout.write(rows.map((r) => r.map((v, c) => v.padEnd((w[c] ?? 0) + 3)).join('').trimEnd()).join('\n') + '\n');
      }
      return 0;
    }
    case 'spec': {
      const p = parse(argv);
      const target = join(resolve(flag(p, 'bundle', 'b') ?? '.'), 'config.json');
      if (existsSync(target)) throw invalidArgument(`file ${target} exists: remove it first`);
      writeFileSync(target, `${JSON.stringify(defaultSpec(), null, 2)}\n`);
      return 0;
    }
    case 'features':
      process.stdout.write(`${JSON.stringify(features(), null, 2)}\n`);
      return 0;
    case 'pause':
      await rt().pause(needId(parse(argv), cmd));
      return 0;
    case 'resume':
      await rt().resume(needId(parse(argv), cmd));
      return 0;
    case 'update': {
      // containerd: `update --resources=- <id>` with LinuxResources JSON on stdin (or a file).
      const p = parse(argv);
      const from = flag(p, 'resources', 'r');
      if (from === undefined) throw invalidArgument('update needs --resources <file> (or - for stdin) with linux.resources JSON');
      const text = readFileSync(from === '-' ? 0 : from, 'utf8');
      for (const w of await rt().update(needId(p, cmd), JSON.parse(text) as LinuxResources)) process.stderr.write(`time="${new Date().toISOString()}" level=warning msg="${w}"\n`);
      return 0;
    }
    case 'checkpoint':
    case 'restore':
    case 'events':
      throw new BerthError('NotImplemented', `berth-runtime does not implement "${cmd}" yet`);
    default:
      throw invalidArgument(`unknown command "${cmd}": run berth-runtime --help`);
  }
}
