// The store end to end with the shared fixtures, as root (unpacking keeps owners and makes
// whiteout devices): load both formats, stack layers with a real overlay mount, save and reload,
// tag/rmi/GC, import, check.
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture, readTree, withoutXattrs } from '../../../tools/fixtures/index.js';
import {
  Store, checkStore, collectGarbage, imageDiskUsage, imageHistory, importTarball, inspectImage, loadArchive, loadMessages,
  loadOciDir, pruneImages, saveArchive, saveOciDir, type Digest,
} from './index.js';
import { from, getXattr, makeTar, testSys } from './testing.js';

const dirs: string[] = [];
const mounts: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'berth-store-')); dirs.push(d); return d; };
const open = () => Store.open(join(tmp(), 'root'), { sys: testSys });

test('a docker-archive loads with the same image ID, tagged, its layers unpacked', async () => {
  const f = await fixture('busybox');
  const store = open();
  const r = await loadArchive(store, createReadStream(f.dockerArchive ?? ''));
  assert.equal(loadMessages(r), ['Loaded image: busybox:latest']);
  const img = store.images.resolve('busybox');
  assert.is(img.id, f.imageId);
  assert.equal(img.layers.map((l) => l.diffID), f.diffIDs);
  for (const c of f.images[0]?.chainIDs ?? []) assert.ok(store.layers.has(c as Digest), c);
  assert.ok(existsSync(join(store.layers.path(img.layers[0]?.chainID as Digest), 'bin/busybox')));
  assert.is(store.images.resolve(img.id.slice(7, 19)).id, img.id);
  assert.is(store.images.resolve('docker.io/library/busybox:latest').id, img.id);
  assert.equal((await checkStore(store)).problems, []);
  store.close();
});

test('the layered OCI layout stacks (real overlay mount) into exactly the expected tree', async () => {
  const f = await fixture('layered');
  const store = open();
  const r = await loadOciDir(store, f.ociLayout, { repo: 'layered' });
  assert.equal(loadMessages(r), ['Loaded image: layered:latest']);
  const img = store.images.resolve('layered:latest');
  assert.is(img.id, f.imageId);
  assert.equal(img.manifests.map((m) => m.digest), [f.manifestDigest]);
  const mnt = join(tmp(), 'mnt');
  mkdirSync(mnt);
  const lower = [...img.layers].reverse().map((l) => store.layers.path(l.chainID)).join(':');
  const m = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}`, mnt], { encoding: 'utf8' });
  assert.is(m.status, 0, m.stderr);
  mounts.push(mnt);
  try {
    const expected = f.images[0]?.tree ?? {};
    assert.equal(await readTree(mnt), withoutXattrs(expected));
    for (const [p, n] of Object.entries(expected)) {
      for (const [k, v] of Object.entries(n.xattrs ?? {})) assert.is(getXattr(join(mnt, p), k), v, `${p} ${k}`);
    }
  } finally {
    spawnSync('umount', [mnt]);
    mounts.pop();
  }
  store.close();
});

test('save writes archives that load back with the same ID (docker-archive, OCI tar, OCI dir)', async () => {
  const f = await fixture('layered');
  const a = open();
  await loadArchive(a, createReadStream(f.dockerArchive ?? ''));
  const id = a.images.resolve('layered').id;
  const d = tmp();
  await saveArchive(a, ['layered'], createWriteStream(join(d, 'docker.tar')));
  await saveArchive(a, ['layered:latest'], createWriteStream(join(d, 'oci.tar')), 'oci-archive');
  await saveOciDir(a, [id], join(d, 'oci-dir'));
  for (const [name, load] of [
    ['docker.tar', (s: Store) => loadArchive(s, createReadStream(join(d, 'docker.tar')))],
    ['oci.tar', (s: Store) => loadArchive(s, createReadStream(join(d, 'oci.tar')))],
    ['oci-dir', (s: Store) => loadOciDir(s, join(d, 'oci-dir'))],
  ] as const) {
    const b = open();
    const r = await load(b);
    assert.equal(r.images.map((i) => i.id), [id], name);
    if (name !== 'oci-dir') assert.equal(b.images.get(id).tags, ['docker.io/library/layered:latest'], name);
    b.close();
  }
  a.close();
});

test('multi-image archives go both ways; a multi-platform layout loads the host platform', async () => {
  const bb = await fixture('busybox');
  const la = await fixture('layered');
  const multi = await fixture('multiarch');
  const a = open();
  await loadArchive(a, createReadStream(bb.dockerArchive ?? ''));
  await loadArchive(a, createReadStream(la.dockerArchive ?? ''));
  const d = tmp();
  for (const format of ['docker-archive', 'oci-archive'] as const) {
    const file = join(d, `${format}.tar`);
    await saveArchive(a, ['busybox', 'layered:latest'], createWriteStream(file), format);
    const b = open();
    const r = await loadArchive(b, createReadStream(file));
    assert.equal(loadMessages(r).sort(), ['Loaded image: busybox:latest', 'Loaded image: layered:latest'], format);
    assert.equal(b.images.list().map((i) => i.id).sort(), [bb.imageId, la.imageId].sort(), format);
    b.close();
  }
  const m = open();
  const r = await loadOciDir(m, multi.ociLayout, { repo: 'multi' });
  const amd64 = multi.images.find((i) => i.platform.architecture === 'amd64');
  assert.equal(r.images.map((i) => i.id), [amd64?.configDigest]);
  assert.is(m.images.resolve('multi:latest').architecture, 'amd64');
  a.close();
  m.close();
});

test('tag, rmi and GC: untag keeps the image, the last name deletes it and GC frees its blobs and layers', async () => {
  const f = await fixture('busybox');
  const store = open();
  await loadArchive(store, createReadStream(f.dockerArchive ?? ''));
  store.images.tag('busybox', 'localhost:5000/mine:v1');
  assert.equal(store.images.resolve('busybox').tags, ['docker.io/library/busybox:latest', 'localhost:5000/mine:v1']);
  assert.throws(() => store.images.remove(f.imageId), /referenced in multiple repositories/);
  assert.equal(store.images.remove('localhost:5000/mine:v1'), { untagged: ['localhost:5000/mine:v1'], deleted: [] });
  store.images.setUsers({ containersUsing: () => ['c0ffee'], imagesInUse: () => [f.imageId as Digest] });
  assert.throws(() => store.images.remove('busybox'), /container c0ffee is using its referenced image/);
  store.images.setUsers({ containersUsing: () => [], imagesInUse: () => [] });
  const r = store.images.remove('busybox');
  assert.equal(r.untagged, ['busybox:latest']);
  assert.is(r.deleted[0], f.imageId);
  const gc = collectGarbage(store);
  assert.ok(gc.blobs.includes(f.imageId as Digest));
  assert.equal(store.blobs.list(), []);
  assert.equal(store.layers.list(), []);
  assert.equal(store.images.list(), []);
  assert.throws(() => store.images.resolve('busybox'), /no such image/);
  store.close();
});

test('import makes a one-layer image with --change applied; history and inspect are Docker-shaped', async () => {
  const store = open();
  const tar = await makeTar([{ name: 'hello.txt', body: 'hi\n' }, { name: 'bin/', type: 'directory', mode: 0o755 }]);
  const id = await importTarball(store, from(tar), { tag: 'imported:1', changes: ['CMD ["/bin/sh"]', 'ENV A=b C=d', 'WORKDIR /w', 'EXPOSE 80'] });
  const i = inspectImage(store, 'imported:1');
  assert.is(i.Id, id);
  assert.equal(i.RepoTags, ['imported:1']);
  assert.equal(i.Config, { Cmd: ['/bin/sh'], Env: ['A=b', 'C=d'], WorkingDir: '/w', ExposedPorts: { '80/tcp': {} } });
  assert.is(i.RootFS.Layers.length, 1);
  assert.is(i.Size, 3, 'the size of the unpacked content');
  const h = imageHistory(store, 'imported:1');
  assert.is(h.length, 1);
  assert.is(h[0]?.id, id);
  assert.is(h[0]?.comment, 'Imported from -');
  assert.ok(store.layers.has(store.images.get(id).layers[0]?.chainID as Digest));
  store.close();
});

test('prune removes dangling images; df counts shared layers once', async () => {
  const f = await fixture('busybox');
  const l = await fixture('layered');
  const store = open();
  await loadArchive(store, createReadStream(f.dockerArchive ?? ''));
  await loadArchive(store, createReadStream(l.dockerArchive ?? ''));
  const df = imageDiskUsage(store);
  assert.is(df.total, 2);
  const bb = df.images.find((x) => x.id === f.imageId);
  const la = df.images.find((x) => x.id === l.imageId);
  assert.ok(bb && la);
  assert.is(bb.unique, 0, 'busybox base layer is shared with layered');
  assert.is(la.shared, bb.shared);
  assert.is(df.size, la.size);
  store.images.untag('busybox');
  const p = pruneImages(store);
  assert.is(p.removed.length, 1);
  assert.ok(p.reclaimed > 0);
  assert.equal(store.images.list().map((i) => i.id), [l.imageId]);
  assert.equal(pruneImages(store, { all: true }).removed.length, 1);
  assert.equal(store.blobs.list(), []);
  store.close();
});

test('a corrupt archive is refused and leaves no image and no visible partial blob', async () => {
  const f = await fixture('busybox');
  const store = open();
  const bytes: Buffer[] = [];
  for await (const c of createReadStream(f.dockerArchive ?? '')) bytes.push(c as Buffer);
  const whole = Buffer.concat(bytes);
  try {
    await loadArchive(store, from(whole.subarray(0, Math.floor(whole.length / 2))));
    assert.unreachable('should have failed');
  } catch (e) {
    assert.match((e as Error).message, /not a valid tar, or is truncated|truncated/);
  }
  assert.equal(store.images.list(), []);
  collectGarbage(store);
  assert.equal(store.blobs.list(), []);
  assert.equal(readdirSync(store.blobs.tmpDir), []);
  store.close();
});

test.after(() => {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
test.run();
