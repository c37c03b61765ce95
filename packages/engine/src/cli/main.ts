import { Command, CommanderError, Option } from 'commander';
import { BerthError, exitStatus, toBerthError } from '@berth/errors';
import { defaultRoot, defaultState, type Context } from './context.js';
import { version, versionInfo } from './version.js';
import { info } from './info.js';

/** Print `key: value` rows aligned, Docker style. */
function printRows(rows: Record<string, string | number>, indent = ''): void {
  const width = Math.max(...Object.keys(rows).map((k) => k.length)) + 1;
  for (const [k, v] of Object.entries(rows)) process.stdout.write(`${indent}${`${k}:`.padEnd(width)} ${v}\n`);
}

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

  cmd.command('version')
    .description('show the versions of berth, Node, the kernel and the cgroup mode')
    .option('-f, --format <format>', "'json' for JSON output")
    .action((o: { format?: string }) => {
      const v = versionInfo();
      if (o.format === 'json') process.stdout.write(JSON.stringify(v) + '\n');
      else { process.stdout.write('berth:\n'); printRows(v, ' '); }
    });

  cmd.command('info')
    .description('show where berth keeps its data and how it runs containers')
    .option('-f, --format <format>', "'json' for JSON output")
    .action((o: { format?: string }) => {
      const i = info(ctx());
      if (o.format === 'json') process.stdout.write(JSON.stringify(i) + '\n');
      else printRows(i);
    });

  return cmd;
}

/** Runs the CLI and returns the process exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const cmd = program();
  try {
    await cmd.parseAsync(argv, { from: 'user' });
    return 0;
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
