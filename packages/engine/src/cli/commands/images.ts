/**
 * Image commands, Docker's words and columns: `images`, `tag`, `rmi`, `load`, `save`,
 * `import`, and the `image` group (`ls`, `inspect`, `history`, `prune`, `rm`, `tag`, `load`,
 * `save`, `import`). Each action opens the store, calls one @berth/layer-store API, prints.
 */
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { exitStatus, invalidArgument, toBerthError } from '@berth/errors';
import {
  Store, collectGarbage, imageHistory, importTarball, inspectImage, loadArchive, loadMessages, loadOciDir,
  pruneImages, saveArchive, saveOciDir, type ImageRecord, type SaveFormat,
} from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import type { Context } from '../context.js';
import { ContainerStore } from '../../containers/store.js';
import { table } from './ps.js';
import { humanSize, imagesCommand, imagesText, since, template, type ImagesFlags } from './image-list.js';
import { collect } from '../program.js';

/** Opens the store of a context, with the kernel door for unpacking and the containers as image users. */
export function openStore(ctx: Context): Store {
  const store = Store.open(ctx.root, { sys: new LinuxSys() });
  const containers = new ContainerStore(store.db, (j) => j);
  store.images.setUsers({
    containersUsing: (id) => containers.list().filter((c) => c.imageId === id).map((c) => c.id.slice(0, 12)),
    imagesInUse: () => containers.list().map((c) => c.imageId as ImageRecord['id']),
  });
  return store;
}


async function eachRef(refs: readonly string[], fn: (ref: string) => Promise<void> | void): Promise<void> {
  let failed: unknown;
  for (const ref of refs) {
    try { await fn(ref); } catch (e) {
      failed = e;
      process.stderr.write(`berth: ${toBerthError(e).message}\n`);
    }
  }
  if (failed !== undefined) process.exitCode = exitStatus(toBerthError(failed));
}

async function removeImages(ctx: Context, refs: string[], o: { force?: boolean; prune?: boolean }): Promise<void> {
  if (refs.length === 0) throw invalidArgument('"rmi" requires at least 1 argument: berth rmi IMAGE [IMAGE...]');
  const store = openStore(ctx);
  try {
    await eachRef(refs, (ref) => {
      const r = store.images.remove(ref, { force: o.force === true });
      for (const u of r.untagged) process.stdout.write(`Untagged: ${u}\n`);
      for (const d of r.deleted) process.stdout.write(`Deleted: ${d}\n`);
    });
    if (o.prune !== false) {
      collectGarbage(store);
      await pruneInitLayersOf(ctx);
    }
  } finally {
    store.close();
  }
}

/**
 * Once images are gone: the init layers their containers shared (see @berth/overlay's init.ts).
 * (@berth/overlay loads here: other image commands never need it.)
 */
async function pruneInitLayersOf(ctx: Context): Promise<void> {
  const { pruneInitLayers } = await import('@berth/overlay');
  pruneInitLayers(ctx.root);
}

async function load(ctx: Context, o: { input?: string; quiet?: boolean }): Promise<void> {
  const store = openStore(ctx);
  try {
    let r;
    if (o.input !== undefined && existsSync(o.input) && statSync(o.input).isDirectory()) r = await loadOciDir(store, o.input);
    else if (o.input !== undefined) {
      if (!existsSync(o.input)) throw invalidArgument(`open ${o.input}: no such file or directory`);
      r = await loadArchive(store, createReadStream(o.input));
    } else {
      if (process.stdin.isTTY) throw invalidArgument('requested load from stdin, but stdin is empty: use -i FILE or pipe an archive in');
      r = await loadArchive(store, process.stdin);
    }
    if (!o.quiet) for (const line of loadMessages(r)) process.stdout.write(`${line}\n`);
  } finally {
    store.close();
  }
}

async function save(ctx: Context, refs: string[], o: { output?: string; format?: string }): Promise<void> {
  if (refs.length === 0) throw invalidArgument('"save" requires at least 1 argument: berth save [-o FILE] IMAGE [IMAGE...]');
  const format = (o.format ?? 'docker-archive') as SaveFormat | 'oci-dir';
  const store = openStore(ctx);
  try {
    if (format === 'oci-dir') {
      if (o.output === undefined) throw invalidArgument('--format oci-dir needs -o DIR');
      await saveOciDir(store, refs, o.output);
      return;
    }
    if (o.output === undefined) {
      if (process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
      try {
        await saveArchive(store, refs, process.stdout, format);
      } catch (e) {
        // The reader went away (`berth save x | head`): not an engine error.
        if (toBerthError(e).errno === 'EPIPE') return;
        throw e;
      }
      return;
    }
    const tmp = join(dirname(o.output), `.${basename(o.output)}.tmp-${process.pid}`);
    try {
      await saveArchive(store, refs, createWriteStream(tmp), format);
      renameSync(tmp, o.output);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  } finally {
    store.close();
  }
}

async function doImport(ctx: Context, file: string, repo: string | undefined, o: { change?: string[]; message?: string }): Promise<void> {
  const store = openStore(ctx);
  try {
    const source = file === '-' ? process.stdin : createReadStream(file);
    if (file !== '-' && !existsSync(file)) throw invalidArgument(`open ${file}: no such file or directory`);
    const id = await importTarball(store, source, {
      ...(repo === undefined ? {} : { tag: repo }), changes: o.change ?? [], source: file === '-' ? '-' : file,
      ...(o.message === undefined ? {} : { message: o.message }),
    });
    process.stdout.write(`${id}\n`);
  } finally {
    store.close();
  }
}

function tag(ctx: Context, source: string, target: string): void {
  const store = openStore(ctx);
  try { store.images.tag(source, target); } finally { store.close(); }
}

function history(ctx: Context, ref: string, o: { human?: boolean; quiet?: boolean; trunc?: boolean; format?: string }): void {
  const store = openStore(ctx);
  try {
    const now = Date.now();
    const trunc = o.trunc !== false;
    const rows = imageHistory(store, ref).map((h) => ({
      ID: h.id === '<missing>' ? h.id : trunc ? h.id.slice(7, 19) : h.id,
      CreatedSince: o.human === false ? (h.created ?? '') : since(h.created, now),
      CreatedAt: h.created ?? '',
      CreatedBy: trunc && h.createdBy.length > 45 ? `${h.createdBy.slice(0, 44)}…` : h.createdBy,
      Size: o.human === false ? String(h.size) : humanSize(h.size),
      Comment: h.comment,
    }));
    if (o.quiet) { for (const r of rows) process.stdout.write(`${r.ID}\n`); return; }
    if (o.format === 'json') { for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n'); return; }
    if (o.format !== undefined) { for (const r of rows) process.stdout.write(template(o.format, r) + '\n'); return; }
    process.stdout.write(table(rows, [['ID', 'IMAGE'], ['CreatedSince', 'CREATED'], ['CreatedBy', 'CREATED BY'], ['Size', 'SIZE'], ['Comment', 'COMMENT']]));
  } finally {
    store.close();
  }
}

async function inspect(ctx: Context, refs: string[], o: { format?: string }): Promise<void> {
  const store = openStore(ctx);
  try {
    const out: unknown[] = [];
    await eachRef(refs, (ref) => { out.push(inspectImage(store, ref)); });
    if (o.format !== undefined) {
      for (const i of out) process.stdout.write(formatPath(o.format, i) + '\n');
    } else process.stdout.write(JSON.stringify(out, null, 4) + '\n');
  } finally {
    store.close();
  }
}

/** A small Go-template subset for inspect: `{{.Id}}`, `{{.Config.Cmd}}`, `{{json .RootFS}}`. */
function formatPath(tpl: string, v: unknown): string {
  return tpl.replace(/\\n/g, '\n').replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let cur: unknown = v;
    for (const k of path.split('.').filter(Boolean)) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
    if (json) return JSON.stringify(cur ?? null);
    if (Array.isArray(cur)) return `[${cur.join(' ')}]`;
    if (typeof cur === 'object' && cur !== null) return `map[${Object.entries(cur).map(([k, x]) => `${k}:${String(x)}`).join(' ')}]`;
    return cur === undefined || cur === null ? '<no value>' : String(cur);
  });
}

async function prune(ctx: Context, o: { all?: boolean }): Promise<void> {
  const store = openStore(ctx);
  try {
    const r = pruneImages(store, { all: o.all === true });
    await pruneInitLayersOf(ctx);
    const lines = r.removed.flatMap((x) => [...x.untagged.map((u) => `untagged: ${u}`), ...x.deleted.map((d) => `deleted: ${d}`)]);
    if (lines.length > 0) process.stdout.write(`Deleted Images:\n${lines.join('\n')}\n\n`);
    process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
  } finally {
    store.close();
  }
}

/** Registers the image commands. */
export function register(cmd: Command, ctx: () => Context): void {
  const ls = (c: Command) => imagesCommand(c).action((repo: string | undefined, o: ImagesFlags) => {
    const store = openStore(ctx());
    try {
      process.stdout.write(imagesText(store.images, repo, o));
    } finally {
      store.close();
    }
  });
  const rm = (c: Command) => c
    .argument('[image...]')
    .option('-f, --force', 'remove even when tagged in several repositories or used by a container')
    .option('--no-prune', 'do not delete untagged parents (blobs and layers stay)')
    .action((refs: string[], o: { force?: boolean; prune?: boolean }) => removeImages(ctx(), refs, o));
  const loadCmd = (c: Command) => c
    .option('-i, --input <file>', 'read from a tar archive file (or an OCI layout directory) instead of stdin')
    .option('-q, --quiet', 'suppress the load output')
    .action((o: { input?: string; quiet?: boolean }) => load(ctx(), o));
  const saveCmd = (c: Command) => c
    .argument('[image...]')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addOption(new Option('--format <format>', 'archive format').choices(['docker-archive', 'oci-archive', 'oci-dir']).default('docker-archive'))
    .action((refs: string[], o: { output?: string; format?: string }) => save(ctx(), refs, o));
  const importCmd = (c: Command) => c
    .argument('<file>', 'a root file system tarball, or - for stdin')
    .argument('[repository]', 'name[:tag] for the image')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR (repeatable)', collect)
    .option('-m, --message <message>', 'commit message for the image history')
    .action((file: string, repo: string | undefined, o: { change?: string[]; message?: string }) => doImport(ctx(), file, repo, o));
  const tagCmd = (c: Command) => c
    .argument('<source>', 'SOURCE_IMAGE[:TAG]')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action((s: string, t: string) => tag(ctx(), s, t));
  const historyCmd = (c: Command) => c
    .argument('<image>')
    .option('-H, --human', 'sizes and dates in human-readable form', true)
    .option('--no-human', 'raw sizes and dates')
    .option('-q, --quiet', 'only image IDs')
    .option('--no-trunc', 'do not truncate output')
    .option('--format <format>', "'json' or a template")
    .action((ref: string, o: { human?: boolean; quiet?: boolean; trunc?: boolean; format?: string }) => history(ctx(), ref, o));

  ls(cmd.command('images').description('list images'));
  rm(cmd.command('rmi').description('remove one or more images'));
  loadCmd(cmd.command('load').description('load images from a tar archive or stdin'));
  saveCmd(cmd.command('save').description('save images to a tar archive (stdout by default)'));
  importCmd(cmd.command('import').description('import a root file system tarball as an image'));
  tagCmd(cmd.command('tag').description('create a tag TARGET_IMAGE that refers to SOURCE_IMAGE'));
  historyCmd(cmd.command('history').description('show the history of an image'));

  const image = cmd.command('image').description('manage images');
  ls(image.command('ls').alias('list').description('list images'));
  rm(image.command('rm').alias('remove').description('remove one or more images'));
  loadCmd(image.command('load').description('load images from a tar archive or stdin'));
  saveCmd(image.command('save').description('save images to a tar archive'));
  importCmd(image.command('import').description('import a root file system tarball as an image'));
  tagCmd(image.command('tag').description('create a tag TARGET_IMAGE that refers to SOURCE_IMAGE'));
  historyCmd(image.command('history').description('show the history of an image'));
  image.command('inspect').description('show detailed information on images')
    .argument('<image...>')
    .option('-f, --format <format>', "a template like '{{.Id}}' or '{{json .Config}}'")
    .action((refs: string[], o: { format?: string }) => inspect(ctx(), refs, o));
  image.command('prune').description('remove unused images')
    .option('-a, --all', 'remove all images no container uses, not only dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action((o: { all?: boolean }) => prune(ctx(), o));
}
