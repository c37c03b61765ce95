// The store without a kernel door (no unpacking): loads verify layers by hashing, the database
// and blobs stay consistent, and a layer that does not match its diffID is refused.
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract, pack } from 'tar-stream';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from '../../../tools/fixtures/index.js';
import { Store, checkStore, loadArchive, loadMessages, openDatabase, migrate, type Digest } from './index.js';
import { from, rejects } from './testing.js';

const dirs: string[] = [];
const open = () => { const d = mkdtempSync(join(tmpdir(), 'berth-store-plain-')); dirs.push(d); return Store.open(join(d, 'root')); };

test('without a kernel door, a load verifies layers by hashing and records the image', async () => {
  const f = await fixture('layered');
  const store = open();
  assert.not.ok(store.layers.canUnpack);
  const r = await loadArchive(store, createReadStream(f.dockerArchive ?? ''));
  assert.equal(loadMessages(r), ['Loaded image: layered:latest']);
  const img = store.images.resolve('layered');
  assert.is(img.id, f.imageId);
  assert.equal(img.layers.map((l) => l.chainID), f.images[0]?.chainIDs);
  assert.equal(store.layers.list(), []);
  const report = await checkStore(store);
  assert.equal(report.problems, []);
  assert.is(report.counts.images, 1);
  store.close();
});

test('check finds a corrupt blob and a missing one', async () => {
  const f = await fixture('busybox');
  const store = open();
  await loadArchive(store, createReadStream(f.dockerArchive ?? ''));
  const img = store.images.resolve('busybox');
  const layer = img.layers[0]?.blob as Digest;
  const bytes = readFileSync(store.blobs.path(layer));
  bytes[100] = (bytes[100] ?? 0) ^ 0xff;
  writeFileSync(store.blobs.path(layer), bytes);
  rmSync(store.blobs.path(img.manifests[0]?.digest as Digest));
  const r = await checkStore(store);
  assert.is(r.problems.length, 2, r.problems.join('\n'));
  assert.match(r.problems.join('\n'), new RegExp(`blob ${layer} is corrupt`));
  assert.match(r.problems.join('\n'), /manifest blob sha256:[0-9a-f]{64} is missing/);
  assert.equal((await checkStore(store, { quick: true })).problems.length, 1, 'quick does not re-hash');
  store.close();
});

test('an archive whose layer does not match the config diff_ids is refused', async () => {
  const f = await fixture('busybox');
  // Rewrite the archive with one byte of the layer flipped.
  const src = readFileSync(f.dockerArchive ?? '');
  const x = extract();
  const p = pack();
  const out: Buffer[] = [];
  p.on('data', (c: unknown) => out.push(c as Buffer));
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  Readable.from([src]).pipe(x);
  for await (const e of x) {
    const parts: Buffer[] = [];
    for await (const c of e) parts.push(c as Buffer);
    let body = Buffer.concat(parts);
    if (e.header.name.endsWith('.tar') && body.length > 2000) { body = Buffer.from(body); body[1500] = (body[1500] ?? 0) ^ 1; }
    if (e.header.type === 'file') p.entry({ ...e.header, size: body.length }, body);
    else p.entry(e.header);
  }
  p.finalize();
  await ended;
  const store = open();
  await rejects(loadArchive(store, from(Buffer.concat(out))), /does not match the config/);
  assert.equal(store.images.list(), []);
  store.close();
});

test('migrations are numbered, forward-only, per owner; a newer schema is refused', () => {
  const d = mkdtempSync(join(tmpdir(), 'berth-db-'));
  dirs.push(d);
  const db = openDatabase(d);
  migrate(db, 'test', [{ version: 1, up: 'CREATE TABLE t (x INTEGER)' }, { version: 2, up: 'ALTER TABLE t ADD COLUMN y INTEGER' }]);
  migrate(db, 'test', [{ version: 1, up: 'CREATE TABLE t (x INTEGER)' }, { version: 2, up: 'ALTER TABLE t ADD COLUMN y INTEGER' }]);
  db.prepare('INSERT INTO t (x, y) VALUES (1, 2)').run();
  assert.throws(() => migrate(db, 'test', [{ version: 1, up: 'SELECT 1' }]), /newer than this berth knows/);
  assert.is((db.pragma('journal_mode', { simple: true }) as string), 'wal');
  db.close();
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
