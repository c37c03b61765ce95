// Entry point of the bundled `berth` binary (dist/berth.cjs).
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (e: unknown) => { process.stderr.write(`berth: internal error: ${String(e)}\n`); process.exitCode = 125; },
);
