/**
 * The fast entry of `berth inspect` (dist/berth-fast-inspect.cjs; see the loader,
 * ../runtime/src/cli/loader.cjs): scripts ask it for one field at a time (`inspect -f
 * '{{.State.Pid}}' c`), and the full bundle is ~20 ms of loading that reading a row does not
 * need. Same program, same flags and the same JSON as the full CLI (commands/inspect.ts). It
 * declines, and the full CLI runs as ever, for help, any error (a bad flag, an unknown or
 * ambiguous reference: the full CLI reports each), and a container whose holder is gone, which
 * the engine's reconcile must settle first (see fast-ps.ts).
 */
import { openDatabase } from '@berth/layer-store/db';
import { VolumeStore } from '@berth/volume';
import type { Context } from './context.js';
import { answerFast } from './fast.js';
import { inspectCommand, inspectJson, inspectText, type InspectFlags } from './commands/inspect.js';
import { containerStore, holderGone, type Container } from '../containers/record.js';

/** Prints `inspect`'s output and returns true, or returns false when the full CLI must answer. */
export function run(argv: readonly string[]): boolean {
  return answerFast(argv, 'inspect', (command, ctx, answer) => {
    inspectCommand(command).action((refs: string[], o: InspectFlags) => answer(inspected(ctx(), refs, o)));
  });
}

/** inspect's text, or undefined when a reference is not found or names a stale row. */
function inspected(ctx: Context, refs: readonly string[], o: InspectFlags): string | undefined {
  const db = openDatabase(ctx.root);
  const store = containerStore(db);
  const found: Container[] = [];
  for (const ref of refs) {
    const c = store.find(ref);
    if (c === undefined || holderGone(c)) {
      db.close(); // the full CLI reports, or settles the row, on a connection of its own
      return undefined;
    }
    found.push(c);
  }
  const view = { root: ctx.root, volumes: new VolumeStore(db, ctx.root) };
  return inspectText(found.map((c) => inspectJson(view, c)), o);
}
