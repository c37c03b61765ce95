import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileBlobStore } from './blobs.js';
import { rejects } from './testing.js';
import { chainIDs, digestOf, parseDigest, type Digest } from './digest.js';

const dirs: string[] = [];
const fresh = () => { const d = mkdtempSync(join(tmpdir(), 'berth-blobs-')); dirs.push(d); return new FileBlobStore(d); };
async function* chunks(...parts: string[]) { for (const p of parts) yield Buffer.from(p); }

test('chainIDs follow the OCI formula (SPEC-NOTES vectors)', () => {
  const a = 'sha256:a' as Digest; const b = 'sha256:b' as Digest; const c = 'sha256:c' as Digest;
  assert.equal(chainIDs([a]), [a]);
  assert.equal(chainIDs([a, b, c]), [a,
    'sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8',
    'sha256:dee159b33409cefa3f6eda71539f006014283e9d9130c18a1dea7bd8a33c9b1b']);
  assert.throws(() => parseDigest('sha256:XYZ'), /invalid digest/);
  assert.throws(() => parseDigest('sha512:' + 'a'.repeat(128)), /only sha256/);
});

test('ingest verifies digest and size and makes the blob visible only when whole', async () => {
  const s = fresh();
  const want = digestOf('hello world');
  const info = await s.ingest(chunks('hello ', 'world'), { digest: want, size: 11 });
  assert.equal(info, { digest: want, size: 11 });
  assert.ok(s.has(want));
  assert.is(s.read(want).toString(), 'hello world');
  assert.equal(s.list(), [want]);

  const bad = digestOf('something else');
  await rejects(s.ingest(chunks('hello world'), { digest: bad }), /digest mismatch/);
  assert.not.ok(s.has(bad));
  await rejects(s.ingest(chunks('hello world!'), { size: 11 }), /larger than its declared size/);
  await rejects(s.ingest(chunks('hello'), { digest: digestOf('hello world?'), size: 12 }), /truncated/);
  assert.equal(s.list(), [want]);
  assert.equal(readdirSync(s.tmpDir), [], 'failed ingests leave nothing behind');
});

test('two concurrent ingests of one digest write it once', async () => {
  const s = fresh();
  const data = 'x'.repeat(1 << 20);
  const d = digestOf(data);
  let reads = 0;
  async function* counted() { for (let i = 0; i < 16; i++) { reads++; yield Buffer.from(data.slice(i * 65536, (i + 1) * 65536)); await new Promise((r) => setTimeout(r, 1)); } }
  const [a, b] = await Promise.all([s.ingest(counted(), { digest: d }), s.ingest(counted(), { digest: d })]);
  assert.equal(a, b);
  assert.is(reads, 16, 'the second ingest did not read its source');
});

test('two stores on one root (as two processes) ingest one digest once, through the lock file', async () => {
  const a = fresh();
  const b = new FileBlobStore(a.root);
  const data = Buffer.alloc(1 << 20, 7);
  const d = digestOf(data);
  let reads = 0;
  async function* slow() { for (let i = 0; i < 16; i++) { reads++; yield data.subarray(i * 65536, (i + 1) * 65536); await new Promise((r) => setTimeout(r, 5)); } }
  const [x, y] = await Promise.all([a.ingest(slow(), { digest: d }), b.ingest(slow(), { digest: d })]);
  assert.equal(x, y);
  assert.is(reads, 16);
  assert.equal(readdirSync(a.tmpDir), [], 'the lock is gone');
});

test('a resumable ingest continues from its offset after an interruption', async () => {
  const s = fresh();
  const data = Buffer.from('0123456789'.repeat(1000));
  const d = digestOf(data);
  // 40 chunks arrive faster than they are written (one write at a time): all reach the disk.
  async function* failing() { for (let i = 0; i < 4000; i += 100) yield data.subarray(i, i + 100); throw new Error('connection reset'); }
  await rejects(s.ingest(failing(), { digest: d, size: data.length, ref: 'pull-1' }), /connection reset/);
  assert.not.ok(s.has(d));
  assert.is(s.offset('pull-1'), 4000);
  async function* rest() { yield data.subarray(s.offset('pull-1')); }
  const info = await s.ingest(rest(), { digest: d, size: data.length, ref: 'pull-1' });
  assert.is(info.digest, d);
  assert.is(createHash('sha256').update(s.read(d)).digest('hex'), d.slice(7));
  assert.is(s.offset('pull-1'), 0);
});

test('a partial ingest is listed, read back up to an offset, adopted under a new ref, then resumed', async () => {
  const s = fresh();
  const want = digestOf('hello world');
  async function* cut() { yield Buffer.from('hello '); throw Object.assign(new Error('reset'), { code: 'ECONNRESET' }); }
  await rejects(s.ingest(cut(), { digest: want, size: 11, ref: 'pull-aa-1' }), /reset/);
  assert.equal(s.partialRefs(), ['pull-aa-1']);
  let head = '';
  for await (const c of s.readPartial('pull-aa-1', 5)) head += (c as Buffer).toString();
  assert.is(head, 'hello');
  assert.ok(s.adoptPartial('pull-aa-1', 'pull-aa-2'));
  assert.not.ok(s.adoptPartial('pull-aa-1', 'pull-aa-3'), 'a partial taken by another is gone');
  assert.equal(s.partialRefs(), ['pull-aa-2']);
  assert.is(s.offset('pull-aa-2'), 6);
  assert.equal(await s.ingest(chunks('world'), { digest: want, size: 11, ref: 'pull-aa-2' }), { digest: want, size: 11 });
  assert.equal(s.partialRefs(), []);
});

test('delete removes a blob; open of a missing blob is NotFound', async () => {
  const s = fresh();
  const { digest } = await s.write('{}');
  s.delete(digest);
  assert.not.ok(existsSync(s.path(digest)));
  assert.throws(() => s.open(digest), /not found/);
});

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
test.run();
