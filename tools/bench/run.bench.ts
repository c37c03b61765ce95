/**
 * `berth run --rm --network none busybox true` against podman doing the same, warm image:
 *
 *   podman --runtime runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 busybox true
 *
 * (runc: crun refuses this host's hybrid cgroup layout; the ulimits: podman's defaults exceed
 * the host's hard limits.) Both use dedicated temp stores holding the busybox fixture (podman
 * gets it with `podman load`). Then:
 *   - where berth's time goes: the median of each BERTH_TRACE phase over the same number of runs;
 *   - the idle overhead of a detached container: the RSS of the berth-shim that holds it next
 *     to conmon's for the same `sleep` container.
 *
 * Measured 2026-11-29 (30 rounds, a 2-core host where page faults cost ~10 µs and podman's
 * median is 386-391 ms): berth 161.7-166.2 ms, 0.41-0.43× podman (0.49× at the day's start).
 * What changed: berth-shim started with posix_spawn, not libuv's fork (which copied Node's page
 * tables: ~4.5 -> ~1 ms), the CLI exits once the command is done (no environment teardown,
 * ~4 ms), the loader reads the bundle as latin1 (~2 ms). Where the time went (ms): node + bundle
 * + cli 94 (node -e 0 alone ~63-75) · group 4 · register 1 · db open 6.5 · image resolve 11 ·
 * spec + insert 6 · overlay 1.4 · prepare 6.7 · mount 4.5 · bundle + start 2.6 · spawn runtime
 * 20 · run 4.7 · exit 0.5 · remove 5.6. The bundle load is mostly V8 deserializing the 857 KB
 * code cache of `run` (~17 ms here) and reading the 626 KB bundle (~5 ms).
 *
 * Measured 2026-11-28, session 4 (30 rounds, a loaded 2-core host, podman's median 213 ms):
 *   berth 117-122 ms, 0.55-0.57× podman (session start: 179 ms, 0.81×). Where the time went
 *   (ms): node + bundle + cli 46 · group 2 · register 1 · db open 4 · image resolve 7 ·
 *   spec + insert 4 · overlay 2 · prepare 5-7 (shared init layer) · mount 3-5 · bundle + start 3 ·
 *   spawn runtime 14 (no child_process, no grace period) · run 3 · exit 1 · remove 5.
 *
 * Measured 2026-11-28 (2 cores, other benchmarks running: podman's own median moved 179-312 ms),
 * with berth's runtime in process (no berth-runtime child) and the shim as the detached holder:
 *   berth/podman 1.01× · 1.21× · 1.18× over three runs (1.37× when the CLI spawned berth-runtime)
 *   where the time goes (ms, quietest run): node start/load/parse 67 · db open 6 · image resolve 6 ·
 *   spec+insert 10 · overlay load 7 + snapshotter open 5 + rootfs prepare 28 · mount 4 ·
 *   start prepare 3 · spawn runtime (in-process create: cgroups, shim spawn, init plan) 55 ·
 *   run (exec, wait, delete) 15 · record exit 1 · remove 10
 *   the start, split since (a loaded run): node + bundle + cli setup 63 · command group load 22 ·
 *   flags 7 — the containers command group's module graph is the next thing to make lazy
 *   idle holder: berth-shim 1.5 MiB RSS vs conmon 1.9-2.1 MiB (was node monitor 55 + runtime 49 MiB)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../fixtures/index.js';
import { bench, childEnv, engineBundle, podmanIn, median, type BenchOptions, type BenchResult } from './harness.js';


export const description = 'berth run --rm busybox true vs podman run --rm (runc), warm image';

function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function pidsMatching(re: RegExp): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
    try { return re.test(readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')); } catch { return false; }
  });
}

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  const bundle = engineBundle('run');
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-run-'));
  const env = { BERTH_ROOT: join(dir, 'root'), BERTH_STATE: join(dir, 'state') };
  const podman = podmanIn(dir);
  const podmanRun = [...podman, 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];
  const berth = (args: string[], extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', env: childEnv({ ...env, ...extra }) });
  try {
    const bb = await fixture('busybox');
    const archive = bb.dockerArchive ?? '';
    const loaded = berth(['load', '-i', archive]);
    if (loaded.status !== 0) throw new Error(`berth load: ${loaded.stderr}`);
    execFileSync(podman[0] ?? 'podman', [...podman.slice(1), 'load', '-i', archive], { stdio: 'ignore' });
    const podmanImage = execFileSync(podman[0] ?? 'podman', [...podman.slice(1), 'images', '-q'], { encoding: 'utf8' }).trim().split('\n')[0] ?? 'busybox';

    const result = await bench('run: berth run --rm vs podman run --rm (runc), busybox true', [
      { name: 'berth run --rm', argv: [process.execPath, bundle, 'run', '--rm', '--network', 'none', 'busybox', 'true'], env },
      { name: 'podman run --rm', argv: [podmanRun[0] ?? 'podman', ...podmanRun.slice(1), podmanImage, 'true'] },
    ], { peer: 'podman run --rm', ...options });

    // Where berth's time goes.
    const phases = new Map<string, number[]>();
    const rounds = Math.max(5, Math.min(options.rounds ?? 20, 20));
    for (let i = 0; i < rounds; i++) {
      const r = berth(['run', '--rm', '--network', 'none', 'busybox', 'true'], { BERTH_TRACE: '1' });
      for (const m of r.stderr.matchAll(/^berth-trace (\S+) ([\d.]+)$/gm)) {
        const list = phases.get(m[1] ?? '') ?? [];
        list.push(Number(m[2]));
        phases.set(m[1] ?? '', list);
      }
    }
    const write = options.write ?? ((l: string) => process.stdout.write(`${l}\n`));
    write(`where berth run --rm's time goes (median of ${rounds} runs, BERTH_TRACE=1):`);
    for (const [name, xs] of phases) write(`  ${name.replace(/_/g, ' ').padEnd(40)} ${median(xs).toFixed(1).padStart(7)} ms`);

    // Idle overhead of one detached container.
    const id = berth(['run', '-d', '--network', 'none', 'busybox', 'sleep', '60']).stdout.trim();
    const cid = execFileSync(podman[0] ?? 'podman', [...podmanRun.slice(1).filter((a) => a !== '--rm'), '-d', podmanImage, 'sleep', '60'], { encoding: 'utf8' }).trim();
    await new Promise((r) => setTimeout(r, 500));
    // berth's holder is the init's parent: berth-shim in monitor mode (no Node process stays).
    const init = Number(berth(['inspect', '-f', '{{.State.Pid}}', id]).stdout.trim());
    const shims = init > 0 ? [parentOf(init)] : [];
    const conmons = pidsMatching(new RegExp(`conmon .*${cid.slice(0, 12)}`));
    const kb = (pids: number[]) => pids.reduce((n, p) => n + rssKb(p), 0);
    write('idle detached container (sleep 60), RSS of what holds it:');
    write(`  berth-shim (monitor)   ${(kb(shims) / 1024).toFixed(1)} MiB`);
    write(`  podman conmon          ${(kb(conmons) / 1024).toFixed(1)} MiB`);
    berth(['rm', '-f', id]);
    spawnSync(podman[0] ?? 'podman', [...podman.slice(1), 'rm', '-f', '-t', '0', cid], { stdio: 'ignore' });
    return [result];
  } finally {
    spawnSync(podman[0] ?? 'podman', [...podman.slice(1), 'system', 'reset', '-f'], { stdio: 'ignore' });
    const left = berth(['ps', '-aq']).stdout.trim();
    if (left) berth(['rm', '-f', ...left.split('\n')]);
    spawnSync('umount', ['-R', join(dir, 'podman')], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}
