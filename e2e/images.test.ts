// Image commands of the bundled binary as a user runs them: load/save interop with skopeo and
// podman (same image IDs both ways), images/tag/rmi/import/history/inspect/prune/df output, and
// crash safety — a berth killed with SIGKILL mid-ingest (200 MB) and mid-unpack leaves no visible
// partial blob or layer, and `berth system check` reports the store clean.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from '../tools/fixtures/index.js';

const run = promisify(execFile);
const bin = join(process.env.BERTH_REPO ?? process.cwd(), 'packages/engine/dist/berth.cjs');
const temps: string[] = [];
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'berth-e2e-img-')); temps.push(d); return d; };
const isRoot = process.getuid?.() === 0;

function cli(root: string) {
  return (args: string[], input?: Buffer | string) => spawnSync(process.execPath, [bin, '--root', root, '--state', join(root, '..', 'state'), ...args], {
    encoding: 'utf8', maxBuffer: 1 << 26, ...(input === undefined ? {} : { input }),
  });
}

function podman(dir: string) {
  const base = ['--root', join(dir, 'proot'), '--runroot', join(dir, 'prun'), '--runtime', 'runc', '--storage-driver', 'vfs',
    '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
  return async (...args: string[]) => (await run('podman', [...base, ...args], { env: { ...process.env, TMPDIR: dir }, maxBuffer: 1 << 24 })).stdout;
}

if (!isRoot) {
  test('image commands (root only)', () => { console.log('# skip: unpacking layers needs root (owners, whiteout devices)'); });
} else {
  test('an archive skopeo writes loads with the same image ID', async () => {
    const f = await fixture('layered');
    const d = tmp();
    await run('skopeo', ['copy', '-q', f.ociRef, `docker-archive:${join(d, 'sk.tar')}:layered:latest`]);
    const berth = cli(join(d, 'root'));
    const r = berth(['load', '-i', join(d, 'sk.tar')]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, 'Loaded image: layered:latest\n');
    assert.is(berth(['image', 'inspect', '--format', '{{.Id}}', 'layered']).stdout.trim(), f.imageId);
  });

  test('podman save → berth load, and berth save → podman load, keep the image ID', async () => {
    const f = await fixture('busybox');
    const d = tmp();
    const p = podman(d);
    await p('load', '-q', '-i', f.dockerArchive ?? '');
    await p('save', '-q', '-o', join(d, 'pm.tar'), 'busybox:latest');
    const berth = cli(join(d, 'root'));
    const r = berth(['load', '-i', join(d, 'pm.tar')]);
    assert.is(r.status, 0, r.stderr);
    // podman names what it loaded localhost/busybox.
    assert.match(r.stdout, /^Loaded image: localhost\/busybox:latest$/m);
    assert.is(berth(['image', 'inspect', '--format', '{{.Id}}', 'localhost/busybox']).stdout.trim(), f.imageId);
    berth(['tag', 'localhost/busybox', 'localhost/roundtrip:v1']);
    const s = berth(['save', '-o', join(d, 'berth.tar'), 'localhost/roundtrip:v1']);
    assert.is(s.status, 0, s.stderr);
    const d2 = tmp();
    const p2 = podman(d2);
    const out = await p2('load', '-i', join(d, 'berth.tar'));
    assert.match(out, /localhost\/roundtrip:v1/);
    const id = (await p2('image', 'inspect', '--format', '{{.Id}}', 'localhost/roundtrip:v1')).trim();
    assert.is(`sha256:${id.replace(/^sha256:/, '')}`, f.imageId);
  });

  test('images, tag, history, inspect, rmi: Docker columns and wording', async () => {
    const f = await fixture('busybox');
    const l = await fixture('layered');
    const berth = cli(join(tmp(), 'root'));
    assert.is(berth(['load', '-i', f.dockerArchive ?? '']).stdout, 'Loaded image: busybox:latest\n');
    assert.is(berth(['load', '-i', l.ociLayout]).stdout, `Loaded image ID: ${l.imageId}\n`);
    assert.is(berth(['tag', 'busybox', 'localhost:5000/bb:v1']).status, 0);
    const images = berth(['images']).stdout.split('\n');
    assert.match(images[0] ?? '', /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.ok(images.some((x) => new RegExp(`^busybox\\s+latest\\s+${f.imageId.slice(7, 19)}\\s+\\d+ years ago\\s+[\\d.]+MB$`).test(x)), images.join('\n'));
    assert.ok(images.some((x) => /^<none>\s+<none>\s+/.test(x)));
    assert.is(berth(['images', '-q', '--filter', 'reference=localhost:5000/*']).stdout, `${f.imageId.slice(7, 19)}\n`);
    assert.is(berth(['images', '--format', '{{.Repository}}:{{.Tag}}', 'busybox']).stdout, 'busybox:latest\n');
    assert.match(berth(['images', '--digests']).stdout.split('\n')[0] ?? '', /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    const h = berth(['history', l.imageId.slice(7, 19)]).stdout.split('\n');
    assert.match(h[0] ?? '', /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.is(h.filter((x) => x.startsWith('<missing>')).length, 4);
    const inspect = JSON.parse(berth(['image', 'inspect', 'busybox']).stdout) as Array<Record<string, unknown>>;
    assert.is(inspect[0]?.['Id'], f.imageId);
    assert.equal(inspect[0]?.['RepoTags'], ['busybox:latest', 'localhost:5000/bb:v1']);
    assert.equal((inspect[0]?.['RootFS'] as { Layers: string[] }).Layers, f.diffIDs);
    const bad = berth(['rmi', f.imageId.slice(7, 19)]);
    assert.is(bad.status, 125);
    assert.match(bad.stderr, /^berth: unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced in multiple repositories\n$/);
    assert.is(berth(['rmi', 'localhost:5000/bb:v1']).stdout, 'Untagged: localhost:5000/bb:v1\n');
    const rmi = berth(['rmi', 'busybox']).stdout;
    assert.match(rmi, new RegExp(`^Untagged: busybox:latest\\nDeleted: ${f.imageId}\\n`));
    const missing = berth(['rmi', 'nope']);
    assert.is(missing.status, 125);
    assert.is(missing.stderr, 'berth: no such image: nope\n');
    const pr = berth(['image', 'prune', '-f']).stdout;
    assert.match(pr, new RegExp(`^Deleted Images:\\ndeleted: ${l.imageId}\\n`));
    assert.match(pr, /Total reclaimed space: [\d.]+[kM]?B\n$/);
    assert.is(berth(['images', '-q']).stdout, '');
    assert.match(berth(['system', 'check']).stdout, /store is clean: 0 images, 0 blobs, 0 layers/);
  });

  test('import from stdin with --change; system df shows it', async () => {
    const root = join(tmp(), 'root');
    const berth = cli(root);
    const p = pack();
    p.entry({ name: 'etc/hostname', mode: 0o644 }, 'imported\n');
    p.entry({ name: 'bin/', type: 'directory', mode: 0o755 });
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    const r = berth(['import', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV A=1', '-', 'imported:v1'], Buffer.concat(chunks));
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.is(berth(['image', 'inspect', '-f', '{{json .Config}}', 'imported:v1']).stdout, '{"Cmd":["/bin/sh"],"Env":["A=1"]}\n');
    const df = berth(['system', 'df']).stdout.split('\n');
    assert.match(df[0] ?? '', /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    assert.match(df[1] ?? '', /^Images\s+1\s+0\s+9B\s+9B \(100%\)$/);
    const info = JSON.parse(berth(['info', '--format', 'json']).stdout) as Record<string, unknown>;
    assert.is(info['Images'], 1);
    assert.is(info['Layers'], 1);
  });

  /** Starts `berth import -` fed by a generated tar; resolves with the child once `ready()` holds. */
  async function killDuring(root: string, entries: (p: ReturnType<typeof pack>) => Promise<void>, ready: () => boolean): Promise<void> {
    const child = spawn(process.execPath, [bin, '--root', root, 'import', '-', 'crash:1'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const p = pack();
    p.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    const feeding = entries(p).then(() => p.finalize(), () => undefined);
    const exited = new Promise<number | null>((res) => child.on('exit', (code, sig) => res(sig === 'SIGKILL' ? -9 : code)));
    const deadline = Date.now() + 120_000;
    while (!ready()) {
      if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('the crash point was never reached'); }
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    assert.is(await exited, -9);
    p.destroy();
    void feeding; // its pending entry callbacks die with the pack stream
  }

  test('SIGKILL mid-ingest of 200 MB and mid-unpack: no visible partial blob or layer; system check is clean', async () => {
    const root = join(tmp(), 'root');
    const berth = cli(root);
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    const total = 200;
    // 1: mid-ingest — stdin streams a 200 MB file; kill once ~60 MB sit in tmp/.
    await killDuring(root, async (p) => {
      const w = p.entry({ name: 'big.bin', size: total * chunk.length, mode: 0o644 });
      for (let i = 0; i < total; i++) if (!w.write(chunk)) await new Promise((r) => w.once('drain', r));
      w.end();
    }, () => {
      try { return readdirSync(join(root, 'tmp')).some((n) => statSync(join(root, 'tmp', n)).size > 60 << 20); } catch { return false; }
    });
    assert.equal(readdirSync(join(root, 'blobs', 'sha256')), [], 'no blob became visible');
    let c = berth(['system', 'check']);
    assert.is(c.status, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /unfinished ingest/);
    assert.match(c.stdout, /store is clean: 0 images, 0 blobs, 0 layers/);

    // 2: mid-unpack — many files, so the unpack takes a while; kill once its temp dir has content.
    const layers = join(root, 'layers');
    await killDuring(root, async (p) => {
      for (let i = 0; i < 20_000; i++) {
        await new Promise<void>((res, rej) => p.entry({ name: `d${i % 100}/f${i}`, mode: 0o644 }, `file ${i}\n`, (e) => (e ? rej(e) : res())));
      }
    }, () => {
      try {
        return readdirSync(layers).some((n) => n.includes('.tmp-') && readdirSync(join(layers, n)).length > 20);
      } catch { return false; }
    });
    assert.equal(readdirSync(layers).filter((n) => !n.includes('.tmp-')), [], 'no layer became visible');
    c = berth(['system', 'check']);
    assert.is(c.status, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /unfinished layer unpack/);
    assert.match(c.stdout, /store is clean: 0 images, 2 blobs, 0 layers/, c.stdout);
    assert.is(berth(['images', '-q']).stdout, '');
    const repaired = berth(['system', 'check', '--repair']);
    assert.match(repaired.stdout, /removed 2 unused blobs, 0 unused layers, 2 leftovers/, repaired.stdout + repaired.stderr);
    assert.equal(readdirSync(layers), []);
    assert.equal(readdirSync(join(root, 'tmp')), []);
    assert.not.ok(existsSync(join(root, 'blobs', 'sha256', 'x')));
  });
}

test.after(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });
test.run();
void writeFileSync;
