// Push to the real registry and round trips with skopeo: what berth pushes, skopeo reads and
// berth pulls back with the same image ID; what skopeo pushed, berth pulls (pull.root.test.ts).
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store, loadArchive, loadOciDir } from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import { fixture } from '../../../tools/fixtures/index.js';
import { skopeoArgs, startRegistry, type Registry } from '../../../tools/registry/index.js';
import { Registries, listTags, loadRegistryConfig, localTags, pullImage, pushAllTags, pushImage, type PushEvent, type RegistryConfig } from './index.js';

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected a rejection matching ${String(re)}`);
}

const run = promisify(execFile);
const dirs: string[] = [];
const sys = new LinuxSys();
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'berth-push-')); dirs.push(d); return d; };
const openStore = (): Store => Store.open(join(tmp(), 'root'), { sys });
const isolated = (): RegistryConfig => {
  const d = tmp();
  return loadRegistryConfig({ env: { HOME: d }, authFile: join(d, 'auth.json'), dockerConfig: join(d, 'none.json'), certsDir: join(d, 'certs.d') });
};
let reg: Registry;

test.before(async () => { reg = await startRegistry(); });
test.after(async () => {
  await reg.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('an image loaded from an OCI layout pushes with its manifest digest; skopeo reads it; pushing again uploads nothing', async () => {
  const f = await fixture('layered');
  const store = openStore();
  const [loaded] = (await loadOciDir(store, f.ociLayout, { repo: 'layered' })).images;
  store.images.tag(loaded!.id, `${reg.host}/berth/layered:v1`);
  const events: PushEvent[] = [];
  const r = await pushImage(store, `${reg.host}/berth/layered:v1`, { config: isolated(), onProgress: (e) => events.push(e) });
  assert.is(r.digest, f.manifestDigest);
  assert.is(r.uploaded, f.layerDigests.length + 1);
  assert.is(events.filter((e) => e.kind === 'layer' && e.status === 'pushed').length, f.layerDigests.length);
  const { stdout } = await run('skopeo', ['inspect', ...skopeoArgs(reg), `docker://${reg.host}/berth/layered:v1`]);
  assert.is((JSON.parse(stdout) as { Digest: string }).Digest, f.manifestDigest);
  const again = await pushImage(store, `${reg.host}/berth/layered:v1`, { config: isolated() });
  assert.is(again.uploaded, 0);
  // Back into an empty store: the same image.
  const other = openStore();
  assert.is((await pullImage(other, `${reg.host}/berth/layered:v1`, { config: isolated() })).id, f.imageId);
  store.close();
  other.close();
});

test('a docker-archive image pushes in chunks, mounts across repos, and round-trips through skopeo and berth', async () => {
  const f = await fixture('busybox');
  const store = openStore();
  await loadArchive(store, createReadStream(f.dockerArchive!));
  store.images.tag('busybox:latest', `${reg.host}/a/busybox:1`);
  const r = await pushImage(store, `${reg.host}/a/busybox:1`, { config: isolated(), chunkSize: 256 * 1024 });
  assert.is(r.uploaded, 2);
  store.images.tag('busybox:latest', `${reg.host}/b/busybox:1`);
  const events: PushEvent[] = [];
  const m = await pushImage(store, `${reg.host}/b/busybox:1`, { config: isolated(), mountFrom: ['a/busybox'], onProgress: (e) => events.push(e) });
  assert.is(m.uploaded, 0);
  assert.ok(events.some((e) => e.kind === 'layer' && e.status === 'mounted'));
  const out = join(tmp(), 'oci');
  await run('skopeo', ['copy', '-q', ...skopeoArgs(reg, 'src'), `docker://${reg.host}/b/busybox:1`, `oci:${out}:x`]);
  const other = openStore();
  assert.is((await pullImage(other, `${reg.host}/b/busybox:1`, { config: isolated() })).id, f.imageId);
  store.close();
  other.close();
});

test('push --all-tags pushes every local tag of the repository, and refuses a tag or a repository with none', async () => {
  const f = await fixture('busybox');
  const store = openStore();
  await loadArchive(store, createReadStream(f.dockerArchive!));
  for (const t of ['1', '2', 'latest']) store.images.tag('busybox:latest', `${reg.host}/all/busybox:${t}`);
  store.images.tag('busybox:latest', `${reg.host}/other/busybox:9`);
  assert.equal(localTags(store, `${reg.host}/all/busybox`), ['1', '2', 'latest'].map((t) => `${reg.host}/all/busybox:${t}`));
  const rs = await pushAllTags(store, `${reg.host}/all/busybox`, { config: isolated() });
  assert.equal(rs.map((r) => r.tag), ['1', '2', 'latest']);
  assert.equal(rs.map((r) => r.uploaded), [2, 0, 0]);
  const client = new Registries(isolated()).client(reg.host);
  assert.equal((await listTags(client, 'all/busybox')).sort(), ['1', '2', 'latest']);
  await rejects(pushAllTags(store, `${reg.host}/all/busybox:1`, { config: isolated() }), /tag can't be used with --all-tags\/-a/);
  await rejects(pushAllTags(store, `${reg.host}/none/busybox`, { config: isolated() }), /does not exist locally/);
  client.close();
  store.close();
});

test.run();
