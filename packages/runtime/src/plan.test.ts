import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBerthError } from '@berth/errors';
import { defaultSpec } from './default-spec.js';
import { compileExecPlan, compilePlan, encodePlan, parseMountOptions, type Step } from './plan.js';
import type { OciConfig } from './spec.js';

const base = (edit: (c: OciConfig) => OciConfig = (c) => c): OciConfig => edit(defaultSpec({ args: ['echo', 'hi'], terminal: false }));
const opts = { rootfs: '/b/rootfs', bundle: '/b', mode: 'exit' as const, execFifo: '/run/x/exec.fifo' };
const ops = (steps: readonly Step[]) => steps.map((s) => s[0]);
const find = (steps: readonly Step[], op: string) => steps.filter((s) => s[0] === op);

test('clone flags are the new namespaces; a namespace with a path is joined with setns', () => {
  const cfg = base((c) => ({ ...c, linux: { ...c.linux, namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'network', path: '/run/netns/x' }] } }));
  const steps = compilePlan(cfg, opts);
  assert.equal(find(steps, 'clone'), [['clone', String(0x20000000 | 0x20000 | 0x04000000)]]);
  assert.equal(find(steps, 'setns'), [['setns', String(0x40000000), '/run/netns/x']]);
  const cg = compilePlan(base(), opts);
  assert.equal(Number(find(cg, 'clone')[0]?.[1]) & 0x02000000, 0, 'no cgroup namespace at clone');
  assert.equal(find(cg, 'unshare'), [['unshare', String(0x02000000)]], 'the init unshares it once in its cgroups');
  assert.ok(ops(cg).indexOf('unshare') < ops(cg).indexOf('mount'));
});

test('rootfs is made private, bound, pivoted; masks, readonly paths and readonly root follow pivot_root', () => {
  const steps = compilePlan(base(), opts);
  const o = ops(steps);
  const pivot = o.indexOf('pivot_root');
  assert.ok(pivot > 0);
  assert.equal(steps[pivot], ['pivot_root', '/b/rootfs']);
  assert.ok(o.indexOf('mask') > pivot);
  assert.ok(o.indexOf('readonly') > pivot);
  assert.ok(find(steps, 'mask').some((s) => s[1] === '/proc/kcore'));
  assert.ok(find(steps, 'readonly').some((s) => s[1] === '/proc/sys'));
  assert.equal(find(steps, 'remount').at(-1), ['remount', '/', String(0x1000 | 0x20 | 0x1)]);
  assert.ok(o.indexOf('fifo_open') < pivot, 'the exec fifo is opened while the state dir is visible');
});

test('mounts: proc, tmpfs /dev with default devices and links, ro sysfs, devpts data', () => {
  const steps = compilePlan(base(), opts);
  const mounts = find(steps, 'mount');
  assert.ok(mounts.some((m) => m[2] === '/b/rootfs/proc' && m[3] === 'proc'));
  const dev = mounts.find((m) => m[2] === '/b/rootfs/dev');
  assert.equal(dev?.[3], 'tmpfs');
  assert.equal(dev?.[5], 'mode=755,size=65536k');
  const pts = mounts.find((m) => m[2] === '/b/rootfs/dev/pts');
  assert.equal(pts?.[5], 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  const sys = mounts.find((m) => m[2] === '/b/rootfs/sys');
  assert.equal(sys?.[3], 'sysfs');
  assert.ok((Number(sys?.[4]) & 1) === 1, 'sysfs is read-only');
  assert.ok(find(steps, 'mknod').some((m) => m[1] === '/b/rootfs/dev/null' && m[3] === '1' && m[4] === '3'));
  assert.ok(find(steps, 'symlink').some((s) => s[1] === '/proc/self/fd' && s[2] === '/b/rootfs/dev/fd'));
});

test('without a network namespace sysfs becomes a read-only bind of the host /sys', () => {
  const cfg = base((c) => ({ ...c, linux: { ...c.linux, namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }] } }));
  const steps = compilePlan(cfg, opts);
  const sys = find(steps, 'mount').find((m) => m[2] === '/b/rootfs/sys');
  assert.equal(sys?.[1], '/sys');
  assert.ok(find(steps, 'remount').some((r) => r[1] === '/b/rootfs/sys' && (Number(r[2]) & 1) === 1));
});

test('a user namespace binds host devices instead of mknod', () => {
  const cfg = base((c) => ({ ...c, linux: { ...c.linux, namespaces: [...(c.linux?.namespaces ?? []), { type: 'user' }] } }));
  const steps = compilePlan(cfg, opts);
  assert.equal(find(steps, 'mknod'), []);
  assert.ok(find(steps, 'mount').some((m) => m[1] === '/dev/null' && m[2] === '/b/rootfs/dev/null'));
});

test('bind mounts: relative sources resolve in the bundle, files are touched, ro is a remount', () => {
  const cfg = base((c) => ({ ...c, mounts: [{ destination: '/etc/hosts', source: 'hosts', type: 'bind', options: ['rbind', 'ro'] }] }));
  const steps = compilePlan(cfg, { ...opts, isDir: () => false });
  assert.ok(find(steps, 'touch').some((t) => t[1] === '/b/rootfs/etc/hosts'));
  assert.ok(find(steps, 'mount').some((m) => m[1] === '/b/hosts' && m[2] === '/b/rootfs/etc/hosts' && m[4] === String(0x1000 | 0x4000)));
  assert.ok(find(steps, 'remount').some((m) => m[1] === '/b/rootfs/etc/hosts' && m[2] === String(0x1000 | 0x20 | 0x1)));
});

test('a cgroup mount shows the container\'s own cgroups read-only: v1 binds under a tmpfs, v2 one bind', () => {
  const v1 = compilePlan(base(), { ...opts, cgroupViews: [{ name: 'memory', dir: '/sys/fs/cgroup/memory/berth/x' }, { name: 'pids', dir: '/sys/fs/cgroup/pids/berth/x' }] });
  const at = '/b/rootfs/sys/fs/cgroup';
  assert.ok(find(v1, 'mount').some((m) => m[2] === at && m[3] === 'tmpfs'));
  assert.ok(find(v1, 'mount').some((m) => m[1] === '/sys/fs/cgroup/memory/berth/x' && m[2] === `${at}/memory`));
  assert.ok(find(v1, 'remount').some((m) => m[1] === `${at}/pids` && (Number(m[2]) & 1) === 1));
  assert.ok(find(v1, 'remount').some((m) => m[1] === at && (Number(m[2]) & 1) === 1));
  const v2 = compilePlan(base(), { ...opts, cgroupViews: [{ name: '', dir: '/sys/fs/cgroup/berth/x' }] });
  assert.not.ok(find(v2, 'mount').some((m) => m[2] === at && m[3] === 'tmpfs'));
  assert.ok(find(v2, 'mount').some((m) => m[1] === '/sys/fs/cgroup/berth/x' && m[2] === at));
});

test('v1 cgroup dirs are joined by the init itself (cgroup_self), except from a user namespace', () => {
  const dirs = ['/sys/fs/cgroup/pids/berth/x', '/sys/fs/cgroup/unified/berth/x'];
  const records = (steps: Step[]) => steps.filter((st) => st[0] === 'cgroup' || st[0] === 'cgroup_self');
  const plain = compilePlan(base(), { ...opts, cgroupDirs: dirs, cgroupSelfJoin: [dirs[0] ?? ''] });
  assert.equal(records(plain), [['cgroup_self', dirs[0]], ['cgroup', dirs[1]]]);
  const userns = base((c) => ({ ...c, linux: { ...c.linux, namespaces: [...(c.linux?.namespaces ?? []), { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] } }));
  assert.equal(records(compilePlan(userns, { ...opts, cgroupDirs: dirs, cgroupSelfJoin: [dirs[0] ?? ''] })), [['cgroup', dirs[0]], ['cgroup', dirs[1]]]);
});

test('mount options split into flags, propagation and data', () => {
  const r = parseMountOptions(['nosuid', 'ro', 'rw', 'rprivate', 'size=1m', 'noexec']);
  assert.equal(r.flags, 0x2 | 0x8);
  assert.equal(r.propagation, [0x40000 | 0x4000]);
  assert.equal(r.data, ['size=1m']);
});

test('process: rlimits, user, caps, nnp, seccomp last with no_new_privs, then env and exec', () => {
  const cfg = base((c) => ({
    ...c,
    process: { ...c.process!, user: { uid: 1000, gid: 100, additionalGids: [5, 6] }, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }] },
    linux: { ...c.linux, seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['unshare', 'mount'], action: 'SCMP_ACT_ERRNO' }] } },
  }));
  const steps = compilePlan(cfg, opts);
  const o = ops(steps);
  assert.equal(find(steps, 'rlimit'), [['rlimit', '7', '100', '200', 'RLIMIT_NOFILE']]);
  assert.equal(find(steps, 'groups'), [['groups', '5', '6']]);
  assert.equal(find(steps, 'setuid'), [['setuid', '1000']]);
  // CAP_AUDIT_WRITE 29, CAP_KILL 5, CAP_NET_BIND_SERVICE 10
  const mask = `0x${((1n << 29n) | (1n << 5n) | (1n << 10n)).toString(16)}`;
  assert.equal(find(steps, 'bounding'), [['bounding', mask]]);
  assert.equal(find(steps, 'sc_rule').map((r) => r[3]), ['unshare', 'mount']);
  assert.ok(o.indexOf('wait_start') > o.indexOf('ready'));
  assert.ok(o.indexOf('seccomp_load') > o.indexOf('nnp'));
  assert.ok(o.indexOf('seccomp_load') > o.indexOf('setuid'));
  assert.equal(o.slice(-2), ['env', 'exec']);
  assert.equal(steps.at(-1), ['exec', 'echo', 'hi']);
});

test('without no_new_privs seccomp loads before capabilities are dropped', () => {
  const cfg = base((c) => ({ ...c, process: { ...c.process!, noNewPrivileges: false }, linux: { ...c.linux, seccomp: { defaultAction: 'SCMP_ACT_ALLOW' } } }));
  const o = ops(compilePlan(cfg, opts));
  assert.ok(o.indexOf('seccomp_load') < o.indexOf('bounding'));
  assert.not.ok(o.includes('nnp'));
});

test('foreground plans do not wait for start; terminal plans need a console socket', () => {
  const steps = compilePlan(base(), { rootfs: '/r', bundle: '/b', mode: 'foreground' });
  assert.not.ok(ops(steps).includes('wait_start'));
  assert.not.ok(ops(steps).includes('mkfifo'));
  const tty = base((c) => ({ ...c, process: { ...c.process!, terminal: true } }));
  try {
    compilePlan(tty, opts);
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'));
    assert.match((e as Error).message, /console-socket/);
  }
  const withSock = compilePlan(tty, { ...opts, consoleSocket: '/tmp/s' });
  assert.ok(ops(withSock).indexOf('console') > ops(withSock).indexOf('pivot_root'));
});

test('a config without args or with an unknown rlimit is refused', () => {
  assert.throws(() => compilePlan(base((c) => ({ ...c, process: { ...c.process!, args: [] } })), opts), /process.args/);
  assert.throws(() => compilePlan(base((c) => ({ ...c, process: { ...c.process!, rlimits: [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }] } })), opts), /RLIMIT_BOGUS/);
});

test('exec plans join the container namespaces, user first and mount last', () => {
  const steps = compileExecPlan({ cwd: '/', args: ['ls'], user: { uid: 0, gid: 0 } }, { initPid: 42, namespaces: ['mount', 'pid', 'user', 'network'], mode: 'foreground' });
  assert.equal(find(steps, 'setns').map((s) => s[2]), ['/proc/42/ns/user', '/proc/42/ns/net', '/proc/42/ns/pid', '/proc/42/ns/mnt']);
  assert.not.ok(ops(steps).includes('pivot_root'));
});

test('encodePlan writes a length, then per step its token count and NUL-terminated tokens', () => {
  const buf = encodePlan([['mount', '', '/x'], ['exec', 'true']]);
  assert.equal(buf.readUInt32LE(0), buf.length - 4);
  assert.equal(buf.subarray(4).toString(), '3\0mount\0\0/x\0' + '2\0exec\0true\0');
  assert.throws(() => encodePlan([['exec', 'a\0b']]), /NUL/);
});

test.run();
