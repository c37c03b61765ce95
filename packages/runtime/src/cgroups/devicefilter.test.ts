import { isBerthError } from '@berth/errors';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deviceAllowed, deviceFilterProgram } from './devicefilter.js';
import { cgroupManager } from './factory.js';
import { MemoryCgroupFs } from './fs.js';
import { readCgroupHost } from './host.js';
import { defaultDeviceRules, type LinuxDeviceCgroup } from './resources.js';

test('the default rules allow the harmless devices and deny the rest', () => {
  const p = deviceFilterProgram(defaultDeviceRules);
  const table: Array<[type: 'c' | 'b', major: number, minor: number, access: string, allowed: boolean]> = [
    ['c', 1, 3, 'rw', true], // /dev/null
    ['c', 1, 9, 'r', true], // /dev/urandom
    ['c', 136, 4, 'rw', true], // /dev/pts/4
    ['c', 5, 2, 'rw', true], // /dev/ptmx
    ['b', 8, 0, 'm', true], // mknod of any block node …
    ['b', 8, 0, 'r', false], // … but not reading the disk
    ['c', 1, 1, 'r', false], // /dev/mem
    ['c', 10, 200, 'rw', false], // /dev/net/tun
    ['c', 4, 0, 'w', false], // /dev/tty0
  ];
  for (const [type, major, minor, access, allowed] of table) {
    assert.is(deviceAllowed(p, type, major, minor, access), allowed, `${type} ${major}:${minor} ${access}`);
  }
});

test('later rules win, access must be within the rule, and an all-devices rule resets', () => {
  const rules: LinuxDeviceCgroup[] = [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
    { allow: true, type: 'c', major: 1, access: 'rwm' },
    { allow: false, type: 'c', major: 1, minor: 7, access: 'rwm' },
  ];
  const p = deviceFilterProgram(rules);
  assert.ok(deviceAllowed(p, 'c', 1, 5, 'rw'), 'the later c 1:* rwm covers 1:5 writes');
  assert.not.ok(deviceAllowed(p, 'c', 1, 7, 'r'), 'the last rule denies 1:7');
  assert.not.ok(deviceAllowed(p, 'c', 2, 0, 'r'));
  const readOnly = deviceFilterProgram([{ allow: false }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }]);
  assert.ok(deviceAllowed(readOnly, 'c', 1, 5, 'r'));
  assert.not.ok(deviceAllowed(readOnly, 'c', 1, 5, 'rw'), 'write is outside the rule');
  // Nothing said: everything allowed, as a new v1 cgroup; "allow all" after "deny all" resets.
  assert.ok(deviceAllowed(deviceFilterProgram([]), 'b', 8, 0, 'rw'));
  assert.ok(deviceAllowed(deviceFilterProgram([{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3 }, { allow: true }]), 'b', 8, 0, 'rw'));
  // Allow-all with a deny exception.
  const denyOne = deviceFilterProgram([{ allow: false, type: 'b', major: 8, access: 'rw' }]);
  assert.not.ok(deviceAllowed(denyOne, 'b', 8, 1, 'w'));
  assert.ok(deviceAllowed(denyOne, 'b', 8, 1, 'm'));
});

test('the program is whole eBPF instructions ending in exit, and bad rules are refused', () => {
  const p = deviceFilterProgram(defaultDeviceRules);
  assert.is(p.instructions.byteLength % 8, 0);
  assert.is(p.instructions[p.instructions.byteLength - 8], 0x95);
  for (const bad of [{ allow: true, type: 'x' }, { allow: true, type: 'c', access: 'rwx' }, { allow: true, type: 'c', major: -5 }]) {
    try {
      deviceFilterProgram([bad]);
      assert.unreachable(JSON.stringify(bad));
    } catch (e) {
      assert.ok(isBerthError(e, 'InvalidArgument'), String(e));
    }
  }
});

test('the v2 driver hands the program to its loader instead of warning', async () => {
  const fs = new MemoryCgroupFs();
  fs.seed('/sys/fs/cgroup', { 'cgroup.controllers': 'pids', 'cgroup.subtree_control': '', 'cgroup.procs': '', 'pids.max': 'max' });
  const host = readCgroupHost({ mountinfo: '30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', procSelfCgroup: '0::/\n' });
  const attached: Array<[string, number]> = [];
  const cg = cgroupManager('c1', { host, fs, deviceFilter: { attach: async (dir, prog) => void attached.push([dir, prog.instructions.byteLength]) } });
  const report = await cg.create({ devices: defaultDeviceRules });
  assert.equal(report.warnings, []);
  assert.is(attached.length, 1);
  assert.is(attached[0]?.[0], '/sys/fs/cgroup/berth/c1');
});

test.run();
