/**
 * The fast entry of `berth images` (dist/berth-fast-images.cjs; see the loader,
 * ../runtime/src/cli/loader.cjs): listing images reads berth.db, while the full CLI loads the
 * image command group (archives, import, GC) and the kernel door first. Same program, same flags
 * and the same text as the full CLI (commands/image-list.ts). It declines, and the full CLI runs
 * as ever, for help and any error (a bad flag or filter, an unreadable store).
 */
import { openDatabase } from '@berth/layer-store/db';
import { FileBlobStore, ImageStore } from '@berth/layer-store';
import type { Context } from './context.js';
import { answerFast } from './fast.js';
import { imagesCommand, imagesText, type ImagesFlags } from './commands/image-list.js';

/** Prints `images`'s output and returns true, or returns false when the full CLI must answer. */
export function run(argv: readonly string[]): boolean {
  return answerFast(argv, 'images', (command, ctx, answer) => {
    imagesCommand(command).action((repo: string | undefined, o: ImagesFlags) => answer(listing(ctx(), repo, o)));
  });
}

function listing(ctx: Context, repo: string | undefined, o: ImagesFlags): string {
  const db = openDatabase(ctx.root);
  try {
    return imagesText(new ImageStore(db, new FileBlobStore(ctx.root)), repo, o);
  } finally {
    db.close();
  }
}
