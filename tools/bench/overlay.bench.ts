/**
 * A container rootfs, made and taken down: prepare + mount + unmount, for a 1-layer and a 50-layer
 * image, overlayfs (OverlaySnapshotter) against the copy fallback (CopySnapshotter, Docker's vfs).
 * Needs root (it mounts). The images are generated in a temp dir: a busybox-like layer (the
 * busybox binary and ~300 applet links, /etc files), and for 50 layers that base plus 49 layers of
 * 20 small files each that also rewrite one shared file. Containers are removed after measuring.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench, childEnv, type BenchOptions, type BenchResult } from './harness.js';

const repo = new URL('../..', import.meta.url).pathname;

export const description = 'container rootfs prepare + mount + unmount, 1 and 50 layers: overlay vs vfs copy (root)';

function layer(dir: string, files: Record<string, string>): string {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

function baseLayer(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : process.execPath;
  copyFileSync(busybox, join(dir, 'bin/busybox'));
  for (let i = 0; i < 300; i++) symlinkSync('busybox', join(dir, 'bin', `applet${i}`));
  return layer(dir, {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'etc/group': 'root:x:0:\n',
    'etc/hostname': 'bench\n',
    'etc/os-release': 'NAME=bench\n',
  });
}

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('overlay: skipped, needs root (it mounts)\n');
    return [];
  }
  // `npm run bench` runs without the berth-source condition: the packages then come from dist/.
  if (!fileURLToPath(import.meta.resolve('@berth/overlay')).endsWith('.ts')) {
    process.stderr.write('overlay: building @berth/overlay and its dependencies (npx nx run @berth/overlay:build)\n');
    execFileSync('npx', ['nx', 'run', '@berth/overlay:build'], { cwd: repo, stdio: 'inherit', env: childEnv() });
  }
  const { OverlaySnapshotter, CopySnapshotter, detectDriver, repairOrphanMounts } = await import('@berth/overlay');
  const { LinuxSys } = await import('@berth/native');
  const sys = new LinuxSys();

  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-overlay-'));
  const root = join(tmp, 'root');
  const results: BenchResult[] = [];
  try {
    const verdict = await detectDriver(root, sys);
    if (verdict.driver !== 'overlay') {
      process.stderr.write(`overlay: skipped, overlayfs is unusable here (${verdict.reason})\n`);
      return [];
    }
    const base = baseLayer(join(tmp, 'layers/0'));
    const stack = [base];
    for (let i = 1; i < 50; i++) {
      const files: Record<string, string> = { 'etc/shared': `layer ${i}\n` };
      for (let f = 0; f < 20; f++) files[`opt/l${i}/file${f}`] = `layer ${i} file ${f}\n`.repeat(8);
      stack.unshift(layer(join(tmp, 'layers', String(i)), files));
    }
    const overlay = new OverlaySnapshotter({ root, sys, mountOptions: verdict.mountOptions });
    const vfs = new CopySnapshotter({ root, sys });
    let n = 0;
    const made: Array<() => Promise<void>> = [];
    const cycle = (snap: typeof overlay | typeof vfs, lowers: readonly string[]) => async (): Promise<void> => {
      const key = `bench-${n++}`;
      await snap.prepare(key, lowers);
      await snap.mount(key);
      await snap.unmount(key);
      made.push(() => snap.remove(key));
    };
    const cleanup = async (): Promise<void> => { for (const f of made.splice(0)) await f(); };

    for (const [count, lowers] of [[1, [base]], [50, stack]] as const) {
      results.push(await bench(`overlay: rootfs prepare + mount + unmount, ${count}-layer image: overlay vs vfs copy`, [
        { name: `overlay ${count} layer${count > 1 ? 's' : ''}`, fn: cycle(overlay, lowers) },
        { name: `vfs ${count} layer${count > 1 ? 's' : ''}`, fn: cycle(vfs, lowers) },
      ], { peer: `vfs ${count} layer${count > 1 ? 's' : ''}`, ...options }));
      await cleanup();
    }
  } finally {
    await repairOrphanMounts(root, [], sys); // whatever a failed run left mounted
    rmSync(tmp, { recursive: true, force: true });
  }
  return results;
}
