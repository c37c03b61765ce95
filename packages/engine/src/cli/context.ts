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
