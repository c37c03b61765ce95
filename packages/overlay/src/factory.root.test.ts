// Driver choice on the real kernel, and the two drivers giving the same trees.
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LinuxSys } from '@berth/native';
import { createSnapshotter, detectDriver } from './factory.js';
import { OverlaySnapshotter } from './overlay.js';
import { CopySnapshotter } from './vfs.js';
import { readMountInfo, unmountUnder } from './mounts.js';
import { defaultInitEntries } from './init.js';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { applyTar, makeLayers, mountsBelow, readTar, readTree, type LayerEntry } from './testsuite.js';

const sys = new LinuxSys();
const test = suite<{ tmp: string }>('drivers on the kernel', { tmp: '' });
test.before.each(async (ctx) => { ctx.tmp = await mkdtemp(join(tmpdir(), 'berth-drv-')); });
test.after.each(async (ctx) => {
  unmountUnder(sys, ctx.tmp);
  await rm(ctx.tmp, { recursive: true, force: true });
});

/** An image exercising every rule: whiteouts, opaque dirs, type changes, links, modes. */
const image: LayerEntry[][] = [
  [
    { path: 'bin/sh', kind: 'file', content: '#!sh', mode: 0o755 },
    { path: 'bin/ls', kind: 'hardlink', target: 'bin/sh' },
    { path: 'etc/a', kind: 'file', content: 'a' },
    { path: 'etc/b', kind: 'file', content: 'b' },
    { path: 'etc/conf.d/x', kind: 'file', content: 'x' },
    { path: 'opt/tool/lib', kind: 'file', content: 'lib' },
    { path: 'was-file', kind: 'file', content: 'f' },
    { path: 'was-dir/inner', kind: 'file', content: 'i' },
    { path: 'secret', kind: 'file', content: 's', mode: 0o600 },
  ],
  [
    { path: 'etc/a', kind: 'whiteout' },
    { path: 'etc/conf.d', kind: 'dir', opaque: true },
    { path: 'etc/conf.d/y', kind: 'file', content: 'y' },
    { path: 'was-file', kind: 'dir' },
    { path: 'was-file/now', kind: 'file', content: 'dir now' },
    { path: 'was-dir', kind: 'whiteout' },
    { path: 'link', kind: 'symlink', target: 'etc/b' },
  ],
  [
    { path: 'opt', kind: 'whiteout' },
    { path: 'etc/b', kind: 'file', content: 'b2' },
    { path: 'was-dir', kind: 'file', content: 'file now' },
    { path: 'bin/sh', kind: 'file', content: '#!new sh', mode: 0o755 },
  ],
];

const imageKeys = [
  '/bin', '/bin/ls', '/bin/sh', '/etc', '/etc/b', '/etc/conf.d', '/etc/conf.d/y', '/link', '/secret', '/was-dir', '/was-file', '/was-file/now',
];

const editChanges = [
  { path: '/bin', kind: 'C' }, { path: '/bin/bash', kind: 'A' }, { path: '/bin/ls', kind: 'D' },
  { path: '/etc', kind: 'C' }, { path: '/etc/b', kind: 'C' }, { path: '/etc/conf.d', kind: 'C' },
  { path: '/etc/conf.d/y', kind: 'D' }, { path: '/etc/conf.d/z', kind: 'A' },
  { path: '/opt', kind: 'A' }, { path: '/secret', kind: 'C' },
];

async function edit(rootfs: string): Promise<void> {
  await writeFile(join(rootfs, 'etc/b'), 'edited b');
  await rm(join(rootfs, 'etc/conf.d'), { recursive: true });
  await mkdir(join(rootfs, 'etc/conf.d'));
  await writeFile(join(rootfs, 'etc/conf.d/z'), 'z');
  await rm(join(rootfs, 'bin/ls'));
  await chmod(join(rootfs, 'secret'), 0o644);
  await symlink('/bin/sh', join(rootfs, 'bin/bash'));
  await mkdir(join(rootfs, 'opt'));
}

test('auto picks overlay on this host and leaves no probe behind', async ({ tmp }) => {
  const root = join(tmp, 'root');
  const snap = await createSnapshotter({ root, sys });
  assert.is(snap.driver, 'overlay');
  const v = await detectDriver(root, sys);
  assert.is(v.reason, 'overlay mount works');
  assert.equal(v.mountOptions, ['index=off', 'redirect_dir=off', 'metacopy=off']);
  assert.is(v.volatile, kernelAtLeast(5, 10), 'overlay takes volatile from Linux 5.10');
  assert.equal((await readdir(join(root, 'overlay'))).sort(), ['probe.json']);
  assert.equal(await mountsBelow(tmp), []);
});

test('a volatile rootfs mounts volatile, survives an unmount and mounts again with its writes', async ({ tmp }) => {
  const root = join(tmp, 'root');
  const snap = await createSnapshotter({ root, sys });
  if (!(await detectDriver(root, sys)).volatile) {
    console.log('  skipped: this kernel has no overlay volatile option (Linux < 5.10)');
    return;
  }
  const lowers = await makeLayers(join(tmp, 'layers'), image, sys);
  const c = join(root, 'containers/v');
  const rootfs = join(c, 'rootfs');
  const superOptions = (): string[] => readMountInfo().find((m) => m.mountPoint === rootfs)?.superOptions.split(',') ?? [];
  await snap.prepare('v', lowers, { init: defaultInitEntries, volatile: true });
  await snap.mount('v');
  // Newer kernels print it as fsync=volatile.
  assert.ok(superOptions().some((o) => o === 'volatile' || o === 'fsync=volatile'), superOptions().join(','));
  await writeFile(join(rootfs, 'etc/written'), 'kept');
  await snap.unmount('v');
  assert.ok(existsSync(join(c, 'work/work/incompat/volatile')), 'the kernel marked the work dir');
  await snap.mount('v');
  assert.is(await readFile(join(rootfs, 'etc/written'), 'utf8'), 'kept');
  assert.equal(await snap.changes('v'), [{ path: '/etc', kind: 'C' }, { path: '/etc/written', kind: 'A' }]);
  await snap.remove('v');
  assert.not.ok(existsSync(c));

  await snap.prepare('d', lowers, { init: defaultInitEntries });
  await snap.mount('d');
  const rootfsD = join(root, 'containers/d/rootfs');
  const opts = readMountInfo().find((m) => m.mountPoint === rootfsD)?.superOptions.split(',') ?? [];
  assert.not.ok(opts.some((o) => o === 'volatile' || o === 'fsync=volatile'), 'not asked: a durable mount');
  await snap.remove('d');
  assert.equal(await mountsBelow(tmp), []);
});

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split('.').map((n) => parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

test('a root on overlayfs (no overlay upper there) falls back to vfs, which works', async ({ tmp }) => {
  for (const d of ['l', 'u', 'w', 'm']) await mkdir(join(tmp, d));
  sys.mount('overlay', join(tmp, 'm'), 'overlay', 0, `lowerdir=${tmp}/l,upperdir=${tmp}/u,workdir=${tmp}/w`);
  const root = join(tmp, 'm/root');
  const snap = await createSnapshotter({ root, sys });
  assert.is(snap.driver, 'vfs');
  assert.match((await detectDriver(root, sys)).reason, /^mount overlay on /);
  const lowers = await makeLayers(join(tmp, 'layers'), image, sys);
  await snap.prepare('c', lowers);
  await snap.mount('c');
  const rootfs = join(root, 'containers/c/rootfs');
  assert.is(await readFile(join(rootfs, 'bin/sh'), 'utf8'), '#!new sh');
  assert.equal([...(await readTree(rootfs)).keys()], imageKeys);
  await edit(rootfs);
  assert.equal(await snap.changes('c'), editChanges);
  await snap.remove('c');
  assert.equal(await mountsBelow(join(tmp, 'm/root')), []);
});

test('overlay and vfs give the same tree, the same changes, and diff tars that rebuild the same tree', async ({ tmp }) => {
  const lowers = await makeLayers(join(tmp, 'layers'), image, sys);
  const root = join(tmp, 'root');
  const ovl = new OverlaySnapshotter({ root, sys, mountOptions: ['index=off', 'redirect_dir=off', 'metacopy=off'] });
  const vfs = new CopySnapshotter({ root, sys });
  await ovl.prepare('o', lowers);
  await vfs.prepare('v', lowers);
  await ovl.mount('o');
  await vfs.mount('v');
  const o = join(root, 'containers/o/rootfs');
  const v = join(root, 'containers/v/rootfs');
  const imageTree = await readTree(o);
  assert.equal(await readTree(v), imageTree);
  assert.equal([...imageTree.keys()], imageKeys);
  assert.equal(await vfs.changes('v'), [], 'a fresh copy has no changes');
  assert.is(imageTree.get('/bin/ls'), 'file 755 "#!sh"', 'rewriting one name of a hard link leaves the other');
  assert.is(imageTree.get('/bin/sh'), 'file 755 "#!new sh"');
  await edit(o);
  await edit(v);
  const after = await readTree(o);
  assert.equal(await readTree(v), after);
  const changes = await ovl.changes('o');
  assert.equal(await vfs.changes('v'), changes);
  assert.equal(changes, editChanges);
  assert.equal(applyTar(imageTree, await readTar(ovl.diffTar('o'))), after);
  assert.equal(applyTar(imageTree, await readTar(vfs.diffTar('v'))), after);
});

test.run();
