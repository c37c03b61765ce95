// The harness itself (not a benchmark): order, statistics, peer ratio, and the child environment.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bench, childEnv, median } from './harness.js';

test('median of odd and even counts', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('warm-up first, then rounds that rotate the order; stats and ratio to the peer', async () => {
  const calls: string[] = [];
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const lines: string[] = [];
  const result = await bench('t', [
    { name: 'slow', fn: async () => { calls.push('slow'); await sleep(20); } },
    { name: 'fast', fn: async () => { calls.push('fast'); await sleep(5); } },
  ], { warmup: 1, rounds: 4, peer: 'fast', write: (l) => lines.push(l) });
  assert.equal(calls, ['slow', 'fast', 'slow', 'fast', 'fast', 'slow', 'slow', 'fast', 'fast', 'slow']);
  const [slow, fast] = result.stats;
  assert.is(slow?.samples.length, 4);
  assert.is(fast?.ratio, 1);
  assert.ok((slow?.ratio ?? 0) > 1.5, `slow/fast ratio ${slow?.ratio}`);
  assert.ok((slow?.min ?? 0) <= (slow?.median ?? 0) && (slow?.median ?? 0) <= (slow?.max ?? 0));
  assert.match(lines.at(-1) ?? '', /^slow \d+\.\d ms, fast \d+\.\d ms: \d+\.\d\d×$/);
});

test('children run without NODE_EXTRA_CA_CERTS; a failing command fails the bench', async () => {
  process.env['NODE_EXTRA_CA_CERTS'] = '/nonexistent/ca.pem';
  assert.is(childEnv()['NODE_EXTRA_CA_CERTS'], undefined);
  const quiet = { warmup: 0, rounds: 1, write: () => {} };
  await bench('env', [{ name: 'clean', argv: ['sh', '-c', 'test -z "$NODE_EXTRA_CA_CERTS"'] }], quiet);
  try {
    await bench('fails', [{ name: 'false', argv: ['sh', '-c', 'echo oops >&2; exit 3'] }], quiet);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match(String(e), /false .* exited with 3: oops/);
  }
});

test('the peer must be a candidate', async () => {
  try {
    await bench('x', [{ name: 'a', fn: async () => {} }], { peer: 'b', write: () => {} });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match(String(e), /peer "b" is not a candidate/);
  }
});

test.run();
