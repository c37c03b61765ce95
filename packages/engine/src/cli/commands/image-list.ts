/**
 * `berth images` (and `image ls`): its flags, its rows and the text printed, from an image store.
 * Shared by the images command group and the fast entry (../fast-images.ts).
 */
import type { Command } from 'commander';
import { invalidArgument } from '@berth/errors';
import { familiar, parseName, type ImageRecord, type ImageStore } from '@berth/layer-store';
import { humanDuration, table } from './ps.js';
import { collect } from '../program.js';

/** The flags of `images`, as commander gives them. */
export interface ImagesFlags {
  readonly all?: boolean;
  readonly quiet?: boolean;
  readonly digests?: boolean;
  readonly trunc?: boolean;
  readonly filter?: string[];
  readonly format?: string;
}


/** Declares `images`'s argument and flags on `c`; the caller adds the description and action. */
export function imagesCommand(c: Command): Command {
  return c
    .argument('[repository]', 'only images of this repository[:tag]')
    .option('-a, --all', 'show all images (intermediate ones too)')
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'do not truncate output')
    .option('-f, --filter <filter>', 'reference=<pattern>, dangling=true|false, before=<image>, since=<image>, label=<k>[=<v>] (repeatable)', collect)
    .option('--format <format>', "'json' or a template like '{{.Repository}}:{{.Tag}}'");
}

/** Docker's HumanSizeWithPrecision(size, 3): decimal units, `4.26MB`, `1.2kB`, `0B`. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** Fills a Go-like template (`{{.Field}}`, with \t and \n escapes) from a row. */
export function template(tpl: string, row: Record<string, string>): string {
  return tpl.replace(/^table\s+/, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n').replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, k: string) => row[k] ?? '');
}

/** Glob match of Docker's `reference=` filter (path.Match: `*` does not cross `/`). */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
  return re.test(s);
}

interface ImageRow extends Record<string, string> {
  Repository: string; Tag: string; Digest: string; ID: string; CreatedSince: string; CreatedAt: string; Size: string;
}

/** `3 days ago` for a creation time, `N/A` when there is none. */
export function since(created: string | undefined, now: number): string {
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

function headerOf(k: string): string {
  return ({ ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT' } as Record<string, string>)[k] ?? k.toUpperCase();
}

/** What `images` prints for the images of a store. */
export function imagesText(images: ImageStore, repo: string | undefined, o: ImagesFlags): string {
  const rows = imageRows(images.list(), {
    trunc: o.trunc !== false, filters: o.filter ?? [], ...(repo === undefined ? {} : { repo }),
    resolve: (ref) => images.resolve(ref),
    labels: (img) => { const l = images.config(img.id).config?.Labels; return l ?? {}; },
  });
  if (o.quiet) {
    const seen = new Set<string>();
    let out = '';
    for (const r of rows) if (!seen.has(r.ID)) { seen.add(r.ID); out += `${r.ID}\n`; }
    return out;
  }
  if (o.format === 'json') return rows.map((r) => JSON.stringify(r) + '\n').join('');
  if (o.format !== undefined) {
    if (o.format.startsWith('table')) {
      const cols = [...o.format.matchAll(/\{\{\s*\.(\w+)\s*\}\}/g)].map((m) => [m[1] ?? '', headerOf(m[1] ?? '')] as [string, string]);
      return table(rows, cols);
    }
    const format = o.format;
    return rows.map((r) => template(format, r) + '\n').join('');
  }
  const cols: [string, string][] = [['Repository', 'REPOSITORY'], ['Tag', 'TAG'], ...(o.digests ? [['Digest', 'DIGEST'] as [string, string]] : []),
    ['ID', 'IMAGE ID'], ['CreatedSince', 'CREATED'], ['Size', 'SIZE']];
  return table(rows, cols);
}
