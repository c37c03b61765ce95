// `berth volume …` and volumes in `berth run`, as a user drives them through the bundled binary
// on a temp store holding the busybox fixture: persistence, copy-up, read-only enforcement and
// in-use protection. The run tests need root (mounts, namespaces).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBusybox } from './containers-fixture.js';

const repo = process.env.BERTH_REPO ?? process.cwd();
const bin = join(repo, 'packages/engine/dist/berth.cjs');
const dir = mkdtempSync(join(tmpdir(), 'berth-volumes-e2e-'));
const root = join(dir, 'root');
const state = join(dir, 'state');
const env = { ...process.env, BERTH_ROOT: root, BERTH_STATE: state };

function berth(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 60_000 });
}
function ok(...args: string[]): string {
  const r = berth(...args);
  assert.is(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const names = (...filters: string[]): string[] => ok('volume', 'ls', '-q', ...filters.flatMap((f) => ['--filter', f])).split('\n').filter((l) => l !== '');

test.before(async () => {
  assert.ok(existsSync(bin), `build the bundle first: npx nx run @berth/engine:build (${bin})`);
  await loadBusybox(root, bin);
});

test('volume create, ls, inspect, rm: Docker output', () => {
  assert.is(ok('volume', 'create', 'web-data', '--label', 'app=web', '-l', 'tier=front'), 'web-data\n');
  assert.is(ok('volume', 'create', 'web-data'), 'web-data\n', 'creating an existing volume returns it');
  const anon = ok('volume', 'create').trim();
  assert.match(anon, /^[0-9a-f]{64}$/);
  const ls = ok('volume', 'ls');
  assert.ok(ls.startsWith('DRIVER    VOLUME NAME\n'), ls);
  assert.match(ls, /^local     web-data$/m);
  assert.equal(names('label=app=web'), ['web-data']);
  assert.equal(names('name=web', 'dangling=true'), ['web-data']);
  const [i] = JSON.parse(ok('volume', 'inspect', 'web-data')) as Record<string, unknown>[];
  assert.equal(i, {
    CreatedAt: i?.['CreatedAt'], Driver: 'local', Labels: { app: 'web', tier: 'front' },
    Mountpoint: join(root, 'volumes', 'web-data', '_data'), Name: 'web-data', Options: null, Scope: 'local',
  });
  assert.ok(statSync(join(root, 'volumes', 'web-data', '_data')).isDirectory());
  assert.is(ok('volume', 'inspect', '-f', '{{.Mountpoint}} {{.Labels.app}} {{json .Options}}', 'web-data'), `${join(root, 'volumes', 'web-data', '_data')} web null\n`);
  assert.is(ok('volume', 'ls', '--filter', 'name=web', '--format', '{{.Name}}\\t{{.Driver}}'), 'web-data\tlocal\n');
  assert.is(ok('volume', 'rm', 'web-data', anon), `web-data\n${anon}\n`);
  assert.not.ok(existsSync(join(root, 'volumes', 'web-data')));
});

test('volume errors are one line with exit 125; rm -f ignores a missing volume', () => {
  const bad = berth('volume', 'create', 'no/slash');
  assert.is(bad.status, 125);
  assert.match(bad.stderr, /^berth: volume name "no\/slash" includes invalid characters/);
  const missing = berth('volume', 'rm', 'ghost');
  assert.is(missing.status, 125);
  assert.match(missing.stderr, /volume "ghost" not found/);
  assert.is(berth('volume', 'rm', '-f', 'ghost').status, 0);
  assert.match(berth('volume', 'ls', '--filter', 'colour=red').stderr, /invalid filter "colour"/);
  const opt = berth('volume', 'create', 'tmpv', '-o', 'type=tmpfs');
  assert.match(opt.stderr, /needs device=/);
});

test('prune removes unused anonymous volumes, and named ones with --all', () => {
  const anon = ok('volume', 'create').trim();
  ok('volume', 'create', 'keep-me');
  const r = ok('volume', 'prune', '-f');
  assert.match(r, new RegExp(`Deleted Volumes:\\n${anon}\\n`));
  assert.match(r, /Total reclaimed space: /);
  assert.equal(names(), ['keep-me']);
  ok('volume', 'prune', '-f', '--all');
  assert.equal(names(), []);
});

test('persistence: what one container writes to a named volume, the next one reads', () => {
  ok('volume', 'create', 'notes');
  ok('run', '--rm', '-v', 'notes:/notes', 'busybox', 'sh', '-c', 'echo remembered > /notes/a && mkdir /notes/d');
  assert.is(ok('run', '--rm', '-v', 'notes:/data', 'busybox', 'cat', '/data/a'), 'remembered\n');
  assert.is(readFileSync(join(root, 'volumes', 'notes', '_data', 'a'), 'utf8'), 'remembered\n');
  ok('volume', 'rm', 'notes');
});

test('read-only: a write to a :ro volume or bind fails inside the container', () => {
  ok('volume', 'create', 'frozen');
  const r = berth('run', '--rm', '-v', 'frozen:/frozen:ro', 'busybox', 'sh', '-c', 'echo x > /frozen/f');
  assert.ok(r.status !== 0, 'the write succeeded');
  assert.match(r.stderr, /Read-only file system/);
  const m = berth('run', '--rm', '--mount', `type=bind,source=${dir},target=/host,readonly`, 'busybox', 'touch', '/host/x');
  assert.ok(m.status !== 0, 'the write through a readonly bind succeeded');
  assert.match(m.stderr, /Read-only file system/);
  assert.not.ok(existsSync(join(dir, 'x')));
  ok('volume', 'rm', 'frozen');
});

test('in use: rm of a volume a container uses is refused, even with -f; after the container is gone it works', () => {
  ok('volume', 'create', 'held');
  ok('create', '--name', 'holder', '-v', 'held:/held', 'busybox', 'true');
  for (const args of [['volume', 'rm', 'held'], ['volume', 'rm', '-f', 'held']]) {
    const r = berth(...args);
    assert.is(r.status, 125);
    assert.match(r.stderr, /volume "held" is in use by container [0-9a-f]{12}/);
  }
  assert.equal(names('dangling=true'), []);
  ok('volume', 'prune', '-f', '--all');
  assert.equal(names(), ['held'], 'prune left the volume in use');
  ok('rm', 'holder');
  assert.is(ok('volume', 'rm', 'held'), 'held\n');
});

test('copy-up: an empty named volume at /etc gets the image\'s /etc, owners and modes kept; nocopy keeps it empty', () => {
  ok('volume', 'create', 'etc');
  const out = ok('run', '--rm', '-v', 'etc:/etc', 'busybox', 'sh', '-c', 'head -1 /etc/passwd; stat -c "%a %u" /etc');
  assert.match(out, /^root:x:0:0:/);
  const img = ok('run', '--rm', 'busybox', 'stat', '-c', '%a %u', '/etc');
  assert.ok(out.endsWith(img), `${out} vs ${img}`);
  assert.ok(existsSync(join(root, 'volumes', 'etc', '_data', 'passwd')));
  const none = berth('run', '--rm', '-v', 'etc-nocopy:/etc:nocopy', 'busybox', 'ls', '-A', '/etc');
  assert.is(none.stdout, '', none.stderr);
  const none2 = berth('run', '--rm', '--mount', 'type=volume,source=etc-nocopy2,target=/etc,volume-nocopy', 'busybox', 'ls', '-A', '/etc');
  assert.is(none2.stdout, '', none2.stderr);
  // The volume's root takes the image directory's mode (sticky /tmp: 1777) and owner.
  const t = ok('run', '--rm', '-v', 'tmpv:/tmp', 'busybox', 'stat', '-c', '%a %u:%g', '/tmp');
  assert.is(t, '1777 0:0\n');
  assert.is((statSync(join(root, 'volumes', 'tmpv', '_data')).mode & 0o7777).toString(8), '1777');
  ok('volume', 'rm', 'etc', 'etc-nocopy', 'etc-nocopy2', 'tmpv');
});

test('anonymous volumes: -v /path makes one; rm -v removes it, named volumes stay', () => {
  const before = names();
  ok('create', '--name', 'anon-holder', '-v', '/scratch', '-v', 'stays:/stays', 'busybox', 'true');
  const added = names().filter((n) => !before.includes(n));
  assert.is(added.length, 2);
  ok('rm', '-v', 'anon-holder');
  assert.equal(names().filter((n) => !before.includes(n)), ['stays']);
  ok('run', '--rm', '-v', '/scratch', '-v', 'stays:/stays', 'busybox', 'true');
  assert.equal(names().filter((n) => !before.includes(n)), ['stays'], 'run --rm removes its anonymous volumes');
  const failed = berth('run', '--rm', '-v', 'stays:/stays', '--mount', `type=bind,source=${join(dir, 'nope')},target=/nope`, 'busybox', 'true');
  assert.is(failed.status, 125);
  ok('volume', 'rm', 'stays');
});

test('bad -v and --mount specs are refused before anything runs', () => {
  const rel = berth('run', '--rm', '-v', './rel:/x', 'busybox', 'true');
  assert.is(rel.status, 125);
  assert.match(rel.stderr, /rel/);
  const missing = berth('run', '--rm', '--mount', `type=bind,source=${join(dir, 'absent')},target=/x`, 'busybox', 'true');
  assert.ok(missing.status !== 0, 'a --mount bind of a missing host path ran');
  assert.is(missing.status, 125);
  assert.is(missing.stderr, `berth: bind source path does not exist: ${join(dir, 'absent')}: create it first, or use -v (which creates it)\n`);
  assert.not.ok(existsSync(join(dir, 'absent')), '--mount must not create a missing bind source');
});

test.after(() => {
  berth('rm', '-f', 'holder');
  berth('rm', '-f', 'anon-holder');
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp !== undefined && mp.startsWith(dir)) spawnSync('umount', ['-l', mp]);
  }
  rmSync(dir, { recursive: true, force: true });
});

test.run();
