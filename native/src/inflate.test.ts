// gunzipper: the addon's gzip decoder against node:zlib's output, on the streams a layer may be.
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gunzipper, type GunzipOptions } from './inflate.js';

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** Decompresses `gz` fed in `size`-byte chunks; each output chunk is hashed and copied as it comes. */
async function run(gz: Buffer, options: GunzipOptions = {}, size = 65536): Promise<{ out: Buffer; chunks: number }> {
  const gunzip = gunzipper(options);
  assert.ok(gunzip, 'the addon exposes a gzip decoder');
  const parts: Buffer[] = [];
  for await (const c of gunzip(chunks(gz, size))) parts.push(Buffer.from(c));
  return { out: Buffer.concat(parts), chunks: parts.length };
}

async function failure(gz: Buffer, options: GunzipOptions = {}): Promise<string> {
  try {
    await run(gz, options);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

const text = Buffer.from('berth layer text '.repeat(200_000));
const mixed = Buffer.concat([text, randomBytes(3 << 20), text]);

test('decompresses what gzip wrote, in chunks of any size, with and without the CRC check', async () => {
  const gz = gzipSync(mixed);
  for (const size of [4096, 65536, gz.length]) {
    for (const check of [true, false]) assert.ok((await run(gz, { check }, size)).out.equals(mixed), `chunk size ${size}, check ${check}`);
  }
  const part = Buffer.concat([text.subarray(0, 20_000), randomBytes(20_000)]);
  const small = gzipSync(part);
  for (const size of [1, 7]) assert.ok((await run(small, {}, size)).out.equals(part), `chunk size ${size}`);
});

test('output comes in chunks of the asked size; with reuse they are views of one buffer', async () => {
  const gz = gzipSync(mixed);
  const gunzip = gunzipper({ reuse: true, chunkSize: 1 << 16 });
  assert.ok(gunzip);
  const seen = new Set<ArrayBufferLike>();
  const hash = createHash('sha256');
  let n = 0;
  for await (const c of gunzip(chunks(gz, 1 << 20))) {
    assert.ok(c.length <= 1 << 16);
    seen.add(c.buffer);
    hash.update(c);
    n++;
  }
  assert.is(seen.size, 1);
  assert.ok(n >= mixed.length / (1 << 16));
  assert.is(hash.digest('hex'), createHash('sha256').update(mixed).digest('hex'));
  const fresh = gunzipper({ chunkSize: 1 << 16 });
  assert.ok(fresh);
  const buffers = new Set<ArrayBufferLike>();
  for await (const c of fresh(chunks(gz, 1 << 20))) buffers.add(c.buffer);
  assert.ok(buffers.size > 1, 'without reuse every chunk has its own memory');
});

test('members follow each other (cat a.gz b.gz); bytes after the last that are not a member are ignored', async () => {
  const two = Buffer.concat([gzipSync(Buffer.from('hello ')), gzipSync(Buffer.from('world')), Buffer.alloc(1024)]);
  for (const size of [1, 3, two.length]) assert.is((await run(two, {}, size)).out.toString(), 'hello world');
  assert.is(gunzipSync(two).toString(), 'hello world', 'as node:zlib reads it');
  const empty = gzipSync(Buffer.alloc(0));
  assert.is((await run(Buffer.concat([empty, empty]))).out.length, 0);
});

test('a truncated stream, corrupt data and a wrong CRC are errors; the CRC only when checked', async () => {
  const gz = gzipSync(mixed);
  assert.is(await failure(gz.subarray(0, gz.length - 4)), 'gzip: unexpected end of file');
  assert.is(await failure(gz.subarray(0, 5000)), 'gzip: unexpected end of file');
  const twoThirds = Buffer.concat([gzipSync(Buffer.from('a')), gzipSync(Buffer.from('bcd')).subarray(0, 12)]);
  assert.is(await failure(twoThirds), 'gzip: unexpected end of file', 'the second member cut');
  const badHeader = Buffer.from(gz);
  badHeader[2] = 7; // compression method
  assert.match(await failure(badHeader), /^gzip: unknown compression method/);
  const crc = gzipSync(Buffer.from('hello'));
  crc[crc.length - 6] = (crc[crc.length - 6] ?? 0) ^ 1;
  assert.is(await failure(crc), 'gzip: incorrect data check');
  assert.is((await run(crc, { check: false })).out.toString(), 'hello', 'the caller checks a digest of the output instead');
  const len = gzipSync(Buffer.from('hello'));
  len[len.length - 4] = 9;
  assert.is(await failure(len), 'gzip: incorrect length check');
});

test.run();
