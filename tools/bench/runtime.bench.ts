/**
 * The OCI runtime: `berth-runtime run` of /bin/true in a busybox bundle against `runc run` on
 * the same bundle (and `crun run` where it works: it refuses this host's hybrid cgroup layout),
 * plus `node -e 0`, the floor any Node program pays. Needs root; builds the runtime bundle
 * first when it is missing. `BERTH_BENCH_BASELINE=<another dist>/berth-runtime.cjs` adds an
 * older build on the same bundle.
 *
 * Measured 2026-11-28 (30 rounds, loaded host): berth-runtime run 60.8 ms, runc run 36.4 ms
 * (1.67×), node -e 0 41.8 ms (node alone 1.15× runc).
 *
 * Measured 2026-11-29 on another host of the same kind (30 rounds each), where a page fault
 * costs ~10 µs (the first touch of a fresh anonymous page: 10.7 µs, measured in C) and every
 * process start is ~2× slower: berth-runtime run 82.1 / 88.0 / 91.5 ms, runc run 66.9 / 69.9 /
 * 82.8 ms (1.23× / 1.26× / 1.10×), node -e 0 63.0 / 66.1 / 84.5 ms. runc (two Go starts: runc
 * and `runc init`) pays the faults more than Node does, so the ratio moves with the host; what
 * berth-runtime adds above `node -e 0` is ~20 ms on both hosts (loader and bundle ~5 ms, config
 * to plan to cgroups to state ~11 ms, berth-shim's clone, mounts, pivot_root and exec ~7 ms).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxBundle } from '../../packages/runtime/src/testing/bundle.js';
import { bench, childEnv, type BenchOptions, type BenchResult, type Candidate } from './harness.js';

const repo = new URL('../..', import.meta.url).pathname;
const cli = join(repo, 'packages/runtime/dist/berth-runtime.cjs');

export const description = 'berth-runtime run vs runc run (and crun) of /bin/true in a busybox bundle';

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  if (!existsSync(cli)) {
    process.stderr.write('runtime: building berth-runtime (npx nx run @berth/runtime:build)\n');
    execFileSync('npx', ['nx', 'run', '@berth/runtime:build'], { cwd: repo, stdio: 'inherit', env: childEnv() });
  }
  const bundle = busyboxBundle(['/bin/true']);
  const state = mkdtempSync(join(tmpdir(), 'berth-bench-runtime-'));
  try {
    const candidates: Candidate[] = [
      { name: 'berth-runtime run', argv: [process.execPath, cli, '--root', join(state, 'berth'), 'run', '--bundle', bundle.dir, 'bench'] },
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
      // BERTH_BENCH_BASELINE=<another dist>/berth-runtime.cjs: an older build, same bundle.
      ...(process.env['BERTH_BENCH_BASELINE'] ? [{ name: 'baseline run', argv: [process.execPath, process.env['BERTH_BENCH_BASELINE'], '--root', join(state, 'base'), 'run', '--bundle', bundle.dir, 'bench'] }] : []),
    ];
    const crun = spawnSync('crun', ['--root', join(state, 'crun'), 'run', '--bundle', bundle.dir, 'bench-probe'], { env: childEnv() });
    if (crun.status === 0) candidates.push({ name: 'crun run', argv: ['crun', '--root', join(state, 'crun'), 'run', '--bundle', bundle.dir, 'bench'] });
    else process.stderr.write(`runtime: crun skipped: ${crun.error ? 'not installed' : String(crun.stderr).trim().split('\n')[0]}\n`);
    candidates.push({ name: 'runc run', argv: ['runc', '--root', join(state, 'runc'), 'run', '--bundle', bundle.dir, 'bench'] });
    return [await bench('runtime: berth-runtime run vs runc run (/bin/true, busybox bundle)', candidates, { peer: 'runc run', ...options })];
  } finally {
    bundle.remove();
    rmSync(state, { recursive: true, force: true });
  }
}
