// Entry of the bundled `berth-runtime` binary.
import { main } from './main.js';

// Exit as soon as the command is done, rather than let Node tear its environment down (join the
// thread pool, run cleanup hooks: a few ms of every `run`, which is measured against runc).
// Nothing is lost: on Linux, writes to stdout and stderr are synchronous for files, pipes and
// terminals, the --log lines are appended synchronously, and the loader's code cache is written
// from the 'exit' event, which process.exit still emits. A released shim runs on by itself.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth-runtime: ${String(e)}\n`);
    process.exit(1);
  },
);
