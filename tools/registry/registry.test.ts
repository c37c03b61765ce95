import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from '../fixtures/index.js';
import { pushFixture, skopeoArgs, startRegistry, type Registry, type RegistryOptions } from './index.js';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const running = new Set<Registry>();

interface Answer { readonly status: number | undefined; readonly error?: string; readonly authenticate?: string }

/** GET /v2/ as a client would: with the registry's CA unless `trust` is false, with `creds` if given. */
function v2(reg: Registry, opts: { creds?: string; trust?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const headers = opts.creds === undefined ? {} : { authorization: `Basic ${Buffer.from(opts.creds).toString('base64')}` };
    const done = (res: IncomingMessage): void => {
      res.resume();
      const authenticate = res.headers['www-authenticate'];
      resolve({ status: res.statusCode, ...(authenticate === undefined ? {} : { authenticate }) });
    };
    const req = reg.tls
      ? httpsGet(`${reg.url}/v2/`, { headers, ...(opts.trust === false || reg.caCert === undefined ? {} : { ca: reg.caCert }) }, done)
      : httpGet(`${reg.url}/v2/`, { headers }, done);
    req.on('error', (e) => resolve({ status: undefined, error: e.message }));
  });
}

/** True while `pid` exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function start(options: RegistryOptions): Promise<Registry> {
  const reg = await startRegistry(options);
  running.add(reg);
  return reg;
}

async function stop(reg: Registry): Promise<void> {
  await reg.stop();
  running.delete(reg);
  assert.not.ok(alive(reg.pid), 'registry process is gone');
  assert.not.ok(existsSync(reg.dir), 'temp dir removed');
  assert.is((await v2(reg)).status, undefined, 'nothing answers on the port any more');
}

const modes: Array<[string, RegistryOptions]> = [
  ['plain http, no auth', {}],
  ['http with htpasswd', { auth: 'htpasswd' }],
  ['tls, no auth', { tls: true }],
  ['tls with htpasswd', { auth: 'htpasswd', tls: true }],
];

for (const [label, options] of modes) {
  test(`${label}: starts, answers /v2/, takes a push skopeo can read back, stops`, async () => {
    const reg = await start(options);
    assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
    assert.is(reg.url, `${options.tls === true ? 'https' : 'http'}://${reg.host}`);
    const anonymous = await v2(reg);
    if (options.auth === 'htpasswd') {
      assert.is(anonymous.status, 401);
      assert.match(anonymous.authenticate ?? '', /^Basic realm="berth-test"/);
      assert.is((await v2(reg, { creds: `${reg.username}:${reg.password}` })).status, 200);
      assert.is((await v2(reg, { creds: `${reg.username}:wrong` })).status, 401);
    } else {
      assert.is(anonymous.status, 200);
    }
    if (options.tls === true) {
      const untrusted = await v2(reg, { trust: false });
      assert.is(untrusted.status, undefined, 'a client without the CA refuses the certificate');
      assert.ok(reg.caCert?.includes('BEGIN CERTIFICATE'));
      assert.ok(existsSync(join(reg.certDir ?? '', 'ca.crt')));
    }
    const pushed = await pushFixture(reg, 'busybox', 'library/busybox:1');
    const bb = await fixture('busybox');
    assert.is(pushed.digest, bb.manifestDigest);
    const info = JSON.parse((await run('skopeo', ['inspect', ...skopeoArgs(reg), `docker://${pushed.ref}`])).stdout) as { Digest: string; Layers: string[] };
    assert.is(info.Digest, bb.manifestDigest);
    assert.equal(info.Layers, bb.layerDigests);
    await stop(reg);
  });
}

test('multiarch pushes as an image index with both platforms', async () => {
  const reg = await start({});
  const pushed = await pushFixture(reg, 'multiarch', 'multi:latest');
  const multi = await fixture('multiarch');
  assert.is(pushed.digest, multi.indexDigest);
  const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${pushed.ref}`])).stdout) as { manifests: Array<{ digest: string }> };
  assert.equal(raw.manifests.map((m) => m.digest), multi.images.map((i) => i.manifestDigest));
  const arm = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${pushed.ref}`])).stdout) as { Architecture: string; Layers: string[] };
  assert.is(arm.Architecture, 'arm64');
  assert.equal(arm.Layers, multi.images[1]?.layerDigests);
  await stop(reg);
});

test('start.ts runs one in the foreground, prints its address, and cleans up on SIGTERM', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'start.ts'), '--auth', 'htpasswd'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', () => reject(new Error('start.ts exited before printing its address')));
    });
    const info = JSON.parse(line) as { host: string; url: string; username: string; password: string; pid: number; storageDir: string };
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const reg = { url: info.url, tls: false } as Registry;
    assert.is((await v2(reg, { creds: `${info.username}:${info.password}` })).status, 200);
    child.kill('SIGTERM');
    assert.is(await exited, 0);
    assert.not.ok(alive(info.pid), 'registry process is gone');
    assert.not.ok(existsSync(info.storageDir), 'storage removed');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('a registry dies with the process that started it, even when that one is killed', async () => {
  const script = `import { startRegistry } from ${JSON.stringify(join(here, 'index.ts'))};
const r = await startRegistry({});
console.log(JSON.stringify({ pid: r.pid, dir: r.dir }));
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', () => reject(new Error('child exited before starting a registry')));
  });
  const info = JSON.parse(line) as { pid: number; dir: string };
  assert.ok(alive(info.pid));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 100 && alive(info.pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(alive(info.pid), 'registry killed with its parent');
  rmSync(info.dir, { recursive: true, force: true }); // a killed parent cannot clean up; we do
});

test.after(async () => {
  for (const reg of running) await reg.stop();
});

test.run();
