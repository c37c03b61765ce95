/**
 * Pull from a local registry: a generated ~300 MB (uncompressed) 5-layer image — one large
 * incompressible file, ~20,000 small files in two layers, text, and a small top layer — pushed to
 * Debian's docker-registry on 127.0.0.1, then pulled cold into an empty store by
 *   - `berth pull`  (download + verify + unpack, layers 3 at a time, one pass each)
 *   - `podman pull` (download + unpack; vfs storage, private root)
 *   - `skopeo copy docker://… oci:…` (download + verify only, no unpack)
 * Each run gets a fresh, empty root, and no run's files are deleted before all are measured (see
 * `prepare`); `sync` runs before each so earlier writes do not land in the next measurement (the
 * page cache is not dropped: other people share this machine).
 * Needs root (berth unpacks with owners), skopeo, podman and docker-registry.
 *
 * This disk (ext4, no journal) makes creating files slow for minutes after many were deleted
 * (ext4 skips recently freed inodes, scanning for others): a run right after another bench's
 * clean-up, or a test suite, measured podman at 19 s and berth at 2.7 s. Wait ~10 minutes.
 *
 * Measured 2026-11-28 on 2 cores shared with the registry (all three candidates are CPU-bound
 * here; berth uses ~2.7 s of CPU per pull), berth / podman / skopeo medians:
 *   5 rounds, 10 min after the last mass delete: 1.33 / 5.52 / 0.74 s (0.24× podman, 1.78× skopeo)
 *   5 rounds, likewise:                          1.68 / 6.92 / 0.98 s (0.24×, 1.73×)
 *   3 rounds, soon after deletes or a test run:  1.43 / 4.99 / 0.68 s (2.10×), 1.75 / 6.67 / 0.79 s (2.21×)
 *   the same day before that work:               2.66 / 6.77 / 1.01 s (0.39×, 2.64×)
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { startRegistry, type Registry } from '../registry/index.js';
import { childEnv, median, type BenchOptions, type BenchResult } from './harness.js';

const repo = new URL('../..', import.meta.url).pathname;
const bin = join(repo, 'packages/engine/dist/berth.cjs');
// BERTH_BENCH_BASELINE: another build's berth.cjs (a copy of an older dist/), run as one more candidate.
const baseline = process.env['BERTH_BENCH_BASELINE'];

export const description = 'pull a ~300 MB 5-layer image from a local registry: berth pull vs podman pull vs skopeo copy (download only) (root)';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(entries: Array<{ name: string; body?: Buffer; dir?: boolean }>): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  p.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    if (e.dir) { p.entry({ name: e.name, type: 'directory', mode: 0o755 }); continue; }
    await new Promise<void>((res, rej) => p.entry({ name: e.name, mode: 0o644, uid: 1000, gid: 1000 }, e.body ?? Buffer.alloc(0), (err) => (err ? rej(err) : res())));
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

async function smallFiles(prefix: string, count: number, pool: Buffer): Promise<Buffer> {
  const entries: Array<{ name: string; body?: Buffer; dir?: boolean }> = [];
  for (let d = 0; d < 100; d++) entries.push({ name: `${prefix}/d${d}/`, dir: true });
  for (let i = 0; i < count; i++) {
    const size = 1000 + ((i * 7919) % 8000);
    const off = (i * 104729) % (pool.length - size);
    entries.push({ name: `${prefix}/d${i % 100}/f${i}`, body: Buffer.concat([pool.subarray(off, off + size / 2), Buffer.alloc(Math.ceil(size / 2), i % 251)]) });
  }
  return tarOf(entries);
}

function text(bytes: number): Buffer {
  const words = ['container', 'layer', 'registry', 'manifest', 'digest', 'overlay', 'namespace', 'cgroup', 'berth', 'image', 'tar', 'blob'];
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = `${i} ${words[i % 12]} ${words[(i * 7) % 12]} ${words[(i * 5) % 12]} lorem ipsum dolor sit amet ${i * 31}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join(''));
}

/** The bench image, pushed to `reg` as `bench/pull:latest`; returns the reference and sizes. */
export async function pushBenchImage(reg: Registry, tmp: string): Promise<{ ref: string; tarMB: number; gzMB: number }> {
  const pool = randomBytes(1 << 20);
  const tars = [
    await tarOf([{ name: 'big/', dir: true }, { name: 'big/random.bin', body: randomBytes(120 << 20) }]),
    await smallFiles('small1', 10_000, pool),
    await smallFiles('small2', 10_000, pool),
    await tarOf([{ name: 'text/', dir: true }, ...Array.from({ length: 20 }, (_, i) => ({ name: `text/t${i}.txt`, body: text(4 << 20) }))]),
    await tarOf([{ name: 'etc/', dir: true }, { name: 'etc/hostname', body: Buffer.from('bench\n') }]),
  ];
  const layout = join(tmp, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer): string => { const d = sha(b); writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), b); return d; };
  const layers = tars.map((t) => { const gz = gzipSync(t, { level: 6 }); return { digest: put(gz), size: gz.length, diffID: sha(t), tarSize: t.length }; });
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  }));
  const md = put(manifest);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  const ref = `${reg.host}/bench/pull:latest`;
  execFileSync('skopeo', ['copy', '-q', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`], { env: { ...childEnv(), TMPDIR: tmp } });
  rmSync(layout, { recursive: true, force: true });
  return { ref, tarMB: layers.reduce((n, l) => n + l.tarSize, 0) / 1e6, gzMB: layers.reduce((n, l) => n + l.size, 0) / 1e6 };
}

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  if (process.getuid?.() !== 0) throw new Error('pull bench: needs root');
  if (!existsSync(bin)) execFileSync('npx', ['nx', 'run', '@berth/engine:build'], { cwd: repo, stdio: 'inherit', env: childEnv() });
  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-pull-'));
  const reg = await startRegistry();
  try {
    const { ref, tarMB, gzMB } = await pushBenchImage(reg, tmp);
    process.stdout.write(`pull: 5 layers, ~20,000 files, ${tarMB.toFixed(0)} MB of tar, ${gzMB.toFixed(0)} MB to download\n`);

    // Each run gets a new, empty directory — untimed: made, then `sync` — and only the pull
    // command is timed. Nothing is deleted until every run is measured: on this disk (ext4, no
    // journal) creating many files soon after deleting many is 2–3× slower, which would tax
    // whichever unpacking candidate followed another's clean-up (the first runs showed it: podman
    // 9 s fresh, 18–31 s after a delete). ~0.5 GB per run stays on disk until the end.
    let n = 0;
    const prepare = (): string => {
      const d = join(tmp, 'runs', String(n++));
      mkdirSync(d, { recursive: true });
      execFileSync('sync');
      return d;
    };
    const candidates: Array<{ name: string; argv: (d: string) => [string, ...string[]] }> = [
      { name: 'berth pull', argv: (d) => [process.execPath, bin, '--root', join(d, 'root'), '--state', join(d, 'state'), 'pull', '-q', ref] },
      { name: 'podman pull', argv: (d) => ['podman', '--root', join(d, 'proot'), '--runroot', join(d, 'prun'), '--storage-driver', 'vfs', '--events-backend', 'none',
        '--cgroup-manager', 'cgroupfs', 'pull', '-q', '--tls-verify=false', ref] },
      { name: 'skopeo copy (download only)', argv: (d) => ['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(d, 'oci')}:x`] },
    ];
    if (baseline !== undefined) {
      candidates.push({ name: 'berth pull (baseline)', argv: (d) => [process.execPath, baseline, '--root', join(d, 'root'), '--state', join(d, 'state'), 'pull', '-q', ref] });
    }
    const once = (c: (typeof candidates)[number]): number => {
      const d = prepare();
      const [file, ...args] = c.argv(d);
      const t0 = performance.now();
      execFileSync(file, args, { env: { ...childEnv(), TMPDIR: d }, stdio: ['ignore', 'ignore', 'inherit'] });
      const ms = performance.now() - t0;
      process.stderr.write(`  ${c.name}: ${(ms / 1000).toFixed(2)} s\n`);
      return ms;
    };
    const warmup = options.warmup ?? 1;
    const rounds = options.rounds ?? 3;
    const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
    for (let i = 0; i < warmup; i++) for (const c of candidates) once(c);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < candidates.length; k++) {
        const c = candidates[(r + k) % candidates.length]!;
        samples.get(c.name)!.push(once(c));
      }
    }
    rmSync(join(tmp, 'runs'), { recursive: true, force: true });
    const peer = options.peer ?? 'podman pull';
    const peerMedian = median(samples.get(peer) ?? []);
    const stats = candidates.map((c) => {
      const xs = samples.get(c.name) ?? [];
      return { name: c.name, samples: xs, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), ratio: median(xs) / peerMedian };
    });
    const write = options.write ?? ((l: string) => process.stdout.write(`${l}\n`));
    const title = 'pull: ~300 MB, 5 layers, 20,000 files, local registry, cold store';
    write(`${title} (${rounds} rounds, ${warmup} warm-up)`);
    for (const st of stats) write(`  ${st.name.padEnd(28)} median ${(st.median / 1000).toFixed(2)} s  min ${(st.min / 1000).toFixed(2)} s  max ${(st.max / 1000).toFixed(2)} s  (${st.ratio.toFixed(2)}× ${peer})`);
    const berth = stats.find((x) => x.name === 'berth pull');
    const skopeo = stats.find((x) => x.name.startsWith('skopeo'));
    if (berth && skopeo) write(`berth pull / skopeo copy (download only): ${(berth.median / skopeo.median).toFixed(2)}×`);
    const result: BenchResult = { title, peer, stats };
    return [result];
  } finally {
    await reg.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
