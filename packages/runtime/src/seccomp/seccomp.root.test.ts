// The default profile on the real kernel: real programs run under it through a tiny
// libseccomp loader (testdata/seccomp-exec.c), without the container runtime. As root we
// hold every capability, so whatever fails here fails because of the filter.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultCapabilities } from '../caps/caps.js';
import { defaultSeccompProfile, type LinuxSeccomp } from './profile.js';

const busybox = '/bin/busybox';
const source = fileURLToPath(new URL('./testdata/seccomp-exec.c', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'berth-seccomp-'));
const loader = join(work, 'seccomp-exec');

let why: string | undefined;
if (!existsSync('/usr/include/seccomp.h')) why = 'libseccomp-dev is not installed';
else {
  try {
    execFileSync('gcc', ['-O1', '-o', loader, source, '-l:libseccomp.a'], { stdio: 'pipe' });
  } catch (e) {
    why = `cannot build the seccomp loader: ${String(e)}`;
  }
}
if (why !== undefined) console.log(`# skip: ${why}`);
const rt = why === undefined ? test : test.skip;

const archName = (a: string) => a.replace(/^SCMP_ARCH_/, '').toLowerCase();

/** The profile in the loader's line format. */
function filterFile(profile: LinuxSeccomp, name: string): string {
  const lines = [`default ${profile.defaultErrnoRet}`, ...profile.architectures.map((a) => `arch ${archName(a)}`)];
  for (const r of profile.syscalls) {
    const action = r.action === 'SCMP_ACT_ALLOW' ? 'ALLOW' : 'ERRNO';
    const args = (r.args ?? []).map((a) => `${a.index} ${a.op.replace('SCMP_CMP_', '')} ${a.value} ${a.valueTwo ?? 0}`);
    for (const n of r.names) lines.push(`rule ${action} ${r.errnoRet ?? 1} ${n} ${args.length} ${args.join(' ')}`.trim());
  }
  const path = join(work, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

function under(profile: LinuxSeccomp, argv: readonly string[]): { status: number | null; out: string } {
  const r = spawnSync(loader, [filterFile(profile, 'filter.txt'), ...argv], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const defaults = () => defaultSeccompProfile(defaultCapabilities);

test.after(() => rmSync(work, { recursive: true, force: true }));

rt('an ordinary shell lives under the default profile: files, pipes, fork, wait, signals', () => {
  const r = under(defaults(), [busybox, 'sh', '-c', 'echo hi | cat; ls / >/dev/null; (sleep 0.01 & wait); kill -0 $$; grep Seccomp: /proc/self/status; echo done']);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /hi\n/);
  assert.match(r.out, /Seccomp:\s+2/, 'the filter is on');
  assert.match(r.out, /done/);
});

rt('node runs under the default profile', () => {
  const r = under(defaults(), [process.execPath, '-e', 'require("fs").readFileSync("/etc/hostname"); require("child_process").execFileSync("/bin/busybox", ["true"]); console.log("node ok")']);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /node ok/);
});

rt('mount and unshare are denied with EPERM though root holds CAP_SYS_ADMIN', () => {
  const target = join(work, 'mnt');
  execFileSync(busybox, ['mkdir', '-p', target]);
  try {
    const m = under(defaults(), [busybox, 'mount', '-t', 'tmpfs', 'none', target]);
    assert.is.not(m.status, 0, m.out);
    assert.match(m.out, /not permitted|permission denied/i);
    const u = under(defaults(), [busybox, 'unshare', '-n', 'true']);
    assert.is.not(u.status, 0, u.out);
    assert.match(u.out, /not permitted/i);
  } finally {
    // Had the filter failed, do not leave a mount behind.
    if (readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${target} `)) execFileSync(busybox, ['umount', target]);
  }
});

rt('CAP_SYS_ADMIN in the profile opens unshare', () => {
  const r = under(defaultSeccompProfile([...defaultCapabilities, 'SYS_ADMIN']), [busybox, 'unshare', '-m', 'true']);
  assert.is(r.status, 0, r.out);
});

rt('personality: 32-bit mode is allowed, other values are not', () => {
  const ok = under(defaults(), [busybox, 'linux32', busybox, 'uname', '-m']);
  assert.is(ok.status, 0, ok.out);
  assert.match(ok.out, /i[36]86|armv[78]l/);
  // ADDR_NO_RANDOMIZE (0x0040000) is not among the allowed values.
  if (!existsSync('/usr/bin/setarch') || process.arch !== 'x64') {
    console.log('# skip (part): needs util-linux setarch on x86_64');
    return;
  }
  const plain = under(defaults(), ['/usr/bin/setarch', 'x86_64', busybox, 'true']);
  assert.is(plain.status, 0, plain.out);
  const norandom = under(defaults(), ['/usr/bin/setarch', 'x86_64', '-R', busybox, 'true']);
  assert.is.not(norandom.status, 0, norandom.out);
  assert.match(norandom.out, /not permitted/i);
});

test.run();
