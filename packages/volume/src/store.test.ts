import { mkdtempSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBerthError } from '@berth/errors';
import { VolumeStore } from './store.js';
import { prepareMounts } from './prepare.js';

function withStore(fn: (s: VolumeStore, root: string) => void): () => void {
  return () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-volume-'));
    const s = VolumeStore.open(root);
    try { fn(s, root); } finally { s.close(); rmSync(root, { recursive: true, force: true }); }
  };
}

function throwsCode(fn: () => unknown, code: 'InvalidArgument' | 'Conflict' | 'NotFound' | 'AlreadyExists', re: RegExp): void {
  try { fn(); } catch (e) {
    assert.ok(isBerthError(e, code), `${String(e)} is not ${code}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('create makes $root/volumes/<name>/_data and a row; creating again returns the same volume', withStore((s, root) => {
  const v = s.create({ name: 'data', labels: { tier: 'db' } });
  assert.is(v.mountpoint, join(root, 'volumes', 'data', '_data'));
  assert.ok(statSync(v.mountpoint).isDirectory());
  assert.is(statSync(v.mountpoint).mode & 0o777, 0o755);
  assert.match(v.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const again = s.create({ name: 'data' });
  assert.equal(again, v);
  assert.equal(s.list().map((x) => x.name), ['data']);
}));

test('names: Docker\'s pattern; anonymous volumes get 64 hex digits and the anonymous label', withStore((s) => {
  for (const bad of ['a', '-x', '.x', 'a/b', 'a b', 'é1']) throwsCode(() => s.create({ name: bad }), 'InvalidArgument', /invalid characters/);
  const a = s.create();
  assert.match(a.name, /^[0-9a-f]{64}$/);
  assert.ok(a.anonymous);
  assert.equal(a.labels, { 'com.docker.volume.anonymous': '' });
}));

test('local driver options are validated; other drivers are refused', withStore((s) => {
  s.create({ name: 'tmp', options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
  throwsCode(() => s.create({ name: 'x1', options: { colour: 'red' } }), 'InvalidArgument', /invalid option "colour"/);
  throwsCode(() => s.create({ name: 'x2', options: { type: 'tmpfs' } }), 'InvalidArgument', /needs device=/);
  throwsCode(() => s.create({ name: 'x3', options: { type: 'none', device: 'rel', o: 'bind' } }), 'InvalidArgument', /absolute device/);
  throwsCode(() => s.create({ name: 'x4', driver: 'nfs' }), 'InvalidArgument', /driver "nfs"/);
  assert.equal(s.inspect('tmp').Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
}));

test('inspect is Docker-shaped', withStore((s, root) => {
  s.create({ name: 'v1' });
  const i = s.inspect('v1');
  assert.equal(Object.keys(i), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
  assert.is(i.Labels, null);
  assert.is(i.Options, null);
  assert.is(i.Mountpoint, join(root, 'volumes', 'v1', '_data'));
  assert.is(i.Scope, 'local');
  throwsCode(() => s.inspect('nope'), 'NotFound', /volume "nope" not found/);
}));

test('a volume in use is not removed, even with force; unused is', withStore((s) => {
  s.create({ name: 'busy' });
  s.create({ name: 'idle' });
  prepareMounts(s, 'c'.repeat(64), [{ type: 'volume', source: 'busy', target: '/d', readonly: false, nocopy: false }]);
  throwsCode(() => s.remove('busy'), 'Conflict', /volume "busy" is in use by container cccccccccccc/);
  throwsCode(() => s.remove('busy', { force: true }), 'Conflict', /in use/);
  throwsCode(() => s.remove('ghost'), 'NotFound', /not found/);
  assert.is(s.remove('ghost', { force: true }), false);
  const dir = s.get('idle').mountpoint;
  assert.is(s.remove('idle'), true);
  assert.not.ok(existsSync(dir));
  assert.equal(s.list().map((v) => v.name), ['busy']);
}));

test('extra users (containers the engine knows) also hold a volume', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-volume-'));
  const s = VolumeStore.open(root, { extraUsers: (n) => (n === 'held' ? ['f'.repeat(64)] : []) });
  try {
    s.create({ name: 'held' });
    throwsCode(() => s.remove('held'), 'Conflict', /in use/);
    assert.equal(s.list({ dangling: true }).map((v) => v.name), []);
  } finally { s.close(); rmSync(root, { recursive: true, force: true }); }
});

test('marks of containers that no longer exist do not hold a volume', () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-volume-'));
  const live = new Set(['a'.repeat(64)]);
  const s = VolumeStore.open(root, { containerExists: (id) => live.has(id) });
  try {
    prepareMounts(s, 'a'.repeat(64), [{ type: 'volume', source: 'live', target: '/d', readonly: false, nocopy: false }]);
    prepareMounts(s, 'd'.repeat(64), [{ type: 'volume', source: 'stale', target: '/d', readonly: false, nocopy: false }]);
    throwsCode(() => s.remove('live'), 'Conflict', /in use/);
    assert.is(s.remove('stale'), true);
  } finally { s.close(); rmSync(root, { recursive: true, force: true }); }
});

test('filters: dangling, name, label, driver', withStore((s) => {
  s.create({ name: 'web-data', labels: { app: 'web', tier: 'front' } });
  s.create({ name: 'db-data', labels: { app: 'db' } });
  s.create({ name: 'scratch' });
  prepareMounts(s, 'a'.repeat(64), [{ type: 'volume', source: 'db-data', target: '/d', readonly: false, nocopy: false }]);
  const names = (f: Parameters<VolumeStore['list']>[0]) => s.list(f).map((v) => v.name);
  assert.equal(names({ dangling: true }), ['scratch', 'web-data']);
  assert.equal(names({ dangling: false }), ['db-data']);
  assert.equal(names({ name: ['data'] }), ['db-data', 'web-data']);
  assert.equal(names({ label: ['app'] }), ['db-data', 'web-data']);
  assert.equal(names({ label: ['app=web', 'tier'] }), ['web-data']);
  assert.equal(names({ driver: ['local'] }).length, 3);
}));

test('prune removes unused anonymous volumes, or all unused with all', withStore((s) => {
  s.create({ name: 'named' });
  const anon = s.create();
  const kept = s.create();
  writeFileSync(join(anon.mountpoint, 'f'), 'x'.repeat(1000));
  prepareMounts(s, 'b'.repeat(64), [{ type: 'volume', source: kept.name, target: '/d', readonly: false, nocopy: false }]);
  const r = s.prune();
  assert.equal(r.removed, [anon.name]);
  assert.is(r.reclaimed, 1000);
  assert.equal(s.diskUsage().map((u) => [u.name === kept.name ? 'kept' : u.name, u.size, u.users]).sort(), [['kept', 0, 1], ['named', 0, 0]]);
  assert.equal(s.prune({ all: true }).removed, ['named']);
  assert.equal(s.list().map((v) => v.name), [kept.name]);
}));

test.run();
