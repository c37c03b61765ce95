// Choosing the driver, above the door: the probe's verdicts and their cache.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RecordingSys } from '@berth/native';
import { createSnapshotter, detectDriver, readDriverVerdict } from './factory.js';

const test = suite<{ root: string }>('driver choice', { root: '' });
test.before.each(async (ctx) => { ctx.root = await mkdtemp(join(tmpdir(), 'berth-probe-')); });
test.after.each(async (ctx) => { await rm(ctx.root, { recursive: true, force: true }); });

test('no overlayfs in the kernel: vfs, with the mount error as the reason, cached on disk', async ({ root }) => {
  const sys = new RecordingSys().failOn({ op: 'mount', errno: 'ENODEV' });
  const snap = await createSnapshotter({ root, sys });
  assert.is(snap.driver, 'vfs');
  const v = await readDriverVerdict(root);
  assert.is(v?.driver, 'vfs');
  assert.match(v?.reason ?? '', /^mount overlay on .*probe-[0-9a-f]+\/merged/);
  assert.is(v?.kernel, release());
  assert.is(sys.callsOf('mount').length, 1);
  assert.equal(sys.mounts, []);
});

test('options the kernel rejects (EINVAL) are dropped before giving up on overlay', async ({ root }) => {
  const sys = new RecordingSys().failOn({ op: 'mount', errno: 'EINVAL', times: 2 });
  const v = await detectDriver(root, sys);
  assert.is(v.driver, 'vfs');
  const data = sys.callsOf('mount').map((c) => String(c.args[4]));
  assert.is(data.length, 2);
  assert.match(data[0] ?? '', /index=off,redirect_dir=off,metacopy=off$/);
  assert.not.match(data[1] ?? '', /index=off/);
});

test('a verdict cached on disk for this kernel is used without mounting; another kernel\'s is not', async ({ root }) => {
  await mkdir(join(root, 'overlay'));
  const verdict = { driver: 'overlay', reason: 'overlay mount works', kernel: release(), mountOptions: ['index=off'], volatile: true };
  await writeFile(join(root, 'overlay/probe.json'), JSON.stringify(verdict));
  const sys = new RecordingSys();
  assert.equal(await detectDriver(root, sys), verdict);
  assert.is((await createSnapshotter({ root, sys })).driver, 'overlay');
  assert.equal(sys.calls, []);

  const other = join(root, 'other');
  await mkdir(join(other, 'overlay'), { recursive: true });
  await writeFile(join(other, 'overlay/probe.json'), JSON.stringify({ ...verdict, kernel: 'not-this-one' }));
  const v = await detectDriver(other, sys.failOn({ op: 'mount', errno: 'EPERM' }));
  assert.is(v.driver, 'vfs');
  assert.is(JSON.parse(await readFile(join(other, 'overlay/probe.json'), 'utf8')).kernel, release());
});

test('a cached verdict from before volatile was probed is probed again, once', async ({ root }) => {
  await mkdir(join(root, 'overlay'));
  const old = { driver: 'overlay', reason: 'overlay mount works', kernel: release(), mountOptions: ['index=off'] };
  await writeFile(join(root, 'overlay/probe.json'), JSON.stringify(old));
  assert.equal(await readDriverVerdict(root), { ...old, volatile: false }, 'berth info still reads it');
  const sys = new RecordingSys().failOn({ op: 'mount', errno: 'ENODEV' });
  assert.is((await detectDriver(root, sys)).driver, 'vfs');
  assert.is(sys.callsOf('mount').length, 1);
  const again = JSON.parse(await readFile(join(root, 'overlay/probe.json'), 'utf8')) as Record<string, unknown>;
  assert.is(again['volatile'], false);
  // The rewritten file is complete: another process (another root, so no in-memory verdict) takes it.
  const other = join(root, 'other');
  await mkdir(join(other, 'overlay'), { recursive: true });
  await writeFile(join(other, 'overlay/probe.json'), JSON.stringify(again));
  const fresh = new RecordingSys();
  assert.is((await detectDriver(other, fresh)).driver, 'vfs');
  assert.equal(fresh.calls, []);
});

test('an explicit driver is used as asked, without probing', async ({ root }) => {
  const sys = new RecordingSys();
  assert.is((await createSnapshotter({ root, sys, driver: 'vfs' })).driver, 'vfs');
  assert.is((await createSnapshotter({ root, sys, driver: 'overlay' })).driver, 'overlay');
  assert.equal(sys.calls, []);
});

test.run();
