/**
 * `berth volume create|ls|inspect|rm|prune`, with Docker's output. Each action opens the
 * volume store on `$root/berth.db`, calls one `@berth/volume` API and prints.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { BerthError, exitStatus, invalidArgument, toBerthError } from '@berth/errors';
import { VolumeStore, type VolumeFilter } from '@berth/volume';
import type { Context } from '../context.js';
import { humanSize } from './image-list.js';
import { collect } from '../program.js';


/**
 * Containers that name a volume in their stored config (`options.mounts[]` of type volume; an
 * unnamed one is the container's own, `<id12>`). Containers created before the engine records
 * its mounts through `prepareMounts` are found this way, so in-use protection holds for them too.
 */
function configUsers(store: VolumeStore): (name: string) => string[] {
  let index: Map<string, string[]> | undefined;
  return (name) => {
    if (index === undefined) {
      index = new Map();
      const has = store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'containers'").get();
      const rows = has === undefined ? [] : (store.db.prepare('SELECT id, config FROM containers').all() as { id: string; config: string }[]);
      for (const r of rows) {
        let config: unknown;
        try { config = JSON.parse(r.config); } catch { continue; }
        const options: unknown = typeof config === 'object' && config !== null ? (config as { options?: unknown }).options : undefined;
        const mounts: unknown = typeof options === 'object' && options !== null ? (options as { mounts?: unknown }).mounts : undefined;
        if (!Array.isArray(mounts)) continue;
        for (const m of mounts as unknown[]) {
          if (typeof m !== 'object' || m === null) continue;
          // The engine's own requests name the volume `name` ('' = the container's own); @berth/volume's use `source`.
          const { type, name: n, source } = m as { type?: unknown; name?: unknown; source?: unknown };
          if (type !== 'volume') continue;
          const vol = typeof n === 'string' ? (n === '' ? r.id.slice(0, 12) : n) : typeof source === 'string' ? source : undefined;
          if (vol === undefined) continue;
          index.set(vol, [...(index.get(vol) ?? []), r.id]);
        }
      }
    }
    return index.get(name) ?? [];
  };
}

/** Opens the volume store of this root, with the engine's containers as users (and the judges of stale marks). */
export function openVolumes(ctx: Context): VolumeStore {
  let users: ((name: string) => string[]) | undefined;
  let ids: Set<string> | undefined;
  const containerIds = (): Set<string> => {
    const has = store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'containers'").get();
    return new Set(has === undefined ? [] : (store.db.prepare('SELECT id FROM containers').all() as { id: string }[]).map((r) => r.id));
  };
  const store: VolumeStore = VolumeStore.open(ctx.root, {
    extraUsers: (n) => (users ??= configUsers(store))(n),
    containerExists: (id) => (ids ??= containerIds()).has(id),
  });
  return store;
}

function keyValues(flag: string, items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i === 0) throw invalidArgument(`invalid ${flag} "${item}": use key=value`);
    if (i < 0) out[item] = '';
    else out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** `--filter dangling=true|false`, `name=`, `label=k[=v]`, `driver=` into a VolumeFilter. */
export function parseVolumeFilters(items: readonly string[]): VolumeFilter {
  let dangling: boolean | undefined;
  const name: string[] = [];
  const label: string[] = [];
  const driver: string[] = [];
  for (const item of items) {
    const i = item.indexOf('=');
    const key = i < 0 ? item : item.slice(0, i);
    const v = i < 0 ? '' : item.slice(i + 1);
    switch (key) {
      case 'dangling':
        if (!['true', 'false', '1', '0'].includes(v)) throw invalidArgument(`invalid filter "${item}": dangling takes true or false`);
        dangling = v === 'true' || v === '1';
        break;
      case 'name': name.push(v); break;
      case 'label': label.push(v); break;
      case 'driver': driver.push(v); break;
      default: throw invalidArgument(`invalid filter "${key}": use dangling, name, label or driver`);
    }
  }
  return {
    ...(dangling === undefined ? {} : { dangling }),
    ...(name.length === 0 ? {} : { name }),
    ...(label.length === 0 ? {} : { label }),
    ...(driver.length === 0 ? {} : { driver }),
  };
}

/** Docker's tabwriter (min width 10, padding 3). */
function table(rows: readonly string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(10, ...rows.map((r) => (r[c] ?? '').length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('') + '\n').join('');
}

/** The small Go-template subset of `--format`: `{{.Name}}`, `{{.Labels.app}}`, `{{json .Labels}}`, `\t`, `\n`. */
export function formatVolume(tpl: string, v: unknown): string {
  return tpl.replace(/^table\s+/, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n').replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let cur: unknown = v;
    for (const k of path.split('.').filter(Boolean)) cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
    if (json) return JSON.stringify(cur ?? null);
    if (typeof cur === 'object' && cur !== null) return `map[${Object.entries(cur).map(([k, x]) => `${k}:${String(x)}`).join(' ')}]`;
    return cur === undefined || cur === null ? '<no value>' : String(cur);
  });
}

function withStore<T>(ctx: () => Context, fn: (s: VolumeStore) => T): T {
  const s = openVolumes(ctx());
  try { return fn(s); } finally { s.close(); }
}

/** Reports per-name failures on stderr and sets the exit status of the first, as Docker's multi-name commands do. */
function eachName(names: readonly string[], fn: (name: string) => void): void {
  let first: BerthError | undefined;
  for (const n of names) {
    try { fn(n); } catch (e) {
      const err = toBerthError(e);
      first ??= err;
      process.stderr.write(`berth: ${err.message}\n`);
    }
  }
  if (first !== undefined) process.exitCode = exitStatus(first);
}

/** Registers `volume create|ls|inspect|rm|prune`. */
export function register(cmd: Command, ctx: () => Context): void {
  const volume = cmd.command('volume').description('manage volumes');

  volume.command('create').description('create a volume').argument('[name]', 'volume name (random when absent)')
    .option('-d, --driver <driver>', 'volume driver', 'local')
    .option('-l, --label <k=v>', 'set a label (repeatable)', collect)
    .option('-o, --opt <k=v>', 'driver option: type=, device=, o= (repeatable)', collect)
    .action((name: string | undefined, o: { driver: string; label?: string[]; opt?: string[] }) => {
      const v = withStore(ctx, (s) => s.create({
        ...(name === undefined ? {} : { name }),
        driver: o.driver,
        labels: keyValues('--label', o.label ?? []),
        options: keyValues('--opt', o.opt ?? []),
      }));
      process.stdout.write(`${v.name}\n`);
    });

  volume.command('ls').alias('list').description('list volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('-f, --filter <k=v>', 'filter: dangling=true|false, name=, label=k[=v], driver= (repeatable)', collect)
    .option('--format <format>', "'json' for one JSON object per line, or a template like '{{.Name}}'")
    .action((o: { quiet?: boolean; filter?: string[]; format?: string }) => {
      const filter = parseVolumeFilters(o.filter ?? []);
      const vols = withStore(ctx, (s) => s.list(filter));
      if (o.quiet) { for (const v of vols) process.stdout.write(`${v.name}\n`); return; }
      if (o.format === 'json') {
        for (const v of vols) {
          const labels = Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(',');
          process.stdout.write(JSON.stringify({ Driver: v.driver, Labels: labels, Links: 'N/A', Mountpoint: v.mountpoint, Name: v.name, Scope: 'local', Size: 'N/A' }) + '\n');
        }
        return;
      }
      if (o.format !== undefined) {
        for (const v of vols) {
          const labels = Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(',');
          process.stdout.write(formatVolume(o.format, { Driver: v.driver, Labels: labels, Mountpoint: v.mountpoint, Name: v.name, Scope: 'local' }) + '\n');
        }
        return;
      }
      process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...vols.map((v) => [v.driver, v.name])]));
    });

  volume.command('inspect').description('show volumes in detail (JSON)').argument('<name...>')
    .option('-f, --format <format>', "a template like '{{.Mountpoint}}' or '{{json .Labels}}' (JSON when absent)")
    .action((names: string[], o: { format?: string }) => {
      const out: unknown[] = [];
      withStore(ctx, (s) => eachName(names, (n) => { out.push(s.inspect(n)); }));
      const format = o.format;
      if (format === undefined || format === 'json') process.stdout.write(JSON.stringify(out, null, 4) + '\n');
      else for (const v of out) process.stdout.write(formatVolume(format, v) + '\n');
    });

  volume.command('rm').alias('remove').description('remove volumes (not while a container uses them)').argument('<name...>')
    .option('-f, --force', 'no error for volumes that do not exist')
    .action((names: string[], o: { force?: boolean }) => {
      withStore(ctx, (s) => eachName(names, (n) => {
        if (s.remove(n, { force: o.force === true })) process.stdout.write(`${n}\n`);
      }));
    });

  volume.command('prune').description('remove unused anonymous volumes (all unused ones with --all)')
    .option('-a, --all', 'remove unused named volumes too')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <k=v>', 'only volumes matching: label=k[=v] (repeatable)', collect)
    .action(async (o: { all?: boolean; force?: boolean; filter?: string[] }) => {
      const filter = parseVolumeFilters(o.filter ?? []);
      if (!o.force) {
        const what = o.all ? 'all local volumes' : 'anonymous local volumes';
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return;
      }
      const r = withStore(ctx, (s) => s.prune({ all: o.all === true, filter }));
      if (r.removed.length > 0) process.stdout.write(`Deleted Volumes:\n${r.removed.map((n) => `${n}\n`).join('')}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
    });
}
