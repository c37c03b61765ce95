/**
 * The conformance suite every {@link Snapshotter} runs (as root, on the real kernel), and the
 * helpers it uses to build layer dirs in overlay's on-disk form (whiteouts as char 0/0 devices,
 * opaque dirs by xattr) and to read trees back. Exported as `@berth/overlay/testsuite`.
 */
import { lstat, lutimes, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import tar from 'tar-stream';
import { FileType, MountFlags, type Sys } from '@berth/native';
import type { Snapshotter, SnapshotterSys } from './types.js';
import { findOrphanMounts, readMountInfo, repairOrphanMounts, unmountUnder } from './mounts.js';
import { opaqueXattr } from './lower.js';
import { defaultInitEntries } from './init.js';

/** The door the suite needs: the snapshotters' part plus mknod/lsetxattr to build layers. */
export type TestSys = SnapshotterSys & Pick<Sys, 'mknod' | 'lsetxattr'>;

/** One entry of a test layer. Parents are created as needed (0755). */
export type LayerEntry =
  | { readonly path: string; readonly kind: 'file'; readonly content?: string; readonly mode?: number }
  | { readonly path: string; readonly kind: 'dir'; readonly mode?: number; readonly opaque?: boolean }
  | { readonly path: string; readonly kind: 'symlink'; readonly target: string }
  | { readonly path: string; readonly kind: 'hardlink'; readonly target: string }
  | { readonly path: string; readonly kind: 'whiteout' };

/**
 * A fixed past time for every entry, so that later writes always change mtimes; with a
 * sub-millisecond part, so that a copy that rounds times to a Date shows up as a change.
 */
const past = 1577934245.123456;

/** Writes one layer dir in overlay's on-disk form. */
export async function makeLayer(dir: string, entries: readonly LayerEntry[], sys: TestSys): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const touched = new Set<string>([dir]);
  const parents = async (p: string): Promise<void> => {
    const d = dirname(p);
    await mkdir(d, { recursive: true, mode: 0o755 });
    for (let x = d; x.length > dir.length; x = dirname(x)) touched.add(x);
  };
  for (const e of entries) {
    const p = join(dir, e.path);
    await parents(p);
    switch (e.kind) {
      case 'file': await writeFile(p, e.content ?? '', { mode: e.mode ?? 0o644 }); break;
      case 'dir':
        await mkdir(p, { recursive: true, mode: e.mode ?? 0o755 });
        if (e.opaque) sys.lsetxattr(p, opaqueXattr, Buffer.from('y'));
        break;
      case 'symlink': await symlink(e.target, p); break;
      case 'hardlink': await link(join(dir, e.target), p); break;
      case 'whiteout': sys.mknod(p, FileType.CHR | 0o600, 0, 0); break;
    }
    touched.add(p);
  }
  // Deepest first, so a directory's time is set after its children were made.
  for (const p of [...touched].sort((a, b) => b.length - a.length)) await lutimes(p, past, past);
  return dir;
}

/** Writes layers (bottom first, as an image lists them) and returns their dirs topmost first. */
export async function makeLayers(base: string, layers: readonly (readonly LayerEntry[])[], sys: TestSys): Promise<string[]> {
  const dirs: string[] = [];
  for (const [i, entries] of layers.entries()) dirs.push(await makeLayer(join(base, `layer-${i}`), entries, sys));
  return dirs.reverse();
}

/** A tree as `path → description` (type, mode, content or target); the root is left out. */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const r = `${rel}/${name}`;
      const p = join(dir, r);
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(r, `dir ${mode}`);
        await walk(r);
      } else if (st.isSymbolicLink()) {
        out.set(r, `symlink -> ${await readlink(p)}`);
      } else if (st.isFile()) {
        out.set(r, `file ${mode} ${JSON.stringify(await readFile(p, 'utf8'))}`);
      } else {
        out.set(r, `special ${st.mode.toString(8)}`);
      }
    }
  };
  await walk('');
  return out;
}

/** One entry read back from a tar. */
export interface TarEntry {
  readonly name: string;
  readonly type: string;
  readonly content: string;
  readonly linkname: string | null;
  readonly mode: number;
}

/** Reads a whole tar stream back. */
export async function readTar(stream: Readable): Promise<TarEntry[]> {
  const extract = tar.extract();
  const out: TarEntry[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      out.push({ name: h.name, type: h.type, content: Buffer.concat(chunks).toString('utf8'), linkname: h.linkname ?? null, mode: h.mode });
    }
  })();
  for await (const chunk of stream) extract.write(chunk as Buffer);
  extract.end(undefined);
  await done;
  return out;
}

/**
 * Applies a layer tar (OCI whiteouts) to a tree description from {@link readTree}: what the
 * image plus the diff must look like. Opaque markers hide only what was there before.
 */
export function applyTar(before: ReadonlyMap<string, string>, entries: readonly TarEntry[]): Map<string, string> {
  const tree = new Map(before);
  const dropUnder = (p: string, keepNew: ReadonlySet<string>): void => {
    for (const k of [...tree.keys()]) if (k.startsWith(`${p}/`) && !keepNew.has(k)) tree.delete(k);
  };
  const added = new Set<string>();
  const links = new Map<string, string>();
  for (const e of entries) {
    const name = `/${e.name.replace(/\/+$/, '')}`;
    const base = name.slice(name.lastIndexOf('/') + 1);
    const parent = name.slice(0, name.lastIndexOf('/'));
    if (base === '.wh..wh..opq') { dropUnder(parent, added); continue; }
    if (base.startsWith('.wh.')) {
      const victim = `${parent}/${base.slice(4)}`;
      tree.delete(victim);
      dropUnder(victim, new Set());
      continue;
    }
    const mode = (e.mode & 0o7777).toString(8);
    let desc: string;
    if (e.type === 'directory') desc = `dir ${mode}`;
    else if (e.type === 'symlink') desc = `symlink -> ${e.linkname ?? ''}`;
    else if (e.type === 'link') desc = links.get(`/${e.linkname ?? ''}`) ?? tree.get(`/${e.linkname ?? ''}`) ?? '?';
    else if (e.type === 'file') desc = `file ${mode} ${JSON.stringify(e.content)}`;
    else desc = `special ${e.type}`;
    const old = tree.get(name);
    if (old !== undefined && (!old.startsWith('dir') || !desc.startsWith('dir'))) dropUnder(name, new Set());
    tree.set(name, desc);
    links.set(name, desc);
    added.add(name);
  }
  return tree;
}

/** Names of mounts at or below `dir` in /proc/self/mountinfo. */
export async function mountsBelow(dir: string): Promise<string[]> {
  return readMountInfo().map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`));
}

const errnoOf = async (f: () => Promise<unknown>): Promise<string | undefined> => {
  try { await f(); } catch (e) { return (e as NodeJS.ErrnoException).code; }
  return undefined;
};

/** The image of the changes test: bottom and top layers. */
const changesImage: LayerEntry[][] = [
  [
    { path: 'etc/keep', kind: 'file', content: 'keep' },
    { path: 'etc/change', kind: 'file', content: 'old' },
    { path: 'etc/gone', kind: 'file', content: 'gone' },
    { path: 'dir/a', kind: 'file', content: 'a' },
    { path: 'dir/b', kind: 'file', content: 'b' },
    { path: 'var', kind: 'dir' },
  ],
  [{ path: 'etc/top', kind: 'file', content: 'top' }],
];

/** The edits of the changes test, made through the mounted rootfs, and what they must diff to. */
async function editRootfs(rootfs: string): Promise<void> {
  await writeFile(join(rootfs, 'new.txt'), 'new');
  await writeFile(join(rootfs, 'etc/change'), 'changed');
  await rm(join(rootfs, 'etc/gone'));
  await rm(join(rootfs, 'dir'), { recursive: true });
  await mkdir(join(rootfs, 'dir'));
  await writeFile(join(rootfs, 'dir/c'), 'c');
  await mkdir(join(rootfs, 'newdir/sub'), { recursive: true });
  await writeFile(join(rootfs, 'newdir/sub/f'), 'f');
}
const expectedChanges = [
  { path: '/dir', kind: 'C' }, { path: '/dir/a', kind: 'D' }, { path: '/dir/b', kind: 'D' }, { path: '/dir/c', kind: 'A' },
  { path: '/etc', kind: 'C' }, { path: '/etc/change', kind: 'C' }, { path: '/etc/gone', kind: 'D' },
  { path: '/new.txt', kind: 'A' }, { path: '/newdir', kind: 'A' }, { path: '/newdir/sub', kind: 'A' }, { path: '/newdir/sub/f', kind: 'A' },
];

interface Ctx {
  tmp: string;
  root: string;
  snap: Snapshotter;
}

/**
 * Registers and runs the conformance suite for one snapshotter. `make` builds it on a fresh
 * `$root` (a temp dir, unmounted and removed after each test).
 */
export function snapshotterSuite(name: string, sys: TestSys, make: (root: string) => Snapshotter | Promise<Snapshotter>): void {
  const test = suite<Ctx>(name, { tmp: '', root: '', snap: undefined as unknown as Snapshotter });

  test.before.each(async (ctx) => {
    ctx.tmp = await mkdtemp(join(tmpdir(), 'berth-snap-'));
    ctx.root = join(ctx.tmp, 'root');
    await mkdir(ctx.root);
    ctx.snap = await make(ctx.root);
  });
  test.after.each(async (ctx) => {
    unmountUnder(sys, ctx.tmp);
    await rm(ctx.tmp, { recursive: true, force: true });
  });

  test('a 1-layer image mounts, shows its files, and unmount leaves nothing in mountinfo', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), [[{ path: 'bin/hello', kind: 'file', content: 'hi', mode: 0o755 }]], sys);
    const mounts = await snap.prepare('c1', lowers);
    assert.ok(mounts.length >= 1);
    const rootfs = join(root, 'containers/c1/rootfs');
    assert.equal(mounts[mounts.length - 1]?.target, rootfs);
    await snap.mount('c1');
    assert.ok(await snap.isMounted('c1'));
    assert.is(await readFile(join(rootfs, 'bin/hello'), 'utf8'), 'hi');
    await writeFile(join(rootfs, 'written'), 'w');
    await snap.mount('c1'); // idempotent
    assert.is((await mountsBelow(rootfs)).length, 1);
    await snap.unmount('c1');
    assert.equal(await mountsBelow(tmp), []);
    assert.not.ok(await snap.isMounted('c1'));
    await snap.unmount('c1'); // idempotent
    await snap.mount('c1'); // and again: the container's writes are kept
    assert.is(await readFile(join(rootfs, 'written'), 'utf8'), 'w');
  });

  test('a 128-layer image mounts and reads the top file; unmount leaves nothing in mountinfo', async ({ snap, tmp, root }) => {
    const layers: LayerEntry[][] = [];
    for (let i = 0; i < 128; i++) layers.push([{ path: 'top', kind: 'file', content: `layer ${i}` }, { path: `layers/${i}`, kind: 'file', content: `${i}` }]);
    const lowers = await makeLayers(join(tmp, 'a-rather-long-directory-name-for-the-layers-of-this-image'), layers, sys);
    await snap.prepare('big', lowers);
    await snap.mount('big');
    const rootfs = join(root, 'containers/big/rootfs');
    assert.is(await readFile(join(rootfs, 'top'), 'utf8'), 'layer 127');
    assert.is((await readdir(join(rootfs, 'layers'))).length, 128);
    assert.is(await readFile(join(rootfs, 'layers/0'), 'utf8'), '0');
    await snap.unmount('big');
    assert.equal(await mountsBelow(tmp), []);
  });

  test('lower whiteouts and opaque dirs hide what is below them', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), [
      [
        { path: 'a/x', kind: 'file', content: 'x' }, { path: 'a/y', kind: 'file', content: 'y' },
        { path: 'b/old', kind: 'file', content: 'old' }, { path: 'c/z', kind: 'file', content: 'z' },
        { path: 'f', kind: 'file', content: 'file' },
      ],
      [
        { path: 'a/x', kind: 'whiteout' }, { path: 'b', kind: 'dir', opaque: true }, { path: 'b/new', kind: 'file', content: 'new' },
        { path: 'f', kind: 'dir' }, { path: 'f/inside', kind: 'file', content: 'in' },
      ],
    ], sys);
    await snap.prepare('wh', lowers);
    await snap.mount('wh');
    const tree = await readTree(join(root, 'containers/wh/rootfs'));
    assert.equal([...tree.keys()], ['/a', '/a/y', '/b', '/b/new', '/c', '/c/z', '/f', '/f/inside']);
    assert.equal(await snap.changes('wh'), []);
  });

  test('a readonly rootfs rejects writes with EROFS', async ({ snap, tmp, root }) => {
    const one = await makeLayers(join(tmp, 'one'), [[{ path: 'f', kind: 'file', content: '1' }]], sys);
    const three = await makeLayers(join(tmp, 'three'), [[{ path: 'f', kind: 'file', content: '1' }], [{ path: 'g', kind: 'file' }], [{ path: 'f', kind: 'file', content: '3' }]], sys);
    for (const [key, lowers, want] of [['ro1', one, '1'], ['ro3', three, '3']] as const) {
      await snap.prepare(key, lowers, { readonly: true });
      await snap.mount(key);
      const rootfs = join(root, 'containers', key, 'rootfs');
      assert.is(await readFile(join(rootfs, 'f'), 'utf8'), want);
      assert.is(await errnoOf(() => writeFile(join(rootfs, 'new'), 'x')), 'EROFS');
      assert.is(await errnoOf(() => rm(join(rootfs, 'f'))), 'EROFS');
      assert.equal(await snap.changes(key), []);
      await snap.unmount(key);
    }
    assert.equal(await mountsBelow(tmp), []);
  });

  test('changes() lists exactly what the container added, changed and deleted', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), changesImage, sys);
    await snap.prepare('ch', lowers);
    await snap.mount('ch');
    assert.equal(await snap.changes('ch'), []);
    await editRootfs(join(root, 'containers/ch/rootfs'));
    assert.equal(await snap.changes('ch'), expectedChanges);
    await snap.unmount('ch');
    assert.equal(await snap.changes('ch'), expectedChanges, 'changes are read from the dirs, mounted or not');
  });

  test('diffTar() applied over the image gives the container tree, whiteouts before siblings', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), changesImage, sys);
    await snap.prepare('dt', lowers);
    await snap.mount('dt');
    const rootfs = join(root, 'containers/dt/rootfs');
    const image = await readTree(rootfs);
    await editRootfs(rootfs);
    await writeFile(join(rootfs, 'etc/keep-link'), 'x');
    await rm(join(rootfs, 'etc/keep-link'));
    await link(join(rootfs, 'new.txt'), join(rootfs, 'newdir/hard'));
    const after = await readTree(rootfs);
    const entries = await readTar(snap.diffTar('dt'));
    const names = entries.map((e) => e.name);
    assert.ok(names.includes('etc/.wh.gone'), 'a deleted file is a .wh. whiteout');
    assert.not.ok(names.some((n) => n.includes('keep-link')), 'a file created and deleted leaves no trace');
    assert.ok(names.includes('newdir/hard') || names.includes('new.txt'));
    const hard = entries.filter((e) => e.type === 'link');
    assert.is(hard.length, 1, 'a file linked twice is stored once');
    assert.equal(applyTar(image, entries), after);
    // Whiteouts come before the other entries of their directory.
    const seen = new Map<string, boolean>();
    for (const n of names) {
      const clean = n.replace(/\/+$/, '');
      const dir = clean.includes('/') ? clean.slice(0, clean.lastIndexOf('/')) : '';
      const isWh = clean.slice(clean.lastIndexOf('/') + 1).startsWith('.wh.');
      if (isWh) assert.not.ok(seen.get(dir), `whiteout ${n} after a sibling`);
      else seen.set(dir, true);
    }
    await snap.unmount('dt');
  });

  test('the init layer makes mount points under the container, keeps the image\'s files and dir attributes, and stays out of diffs', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), [[
      { path: 'etc', kind: 'dir', mode: 0o750 },
      { path: 'etc/hosts', kind: 'file', content: '127.0.0.1 image' },
      { path: 'lib', kind: 'dir' },
      { path: 'var/run', kind: 'symlink', target: '/run' },
    ]], sys);
    const init = [...defaultInitEntries, { path: '/var/run/berth.pid', kind: 'file' as const }];
    for (const readonly of [false, true]) {
      const key = readonly ? 'init-ro' : 'init';
      await snap.prepare(key, lowers, { readonly, init });
      await snap.mount(key);
      const rootfs = join(root, 'containers', key, 'rootfs');
      const tree = await readTree(rootfs);
      for (const p of ['/proc', '/sys', '/dev/pts', '/dev/shm']) assert.is(tree.get(p), 'dir 755', p);
      for (const p of ['/etc/hostname', '/etc/resolv.conf', '/dev/console']) assert.is(tree.get(p), 'file 644 ""', p);
      assert.is(tree.get('/etc/mtab'), 'symlink -> /proc/mounts');
      assert.is(tree.get('/etc/hosts'), 'file 644 "127.0.0.1 image"', 'an image file is not shadowed');
      assert.is(tree.get('/etc'), 'dir 750', 'a parent dir keeps the image\'s mode');
      assert.is(tree.get('/var/run'), 'symlink -> /run', 'nothing is made below an image symlink');
      const [image, merged] = await Promise.all([lstat(join(lowers[0] ?? '', 'etc'), { bigint: true }), lstat(join(rootfs, 'etc'), { bigint: true })]);
      assert.is(merged.mtimeNs, image.mtimeNs, 'and its mtime, to the nanosecond');
      // What a runtime does: bind mounts over the mount points, then the container writes.
      sys.mount(join(lowers[0] ?? '', 'etc/hosts'), join(rootfs, 'etc/hostname'), null, MountFlags.BIND);
      if (!readonly) await writeFile(join(rootfs, 'etc/new'), 'n');
      assert.equal(await snap.changes(key), readonly ? [] : [{ path: '/etc', kind: 'C' }, { path: '/etc/new', kind: 'A' }]);
      const names = (await readTar(snap.diffTar(key))).map((e) => e.name);
      assert.equal(names, readonly ? [] : ['etc/', 'etc/new']);
      await snap.unmount(key);
      assert.equal(await mountsBelow(rootfs), []);
      assert.equal(await snap.prepare(key, lowers, { readonly, init }), await snap.mounts(key));
    }
  });

  test('concurrent calls on one key are serialized: one mount, whatever the interleaving', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), [[{ path: 'f', kind: 'file' }]], sys);
    await Promise.all([snap.prepare('cc', lowers), snap.prepare('cc', lowers), snap.prepare('cc', lowers)]);
    await Promise.all([snap.mount('cc'), snap.mount('cc'), snap.mount('cc')]);
    assert.is((await mountsBelow(join(root, 'containers/cc'))).length, 1);
    await Promise.all([snap.unmount('cc'), snap.mount('cc'), snap.unmount('cc')]);
    await snap.unmount('cc');
    assert.equal(await mountsBelow(tmp), []);
  });

  test('an image without layers (FROM scratch) gives an empty root to write in', async ({ snap, tmp, root }) => {
    await snap.prepare('scratch', []);
    await snap.mount('scratch');
    const rootfs = join(root, 'containers/scratch/rootfs');
    assert.equal(await readdir(rootfs), []);
    await mkdir(join(rootfs, 'app'));
    await writeFile(join(rootfs, 'app/hello'), 'hi');
    assert.equal(await snap.changes('scratch'), [{ path: '/app', kind: 'A' }, { path: '/app/hello', kind: 'A' }]);
    assert.equal((await readTar(snap.diffTar('scratch'))).map((e) => e.name), ['app/', 'app/hello']);
    await snap.prepare('scratch-ro', [], { readonly: true });
    await snap.mount('scratch-ro');
    assert.is(await errnoOf(() => writeFile(join(root, 'containers/scratch-ro/rootfs/x'), 'x')), 'EROFS');
    await snap.remove('scratch');
    await snap.remove('scratch-ro');
    assert.equal(await mountsBelow(tmp), []);
  });

  test('remove unmounts and deletes the container rootfs', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), [[{ path: 'f', kind: 'file' }]], sys);
    await snap.prepare('rm', lowers);
    await snap.mount('rm');
    await snap.remove('rm');
    assert.equal(await mountsBelow(tmp), []);
    assert.is(await errnoOf(() => lstat(join(root, 'containers/rm'))), 'ENOENT');
    await snap.remove('rm'); // idempotent
    await assertRejects(() => snap.mount('rm'), 'NotFound');
  });

  test('prepare is idempotent and refuses a different chain for the same key', async ({ snap, tmp }) => {
    const a = await makeLayers(join(tmp, 'a'), [[{ path: 'f', kind: 'file' }]], sys);
    const b = await makeLayers(join(tmp, 'b'), [[{ path: 'g', kind: 'file' }]], sys);
    const first = await snap.prepare('k', a);
    assert.equal(await snap.prepare('k', a), first);
    assert.equal(await snap.mounts('k'), first);
    await assertRejects(() => snap.prepare('k', b), 'Conflict');
    await assertRejects(() => snap.prepare('../evil', a), 'InvalidArgument');
    await assertRejects(() => snap.prepare('k2', [join(tmp, 'missing')]), 'NotFound');
    await assertRejects(() => snap.prepare('k3', ['relative/layer']), 'InvalidArgument');
  });

  test('mounts nothing owns are found and repaired; owned ones are kept', async ({ snap, tmp, root }) => {
    const lowers = await makeLayers(join(tmp, 'layers'), [[{ path: 'f', kind: 'file' }]], sys);
    await snap.prepare('own', lowers);
    await snap.mount('own');
    const rootfs = join(root, 'containers/own/rootfs');
    const stray = join(root, 'containers/stray/rootfs');
    await mkdir(stray, { recursive: true });
    sys.mount('tmpfs', stray, 'tmpfs', 0, 'size=1m');
    const orphans = await findOrphanMounts(root, ['own']);
    assert.equal(orphans.map((o) => [o.target, o.key, o.reason]), [[stray, 'stray', 'unknown container']]);
    const all = await findOrphanMounts(root, []);
    assert.equal(all.map((o) => o.target).sort(), [rootfs, stray].sort());
    const repaired = await repairOrphanMounts(root, ['own'], sys);
    assert.is(repaired.length, 1);
    assert.equal(await mountsBelow(join(root, 'containers/stray')), []);
    assert.ok(await snap.isMounted('own'));
    assert.equal(await findOrphanMounts(root, ['own']), []);
  });

  test.run();
}

async function assertRejects(f: () => Promise<unknown>, code: string): Promise<void> {
  try {
    await f();
  } catch (e) {
    assert.is((e as { code?: unknown }).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected a ${code} error`);
}
