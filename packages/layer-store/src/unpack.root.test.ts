// Unpacking real layer tars as root: attributes, whiteouts, and the hostile-tar suite.
import { spawnSync } from 'node:child_process';
import { writeFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { digestOf, type Digest } from './digest.js';
import { LayerStore } from './layers.js';
import { UnpackPool } from './unpack-pool.js';
import { entryPath } from './unpack.js';
import { from, getXattr, makeTar, rejects, testSys, type Entry } from './testing.js';
import { LinuxSys } from '@berth/native';

const linux = new LinuxSys();


const dirs: string[] = [];
function setup() {
  const base = mkdtempSync(join(tmpdir(), 'berth-unpack-'));
  dirs.push(base);
  const root = join(base, 'root');
  mkdirSync(join(root, 'layers'), { recursive: true });
  return { base, store: new LayerStore(root, testSys), outside: base };
}
const cid = (s: string): Digest => digestOf(s);

test('entry names are normalized inside the root or refused', () => {
  assert.is(entryPath('./a/b/'), 'a/b');
  assert.is(entryPath('/etc/passwd'), 'etc/passwd');
  assert.is(entryPath('a/../b'), 'b');
  assert.is(entryPath('./'), '.');
  assert.throws(() => entryPath('../escape'), /climbs out of the layer root/);
  assert.throws(() => entryPath('a/../../x'), /climbs out/);
  assert.throws(() => entryPath('x'.repeat(10_000)), /10000 bytes long/);
  assert.throws(() => entryPath('a/' + 'y'.repeat(300)), /over 255 bytes/);
});

test('a layer keeps owners, modes (setuid), mtimes, links, devices, fifos, xattrs; whiteouts become overlay form', async () => {
  const { store } = setup();
  const tar = await makeTar([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/su', body: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/busybox', body: 'BB', mode: 0o755, uid: 1000, gid: 1001 },
    { name: 'bin/ash', type: 'link', linkname: 'bin/busybox' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'run/fifo', type: 'fifo', mode: 0o600 },
    { name: 'etc/attr', body: 'x', pax: { 'SCHILY.xattr.user.berth': 'hello' } },
    { name: 'etc/.wh.gone', body: '' },
    { name: 'opt/.wh..wh..opq', body: '' },
  ]);
  const gz = gzipSync(tar);
  const diffID = digestOf(tar);
  const r = await store.unpack(cid('l1'), from(gz), { expectedDiffID: diffID });
  assert.ok(r);
  assert.is(r.diffID, diffID);
  assert.is(r.digest, digestOf(gz));
  assert.is(r.diffSize, tar.length);
  const d = store.path(cid('l1'));
  const su = lstatSync(join(d, 'bin/su'));
  assert.is(su.mode & 0o7777, 0o4755);
  assert.is(su.mtimeMs, 1_600_000_000_000);
  const bb = lstatSync(join(d, 'bin/busybox'));
  assert.is(bb.uid, 1000); assert.is(bb.gid, 1001);
  assert.is(bb.nlink, 2);
  assert.is(lstatSync(join(d, 'bin/ash')).ino, bb.ino);
  assert.is(readlinkSync(join(d, 'bin/sh')), 'busybox');
  const dn = lstatSync(join(d, 'dev/null'));
  assert.ok(dn.isCharacterDevice()); assert.is(dn.rdev, (1 << 8) | 3);
  assert.ok(lstatSync(join(d, 'run/fifo')).isFIFO());
  assert.is(getXattr(join(d, 'etc/attr'), 'user.berth'), 'hello');
  const wh = lstatSync(join(d, 'etc/gone'));
  assert.ok(wh.isCharacterDevice()); assert.is(wh.rdev, 0);
  assert.not.ok(existsSync(join(d, 'etc/.wh.gone')));
  assert.is(getXattr(join(d, 'opt'), 'trusted.overlay.opaque'), 'y');
  assert.is(readdirSync(store.dir).length, 1);
});

test('a zstd-compressed layer unpacks (when the zstd tool is there to make one)', async () => {
  const { store, base } = setup();
  const tar = await makeTar([{ name: 'z/hello', body: 'zstd!\n'.repeat(1000) }]);
  writeFileSync(join(base, 'l.tar'), tar);
  const z = spawnSync('zstd', ['-q', '-19', join(base, 'l.tar'), '-o', join(base, 'l.tar.zst')]);
  if (z.status !== 0) { console.log('# skip: zstd tool missing, no zstd layer to test'); return; }
  const zst = readFileSync(join(base, 'l.tar.zst'));
  const r = await store.unpack(cid('zstd'), from(zst), { expectedDiffID: digestOf(tar) });
  assert.is(r?.digest, digestOf(zst));
  assert.is(readFileSync(join(store.path(cid('zstd')), 'z/hello'), 'utf8'), 'zstd!\n'.repeat(1000));
  await rejects(store.unpack(cid('zbad'), from(Buffer.concat([zst.subarray(0, 20), Buffer.alloc(100, 7)]))), /zstd layer is corrupt|not a valid tar/);
});

test('two unpacks of one layer at once: one wins, the other keeps its result, no temp dir is left', async () => {
  const { store } = setup();
  const tar = await makeTar(Array.from({ length: 200 }, (_, i) => ({ name: `f${i}`, body: `file ${i}` })));
  const [a, b] = await Promise.all([store.unpack(cid('race'), from(tar)), store.unpack(cid('race'), from(tar))]);
  assert.is(a?.diffID, digestOf(tar));
  assert.is(b?.diffID, digestOf(tar));
  assert.equal(readdirSync(store.dir), [cid('race').slice(7)]);
  assert.is(readdirSync(store.path(cid('race'))).length, 200);
});

test('more layers than unpack workers: a worker takes several at once, each gets its own bytes', async () => {
  const { base } = setup();
  const pool = new UnpackPool(1);
  const tars = await Promise.all([0, 1, 2].map((n) => makeTar(Array.from({ length: 50 }, (_, i) => ({ name: `l${n}/f${i}`, body: `layer ${n} file ${i}` })))));
  // Layer 0 stops after 1 KiB until the others are done: they must not wait for it.
  let releaseFirst: () => void = () => undefined;
  const held = new Promise<void>((r) => { releaseFirst = r; });
  const finished: number[] = [];
  async function* source(n: number): AsyncGenerator<Buffer> {
    const tar = tars[n] as Buffer;
    for (let i = 0; i < tar.length; i += 1024) {
      if (n === 0 && i === 1024) await held;
      yield tar.subarray(i, i + 1024);
    }
  }
  const dirsOf = [0, 1, 2].map((n) => { const d = join(base, `u${n}`); mkdirSync(d); return d; });
  const jobs = [0, 1, 2].map((n) => pool.unpack(source(n), dirsOf[n] as string).then((r) => { finished.push(n); return r; }));
  await Promise.all([jobs[1], jobs[2]]);
  assert.equal(finished.sort(), [1, 2], 'layers 1 and 2 finished beside the stalled layer 0');
  releaseFirst();
  const results = await Promise.all(jobs);
  for (const [n, r] of results.entries()) {
    assert.is(r.diffID, digestOf(tars[n] as Buffer));
    assert.is(readdirSync(join(dirsOf[n] as string, `l${n}`)).length, 50);
  }
  // A failing layer fails alone; the worker goes on with the next.
  const bad = join(base, 'bad');
  mkdirSync(bad);
  await rejects(pool.unpack(from(Buffer.alloc(4096, 7)), bad), /not a valid tar/);
  const again = join(base, 'again');
  mkdirSync(again);
  assert.is((await pool.unpack(from(tars[1] as Buffer), again)).diffID, digestOf(tars[1] as Buffer));
  await pool.close();
});

test('binary xattrs (security.capability, user.*) survive byte for byte (GNU tar --xattrs layer)', async () => {
  const { store, base } = setup();
  const src = join(base, 'src');
  mkdirSync(join(src, 'bin'), { recursive: true });
  writeFileSync(join(src, 'bin/ping'), 'ELF?');
  const cap = Buffer.from('0100000280200000000000000000000000000000', 'hex'); // v2, effective, cap_setuid|cap_net_raw
  const bin = Buffer.from([0xff, 0xfe, 0x80, 0x00, 0x01, 0xc3]);
  testSys.lsetxattr(join(src, 'bin/ping'), 'security.capability', cap);
  testSys.lsetxattr(join(src, 'bin/ping'), 'user.bin', bin);
  const t = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '-C', src, '-cf', join(base, 'x.tar'), 'bin'], { encoding: 'utf8' });
  assert.is(t.status, 0, t.stderr);
  const tar = readFileSync(join(base, 'x.tar'));
  assert.ok(tar.includes(Buffer.from('SCHILY.xattr.user.bin=')), 'GNU tar wrote the xattr as PAX');
  await store.unpack(cid('caps'), from(tar));
  const p = join(store.path(cid('caps')), 'bin/ping');
  assert.equal(linux.lgetxattr(p, 'security.capability'), cap);
  assert.equal(linux.lgetxattr(p, 'user.bin'), bin);
});

test('a diffID mismatch fails and leaves no layer', async () => {
  const { store } = setup();
  const tar = await makeTar([{ name: 'a', body: 'a' }]);
  await rejects(store.unpack(cid('x'), from(tar), { expectedDiffID: digestOf('other') }), /diffID mismatch/);
  assert.equal(readdirSync(store.dir), []);
});

// The hostile suite: each tar is refused or contained; nothing is written outside the layer root.
const hostile: Array<{ name: string; entries: () => Entry[]; refused?: RegExp; contained?: (layer: string) => void }> = [
  { name: '../escape', entries: () => [{ name: '../escape', body: 'pwned' }], refused: /climbs out/ },
  { name: 'a/../../escape', entries: () => [{ name: 'a/', type: 'directory' }, { name: 'a/../../escape', body: 'pwned' }], refused: /climbs out/ },
  {
    name: '/abs is taken inside the root', entries: () => [{ name: '/abs-escape', body: 'inside' }],
    contained: (l) => assert.is(readFileSync(join(l, 'abs-escape'), 'utf8'), 'inside'),
  },
  {
    name: 'symlink a -> / then a/etc/passwd', entries: () => [{ name: 'a', type: 'symlink', linkname: '/' }, { name: 'a/escape-passwd', body: 'pwned' }],
    contained: (l) => { assert.is(readFileSync(join(l, 'escape-passwd'), 'utf8'), 'pwned'); assert.is(readlinkSync(join(l, 'a')), '/'); },
  },
  {
    name: 'symlink chain out of the root', entries: () => [
      { name: 'x', type: 'symlink', linkname: 'y' }, { name: 'y', type: 'symlink', linkname: '../../../../..' },
      { name: 'x/chain-escape', body: 'pwned' }],
    contained: (l) => assert.is(readFileSync(join(l, 'chain-escape'), 'utf8'), 'pwned'),
  },
  { name: 'hard link to /etc/shadow', entries: () => [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }], refused: /not in the layer/ },
  { name: 'hard link via ../', entries: () => [{ name: 'shadow', type: 'link', linkname: '../../../../etc/shadow' }], refused: /climbs out/ },
  {
    name: 'hard link through a symlink out', entries: () => [{ name: 'e', type: 'symlink', linkname: '/etc' }, { name: 'shadow', type: 'link', linkname: 'e/shadow' }],
    refused: /not in the layer/,
  },
  { name: 'a 10,000-byte name', entries: () => [{ name: 'n'.repeat(10_000), body: 'x' }], refused: /10000 bytes long/ },
  {
    // A later file replaces what an earlier entry left under its name, never writing through it.
    name: 'a symlink out, then a file of the same name', entries: () => [
      { name: 'f', type: 'symlink', linkname: '../../../../../tmp/berth-unpack-written-through' }, { name: 'f', body: 'replaced' },
      { name: 'd/', type: 'directory' }, { name: 'd/inner', body: 'x' }, { name: 'd', body: 'file now' }],
    contained: (l) => {
      assert.ok(lstatSync(join(l, 'f')).isFile());
      assert.is(readFileSync(join(l, 'f'), 'utf8'), 'replaced');
      assert.not.ok(existsSync('/tmp/berth-unpack-written-through'));
      assert.is(readFileSync(join(l, 'd'), 'utf8'), 'file now');
    },
  },
];

for (const h of hostile) {
  test(`hostile tar: ${h.name}`, async () => {
    const { store, base } = setup();
    const before = readdirSync(base).sort();
    const tar = await makeTar(h.entries());
    const id = cid(h.name);
    if (h.refused) {
      await rejects(store.unpack(id, from(tar)), h.refused);
      assert.not.ok(store.has(id));
      assert.equal(readdirSync(store.dir), [], 'the store is unchanged');
    } else {
      await store.unpack(id, from(tar));
      h.contained?.(store.path(id));
    }
    assert.equal(readdirSync(base).sort(), before, 'nothing written beside the store');
    for (const f of ['/escape', '/abs-escape', '/escape-passwd', '/chain-escape', join(tmpdir(), 'escape')]) assert.not.ok(existsSync(f), `${f} must not exist`);
    assert.not.ok(readFileSync('/etc/passwd', 'utf8').includes('pwned'));
  });
}

test('hostile tar: a 10 GB entry with a short body is refused and leaves nothing', async () => {
  const { store } = setup();
  const tar = await makeTar([{ name: 'small', body: 'ok' }]);
  // Hand-made header claiming 10 GiB (octal size field overflows 11 digits: use base-256).
  const hdr = Buffer.from(tar.subarray(0, 512));
  hdr.write('big\0', 0);
  hdr.fill(0, 124, 136);
  hdr[124] = 0x80;
  hdr.writeBigUInt64BE(10n * 1024n ** 3n, 128);
  hdr.fill(0x20, 148, 156);
  let sum = 0; for (const b of hdr) sum += b;
  hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  const evil = Buffer.concat([tar.subarray(0, 1024), hdr, Buffer.alloc(4096, 0x41)]);
  await rejects(store.unpack(cid('big'), from(evil)), /not a valid tar, or is truncated/);
  assert.equal(readdirSync(store.dir), []);
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
