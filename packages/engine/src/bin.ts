// Entry point of the bundled `berth` binary (dist/berth.cjs).
import { main } from './cli/main.js';

// A reader that went away (`berth logs c | head -1`) is not an error of berth's: stop quietly,
// as a program killed by SIGPIPE would (Node ignores SIGPIPE, so the write fails with EPIPE).
process.on('uncaughtException', (e: unknown) => {
  if ((e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  process.stderr.write(`berth: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(125);
});

// Exit once the command is done, rather than let Node tear its environment down (run every
// cleanup hook, join its threads): ~4 ms of a `berth run --rm`. Nothing is lost: writes to
// stdout and stderr are synchronous on Linux for files, pipes and terminals, every database
// change is committed by the time main resolves, and the loader writes its code cache from the
// 'exit' event, which process.exit emits.
main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (e: unknown) => { process.stderr.write(`berth: internal error: ${String(e)}\n`); process.exitCode = 125; },
);
