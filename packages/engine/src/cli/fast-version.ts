/**
 * The fast entry of `berth version` (dist/berth-fast-version.cjs; see the loader,
 * ../runtime/src/cli/loader.cjs): the version is what one asks of a binary first and most often
 * (scripts, bug reports), and the full bundle costs ~10 ms to load before it prints a line.
 * It handles `berth [--root D] [--state D] version [-f|--format F]` and declines every other
 * form (help, an unknown flag), which the full CLI then runs as ever. Same output as the CLI.
 */
import { commandIndex } from './context.js';
import { printSync } from './output.js';
import { versionText } from './commands/version.js';

/** Prints the version and returns true, or returns false when argv is not a form handled here. */
export function run(argv: readonly string[]): boolean {
  const i = commandIndex(argv);
  if (i < 0 || argv[i] !== 'version') return false;
  const rest = argv.slice(i + 1);
  let format: string | undefined;
  if (rest.length === 2 && (rest[0] === '-f' || rest[0] === '--format')) format = rest[1];
  else if (rest.length === 1 && rest[0]?.startsWith('--format=')) format = rest[0].slice('--format='.length);
  else if (rest.length !== 0) return false;
  printSync(versionText(format));
  return true;
}
