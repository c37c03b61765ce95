// OverlaySnapshotter's plans and records, above the door (a recording fake; no root needed).
import { existsSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RecordingSys } from '@berth/native';
import { OverlaySnapshotter, fnv1a64 } from './overlay.js';
import { CopySnapshotter } from './vfs.js';
import { pruneInitLayers } from './init.js';

const test = suite<{ tmp: string; root: string; layers: string[] }>('overlay plans', { tmp: '', root: '', layers: [] });

test.before.each(async (ctx) => {
  ctx.tmp = await mkdtemp(join(tmpdir(), 'berth-ovl-'));
  ctx.root = join(ctx.tmp, 'root');
  ctx.layers = [];
  for (let i = 0; i < 3; i++) {
    const d = join(ctx.tmp, 'layers', `l${i}`);
    await mkdir(d, { recursive: true });
    ctx.layers.push(d);
  }
});
test.after.each(async (ctx) => {
  await rm(ctx.tmp, { recursive: true, force: true });
});

test('a read-write rootfs is an overlay of short links, mounted from $root/overlay', async ({ root, layers }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys(), mountOptions: ['index=off'] });
  const [m, ...rest] = await snap.prepare('c1', layers);
  assert.equal(rest, []);
  const c = join(root, 'containers/c1');
  assert.is(m?.type, 'overlay');
  assert.is(m?.target, join(c, 'rootfs'));
  assert.is(m?.cwd, join(root, 'overlay'));
  const lowerdir = m?.options[0] ?? '';
  assert.match(lowerdir, /^lowerdir=l\/[0-9a-f]{12}:l\/[0-9a-f]{12}:l\/[0-9a-f]{12}$/);
  // Each short link names its layer, in the order given (topmost first).
  const targets = lowerdir.slice('lowerdir='.length).split(':').map((l) => readlinkSync(join(root, 'overlay', l)));
  assert.equal(targets, layers);
  assert.equal(m?.options.slice(1), [`upperdir=${c}/upper`, `workdir=${c}/work`, 'index=off']);
  assert.ok(existsSync(join(c, 'upper')) && existsSync(join(c, 'work')) && existsSync(join(c, 'rootfs')));
  const rec = JSON.parse(readFileSync(join(c, 'snapshot.json'), 'utf8')) as { driver: string; lowerDirs: string[] };
  assert.is(rec.driver, 'overlay');
  assert.equal(rec.lowerDirs, layers);
});

test('prepare completes a prepare that crashed before writing its record', async ({ root, layers }) => {
  const c = join(root, 'containers/c');
  for (const d of ['upper', 'work', 'rootfs']) await mkdir(join(c, d), { recursive: true });
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  assert.is((await snap.prepare('c', layers)).length, 1);
  assert.ok(existsSync(join(c, 'snapshot.json')));
});

test('two containers of one image share the links', async ({ root, layers }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  const [a] = await snap.prepare('a', layers);
  const [b] = await snap.prepare('b', layers);
  assert.is(a?.options[0], b?.options[0]);
});

test('read-only: one layer is a read-only bind; several are an overlay without upper', async ({ root, layers }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  assert.equal(await snap.prepare('one', layers.slice(0, 1), { readonly: true }), [
    { type: 'bind', source: layers[0], target: join(root, 'containers/one/rootfs'), options: ['rbind', 'ro'] },
  ]);
  const [m] = await snap.prepare('many', layers, { readonly: true });
  assert.is(m?.options[0], 'ro');
  assert.ok(m?.options.every((o) => !o.startsWith('upperdir=') && !o.startsWith('workdir=')));
  assert.not.ok(existsSync(join(root, 'containers/many/upper')));
});

test('volatile: a read-write overlay carries the option when the kernel takes it, and the record says so', async ({ root, layers }) => {
  const sys = new RecordingSys();
  const snap = new OverlaySnapshotter({ root, sys, mountOptions: ['index=off'], volatileSupported: true });
  const [m] = await snap.prepare('v', layers, { volatile: true });
  assert.is(m?.options.at(-1), 'volatile');
  const rec = (key: string): { volatile: boolean } => JSON.parse(readFileSync(join(root, 'containers', key, 'snapshot.json'), 'utf8')) as { volatile: boolean };
  assert.is(rec('v').volatile, true);
  // Nothing to sync, or not asked for, or not supported: no option.
  const [ro] = await snap.prepare('ro', layers, { readonly: true, volatile: true });
  const [plain] = await snap.prepare('plain', layers);
  const [old] = await new OverlaySnapshotter({ root, sys }).prepare('old', layers, { volatile: true });
  for (const [key, mount] of [['ro', ro], ['plain', plain], ['old', old]] as const) {
    assert.not.ok(mount?.options.includes('volatile'), key);
    assert.is(rec(key).volatile, false, key);
  }
  assert.equal(await snap.prepare('v', layers, { volatile: true }), [m], 'repeatable');
  try {
    await snap.prepare('v', layers);
    assert.unreachable('another durability');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'Conflict');
  }
});

test("mounting a volatile rootfs again clears the kernel's mark of the last volatile mount", async ({ root, layers }) => {
  const sys = new RecordingSys();
  const snap = new OverlaySnapshotter({ root, sys, volatileSupported: true });
  await snap.prepare('v', layers, { volatile: true });
  await snap.prepare('d', layers);
  for (const key of ['v', 'd']) await mkdir(join(root, 'containers', key, 'work/work/incompat/volatile'), { recursive: true });
  await snap.mount('v');
  await snap.mount('d');
  assert.is(sys.mounts.length, 2);
  assert.not.ok(existsSync(join(root, 'containers/v/work/work/incompat')));
  assert.ok(existsSync(join(root, 'containers/d/work/work/incompat/volatile')), 'a durable rootfs is left to the kernel to judge');
});

test('vfs ignores volatile', async ({ root, layers }) => {
  const [m] = await new CopySnapshotter({ root, sys: new RecordingSys() }).prepare('c', layers, { volatile: true });
  assert.equal(m?.options, ['rbind', 'rw']);
  assert.is((JSON.parse(readFileSync(join(root, 'containers/c/snapshot.json'), 'utf8')) as { volatile: boolean }).volatile, false);
});

test('an image without layers binds the upper dir', async ({ root }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  const c = join(root, 'containers/scratch');
  assert.equal(await snap.prepare('scratch', []), [{ type: 'bind', source: `${c}/upper`, target: `${c}/rootfs`, options: ['rbind', 'rw'] }]);
});

test('128 layers fit the mount data page; a chain too long for it is refused with a clear error', async ({ root, tmp }) => {
  const many: string[] = [];
  for (let i = 0; i < 400; i++) {
    const d = join(tmp, 'a-long-layer-directory-name-like-a-chain-id-0123456789abcdef', String(i));
    await mkdir(d, { recursive: true });
    many.push(d);
  }
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  const [m] = await snap.prepare('big', many.slice(0, 128));
  const data = m?.options.join(',') ?? '';
  assert.ok(Buffer.byteLength(data) < 4096, `${Buffer.byteLength(data)} bytes`);
  assert.ok(many.slice(0, 128).join(':').length > 4096, 'absolute paths would not have fit');
  try {
    await snap.prepare('huge', many);
    assert.unreachable('400 layers');
  } catch (e) {
    assert.match((e as Error).message, /too many layers \(400\)/);
    assert.is((e as { code?: string }).code, 'InvalidArgument');
  }
  assert.not.ok(existsSync(join(root, 'containers/huge')), 'a failed prepare leaves nothing behind');
});

test('mount records the mount before performing it, and forgets it when the mount fails', async ({ root, layers }) => {
  const recording = new RecordingSys();
  const records: string[] = [];
  const sys = {
    mount: (...a: Parameters<RecordingSys['mount']>) => {
      records.push(readFileSync(join(root, 'containers/c/mounts.json'), 'utf8'));
      recording.mount(...a);
    },
    umount2: recording.umount2.bind(recording),
  };
  const snap = new OverlaySnapshotter({ root, sys });
  await snap.prepare('c', layers);
  await snap.mount('c');
  const rec = JSON.parse(records[0] ?? '{}') as { mounts: Array<{ target: string; type: string }> };
  assert.equal(rec.mounts.map((m) => [m.target, m.type]), [[join(root, 'containers/c/rootfs'), 'overlay']]);
  assert.is(recording.mounts.length, 1);

  recording.failOn({ op: 'mount', errno: 'EBUSY' });
  await snap.prepare('d', layers);
  try {
    await snap.mount('d');
    assert.unreachable('mount should fail');
  } catch (e) {
    assert.is((e as { errno?: string }).errno, 'EBUSY');
  }
  const after = JSON.parse(await readFile(join(root, 'containers/d/mounts.json'), 'utf8')) as { mounts: unknown[] };
  assert.equal(after.mounts, []);
});

test("a layer dir named by a digest (layer-store's chain IDs) is linked by that name; a clash takes a longer one", async ({ tmp, root }) => {
  const id = 'ab'.repeat(32);
  const a = join(tmp, 'store-a', id);
  const b = join(tmp, 'store-b', id);
  await mkdir(a, { recursive: true });
  await mkdir(b, { recursive: true });
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  assert.is(await snap.link(a), `l/${id.slice(0, 12)}`);
  assert.is(await snap.link(b), `l/${id.slice(0, 20)}`, 'same name, other dir: the next length');
  // Another process (a new snapshotter) finds the same links.
  const again = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  assert.is(await again.link(b), `l/${id.slice(0, 20)}`);
  assert.is(readlinkSync(join(root, 'overlay', `l/${id.slice(0, 12)}`)), a);
});

test('the containers of one image share one init layer, linked by a hash of its path, until the image is gone', async ({ root, layers }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  const init = [{ path: '/etc/hosts', kind: 'file' as const }];
  const lowerOf = (m: { options: readonly string[] } | undefined) =>
    (m?.options ?? []).find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? [];
  const [a] = await snap.prepare('a', layers, { init });
  const [b] = await snap.prepare('b', layers, { init });
  const shared = readlinkSync(join(root, 'overlay', lowerOf(a)[0] ?? ''));
  assert.is(lowerOf(a)[0], `l/${fnv1a64(shared).slice(0, 12)}`);
  assert.equal(lowerOf(b), lowerOf(a), 'one init layer, one link');
  assert.match(shared, new RegExp(`^${join(root, 'overlay/init')}/[0-9a-f]{16}$`));
  assert.ok(existsSync(join(shared, 'etc/hosts')));
  assert.equal(JSON.parse(readFileSync(`${shared}.json`, 'utf8')), { lowerDirs: layers, entries: init });
  assert.not.ok(existsSync(join(root, 'containers/a/init')), 'no init layer of its own');
  // Another image (other layers) gets another one.
  const [c] = await snap.prepare('c', layers.slice(1), { init });
  assert.is.not(lowerOf(c)[0], lowerOf(a)[0]);
  await snap.remove('a');
  await snap.remove('b');
  assert.ok(existsSync(shared), 'it outlives its containers: the next one of the image uses it');
  assert.is(pruneInitLayers(root), 0, 'nothing to prune while the image is there');
  await rm(layers[0] ?? '', { recursive: true });
  assert.is(pruneInitLayers(root), 1, "the image's layer is gone: so is its init layer");
  assert.not.ok(existsSync(shared));
  assert.not.ok(existsSync(`${shared}.json`));
  assert.ok(existsSync(readlinkSync(join(root, 'overlay', lowerOf(c)[0] ?? ''))), "the other image's stays");
  assert.is(await snap.pruneLinks(), 2, 'then pruneLinks drops the links of the layer and of its init layer');
});

test("a name taken by another image's init layer (a hash clash): the container makes its own", async ({ root, layers }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  const init = [{ path: '/etc/hosts', kind: 'file' as const }];
  const [a] = await snap.prepare('a', layers, { init });
  const shared = readlinkSync(join(root, 'overlay', (a?.options[0] ?? '').slice('lowerdir='.length).split(':')[0] ?? ''));
  await snap.remove('a');
  writeFileSync(`${shared}.json`, JSON.stringify({ lowerDirs: ['/elsewhere'], entries: init }));
  const [b] = await snap.prepare('b', layers, { init });
  const own = readlinkSync(join(root, 'overlay', (b?.options[0] ?? '').slice('lowerdir='.length).split(':')[0] ?? ''));
  assert.is(own, join(root, 'containers/b/init'));
  assert.ok(existsSync(join(own, 'etc/hosts')));
  await snap.remove('b');
  assert.not.ok(existsSync(own), 'its own init layer goes with it');
});

test('prune removes what a crashed prepare left of an init layer, once it is old', async ({ root }) => {
  const left = join(root, 'overlay/init', `${'ab'.repeat(8)}.tmp-1-0`);
  await mkdir(join(left, 'etc'), { recursive: true });
  assert.is(pruneInitLayers(root), 0, 'a fresh one may be a prepare at work');
  const hourAgo = new Date(Date.now() - 2 * 3600_000);
  utimesSync(left, hourAgo, hourAgo);
  assert.is(pruneInitLayers(root), 1);
  assert.not.ok(existsSync(left));
});

test('fnv1a64 is FNV-1a: the published test vectors', () => {
  assert.is(fnv1a64(''), 'cbf29ce484222325');
  assert.is(fnv1a64('a'), 'af63dc4c8601ec8c');
  assert.is(fnv1a64('foobar'), '85944171f73967e8');
});

test('pruneLinks removes the links of deleted layers only', async ({ root, layers }) => {
  const snap = new OverlaySnapshotter({ root, sys: new RecordingSys() });
  await snap.prepare('c', layers);
  await rm(layers[1] ?? '', { recursive: true });
  assert.is(await snap.pruneLinks(), 1);
  const left = (await readdir(join(root, 'overlay/l'))).map((l) => readlinkSync(join(root, 'overlay/l', l))).sort();
  assert.equal(left, [layers[0], layers[2]].sort());
  assert.is(await snap.pruneLinks(), 0);
});

test('a key held by another process is waited for, and the wait can be aborted', async ({ root, layers }) => {
  const sys = new RecordingSys().failOn({ op: 'flock', errno: 'EWOULDBLOCK', times: 3 });
  const snap = new OverlaySnapshotter({ root, sys });
  await snap.prepare('c', layers);
  assert.is(sys.callsOf('flock').length, 4, 'three refusals, then the lock');
  assert.equal(sys.callsOf('flock')[0]?.args.slice(1), ['exclusive', true]);
  sys.failOn({ op: 'flock', errno: 'EWOULDBLOCK', times: 1000 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  try {
    await snap.prepare('c', layers, { signal: ac.signal });
    assert.unreachable('aborted');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'Canceled');
  }
});

test('a rootfs made by one driver is refused by the other', async ({ root, layers }) => {
  const sys = new RecordingSys();
  await new OverlaySnapshotter({ root, sys }).prepare('c', layers);
  try {
    await new CopySnapshotter({ root, sys }).mount('c');
    assert.unreachable('driver mismatch');
  } catch (e) {
    assert.match((e as Error).message, /made by the overlay driver, not vfs/);
  }
});

test.run();
