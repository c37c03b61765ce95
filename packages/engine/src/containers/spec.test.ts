import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBerthError } from '@berth/errors';
import { ociMount, type OciMount, type RecordedMount, type Volume } from '@berth/volume';
import { parseRunFlags, parseVolume, parseMount, parseEnvFile, parseNetwork, type MountRequest, type RawRunFlags } from './options.js';
import {
  buildSpec, capabilitySet, capsOfMask, commandLine, mergeEnv, resolveUser, resolvConf, defaultCapabilities, type SpecInput,
} from './spec.js';
import { parseBytes, parseCpus, parseDuration, parseProcLimits, parseRestart, parseSignal, parseUlimit } from './units.js';

const id = 'a'.repeat(12) + 'b'.repeat(52);
const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww:x:33:33::/var/www:/bin/sh\n';
const group = 'root:x:0:\nwww:x:33:\naudio:x:29:www\nnogroup:x:65534:\n';

/** The OCI mounts @berth/volume would make of the requests (volumes at /vol/<name>/_data). */
function userMounts(reqs: readonly MountRequest[]): OciMount[] {
  return reqs.map((m): RecordedMount => (m.type === 'volume'
    ? { type: 'volume', name: m.source ?? 'anon', target: m.target, readonly: m.readonly, nocopy: m.nocopy, anonymous: m.source === undefined }
    : m.type === 'bind'
      ? { type: 'bind', source: m.source, target: m.target, readonly: m.readonly, propagation: m.propagation, recursive: m.recursive }
      : m)).map((r) => ociMount(r, (name) => ({ mountpoint: `/vol/${name}/_data`, options: {} }) as unknown as Volume));
}

function input(flags: RawRunFlags, command: string[] = [], extra: Partial<SpecInput> = {}): SpecInput {
  const options = parseRunFlags(flags, command, (p) => (p === '/env' ? 'FROMFILE=1\n# c\n\nFOO=file\n' : ''));
  return {
    id,
    image: { Env: ['PATH=/bin', 'FOO=image'], Cmd: ['sh'], WorkingDir: '' },
    options,
    rootfs: '/c/rootfs',
    containerDir: '/c',
    userMounts: userMounts(options.mounts),
    callerEnv: { HOSTVAR: 'h' },
    host: { hardLimits: { RLIMIT_NOFILE: 20000, RLIMIT_NPROC: 96365 }, capLast: 40, cgroupV2: false },
    passwd,
    group,
    defaultSeccomp: (caps) => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [], caps: caps.length }),
    cgroupsPath: `berth/${id}`,
    ...extra,
  };
}

function throwsCode(fn: () => unknown, code: string, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isBerthError(e), `not a BerthError: ${String(e)}`);
    assert.is(e.code, code);
    if (re) assert.match(e.message, re);
    return;
  }
  assert.unreachable('did not throw');
}

test('sizes parse with binary units and bad sizes name the flag', () => {
  assert.is(parseBytes('--memory', '64m'), 64 * 1024 * 1024);
  assert.is(parseBytes('--memory', '1g'), 1024 ** 3);
  assert.is(parseBytes('--memory', '512k'), 512 * 1024);
  assert.is(parseBytes('--memory', '1024'), 1024);
  assert.is(parseBytes('--memory', '1.5G'), 1.5 * 1024 ** 3);
  throwsCode(() => parseBytes('--memory', '12q'), 'InvalidArgument', /--memory/);
  throwsCode(() => parseBytes('--memory', '-1m'), 'InvalidArgument');
});

test('cpus, signals, restart policies, durations, ulimits parse', () => {
  assert.equal(parseCpus('1.5'), { quota: 150000, period: 100000 });
  throwsCode(() => parseCpus('0'), 'InvalidArgument', /--cpus/);
  assert.is(parseSignal('SIGTERM'), 15);
  assert.is(parseSignal('kill'), 9);
  assert.is(parseSignal('2'), 2);
  throwsCode(() => parseSignal('SIGNOPE'), 'InvalidArgument');
  assert.equal(parseRestart('on-failure:2'), { name: 'on-failure', maxRetries: 2 });
  assert.equal(parseRestart('always'), { name: 'always', maxRetries: 0 });
  throwsCode(() => parseRestart('always:3'), 'InvalidArgument');
  assert.is(parseDuration('-t', '1m30s'), 90_000);
  assert.is(parseDuration('-t', '10'), 10_000);
  throwsCode(() => parseDuration('--since', '10x'), 'InvalidArgument');
  assert.equal(parseUlimit('nofile=1024:2048'), { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 });
  assert.equal(parseUlimit('nproc=100'), { type: 'RLIMIT_NPROC', soft: 100, hard: 100 });
  throwsCode(() => parseUlimit('nofile=10:5'), 'InvalidArgument', /soft/);
  throwsCode(() => parseUlimit('bogus=1'), 'InvalidArgument');
});

test('/proc/self/limits parses to hard limits by OCI type', () => {
  const l = parseProcLimits('Limit                     Soft Limit           Hard Limit           Units\n'
    + 'Max open files            1024                 20000                files\n'
    + 'Max cpu time              unlimited            unlimited            seconds\n');
  assert.is(l['RLIMIT_NOFILE'], 20000);
  assert.is(l['RLIMIT_CPU'], Number.MAX_SAFE_INTEGER);
});

test('command = entrypoint + (args or image Cmd); --entrypoint drops the image Cmd', () => {
  const img = { Entrypoint: ['/entry'], Cmd: ['default'] };
  assert.equal(commandLine(img, { command: [] }), ['/entry', 'default']);
  assert.equal(commandLine(img, { command: ['x', 'y'] }), ['/entry', 'x', 'y']);
  assert.equal(commandLine(img, { entrypoint: '/other', command: [] }), ['/other']);
  assert.equal(commandLine(img, { entrypoint: '', command: ['echo', 'hi'] }), ['echo', 'hi']);
  throwsCode(() => commandLine({}, { command: [] }), 'InvalidArgument', /no command specified/);
});

test('env merges image, env-file and -e in order; bare names take the caller value or drop', () => {
  assert.equal(mergeEnv([['A=1', 'B=2'], ['B=3', 'C'], ['D']], { C: 'c' }), ['A=1', 'B=3', 'C=c']);
  assert.equal(parseEnvFile('/f', 'A=1\n# comment\n\n  B=two words\nC\n'), ['A=1', 'B=two words', 'C']);
  throwsCode(() => parseEnvFile('/f', '=x\n'), 'InvalidArgument', /line 1 in env file \/f/);
  const s = buildSpec(input({ envFile: ['/env'], env: ['FOO=cli', 'HOSTVAR', 'NOPE'] }));
  assert.equal(s.process.env, ['PATH=/bin', 'FOO=cli', 'FROMFILE=1', 'HOSTVAR=h', `HOSTNAME=${id.slice(0, 12)}`, 'HOME=/root']);
  const t = buildSpec(input({ tty: true }, [], { image: { Cmd: ['sh'] } }));
  assert.ok(t.process.env.includes('TERM=xterm'));
  assert.ok(t.process.env[0]?.startsWith('PATH=/usr/local/sbin'));
});

test('users resolve by name or number against the image passwd and group', () => {
  assert.equal(resolveUser('', passwd, group), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  assert.equal(resolveUser('www', passwd, group), { uid: 33, gid: 33, additionalGids: [29], home: '/var/www' });
  assert.equal(resolveUser('1000', passwd, group), { uid: 1000, gid: 0, additionalGids: [], home: '/' });
  assert.equal(resolveUser('www:nogroup', passwd, group).gid, 65534);
  assert.equal(resolveUser('33:7', passwd, group).gid, 7);
  assert.equal(resolveUser('root', undefined, undefined).uid, 0);
  throwsCode(() => resolveUser('ghost', passwd, group), 'NotFound', /unable to find user ghost/);
  throwsCode(() => resolveUser('www:ghosts', passwd, group), 'NotFound', /group ghosts/);
  const s = buildSpec(input({ user: 'www', workdir: '/srv' }));
  assert.equal(s.process.user, { uid: 33, gid: 33, additionalGids: [29] });
  assert.is(s.process.cwd, '/srv');
  assert.ok(s.process.env.includes('HOME=/var/www'));
});

test('default spec: namespaces, mounts, masked paths, default caps, seccomp, hostname, cgroup', () => {
  const s = buildSpec(input({}, ['echo', 'hi']));
  assert.equal(s.process.args, ['echo', 'hi']);
  assert.is(s.process.cwd, '/');
  assert.is(s.hostname, id.slice(0, 12));
  assert.equal(s.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'network']);
  const dests = s.mounts.map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) {
    assert.ok(dests.includes(d), d);
  }
  assert.is(s.mounts.find((m) => m.destination === '/etc/hosts')?.source, '/c/hosts');
  assert.ok(s.linux.maskedPaths?.includes('/proc/kcore'));
  assert.ok(s.linux.readonlyPaths?.includes('/proc/sys'));
  assert.equal(s.process.capabilities?.bounding, [...defaultCapabilities]);
  assert.equal(s.linux.seccomp, { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [], caps: 14 });
  assert.is(s.linux.cgroupsPath, `berth/${id}`);
  assert.is(s.root.readonly, false);
  assert.is(s.root.path, '/c/rootfs');
  assert.is(s.linux.resources.devices[0]?.allow, false);
  assert.is(s.process.rlimits, undefined);
  assert.is(s.process.terminal, false);
});

test('--network host shares the host network namespace; bridge is a clear NotImplemented', () => {
  const s = buildSpec(input({ network: 'host' }));
  assert.not.ok(s.linux.namespaces.some((n) => n.type === 'network'));
  throwsCode(() => parseNetwork('bridge'), 'NotImplemented', /--network none/);
  throwsCode(() => parseNetwork('mynet'), 'InvalidArgument');
  const v2 = buildSpec(input({}, [], { host: { hardLimits: {}, capLast: 40, cgroupV2: true } }));
  assert.ok(v2.linux.namespaces.some((n) => n.type === 'cgroup'));
});

test('capabilities: add, drop, ALL, privileged, unknown names refused', () => {
  const base = { capAdd: [] as string[], capDrop: [] as string[], privileged: false };
  assert.ok(capabilitySet({ ...base, capAdd: ['net_admin'] }, 40).includes('CAP_NET_ADMIN'));
  assert.not.ok(capabilitySet({ ...base, capDrop: ['CHOWN'] }, 40).includes('CAP_CHOWN'));
  assert.equal(capabilitySet({ ...base, capDrop: ['ALL'], capAdd: ['KILL'] }, 40), ['CAP_KILL']);
  assert.is(capabilitySet({ ...base, capAdd: ['ALL'] }, 40).length, 41);
  assert.is(capabilitySet({ ...base, privileged: true }, 37).length, 38);
  throwsCode(() => capabilitySet({ ...base, capAdd: ['FLY'] }, 40), 'InvalidArgument', /unknown capability/);
  // Never more than berth holds: a host root without CAP_SYS_RESOURCE gives none to --privileged.
  const bounding = capsOfMask('1fffeffffff');
  assert.not.ok(bounding.includes('CAP_SYS_RESOURCE'));
  assert.is(capabilitySet({ ...base, privileged: true }, 40, bounding).length, 40);
  assert.not.ok(capabilitySet({ ...base, capAdd: ['ALL'] }, 40, bounding).includes('CAP_SYS_RESOURCE'));
  const p = buildSpec(input({ privileged: true }));
  assert.is(p.linux.seccomp, undefined);
  assert.is(p.linux.maskedPaths, undefined);
  assert.equal(p.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  assert.ok(p.mounts.find((m) => m.destination === '/sys')?.options?.includes('rw'));
});

test('resources from --memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit', () => {
  const s = buildSpec(input({ memory: '64m', cpus: '0.5', cpuShares: '512', cpusetCpus: '0-1', pidsLimit: '100' }));
  assert.equal(s.linux.resources.memory, { limit: 64 * 1024 * 1024, swap: 128 * 1024 * 1024 });
  assert.equal(s.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0-1' });
  assert.equal(s.linux.resources.pids, { limit: 100 });
  assert.equal(buildSpec(input({ memory: '64m', memorySwap: '-1' })).linux.resources.memory, { limit: 67108864, swap: -1 });
  throwsCode(() => parseRunFlags({ memory: '64m', memorySwap: '32m' }, [], () => ''), 'InvalidArgument', /memory-swap/);
  throwsCode(() => parseRunFlags({ memory: '1m' }, [], () => ''), 'InvalidArgument', /at least 6m/);
  throwsCode(() => parseRunFlags({ cpusetCpus: 'x' }, [], () => ''), 'InvalidArgument');
});

test('--ulimit becomes rlimits and is refused above the host hard limit', () => {
  const s = buildSpec(input({ ulimit: ['nofile=1024:1024', 'nproc=4096:4096'] }));
  assert.equal(s.process.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }, { type: 'RLIMIT_NPROC', soft: 4096, hard: 4096 },
  ]);
  throwsCode(() => buildSpec(input({ ulimit: ['nofile=1048576:1048576'] })), 'InvalidArgument', /hard limit 20000/);
});

test('--read-only, --security-opt, --tmpfs, -v and --mount', () => {
  const s = buildSpec(input({
    readOnly: true,
    securityOpt: ['no-new-privileges'],
    tmpfs: ['/run:size=1m'],
    volume: ['/host/data:/data:ro', 'cache:/cache'],
    mount: ['type=bind,source=/src,target=/dst,readonly'],
  }));
  assert.is(s.root.readonly, true);
  assert.is(s.process.noNewPrivileges, true);
  const m = (d: string) => s.mounts.find((x) => x.destination === d);
  assert.equal(m('/run'), { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1048576', 'rw'] });
  assert.equal(m('/data')?.options, ['rbind', 'rprivate', 'ro']);
  assert.is(m('/cache')?.source, '/vol/cache/_data');
  assert.is(m('/dst')?.source, '/src');
  assert.ok(m('/dst')?.options?.includes('ro'));
  assert.is(buildSpec(input({ securityOpt: ['seccomp=unconfined'] })).linux.seccomp, undefined);
  const custom = { defaultAction: 'SCMP_ACT_ALLOW' };
  assert.equal(buildSpec(input({ securityOpt: ['seccomp=/p.json'] }, [], { seccompFile: custom })).linux.seccomp, custom);
  throwsCode(() => buildSpec(input({ securityOpt: ['seccomp=/p.json'] }, [], { seccompFile: [] })), 'InvalidArgument', /seccomp profile/);
  throwsCode(() => parseRunFlags({ securityOpt: ['apparmor=x'] }, [], () => ''), 'InvalidArgument', /security-opt/);
  throwsCode(() => parseVolume('relative:/x:bogus'), 'InvalidArgument', /unknown option "bogus"/);
  throwsCode(() => parseVolume('./rel:/x'), 'InvalidArgument', /relative: use an absolute path/);
  throwsCode(() => parseMount('type=bind,target=/x'), 'InvalidArgument', /source/);
  const shm = buildSpec(input({ tmpfs: ['/dev/shm'] }));
  assert.is(shm.mounts.filter((x) => x.destination === '/dev/shm').length, 1);
});

test('names, hostnames, labels, restart and --rm are validated', () => {
  const o = parseRunFlags({ name: 'web-1', label: ['a=b', 'flag'], hostname: 'box', restart: 'on-failure:2' }, [], () => '');
  assert.is(o.name, 'web-1');
  assert.equal(o.labels, { a: 'b', flag: '' });
  assert.equal(o.restart, { name: 'on-failure', maxRetries: 2 });
  assert.is(buildSpec(input({ hostname: 'box' })).hostname, 'box');
  assert.equal(buildSpec(input({ label: ['x=y'] }, [], { image: { Cmd: ['sh'], Labels: { img: '1' } } })).annotations, { img: '1', x: 'y' });
  throwsCode(() => parseRunFlags({ name: '-bad' }, [], () => ''), 'InvalidArgument', /container name/);
  throwsCode(() => parseRunFlags({ hostname: 'a b' }, [], () => ''), 'InvalidArgument', /hostname/);
  throwsCode(() => parseRunFlags({ rm: true, restart: 'always' }, [], () => ''), 'InvalidArgument', /--rm/);
  throwsCode(() => parseRunFlags({ workdir: 'rel' }, [], () => ''), 'InvalidArgument', /absolute/);
});

test('--init runs the command under /dev/init, bind-mounted from the host', () => {
  const s = buildSpec(input({ init: true }, ['sleep', '1'], { initPath: '/usr/bin/catatonit' }));
  assert.equal(s.process.args, ['/dev/init', '--', 'sleep', '1']);
  assert.is(s.mounts.find((m) => m.destination === '/dev/init')?.source, '/usr/bin/catatonit');
  throwsCode(() => buildSpec(input({ init: true })), 'FailedPrecondition', /catatonit/);
});

test('resolv.conf drops loopback nameservers in a private network namespace', () => {
  assert.is(resolvConf('nameserver 127.0.0.53\nsearch lan\n', 'none'), 'search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.is(resolvConf('nameserver 10.0.0.1\n', 'none'), 'nameserver 10.0.0.1\n');
  assert.is(resolvConf('nameserver 127.0.0.53\n', 'host'), 'nameserver 127.0.0.53\n');
});

test.run();
