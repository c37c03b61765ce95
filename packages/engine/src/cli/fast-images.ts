/**
 * The fast entry of `berth images` (dist/berth-fast-images.cjs; see the loader,
 * ../runtime/src/cli/loader.cjs): listing images reads berth.db, while the full CLI loads the
 * image command group (archives, import, GC) and the kernel door first. Same program, same flags
 * and the same text as the full CLI (commands/image-list.ts). It declines, and the full CLI runs
 * as ever, for help and any error (a bad flag or filter, an unreadable store).
 */
import { openDatabase } from '@berth/layer-store/db';
import { FileBlobStore, ImageStore } from '@berth/layer-store';
import { commandIndex, type Context } from './context.js';
import { printSync } from './output.js';
import { baseProgram } from './program.js';
import { imagesCommand, imagesText, type ImagesFlags } from './commands/image-list.js';

/** Prints `images`'s output and returns true, or returns false when the full CLI must answer. */
export function run(argv: readonly string[]): boolean {
  const i = commandIndex(argv);
  if (i < 0 || argv[i] !== 'images') return false;
  const { cmd, ctx } = baseProgram();
  // Help and error messages are the full CLI's to print, once it runs.
  cmd.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  let text: string | undefined;
  imagesCommand(cmd.command('images')).action((repo: string | undefined, o: ImagesFlags) => { text = listing(ctx(), repo, o); });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch {
    return false;
  }
  if (text === undefined) return false;
  printSync(text);
  return true;
}

function listing(ctx: Context, repo: string | undefined, o: ImagesFlags): string {
  const db = openDatabase(ctx.root);
  try {
    return imagesText(new ImageStore(db, new FileBlobStore(ctx.root)), repo, o);
  } finally {
    db.close();
  }
}
