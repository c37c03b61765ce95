// ChunkQueue: what a pull's body branches and an unpack worker's source rely on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChunkQueue } from './chunk-queue.js';

const b = (s: string): Uint8Array => Buffer.from(s);

test('chunks come out in order, each release reported; the reader waits for more until end', async () => {
  const released: number[] = [];
  const q = new ChunkQueue((n) => released.push(n));
  q.push(b('ab'));
  const got: string[] = [];
  const reading = (async () => { for await (const c of q) got.push(Buffer.from(c).toString()); })();
  await new Promise((r) => setTimeout(r, 5));
  q.push(b('cde'));
  q.end();
  await reading;
  assert.equal(got, ['ab', 'cde']);
  assert.equal(released, [2, 3]);
  assert.is(q.bytes, 0);
});

test('fail: the reader gets the error, queued bytes are dropped and reported, later pushes ignored', async () => {
  const released: number[] = [];
  const q = new ChunkQueue((n) => released.push(n));
  q.push(b('xyz'));
  q.fail(new Error('cut'));
  q.push(b('more'));
  assert.is(q.bytes, 0);
  assert.equal(released, [3]);
  let error: unknown;
  try {
    for await (const _ of q) { /* nothing comes */ }
  } catch (e) {
    error = e;
  }
  assert.match(String(error), /cut/);
});

test('a reader that stops early drops the rest, so a producer waiting on backpressure is released', async () => {
  const released: number[] = [];
  const q = new ChunkQueue((n) => released.push(n));
  q.push(b('12'));
  q.push(b('3456'));
  for await (const _ of q) break;
  assert.is(q.bytes, 0);
  assert.equal(released, [2, 4]);
});

test.run();
