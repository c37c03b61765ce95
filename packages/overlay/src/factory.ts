/**
 * Choosing the storage driver. `auto` uses overlayfs when a tiny overlay mount inside `$root`
 * works (the kernel may lack overlayfs; `$root` may itself be on a filesystem overlay cannot use
 * as upper, e.g. overlayfs), else the copy fallback. The verdict is cached in memory and in
 * `$root/overlay/probe.json` (re-probed when the kernel release changes, or when the file lacks
 * a field a newer berth probes for), so `berth info` and later runs need no mount. Reading the
 * cached verdict is one small synchronous read: it is on every `berth run`'s path.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UmountFlags } from '@berth/native';
import { invalidArgument, isBerthError, toBerthError } from '@berth/errors';
import type { Driver, Snapshotter, SnapshotterSys } from './types.js';
import { OverlaySnapshotter } from './overlay.js';
import { CopySnapshotter } from './vfs.js';
import { writeFileAtomic } from './layout.js';
import { performMounts } from './mounts.js';

/** The outcome of the overlay support probe. */
export interface DriverVerdict {
  readonly driver: Driver;
  /** Why: `overlay mount works` or the failure (`mount overlay on …: no such device`). */
  readonly reason: string;
  /** The kernel release it was probed on. */
  readonly kernel: string;
  /** Extra overlay options the kernel accepted. */
  readonly mountOptions: readonly string[];
  /** The kernel accepts overlay's `volatile` option (Linux >= 5.10). */
  readonly volatile: boolean;
}

/** Options of {@link createSnapshotter}. */
export interface CreateSnapshotterOptions {
  readonly root: string;
  readonly sys: SnapshotterSys;
  /** Default `auto`: overlay when the probe succeeds, else vfs. */
  readonly driver?: Driver | 'auto';
}

/** Overlay features that keep data or renames outside the upper dir; diffs need them off. */
const wantedOptions = ['index=off', 'redirect_dir=off', 'metacopy=off'] as const;

const verdicts = new Map<string, Promise<DriverVerdict>>();

const probeFile = (root: string): string => join(root, 'overlay', 'probe.json');

/** The cached verdict for `root`, without probing (for `berth info`); undefined when never probed. */
export async function readDriverVerdict(root: string): Promise<DriverVerdict | undefined> {
  return readVerdictFile(root)?.verdict;
}

/**
 * The verdict in `probe.json`, and whether it has every field this version probes for (a file
 * written before `volatile` was probed reads as not supporting it, and is `stale`).
 */
function readVerdictFile(root: string): { readonly verdict: DriverVerdict; readonly stale: boolean } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(probeFile(root), 'utf8')) as unknown;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const mo = o['mountOptions'];
  const vol = o['volatile'];
  if ((o['driver'] !== 'overlay' && o['driver'] !== 'vfs') || typeof o['reason'] !== 'string' ||
      typeof o['kernel'] !== 'string' || !Array.isArray(mo) || !mo.every((s) => typeof s === 'string') ||
      (vol !== undefined && typeof vol !== 'boolean')) return undefined;
  return {
    verdict: { driver: o['driver'], reason: o['reason'], kernel: o['kernel'], mountOptions: mo as string[], volatile: vol === true },
    stale: vol === undefined,
  };
}

/**
 * Probes (once per root and kernel) whether overlay mounts work in `root`, and which options.
 * `refresh` ignores the cached verdicts.
 */
export function detectDriver(root: string, sys: SnapshotterSys, options: { readonly refresh?: boolean } = {}): Promise<DriverVerdict> {
  let p = options.refresh ? undefined : verdicts.get(root);
  if (p === undefined) {
    p = (async () => {
      const cached = options.refresh ? undefined : readVerdictFile(root);
      if (cached !== undefined && !cached.stale && cached.verdict.kernel === release()) return cached.verdict;
      const v = probe(root, sys);
      mkdirSync(join(root, 'overlay'), { recursive: true, mode: 0o700 });
      writeFileAtomic(probeFile(root), JSON.stringify(v, null, 2) + '\n');
      return v;
    })();
    verdicts.set(root, p);
    p.catch(() => verdicts.delete(root));
  }
  return p;
}

function probe(root: string, sys: SnapshotterSys): DriverVerdict {
  const dir = join(root, 'overlay', `probe-${randomBytes(4).toString('hex')}`);
  const kernel = release();
  const d = (n: string): string => join(dir, n);
  const unmount = (): void => {
    try { sys.umount2(d('merged'), 0); } catch { sys.umount2(d('merged'), UmountFlags.DETACH); }
  };
  try {
    for (const n of ['lower1', 'lower2', 'upper', 'work', 'merged', 'vupper', 'vwork']) mkdirSync(d(n), { recursive: true });
    writeFileSync(join(d('lower2'), 'probe'), 'berth\n');
    const lower = `lowerdir=${d('lower1')}:${d('lower2')}`;
    const base = [lower, `upperdir=${d('upper')}`, `workdir=${d('work')}`];
    let lastError: unknown;
    for (const extra of [wantedOptions, [] as const]) {
      try {
        performMounts(sys, [{ type: 'overlay', source: 'overlay', target: d('merged'), options: [...base, ...extra] }]);
      } catch (e) {
        lastError = e;
        if (isBerthError(e) && e.errno === 'EINVAL' && extra.length > 0) continue;
        break;
      }
      try {
        let text = '';
        try { text = readFileSync(join(d('merged'), 'probe'), 'utf8'); } catch { /* hidden: judged below */ }
        if (text !== 'berth\n') return { driver: 'vfs', reason: 'overlay mount hides its lower dirs', kernel, mountOptions: [], volatile: false };
      } finally {
        unmount();
      }
      // A fresh upper and work dir: a volatile mount marks its work dir (see overlay.ts).
      let volatile = true;
      try {
        performMounts(sys, [{ type: 'overlay', source: 'overlay', target: d('merged'), options: [lower, `upperdir=${d('vupper')}`, `workdir=${d('vwork')}`, ...extra, 'volatile'] }]);
        unmount();
      } catch {
        volatile = false; // EINVAL before Linux 5.10; any other failure: not worth the risk either
      }
      return { driver: 'overlay', reason: 'overlay mount works', kernel, mountOptions: [...extra], volatile };
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    return { driver: 'vfs', reason, kernel, mountOptions: [], volatile: false };
  } catch (e) {
    throw toBerthError(e, `probe overlay support in ${root}`);
  } finally {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort, as the verdict is what matters */ }
  }
}

/**
 * The snapshotter for `root`: the driver asked for, or with `auto` the one the probe picks.
 * Building one has no side effect except the probe's (a mount and unmount in `$root/overlay`).
 */
export async function createSnapshotter(options: CreateSnapshotterOptions): Promise<Snapshotter> {
  const { root, sys } = options;
  const driver = options.driver ?? 'auto';
  switch (driver) {
    case 'vfs':
      return new CopySnapshotter({ root, sys });
    case 'overlay': {
      const cached = readVerdictFile(root)?.verdict;
      return cached?.driver === 'overlay'
        ? new OverlaySnapshotter({ root, sys, mountOptions: cached.mountOptions, volatileSupported: cached.volatile })
        : new OverlaySnapshotter({ root, sys });
    }
    case 'auto': {
      const v = await detectDriver(root, sys);
      return v.driver === 'overlay'
        ? new OverlaySnapshotter({ root, sys, mountOptions: v.mountOptions, volatileSupported: v.volatile })
        : new CopySnapshotter({ root, sys });
    }
    default:
      throw invalidArgument(`unknown storage driver "${String(driver)}": use overlay, vfs or auto`);
  }
}
