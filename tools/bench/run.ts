/**
 * Runs benchmarks: every `tools/bench/*.bench.ts`, or the named ones.
 *
 *   npm run bench -- [name …] [--rounds N] [--warmup N] [--json]
 *
 * `name` is a file name without `.bench.ts` (`startup`). With --json, one JSON line per result
 * follows the report (title, peer, and per candidate median/min/max/ratio in ms).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchModule, BenchOptions } from './harness.js';

const dir = new URL('.', import.meta.url).pathname;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function isBenchModule(m: unknown): m is BenchModule {
  return typeof m === 'object' && m !== null && 'run' in m && typeof m.run === 'function' && 'description' in m && typeof m.description === 'string';
}

const names: string[] = [];
const options: { rounds?: number; warmup?: number } = {};
let json = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i] ?? '';
  if (a === '--rounds' || a === '--warmup') {
    const n = Number(argv[++i]);
    if (!Number.isInteger(n) || n < (a === '--rounds' ? 1 : 0)) fail(`${a} needs a whole number`);
    options[a === '--rounds' ? 'rounds' : 'warmup'] = n;
  } else if (a === '--json') json = true;
  else if (a.startsWith('-')) fail(`unknown option ${a}; usage: npm run bench -- [name …] [--rounds N] [--warmup N] [--json]`);
  else names.push(a);
}

const available = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).map((f) => f.slice(0, -'.bench.ts'.length)).sort();
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) fail(`no benchmark ${unknown.join(', ')}; there are: ${available.join(', ')}`);

for (const name of names.length > 0 ? names : available) {
  const mod: unknown = await import(pathToFileURL(join(dir, `${name}.bench.ts`)).href);
  if (!isBenchModule(mod)) fail(`${name}.bench.ts must export description and run(options)`);
  const results = await mod.run(options satisfies BenchOptions);
  if (json) {
    for (const r of results) {
      process.stdout.write(`${JSON.stringify({
        title: r.title, peer: r.peer,
        stats: r.stats.map(({ name: n, median, min, max, ratio }) => ({ name: n, median, min, max, ratio })),
      })}\n`);
    }
  }
}
