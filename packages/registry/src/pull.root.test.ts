// Pull against the real registry (Debian's docker-registry on 127.0.0.1), as root so layers
// unpack with their owners: every fixture, platforms from an index, auth, TLS, corruption.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectImage, Store } from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import { fixture, readTree, withoutXattrs } from '../../../tools/fixtures/index.js';
import { pushFixture, startRegistry, type Registry, type RegistryOptions } from '../../../tools/registry/index.js';
import { loadRegistryConfig, pullImage, pullSummary, saveCredentials, type PullEvent, type RegistryConfig } from './index.js';

const dirs: string[] = [];
const registries: Registry[] = [];
const sys = new LinuxSys();
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'berth-reg-')); dirs.push(d); return d; };
const openStore = (): Store => Store.open(join(tmp(), 'root'), { sys });
const start = async (o: RegistryOptions = {}): Promise<Registry> => { const r = await startRegistry(o); registries.push(r); return r; };
/** Settings that read nothing of the user's: a private auth file and certs.d. */
const isolated = (o: Partial<RegistryConfig> = {}): RegistryConfig => {
  const d = tmp();
  return loadRegistryConfig({ env: { HOME: d }, authFile: join(d, 'auth.json'), dockerConfig: join(d, 'none.json'), certsDir: join(d, 'certs.d'), ...o });
};

let plain: Registry;

test.before(async () => {
  plain = await start();
  await Promise.all([pushFixture(plain, 'busybox', 'library/busybox:latest'), pushFixture(plain, 'layered', 'layered:v1'), pushFixture(plain, 'multiarch', 'multi:latest')]);
});

test.after(async () => {
  for (const r of registries) await r.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

for (const name of ['busybox', 'layered'] as const) {
  test(`pull of the ${name} fixture gives the loaded fixture's image ID and its exact tree`, async () => {
    const f = await fixture(name);
    const store = openStore();
    const events: PullEvent[] = [];
    const ref = `${plain.host}/${name === 'busybox' ? 'library/busybox:latest' : 'layered:v1'}`;
    const r = await pullImage(store, ref, { config: isolated(), onProgress: (e) => events.push(e) });
    assert.is(r.id, f.imageId);
    assert.is(r.digest, f.digest);
    assert.not.ok(r.upToDate);
    const img = store.images.resolve(ref);
    assert.is(img.id, f.imageId);
    assert.equal(img.layers.map((l) => l.blob), f.layerDigests);
    // Stack the unpacked layers the naive way (copy lowest first) only for a one-layer image; else compare the top layer exists.
    for (const l of img.layers) assert.ok(store.layers.has(l.chainID), `layer ${l.chainID} unpacked`);
    if (name === 'busybox') assert.equal(await readTree(store.layers.path(img.layers[0]!.chainID)), withoutXattrs(f.images[0]!.tree));
    assert.ok(events.some((e) => e.kind === 'layer' && e.status === 'complete'));
    assert.is(events.at(-1)?.kind, 'done');
    // Again: nothing downloaded, up to date.
    const again = await pullImage(store, ref, { config: isolated() });
    assert.ok(again.upToDate);
    assert.is(again.bytesDownloaded, 0);
    store.close();
  });
}

test('multiarch: --platform linux/arm64 picks the arm64 manifest; the host gets amd64', async () => {
  const f = await fixture('multiarch');
  const store = openStore();
  const arm = await pullImage(store, `${plain.host}/multi:latest`, { config: isolated(), platform: 'linux/arm64' });
  const armImage = f.images.find((i) => i.platform.architecture === 'arm64')!;
  assert.is(arm.id, armImage.configDigest);
  assert.is(arm.manifestDigest, armImage.manifestDigest);
  assert.is(arm.digest, f.indexDigest);
  assert.is(store.images.resolve(arm.id).architecture, 'arm64');
  const amd = await pullImage(store, `${plain.host}/multi:latest`, { config: isolated(), platform: 'linux/amd64' });
  assert.is(amd.id, f.images[0]!.configDigest);
  try {
    await pullImage(store, `${plain.host}/library/busybox:latest`, { config: isolated(), platform: 'linux/s390x' });
    assert.unreachable('a single-platform image of another platform was pulled');
  } catch (e) {
    assert.match((e as Error).message, /does not match the specified platform: wanted linux\/s390x, actual: linux\/amd64/);
  }
  store.close();
});

test('multiarch: RepoDigests and the Digest: line name the index, as docker shows them', async () => {
  const f = await fixture('multiarch');
  const store = openStore();
  const r = await pullImage(store, `${plain.host}/multi:latest`, { config: isolated(), platform: 'linux/arm64' });
  const armImage = f.images.find((i) => i.platform.architecture === 'arm64')!;
  assert.is(pullSummary(r)[0], `Digest: ${f.indexDigest}`);
  assert.equal(inspectImage(store, r.id).RepoDigests, [`${plain.host}/multi@${f.indexDigest}`]);
  assert.not.ok(inspectImage(store, r.id).RepoDigests.includes(`${plain.host}/multi@${armImage.manifestDigest}`));
  // The index digest names the image in the store, and a pull by it is up to date.
  assert.is(store.images.resolve(`${plain.host}/multi@${f.indexDigest}`).id, armImage.configDigest);
  const again = await pullImage(store, `${plain.host}/multi@${f.indexDigest}`, { config: isolated(), platform: 'linux/arm64' });
  assert.ok(again.upToDate);
  assert.is(again.bytesDownloaded, 0);
  store.close();
});

test('pull by digest records no tag; an unknown tag is "manifest unknown"', async () => {
  const f = await fixture('busybox');
  const store = openStore();
  const r = await pullImage(store, `${plain.host}/library/busybox@${f.manifestDigest}`, { config: isolated() });
  assert.is(r.id, f.imageId);
  assert.equal(store.images.get(r.id).tags, []);
  try {
    await pullImage(store, `${plain.host}/library/busybox:nope`, { config: isolated() });
    assert.unreachable('pulled a missing tag');
  } catch (e) {
    assert.match((e as Error).message, /not found in registry \(manifest unknown\)/);
  }
  store.close();
});

test('docker.io images come through a configured mirror, named as docker.io', async () => {
  const store = openStore();
  const r = await pullImage(store, 'busybox', { config: isolated({ mirrors: [`http://${plain.host}`] }) });
  assert.is(r.id, (await fixture('busybox')).imageId);
  assert.is(r.name, 'docker.io/library/busybox:latest');
  assert.is(store.images.resolve('busybox:latest').id, r.id);
  store.close();
});

test('htpasswd: pull fails with a login hint; with saved credentials it works', async () => {
  const reg = await start({ auth: 'htpasswd' });
  await pushFixture(reg, 'busybox', 'private/busybox:latest');
  const config = isolated();
  const store = openStore();
  try {
    await pullImage(store, `${reg.host}/private/busybox:latest`, { config });
    assert.unreachable('pulled without credentials');
  } catch (e) {
    assert.match((e as Error).message, /unauthorized.*login first with 'berth login 127\.0\.0\.1:\d+'/);
  }
  assert.is(store.images.list().length, 0);
  saveCredentials(config, reg.host, { username: reg.username!, password: reg.password! });
  assert.is(statSync(config.authFile).mode & 0o777, 0o600);
  const r = await pullImage(store, `${reg.host}/private/busybox:latest`, { config });
  assert.is(r.id, (await fixture('busybox')).imageId);
  store.close();
});

test('TLS: unknown CA fails with the certs.d hint; the CA in certs.d makes it work', async () => {
  const reg = await start({ tls: true });
  await pushFixture(reg, 'busybox', 'library/busybox:latest');
  const config = isolated({ loopbackInsecure: false });
  const store = openStore();
  try {
    await pullImage(store, `${reg.host}/library/busybox:latest`, { config });
    assert.unreachable('trusted an unknown CA');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`certificate signed by unknown authority: put the registry's CA at ${config.certsDir}/${reg.host}/ca.crt`));
  }
  // --insecure-registry: TLS without verification (no CA store is loaded for it); the registry speaks only HTTPS.
  const insecure = openStore();
  const u = await pullImage(insecure, `${reg.host}/library/busybox:latest`, { config: isolated({ loopbackInsecure: false, insecureRegistries: [reg.host] }) });
  assert.is(u.id, (await fixture('busybox')).imageId);
  insecure.close();
  mkdirSync(join(config.certsDir, reg.host), { recursive: true });
  writeFileSync(join(config.certsDir, reg.host, 'ca.crt'), reg.caCert!);
  const r = await pullImage(store, `${reg.host}/library/busybox:latest`, { config });
  assert.is(r.id, (await fixture('busybox')).imageId);
  store.close();
});

test('a layer corrupted on the registry disk: digest-mismatch error, no image, no layer, no blob', async () => {
  const reg = await start();
  const f = await fixture('busybox');
  await pushFixture(reg, 'busybox', 'library/busybox:latest');
  const layer = f.layerDigests[0]!.slice(7);
  const data = join(reg.storageDir, 'docker/registry/v2/blobs/sha256', layer.slice(0, 2), layer, 'data');
  const bytes = readFileSync(data);
  const mid = Math.floor(bytes.length / 2);
  bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
  writeFileSync(data, bytes);
  const store = openStore();
  try {
    await pullImage(store, `${reg.host}/library/busybox:latest`, { config: isolated() });
    assert.unreachable('stored corrupt data');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`layer sha256:${layer} failed verification: the registry served corrupted data; nothing was stored`));
  }
  assert.is(store.images.list().length, 0);
  assert.equal(store.layers.list(), []);
  assert.not.ok(store.blobs.has(f.layerDigests[0] as never));
  assert.equal(readdirSync(join(store.root, 'tmp')).filter((n) => !n.startsWith('.')), []);
  store.close();
});

test.run();
