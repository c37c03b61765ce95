/**
 * What every fast entry (fast-ps.ts, fast-inspect.ts, fast-images.ts; see the loader,
 * ../../../runtime/src/cli/loader.cjs) does around its own answer: it parses argv with the same
 * program and the same command definition as the full CLI, prints nothing for help or errors
 * (the full CLI prints those once it runs), and prints the answer only when it has one.
 */
import type { Command } from 'commander';
import { commandIndex, type Context } from './context.js';
import { printSync } from './output.js';
import { baseProgram } from './program.js';

/**
 * Answers `berth <name> …` when `define` (which adds the command's flags and action to the
 * command it is given) calls `answer` with text; returns false, having printed nothing, when argv
 * is another command, does not parse, or the action answered undefined.
 */
export function answerFast(
  argv: readonly string[], name: string,
  define: (command: Command, ctx: () => Context, answer: (text: string | undefined) => void) => void,
): boolean {
  const i = commandIndex(argv);
  if (i < 0 || argv[i] !== name) return false;
  const { cmd, ctx } = baseProgram();
  cmd.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  let text: string | undefined;
  define(cmd.command(name), ctx, (t) => { text = t; });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch {
    return false;
  }
  if (text === undefined) return false;
  printSync(text);
  return true;
}
