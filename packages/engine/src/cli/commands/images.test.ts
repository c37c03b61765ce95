import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ImageRecord } from '@berth/layer-store';
import { humanSize, imageRows } from './image-list.js';

test('sizes read like Docker (decimal units, 3 significant digits)', () => {
  assert.equal([0, 999, 1000, 4_261_567, 12_345_678, 1_500_000_000].map(humanSize), ['0B', '999B', '1kB', '4.26MB', '12.3MB', '1.5GB']);
});

const img = (id: string, tags: string[], created: string): ImageRecord => ({
  id: `sha256:${id.repeat(64 / id.length)}` as ImageRecord['id'], created, architecture: 'amd64', os: 'linux', variant: undefined,
  size: 4_261_567, addedAt: 0, tags, repoDigests: [], layers: [], manifests: [],
});

test('images rows: one per tag, <none> for dangling, newest first, filters by reference glob and dangling', () => {
  const now = Date.parse('2026-01-15T00:00:00Z');
  const list = [
    img('a', ['docker.io/library/busybox:latest', 'localhost:5000/bb:v1'], '2026-01-01T00:00:00Z'),
    img('b', [], '2026-01-14T00:00:00Z'),
  ];
  const rows = imageRows(list, { now });
  assert.equal(rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]), [
    ['<none>', '<none>', 'bbbbbbbbbbbb', '24 hours ago', '4.26MB'],
    ['busybox', 'latest', 'aaaaaaaaaaaa', '2 weeks ago', '4.26MB'],
    ['localhost:5000/bb', 'v1', 'aaaaaaaaaaaa', '2 weeks ago', '4.26MB'],
  ]);
  assert.equal(imageRows(list, { now, filters: ['reference=busy*'] }).map((r) => r.Repository), ['busybox']);
  assert.equal(imageRows(list, { now, filters: ['reference=localhost:5000/*:v1'] }).map((r) => r.Tag), ['v1']);
  assert.equal(imageRows(list, { now, filters: ['dangling=true'] }).map((r) => r.ID), ['bbbbbbbbbbbb']);
  assert.equal(imageRows(list, { now, repo: 'busybox' }).length, 1);
  assert.equal(imageRows(list, { now, repo: 'busybox:latest' }).length, 1);
  assert.equal(imageRows(list, { now, repo: 'busybox:1' }).length, 0);
  assert.equal(imageRows(list, { now, repo: 'localhost:5000/bb' }).map((r) => r.Tag), ['v1']);
  assert.is(imageRows(list, { now, trunc: false })[0]?.ID, `sha256:${'b'.repeat(64)}`);
  assert.throws(() => imageRows(list, { filters: ['until=x'] }), /invalid filter "until=x"/);
  const resolve = (ref: string) => list.find((i) => i.id.includes(ref)) ?? list[0] as ImageRecord;
  assert.equal(imageRows(list, { now, filters: ['before=bbbb'], resolve }).map((r) => r.ID), ['aaaaaaaaaaaa', 'aaaaaaaaaaaa']);
  assert.equal(imageRows(list, { now, filters: ['since=aaaa'], resolve }).map((r) => r.ID), ['bbbbbbbbbbbb']);
  const labels = (i: ImageRecord) => (i.id.includes('aaaa') ? { tier: 'base' } : {});
  assert.equal(imageRows(list, { now, filters: ['label=tier=base'], labels }).map((r) => r.Tag), ['latest', 'v1']);
  assert.equal(imageRows(list, { now, filters: ['label=tier'], labels }).length, 2);
  assert.equal(imageRows(list, { now, filters: ['label=tier=app'], labels }).length, 0);
});

test.run();
