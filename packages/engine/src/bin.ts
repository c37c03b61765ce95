// Entry point of the bundled `berth` binary (dist/berth.cjs).
import { main } from './cli/main.js';

// A reader that went away (`berth logs c | head -1`) is not an error of berth's: stop quietly,
// as a program killed by SIGPIPE would (Node ignores SIGPIPE, so the write fails with EPIPE).
process.on('uncaughtException', (e: unknown) => {
  if ((e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  process.stderr.write(`berth: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(125);
});

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (e: unknown) => { process.stderr.write(`berth: internal error: ${String(e)}\n`); process.exitCode = 125; },
);
