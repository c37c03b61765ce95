// The synchronous tar reader: what it reads from real tars (GNU tar's gnu and posix formats,
// tar-stream's), whatever the chunking, and what it refuses.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, linkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TarReader, type TarHeader } from './tarparse.js';
import { makeTar } from './testing.js';

interface Seen { h: Omit<TarHeader, 'xattrs'>; xattrs: Record<string, string>; data: string }

/**
 * Reads `tar` fed in chunks of `size` bytes; returns every entry with its data. With `files`,
 * the sink also takes whole files by onFile, counted in `files.n`.
 */
function read(tar: Buffer, size: number, files?: { n: number }): Seen[] {
  const out: Seen[] = [];
  let cur: Seen | undefined;
  const onEntry = (h: TarHeader): void => {
    const { xattrs, ...rest } = h;
    cur = { h: rest, xattrs: Object.fromEntries([...(xattrs ?? new Map())].map(([k, v]) => [k, v.toString('hex')])), data: '' };
    out.push(cur);
  };
  const r = new TarReader({
    onEntry,
    onData: (c) => { if (cur) cur.data += c.toString('latin1'); },
    onEntryEnd: () => { cur = undefined; },
    ...(files ? { onFile: (h: TarHeader, data: Buffer) => { files.n++; onEntry(h); if (cur) cur.data = data.toString('latin1'); cur = undefined; } } : {}),
  });
  for (let i = 0; i < tar.length; i += size) r.write(tar.subarray(i, i + size));
  r.end();
  return out;
}

const long = 'd'.repeat(60) + '/' + 'e'.repeat(70) + '/' + 'f'.repeat(80);
const dir = mkdtempSync(join(tmpdir(), 'berth-tarparse-'));

function gnuTar(format: string): Buffer {
  const src = join(dir, `src-${format}`);
  mkdirSync(join(src, long), { recursive: true });
  writeFileSync(join(src, long, 'file'), 'x'.repeat(1000));
  writeFileSync(join(src, 'a-small'), 'hello\n', { mode: 0o640 });
  linkSync(join(src, 'a-small'), join(src, 'b-hard'));
  symlinkSync(join('..', long, 'file'), join(src, 'sym'));
  utimesSync(join(src, 'a-small'), 1_600_000_000, 1_600_000_000);
  const r = spawnSync('tar', [`--format=${format}`, '--sort=name', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr.toString()}`);
  return r.stdout;
}

for (const format of ['gnu', 'posix', 'ustar']) {
  test(`GNU tar --format=${format}: names, links, modes and data, the same in 1-, 511- and 64 KiB-byte chunks`, () => {
    if (format === 'ustar') {
      // ustar cannot hold the long name: it takes a name split into prefix/name (≤ 155 + 100).
      const src = join(dir, 'src-ustar');
      const split = 'p'.repeat(120) + '/' + 'n'.repeat(90);
      mkdirSync(join(src, split), { recursive: true });
      writeFileSync(join(src, split, 'f'), 'ustar');
      const r = spawnSync('tar', ['--format=ustar', '-C', src, '-cf', '-', `${split}/f`]);
      const got = read(r.stdout, 7);
      assert.equal(got.map((e) => [e.h.name, e.data]), [[`${split}/f`, 'ustar']]);
      return;
    }
    const tar = gnuTar(format);
    const whole = read(tar, tar.length);
    assert.equal(read(tar, 1), whole);
    assert.equal(read(tar, 511), whole);
    assert.equal(read(tar, 65536), whole);
    // A sink taking whole files gets the same entries, whole when their bytes are in the chunk.
    const files = { n: 0 };
    assert.equal(read(tar, tar.length, files), whole);
    assert.ok(files.n >= 2, 'the files came whole');
    assert.equal(read(tar, 511, { n: 0 }), whole, 'files split across chunks take the general path');
    assert.equal(read(tar, 1, { n: 0 }), whole);
    const by = new Map(whole.map((e) => [e.h.name.replace(/^\.\//, '').replace(/\/$/, ''), e]));
    assert.is(by.get(`${long}/file`)?.data, 'x'.repeat(1000));
    assert.is(by.get(`${long}/file`)?.h.type, 'file');
    assert.is(by.get('a-small')?.h.mode, 0o640);
    assert.is(by.get('a-small')?.h.mtime, 1_600_000_000);
    assert.is(by.get('a-small')?.data, 'hello\n');
    assert.is(by.get('b-hard')?.h.type, 'link');
    assert.is(by.get('b-hard')?.h.linkname.replace(/^\.\//, ''), 'a-small');
    assert.is(by.get('sym')?.h.type, 'symlink');
    assert.is(by.get('sym')?.h.linkname, `../${long}/file`);
    assert.is(by.get(long)?.h.type, 'directory');
  });
}

test('tar-stream tars: PAX names and binary-safe xattrs, uid/gid, devices', async () => {
  const tar = await makeTar([
    { name: 'x'.repeat(150) + '/y'.repeat(60), body: 'deep' },
    { name: 'cap', body: 'c', pax: { 'SCHILY.xattr.user.k': 'v' } },
    { name: 'owned', uid: 1234, gid: 5678, mode: 0o4755, body: '' },
    { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 },
  ]);
  const got = read(tar, 100);
  assert.equal(read(tar, tar.length), got);
  assert.is(got[0]?.h.name, 'x'.repeat(150) + '/y'.repeat(60));
  assert.is(got[0]?.data, 'deep');
  assert.equal(got[1]?.xattrs, { 'user.k': Buffer.from('v').toString('hex') });
  assert.equal([got[2]?.h.uid, got[2]?.h.gid, got[2]?.h.mode], [1234, 5678, 0o4755]);
  assert.equal([got[3]?.h.type, got[3]?.h.devmajor, got[3]?.h.devminor], ['character-device', 1, 3]);
});

test('refused: a bad checksum, an unknown format, an unsupported type; a cut stream fails at end()', async () => {
  const tar = await makeTar([{ name: 'a', body: 'x'.repeat(600) }]);
  const bad = Buffer.from(tar);
  bad[0] = 0x62; // 'b': the checksum no longer matches
  assert.throws(() => read(bad, 512), /bad checksum/);
  const v7 = Buffer.from(tar);
  v7.fill(0, 257, 265);
  let sum = 0;
  v7.fill(0x20, 148, 156);
  for (let i = 0; i < 512; i++) sum += v7[i] ?? 0;
  v7.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  assert.throws(() => read(v7, 512), /unknown format/);
  const sparse = Buffer.from(tar);
  sparse[156] = 0x53; // 'S'
  sum = 0;
  sparse.fill(0x20, 148, 156);
  for (let i = 0; i < 512; i++) sum += sparse[i] ?? 0;
  sparse.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  assert.throws(() => read(sparse, 512), /unsupported tar entry type "S"/);
  assert.throws(() => read(tar.subarray(0, 700), 512), /unexpected end of data/);
  assert.throws(() => read(tar.subarray(0, 300), 512), /unexpected end of data/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
