// Entry of the bundled `berth-runtime` binary.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`berth-runtime: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
