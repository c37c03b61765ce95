/**
 * `berth ps` (and `container ls`): its flags and its output, from a list of reconciled
 * containers. Shared by the containers command group and the fast entry (../fast-ps.ts), so the
 * two cannot differ; kept free of the engine, for that entry's sake.
 */
import type { Command } from 'commander';
import { invalidArgument } from '@berth/errors';
import type { Container } from '../../containers/record.js';
import { collect } from '../program.js';

/** The flags of `ps`, as commander gives them. */
export interface PsFlags {
  readonly all?: boolean;
  readonly quiet?: boolean;
  readonly last?: string;
  readonly latest?: boolean;
  readonly trunc?: boolean;
  readonly filter?: string[];
  readonly format?: string;
}


/** Declares `ps`'s description and flags on `c`; the caller adds the action. */
export function psCommand(c: Command): Command {
  return c
    .description('list containers')
    .option('-a, --all', 'show all containers (default: only running)')
    .option('-q, --quiet', 'only IDs')
    .option('-n, --last <n>', 'the n last created containers')
    .option('-l, --latest', 'the latest created container')
    .option('--no-trunc', 'do not truncate output')
    .option('-f, --filter <k=v>', 'filter: status, name, id, label, ancestor, exited (repeatable)', collect)
    .option('--format <template>', "'json' or a template like '{{.ID}} {{.Names}}'");
}

/** Docker's HumanDuration (go-units): "3 seconds", "About a minute", "2 hours", "3 days". */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** The STATUS column of `ps`. */
export function statusText(c: Container, now = Date.now()): string {
  const s = c.state;
  switch (s.status) {
    case 'created': return 'Created';
    case 'running': return `Up ${humanDuration(now - Date.parse(s.startedAt))}`;
    case 'paused': return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Paused)`;
    case 'starting': return 'Starting';
    case 'stopping': return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Stopping)`;
    case 'removing': return 'Removal In Progress';
    case 'exited': return `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt || c.created))} ago${s.oomKilled ? ' (OOM killed)' : ''}`;
  }
}

/** Docker's name of a status (`inspect`'s State.Status, ps's State and `status=` filter). */
export function dockerStatus(c: Container): string {
  return c.state.status === 'starting' ? 'created' : c.state.status === 'stopping' ? 'running' : c.state.status === 'removing' ? 'removing' : c.state.status;
}

function commandText(c: Container): string {
  return [c.config.path, ...c.config.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

function filterMatch(c: Container, filters: readonly string[]): boolean {
  return filters.every((f) => {
    const i = f.indexOf('=');
    const [k, v] = i < 0 ? [f, ''] : [f.slice(0, i), f.slice(i + 1)];
    switch (k) {
      case 'status': return dockerStatus(c) === v;
      case 'name': return c.name.includes(v.replace(/^\//, ''));
      case 'id': return c.id.startsWith(v);
      case 'ancestor': return c.image === v || c.image === `${v}:latest` || c.imageId === v || c.imageId.replace(/^sha256:/, '').startsWith(v);
      case 'label': {
        const labels = { ...(c.config.image.Labels ?? {}), ...c.config.options.labels };
        const j = v.indexOf('=');
        return j < 0 ? v in labels : labels[v.slice(0, j)] === v.slice(j + 1);
      }
      case 'exited': return c.state.status === 'exited' && String(c.state.exitCode) === v;
      default: throw invalidArgument(`invalid filter "${k}": use status, name, id, label, ancestor or exited`);
    }
  });
}

function formatTemplate(tpl: string, row: Record<string, string>): string {
  return tpl.replace(/\\t/g, '\t').replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, k: string) => row[k] ?? '').replace(/^table\s+/, '');
}

/** Rows as Docker's aligned columns, with a header line. */
export function table(rows: readonly Record<string, string>[], cols: readonly [string, string][]): string {
  const widths = cols.map(([k, h]) => Math.max(h.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd() + '\n';
  return line(cols.map(([, h]) => h)) + rows.map((r) => line(cols.map(([k]) => r[k] ?? ''))).join('');
}

/**
 * What `ps` prints for `all`, every container newest first and reconciled (no stale
 * "running"); throws an InvalidArgument error for a filter it does not know.
 */
export function psText(all: readonly Container[], o: PsFlags, now = Date.now()): string {
  let list = all;
  const limit = o.latest ? 1 : o.last === undefined ? undefined : Number(o.last);
  if (!o.all && limit === undefined && !(o.filter ?? []).some((f) => f.startsWith('status='))) {
    list = list.filter((c) => c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'stopping');
  }
  list = list.filter((c) => filterMatch(c, o.filter ?? []));
  if (limit !== undefined) list = list.slice(0, limit);
  const trunc = o.trunc !== false;
  if (o.quiet) return list.map((c) => `${trunc ? c.id.slice(0, 12) : c.id}\n`).join('');
  const rows = list.map((c) => {
    const command = commandText(c);
    return {
      ID: trunc ? c.id.slice(0, 12) : c.id,
      Image: c.image,
      Command: trunc && command.length > 20 ? `"${command.slice(0, 19)}…"` : `"${command}"`,
      CreatedAt: c.created,
      RunningFor: `${humanDuration(now - Date.parse(c.created))} ago`,
      Status: statusText(c, now),
      State: dockerStatus(c),
      Ports: '',
      Names: c.name,
      Labels: Object.entries(c.config.options.labels).map(([k, v]) => `${k}=${v}`).join(','),
    };
  });
  if (o.format === 'json') return rows.map((r) => JSON.stringify(r) + '\n').join('');
  if (o.format !== undefined) return rows.map((r) => formatTemplate(o.format ?? '', r) + '\n').join('');
  return table(rows, [['ID', 'CONTAINER ID'], ['Image', 'IMAGE'], ['Command', 'COMMAND'], ['RunningFor', 'CREATED'], ['Status', 'STATUS'], ['Ports', 'PORTS'], ['Names', 'NAMES']]);
}
