import { Command, CommanderError, Option } from 'commander';
import { BerthError, exitStatus, toBerthError } from '@berth/errors';
import { defaultRoot, defaultState, type Context } from './context.js';
import { version } from './commands/version.js';
import * as versionCommand from './commands/version.js';
import * as infoCommand from './commands/info.js';
import * as containersCommand from './commands/containers.js';
import * as imagesCommand from './commands/images.js';
import * as systemCommand from './commands/system.js';
import * as registryCommand from './commands/registry.js';
import * as volumesCommand from './commands/volumes.js';

/**
 * Every command group registers itself here, one module each under commands/:
 * `register(cmd, ctx)` adds its subcommands to the program. Keep actions thin: parse the
 * options, call one package API, print.
 */
const commandModules: ReadonlyArray<{ register(cmd: Command, ctx: () => Context): void }> = [
  versionCommand,
  infoCommand,
  containersCommand,
  imagesCommand,
  systemCommand,
  registryCommand,
  volumesCommand,
];

/** Builds the `berth` command tree. Exported for tests that parse without running. */
export function program(): Command {
  const cmd = new Command('berth')
    .description('berth: run containers, like docker, without a daemon')
    .version(version, '-v, --version', 'print the version and exit')
    .addOption(new Option('--root <dir>', 'persistent store (images, layers, containers)').env('BERTH_ROOT').default(defaultRoot))
    .addOption(new Option('--state <dir>', 'runtime state (sockets, pid files, locks)').env('BERTH_STATE').default(defaultState))
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander's errors become one berth line, printed by main().
      writeErr: (s) => { if (!s.startsWith('error:')) process.stderr.write(s); },
    });

  const ctx = (): Context => {
    const o = cmd.opts<{ root: string; state: string }>();
    return { root: o.root, state: o.state };
  };
  for (const m of commandModules) m.register(cmd, ctx);
  return cmd;
}

/** Runs the CLI and returns the process exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const cmd = program();
  try {
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
