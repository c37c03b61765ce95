/**
 * A small benchmark harness: warm-up runs, then N rounds in which every candidate runs once
 * (the order rotating each round, so drift and caches hit everyone alike), then per candidate the
 * median, min and max wall time and its ratio to a named peer:
 *
 *   startup: berth version vs node -e 0 (20 rounds, 3 warm-up)
 *     berth version   median 41.2 ms  min 39.0 ms  max 50.1 ms
 *     node -e 0       median 33.0 ms  min 31.9 ms  max 36.4 ms
 *   berth version 41.2 ms, node -e 0 33.0 ms: 1.25×
 *
 * Commands run without NODE_EXTRA_CA_CERTS in their environment (loading a CA bundle costs
 * every Node start several ms and would blur what is measured).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A process to time, start to exit: argv[0] is looked up on PATH. */
export interface CommandCandidate {
  readonly name: string;
  readonly argv: readonly [string, ...string[]];
  readonly cwd?: string;
  /** Extra variables on top of {@link childEnv}. */
  readonly env?: Readonly<Record<string, string>>;
}

/** An async function to time, in this process. */
export interface FunctionCandidate {
  readonly name: string;
  readonly fn: () => Promise<void>;
}

/** Something to measure. */
export type Candidate = CommandCandidate | FunctionCandidate;

/** How to measure. */
export interface BenchOptions {
  /** Runs of each candidate before measuring (default 3). */
  readonly warmup?: number;
  /** Measured runs of each candidate (default 20). */
  readonly rounds?: number;
  /** The name of the candidate the others are compared to (default: the last one). */
  readonly peer?: string;
  /** Where the report goes (default stdout). */
  readonly write?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** One candidate's measurements, in milliseconds. */
export interface Stats {
  readonly name: string;
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** median / the peer's median (1 for the peer itself). */
  readonly ratio: number;
}

/** What one benchmark found. */
export interface BenchResult {
  readonly title: string;
  readonly peer: string;
  readonly stats: readonly Stats[];
}

/** A `*.bench.ts` module: `run` measures and prints, using {@link bench}. */
export interface BenchModule {
  readonly description: string;
  run(options: BenchOptions): Promise<readonly BenchResult[]>;
}

/** This process's environment without NODE_EXTRA_CA_CERTS, for every child a benchmark starts. */
export function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _dropped, ...env } = process.env;
  return { ...env, ...extra };
}

const repoRoot = new URL('../..', import.meta.url).pathname;

/** The engine's bundled CLI (packages/engine/dist/berth.cjs), built first when it is missing. */
export function engineBundle(bench: string): string {
  const bundle = `${repoRoot}packages/engine/dist/berth.cjs`;
  if (!existsSync(bundle)) {
    process.stderr.write(`${bench}: building the engine bundle (npx nx run @berth/engine:build)\n`);
    execFileSync('npx', ['nx', 'run', '@berth/engine:build'], { cwd: repoRoot, stdio: 'inherit', env: childEnv() });
  }
  return bundle;
}

/** podman's argv with a store of its own under `dir`: runc and cgroupfs (this host's hybrid cgroups), no events. */
export function podmanIn(dir: string): string[] {
  return ['podman', '--root', `${dir}/podman`, '--runroot', `${dir}/podman-run`, '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
}

function runCommand(c: CommandCandidate, signal: AbortSignal | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = c.argv;
    const started = process.hrtime.bigint();
    const child = spawn(file, args, {
      cwd: c.cwd, env: childEnv(c.env), stdio: ['ignore', 'ignore', 'pipe'], ...(signal === undefined ? {} : { signal }),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4000) stderr += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`bench: ${c.name} (${c.argv.join(' ')}) exited with ${sig ?? code}: ${stderr.trim()}`));
    });
  });
}

async function once(c: Candidate, signal: AbortSignal | undefined): Promise<number> {
  if ('fn' in c) {
    const started = process.hrtime.bigint();
    await c.fn();
    return Number(process.hrtime.bigint() - started) / 1e6;
  }
  return runCommand(c, signal);
}

/** The median of some numbers (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

/** Measures the candidates and prints the report; returns the numbers. */
export async function bench(title: string, candidates: readonly Candidate[], options: BenchOptions = {}): Promise<BenchResult> {
  const warmup = options.warmup ?? 3;
  const rounds = options.rounds ?? 20;
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const peer = options.peer ?? candidates[candidates.length - 1]?.name;
  if (candidates.length === 0 || peer === undefined) throw new Error('bench: no candidates');
  if (!candidates.some((c) => c.name === peer)) throw new Error(`bench: peer "${peer}" is not a candidate`);
  if (new Set(candidates.map((c) => c.name)).size !== candidates.length) throw new Error('bench: candidate names must differ');

  const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  for (let i = 0; i < warmup; i++) for (const c of candidates) await once(c, options.signal);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      options.signal?.throwIfAborted();
      const c = candidates[(r + k) % candidates.length];
      if (c === undefined) continue;
      samples.get(c.name)?.push(await once(c, options.signal));
    }
  }

  const peerMedian = median(samples.get(peer) ?? []);
  const stats: Stats[] = candidates.map((c) => {
    const xs = samples.get(c.name) ?? [];
    const m = median(xs);
    return { name: c.name, samples: xs, median: m, min: Math.min(...xs), max: Math.max(...xs), ratio: m / peerMedian };
  });
  const width = Math.max(...stats.map((s) => s.name.length));
  write(`${title} (${rounds} rounds, ${warmup} warm-up)`);
  for (const s of stats) write(`  ${s.name.padEnd(width)}  median ${fmt(s.median)}  min ${fmt(s.min)}  max ${fmt(s.max)}`);
  const peerStats = stats.find((s) => s.name === peer);
  for (const s of stats) {
    if (s.name === peer || peerStats === undefined) continue;
    write(`${s.name} ${fmt(s.median)}, ${peer} ${fmt(peerStats.median)}: ${s.ratio.toFixed(2)}×`);
  }
  return { title, peer, stats };
}
