/**
 * `berth diff`, `berth commit`, `berth export`: what a
 * container changed, as Docker's A/C/D list, as a new image, or its whole file system as a tar.
 *
 * commit = the container image's layers + one new layer (the snapshotter's diff tar, stored
 * uncompressed: its blob digest is its diffID) + a config that is the image's with the container's
 * command, env, user, workdir and labels as run, `--change` applied, and one more history entry.
 */
import { closeSync, constants, createReadStream, createWriteStream, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { pack as tarPack, type Pack } from 'tar-stream';
import { conflict, invalidArgument, isBerthError, notFound } from '@berth/errors';
import { LinuxSys } from '@berth/native';
import { createSnapshotter, type Snapshotter } from '@berth/overlay';
import { Store, applyChanges, prepareLayers, type Digest } from '@berth/layer-store';
import type { Context } from '../context.js';
import { openEngine } from '../../containers/wiring.js';
import type { Container, ContainerEngine } from '../../containers/engine.js';
import { collect } from '../program.js';

type Header = Parameters<Pack['entry']>[0];

// Media types of what commit writes (as @berth/oci-spec names them).
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';


function snapshotter(ctx: Context): Promise<Snapshotter> {
  return createSnapshotter({ root: ctx.root, sys: new LinuxSys() });
}

/** `berth diff`: one `K /path` line per change, sorted by path (the snapshotter's order). */
async function diff(ctx: Context, ref: string): Promise<void> {
  const engine = openEngine(ctx);
  const c = engine.get(ref);
  const changes = await (await snapshotter(ctx)).changes(c.id);
  process.stdout.write(changes.map((ch) => `${ch.kind} ${ch.path}\n`).join(''));
}

/** The container's run config as Docker's commit records it: Entrypoint/Cmd/Env/User/WorkingDir/Labels as run. */
export function runConfig(c: Container): Record<string, unknown> {
  const { image, options } = c.config;
  let entrypoint: readonly string[] | null = image.Entrypoint ?? null;
  let cmd: readonly string[] | null = image.Cmd ?? null;
  if (options.entrypoint !== undefined) {
    entrypoint = options.entrypoint === '' ? null : [options.entrypoint];
    cmd = null;
  }
  if (options.command.length > 0) cmd = options.command;
  // The spec adds HOSTNAME, HOME (and TERM with -t) to the process env; unless the image or -e
  // set them, they are not part of the config (Docker adds them when a container starts).
  const given = new Set([...(image.Env ?? []), ...options.env].map((e) => e.split('=')[0]));
  const added = new Set(['HOSTNAME', 'HOME', ...(options.tty ? ['TERM'] : [])]);
  const env = c.config.env.filter((e) => {
    const k = e.split('=')[0] ?? '';
    return given.has(k) || !added.has(k);
  });
  const labels = { ...(image.Labels ?? {}), ...options.labels };
  return {
    ...image,
    Env: env,
    Entrypoint: entrypoint,
    Cmd: cmd,
    User: c.config.user,
    WorkingDir: c.config.workdir === '/' && !image.WorkingDir ? '' : c.config.workdir,
    ...(Object.keys(labels).length === 0 ? {} : { Labels: labels }),
  };
}

interface CommitOptions {
  readonly message?: string;
  readonly author?: string;
  readonly change?: readonly string[];
  readonly pause?: boolean | string;
}

/** Pauses a running container for the duration of `fn` (Docker's `commit -p`, the default). */
async function paused<T>(engine: ContainerEngine, c: Container, pause: boolean, fn: () => Promise<T>): Promise<T> {
  if (!pause || c.state.status !== 'running') return fn();
  await engine.pause(c.id, true);
  try {
    return await fn();
  } finally {
    await engine.pause(c.id, false);
  }
}

/** `berth commit`: the container's changes as a new image; returns its ID. */
export async function commit(ctx: Context, ref: string, repo: string | undefined, o: CommitOptions): Promise<Digest> {
  const engine = openEngine(ctx);
  const c = engine.get(ref);
  if (c.state.status === 'removing') throw conflict(`container ${c.name} is being removed: nothing to commit`);
  const changes = o.change ?? [];
  const config = applyChanges(runConfig(c) as Parameters<typeof applyChanges>[0], changes); // bad --change fails before any work
  const snap = await snapshotter(ctx);
  const store = Store.open(ctx.root, { sys: new LinuxSys() });
  try {
    const imageId = c.imageId as Digest;
    const gone = (e: unknown): never => {
      if (isBerthError(e, 'NotFound')) throw notFound(`image ${imageId.slice(7, 19)} of container ${c.name} is no longer in the store: it cannot be committed`, { cause: e });
      throw e;
    };
    let parent: ReturnType<Store['images']['config']>;
    let parentRec: ReturnType<Store['images']['get']>;
    try {
      parent = store.images.config(imageId);
      parentRec = store.images.get(imageId);
    } catch (e) { return gone(e); }
    const pause = o.pause !== false && o.pause !== 'false';
    return await store.images.withLease(async (hold) => {
      const layer = await paused(engine, c, pause, () => store.blobs.ingest(snap.diffTar(c.id)));
      hold(layer.digest);
      const now = new Date().toISOString();
      const cmdLine = [c.config.path, ...c.config.args].filter((a) => a !== '').join(' ');
      const imageConfig = {
        ...parent,
        created: now,
        ...(o.author === undefined ? {} : { author: o.author }),
        config,
        rootfs: { type: 'layers', diff_ids: [...parent.rootfs.diff_ids, layer.digest] },
        history: [
          ...(parent.history ?? []),
          {
            created: now,
            ...(o.author === undefined ? {} : { author: o.author }),
            created_by: cmdLine,
            ...(o.message === undefined ? {} : { comment: o.message }),
          },
        ],
      };
      const cfg = await store.blobs.write(JSON.stringify(imageConfig));
      hold(cfg.digest);
      const inLayers = [
        ...parentRec.layers.map((l) => ({ blob: l.blob, mediaType: l.mediaType, blobSize: l.blobSize, diffSize: l.diffSize })),
        { blob: layer.digest, mediaType: OCI_LAYER, blobSize: layer.size },
      ];
      const layers = await prepareLayers(store, cfg.digest, inLayers, hold);
      const manifest = await store.blobs.write(JSON.stringify({
        schemaVersion: 2, mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: cfg.digest, size: cfg.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.blob, size: l.blobSize })),
      }));
      hold(manifest.digest);
      const img = store.images.add({
        config: cfg.digest, layers,
        manifests: [{ digest: manifest.digest, mediaType: OCI_MANIFEST, size: manifest.size }],
        ...(repo === undefined ? {} : { tags: [repo] }),
      });
      engine.event('commit', c, { comment: o.message ?? '' });
      return img.id;
    });
  } finally {
    store.close();
  }
}

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/**
 * Writes the tree under `dir` to `pack`, names relative to the top (`bin/`, `etc/passwd`), as
 * `docker export` does. Each directory is held open and its children reached through
 * `/proc/self/fd/<fd>/<name>`, files opened O_NOFOLLOW: a running container swapping a directory
 * for a symlink to the host is never followed. Hard links after the first are tar links.
 */
async function packTree(pack: Pack, dir: string): Promise<void> {
  const links = new Map<string, string>();
  const entry = (h: Header, body?: NodeJS.ReadableStream): Promise<void> => new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) pipeline(body, pack.entry(h, done)).catch(reject);
    else pack.entry(h, Buffer.alloc(0), done);
  });
  const header = (name: string, st: Stats): Header => ({
    name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime,
  });
  const walk = async (dirFd: number, prefix: string): Promise<void> => {
    const base = `/proc/self/fd/${dirFd}`;
    for (const n of readdirSync(base).sort()) {
      const p = `${base}/${n}`;
      const name = `${prefix}${n}`;
      let st: Stats;
      try { st = lstatSync(p); } catch { continue; } // gone meanwhile
      const h = header(name, st);
      if (st.isDirectory()) {
        let fd: number;
        try { fd = openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW); } catch { continue; }
        try {
          await entry({ ...h, type: 'directory' });
          await walk(fd, `${name}/`);
        } finally { closeSync(fd); }
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) { await entry({ ...h, type: 'link', linkname: first }); continue; }
        let fd: number;
        try { fd = openSync(p, O_RDONLY | O_NOFOLLOW); } catch { continue; }
        const now = fstatSync(fd);
        if (now.ino !== st.ino || !now.isFile()) { closeSync(fd); continue; }
        if (st.nlink > 1) links.set(key, name);
        if (now.size === 0) { closeSync(fd); await entry({ ...h, type: 'file', size: 0 }); continue; }
        // At most the size stated in the header, even if the file grows meanwhile.
        await entry({ ...h, type: 'file', size: now.size }, createReadStream('', { fd, start: 0, end: now.size - 1 }));
      } else if (st.isSymbolicLink()) {
        await entry({ ...h, type: 'symlink', linkname: readlinkSync(p) });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await entry({ ...h, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: (st.rdev >>> 8) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >>> 12) & 0xfff00) });
      } else if (st.isFIFO()) {
        await entry({ ...h, type: 'fifo' });
      } // sockets are not archived (as tar does)
    }
  };
  const top = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try { await walk(top, ''); } finally { closeSync(top); }
}

/** `berth export`: the container's merged file system as a tar on `out`. */
async function exportTo(ctx: Context, ref: string, out: Writable): Promise<void> {
  const engine = openEngine(ctx);
  const c = engine.get(ref);
  const mounted = c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'created';
  if (!mounted) await engine.deps.snapshotter.mount(c.id);
  try {
    const pack = tarPack();
    const done = pipeline(pack, out);
    try {
      await packTree(pack, join(engine.dir(c.id), 'rootfs'));
      pack.finalize();
    } catch (e) {
      pack.destroy(e instanceof Error ? e : new Error(String(e)));
    }
    await done;
  } finally {
    if (!mounted) await engine.release(c.id);
  }
}

async function doExport(ctx: Context, ref: string, o: { output?: string }): Promise<void> {
  if (o.output === undefined || o.output === '-') {
    if (process.stdout.isTTY) throw invalidArgument('refusing to write a tar archive to a terminal: use -o FILE or redirect the output');
    try {
      await exportTo(ctx, ref, process.stdout);
    } catch (e) {
      // A reader that stops early (`berth export c | head`) is not an error, as with tar.
      if ((e as { code?: unknown }).code !== 'EPIPE') throw e;
    }
    return;
  }
  const tmp = `${o.output}.berth-tmp-${process.pid}`;
  try {
    await exportTo(ctx, ref, createWriteStream(tmp));
    renameSync(tmp, o.output);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Registers `diff`, `commit`, `export`. (No `container diff|commit|export` aliases: main.ts loads
 * one module per command name, and `container` belongs to containers.ts.)
 */
export function register(cmd: Command, ctx: () => Context): void {
  const diffCmd = (c: Command) => c
    .argument('<container>')
    .action((ref: string) => diff(ctx(), ref));
  const commitCmd = (c: Command) => c
    .argument('<container>')
    .argument('[repository]', 'REPOSITORY[:TAG] for the new image')
    .option('-m, --message <message>', 'commit message (the history comment)')
    .option('-a, --author <author>', 'author (e.g. "Jane Doe <jane@example.com>")')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL (repeatable)', collect)
    .option('-p, --pause [bool]', 'pause the container while committing (--pause=false to not)', true)
    .action(async (ref: string, repo: string | undefined, o: CommitOptions) => {
      const id = await commit(ctx(), ref, repo, o);
      process.stdout.write(`${id}\n`);
    });
  const exportCmd = (c: Command) => c
    .argument('<container>')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action((ref: string, o: { output?: string }) => doExport(ctx(), ref, o));

  diffCmd(cmd.command('diff').description("list the changes to files in a container's file system"));
  commitCmd(cmd.command('commit').description("create a new image from a container's changes"));
  exportCmd(cmd.command('export').description("export a container's file system as a tar archive"));
}
