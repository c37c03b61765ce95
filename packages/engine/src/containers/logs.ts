/**
 * Container output in Docker's json-file format, one JSON object per line:
 *
 *   {"log":"hi\n","stream":"stdout","time":"2026-01-01T00:00:00.000000000Z"}
 *
 * in `containers/<id>/log.json`, rotated to `log.json.1` … `log.json.<max-file - 1>` when it
 * grows past max-size. Readers read the rotated files oldest first.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';

/** One line of the log. */
export interface LogEntry {
  readonly log: string;
  readonly stream: 'stdout' | 'stderr';
  readonly time: string;
}

/** Appends output to a json-file log, rotating by size. Synchronous: one writer per container. */
export class JsonLogWriter {
  readonly #path: string;
  readonly #maxSize: number;
  readonly #maxFile: number;
  #fd: number;
  #size: number;
  #partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };

  constructor(path: string, options: { readonly maxSize?: number; readonly maxFile?: number } = {}) {
    this.#path = path;
    this.#maxSize = options.maxSize ?? 0;
    this.#maxFile = Math.max(1, options.maxFile ?? 1);
    this.#fd = openSync(path, 'a', 0o640);
    this.#size = statSync(path).size;
  }

  /** Logs a chunk of a stream; each complete line becomes one entry. */
  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    const text = this.#partial[stream] + chunk.toString();
    const lines = text.split(/(?<=\n)/);
    const last = lines[lines.length - 1] ?? '';
    this.#partial[stream] = last.endsWith('\n') ? '' : last;
    for (const line of last.endsWith('\n') ? lines : lines.slice(0, -1)) this.#append(stream, line);
  }

  /** Writes pending partial lines. */
  flush(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#partial[s] !== '') this.#append(s, this.#partial[s]);
      this.#partial[s] = '';
    }
  }

  #append(stream: 'stdout' | 'stderr', log: string): void {
    const line = JSON.stringify({ log, stream, time: new Date().toISOString() }) + '\n';
    if (this.#maxSize > 0 && this.#size + line.length > this.#maxSize && this.#size > 0) this.#rotate();
    this.#size += writeSync(this.#fd, line);
  }

  #rotate(): void {
    closeSync(this.#fd);
    if (this.#maxFile <= 1) rmSync(this.#path, { force: true });
    for (let i = this.#maxFile - 1; i >= 1; i--) {
      const from = i === 1 ? this.#path : `${this.#path}.${i - 1}`;
      if (existsSync(from)) renameSync(from, `${this.#path}.${i}`);
    }
    this.#fd = openSync(this.#path, 'a', 0o640);
    this.#size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.#fd);
  }
}

/** Parses log lines, skipping any that are torn or not ours. */
export function parseLogLines(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const o = JSON.parse(line) as Partial<LogEntry>;
      if (typeof o.log === 'string' && (o.stream === 'stdout' || o.stream === 'stderr') && typeof o.time === 'string') {
        out.push({ log: o.log, stream: o.stream, time: o.time });
      }
    } catch { /* a torn last line */ }
  }
  return out;
}

/** Reads every entry of a log, rotated files first. */
export function readLog(path: string, maxFile = 9): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = maxFile; i >= 0; i--) {
    const p = i === 0 ? path : `${path}.${i}`;
    try {
      out.push(...parseLogLines(readFileSync(p, 'utf8')));
    } catch { /* absent */ }
  }
  return out;
}

/** Selects entries like `docker logs --since --until --tail`. */
export function selectLog(entries: readonly LogEntry[], o: { readonly since?: number; readonly until?: number; readonly tail?: number }): LogEntry[] {
  let sel = entries.filter((e) => {
    const t = Date.parse(e.time);
    return (o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until);
  });
  if (o.tail !== undefined) sel = o.tail === 0 ? [] : sel.slice(-o.tail);
  return sel;
}
