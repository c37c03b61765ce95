import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBerthError } from '@berth/errors';
import { cgroupfsPath, isoNow, parseSignal, withDefaultDevices } from './runtime.js';
import { shimError } from './shim.js';

test('isoNow writes what toISOString writes', () => {
  for (const ms of [0, 1, 999, 86_399_999, 951_782_400_000, 1_795_919_220_054, 4_102_444_800_000 - 1]) {
    assert.is(isoNow(new Date(ms)), new Date(ms).toISOString());
  }
  assert.match(isoNow(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('signals are accepted as numbers, names and SIG-names', () => {
  assert.equal(parseSignal(9), 9);
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal('TERM'), 15);
  assert.equal(parseSignal('SIGKILL'), 9);
  assert.equal(parseSignal('sigint'), 2);
  assert.throws(() => parseSignal('NOPE'), /unknown signal "NOPE"/);
});

test('shim error lines become typed errors naming stage, operation and path', () => {
  const e = shimError('error\tmount\tproc\t2\t/r/proc');
  assert.ok(isBerthError(e, 'NotFound'));
  assert.equal(e.message, 'mount: proc /r/proc: no such file or directory');
  assert.equal(e.errno, 'ENOENT');
  assert.equal(e.path, '/r/proc');
  const x = shimError('error\texec\tlookpath\t2\tnope');
  assert.equal(x.message, 'exec: "nope": executable file not found in $PATH');
  assert.equal(x.detail?.['exec'], true);
  const table: [string, string, string][] = [
    ['error\texec\tstat\t2\t/no/x', 'NotFound', 'exec: "/no/x": stat /no/x: no such file or directory'],
    ['error\texec\tlookpath\t21\t/etc', 'PermissionDenied', 'exec: "/etc": permission denied (is a directory)'],
    ['error\texec\texecve\t13\t/bin/x', 'PermissionDenied', 'exec: "/bin/x": permission denied'],
    ['error\texec\texecve\t8\t/bin/x', 'FailedPrecondition', 'exec: "/bin/x": exec format error'],
  ];
  for (const [line, code, message] of table) {
    const e = shimError(line);
    assert.equal([e.code, e.message, e.detail?.['exec']], [code, message, true], line);
  }
  const r = shimError('error\tprocess\tsetrlimit\t1\tRLIMIT_NOFILE');
  assert.match(r.message, /^process: setrlimit RLIMIT_NOFILE: operation not permitted: the host's hard limit is \d+|unlimited/);
});

test('device rules: the config first, then the default devices and each linux.devices node', () => {
  const r = withDefaultDevices({ devices: [{ allow: false, access: 'rwm' }], pids: { limit: 5 } }, [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }]);
  assert.equal(r.pids, { limit: 5 });
  assert.equal(r.devices?.[0], { allow: false, access: 'rwm' });
  assert.ok(r.devices?.some((d) => d.allow && d.major === 1 && d.minor === 3), '/dev/null allowed');
  assert.equal(r.devices?.at(-1), { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' });
});

test('device rules: an allow repeated since the last deny is written once; after a deny it counts again', () => {
  const nullDev = { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' };
  const r = withDefaultDevices({ devices: [{ allow: false, access: 'rwm' }, nullDev, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }, nullDev] }, []);
  // Both config allows stay (a deny between them); runc's default /dev/null allow repeats the last: dropped.
  assert.equal(r.devices?.filter((d) => d.allow && d.major === 1 && d.minor === 3).length, 2);
  const keys = (r.devices ?? []).map((d) => JSON.stringify(d));
  const lastDeny = keys.reduce((at, k, i) => (k.includes('"allow":false') ? i : at), -1);
  const afterLastDeny = keys.slice(lastDeny + 1);
  assert.is(new Set(afterLastDeny).size, afterLastDeny.length, 'no allow twice after the last deny');
});

test('systemd cgroup paths become the cgroupfs paths systemd would use; others pass through', () => {
  assert.equal(cgroupfsPath('system.slice:cri-containerd:abc'), '/system.slice/cri-containerd-abc.scope');
  assert.equal(cgroupfsPath('machine-libpod.slice:libpod:abc'), '/machine.slice/machine-libpod.slice/libpod-abc.scope');
  assert.equal(cgroupfsPath(':berth:x'), '/system.slice/berth-x.scope');
  assert.equal(cgroupfsPath('/default/abc'), '/default/abc');
  assert.equal(cgroupfsPath('abc'), 'abc');
});

test.run();
