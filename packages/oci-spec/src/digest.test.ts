import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BerthError } from '@berth/errors';
import { algorithmOf, checkDigest, createDigester, digestOf, DigestStream, hexOf, isDigest, parseDigest, type Digest } from './index.js';

const empty256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const empty512 = 'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

test('digestOf: known vectors (sha256 and sha512 of empty input, the OCI empty descriptor)', () => {
  assert.is(digestOf(''), empty256);
  assert.is(digestOf(new Uint8Array()), empty256);
  assert.is(digestOf('', 'sha512'), empty512);
  assert.is(digestOf('{}'), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  // the ChainID vector of the spec notes: sha256("sha256:a sha256:b")
  assert.is(digestOf('sha256:a sha256:b'), 'sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8');
});

test('parseDigest accepts registered algorithms with their exact encoding', () => {
  for (const d of [empty256, empty512, `blake3:${'a'.repeat(64)}`]) {
    assert.is(parseDigest(d), d);
    assert.ok(isDigest(d));
  }
  assert.is(algorithmOf(parseDigest(empty256)), 'sha256');
  assert.is(hexOf(parseDigest(empty256)), empty256.slice(7));
});

test('parseDigest refuses bad digests with a typed error naming the string and the reason', () => {
  const cases: Array<[unknown, 'invalid' | 'unsupported', string]> = [
    ['', 'invalid', 'expected <algorithm>:<encoded>'],
    ['sha256', 'invalid', 'expected <algorithm>:<encoded>'],
    [':abc', 'invalid', 'expected <algorithm>:<encoded>'],
    ['sha256:', 'invalid', 'empty encoded part'],
    ['sha256:abc', 'invalid', 'sha256 needs 64 hex characters, got 3'],
    [`sha256:${'A'.repeat(64)}`, 'invalid', 'lowercase hex'],
    [`sha256:${'g'.repeat(64)}`, 'invalid', 'lowercase hex'],
    [`sha512:${'a'.repeat(64)}`, 'invalid', 'sha512 needs 128'],
    [`SHA256:${'a'.repeat(64)}`, 'invalid', 'invalid algorithm'],
    [`sha256+:${'a'.repeat(64)}`, 'invalid', 'invalid algorithm'],
    [`+sha:${'a'.repeat(64)}`, 'invalid', 'invalid algorithm'],
    ['multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8', 'unsupported', 'unsupported digest algorithm "multihash+base58"'],
    ['md5:!!', 'invalid', 'invalid encoded part'],
    [42, 'invalid', 'digest must be a string'],
  ];
  for (const [input, kind, text] of cases) {
    try {
      parseDigest(input);
      assert.unreachable(`${String(input)} parsed`);
    } catch (e) {
      assert.instance(e, BerthError);
      assert.is((e as BerthError).code, 'InvalidArgument');
      assert.is((e as BerthError).detail?.['kind'], kind, String(input));
      assert.ok((e as Error).message.includes(text), `${(e as Error).message} should say ${text}`);
    }
    assert.not.ok(isDigest(input));
  }
});

test('unknown algorithms that fit the grammar pass when asked (the OCI spec says validators SHOULD)', () => {
  const d = 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8';
  assert.is(parseDigest(d, { allowUnknownAlgorithm: true }), d);
  assert.is(checkDigest('sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564', { allowUnknownAlgorithm: true }), undefined);
  assert.equal(checkDigest('md5:abc'), { kind: 'unsupported', reason: 'unsupported digest algorithm "md5"' });
});

test('a 1 MiB hostile string is refused fast and the message stays short', () => {
  const s = `sha256:${'a'.repeat(1 << 20)}`;
  const t = performance.now();
  try { parseDigest(s); } catch (e) { assert.ok((e as Error).message.length < 200); }
  assert.ok(performance.now() - t < 5000, "linear: milliseconds even when loaded; backtracking would take minutes");
});

test('createDigester: chunked input gives the one-shot digest, and counts bytes', () => {
  const data = Buffer.from('hello, '.repeat(1000));
  const d = createDigester();
  for (let i = 0; i < data.length; i += 333) d.update(data.subarray(i, i + 333));
  assert.is(d.size, data.length);
  assert.is(d.digest(), digestOf(data));
  assert.is(d.digest(), digestOf(data)); // idempotent
  assert.throws(() => d.update('more'), /already finished/);
  assert.is(createDigester('sha512').update('').digest(), empty512);
  assert.is(createDigester().update('é').size, 2);
  assert.throws(() => createDigester('blake3'), (e: unknown) => e instanceof BerthError && e.code === 'NotImplemented');
  assert.throws(() => digestOf('x', 'md5'), /cannot be computed/);
});

function sink(): { stream: Writable; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return { chunks, stream: new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }) };
}

test('DigestStream passes data through unchanged and exposes digest and size at the end', async () => {
  const parts = ['layer ', 'bytes ', 'in ', 'pieces'];
  const s = new DigestStream();
  assert.throws(() => s.digest(), /not finished/);
  const out = sink();
  await pipeline(Readable.from(parts.map((p) => Buffer.from(p))), s, out.stream);
  assert.is(Buffer.concat(out.chunks).toString(), parts.join(''));
  assert.is(s.digest(), digestOf(parts.join('')));
  assert.is(s.size, parts.join('').length);
});

test('DigestStream verifies: the right digest and size pass, a wrong one fails the pipeline', async () => {
  const data = Buffer.from('verified content');
  const good = digestOf(data);
  await pipeline(Readable.from([data]), new DigestStream({ expected: good, expectedSize: data.length }), sink().stream);

  const bad = digestOf('something else');
  try {
    await pipeline(Readable.from([data]), new DigestStream({ expected: bad }), sink().stream);
    assert.unreachable('mismatch passed');
  } catch (e) {
    assert.instance(e, BerthError);
    assert.is((e as BerthError).detail?.['kind'], 'digest-mismatch');
    assert.ok((e as Error).message.includes(good) && (e as Error).message.includes(bad));
  }
  for (const size of [data.length - 1, data.length + 1]) {
    try {
      await pipeline(Readable.from([data]), new DigestStream({ expected: good, expectedSize: size }), sink().stream);
      assert.unreachable(`size ${size} passed`);
    } catch (e) {
      assert.is((e as BerthError).detail?.['kind'], 'size-mismatch');
    }
  }
  // the algorithm follows the expected digest
  const d512 = digestOf(data, 'sha512');
  const s = new DigestStream({ expected: d512 as Digest });
  await pipeline(Readable.from([data]), s, sink().stream);
  assert.is(s.digest(), d512);
});

test.run();
