import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cgroupDriverVersion, cgroupMode } from './mode.js';

const line = (id: number, mp: string, fstype: string, opts = 'rw') =>
  `${id} 1 0:${id} / ${mp} rw,nosuid - ${fstype} ${fstype} ${opts}`;

test('a v1 host with cgroup2 at /sys/fs/cgroup/unified is hybrid and uses the v1 driver', () => {
  const text = [line(30, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'), line(31, '/sys/fs/cgroup/unified', 'cgroup2')].join('\n');
  assert.is(cgroupMode(text), 'hybrid');
  assert.is(cgroupDriverVersion(cgroupMode(text)), 1);
});

test('cgroup2 alone at /sys/fs/cgroup is v2', () => {
  assert.is(cgroupMode(line(30, '/sys/fs/cgroup', 'cgroup2')), 'v2');
  assert.is(cgroupDriverVersion('v2'), 2);
});

test('v1 controllers alone are v1', () => {
  assert.is(cgroupMode(line(30, '/sys/fs/cgroup/cpu', 'cgroup', 'rw,cpu')), 'v1');
});

test('this host reports a mode', () => {
  assert.ok(['v1', 'hybrid', 'v2'].includes(cgroupMode()));
});

test.run();
