/**
 * The `berth` command with its global options and no subcommand: main.ts adds the command
 * groups; a fast entry (fast-ps.ts) adds its one command, so both parse argv alike.
 */
import { Command, Option } from 'commander';
import { defaultRoot, defaultState, type Context } from './context.js';

/** berth's own version, stamped into the bundle by build.mjs (commands/version.ts reads the same stamp). */
declare const BERTH_VERSION: string | undefined;
const version: string = typeof BERTH_VERSION === 'string' ? BERTH_VERSION : '0.0.0-dev';

/** The root command, and `ctx()`: the store and state directories its options name once parsed. */
export function baseProgram(): { readonly cmd: Command; readonly ctx: () => Context } {
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
  return { cmd, ctx };
}

/** commander's accumulator for a repeatable option (`--filter a --filter b` → ['a', 'b']). */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
