// Real clients drive the bundled berth-runtime: Debian's containerd (started here on its own
// socket and root) through `ctr run --runc-binary`, and podman with its own storage root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxBundle, type TestBundle } from './testing/bundle.js';

const run = promisify(execFile);
const repo = process.env['BERTH_REPO'] ?? process.cwd();
const pkg = join(repo, 'packages/runtime');
const bin = join(pkg, 'dist/berth-runtime.cjs');
const work = mkdtempSync(join(tmpdir(), 'berth-interop-'));
const env = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
let bundle: TestBundle;
let containerd: ChildProcess | undefined;
const sock = join(work, 'containerd.sock');
const ctr = (...args: string[]) => run('ctr', ['--address', sock, ...args], { env, timeout: 60_000 });
const podmanArgs = ['--root', join(work, 'podman/root'), '--runroot', join(work, 'podman/run'), '--cgroup-manager', 'cgroupfs', '--runtime', bin];
// This host's hard RLIMIT_NOFILE/NPROC are below podman's defaults (runc fails the same way).
const ulimits = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const podman = (...args: string[]) => run('podman', [...podmanArgs, ...args], { env, timeout: 60_000 });
const have = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
};

test.before(async () => {
  execFileSync(process.execPath, [join(pkg, 'build.mjs')], { stdio: 'inherit' });
  bundle = busyboxBundle(['true']);
});

test('ctr run --runc-binary berth-runtime runs echo hi and exec works in a running task', async () => {
  if (!have('containerd') || !have('ctr')) {
    console.log('# skip: containerd/ctr not installed');
    return;
  }
  writeFileSync(join(work, 'config.toml'), [
    'version = 2', `root = "${work}/ctrd-root"`, `state = "${work}/ctrd-state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]', '[grpc]', `  address = "${sock}"`, '[ttrpc]', `  address = "${sock}.ttrpc"`,
  ].join('\n'));
  containerd = spawn('containerd', ['-c', join(work, 'config.toml')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  const id = `berth-ctr-${process.pid}`;
  const out = await ctr('run', '--rm', '--runc-binary', bin, '--rootfs', bundle.rootfs, id, 'echo', 'hi');
  assert.equal(out.stdout.trim(), 'hi');
  await ctr('run', '-d', '--runc-binary', bin, '--rootfs', bundle.rootfs, `${id}-d`, 'sleep', '1000');
  try {
    const ex = await ctr('task', 'exec', '--exec-id', 'e1', `${id}-d`, 'sh', '-c', 'echo exec-ok $$');
    assert.match(ex.stdout, /^exec-ok \d+/);
  } finally {
    await ctr('task', 'kill', '-s', '9', `${id}-d`).catch(() => {});
    for (let i = 0; i < 50; i++) {
      const ls = await ctr('task', 'ls');
      if (!/RUNNING/.test(ls.stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await ctr('task', 'rm', '-f', `${id}-d`).catch(() => {});
    await ctr('container', 'rm', `${id}-d`).catch(() => {});
  }
});

test('podman --runtime berth-runtime run --rm works, and podman exec into a detached container', async () => {
  if (!have('podman')) {
    console.log('# skip: podman not installed');
    return;
  }
  const out = await podman('run', '--rm', '--network', 'none', ...ulimits, '--rootfs', bundle.rootfs, 'echo', 'hi-podman');
  assert.equal(out.stdout.trim(), 'hi-podman');
  const name = `berth-podman-${process.pid}`;
  await podman('run', '-d', '--name', name, '--network', 'none', ...ulimits, '--rootfs', bundle.rootfs, 'sleep', '1000');
  try {
    const ex = await podman('exec', name, 'sh', '-c', 'echo exec-podman $$');
    assert.match(ex.stdout, /^exec-podman \d+/);
  } finally {
    await podman('rm', '-f', '-t', '0', name).catch(() => {});
  }
});

test.after(async () => {
  if (containerd?.pid !== undefined) {
    containerd.kill('SIGTERM');
    await new Promise((r) => containerd?.once('exit', r));
  }
  bundle?.remove();
  // containerd and podman unmount what they mounted; make sure nothing of ours stays.
  const mounts = execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' });
  for (const line of mounts.split('\n').reverse()) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(work)) execFileSync('umount', ['-l', mp]);
  }
  rmSync(work, { recursive: true, force: true });
});

test.run();
