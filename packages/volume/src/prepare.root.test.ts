// prepareMounts/releaseMounts on a real directory tree as root: copy-up keeps owners, modes,
// times, symlinks and hard links; nocopy copies nothing; tmpfs, bind and volume requests become
// the OCI mounts the runtime needs (the tmpfs one mounted for real to prove the kernel takes it).
import { spawnSync } from 'node:child_process';
import {
  chownSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync,
  readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBerthError } from '@berth/errors';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from './parse.js';
import { copyUp, prepareMounts, recordedMounts, releaseMounts, resolveInRoot } from './prepare.js';
import { VolumeStore } from './store.js';

const cid = (c: string) => c.repeat(64);

interface Env { dir: string; rootfs: string; store: VolumeStore }
function withEnv(fn: (e: Env) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-volume-root-'));
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs);
    const store = VolumeStore.open(join(dir, 'root'));
    try { fn({ dir, rootfs, store }); } finally { store.close(); rmSync(dir, { recursive: true, force: true }); }
  };
}

/** An image tree at /srv/app: a dir owned by 1000:1001 mode 2750, a setuid file, a symlink, a hard link. */
function imageTree(rootfs: string): void {
  const app = join(rootfs, 'srv', 'app');
  mkdirSync(join(app, 'conf'), { recursive: true });
  writeFileSync(join(app, 'conf', 'app.ini'), 'port=80\n');
  writeFileSync(join(app, 'run'), '#!/bin/sh\n');
  writeFileSync(join(app, 'secret'), 'k');
  linkSync(join(app, 'conf', 'app.ini'), join(app, 'hard.ini'));
  symlinkSync('conf/app.ini', join(app, 'link.ini'));
  chownSync(join(app, 'run'), 0, 0);
  chmodSync(join(app, 'run'), 0o4755);
  chownSync(join(app, 'secret'), 1000, 1001);
  chmodSync(join(app, 'secret'), 0o600);
  chownSync(join(app, 'conf'), 1002, 1002);
  chmodSync(join(app, 'conf'), 0o710);
  lchown(join(app, 'link.ini'), 1003, 1003);
  utimesSync(join(app, 'secret'), 1_000_000, 1_000_000);
  chownSync(app, 1000, 1001);
  chmodSync(app, 0o2750);
}
function lchown(p: string, u: number, g: number): void { spawnSync('chown', ['-h', `${u}:${g}`, p]); }

test('copy-up fills an empty named volume with the image content, owners, modes, times, links kept', withEnv(({ rootfs, store }) => {
  imageTree(rootfs);
  const r = prepareMounts(store, cid('a'), [parseVolumeFlag('appdata:/srv/app')], { imageRootfs: rootfs });
  assert.equal(r.createdVolumes, ['appdata']);
  assert.equal(r.copiedUp, ['appdata']);
  const data = store.get('appdata').mountpoint;
  const st = (p: string) => lstatSync(join(data, p));
  assert.is(statSync(data).uid, 1000);
  assert.is(statSync(data).gid, 1001);
  assert.is(statSync(data).mode & 0o7777, 0o2750);
  assert.is(st('run').mode & 0o7777, 0o4755, 'setuid kept (chmod after chown)');
  assert.equal([st('secret').uid, st('secret').gid, st('secret').mode & 0o777], [1000, 1001, 0o600]);
  assert.is(st('secret').mtimeMs, 1_000_000_000);
  assert.equal([st('conf').uid, st('conf').mode & 0o777], [1002, 0o710]);
  assert.ok(st('link.ini').isSymbolicLink());
  assert.is(readlinkSync(join(data, 'link.ini')), 'conf/app.ini');
  assert.is(st('link.ini').uid, 1003);
  assert.is(st('hard.ini').ino, st('conf/app.ini').ino, 'hard links stay linked');
  assert.is(readFileSync(join(data, 'conf', 'app.ini'), 'utf8'), 'port=80\n');
  assert.equal(r.mounts, [{ destination: '/srv/app', type: 'bind', source: data, options: ['rbind', 'rprivate', 'rw'] }]);
}));

test('copy-up happens once: a volume with content is never overwritten', withEnv(({ rootfs, store }) => {
  imageTree(rootfs);
  prepareMounts(store, cid('a'), [parseVolumeFlag('appdata:/srv/app')], { imageRootfs: rootfs });
  const data = store.get('appdata').mountpoint;
  writeFileSync(join(data, 'secret'), 'changed by the container');
  const again = prepareMounts(store, cid('b'), [parseVolumeFlag('appdata:/srv/app:ro')], { imageRootfs: rootfs });
  assert.equal(again.copiedUp, []);
  assert.is(readFileSync(join(data, 'secret'), 'utf8'), 'changed by the container');
  assert.equal(again.mounts[0]?.options, ['rbind', 'rprivate', 'ro']);
}));

test('nocopy (-v …:nocopy, --mount volume-nocopy) leaves the volume empty', withEnv(({ rootfs, store }) => {
  imageTree(rootfs);
  const r = prepareMounts(store, cid('a'), [parseVolumeFlag('v1:/srv/app:nocopy'), parseMountFlag('source=v2,target=/srv/app/conf,volume-nocopy')], { imageRootfs: rootfs });
  assert.equal(r.copiedUp, []);
  assert.equal(readdirSync(store.get('v1').mountpoint), []);
  assert.equal(readdirSync(store.get('v2').mountpoint), []);
  assert.equal(r.mounts.map((m) => m.destination), ['/srv/app', '/srv/app/conf'], 'parents before children');
}));

test('image VOLUMEs become anonymous volumes with copy-up, unless the user mounts something there', withEnv(({ rootfs, store }) => {
  imageTree(rootfs);
  mkdirSync(join(rootfs, 'var', 'log'), { recursive: true });
  const r = prepareMounts(store, cid('a'), [parseTmpfsFlag('/var/log')], { imageRootfs: rootfs, imageVolumes: { '/srv/app': {}, '/var/log/': {} } });
  assert.is(r.recorded.length, 2);
  const anon = r.recorded.find((m) => m.target === '/srv/app');
  assert.ok(anon?.type === 'volume' && anon.anonymous && /^[0-9a-f]{64}$/.test(anon.name));
  assert.equal(r.copiedUp, [anon.type === 'volume' ? anon.name : '']);
  assert.is(r.mounts.find((m) => m.destination === '/var/log')?.type, 'tmpfs');
}));

test('a tmpfs request becomes the OCI tmpfs mount, and the kernel mounts it with that size and mode', withEnv(({ dir, store }) => {
  const r = prepareMounts(store, cid('a'), [parseTmpfsFlag('/run:size=64m,mode=1777,uid=1000'), parseMountFlag('type=tmpfs,target=/cache,tmpfs-size=1m,readonly')]);
  const run = r.mounts.find((m) => m.destination === '/run');
  assert.equal(run, { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'uid=1000', `size=${64 << 20}`, 'mode=1777', 'rw'] });
  assert.equal(r.mounts.find((m) => m.destination === '/cache')?.options, ['nosuid', 'nodev', 'noexec', 'size=1048576', 'ro']);
  const exec = prepareMounts(store, cid('b'), [parseTmpfsFlag('/x:exec')]);
  assert.equal(exec.mounts[0]?.options, ['nosuid', 'nodev', 'exec', 'rw']);
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', (run?.options ?? []).join(','), 'tmpfs', mnt], { encoding: 'utf8' });
  assert.is(m.status, 0, m.stderr);
  try {
    assert.is(statSync(mnt).mode & 0o7777, 0o1777);
    assert.is(statSync(mnt).uid, 1000);
    const opts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt) ?? '';
    assert.match(opts, /size=65536k/);
    assert.match(opts, /nosuid,nodev,noexec/);
  } finally {
    spawnSync('umount', [mnt]);
  }
}));

test('binds: -v makes a missing host path, --mount refuses it; options carry mode and propagation', withEnv(({ dir, store }) => {
  const made = join(dir, 'made', 'deep');
  const r = prepareMounts(store, cid('a'), [parseVolumeFlag(`${made}:/data:ro,rslave`)]);
  assert.ok(statSync(made).isDirectory());
  assert.equal(r.mounts, [{ destination: '/data', type: 'bind', source: made, options: ['rbind', 'rslave', 'ro'] }]);
  const absent = join(dir, 'absent');
  try {
    prepareMounts(store, cid('b'), [parseMountFlag(`type=bind,source=${absent},target=/x`)]);
    assert.unreachable('a missing --mount bind source was accepted');
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'), String(e));
    assert.match((e as Error).message, /bind source path does not exist/);
  }
  assert.not.ok(existsSync(absent));
  assert.equal(recordedMounts(store, cid('b')), []);
  const nr = prepareMounts(store, cid('c'), [parseMountFlag(`type=bind,source=${dir},target=/h,bind-nonrecursive`)]);
  assert.equal(nr.mounts[0]?.options, ['bind', 'rprivate', 'rw']);
}));

test('volume driver options: a tmpfs volume and a bind volume become their own mounts', withEnv(({ dir, store }) => {
  store.create({ name: 'tv', options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,uid=1000' } });
  store.create({ name: 'bv', options: { type: 'none', device: dir, o: 'bind' } });
  const r = prepareMounts(store, cid('a'), [parseVolumeFlag('tv:/t'), parseVolumeFlag('bv:/b:ro')]);
  assert.equal(r.mounts, [
    { destination: '/b', type: 'bind', source: dir, options: ['rbind', 'rprivate', 'ro'] },
    { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'uid=1000', 'rw'] },
  ]);
}));

test('duplicate targets are refused; --volumes-from shares volumes and binds with a mode override', withEnv(({ dir, store }) => {
  try {
    prepareMounts(store, cid('z'), [parseVolumeFlag('a1:/d'), parseVolumeFlag('/d/')]);
    assert.unreachable('duplicate accepted');
  } catch (e) { assert.match((e as Error).message, /duplicate mount point "\/d"/); }
  prepareMounts(store, cid('a'), [parseVolumeFlag('/anon'), parseVolumeFlag(`${dir}:/host`), parseTmpfsFlag('/tmp')]);
  const r = prepareMounts(store, cid('b'), [], { volumesFrom: [{ containerId: cid('a'), readonly: true }] });
  assert.equal(r.recorded.map((m) => [m.type, m.target, m.readonly]), [['volume', '/anon', true], ['bind', '/host', true]]);
  const anon = r.recorded[0];
  assert.ok(anon?.type === 'volume');
  assert.equal(store.users(anon.name), [cid('a'), cid('b')]);
}));

test('releaseMounts: drops the marks; removeAnonymous removes anonymous volumes no one else uses, never named ones', withEnv(({ store }) => {
  const a = prepareMounts(store, cid('a'), [parseVolumeFlag('/anon'), parseVolumeFlag('named:/n'), parseVolumeFlag('/shared')]);
  const anon = (t: string) => { const m = a.recorded.find((x) => x.target === t); return m?.type === 'volume' ? m.name : ''; };
  prepareMounts(store, cid('b'), [parseVolumeFlag(`${anon('/shared')}:/s`)]);
  const r = releaseMounts(store, cid('a'), { removeAnonymous: true });
  assert.equal(r.removed, [anon('/anon')]);
  assert.equal(store.list().map((v) => v.name).sort(), [anon('/shared'), 'named'].sort());
  assert.equal(store.users('named'), []);
  assert.equal(releaseMounts(store, cid('b')).removed, []);
  assert.ok(store.find(anon('/shared')) !== undefined, 'without removeAnonymous the volume stays');
}));

test('copy-up resolves the target inside the image: a symlink to / never reaches the host', withEnv(({ dir, rootfs, store }) => {
  mkdirSync(join(rootfs, 'real'));
  writeFileSync(join(rootfs, 'real', 'inside'), 'i');
  symlinkSync('/real', join(rootfs, 'abs'));
  symlinkSync('../../../../../..', join(rootfs, 'up'));
  assert.is(resolveInRoot(rootfs, '/abs'), join(rootfs, 'real'));
  assert.is(resolveInRoot(rootfs, '/up/real'), join(rootfs, 'real'));
  assert.is(resolveInRoot(rootfs, '/missing'), undefined);
  writeFileSync(join(dir, 'host-file'), 'h');
  const r = prepareMounts(store, cid('a'), [parseVolumeFlag('v1:/abs'), parseVolumeFlag('w1:/up')], { imageRootfs: rootfs });
  assert.equal(readdirSync(store.get('v1').mountpoint), ['inside']);
  assert.not.ok(readdirSync(store.get('w1').mountpoint).includes('host-file'), 'copied from outside the image');
  assert.equal([...r.copiedUp].sort(), ['v1', 'w1']);
}));

test('copy-up is all or nothing: it lands by rename, a crashed copy\'s leftover is ignored, a second copier loses whole', withEnv(({ rootfs, store }) => {
  imageTree(rootfs);
  const v = store.create({ name: 'v1' });
  mkdirSync(`${v.mountpoint}.copyup-999-dead`);
  writeFileSync(join(`${v.mountpoint}.copyup-999-dead`, 'half'), 'x');
  const before = statSync(v.mountpoint).ino;
  const r = prepareMounts(store, cid('a'), [parseVolumeFlag('v1:/srv/app')], { imageRootfs: rootfs });
  assert.equal(r.copiedUp, ['v1']);
  assert.ok(statSync(v.mountpoint).ino !== before, 'not renamed into place');
  assert.not.ok(existsSync(join(v.mountpoint, 'half')));
  assert.is(copyUp(rootfs, '/srv/app', v.mountpoint), false, 'copied into a volume with content');
  assert.equal(readdirSync(join(v.mountpoint, '..')).filter((n) => n.includes('copyup') && !n.includes('dead')), [], 'staging left behind');
  releaseMounts(store, cid('a'));
  store.remove('v1');
  assert.not.ok(existsSync(`${v.mountpoint}.copyup-999-dead`), 'volume rm leaves the leftover');
}));

test('copy-up into a volume another container has mounted fills the same directory in place', withEnv(({ rootfs, store }) => {
  imageTree(rootfs);
  prepareMounts(store, cid('a'), [parseVolumeFlag('shared:/srv/app:nocopy')], { imageRootfs: rootfs });
  const data = store.get('shared').mountpoint;
  const ino = statSync(data).ino;
  const r = prepareMounts(store, cid('b'), [parseVolumeFlag('shared:/srv/app')], { imageRootfs: rootfs });
  assert.equal(r.copiedUp, ['shared']);
  assert.is(statSync(data).ino, ino, 'the first container would lose sight of the content');
  assert.ok(existsSync(join(data, 'conf', 'app.ini')));
  assert.is(statSync(data).uid, 1000);
}));

test.run();
