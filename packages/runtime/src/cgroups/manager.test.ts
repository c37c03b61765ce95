// The cgroup drivers' mapping from OCI resources to cgroup files, on an in-memory hierarchy.
import { isBerthError } from '@berth/errors';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cgroupManager, cgroupManagerAt } from './factory.js';
import { MemoryCgroupFs } from './fs.js';
import { cgroupDir, parseCgroupMounts, parseProcCgroup, readCgroupHost, type CgroupHost } from './host.js';
import { cpuMaxV2, defaultDeviceRules, sharesToWeight, swapToV2 } from './resources.js';

const unlimited = '9223372036854771712';
const v1Files: Record<string, Record<string, string>> = {
  cpu: { 'cpu.shares': '1024', 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': '-1', 'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n', 'cgroup.procs': '' },
  cpuacct: { 'cpuacct.usage': '0', 'cpuacct.usage_user': '0', 'cpuacct.usage_sys': '0', 'cgroup.procs': '' },
  cpuset: { 'cpuset.cpus': '0-1', 'cpuset.mems': '0', 'cgroup.procs': '' },
  memory: {
    'memory.limit_in_bytes': unlimited,
    'memory.memsw.limit_in_bytes': unlimited,
    'memory.soft_limit_in_bytes': unlimited,
    'memory.usage_in_bytes': '0',
    'memory.max_usage_in_bytes': '0',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
    'memory.stat': 'cache 0\ntotal_cache 0\n',
    'memory.swappiness': '60',
    'cgroup.procs': '',
  },
  pids: { 'pids.max': 'max', 'pids.current': '0', 'cgroup.procs': '' },
  devices: { 'devices.allow': '', 'devices.deny': '', 'devices.list': 'a *:* rwm', 'cgroup.procs': '' },
  freezer: { 'freezer.state': 'THAWED', 'cgroup.procs': '' },
};

const mountinfoV1 = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  ...Object.keys(v1Files).map((c, i) => `${32 + i} 31 0:${29 + i} / /sys/fs/cgroup/${c} rw,relatime - cgroup cgroup rw,${c}`),
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const procSelfV1 = ['8:pids:/', '4:memory:/process_api/abc', '3:cpuset:/', '2:cpuacct:/', '1:cpu:/', '0::/'].join('\n');

/** A fake hybrid host like the CI machine: v1 controllers, the memory one nesting us under /process_api/abc. */
function v1Host(options: { memsw?: boolean } = {}): { host: CgroupHost; fs: MemoryCgroupFs; killed: number[]; kill: (pid: number) => void } {
  const fs = new MemoryCgroupFs();
  for (const [c, files] of Object.entries(v1Files)) {
    const f = { ...files };
    if (c === 'memory' && options.memsw === false) delete f['memory.memsw.limit_in_bytes'];
    fs.seed(`/sys/fs/cgroup/${c}`, f);
    if (c === 'memory') fs.seed('/sys/fs/cgroup/memory/process_api/abc', { ...f, 'cgroup.procs': '4242\n' });
  }
  const killed: number[] = [];
  const kill = (pid: number) => {
    killed.push(pid);
    for (const [path, content] of fs.files) {
      if (path.endsWith('/cgroup.procs')) fs.files.set(path, content.split('\n').filter((l) => l !== '' && l !== String(pid)).map((l) => `${l}\n`).join(''));
    }
  };
  return { host: readCgroupHost({ mountinfo: mountinfoV1, procSelfCgroup: procSelfV1 }), fs, killed, kill };
}

test('hierarchies and our own cgroups are read from mountinfo and /proc/self/cgroup', () => {
  const { v1, unified } = parseCgroupMounts(mountinfoV1);
  assert.equal(v1.get('memory'), { root: '/', mountpoint: '/sys/fs/cgroup/memory' });
  assert.equal(unified, { root: '/', mountpoint: '/sys/fs/cgroup/unified' });
  const comounted = parseCgroupMounts('32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct');
  assert.is(comounted.v1.get('cpu')?.mountpoint, '/sys/fs/cgroup/cpu,cpuacct');
  assert.is(comounted.v1.get('cpuacct')?.mountpoint, '/sys/fs/cgroup/cpu,cpuacct');
  const self = parseProcCgroup(procSelfV1 + '\n12:cpu,cpuacct:/x\n');
  assert.is(self.get('memory'), '/process_api/abc');
  assert.is(self.get(''), '/');
  assert.is(self.get('cpuacct'), '/x');
});

test('cgroup paths: relative under <own cgroup>/berth, absolute from the root, no climbing out', () => {
  const mem = { root: '/', mountpoint: '/sys/fs/cgroup/memory' };
  assert.is(cgroupDir(mem, '/process_api/abc', 'c1'), '/sys/fs/cgroup/memory/process_api/abc/berth/c1');
  assert.is(cgroupDir(mem, '/', 'c1'), '/sys/fs/cgroup/memory/berth/c1');
  assert.is(cgroupDir(mem, '/process_api/abc', '/pods/c1'), '/sys/fs/cgroup/memory/pods/c1');
  assert.is(cgroupDir(mem, '/process_api/abc', 'c1', 'mine'), '/sys/fs/cgroup/memory/process_api/abc/mine/c1');
  assert.is(cgroupDir(mem, '/process_api/abc', 'c1', '/custom'), '/sys/fs/cgroup/memory/custom/c1');
  // Inside a container whose cgroup is mounted at its own root, the kernel shows the full path.
  assert.is(cgroupDir({ root: '/docker/x', mountpoint: '/sys/fs/cgroup/memory' }, '/docker/x', 'c1'), '/sys/fs/cgroup/memory/berth/c1');
  for (const bad of ['../escape', 'a/../../b', 'system.slice:berth:c1', '', '/']) {
    try {
      cgroupDir(mem, '/', bad);
      assert.unreachable(bad);
    } catch (e) {
      assert.ok(isBerthError(e, 'InvalidArgument'), `${bad}: ${String(e)}`);
    }
  }
});

test('v1: create nests under our own cgroup in each hierarchy and maps every limit', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  assert.is(cg.version, 1);
  assert.ok(cg.dirs.includes('/sys/fs/cgroup/memory/process_api/abc/berth/c1'));
  assert.ok(cg.dirs.includes('/sys/fs/cgroup/cpu/berth/c1'));
  const report = await cg.create({
    memory: { limit: 32 << 20, reservation: 16 << 20, swap: 64 << 20, swappiness: 0 },
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: '1' },
    pids: { limit: 20 },
    devices: defaultDeviceRules,
  });
  assert.equal(report.warnings, []);
  const mem = '/sys/fs/cgroup/memory/process_api/abc/berth/c1';
  assert.is(fs.lastWrite(`${mem}/memory.limit_in_bytes`), String(32 << 20));
  assert.is(fs.lastWrite(`${mem}/memory.memsw.limit_in_bytes`), String(64 << 20));
  assert.is(fs.lastWrite(`${mem}/memory.soft_limit_in_bytes`), String(16 << 20));
  assert.is(fs.lastWrite(`${mem}/memory.swappiness`), '0');
  assert.is(fs.lastWrite('/sys/fs/cgroup/cpu/berth/c1/cpu.shares'), '512');
  assert.is(fs.lastWrite('/sys/fs/cgroup/cpu/berth/c1/cpu.cfs_quota_us'), '50000');
  assert.is(fs.lastWrite('/sys/fs/cgroup/cpu/berth/c1/cpu.cfs_period_us'), '100000');
  assert.is(fs.lastWrite('/sys/fs/cgroup/pids/berth/c1/pids.max'), '20');
  assert.is(fs.lastWrite('/sys/fs/cgroup/cpuset/berth/c1/cpuset.cpus'), '1');
  const devWrites = fs.writes.filter(([p]) => p.includes('/devices/berth/c1/devices.')).map(([p, d]) => `${p.slice(p.lastIndexOf('/') + 1)} ${d}`);
  assert.is(devWrites[0], 'devices.deny a');
  assert.ok(devWrites.includes('devices.allow c 1:3 rwm'));
  assert.ok(devWrites.includes('devices.allow c 136:* rwm'));
  assert.ok(devWrites.includes('devices.allow c *:* m'));
});

test('v1: new cpuset cgroups get their parent\'s cpus and mems, level by level', async () => {
  const { host, fs } = v1Host();
  await cgroupManager('c1', { host, fs }).create();
  assert.is(fs.files.get('/sys/fs/cgroup/cpuset/berth/cpuset.cpus'), '0-1');
  assert.is(fs.files.get('/sys/fs/cgroup/cpuset/berth/c1/cpuset.cpus'), '0-1');
  assert.is(fs.files.get('/sys/fs/cgroup/cpuset/berth/c1/cpuset.mems'), '0');
});

test('v1: memsw is written before memory when growing, after it when shrinking', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  await cg.create({ memory: { limit: 100, swap: 200 } });
  const order = () => fs.writes.filter(([p]) => p.includes('/berth/c1/memory.') && /limit_in_bytes$/.test(p)).map(([p, d]) => `${p.includes('memsw') ? 'memsw' : 'mem'}=${d}`);
  // memsw was unlimited: the memory limit goes first, then memsw shrinks to 200.
  assert.equal(order(), ['mem=100', 'memsw=200']);
  fs.writes.length = 0;
  await cg.update({ memory: { limit: 1000, swap: 2000 } });
  assert.equal(order(), ['memsw=2000', 'mem=1000']);
  fs.writes.length = 0;
  await cg.update({ memory: { limit: -1 } });
  assert.equal(order(), ['memsw=-1', 'mem=-1']);
});

test('v1: updating device rules of a live cgroup writes only the difference, never "deny a"', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  await cg.create({ devices: defaultDeviceRules });
  const list = '/sys/fs/cgroup/devices/berth/c1/devices.list';
  // What the kernel lists after the default rules.
  fs.files.set(list, 'c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\n');
  fs.writes.length = 0;
  const withTun = [...defaultDeviceRules.filter((r) => r.minor !== 7 || r.major !== 1), { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }];
  await cg.update({ devices: withTun });
  assert.equal(
    fs.writes.map(([p, d]) => `${p.slice(p.lastIndexOf('/') + 1)} ${d}`),
    ['devices.deny c 1:7 rwm', 'devices.allow c 10:200 rwm'],
  );
  // From allow-all (a fresh cgroup), the list is replayed in order.
  fs.files.set(list, 'a *:* rwm\n');
  fs.writes.length = 0;
  await cg.update({ devices: defaultDeviceRules });
  assert.is(fs.writes[0]?.[1], 'a');
});

test('v1: a swap limit without swap accounting is refused; unlimited swap is only a warning', async () => {
  const { host, fs } = v1Host({ memsw: false });
  try {
    await cgroupManager('c1', { host, fs }).create({ memory: { limit: 100, swap: 200 } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'FailedPrecondition'), String(e));
    assert.match((e as Error).message, /swapaccount=1/);
  }
  // The failed create left nothing behind.
  assert.not.ok(fs.dirs.has('/sys/fs/cgroup/memory/process_api/abc/berth/c1'));
  const report = await cgroupManager('c2', { host, fs }).create({ memory: { limit: 100, swap: -1 } });
  assert.is(report.warnings.length, 1);
  assert.match(report.warnings[0] ?? '', /swap is not limited/);
});

test('v1: a failing write rolls back the directories create made, and names the file', async () => {
  const { host, fs } = v1Host();
  fs.failOn = (op, path) => (op === 'write' && path.endsWith('/pids.max') ? 'EINVAL' : undefined);
  try {
    await cgroupManager('c1', { host, fs }).create({ pids: { limit: 5 } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'));
    assert.match((e as Error).message, /write "5" to \/sys\/fs\/cgroup\/pids\/berth\/c1\/pids.max: invalid argument/);
  }
  assert.equal([...fs.dirs].filter((d) => d.includes('berth')), []);
});

test('v1: resources.unified is refused', async () => {
  const { host, fs } = v1Host();
  try {
    await cgroupManager('c1', { host, fs }).create({ unified: { 'memory.high': '1M' } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'));
  }
});

test('v1: stats read usage, limits, throttling and OOM kills', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  await cg.create({ memory: { limit: 32 << 20 }, pids: { limit: 20 } });
  fs.files.set('/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage', '1500000000');
  fs.files.set('/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage_user', '1000000000');
  fs.files.set('/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage_sys', '500000000');
  fs.files.set('/sys/fs/cgroup/cpu/berth/c1/cpu.stat', 'nr_periods 30\nnr_throttled 12\nthrottled_time 900000\n');
  const mem = '/sys/fs/cgroup/memory/process_api/abc/berth/c1';
  fs.files.set(`${mem}/memory.usage_in_bytes`, '1048576');
  fs.files.set(`${mem}/memory.max_usage_in_bytes`, '33554432');
  fs.files.set(`${mem}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
  fs.files.set(`${mem}/memory.stat`, 'cache 4096\ntotal_cache 8192\n');
  fs.files.set('/sys/fs/cgroup/pids/berth/c1/pids.current', '3');
  const s = await cg.stats();
  assert.equal(s.cpu, { usageNs: 1.5e9, userNs: 1e9, systemNs: 5e8, periods: 30, throttledPeriods: 12, throttledNs: 900000 });
  assert.equal(s.memory, { usage: 1048576, limit: 32 << 20, maxUsage: 33554432, cache: 8192, oomKills: 1 });
  assert.equal(s.pids, { current: 3, limit: 20 });
  assert.ok(await cg.oomKilled());
  const fresh = cgroupManager('c2', { host, fs });
  await fresh.create();
  assert.is((await fresh.stats()).memory.limit, null, 'unlimited reads as null');
  assert.not.ok(await fresh.oomKilled());
});

test('v1: freeze and thaw drive freezer.state', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  await cg.create();
  await cg.freeze();
  assert.is(fs.files.get('/sys/fs/cgroup/freezer/berth/c1/freezer.state'), 'FROZEN');
  await cg.thaw();
  assert.is(fs.files.get('/sys/fs/cgroup/freezer/berth/c1/freezer.state'), 'THAWED');
});

test('v1: destroy refuses while processes remain, force kills them, and only the container\'s cgroup goes', async () => {
  const { host, fs, kill, killed } = v1Host();
  const cg = cgroupManager('c1', { host, fs, kill });
  await cg.create();
  await cg.addProcess(777);
  assert.equal(await cg.processes(), [777]);
  try {
    await cg.destroy();
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'Conflict'));
    assert.match((e as Error).message, /still has 1 process\(es\) \(pids 777\)/);
  }
  await cg.destroy({ force: true });
  assert.equal(killed, [777]);
  assert.not.ok(await cg.exists());
  assert.equal([...fs.dirs].filter((d) => d.endsWith('/c1')), []);
  assert.ok(fs.dirs.has('/sys/fs/cgroup/memory/process_api/abc/berth'), 'the shared parent stays');
  await cg.destroy(); // again: a no-op
});

test('destroy stops waiting with Canceled when its signal aborts', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  await cg.create();
  fs.failOn = (op) => (op === 'rmdir' ? 'EBUSY' : undefined);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  try {
    await cg.destroy({ signal: ac.signal });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'Canceled'), String(e));
  }
});

test('v1: destroy retries a briefly busy rmdir', async () => {
  const { host, fs } = v1Host();
  const cg = cgroupManager('c1', { host, fs });
  await cg.create();
  let busy = 2;
  fs.failOn = (op, path) => (op === 'rmdir' && path.endsWith('/memory/process_api/abc/berth/c1') && busy-- > 0 ? 'EBUSY' : undefined);
  await cg.destroy();
  assert.not.ok(await cg.exists());
});

test('cgroupManagerAt finds a cgroup again from its dirs, whatever our own cgroup is now', async () => {
  const { host, fs, kill } = v1Host();
  const made = cgroupManager('c1', { host, fs });
  await made.create({ pids: { limit: 9 } });
  await made.addProcess(31);
  // A later process sitting elsewhere in the memory hierarchy would resolve 'c1' differently …
  const elsewhere = readCgroupHost({ mountinfo: mountinfoV1, procSelfCgroup: procSelfV1.replace('/process_api/abc', '/other') });
  assert.is.not(cgroupManager('c1', { host: elsewhere, fs }).dirs.join(), made.dirs.join());
  // … but through the saved dirs it reaches the same cgroup, in every hierarchy.
  const again = cgroupManagerAt(made.dirs, { host: elsewhere, fs, kill });
  assert.equal([...again.dirs].sort(), [...made.dirs].sort());
  assert.equal(await again.processes(), [31]);
  assert.is((await again.stats()).pids.limit, 9);
  await again.destroy({ force: true });
  assert.not.ok(await made.exists());
  assert.throws(() => cgroupManagerAt(['/tmp/x'], { host, fs }), /not below a mounted cgroup v1 controller/);
});

// ---- v2 ----

function v2Host(options: { selfBusy?: boolean } = {}): { host: CgroupHost; fs: MemoryCgroupFs } {
  const fs = new MemoryCgroupFs();
  const files = {
    'cgroup.controllers': 'cpuset cpu io memory pids',
    'cgroup.subtree_control': '',
    'cgroup.procs': '',
    'cgroup.events': 'populated 1\nfrozen 0\n',
    'cgroup.freeze': '0',
    'cgroup.kill': '',
    'cpu.weight': '100',
    'cpu.max': 'max 100000',
    'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
    'memory.max': 'max',
    'memory.swap.max': 'max',
    'memory.low': '0',
    'memory.current': '0',
    'memory.events': 'oom 0\noom_kill 0\n',
    'pids.max': 'max',
    'cpuset.cpus': '',
    'cpuset.mems': '',
  };
  fs.seed('/sys/fs/cgroup', files);
  fs.seed('/sys/fs/cgroup/user.slice/engine', { ...files, 'cgroup.procs': '4242\n' });
  if (options.selfBusy === true) {
    fs.failOn = (op, path) => (op === 'write' && path === '/sys/fs/cgroup/user.slice/engine/cgroup.subtree_control' ? 'EBUSY' : undefined);
  }
  const host = readCgroupHost({
    mountinfo: '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    procSelfCgroup: '0::/user.slice/engine\n',
  });
  return { host, fs };
}

test('v2: controllers are enabled top-down and limits map to the unified files', async () => {
  const { host, fs } = v2Host();
  const cg = cgroupManager('c1', { host, fs });
  assert.is(cg.version, 2);
  assert.equal(cg.dirs, ['/sys/fs/cgroup/user.slice/engine/berth/c1']);
  const report = await cg.create({
    memory: { limit: 32 << 20, swap: 48 << 20, reservation: 8 << 20 },
    cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0' },
    pids: { limit: 20 },
    devices: defaultDeviceRules,
  });
  const enabled = fs.writes.filter(([p]) => p.endsWith('/cgroup.subtree_control')).map(([p, d]) => `${p.replace('/sys/fs/cgroup', '') || '/'} ${d}`);
  assert.is(enabled[0], '/cgroup.subtree_control +cpu', 'starts at the root');
  assert.ok(enabled.includes('/user.slice/engine/berth/cgroup.subtree_control +memory'));
  const d = '/sys/fs/cgroup/user.slice/engine/berth/c1';
  assert.is(fs.lastWrite(`${d}/memory.max`), String(32 << 20));
  assert.is(fs.lastWrite(`${d}/memory.swap.max`), String(16 << 20), 'v2 counts swap alone');
  assert.is(fs.lastWrite(`${d}/memory.low`), String(8 << 20));
  assert.is(fs.lastWrite(`${d}/cpu.weight`), '39', 'shares 1024 → weight 39 as runc converts');
  assert.is(fs.lastWrite(`${d}/cpu.max`), '50000 100000');
  assert.is(fs.lastWrite(`${d}/pids.max`), '20');
  assert.is(fs.lastWrite(`${d}/cpuset.cpus`), '0');
  assert.is(report.warnings.length, 1);
  assert.match(report.warnings[0] ?? '', /eBPF/);
  const again = cgroupManagerAt(cg.dirs, { host, fs });
  assert.is(again.version, 2);
  assert.is((await again.stats()).pids.limit, 20);
});

test('v2: a parent with processes of its own gives an error that says why', async () => {
  const { host, fs } = v2Host({ selfBusy: true });
  const cg = cgroupManager('c1', { host, fs });
  // With no limits the cgroup is still usable (for freezing and accounting of pids in it).
  await cg.create();
  await cg.destroy();
  // pids.max exists in the fake's copy, so make the pids file vanish as the kernel would.
  const cg2 = cgroupManager('c2', { host, fs });
  await cg2.create();
  fs.files.delete('/sys/fs/cgroup/user.slice/engine/berth/c2/pids.max');
  try {
    await cg2.update({ pids: { limit: 20 } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'FailedPrecondition'), String(e));
    assert.match((e as Error).message, /no internal processes/);
  }
});

test('v2: freeze waits for cgroup.events, force destroy uses cgroup.kill, unified keys are written', async () => {
  const { host, fs } = v2Host();
  const cg = cgroupManager('/pods/c1', { host, fs });
  await cg.create();
  const d = '/sys/fs/cgroup/pods/c1';
  try {
    await cg.update({ unified: { 'memory.high': '50M' } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'FailedPrecondition'), 'a file the cgroup lacks is refused');
  }
  fs.files.set(`${d}/memory.high`, 'max');
  await cg.update({ unified: { 'memory.high': '50M' } });
  assert.is(fs.lastWrite(`${d}/memory.high`), '50M');
  try {
    await cg.update({ unified: { '../../escape': '1' } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'));
  }
  await cg.freeze();
  assert.is(fs.files.get(`${d}/cgroup.freeze`), '1');
  await cg.thaw();
  await cg.addProcess(99);
  fs.failOn = undefined;
  const origWrite = fs.write.bind(fs);
  fs.write = async (path, data) => {
    await origWrite(path, data);
    if (path.endsWith('/cgroup.kill')) fs.files.set(`${d}/cgroup.procs`, '');
  };
  await cg.destroy({ force: true });
  assert.is(fs.lastWrite(`${d}/cgroup.kill`), '1');
  assert.not.ok(await cg.exists());
});

test('conversions match runc', () => {
  assert.is(sharesToWeight(2), 1);
  assert.is(sharesToWeight(1024), 39);
  assert.is(sharesToWeight(262144), 10000);
  assert.is(cpuMaxV2(50000, 100000), '50000 100000');
  assert.is(cpuMaxV2(-1, 100000), 'max 100000');
  assert.is(cpuMaxV2(50000, undefined), '50000');
  assert.is(cpuMaxV2(undefined, undefined), undefined);
  assert.is(swapToV2(-1, 100), 'max');
  assert.is(swapToV2(300, 100), '200');
  assert.is(swapToV2(undefined, 100), undefined);
  assert.throws(() => swapToV2(50, 100), /below the memory limit/);
  assert.throws(() => swapToV2(50, undefined), /needs a memory limit/);
});

test.run();
