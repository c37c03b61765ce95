/**
 * The composition root of the container lifecycle: builds a {@link ContainerEngine} from the
 * CLI context, wiring layer-store (images), overlay (rootfs), an OCI runtime and berth.db.
 * Nothing is opened until `openEngine` is called.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinuxSys } from '@berth/native';
import type { Snapshotter } from '@berth/overlay';
import { cgroupMode, defaultSeccompProfile } from '@berth/runtime';
import type { Context } from '../cli/context.js';
import { openDatabase } from '@berth/layer-store/db';
import { ContainerEngine, type ImageResolver, type RootfsSnapshotter } from './engine.js';
import { containerStore } from './record.js';
import { VolumeStore } from '@berth/volume';
import { OciCliRuntime } from './oci-runtime.js';
import { LibraryRuntime } from './library-runtime.js';
import { capsOfMask, type HostFacts } from './spec.js';
import { parseProcLimits } from './units.js';
import { phase } from './trace.js';

/** The facts about this host the spec builder needs. */
export function hostFacts(): HostFacts {
  let capLast = 40;
  try { capLast = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim()); } catch { /* default */ }
  const bnd = /^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return {
    hardLimits: parseProcLimits(readFileSync('/proc/self/limits', 'utf8')),
    capLast,
    cgroupV2: cgroupMode() === 'v2',
    ...(bnd?.[1] === undefined ? {} : { boundingCaps: capsOfMask(bnd[1]) }),
  };
}

/**
 * The OCI runtime binary: $BERTH_RUNTIME; else berth's own runtime, `berth-runtime.cjs`, shipped
 * beside the running bundle; else runc from the PATH's usual places (when berth runs from sources).
 */
export function runtimeBinary(env: NodeJS.ProcessEnv = process.env, bundleDir: string = dirname(fileURLToPath(import.meta.url))): string {
  const wanted = env['BERTH_RUNTIME'];
  if (wanted !== undefined && wanted !== '') return wanted;
  const ours = join(bundleDir, 'berth-runtime.cjs');
  if (existsSync(ours)) return ours;
  for (const p of ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']) {
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  return 'runc';
}

/** A static init for `--init`: catatonit (podman's) or tini-static, when installed. */
export function findInit(): string | undefined {
  for (const p of ['/usr/bin/catatonit', '/usr/libexec/podman/catatonit', '/usr/bin/tini-static', '/usr/bin/docker-init']) {
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

/** Lazily creates the overlay snapshotter (its driver probe may mount). */
function lazySnapshotter(root: string): RootfsSnapshotter {
  let s: Promise<Snapshotter> | undefined;
  const get = () => (s ??= import('@berth/overlay').then(({ createSnapshotter }) => createSnapshotter({ root, sys: new LinuxSys() })));
  return {
    prepare: async (key, lowerDirs, options) => {
      const snap = await get();
      phase('snapshotter open');
      return snap.prepare(key, lowerDirs, options);
    },
    mount: async (key) => (await get()).mount(key),
    unmount: async (key) => (await get()).unmount(key),
    remove: async (key) => (await get()).remove(key),
  };
}

/**
 * An image resolver whose image and layer stores load at its first use: ps, logs, rm … never
 * resolve an image, and layer-store's modules are several ms of a start.
 */
function lazyImages(load: () => Promise<ImageResolver>): ImageResolver {
  let r: Promise<ImageResolver> | undefined;
  const get = () => (r ??= load());
  return {
    find: async (ref) => (await get()).find(ref),
    pull: async (ref, signal) => {
      const resolver = await get();
      if (resolver.pull === undefined) throw new Error('no registry client is wired');
      return resolver.pull(ref, signal);
    },
  };
}

/** Opens berth.db and wires an engine for the CLI. */
export function openEngine(ctx: Context, images?: ImageResolver): ContainerEngine {
  const db = openDatabase(ctx.root);
  let sys: LinuxSys | undefined;
  const getSys = () => (sys ??= new LinuxSys());
  // Host facts and the init are looked up only by commands that build a spec (not by ps).
  let facts: HostFacts | undefined;
  let volumes: VolumeStore | undefined;
  let init: string | undefined | null = null;
  let seccompFor: { key: string; profile: unknown } | undefined;
  const store = containerStore(db);
  return new ContainerEngine({
    root: ctx.root,
    state: ctx.state,
    store,
    images: images ?? lazyImages(async () => (await import('./images.js')).openImages(ctx.root, db, getSys, async (ref, signal) => {
      // Progress in Docker's words, on stderr so that `run -d` still prints only the ID on
      // stdout; the "Unable to find image" line only once the registry answered (a pull that
      // fails outright is one line: the error).
      // The registry client (undici, TLS) loads only when a pull happens: ps, rm, logs … never need it.
      const [{ pullImage }, { ProgressPrinter, pullPrinter }, { Store }, { setContainerUsers }] = await Promise.all([
        import('@berth/registry'), import('../cli/commands/registry.js'), import('@berth/layer-store'), import('./images.js')]);
      const store = Store.open(ctx.root, { sys: getSys() });
      setContainerUsers(store.images, store.db);
      const print = pullPrinter(new ProgressPrinter(process.stderr));
      let announced = false;
      try {
        await pullImage(store, ref, {
          onProgress: (e) => {
            if (!announced) { announced = true; process.stderr.write(`Unable to find image '${ref}' locally\n`); }
            print(e);
          },
          ...(signal === undefined ? {} : { signal }),
        });
      } finally {
        store.close();
      }
    })),
    snapshotter: lazySnapshotter(ctx.root),
    // berth's own runtime runs in this process; BERTH_RUNTIME names another (runc) to drive by its CLI.
    runtime: process.env['BERTH_RUNTIME'] ? new OciCliRuntime(runtimeBinary(), join(ctx.state, 'runtime')) : new LibraryRuntime(join(ctx.state, 'runtime')),
    get host() { return (facts ??= hostFacts()); },
    // create builds the spec twice (a check before the row exists, then the real one): one profile.
    defaultSeccomp: (caps) => {
      const key = caps.join(',');
      if (seccompFor?.key !== key) seccompFor = { key, profile: defaultSeccompProfile(caps) };
      return seccompFor.profile;
    },
    get initPath() { return init === null ? (init = findInit()) : init; },
    callerEnv: process.env,
    readFile: (p) => readFileSync(p, 'utf8'),
    get volumes() {
      // Marks in volume_mounts are the users; a mark of a container that no longer exists
      // (a crashed create) holds nothing. Containers made before the engine recorded its mounts
      // named their volumes in their config (`name`): those count too.
      return (volumes ??= new VolumeStore(db, ctx.root, {
        containerExists: (id) => store.find(id) !== undefined,
        extraUsers: (n) => store.list().filter((c) => c.config.options.mounts.some((m) => m.type === 'volume' && (m as { name?: unknown }).name === n)).map((c) => c.id),
      }));
    },
  });
}
