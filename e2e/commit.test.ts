// `berth diff`, `berth commit` and `berth export` as a user drives them, through the bundled
// binary, on a temp store holding the busybox fixture. Needs root (mounts, namespaces, cgroups).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBusybox } from './containers-fixture.js';

const repo = process.env.BERTH_REPO ?? process.cwd();
const bin = join(repo, 'packages/engine/dist/berth.cjs');
const dir = mkdtempSync(join(tmpdir(), 'berth-commit-e2e-'));
const root = join(dir, 'root');
const state = join(dir, 'state');
const env = { ...process.env, BERTH_ROOT: root, BERTH_STATE: state };

function berth(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 60_000 });
}

function ok(args: string[]): string {
  const r = berth(args);
  assert.is(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Names in a tar file, as tar lists them. */
function tarNames(file: string): string[] {
  const r = spawnSync('tar', ['-tf', file], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.replace(/^\.\//, '').replace(/\/$/, ''));
}

// What the container below does, and Docker's diff of it.
const script = 'echo hi > /added; echo extra >> /etc/passwd; echo new > /etc/new; rm /bin/zcat; mkdir -p /d/e; echo f > /d/e/f';
const expected = ['A /added', 'C /bin', 'D /bin/zcat', 'A /d', 'A /d/e', 'A /d/e/f', 'C /etc', 'A /etc/new', 'C /etc/passwd'];
const images: string[] = [];

test.before(async () => {
  assert.ok(existsSync(bin), `build the bundle first: npx nx run @berth/engine:build (${bin})`);
  await loadBusybox(root, bin);
});

test('diff lists what a stopped container added, changed and deleted, sorted by path', () => {
  const r = berth(['run', '--name', 'changer', 'busybox', 'sh', '-c', script]);
  assert.is(r.status, 0, r.stderr);
  const lines = ok(['diff', 'changer']).split('\n').filter((l) => l !== '');
  for (const l of expected) assert.ok(lines.includes(l), `missing "${l}" in:\n${lines.join('\n')}`);
  // Exactly the container's own changes: the runtime's bind-mount targets (/etc/hosts …) never show.
  assert.equal(lines.filter((l) => !expected.includes(l)), []);
  const paths = lines.map((l) => l.slice(2));
  assert.equal(paths, [...paths].sort());
  const missing = berth(['diff', 'no-such-container']);
  assert.is(missing.status, 125);
  assert.match(missing.stderr, /^berth: .*no-such-container/);
});

test('commit makes an image that runs with the changes, its message, author and --change CMD', () => {
  const out = ok(['commit', '-m', 'added a file', '-a', 'Jane <jane@example.com>', '-c', 'CMD ["cat","/added"]', 'changer', 'committed:1']);
  assert.match(out, /^sha256:[0-9a-f]{64}\n$/);
  const id = out.trim();
  images.push('committed:1');
  assert.is(ok(['image', 'inspect', '-f', '{{.Id}}', 'committed:1']).trim(), id);
  // The new default command, and the container's file system as it was left.
  assert.is(ok(['run', '--rm', 'committed:1']), 'hi\n');
  const seen = ok(['run', '--rm', 'committed:1', 'sh', '-c', 'test -e /bin/zcat && echo zcat || echo no-zcat; tail -n 1 /etc/passwd; cat /d/e/f']);
  assert.equal(seen.split('\n'), ['no-zcat', 'extra', 'f', '']);
  assert.is(ok(['image', 'inspect', '-f', '{{.Comment}}|{{.Author}}|{{json .Config.Cmd}}', 'committed:1']).trim(),
    'added a file|Jane <jane@example.com>|["cat","/added"]');
  // One more layer than busybox, and one more history entry with the comment.
  const layers = (s: string) => (JSON.parse(ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', s])) as string[]);
  const base = layers('busybox');
  const mine = layers('committed:1');
  assert.is(mine.length, base.length + 1);
  assert.equal(mine.slice(0, -1), base);
  assert.match(ok(['history', 'committed:1']).split('\n')[1] ?? '', /added a file/);
  // The top layer is a tar with a whiteout for the deleted file (read from the saved archive).
  const saved = join(dir, 'committed.tar');
  ok(['save', '-o', saved, 'committed:1']);
  const unpacked = join(dir, 'saved');
  spawnSync('mkdir', ['-p', unpacked]);
  assert.is(spawnSync('tar', ['-xf', saved, '-C', unpacked]).status, 0);
  const manifest = JSON.parse(readFileSync(join(unpacked, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
  const top = manifest[0]?.Layers.at(-1);
  assert.ok(top !== undefined);
  const names = tarNames(join(unpacked, top));
  assert.ok(names.includes('bin/.wh.zcat'), names.join(' '));
  assert.ok(names.includes('added'));
  assert.ok(names.includes('etc/passwd'));
  assert.not.ok(names.includes('bin/zcat'));
  assert.ok(names.indexOf('bin') < names.indexOf('bin/.wh.zcat'));
});

test('commit without a tag is a dangling image; a bad --change fails before any work', () => {
  const id = ok(['commit', 'changer']).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  images.push(id);
  assert.is(ok(['image', 'inspect', '-f', '{{json .RepoTags}}', id]).trim(), '[]');
  // The container's command as run stays the default.
  assert.is(ok(['image', 'inspect', '-f', '{{json .Config.Cmd}}', id]).trim(), JSON.stringify(['sh', '-c', script]));
  const bad = berth(['commit', '-c', 'FROM scratch', 'changer', 'bad:1']);
  assert.is(bad.status, 125);
  assert.match(bad.stderr, /--change "FROM" is not supported/);
  assert.is(berth(['image', 'inspect', 'bad:1']).status !== 0, true);
});

test("commit keeps the container's config as run (-e, -w, -u, --label, -t) under --change, without the runtime's own env", () => {
  ok(['run', '--name', 'configured', '-t', '-e', 'A=1', '-w', '/tmp', '-u', '1000:1000', '--label', 'x=y', '--entrypoint', 'echo', 'busybox', 'hello']);
  const id = ok(['commit', '--pause=false', '-c', 'ENV B=2', 'configured']).trim();
  images.push(id);
  const cfg = JSON.parse(ok(['image', 'inspect', '-f', '{{json .Config}}', id])) as Record<string, unknown>;
  assert.equal(cfg['Env'], ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'B=2']);
  assert.equal(cfg['Entrypoint'], ['echo']);
  assert.equal(cfg['Cmd'], ['hello']);
  assert.is(cfg['WorkingDir'], '/tmp');
  assert.is(cfg['User'], '1000:1000');
  assert.equal(cfg['Labels'], { x: 'y' });
  assert.is(ok(['run', '--rm', id]), 'hello\n');
  ok(['rm', 'configured']);
});

test('diff and commit of a running container (paused during the commit, running after)', async () => {
  ok(['run', '-d', '--name', 'live', 'busybox', 'sh', '-c', 'echo alive > /live; sleep 60']);
  const end = Date.now() + 15_000;
  while (!ok(['diff', 'live']).split('\n').includes('A /live')) {
    if (Date.now() > end) assert.unreachable('the running container never showed A /live');
    await sleep(50);
  }
  const id = ok(['commit', 'live', 'live-img']).trim();
  images.push('live-img');
  assert.match(id, /^sha256:/);
  assert.is(ok(['inspect', '-f', '{{.State.Status}}', 'live']).trim(), 'running');
  assert.is(ok(['run', '--rm', 'live-img:latest', 'cat', '/live']), 'alive\n');
  ok(['rm', '-f', 'live']);
});

test('export writes the merged file system: the added file, not the deleted one', () => {
  const file = join(dir, 'export.tar');
  ok(['export', '-o', file, 'changer']);
  const names = tarNames(file);
  for (const n of ['added', 'bin/sh', 'd/e/f', 'etc/passwd']) assert.ok(names.includes(n), `missing ${n}`);
  assert.not.ok(names.includes('bin/zcat'));
  assert.not.ok(names.some((n) => n.includes('.wh.')));
  // Without -o, to stdout (a pipe here): the same tar.
  const piped = spawnSync(process.execPath, [bin, 'export', 'changer'], { env, maxBuffer: 64 << 20 });
  assert.is(piped.status, 0, String(piped.stderr));
  assert.equal(piped.stdout, readFileSync(file));
  // The file content is the container's.
  const x = spawnSync('tar', ['-xOf', file, 'etc/passwd'], { encoding: 'utf8' });
  assert.match(x.stdout, /extra\n$/);
  // An exited container's rootfs is mounted only while exporting.
  assert.not.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(join(root, 'containers')));
});

test('export refuses to write a tar to a terminal', () => {
  // `script` gives berth a pseudo-terminal as stdout.
  const r = spawnSync('script', ['-qec', `${process.execPath} ${bin} export changer`, '/dev/null'], { encoding: 'utf8', env, timeout: 30_000 });
  if (r.error !== undefined) { console.log('# skip: script(1) is not available'); return; }
  assert.is(r.status, 125, r.stdout);
  assert.match(r.stdout, /refusing to write a tar archive to a terminal/);
});

test('nothing is left: containers removed, images removed, nothing mounted', () => {
  ok(['rm', 'changer']);
  const initLayers = join(root, 'overlay/init');
  const imagesOfInitLayers = () => readdirSync(initLayers).filter((n) => n.endsWith('.json'))
    .map((n) => (JSON.parse(readFileSync(join(initLayers, n), 'utf8')) as { lowerDirs: string[] }).lowerDirs);
  assert.ok(imagesOfInitLayers().length > 1, 'the containers of each image shared one init layer');
  for (const i of images) ok(['rmi', i]);
  // The init layers of the removed images went with them; busybox's stays for its next container.
  const left = imagesOfInitLayers();
  assert.is(left.length, 1);
  for (const d of left[0] ?? []) assert.ok(existsSync(d), `init layer of a removed image left: ${d}`);
  assert.is(ok(['ps', '-aq']), '');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));
  assert.equal(mounts, []);
  const check = berth(['system', 'check']);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /store is clean/);
});

test.after(() => {
  const left = berth(['ps', '-aq']).stdout.trim();
  if (left) berth(['rm', '-f', ...left.split('\n')]);
  rmSync(dir, { recursive: true, force: true });
});

test.run();
