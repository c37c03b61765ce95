// Diff tars of an upper dir, above the door: streaming, links, xattrs, errors (whiteout devices
// need root: the conformance suite covers them).
import { link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import tar from 'tar-stream';
import { RecordingSys } from '@berth/native';
import { OverlaySnapshotter } from './overlay.js';
import { readTar } from './testsuite.js';
import { changeItems, overlayItems, tarStream, type TarItem } from './difftar.js';

const test = suite<{ tmp: string }>('diff tar', { tmp: '' });
test.before.each(async (ctx) => { ctx.tmp = await mkdtemp(join(tmpdir(), 'berth-difftar-')); });
test.after.each(async (ctx) => { await rm(ctx.tmp, { recursive: true, force: true }); });

test('the upper dir streams out: big files, links, symlinks, printable xattrs; opaque dirs get their marker', async ({ tmp }) => {
  const sys = new RecordingSys();
  // The walk names entries through /proc/self/fd; the fake keys its xattrs by path, so map back.
  const door = {
    mount: sys.mount.bind(sys),
    umount2: sys.umount2.bind(sys),
    lgetxattr: (p: string, n: string) => sys.lgetxattr(realpathSync(p), n),
    llistxattr: (p: string) => sys.llistxattr(realpathSync(p)),
  };
  const root = join(tmp, 'root');
  await mkdir(join(tmp, 'layer'));
  const snap = new OverlaySnapshotter({ root, sys: door });
  await snap.prepare('c', [join(tmp, 'layer')]);
  const upper = join(root, 'containers/c/upper');
  const big = Buffer.alloc(5 * 1024 * 1024, 'x');
  await mkdir(join(upper, 'data/sub'), { recursive: true });
  await writeFile(join(upper, 'data/big'), big);
  await link(join(upper, 'data/big'), join(upper, 'data/sub/again'));
  await symlink('../big', join(upper, 'data/sub/to-big'));
  await writeFile(join(upper, 'empty'), '');
  sys.lsetxattr(join(upper, 'empty'), 'user.note', Buffer.from('hello'));
  sys.lsetxattr(join(upper, 'empty'), 'security.capability', Buffer.from([1, 0, 0, 2, 0xff]));
  sys.lsetxattr(join(upper, 'data/sub'), 'trusted.overlay.opaque', Buffer.from('y'));

  const paxOf = new Map<string, unknown>();
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => { paxOf.set(h.name, h.pax); stream.resume(); stream.on('end', () => next()); });
  const stream = snap.diffTar('c');
  const entries = await readTar(stream.on('data', (d: Buffer) => extract.write(d)).on('end', () => extract.end(undefined)));
  assert.equal(entries.map((e) => [e.name, e.type]), [
    ['data/', 'directory'], ['data/big', 'file'], ['data/sub/', 'directory'], ['data/sub/.wh..wh..opq', 'file'],
    ['data/sub/again', 'link'], ['data/sub/to-big', 'symlink'], ['empty', 'file'],
  ]);
  assert.is(entries[1]?.content.length, big.length);
  assert.is(entries[4]?.linkname, 'data/big');
  assert.is(entries[5]?.linkname, '../big');
  const pax = (paxOf.get('empty') ?? {}) as Record<string, string>;
  assert.equal(Object.keys(pax).filter((k) => k.startsWith('SCHILY.')), ['SCHILY.xattr.user.note'], 'binary and overlay xattrs are left out');
  assert.is(pax['SCHILY.xattr.user.note'], 'hello');
});

test('a key never prepared fails the stream with NotFound; an aborted signal with Canceled', async ({ tmp }) => {
  const snap = new OverlaySnapshotter({ root: join(tmp, 'root'), sys: new RecordingSys() });
  for (const [stream, code] of [[snap.diffTar('nope'), 'NotFound'], [snap.diffTar('nope', { signal: AbortSignal.abort() }), 'NotFound']] as const) {
    try {
      await readTar(stream);
      assert.unreachable('stream should fail');
    } catch (e) {
      assert.is((e as { code?: string }).code, code);
    }
  }
  await mkdir(join(tmp, 'layer'));
  await snap.prepare('c', [join(tmp, 'layer')]);
  await writeFile(join(tmp, 'root/containers/c/upper/f'), 'f');
  try {
    await readTar(snap.diffTar('c', { signal: AbortSignal.abort() }));
    assert.unreachable('aborted');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'Canceled');
  }
});

test('a file swapped for a symlink (or another file) after the walk saw it is not read', async ({ tmp }) => {
  const secret = join(tmp, 'host-secret');
  await writeFile(secret, 'host data');
  const p = join(tmp, 'f');
  await writeFile(p, 'container data');
  const stat = await lstat(p, { bigint: true });
  for (const swap of [() => symlink(secret, p), () => writeFile(p, 'another file, maybe with the same inode number')]) {
    await rm(p, { force: true });
    await swap();
    async function* items(): AsyncGenerator<TarItem> { yield { kind: 'entry', name: 'f', path: p, stat }; }
    try {
      const entries = await readTar(tarStream(new RecordingSys(), items()));
      assert.unreachable(`read ${JSON.stringify(entries)}`);
    } catch (e) {
      assert.match((e as Error).message, /^diff of .*\/f: /, (e as Error).message);
    }
  }
});

test('the walk never follows a symlink put where a directory was', async ({ tmp }) => {
  const host = join(tmp, 'host');
  await mkdir(host);
  await writeFile(join(host, 'secret'), 'host data');
  const upper = join(tmp, 'upper');
  await mkdir(upper);
  await symlink(host, join(upper, 'x'));
  // changes() saw a dir x with a new file; by the time of the tar, x is a symlink to the host.
  const items: TarItem[] = [];
  for await (const it of changeItems(upper, [{ path: '/x', kind: 'A' }, { path: '/x/secret', kind: 'A' }])) items.push(it);
  assert.equal(items.map((i) => [i.name, i.kind === 'entry' && i.stat.isSymbolicLink()]), [['x', true]]);
  // overlayItems refuses to enter a directory that is a symlink.
  try {
    for await (const it of overlayItems(new RecordingSys(), join(upper, 'x'))) void it;
    assert.unreachable('followed a symlink');
  } catch (e) {
    assert.match((e as Error).message, /open dir .*\/x: /);
  }
});

test.run();
