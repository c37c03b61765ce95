/** What every command knows: where berth keeps its store and its runtime state. */
export interface Context {
  /** Persistent store: images, layers, containers, volumes (podman's --root). */
  readonly root: string;
  /** Runtime state: shim sockets, pid files, locks (podman's --runroot). */
  readonly state: string;
}

/** The defaults, overridden by `--root`/`--state` or `BERTH_ROOT`/`BERTH_STATE`. */
export const defaultRoot = '/var/lib/berth';
export const defaultState = '/run/berth';

/** The global options that take a value: skipped when looking for the command name. */
const globalValued = new Set(['--root', '--state']);

/**
 * Where the command stands in argv: the first argument after the global `--root`/`--state`
 * options, or -1 when there is none or another option comes first. (Kept free of commander, for
 * the fast entries too.)
 */
export function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (globalValued.has(a)) { i++; continue; }
    if (a.startsWith('--root=') || a.startsWith('--state=')) continue;
    return a.startsWith('-') ? -1 : i;
  }
  return -1;
}
