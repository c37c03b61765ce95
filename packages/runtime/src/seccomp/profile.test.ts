import { existsSync, readFileSync } from 'node:fs';
import { SeccompSchema, validate } from '@berth/oci-spec';
import { isBerthError } from '@berth/errors';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allCapabilities, defaultCapabilities } from '../caps/caps.js';
import { allowedSyscalls, cloneNamespaceFlags, defaultSeccompProfile, neverAllowedSyscalls } from './profile.js';

const dangerous = [
  'mount', 'umount2', 'pivot_root', 'unshare', 'setns', 'kexec_load', 'keyctl', 'add_key', 'bpf', 'perf_event_open',
  'open_by_handle_at', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'ptrace', 'process_vm_readv',
  'clock_settime', 'settimeofday', 'acct', 'iopl', 'userfaultfd', 'io_uring_setup', 'clone3',
];

test('the default profile denies with EPERM and covers the host\'s architectures', () => {
  const p = defaultSeccompProfile(defaultCapabilities, { arch: 'x64' });
  assert.is(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.is(p.defaultErrnoRet, 1);
  assert.equal(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.equal(defaultSeccompProfile(defaultCapabilities, { arch: 'arm64' }).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.ok(defaultSeccompProfile().architectures.length > 0, 'this host has a profile');
  try {
    defaultSeccompProfile(defaultCapabilities, { arch: 'mips' });
    assert.unreachable();
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'));
  }
});

test('ordinary syscalls are allowed, dangerous ones are not with the default capabilities', () => {
  const allowed = allowedSyscalls(defaultSeccompProfile());
  for (const n of ['read', 'write', 'openat', 'execve', 'mmap', 'futex', 'socket', 'epoll_wait', 'exit_group', 'chroot', 'getrandom', 'setuid']) {
    assert.ok(allowed.has(n), `${n} allowed`);
  }
  for (const n of dangerous) assert.not.ok(allowed.has(n), `${n} denied`);
  assert.not.ok(allowed.has('clone'), 'clone only through its argument rule');
});

test('capabilities bring their syscalls back, as Docker\'s profile does', () => {
  const table: Array<[cap: string, names: string[]]> = [
    ['CAP_SYS_ADMIN', ['mount', 'umount2', 'pivot_root', 'unshare', 'setns', 'clone', 'clone3', 'bpf', 'perf_event_open', 'swapon', 'sethostname']],
    ['CAP_SYS_PTRACE', ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'userfaultfd']],
    ['CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']],
    ['CAP_SYS_BOOT', ['reboot', 'kexec_load']],
    ['CAP_BPF', ['bpf']],
    ['CAP_PERFMON', ['perf_event_open']],
    ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
    ['CAP_SYS_TIME', ['settimeofday', 'clock_settime']],
    ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
    ['CAP_SYS_PACCT', ['acct']],
  ];
  for (const [cap, names] of table) {
    const without = allowedSyscalls(defaultSeccompProfile(defaultCapabilities, { arch: 'x64' }));
    const with_ = allowedSyscalls(defaultSeccompProfile([...defaultCapabilities, cap.replace('CAP_', '').toLowerCase()], { arch: 'x64' }));
    for (const n of names) {
      assert.not.ok(without.has(n), `${n} denied without ${cap}`);
      assert.ok(with_.has(n), `${n} allowed with ${cap}`);
    }
  }
  // Without CAP_SYS_CHROOT, no chroot.
  assert.not.ok(allowedSyscalls(defaultSeccompProfile(['CAP_CHOWN'])).has('chroot'));
});

test('keyrings, io_uring and obsolete interfaces stay shut even with every capability', () => {
  const allowed = allowedSyscalls(defaultSeccompProfile(allCapabilities(), { arch: 'x64' }));
  for (const n of neverAllowedSyscalls) assert.not.ok(allowed.has(n), n);
  for (const n of ['mount', 'ptrace', 'reboot']) assert.ok(allowed.has(n), `${n} with ALL`);
});

test('clone without CAP_SYS_ADMIN is allowed only without namespace flags; clone3 answers ENOSYS', () => {
  const p = defaultSeccompProfile(defaultCapabilities, { arch: 'x64' });
  const clone = p.syscalls.filter((r) => r.names.includes('clone'));
  assert.is(clone.length, 1);
  assert.equal(clone[0]?.args, [{ index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
  assert.is(cloneNamespaceFlags, 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000);
  const clone3 = p.syscalls.find((r) => r.names.includes('clone3'));
  assert.equal(clone3, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  const admin = defaultSeccompProfile(['CAP_SYS_ADMIN'], { arch: 'x64' });
  assert.not.ok(admin.syscalls.some((r) => r.names.includes('clone') && r.args !== undefined), 'no filter with CAP_SYS_ADMIN');
});

test('personality is allowed only with harmless values', () => {
  const p = defaultSeccompProfile();
  const rules = p.syscalls.filter((r) => r.names.includes('personality'));
  assert.equal(rules.map((r) => r.args?.[0]?.value).sort((a, b) => (a ?? 0) - (b ?? 0)), [0, 8, 0x20000, 0x20008, 0xffffffff]);
  for (const r of rules) assert.is(r.args?.[0]?.op, 'SCMP_CMP_EQ');
  assert.not.ok(allowedSyscalls(p).has('personality'));
});

test('architecture-specific syscalls go only to their architecture', () => {
  const x86 = allowedSyscalls(defaultSeccompProfile(defaultCapabilities, { arch: 'x64' }));
  const arm = allowedSyscalls(defaultSeccompProfile(defaultCapabilities, { arch: 'arm64' }));
  assert.ok(x86.has('arch_prctl'));
  assert.not.ok(arm.has('arch_prctl'));
  assert.ok(arm.has('set_tls'));
  assert.not.ok(x86.has('set_tls'));
});

test('the profile is a valid OCI linux.seccomp object and plain JSON', () => {
  for (const caps of [defaultCapabilities, allCapabilities(), []]) {
    const p = defaultSeccompProfile(caps);
    const v = validate(SeccompSchema, p, 'linux.seccomp');
    assert.ok(v.ok, JSON.stringify(v.ok ? [] : v.issues));
    assert.equal(JSON.parse(JSON.stringify(p)), p);
    const seen = new Set<string>();
    for (const n of p.syscalls[0]?.names ?? []) {
      assert.not.ok(seen.has(n), `${n} listed once`);
      seen.add(n);
    }
  }
});

test('every syscall name is one the kernel headers know (catches typos)', () => {
  const headers = [
    '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
    '/usr/include/x86_64-linux-gnu/asm/unistd_32.h',
    '/usr/include/x86_64-linux-gnu/asm/unistd_x32.h',
    '/usr/include/asm-generic/unistd.h',
  ].filter((h) => existsSync(h));
  if (headers.length === 0) {
    console.log('# skip: no kernel headers (linux-libc-dev) to check syscall names against');
    return;
  }
  const known = new Set<string>();
  for (const h of headers) for (const m of readFileSync(h, 'utf8').matchAll(/#define __NR(?:3264)?_(\w+)/g)) if (m[1] !== undefined) known.add(m[1]);
  // 32-bit ARM only (no header here), and syscalls newer than the installed headers.
  const elsewhere = new Set([
    'arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'set_tls', 'cacheflush', 'breakpoint', 'send', 'recv',
    'fchmodat2', 'cachestat', 'mseal', 'map_shadow_stack', 'futex_wait', 'futex_wake', 'futex_requeue', 'set_mempolicy_home_node',
  ]);
  const unknown: string[] = [];
  for (const arch of ['x64', 'arm64']) {
    for (const rule of defaultSeccompProfile(allCapabilities(), { arch }).syscalls) {
      for (const n of rule.names) if (!known.has(n) && !elsewhere.has(n)) unknown.push(n);
    }
  }
  assert.equal([...new Set(unknown)], [], 'names not in the kernel headers');
});

test.run();
