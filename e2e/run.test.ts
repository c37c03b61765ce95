// `berth run` and the container lifecycle as a user drives them, through the bundled binary,
// on a temp store holding the busybox fixture. Needs root (mounts, namespaces, cgroups).
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBusybox } from './containers-fixture.js';

const repo = process.env.BERTH_REPO ?? process.cwd();
const bin = join(repo, 'packages/engine/dist/berth.cjs');
const dir = mkdtempSync(join(tmpdir(), 'berth-run-e2e-'));
const root = join(dir, 'root');
const state = join(dir, 'state');
const env = { ...process.env, BERTH_ROOT: root, BERTH_STATE: state };

function berth(args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, ...(input === undefined ? {} : { input }), timeout: 60_000 });
}

function ok(args: string[]): string {
  const r = berth(args);
  assert.is(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.unreachable(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const inspect = (ref: string, fmt: string) => ok(['inspect', '-f', fmt, ref]).trim();

/** Mounts below our temp dir, cgroups named after our containers, processes of our root. */
function leftovers(ids: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(dir)) out.push(`mount: ${line.split(' ')[4]}`);
  }
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    for (const id of ids) {
      const hits = spawnSync('find', [join('/sys/fs/cgroup', ctrl), '-maxdepth', '6', '-name', id], { encoding: 'utf8' }).stdout.trim();
      if (hits) out.push(`cgroup: ${hits}`);
    }
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(root) || cmd.includes(state)) out.push(`process ${pid}: ${cmd.replace(/\0/g, ' ')}`);
    } catch { /* gone */ }
  }
  return out;
}

const seen: string[] = [];

test.before(async () => {
  assert.ok(existsSync(bin), `build the bundle first: npx nx run @berth/engine:build (${bin})`);
  await loadBusybox(root, bin);
});

test('run --rm echo prints hi, exits 0 and leaves no container', () => {
  const r = berth(['run', '--rm', 'busybox', 'echo', 'hi']);
  assert.is(r.stderr, '');
  assert.is(r.stdout, 'hi\n');
  assert.is(r.status, 0);
  assert.is(ok(['ps', '-aq']), '');
});

test("the container's exit code is berth's; a missing image is 125, a missing command 127", () => {
  const r = berth(['run', '--name', 'three', 'busybox', 'sh', '-c', 'exit 3']);
  assert.is(r.status, 3, r.stderr);
  assert.is(inspect('three', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 3');
  seen.push(inspect('three', '{{.Id}}'));
  // --pull never: a test reaches no registry but its own (the default policy would ask docker.io).
  const nope = berth(['run', '--pull', 'never', 'nope-image']);
  assert.is(nope.status, 125);
  assert.is(nope.stdout, '');
  assert.is(nope.stderr.trim().split('\n').length, 1, nope.stderr);
  assert.match(nope.stderr, /^berth: image "nope-image" not found locally/);
  const cmd = berth(['run', '--rm', 'busybox', 'no-such-command']);
  assert.is(cmd.status, 127, cmd.stderr);
  assert.match(cmd.stderr, /no-such-command/);
  assert.is(berth(['run', '--rm', '--network', 'bridge', 'busybox', 'true']).status, 125);
  ok(['rm', 'three']);
});

test('a container over its memory limit is OOM-killed: exit 137, inspect says OOMKilled', () => {
  // 32 MiB limit, ~100 MiB held in one shell variable.
  const r = berth(['run', '--name', 'oom', '-m', '32m', 'busybox', 'sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived']);
  assert.is(r.status, 137, r.stdout + r.stderr);
  assert.not.match(r.stdout, /survived/);
  seen.push(inspect('oom', '{{.Id}}'));
  assert.is(inspect('oom', '{{.State.OOMKilled}} {{.State.ExitCode}}'), 'true 137');
  assert.match(ok(['ps', '-a', '--filter', 'name=oom', '--format', '{{.Status}}']), /^Exited \(137\) .* \(OOM killed\)$/m);
  ok(['rm', 'oom']);
});

test('a runtime that fails says so in one line (125); a command that cannot be executed is 126', () => {
  const run = (rt: string) => spawnSync(process.execPath, [bin, 'run', '--rm', 'busybox', 'true'], { encoding: 'utf8', env: { ...env, BERTH_RUNTIME: rt }, timeout: 60_000 });
  const silent = run('/bin/false');
  assert.is(silent.status, 125);
  assert.is(silent.stdout, '');
  assert.is(silent.stderr, "berth: OCI runtime /bin/false failed to create the container (exit status 1) and logged no reason: check the runtime, or unset BERTH_RUNTIME to use berth's own\n");
  const missing = run(join(dir, 'no-runtime'));
  assert.is(missing.status, 125);
  assert.is(missing.stderr, `berth: cannot run the OCI runtime ${join(dir, 'no-runtime')}: ENOENT: install it, or unset BERTH_RUNTIME to use berth's own\n`);
  assert.is(ok(['ps', '-aq']), '', 'run --rm removed the containers that never started');
  const noexec = berth(['run', '--rm', 'busybox', '/etc/passwd']);
  assert.is(noexec.status, 126, noexec.stderr);
  assert.match(noexec.stderr, /^berth: cannot start container: exec: "\/etc\/passwd": permission denied$/m);
});

test('BERTH_RUNTIME=runc: runc driven by its CLI runs the container, output and exit code intact', () => {
  const runc = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => existsSync(p));
  if (runc === undefined) { console.log('# skipped: runc is not installed'); return; }
  const renv = { ...env, BERTH_RUNTIME: runc };
  for (let i = 0; i < 3; i++) {
    // A container that is done before the pid file is read must still have its output shown.
    const r = spawnSync(process.execPath, [bin, 'run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 5'], { encoding: 'utf8', env: renv, timeout: 60_000 });
    assert.is(r.status, 5, r.stderr);
    assert.is(r.stdout, 'out\n');
    assert.is(r.stderr, 'err\n');
  }
});

test('image env, -e, --env-file, -w, -u, --hostname and labels reach the container', () => {
  const out = ok(['run', '--rm', '-e', 'A=1', '-w', '/tmp', '-u', '1000:1000', '-h', 'box', 'busybox',
    'sh', '-c', 'echo $A $PATH; pwd; id -u; hostname; cat /etc/hostname']);
  assert.equal(out.trim().split('\n'), ['1 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '/tmp', '1000', 'box', 'box']);
});

test('limits, ulimits, read-only root, capabilities and seccomp are what the container sees', () => {
  const out = ok(['run', '--rm', '-m', '64m', '--cpus', '0.5', '--pids-limit', '50', '--ulimit', 'nofile=512:1024',
    '--read-only', '--tmpfs', '/scratch', '--cap-drop', 'ALL', '--cap-add', 'KILL', 'busybox', 'sh', '-c',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max; '
    + 'ulimit -n; ulimit -Hn; touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs; grep -E "^(CapEff|Seccomp):" /proc/self/status']).trim().split('\n');
  assert.ok(out.includes('67108864') || out.includes('67108864'), out.join('|'));
  assert.ok(out.includes('50000') || out.some((l) => l.startsWith('50000 ')), out.join('|'));
  assert.ok(out.includes('50'));
  assert.equal(out.slice(3), ['512', '1024', 'ro', 'tmpfs', 'CapEff:\t0000000000000020', 'Seccomp:\t2']);
  const tooHigh = berth(['run', '--rm', '--ulimit', 'nofile=99999999:99999999', 'busybox', 'true']);
  assert.is(tooHigh.status, 125);
  assert.match(tooHigh.stderr, /exceeds this host's hard limit/);
  const priv = ok(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']);
  assert.match(priv, /Seccomp:\s+0/);
});

test('echo hi | berth run -i busybox cat prints hi', () => {
  const r = berth(['run', '--rm', '-i', 'busybox', 'cat'], 'hi\n');
  assert.is(r.stdout, 'hi\n', r.stderr);
  assert.is(r.status, 0);
});

test('-d prints the ID; logs -f follows; stop and rm clean up', async () => {
  const id = ok(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'trap "echo bye; exit 0" TERM; echo start; while true; do echo tick; sleep 0.1; done']).trim();
  seen.push(id);
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.is(inspect('ticker', '{{.State.Status}}'), 'running');
  assert.match(ok(['ps']), /ticker/);
  await until('log lines', () => (ok(['logs', 'ticker']).match(/tick/g) ?? []).length >= 3);
  assert.match(ok(['logs', '--tail', '1', id.slice(0, 10)]), /^tick\n$/);
  const follow = spawn(process.execPath, [bin, 'logs', '-f', 'ticker'], { env });
  let followed = '';
  follow.stdout.on('data', (d: Buffer) => { followed += d.toString(); });
  const followExit = new Promise<number | null>((r) => follow.on('exit', r));
  await sleep(300);
  ok(['stop', 'ticker']);
  assert.is(await followExit, 0);
  assert.match(followed, /^start\n(tick\n)+bye\n$/);
  assert.is(inspect('ticker', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 0');
  assert.is(berth(['rm', 'nope']).status, 125);
  ok(['rm', 'ticker']);
  const events = ok(['events', '--since', '5m', '--until', '0s', '--filter', `container=${id}`]);
  assert.equal(events.trim().split('\n').map((l) => l.split(' ')[2]), ['create', 'start', 'die', 'stop', 'destroy']);
  assert.is(berth(['inspect', id]).status, 125);
});

test('logs into a reader that stops early (| head -1): berth ends quietly, status 0', () => {
  ok(['run', '--name', 'chatty', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done']);
  // More than a pipe holds (64 KiB), so berth is still writing when head exits.
  const r = spawnSync('bash', ['-c', `"${process.execPath}" "${bin}" logs chatty | head -1; exit \${PIPESTATUS[0]}`], { env, encoding: 'utf8' });
  assert.is(r.stdout, 'line 0\n');
  assert.is(r.stderr, '');
  assert.is(r.status, 0);
  ok(['rm', 'chatty']);
});

test('rm refuses a running container; rm -f kills it; exec runs beside it', () => {
  const id = ok(['run', '-d', 'busybox', 'sleep', '60']).trim();
  seen.push(id);
  assert.is(ok(['exec', '-e', 'X=y', id, 'sh', '-c', 'echo $X']), 'y\n');
  assert.is(berth(['exec', id, 'sh', '-c', 'exit 6']).status, 6);
  assert.is(berth(['exec', id, 'no-such-command']).status, 127);
  assert.is(berth(['exec', '-i', id, 'cat'], 'piped\n').stdout, 'piped\n');
  const r = berth(['rm', id]);
  assert.is(r.status, 125);
  assert.match(r.stderr, /stop it first or use rm -f/);
  ok(['rm', '-f', id]);
  assert.is(ok(['ps', '-aq']), '');
});

test('cp copies both ways and never follows a container symlink out of the rootfs', () => {
  ok(['run', '--name', 'files', 'busybox', 'sh', '-c', 'mkdir /data; echo inner > /data/f; ln -s /etc /data/esc']);
  seen.push(inspect('files', '{{.Id}}'));
  const out = join(dir, 'out');
  ok(['cp', 'files:/data', out]);
  assert.is(readFileSync(join(out, 'f'), 'utf8'), 'inner\n');
  const host = join(dir, 'hostfile');
  spawnSync('sh', ['-c', `echo from-host > ${host}`]);
  ok(['cp', host, 'files:/data/esc/planted']);
  assert.not.ok(existsSync('/etc/planted'));
  assert.is(ok(['run', '--rm', '--volumes-from', 'files', 'busybox', 'true']), '');
  const tarList = spawnSync('sh', ['-c', `${process.execPath} ${bin} cp files:/data - | tar -t | sort`], { encoding: 'utf8', env });
  assert.is(tarList.stdout, 'data\ndata/esc\ndata/f\n');
  ok(['start', '-a', 'files']);
  ok(['rm', 'files']);
});

test('pause, unpause, rename, kill -s, restart, top, stats, attach, container prune', async () => {
  const id = ok(['run', '-d', '--name', 'life', 'busybox', 'sh', '-c', 'trap "echo got-usr1" USR1; while true; do sleep 0.1; done']).trim();
  seen.push(id);
  ok(['pause', 'life']);
  assert.is(inspect('life', '{{.State.Status}} {{.State.Paused}}'), 'paused true');
  assert.match(ok(['ps']), /\(Paused\)/);
  ok(['unpause', 'life']);
  assert.is(inspect('life', '{{.State.Status}}'), 'running');
  ok(['rename', 'life', 'life2']);
  assert.is(inspect('life2', '{{.Name}}'), '/life2');
  assert.is(berth(['rename', 'life2', 'bad name']).status, 125);
  assert.match(ok(['top', 'life2']), /sleep/);
  assert.match(ok(['stats', '--no-stream', 'life2']), /life2\s+\S+%\s+\S+ \/ \S+/);
  ok(['kill', '-s', 'USR1', 'life2']);
  await until('the trap', () => ok(['logs', 'life2']).includes('got-usr1'));
  const started = inspect('life2', '{{.State.StartedAt}}');
  ok(['restart', '-t', '1', 'life2']);
  assert.is(inspect('life2', '{{.State.Status}}'), 'running');
  assert.is.not(inspect('life2', '{{.State.StartedAt}}'), started);
  const attach = spawn(process.execPath, [bin, 'attach', 'life2'], { env });
  const attached = new Promise<number | null>((r) => attach.on('exit', r));
  await sleep(500);
  ok(['kill', 'life2']);
  assert.is(await attached, 137);
  assert.match(ok(['container', 'prune', '-f']), new RegExp(id));
  assert.is(berth(['inspect', id]).status, 125);
});

test('named volumes outlive containers; rm -v removes the anonymous ones', () => {
  const a = ok(['run', '-d', '--name', 'vols', '-v', 'keep:/keep', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo kept > /keep/f; echo tmp > /scratch/f; sleep 60']).trim();
  seen.push(a);
  assert.is(ok(['run', '--rm', '--volumes-from', 'vols', 'busybox', 'cat', '/keep/f', '/scratch/f']), 'kept\ntmp\n');
  const anon = JSON.parse(ok(['inspect', 'vols'])) as [{ Mounts: { Name: string; Destination: string }[] }];
  const scratch = anon[0].Mounts.find((m) => m.Destination === '/scratch')?.Name ?? '';
  assert.match(scratch, /^[0-9a-f]{64}$/);
  ok(['rm', '-f', '-v', 'vols']);
  const vols = ok(['volume', 'ls', '-q']);
  assert.match(vols, /^keep$/m);
  assert.not.match(vols, new RegExp(scratch));
  assert.is(ok(['run', '--rm', '-v', 'keep:/k', 'busybox', 'cat', '/k/f']), 'kept\n');
  ok(['volume', 'rm', 'keep']);
});

test('--restart on-failure:2 restarts twice, then stays exited', async () => {
  const id = ok(['run', '-d', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 1']).trim();
  seen.push(id);
  await until('two restarts', () => inspect(id, '{{.RestartCount}} {{.State.Status}}') === '2 exited');
  await sleep(500);
  assert.is(inspect(id, '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}'), '2 exited 1');
  assert.is(ok(['logs', id]), 'run\nrun\nrun\n');
  ok(['rm', id]);
});

test('stop wins over --restart always: the container stays exited', async () => {
  const id = ok(['run', '-d', '--restart', 'always', 'busybox', 'sleep', '60']).trim();
  seen.push(id);
  ok(['stop', '-t', '0', id]);
  await sleep(800);
  assert.is(inspect(id, '{{.State.Status}} {{.RestartCount}}'), 'exited 0');
  ok(['rm', id]);
});

test('--rm -d removes the container when it exits, with no CLI around', async () => {
  const id = ok(['run', '--rm', '-d', 'busybox', 'sh', '-c', 'sleep 0.3']).trim();
  seen.push(id);
  await until('removal', () => berth(['inspect', id]).status !== 0);
  assert.not.ok(existsSync(join(root, 'containers', id)));
  assert.not.ok(existsSync(join(state, 'runtime', id)), 'the runtime state went with it');
});

/** The parent of a process (from /proc/<pid>/stat). */
const parentOf = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};
const cmdlineOf = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();

test('a detached container is held by berth-shim alone: no Node process stays, the CLI is long gone', () => {
  const id = ok(['run', '-d', 'busybox', 'sleep', '60']).trim();
  seen.push(id);
  const init = Number(inspect(id, '{{.State.Pid}}'));
  const holder = parentOf(init);
  assert.match(cmdlineOf(holder), /berth-shim$/);
  assert.is(parentOf(holder), 1, 'the shim double-forked away from the CLI');
  const nodes = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(state) && readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('node'); } catch { return false; }
  });
  assert.equal(nodes, [], 'no node process holds the container');
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${holder}/status`, 'utf8'))?.[1];
  console.log(`# idle berth-shim RSS: ${rss} kB`);
  ok(['rm', '-f', id]);
});

test('run -d -t: the container gets a terminal and its output reaches the log', async () => {
  const id = ok(['run', '-d', '-t', 'busybox', 'sh', '-c', 'tty; echo hi']).trim();
  seen.push(id);
  await until('exit', () => inspect(id, '{{.State.Status}} {{.State.ExitCode}}') === 'exited 0');
  assert.match(ok(['logs', id]), /^\/dev\/pts\/0\r?\nhi\r?\n$/);
  ok(['rm', id]);
});

test("attach to a detached -t container goes through its shim's socket: input reaches the pty, the exit code comes back", async () => {
  const id = ok(['run', '-d', '-t', 'busybox', 'sh']).trim();
  seen.push(id);
  await until('the socket', () => existsSync(join(state, 'runtime', id, 'shim.sock')));
  assert.is(statSync(join(state, 'runtime', id, 'shim.sock')).mode & 0o777, 0o600, 'only its owner may attach or kill');
  const r = berth(['attach', id], 'echo hello-$((1+2))\nexit 7\n');
  assert.is(r.status, 7, r.stderr);
  assert.match(r.stdout, /hello-3/);
  assert.is(inspect(id, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 7');
  assert.not.ok(existsSync(join(state, 'runtime', id, 'shim.sock')), 'the socket goes with the shim');
  ok(['rm', id]);
});

test('a killed shim never leaves a ghost "running"; rm -f cleans up', async () => {
  const id = ok(['run', '-d', 'busybox', 'sleep', '60']).trim();
  seen.push(id);
  const shim = parentOf(Number(inspect(id, '{{.State.Pid}}')));
  assert.match(cmdlineOf(shim), /berth-shim$/);
  process.kill(shim, 'SIGKILL');
  await sleep(200);
  // ps reads the row first (its fast entry, then the full CLI that settles the row).
  assert.not.match(ok(['ps']), new RegExp(id.slice(0, 12)));
  assert.match(ok(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.Status}}']), /^Exited \(137\) /);
  assert.match(inspect(id, '{{.State.Status}}'), /^exited$/);
  ok(['rm', '-f', id]);
});

test('the shim rotates the json-file log: --log-opt max-size and max-file', async () => {
  const id = ok(['run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', 'for i in $(seq 1 100); do echo line$i; done']).trim();
  seen.push(id);
  await until('exit', () => inspect(id, '{{.State.Status}}') === 'exited');
  const files = readdirSync(join(root, 'containers', id)).filter((f) => f.startsWith('log.json')).sort();
  assert.equal(files, ['log.json', 'log.json.1', 'log.json.2']);
  for (const f of files) assert.ok(readFileSync(join(root, 'containers', id, f)).length <= 1024, `${f} holds at most max-size`);
  const lines = ok(['logs', id]).trim().split('\n');
  assert.is(lines[lines.length - 1], 'line100');
  const first = Number(lines[0]?.slice(4));
  assert.equal(lines, Array.from({ length: 101 - first }, (_, i) => `line${first + i}`), 'the newest lines, in order, none lost between files');
  ok(['rm', id]);
});

test('SIGKILL of the CLI during a foreground run leaves a coherent state', async () => {
  const cli = spawn(process.execPath, [bin, 'run', '--name', 'victim', 'busybox', 'sleep', '60'], { env, stdio: 'ignore' });
  await until('running', () => berth(['inspect', '-f', '{{.State.Status}}', 'victim']).stdout.trim() === 'running');
  seen.push(inspect('victim', '{{.Id}}'));
  cli.kill('SIGKILL');
  await new Promise((r) => cli.on('exit', r));
  assert.is(inspect('victim', '{{.State.Status}}'), 'exited');
  ok(['rm', '-f', 'victim']);
});

test('20 concurrent run -d from separate processes: all run, distinct names, ps is fast', async () => {
  const runs = Array.from({ length: 20 }, () => new Promise<{ code: number | null; out: string; err: string }>((done) => {
    const p = spawn(process.execPath, [bin, 'run', '-d', 'busybox', 'sleep', '60'], { env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('exit', (code) => done({ code, out, err }));
  }));
  const results = await Promise.all(runs);
  for (const r of results) assert.is(r.code, 0, r.err);
  seen.push(...results.map((r) => r.out.trim()));
  const names = ok(['ps', '--format', '{{.Names}}']).trim().split('\n');
  assert.is(names.length, 20);
  assert.is(new Set(names).size, 20);
  const t0 = process.hrtime.bigint();
  ok(['ps']);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`# ps with 20 running containers: ${ms.toFixed(0)} ms (includes node start)`);
  // The fast entries of ps, inspect and images (berth.cjs) say what the full CLI (berth-main.cjs, no loader) says.
  const full = join(repo, 'packages/engine/dist/berth-main.cjs');
  const [a, b] = names;
  for (const args of [['ps', '-q'], ['ps', '-aq', '--no-trunc'], ['ps', '-n', '3', '-q'], ['ps', '-a', '--filter', 'status=running', '-q'],
    ['ps', '--format', '{{.ID}} {{.Names}} {{.State}} {{.Command}} {{.Image}} {{.Ports}}'], ['ps', '-a', '-f', 'bogus=1'], ['ps', '--bogus'], ['ps', '--help'],
    ['inspect', a ?? ''], ['inspect', '-f', '{{.State.Pid}} {{.Mounts}} {{.HostConfig}}', a ?? '', b ?? ''], ['inspect', a ?? '', 'nosuch'], ['inspect', '-z', a ?? ''],
    ['images'], ['images', '-q', '--no-trunc'], ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'], ['images', '-f', 'bogus=1']]) {
    const fast = berth(args);
    const slow = spawnSync(process.execPath, [full, ...args], { encoding: 'utf8', env });
    assert.equal([fast.status, fast.stdout, fast.stderr], [slow.status, slow.stdout, slow.stderr], args.join(' '));
  }
  const ids = ok(['ps', '-aq']).trim().split('\n');
  ok(['rm', '-f', ...ids]);
  assert.is(ok(['ps', '-aq']), '');
});

test("overlay's init layer, its driver verdict in info, and system check finding and repairing a mount nothing owns", () => {
  // /etc/mtab is not in the busybox image: the init layer makes it (Docker's link to /proc/mounts).
  assert.is(ok(['run', '--rm', 'busybox', 'readlink', '/etc/mtab']), '/proc/mounts\n');
  const info = JSON.parse(ok(['info', '--format', 'json'])) as Record<string, unknown>;
  assert.ok(info['Storage Driver'] === 'overlay' || info['Storage Driver'] === 'vfs', String(info['Storage Driver']));
  assert.match(String(info['Storage Driver Reason']), info['Storage Driver'] === 'overlay' ? /overlay mount works/ : /./);
  const orphan = join(root, 'containers', 'f'.repeat(64), 'rootfs');
  spawnSync('mkdir', ['-p', orphan]);
  // A short link to a lower dir that is gone (what an older berth left for each removed container).
  const links = join(root, 'overlay', 'l');
  const dangling = existsSync(links) ? join(links, 'dangling0000') : undefined;
  if (dangling) spawnSync('ln', ['-s', join(root, 'containers', 'gone', 'init'), dangling]);
  assert.is(spawnSync('mount', ['-t', 'tmpfs', 'berth-e2e-orphan', orphan]).status, 0);
  try {
    const check = berth(['system', 'check']);
    assert.is(check.status, 1, check.stdout + check.stderr);
    assert.ok(check.stdout.includes(`problem: mount ${orphan} (tmpfs) is owned by nothing (unknown container): run berth system check --repair\n`), check.stdout);
    const repair = berth(['system', 'check', '--repair']);
    assert.is(repair.status, 0, repair.stdout + repair.stderr);
    assert.ok(repair.stdout.includes(`repaired: unmounted ${orphan} (tmpfs, unknown container)\n`), repair.stdout);
    if (dangling) {
      assert.match(repair.stdout, /removed \d+ dangling layer links?\n/);
      assert.not.ok(existsSync(dangling) || spawnSync('test', ['-L', dangling]).status === 0, 'the dangling link is gone');
    }
    assert.not.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(orphan), 'the orphan is still mounted');
    assert.match(ok(['system', 'check']), /store is clean/);
  } finally {
    spawnSync('umount', [orphan]);
    rmSync(join(root, 'containers', 'f'.repeat(64)), { recursive: true, force: true });
  }
});

test('nothing leaks: no mounts, cgroups or processes of ours after rm -f of everything', async () => {
  const left = ok(['ps', '-aq']).trim();
  if (left) ok(['rm', '-f', ...left.split('\n')]);
  await sleep(200);
  assert.equal(leftovers(seen), []);
  const check = berth(['system', 'check']);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /store is clean/);
});

test('run pulls a missing image from a registry (a real one on 127.0.0.1)', async () => {
  const { startRegistry, pushFixture } = await import('../tools/registry/index.js');
  const reg = await startRegistry();
  try {
    await pushFixture(reg, 'busybox', 'library/pulled:1');
    const r = berth(['run', '--rm', `${reg.host}/library/pulled:1`, 'echo', 'pulled-and-ran']);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, 'pulled-and-ran\n');
    assert.match(r.stderr, /Unable to find image/);
    const again = berth(['run', '--rm', `${reg.host}/library/pulled:1`, 'true']);
    assert.is(again.stderr, '');
  } finally {
    await reg.stop();
  }
});

test.after(() => {
  const left = berth(['ps', '-aq']).stdout.trim();
  if (left) berth(['rm', '-f', ...left.split('\n')]);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
