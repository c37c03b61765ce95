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
  Store, collectGarbage, familiar, imageHistory, importTarball, inspectImage, loadArchive, loadMessages, loadOciDir,
  parseName, pruneImages, saveArchive, saveOciDir, type ImageRecord, type SaveFormat,
} from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import type { Context } from '../context.js';
import { ContainerStore } from '../../containers/store.js';
import { humanDuration } from './ps.js';

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

/** Docker's HumanSizeWithPrecision(size, 3): decimal units, `4.26MB`, `1.2kB`, `0B`. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

function table(rows: readonly Record<string, string>[], cols: readonly [string, string][]): string {
  const widths = cols.map(([k, h]) => Math.max(h.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd() + '\n';
  return line(cols.map(([, h]) => h)) + rows.map((r) => line(cols.map(([k]) => r[k] ?? ''))).join('');
}

function template(tpl: string, row: Record<string, string>): string {
  return tpl.replace(/^table\s+/, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n').replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, k: string) => row[k] ?? '');
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Glob match of Docker's `reference=` filter (path.Match: `*` does not cross `/`). */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
  return re.test(s);
}

interface ImageRow extends Record<string, string> {
  Repository: string; Tag: string; Digest: string; ID: string; CreatedSince: string; CreatedAt: string; Size: string;
}

function since(created: string | undefined, now: number): string {
  const t = created === undefined ? NaN : Date.parse(created);
  return Number.isNaN(t) ? 'N/A' : `${humanDuration(now - t)} ago`;
}

/** The rows of `berth images`: one per tag, `<none>` for an untagged image. */
export function imageRows(images: readonly ImageRecord[], options: {
  readonly trunc?: boolean; readonly filters?: readonly string[]; readonly repo?: string; readonly now?: number;
  /** For `before=`/`since=` filters: the image a reference names. */
  readonly resolve?: (ref: string) => ImageRecord;
  /** For `label=` filters: an image's config labels. */
  readonly labels?: (img: ImageRecord) => Readonly<Record<string, string>>;
}): ImageRow[] {
  const now = options.now ?? Date.now();
  const rows: ImageRow[] = [];
  const filters = options.filters ?? [];
  for (const f of filters) {
    if (!/^(reference|dangling|before|since|label)=/.test(f)) {
      throw invalidArgument(`invalid filter "${f}": use reference=<pattern>, dangling=true|false, before=<image>, since=<image> or label=<key>[=<value>]`);
    }
  }
  const createdOf = (img: ImageRecord): number => Date.parse(img.created ?? '') || 0;
  const bounds = filters.filter((f) => /^(before|since)=/.test(f)).map((f) => {
    const [k, ref] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
    if (!options.resolve) throw invalidArgument(`filter "${f}" needs the image store`);
    const t = createdOf(options.resolve(ref));
    return (img: ImageRecord) => (k === 'before' ? createdOf(img) < t : createdOf(img) > t);
  });
  const labelTests = filters.filter((f) => f.startsWith('label=')).map((f) => {
    const spec = f.slice(6);
    const eq = spec.indexOf('=');
    return (img: ImageRecord) => {
      const l = options.labels?.(img) ?? {};
      return eq < 0 ? spec in l : l[spec.slice(0, eq)] === spec.slice(eq + 1);
    };
  });
  const wantName = options.repo === undefined ? undefined : parseName(options.repo);
  const sorted = [...images].sort((a, b) => (Date.parse(b.created ?? '') || 0) - (Date.parse(a.created ?? '') || 0));
  for (const img of sorted) {
    const dangling = img.tags.length === 0;
    if (!bounds.every((b) => b(img)) || !labelTests.every((t) => t(img))) continue;
    const want = filters.filter((f) => f.startsWith('dangling=')).map((f) => f.slice(9));
    if (want.includes('true') && !dangling) continue;
    if (want.includes('false') && dangling) continue;
    const id = options.trunc === false ? img.id : img.id.slice(7, 19);
    const digestOf = (repo: string) => img.repoDigests.find((d) => d.startsWith(`${repo}@`))?.split('@')[1] ?? '<none>';
    const base = { ID: id, CreatedSince: since(img.created, now), CreatedAt: img.created ?? '', Size: humanSize(img.size) };
    const names = img.tags.length > 0 ? img.tags.map((t) => parseName(t)) : [];
    const refs = filters.filter((f) => f.startsWith('reference=')).map((f) => f.slice(10));
    if (names.length === 0) {
      if (refs.length > 0 || options.repo !== undefined) continue;
      rows.push({ Repository: '<none>', Tag: '<none>', Digest: '<none>', ...base });
      continue;
    }
    for (const n of names) {
      const repo = familiar(n.repo);
      const tag = n.tag ?? '<none>';
      if (refs.length > 0 && !refs.some((p) => globMatch(p, repo) || globMatch(p, `${repo}:${tag}`))) continue;
      if (wantName !== undefined && (wantName.repo !== n.repo || (wantName.tag !== undefined && wantName.tag !== tag))) continue;
      rows.push({ Repository: repo, Tag: tag, Digest: digestOf(n.repo), ...base });
    }
  }
  return rows;
}

function listImages(ctx: Context, repo: string | undefined, o: { quiet?: boolean; digests?: boolean; trunc?: boolean; filter?: string[]; format?: string; all?: boolean }): void {
  const store = openStore(ctx);
  try {
    const rows = imageRows(store.images.list(), {
      trunc: o.trunc !== false, filters: o.filter ?? [], ...(repo === undefined ? {} : { repo }),
      resolve: (ref) => store.images.resolve(ref),
      labels: (img) => { const l = store.images.config(img.id).config?.Labels; return l ?? {}; },
    });
    if (o.quiet) {
      const seen = new Set<string>();
      for (const r of rows) if (!seen.has(r.ID)) { seen.add(r.ID); process.stdout.write(`${r.ID}\n`); }
      return;
    }
    if (o.format === 'json') { for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n'); return; }
    if (o.format !== undefined) {
      if (o.format.startsWith('table')) {
        const cols = [...o.format.matchAll(/\{\{\s*\.(\w+)\s*\}\}/g)].map((m) => [m[1] ?? '', headerOf(m[1] ?? '')] as [string, string]);
        process.stdout.write(table(rows, cols));
      } else for (const r of rows) process.stdout.write(template(o.format, r) + '\n');
      return;
    }
    const cols: [string, string][] = [['Repository', 'REPOSITORY'], ['Tag', 'TAG'], ...(o.digests ? [['Digest', 'DIGEST'] as [string, string]] : []),
      ['ID', 'IMAGE ID'], ['CreatedSince', 'CREATED'], ['Size', 'SIZE']];
    process.stdout.write(table(rows, cols));
  } finally {
    store.close();
  }
}

function headerOf(k: string): string {
  return ({ ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT' } as Record<string, string>)[k] ?? k.toUpperCase();
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
    if (o.prune !== false) collectGarbage(store);
  } finally {
    store.close();
  }
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

function prune(ctx: Context, o: { all?: boolean }): void {
  const store = openStore(ctx);
  try {
    const r = pruneImages(store, { all: o.all === true });
    const lines = r.removed.flatMap((x) => [...x.untagged.map((u) => `untagged: ${u}`), ...x.deleted.map((d) => `deleted: ${d}`)]);
    if (lines.length > 0) process.stdout.write(`Deleted Images:\n${lines.join('\n')}\n\n`);
    process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
  } finally {
    store.close();
  }
}

/** Registers the image commands. */
export function register(cmd: Command, ctx: () => Context): void {
  const ls = (c: Command) => c
    .argument('[repository]', 'only images of this repository[:tag]')
    .option('-a, --all', 'show all images (intermediate ones too)')
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'do not truncate output')
    .option('-f, --filter <filter>', 'reference=<pattern>, dangling=true|false, before=<image>, since=<image>, label=<k>[=<v>] (repeatable)', collect)
    .option('--format <format>', "'json' or a template like '{{.Repository}}:{{.Tag}}'")
    .action((repo: string | undefined, o: { quiet?: boolean; digests?: boolean; trunc?: boolean; filter?: string[]; format?: string }) => listImages(ctx(), repo, o));
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
