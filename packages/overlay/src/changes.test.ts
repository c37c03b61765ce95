// computeChanges on plain trees (no root: whiteout devices are covered by the root suites).
import { chmod, lutimes, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RecordingSys } from '@berth/native';
import { computeChanges } from './changes.js';
import { opaqueXattr } from './lower.js';

const past = new Date('2020-01-01T00:00:00Z');
const test = suite<{ tmp: string }>('changes', { tmp: '' });
test.before.each(async (ctx) => { ctx.tmp = await mkdtemp(join(tmpdir(), 'berth-changes-')); });
test.after.each(async (ctx) => { await rm(ctx.tmp, { recursive: true, force: true }); });

/** Writes files (`path` → content, `->target` for a symlink), all dated `past`. */
async function tree(dir: string, files: Record<string, string>): Promise<string> {
  const dirs = new Set<string>([dir]);
  for (const [p, content] of Object.entries(files)) {
    const full = join(dir, p);
    const parent = full.slice(0, full.lastIndexOf('/'));
    await mkdir(parent, { recursive: true });
    for (let d = parent; d.length >= dir.length; d = d.slice(0, d.lastIndexOf('/'))) dirs.add(d);
    if (content.endsWith('/')) { await mkdir(full, { recursive: true }); dirs.add(full); continue; }
    if (content.startsWith('->')) await symlink(content.slice(2), full);
    else await writeFile(full, content);
    await lutimes(full, past, past);
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await lutimes(d, past, past);
  return dir;
}

test('full tree (vfs): additions, content, mode and link changes, deletions', async ({ tmp }) => {
  const lower = await tree(join(tmp, 'lower'), { 'a': 'a', 'b': 'b', 'm': 'm', 'l': '->a', 'd/x': 'x', 'd/y': 'y', 'same/z': 'z' });
  const upper = await tree(join(tmp, 'upper'), { 'a': 'a', 'b': 'bigger', 'm': 'm', 'l': '->b', 'd/x': 'x', 'same/z': 'z', 'new/n': 'n' });
  await chmod(join(upper, 'm'), 0o600);
  assert.equal(await computeChanges(new RecordingSys(), upper, [lower], 'full'), [
    { path: '/b', kind: 'C' }, { path: '/d/y', kind: 'D' }, { path: '/l', kind: 'C' }, { path: '/m', kind: 'C' },
    { path: '/new', kind: 'A' }, { path: '/new/n', kind: 'A' },
  ]);
});

test('overlay upper: names not in upper are unchanged, files in it are changed; an opaque dir deletes the image children it lacks', async ({ tmp }) => {
  const bottom = await tree(join(tmp, 'l0'), { 'keep': 'k', 'd/x': 'x', 'd/y': 'y', 'e/1': '1' });
  const top = await tree(join(tmp, 'l1'), { 'e/2': '2' });
  const upper = await tree(join(tmp, 'upper'), { 'd/y': 'y', 'd/new': 'n', 'e/3': '3' });
  const sys = new RecordingSys();
  sys.lsetxattr(join(upper, 'd'), opaqueXattr, Buffer.from('y'));
  assert.equal(await computeChanges(sys, upper, [top, bottom], 'overlay'), [
    { path: '/d/new', kind: 'A' }, { path: '/d/x', kind: 'D' }, { path: '/d/y', kind: 'C' }, { path: '/e/3', kind: 'A' },
  ]);
});

test('an opaque dir in a lower layer hides the layers below it', async ({ tmp }) => {
  const bottom = await tree(join(tmp, 'l0'), { 'd/old': 'o' });
  const top = await tree(join(tmp, 'l1'), { 'd/new': 'n' });
  const sys = new RecordingSys();
  sys.lsetxattr(join(top, 'd'), opaqueXattr, Buffer.from('y'));
  const upper = await tree(join(tmp, 'upper'), { 'd/': '/', 'd/old': 'o' });
  assert.equal(await computeChanges(sys, upper, [top, bottom], 'full'), [
    { path: '/d/new', kind: 'D' }, { path: '/d/old', kind: 'A' },
  ]);
});

test('an aborted signal stops the walk with Canceled', async ({ tmp }) => {
  const upper = await tree(join(tmp, 'upper'), { a: 'a' });
  try {
    await computeChanges(new RecordingSys(), upper, [], 'overlay', AbortSignal.abort());
    assert.unreachable('aborted');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'Canceled');
  }
});

test.run();
