/**
 * `berth ps` with 20 running containers against `podman ps` with 20 of its own (runc, the same
 * busybox fixture, each in a dedicated temp store), and `node -e 0`, the floor of any Node
 * program. Issue #8's target: under 60 ms (podman took 92 ms for 50 here).
 *
 * BERTH_BENCH_BASELINE: another build's berth.cjs (a copy of an older dist/), run on the same
 * store as one more candidate.
 *
 * Measured 2026-11-28, 40 rounds, two runs (2 cores shared with other sessions: medians move by
 * 10-20 ms between runs, compare within one run), baseline = the build before the fast entry:
 *   berth ps 53.6 · 55.5 ms, baseline 89.4 · 85.8, node -e 0 40.7 · 40.7, podman ps 70.8 · 65.9
 *   berth/podman 0.76× · 0.84× (baseline 1.26× · 1.30×)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../fixtures/index.js';
import { bench, childEnv, engineBundle, podmanIn, type BenchOptions, type BenchResult, type CommandCandidate } from './harness.js';

const baseline = process.env['BERTH_BENCH_BASELINE'];
const containers = 20;

export const description = `berth ps vs podman ps (runc), ${containers} running containers each (root)`;

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  const bundle = engineBundle('ps');
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-ps-'));
  const env = { BERTH_ROOT: join(dir, 'root'), BERTH_STATE: join(dir, 'state') };
  const podman = podmanIn(dir);
  const podmanCmd = (args: string[], encoding: 'utf8' = 'utf8') => execFileSync(podman[0] ?? 'podman', [...podman.slice(1), ...args], { encoding, stdio: ['ignore', 'pipe', 'pipe'] });
  const berth = (args: string[]) => spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', env: childEnv(env) });
  try {
    const archive = (await fixture('busybox')).dockerArchive ?? '';
    const loaded = berth(['load', '-i', archive]);
    if (loaded.status !== 0) throw new Error(`berth load: ${loaded.stderr}`);
    podmanCmd(['load', '-i', archive]);
    const podmanImage = podmanCmd(['images', '-q']).trim().split('\n')[0] ?? 'busybox';
    for (let i = 0; i < containers; i++) {
      const r = berth(['run', '-d', '--network', 'none', 'busybox', 'sleep', '3600']);
      if (r.status !== 0) throw new Error(`berth run -d: ${r.stderr}`);
      podmanCmd(['run', '-d', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', podmanImage, 'sleep', '3600']);
    }
    const listed = berth(['ps', '-q']).stdout.trim().split('\n').length;
    if (listed !== containers) throw new Error(`berth ps lists ${listed} containers, not ${containers}`);

    const candidates: CommandCandidate[] = [
      { name: 'berth ps', argv: [process.execPath, bundle, 'ps'], env },
      ...(baseline === undefined ? [] : [{ name: 'berth ps (baseline)', argv: [process.execPath, baseline, 'ps'], env } as const]),
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
      { name: 'podman ps', argv: [podman[0] ?? 'podman', ...podman.slice(1), 'ps'] },
    ];
    return [await bench(`ps: berth ps vs podman ps (runc), ${containers} running containers`, candidates, { peer: 'podman ps', ...options })];
  } finally {
    const left = berth(['ps', '-aq']).stdout.trim();
    if (left) berth(['rm', '-f', ...left.split('\n')]);
    spawnSync(podman[0] ?? 'podman', [...podman.slice(1), 'rm', '-a', '-f', '-t', '0'], { stdio: 'ignore' });
    spawnSync(podman[0] ?? 'podman', [...podman.slice(1), 'system', 'reset', '-f'], { stdio: 'ignore' });
    spawnSync('umount', ['-R', join(dir, 'podman')], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}
