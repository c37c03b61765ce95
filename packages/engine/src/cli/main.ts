import { CommanderError, type Command } from 'commander';
import { BerthError, exitStatus, toBerthError } from '@berth/errors';
import { commandIndex, type Context } from './context.js';
import { baseProgram } from './program.js';

/**
 * What a module under commands/ exports: `register(cmd, ctx, only)` adds its subcommands to the
 * program; `only`, when given, names the one command that runs (a module may skip the others).
 */
interface CommandModule {
  register(cmd: Command, ctx: () => Context, only?: string): void;
}

/**
 * Every command group registers itself here, one module each under commands/, with the names of
 * the top-level commands it registers. Keep actions thin: parse the options, call one package
 * API, print.
 *
 * Start-up speed: a module is loaded only when its command runs (`berth version` must not pay
 * for the container engine, SQLite or the registry client). main() reads the command name from
 * argv and loads just the module that lists it; with no command, `--help`, an option it does not
 * know before the command, or a name no entry lists (a module that gained a command the table
 * does not name yet), every module is loaded, so commander sees the whole tree and behaves as
 * before. main.test.ts checks that `names` matches what each module registers.
 */
export const commandModules: ReadonlyArray<{ readonly names: readonly string[]; load(): Promise<CommandModule> }> = [
  { names: ['version'], load: () => import('./commands/version.js') },
  { names: ['info'], load: () => import('./commands/info.js') },
  {
    names: ['create', 'run', 'start', 'stop', 'restart', 'kill', 'pause', 'unpause', 'rm', 'wait', 'rename', 'ps',
      'inspect', 'logs', 'attach', 'exec', 'cp', 'top', 'port', 'stats', 'events', 'container'],
    load: () => import('./commands/containers.js'),
  },
  { names: ['images', 'rmi', 'load', 'save', 'import', 'tag', 'history', 'image'], load: () => import('./commands/images.js') },
  { names: ['system'], load: () => import('./commands/system.js') },
  { names: ['pull', 'push', 'login', 'logout', 'manifest'], load: () => import('./commands/registry.js') },
  { names: ['volume'], load: () => import('./commands/volumes.js') },
  { names: ['diff', 'commit', 'export'], load: () => import('./commands/changes.js') },
];

/**
 * The command argv names, if main() can tell it without commander: the first argument after the
 * global `--root`/`--state` options. Undefined when there is none or another option comes first.
 */
export function commandName(argv: readonly string[]): string | undefined {
  const i = commandIndex(argv);
  return i < 0 ? undefined : argv[i];
}

/**
 * Builds the `berth` command tree: with `argv`, only the command group argv runs (see
 * commandModules); without it, every group. Exported for tests that parse without running.
 */
export async function program(argv?: readonly string[]): Promise<Command> {
  const { cmd, ctx } = baseProgram();
  const name = argv === undefined ? undefined : commandName(argv);
  const one = name === undefined ? undefined : commandModules.find((m) => m.names.includes(name));
  // (BERTH_TRACE: where a short command's start goes; tools/bench/run prints the phases.)
  const { phase } = await import('../containers/trace.js');
  phase('node start, bundle load, cli setup');
  const modules = await Promise.all((one === undefined ? commandModules : [one]).map((m) => m.load()));
  phase('command group load');
  for (const m of modules) m.register(cmd, ctx, one === undefined ? undefined : name);
  phase('register');
  return cmd;
}

/** Runs the CLI and returns the process exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const cmd = await program(argv);
    await cmd.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      const text = e.message.replace(/^error: /, '').split('\n')[0] ?? e.message;
      process.stderr.write(`berth: ${text} (see 'berth --help')\n`);
      return 125;
    }
    const err: BerthError = toBerthError(e);
    process.stderr.write(`berth: ${err.message}\n`);
    return exitStatus(err);
  }
}
