/**
 * Layer unpacking throughput: a generated ~300 MB, ~20,000-file image of 4 gzip layers, unpacked
 * by berth (streaming gunzip → sha256 diffID check → tar-stream → files, one dir per layer, as
 * `LayerStore` does), by `tar -xzf` of the same layers (no verification), and by
 * `umoci unpack` of the same OCI layout (verifies digests, stacks into one rootfs, writes an
 * mtree manifest). Reports wall time and MB/s of uncompressed tar. Needs root (owners, devices).
 * Each run writes into a fresh directory; all are removed after measuring.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-stream';
import { bench, childEnv, type BenchOptions, type BenchResult } from './harness.js';

const repo = new URL('../..', import.meta.url).pathname;

export const description = 'unpack a ~300 MB, 20,000-file, 4-layer image: berth vs tar -x vs umoci unpack (root)';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One layer tar: `files` files under dirs, sizes spread around `avg` bytes, half random (so gzip has work). */
async function layerTar(index: number, files: number, avg: number, pool: Buffer): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  p.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (let d = 0; d < 50; d++) p.entry({ name: `l${index}/d${d}/`, type: 'directory', mode: 0o755 });
  for (let i = 0; i < files; i++) {
    const size = Math.floor(avg / 2 + ((i * 7919) % avg));
    const off = (i * 104729) % (pool.length - size);
    const body = Buffer.concat([pool.subarray(off, off + size / 2), Buffer.alloc(Math.ceil(size / 2), i % 251)]);
    await new Promise<void>((res, rej) => p.entry({ name: `l${index}/d${i % 50}/f${i}`, mode: 0o644, uid: 1000, gid: 1000 }, body, (e) => (e ? rej(e) : res())));
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  if (process.getuid?.() !== 0) throw new Error('unpack bench: needs root (owners, device nodes)');
  if (!fileURLToPath(import.meta.resolve('@berth/layer-store')).endsWith('.ts')) {
    process.stderr.write('unpack: building @berth/layer-store and its dependencies (npx nx run @berth/layer-store:build)\n');
    execFileSync('npx', ['nx', 'run', '@berth/layer-store:build'], { cwd: repo, stdio: 'inherit', env: childEnv() });
  }
  const { unpackLayer } = await import('@berth/layer-store');
  const { LinuxSys } = await import('@berth/native');
  const sys = new LinuxSys();
  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-unpack-'));
  try {
    // The image: 4 layers × 5,000 files, ~15 KB each → ~300 MB of tar.
    const pool = randomBytes(1 << 20);
    const layout = join(tmp, 'layout');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const layers: Array<{ gz: string; diffID: string; digest: string; size: number; tarSize: number }> = [];
    for (let i = 0; i < 4; i++) {
      const tar = await layerTar(i, 5000, 15_000, pool);
      const gz = gzipSync(tar, { level: 6 });
      const digest = sha(gz);
      const path = join(layout, 'blobs', 'sha256', digest.slice(7));
      writeFileSync(path, gz);
      layers.push({ gz: path, diffID: sha(tar), digest, size: gz.length, tarSize: tar.length });
    }
    const config = Buffer.from(JSON.stringify({
      architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    }));
    writeFileSync(join(layout, 'blobs', 'sha256', sha(config).slice(7)), config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }));
    writeFileSync(join(layout, 'blobs', 'sha256', sha(manifest).slice(7)), manifest);
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
    }));
    const totalMB = layers.reduce((n, l) => n + l.tarSize, 0) / 1e6;
    const gzMB = layers.reduce((n, l) => n + l.size, 0) / 1e6;
    process.stdout.write(`unpack: image of 4 layers, 20,000 files, ${totalMB.toFixed(0)} MB of tar (${gzMB.toFixed(0)} MB gzipped)\n`);

    let n = 0;
    const fresh = (): string => { const d = join(tmp, 'out', String(n++)); mkdirSync(d, { recursive: true }); return d; };
    const result = await bench('unpack: 4 gzip layers, ~300 MB, 20,000 files', [
      {
        name: 'berth unpackLayer', fn: async () => {
          const d = fresh();
          for (const [i, l] of layers.entries()) {
            mkdirSync(join(d, String(i)));
            await unpackLayer(sys, createReadStream(l.gz, { highWaterMark: 1 << 20 }), join(d, String(i)), { expectedDiffID: l.diffID as never });
          }
        },
      },
      {
        name: 'tar -xzf', fn: async () => {
          const d = fresh();
          for (const [i, l] of layers.entries()) {
            mkdirSync(join(d, String(i)));
            execFileSync('tar', ['--same-owner', '-xzpf', l.gz, '-C', join(d, String(i))]);
          }
        },
      },
      {
        name: 'umoci unpack', fn: async () => {
          const d = fresh();
          execFileSync('umoci', ['unpack', '--image', `${layout}:bench`, join(d, 'bundle')], { env: childEnv() });
        },
      },
    ], { peer: 'tar -xzf', warmup: 1, rounds: 3, ...options });
    for (const s of result.stats) {
      process.stdout.write(`  ${s.name.padEnd(18)} ${(totalMB / (s.median / 1000)).toFixed(1)} MB/s\n`);
    }
    return [result];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
