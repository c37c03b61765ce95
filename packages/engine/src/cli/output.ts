import { writeSync } from 'node:fs';

/**
 * Writes `text` to stdout at once, without process.stdout: creating that stream loads Node's
 * stream modules (~5 ms), which short commands such as `version` need not pay. For small output.
 */
export function printSync(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return; // the reader has gone (| head): nothing more to say
      // A non-blocking stdout that is full: wait for it, as a blocking write would.
      if (code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** `key: value` rows aligned, Docker style. */
export function formatRows(rows: Record<string, string | number>, indent = ''): string {
  const width = Math.max(...Object.keys(rows).map((k) => k.length)) + 1;
  return Object.entries(rows).map(([k, v]) => `${indent}${`${k}:`.padEnd(width)} ${v}\n`).join('');
}

/** Print `key: value` rows aligned, Docker style. */
export function printRows(rows: Record<string, string | number>, indent = ''): void {
  process.stdout.write(formatRows(rows, indent));
}
