// Registry commands of the bundled binary as a user runs them, against the real registry
// (Debian's docker-registry on 127.0.0.1): pull of every fixture gives the image ID `berth load`
// gives; login/logout with htpasswd; push and interop with skopeo and podman both ways.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from '../tools/fixtures/index.js';
import { pushFixture, skopeoArgs, startRegistry, type Registry } from '../tools/registry/index.js';

const run = promisify(execFile);
const bin = join(process.env.BERTH_REPO ?? process.cwd(), 'packages/engine/dist/berth.cjs');
const temps: string[] = [];
const regs: Registry[] = [];
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'berth-e2e-reg-')); temps.push(d); return d; };
const isRoot = process.getuid?.() === 0;

interface Run { status: number | null; stdout: string; stderr: string }

/** The binary with its own root, state and config home (nothing of the user's is read). */
function cli(dir: string) {
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: join(dir, 'home'), BERTH_CERTS_D: join(dir, 'certs.d') };
  return (args: string[], input?: string): Promise<Run> => new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, '--root', join(dir, 'root'), '--state', join(dir, 'state'), ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    p.on('close', (status) => resolve({ status, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

function podman(dir: string) {
  const base = ['--root', join(dir, 'proot'), '--runroot', join(dir, 'prun'), '--runtime', 'runc', '--storage-driver', 'vfs',
    '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
  return async (...args: string[]) => (await run('podman', [...base, ...args], { env: { ...process.env, TMPDIR: dir }, maxBuffer: 1 << 24 })).stdout;
}

if (!isRoot) {
  test('registry commands (root only)', () => { console.log('# skip: unpacking pulled layers needs root (owners, whiteout devices)'); });
} else {
  let reg: Registry;
  test.before(async () => {
    reg = await startRegistry();
    regs.push(reg);
    await Promise.all([pushFixture(reg, 'busybox', 'library/busybox:latest'), pushFixture(reg, 'layered', 'layered:latest'), pushFixture(reg, 'multiarch', 'multiarch:latest')]);
  });
  test.after(async () => {
    for (const r of regs) await r.stop();
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  });

  for (const name of ['busybox', 'layered'] as const) {
    test(`berth pull ${name}: Docker's lines, and the image ID berth load gives`, async () => {
      const f = await fixture(name);
      const berth = cli(tmp());
      const repo = name === 'busybox' ? 'library/busybox' : 'layered';
      const r = await berth(['pull', `${reg.host}/${repo}`]);
      assert.is(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.is(lines[0], `latest: Pulling from ${repo}`);
      for (const l of f.layerDigests) {
        assert.ok(lines.includes(`${l.slice(7, 19)}: Pull complete`), `${l} complete`);
      }
      assert.equal(lines.slice(-3), [`Digest: ${f.digest}`, `Status: Downloaded newer image for ${reg.host}/${repo}:latest`, `${reg.host}/${repo}:latest`]);
      const loaded = cli(tmp());
      assert.is((await loaded(['load', '-i', f.dockerArchive!])).status, 0);
      const idOf = async (b: ReturnType<typeof cli>, ref: string) => (await b(['images', '--no-trunc', '--format', '{{.ID}}', ref])).stdout.trim();
      assert.is(await idOf(berth, `${reg.host}/${repo}`), await idOf(loaded, `${name}:latest`));
      assert.is(await idOf(berth, `${reg.host}/${repo}`), f.imageId);
      const again = await berth(['pull', `${reg.host}/${repo}`]);
      assert.match(again.stdout, `Status: Image is up to date for ${reg.host}/${repo}:latest`);
      assert.ok(again.stdout.includes(`${f.layerDigests[0]!.slice(7, 19)}: Already exists`));
    });
  }

  test('berth pull --platform linux/arm64 of the multiarch fixture gets the arm64 image', async () => {
    const f = await fixture('multiarch');
    const berth = cli(tmp());
    const r = await berth(['pull', '-q', '--platform', 'linux/arm64', `${reg.host}/multiarch`]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, `${reg.host}/multiarch:latest\n`);
    const inspect = JSON.parse((await berth(['image', 'inspect', `${reg.host}/multiarch`])).stdout) as Array<{ Id: string; Architecture: string }>;
    assert.is(inspect[0]?.Architecture, 'arm64');
    assert.is(inspect[0]?.Id, f.images.find((i) => i.platform.architecture === 'arm64')?.configDigest);
  });

  test('an unknown image fails with "manifest unknown" and exit status 125', async () => {
    const r = await cli(tmp())(['pull', `${reg.host}/library/nothing:1`]);
    assert.is(r.status, 125);
    assert.is(r.stderr, `berth: image ${reg.host}/library/nothing:1 not found in registry (manifest unknown): check the name and tag\n`);
  });

  test('berth pull -a pulls every tag; manifest inspect prints the index; a corrupt layer stores nothing', async () => {
    await pushFixture(reg, 'busybox', 'tags/busybox:one');
    await pushFixture(reg, 'busybox', 'tags/busybox:two');
    const f = await fixture('busybox');
    const dir = tmp();
    const berth = cli(dir);
    const all = await berth(['pull', '-a', '-q', `${reg.host}/tags/busybox`]);
    assert.is(all.status, 0, all.stderr);
    assert.is(all.stdout, `${reg.host}/tags/busybox:one\n${reg.host}/tags/busybox:two\n`);
    const m = JSON.parse((await berth(['manifest', 'inspect', `${reg.host}/multiarch`])).stdout) as { manifests: Array<{ platform: { architecture: string } }> };
    assert.equal(m.manifests.map((x) => x.platform.architecture), ['amd64', 'arm64']);
    const bad = await startRegistry();
    regs.push(bad);
    await pushFixture(bad, 'busybox', 'library/busybox:latest');
    const hex = f.layerDigests[0]!.slice(7);
    const data = join(bad.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = readFileSync(data);
    bytes[100] = (bytes[100] ?? 0) ^ 0x55;
    writeFileSync(data, bytes);
    const clean = cli(tmp());
    const r = await clean(['pull', `${bad.host}/library/busybox`]);
    assert.is(r.status, 125);
    assert.match(r.stderr, `berth: layer sha256:${hex} failed verification: the registry served corrupted data; nothing was stored`);
    assert.is((await clean(['images', '-q'])).stdout, '');
  });

  test('htpasswd: pull says to log in; berth login --password-stdin stores 0600 credentials; logout removes them', async () => {
    const auth = await startRegistry({ auth: 'htpasswd' });
    regs.push(auth);
    await pushFixture(auth, 'busybox', 'secret/busybox:latest');
    const dir = tmp();
    const berth = cli(dir);
    const denied = await berth(['pull', `${auth.host}/secret/busybox`]);
    assert.is(denied.status, 125);
    assert.match(denied.stderr, `login first with 'berth login ${auth.host}'`);
    const bad = await berth(['login', '-u', auth.username!, '--password-stdin', auth.host], 'wrong\n');
    assert.is(bad.status, 125);
    assert.match(bad.stderr, /incorrect username or password/);
    const ok = await berth(['login', '-u', auth.username!, '--password-stdin', auth.host], `${auth.password}\n`);
    assert.is(ok.status, 0, ok.stderr);
    assert.is(ok.stdout, 'Login Succeeded\n');
    assert.is(statSync(join(dir, 'xdg/berth/auth.json')).mode & 0o777, 0o600);
    const pulled = await berth(['pull', '-q', `${auth.host}/secret/busybox`]);
    assert.is(pulled.status, 0, pulled.stderr);
    assert.is((await berth(['logout', auth.host])).stdout, `Removing login credentials for ${auth.host}\n`);
    assert.match((await berth(['pull', `${auth.host}/secret/busybox:other`])).stderr, /login first/);
  });

  test('berth push: skopeo and podman pull what berth pushed; berth pulls what podman pushed', async () => {
    const f = await fixture('layered');
    const dir = tmp();
    const berth = cli(dir);
    assert.is((await berth(['load', '-i', f.dockerArchive!])).status, 0);
    assert.is((await berth(['tag', 'layered:latest', `${reg.host}/fromberth/layered:1`])).status, 0);
    const pushed = await berth(['push', `${reg.host}/fromberth/layered:1`]);
    assert.is(pushed.status, 0, pushed.stderr);
    const lines = pushed.stdout.trim().split('\n');
    assert.is(lines[0], `The push refers to repository [${reg.host}/fromberth/layered]`);
    const last = /^1: digest: (sha256:[a-f0-9]{64}) size: \d+$/.exec(lines.at(-1) ?? '');
    assert.ok(last, lines.at(-1));
    const { stdout } = await run('skopeo', ['inspect', ...skopeoArgs(reg), `docker://${reg.host}/fromberth/layered:1`]);
    assert.is((JSON.parse(stdout) as { Digest: string }).Digest, last[1]);
    const pm = podman(dir);
    await pm('pull', '-q', '--tls-verify=false', `${reg.host}/fromberth/layered:1`);
    assert.is((await pm('image', 'inspect', '--format', '{{.Id}}', `${reg.host}/fromberth/layered:1`)).trim(), f.imageId.slice(7));
    await pm('push', '-q', '--tls-verify=false', `${reg.host}/fromberth/layered:1`, `docker://${reg.host}/frompodman/layered:2`);
    const back = cli(tmp());
    const r = await back(['pull', '-q', `${reg.host}/frompodman/layered:2`]);
    assert.is(r.status, 0, r.stderr);
    assert.is((await back(['images', '--no-trunc', '--format', '{{.ID}}'])).stdout.trim(), f.imageId);
  });
}

test.run();
