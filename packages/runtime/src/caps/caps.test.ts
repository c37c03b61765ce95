import { readFileSync } from 'node:fs';
import { isBerthError } from '@berth/errors';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allCapabilities, applyCapChanges, capName, capNumber, defaultCapabilities, normalizeCapability, ociCapabilities } from './caps.js';

test('the default set is Docker\'s fourteen', () => {
  assert.is(defaultCapabilities.length, 14);
  for (const c of ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_SYS_CHROOT']) assert.ok(defaultCapabilities.includes(c as never), c);
  for (const c of ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_MODULE']) assert.not.ok(defaultCapabilities.includes(c as never), c);
});

test('capability numbers are the kernel\'s', () => {
  const table: Array<[string, number]> = [['CAP_CHOWN', 0], ['net_admin', 12], ['SYS_ADMIN', 21], ['cap_mknod', 27], ['CAP_BPF', 39], ['checkpoint_restore', 40]];
  for (const [name, n] of table) assert.is(capNumber(name), n, name);
  assert.is(capName(21), 'CAP_SYS_ADMIN');
  assert.is(capName(99), undefined);
});

test('allCapabilities follows cap_last_cap', () => {
  assert.is(allCapabilities(37).length, 38);
  assert.is(allCapabilities(37).at(-1), 'CAP_AUDIT_READ');
  assert.is(allCapabilities(1000).length, 41);
  let last: number | undefined;
  try { last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')); } catch { last = undefined; }
  if (last !== undefined) assert.is(allCapabilities().length, Math.min(last, 40) + 1);
});

test('an unknown capability is an InvalidArgument naming it', () => {
  try {
    normalizeCapability('NET_ADMINN');
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'));
    assert.match((e as Error).message, /unknown capability "NET_ADMINN"/);
  }
  assert.throws(() => applyCapChanges(defaultCapabilities, ['SYS_BANANA']), /SYS_BANANA/);
  assert.throws(() => applyCapChanges(defaultCapabilities, [], ['cap_nope']), /cap_nope/);
});

test('applyCapChanges behaves like docker --cap-add/--cap-drop', () => {
  const cases: Array<{ name: string; add: string[]; drop: string[]; has: string[]; lacks: string[]; size?: number }> = [
    { name: 'no change', add: [], drop: [], has: ['CAP_CHOWN'], lacks: ['CAP_SYS_ADMIN'], size: 14 },
    { name: 'add without prefix', add: ['net_admin'], drop: [], has: ['CAP_NET_ADMIN', 'CAP_CHOWN'], lacks: [], size: 15 },
    { name: 'drop with prefix', add: [], drop: ['CAP_NET_RAW'], has: ['CAP_CHOWN'], lacks: ['CAP_NET_RAW'], size: 13 },
    { name: 'add ALL', add: ['ALL'], drop: ['MKNOD'], has: ['CAP_SYS_ADMIN', 'CAP_CHOWN'], lacks: ['CAP_MKNOD'] },
    { name: 'drop ALL keeps only adds', add: ['NET_BIND_SERVICE'], drop: ['all'], has: ['CAP_NET_BIND_SERVICE'], lacks: ['CAP_CHOWN'], size: 1 },
    { name: 'add and drop the same keeps it', add: ['KILL'], drop: ['KILL'], has: ['CAP_KILL'], lacks: [] },
    { name: 'duplicates collapse', add: ['chown', 'CAP_CHOWN'], drop: [], has: ['CAP_CHOWN'], lacks: [], size: 14 },
  ];
  for (const c of cases) {
    const out = applyCapChanges(defaultCapabilities, c.add, c.drop);
    for (const h of c.has) assert.ok(out.includes(h as never), `${c.name}: has ${h}`);
    for (const l of c.lacks) assert.not.ok(out.includes(l as never), `${c.name}: lacks ${l}`);
    if (c.size !== undefined) assert.is(out.length, c.size, c.name);
    const nums = out.map(capNumber);
    assert.equal(nums, [...nums].sort((a, b) => a - b), `${c.name}: in number order`);
  }
});

test('ociCapabilities fills bounding/effective/permitted and leaves inheritable and ambient empty', () => {
  const caps = ociCapabilities(['chown', 'CAP_KILL']);
  assert.equal(caps.bounding, ['CAP_CHOWN', 'CAP_KILL']);
  assert.equal(caps.effective, caps.bounding);
  assert.equal(caps.permitted, caps.bounding);
  assert.equal(caps.inheritable, []);
  assert.equal(caps.ambient, []);
});

test.run();
