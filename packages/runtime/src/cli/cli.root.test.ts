// The bundled berth-runtime binary as containerd and podman call it: runc's commands, JSON
// state, error lines and exit statuses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxBundle, type TestBundle } from '../testing/bundle.js';

const repo = process.env['BERTH_REPO'] ?? process.cwd();
const bin = join(repo, 'packages/runtime/dist/berth-runtime.cjs');
const root = mkdtempSync(join(tmpdir(), 'berth-cli-state-'));
const env = { ...process.env, NODE_EXTRA_CA_CERTS: '' };
const bundles: TestBundle[] = [];
const ids: string[] = [];
const log = join(root, 'log.json');

function br(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, '--root', root, '--log', log, '--log-format', 'json', ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** For create and run -d: the container keeps the CLI's stdio (as with runc), so do not capture it. */
function brDetached(...args: string[]): number {
  const r = spawnSync(process.execPath, [bin, '--root', root, '--log', log, '--log-format', 'json', ...args], { env, stdio: 'ignore', timeout: 30_000 });
  return r.status ?? -1;
}

function bundle(args: readonly string[]): TestBundle {
  const b = busyboxBundle(args);
  bundles.push(b);
  return b;
}

const id = (name: string) => {
  const v = `cli-${process.pid}-${name}`;
  ids.push(v);
  return v;
};

test.before(() => {
  execFileSync(process.execPath, [join(repo, 'packages/runtime/build.mjs')], { stdio: 'inherit' });
});

test('--version, spec and features speak runc', () => {
  assert.match(br('--version').stdout, /^berth-runtime version \d+\.\d+\.\d+/);
  const dir = mkdtempSync(join(tmpdir(), 'berth-cli-spec-'));
  assert.equal(br('spec', '--bundle', dir).status, 0);
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { process: { args: string[]; terminal: boolean } };
  assert.equal(spec.process.args, ['sh']);
  assert.equal(spec.process.terminal, true);
  assert.equal(br('spec', '--bundle', dir).status, 1, 'spec refuses to overwrite');
  rmSync(dir, { recursive: true, force: true });
  const f = JSON.parse(br('features').stdout) as { ociVersionMax: string; linux: { namespaces: string[] } };
  assert.ok(f.ociVersionMax.startsWith('1.'));
  assert.ok(f.linux.namespaces.includes('user'));
});

test('create → state created → start → running → kill 9 → stopped → delete', async () => {
  const c = id('life');
  const b = bundle(['sleep', '1000']);
  const pidFile = join(b.dir, 'init.pid');
  assert.equal(brDetached('create', '--bundle', b.dir, '--pid-file', pidFile, c), 0);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const st = JSON.parse(br('state', c).stdout) as Record<string, unknown>;
  assert.equal(st['status'], 'created');
  assert.equal(st['pid'], pid);
  assert.equal(st['bundle'], b.dir);
  assert.equal(st['id'], c);
  for (const k of ['ociVersion', 'rootfs', 'created', 'owner']) assert.ok(k in st, `state has ${k}`);
  assert.equal(br('start', c).status, 0);
  assert.equal((JSON.parse(br('state', c).stdout) as { status: string }).status, 'running');
  const list = JSON.parse(br('list', '--format', 'json').stdout) as { id: string }[];
  assert.ok(list.some((x) => x.id === c));
  assert.ok((JSON.parse(br('ps', '--format', 'json', c).stdout) as number[]).includes(pid));
  assert.equal(br('kill', c, '9').status, 0);
  for (let i = 0; i < 100 && (JSON.parse(br('state', c).stdout) as { status: string }).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((JSON.parse(br('state', c).stdout) as { status: string }).status, 'stopped');
  assert.equal(br('delete', c).status, 0);
  assert.not.ok(existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 'no process');
});

test('errors: exit status 1, a runc-style line on stderr and a JSON line in --log', () => {
  const r = br('state', 'no-such-container');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /level=error msg="container \\"no-such-container\\" does not exist"/);
  const last = readFileSync(log, 'utf8').trim().split('\n').at(-1) ?? '';
  const entry = JSON.parse(last) as { level: string; msg: string };
  assert.equal(entry.level, 'error');
  assert.equal(entry.msg, 'container "no-such-container" does not exist');
  assert.equal(br('delete', '--force', 'no-such-container').status, 0, 'delete --force of a missing container succeeds');
  assert.equal(br('bogus').status, 1);
});

test('run of a program that cannot start fails as runc does: exit 1, the reason on stderr and in --log', () => {
  const b = bundle(['true']);
  writeFileSync(join(b.rootfs, 'bin/garbage'), 'not a program\0');
  execFileSync('chmod', ['755', join(b.rootfs, 'bin/garbage')]);
  const cases: [string, RegExp][] = [
    ['/etc', /exec: \\"\/etc\\": permission denied \(is a directory\)/],
    ['/bin/garbage', /exec: \\"\/bin\/garbage\\": exec format error/],
    ['/etc/passwd', /exec: \\"\/etc\/passwd\\": permission denied/],
    ['/no/such', /exec: \\"\/no\/such\\": stat \/no\/such: no such file or directory/],
    ['nope', /exec: \\"nope\\": executable file not found in \$PATH/],
  ];
  for (const [argv0, message] of cases) {
    const cfg = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')) as { process: { args: string[] } };
    cfg.process.args = [argv0];
    writeFileSync(join(b.dir, 'config.json'), JSON.stringify(cfg));
    const c = id(`noexec-${argv0.replace(/\W/g, '')}`);
    const r = br('run', '--bundle', b.dir, c);
    assert.equal(r.status, 1, argv0);
    assert.match(r.stderr, message, argv0);
    const last = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1) ?? '{}') as { level: string; msg: string };
    assert.equal(last.level, 'error');
    assert.match(JSON.stringify(last.msg), message, argv0);
    assert.not.ok(existsSync(join(root, c)), 'a failed run leaves no state');
  }
  // After `start` the caller has gone: the init says why on the process's own stderr, as runc's does.
  const cfg = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')) as { process: { args: string[] } };
  cfg.process.args = ['/bin/garbage'];
  writeFileSync(join(b.dir, 'config.json'), JSON.stringify(cfg));
  const c = id('noexec-started');
  const errFile = join(b.dir, 'stderr');
  const fd = openSync(errFile, 'w');
  const created = spawnSync(process.execPath, [bin, '--root', root, 'create', '--bundle', b.dir, c], { env, stdio: ['ignore', 'ignore', fd], timeout: 30_000 });
  closeSync(fd);
  assert.equal(created.status, 0);
  assert.equal(br('start', c).status, 0);
  for (let i = 0; i < 100 && !readFileSync(errFile, 'utf8').includes('\n'); i++) execFileSync('sleep', ['0.02']);
  assert.equal(readFileSync(errFile, 'utf8'), 'exec /bin/garbage: exec format error\n');
  assert.equal(br('delete', '--force', c).status, 0);
});

test('run forwards stdio and exits with the container status; exec runs in it', () => {
  const b = bundle(['sh', '-c', 'echo out-$((40+2)); exit 3']);
  const r = br('run', '--bundle', b.dir, id('run'));
  assert.equal(r.status, 3);
  assert.equal(r.stdout, 'out-42\n');
  const c = id('exec');
  const s = bundle(['sleep', '1000']);
  assert.equal(brDetached('run', '-d', '--bundle', s.dir, c), 0);
  const e = br('exec', c, 'sh', '-c', 'echo exec-$$; exit 4');
  assert.equal(e.status, 4);
  assert.match(e.stdout, /^exec-\d+\n$/);
  const u = br('exec', '-u', '1000:1001', '--cwd', '/tmp', '-e', 'K=v', c, 'sh', '-c', 'echo $(id -u):$(id -g) $(pwd) $K');
  assert.equal(u.stdout, '1000:1001 /tmp v\n', u.stderr);
  const proc = join(s.dir, 'process.json');
  writeFileSync(proc, JSON.stringify({ cwd: '/', args: ['hostname'], env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }));
  const p = br('exec', '--process', proc, c);
  assert.equal(p.status, 0, p.stderr);
  assert.equal(p.stdout, 'runc\n');
  assert.equal(br('delete', '-f', c).status, 0, 'runc\'s short -f is --force');
});

test('run with a terminal and no console socket proxies its own stdio to the pty (runc run -t)', () => {
  const b = bundle(['sh', '-c', 'tty; read x; echo got=$x; exit 6']);
  const cfg = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')) as { process: { terminal: boolean } };
  cfg.process.terminal = true;
  writeFileSync(join(b.dir, 'config.json'), JSON.stringify(cfg));
  const r = spawnSync(process.execPath, [bin, '--root', root, 'run', '--bundle', b.dir, id('tty')], { env, input: 'hello\n', encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 6, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r$/m);
  assert.match(r.stdout, /got=hello\r\n/);
});

test('pause, resume and update --resources - change a running container', () => {
  const c = id('pause');
  const b = bundle(['sleep', '1000']);
  assert.equal(brDetached('run', '-d', '--bundle', b.dir, c), 0);
  const status = () => (JSON.parse(br('state', c).stdout) as { status: string }).status;
  assert.equal(br('pause', c).status, 0);
  assert.equal(status(), 'paused');
  assert.equal(br('pause', c).status, 1, 'a paused container cannot be paused again');
  assert.equal(br('resume', c).status, 0);
  assert.equal(status(), 'running');
  const u = spawnSync(process.execPath, [bin, '--root', root, 'update', '--resources', '-', c], { env, input: JSON.stringify({ pids: { limit: 42 } }), encoding: 'utf8' });
  assert.equal(u.status, 0, u.stderr);
  const st = JSON.parse(readFileSync(join(root, c, 'state.json'), 'utf8')) as { cgroupDirs: string[] };
  const pidsDir = st.cgroupDirs.find((d) => d.includes('/pids/'));
  assert.ok(pidsDir);
  assert.equal(readFileSync(join(pidsDir ?? '', 'pids.max'), 'utf8').trim(), '42');
  assert.equal(br('delete', '-f', c).status, 0);
});

test('a foreground run becomes berth-shim: state, kill and --pid-file work meanwhile; it leaves no state or cgroup; OOM goes to --log', async () => {
  const c = id('handoff');
  const b = bundle(['sleep', '1000']);
  const pidFile = join(root, 'handoff.pid');
  const child = spawn(process.execPath, [bin, '--root', root, '--log', log, '--log-format', 'json', 'run', '--pid-file', pidFile, '--bundle', b.dir, c], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let st: { status: string; pid: number } = { status: 'creating', pid: 0 };
  for (let i = 0; i < 200 && st.status !== 'running'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const r = br('state', c);
    if (r.status === 0) st = JSON.parse(r.stdout) as typeof st;
  }
  assert.equal(st.status, 'running');
  assert.equal(readlinkSync(`/proc/${child.pid}/exe`), join(repo, 'packages/runtime/dist/berth-shim'), 'the CLI process is now berth-shim');
  assert.ok(readFileSync(`/proc/${st.pid}/stat`, 'utf8').includes(`) S ${child.pid} `), 'the init is its child');
  assert.equal(readFileSync(pidFile, 'utf8'), String(st.pid));
  const cgroupDirs = (JSON.parse(readFileSync(join(root, c, 'state.json'), 'utf8')) as { cgroupDirs: string[] }).cgroupDirs;
  assert.ok(cgroupDirs.length > 0 && cgroupDirs.every((d) => existsSync(d)));
  assert.equal(br('kill', c, 'KILL').status, 0);
  assert.equal(await exited, 137);
  assert.not.ok(existsSync(join(root, c)), 'the shim removed the state dir');
  assert.ok(cgroupDirs.every((d) => !existsSync(d)), 'and the cgroups');

  const oom = bundle(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1']);
  const cfg = JSON.parse(readFileSync(join(oom.dir, 'config.json'), 'utf8')) as { linux: Record<string, unknown> };
  cfg.linux['resources'] = { memory: { limit: 32 << 20, swap: 32 << 20 } };
  writeFileSync(join(oom.dir, 'config.json'), JSON.stringify(cfg));
  const r = br('run', '--bundle', oom.dir, id('oom'));
  assert.equal(r.status, 137);
  const last = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1) ?? '{}') as { msg: string; oomKilled?: boolean };
  assert.equal(last.oomKilled, true, 'the OOM kill is in the log, where the engine reads it');
});

test.after(() => {
  for (const c of ids) br('delete', '--force', c);
  for (const b of bundles) b.remove();
  rmSync(root, { recursive: true, force: true });
});

test.run();
