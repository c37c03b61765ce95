/**
 * The fast entry of `berth ps` (dist/berth-fast-ps.cjs; see the loader,
 * ../runtime/src/cli/loader.cjs): ps is run often, by people and scripts, and the full bundle
 * (the engine, the runtime, volumes) is ~20 ms of loading that listing rows does not need.
 * It parses argv with the same program and the same `ps` flags (commands/ps.ts) and prints the
 * same text from the same code. It declines, and the full CLI runs as ever, whenever the answer
 * needs more than reading berth.db: help, any error (a bad flag or filter, an unreadable
 * store), or a row whose holder is gone, which the engine's reconcile must settle (kill what is
 * left, mark it exited) before anyone shows it.
 */
import { openDatabase } from '@berth/layer-store/db';
import type { Context } from './context.js';
import { answerFast } from './fast.js';
import { psCommand, psText, type PsFlags } from './commands/ps.js';
import { containerStore, holderGone } from '../containers/record.js';

/** Prints `ps`'s output and returns true, or returns false when the full CLI must answer. */
export function run(argv: readonly string[]): boolean {
  return answerFast(argv, 'ps', (command, ctx, answer) => {
    psCommand(command).action((o: PsFlags) => answer(listing(ctx(), o)));
  });
}

/** ps's text, or undefined when a row is stale (see the file comment). */
function listing(ctx: Context, o: PsFlags): string | undefined {
  const db = openDatabase(ctx.root);
  const list = containerStore(db).list();
  if (!list.some(holderGone)) return psText(list, o);
  db.close(); // the full CLI settles the rows on a connection of its own
  return undefined;
}
