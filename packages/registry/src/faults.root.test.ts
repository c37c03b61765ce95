// Faults between berth and a real registry, through a loopback proxy that counts the bytes it
// serves and can cut a blob download short: a truncated response is retried with a Range request,
// and a registry killed mid-pull then restarted lets `pullImage` finish, fetching only the rest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import { fixture, fixtureBlob } from '../../../tools/fixtures/index.js';
import { pushFixture, startRegistry, type Registry } from '../../../tools/registry/index.js';
import { loadRegistryConfig, pullImage, type RegistryConfig } from './index.js';

const dirs: string[] = [];
const sys = new LinuxSys();
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'berth-fault-')); dirs.push(d); return d; };
const isolated = (): RegistryConfig => {
  const d = tmp();
  return loadRegistryConfig({ env: { HOME: d }, authFile: join(d, 'auth.json'), dockerConfig: join(d, 'none.json'), certsDir: join(d, 'certs.d') });
};

/** A counting proxy to `upstream()`: `cut(path)` decides after how many body bytes a response is broken off. */
interface Proxy { host: string; served: Map<string, number>; ranges: string[]; server: Server; cut: (path: string) => number | undefined; onCut: () => void; fail: (path: string) => number | undefined }

async function proxy(upstream: () => string): Promise<Proxy> {
  const p: Proxy = { host: '', served: new Map(), ranges: [], server: createServer(), cut: () => undefined, onCut: () => undefined, fail: () => undefined };
  p.server.on('request', (req, res) => {
    if (req.headers.range) p.ranges.push(`${req.url} ${req.headers.range}`);
    const status = p.fail(req.url ?? '');
    if (status !== undefined) { req.resume(); res.writeHead(status, { 'content-type': 'application/json' }); res.end('{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}'); return; }
    const up = request(`http://${upstream()}${req.url}`, { method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      const limit = p.cut(req.url ?? '');
      let n = 0;
      ur.on('data', (c: Buffer) => {
        if (limit !== undefined && n + c.length > limit) {
          const part = c.subarray(0, limit - n);
          n += part.length;
          p.served.set(req.url ?? '', (p.served.get(req.url ?? '') ?? 0) + part.length);
          res.write(part, () => { p.onCut(); ur.destroy(); res.socket?.destroy(); });
          return;
        }
        n += c.length;
        p.served.set(req.url ?? '', (p.served.get(req.url ?? '') ?? 0) + c.length);
        res.write(c);
      });
      ur.on('end', () => res.end());
      ur.on('error', () => res.socket?.destroy());
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
  const a = p.server.address();
  p.host = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return p;
}

test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

test('a response cut short is retried from where it stopped (Range), and the image is whole', async () => {
  const reg = await startRegistry();
  const px = await proxy(() => reg.host);
  try {
    const f = await fixture('layered');
    await pushFixture(reg, 'layered', 'layered:latest');
    const big = f.layerDigests[0]!;
    const size = f.blobs[big]!;
    let cuts = 0;
    px.cut = (path) => (path.endsWith(`/blobs/${big}`) && cuts++ === 0 ? Math.floor(size / 3) : undefined);
    const store = Store.open(join(tmp(), 'root'), { sys });
    const r = await pullImage(store, `${px.host}/layered:latest`, { config: isolated() });
    assert.is(r.id, f.imageId);
    assert.ok(px.ranges.some((x) => x.includes(big) && x.endsWith(`bytes=${Math.floor(size / 3)}-`)), px.ranges.join('\n'));
    assert.is(px.served.get(`/v2/layered/blobs/${big}`), size, 'every byte served once');
    for (const l of store.images.get(r.id).layers) assert.ok(store.layers.has(l.chainID));
    store.close();
  } finally {
    px.server.close();
    await reg.stop();
  }
});

test('5xx answers are retried with backoff; a registry that keeps failing gives up with its status', async () => {
  const reg = await startRegistry();
  const px = await proxy(() => reg.host);
  try {
    await pushFixture(reg, 'busybox', 'library/busybox:latest');
    const f = await fixture('busybox');
    let failures = 0;
    px.fail = (path) => ((path.includes('/manifests/') || path.includes('/blobs/')) && failures++ < 2 ? 503 : undefined);
    const store = Store.open(join(tmp(), 'root'), { sys });
    assert.is((await pullImage(store, `${px.host}/library/busybox:latest`, { config: isolated() })).id, f.imageId);
    assert.is(failures, 2 + 1 + 1 + 1, 'two 503s, then manifest, config and layer');
    px.fail = () => 503;
    try {
      await pullImage(Store.open(join(tmp(), 'root'), { sys }), `${px.host}/library/busybox:latest`, { config: isolated(), retries: 3 });
      assert.unreachable('pulled from a failing registry');
    } catch (e) {
      assert.match((e as Error).message, /answered 503 \(unavailable: try again\)/);
    }
    store.close();
  } finally {
    px.server.close();
    await reg.stop();
  }
});

test('registry killed mid-pull, restarted: pull again finishes, downloading only what was missing', async () => {
  const f = await fixture('layered');
  let reg: Registry = await startRegistry();
  const port = Number(reg.host.split(':')[1]);
  const px = await proxy(() => reg.host);
  const store = Store.open(join(tmp(), 'root'), { sys });
  try {
    await pushFixture(reg, 'layered', 'layered:latest');
    const big = f.layerDigests[0]!;
    const size = f.blobs[big]!;
    px.cut = (path) => (path.endsWith(`/blobs/${big}`) ? Math.floor(size / 2) : undefined);
    px.onCut = () => { process.kill(reg.pid, 'SIGKILL'); };
    try {
      await pullImage(store, `${px.host}/layered:latest`, { config: isolated(), retries: 2, maxConcurrentDownloads: 1 });
      assert.unreachable('the pull finished without its registry');
    } catch (e) {
      assert.match((e as Error).message, /registry 127\.0\.0\.1:\d+/);
    }
    assert.is(store.images.list().length, 0);
    const first = new Map(px.served);
    await reg.stop();
    reg = await startRegistry({ port });
    await pushFixture(reg, 'layered', 'layered:latest');
    px.cut = () => undefined;
    px.served.clear();
    const r = await pullImage(store, `${px.host}/layered:latest`, { config: isolated() });
    assert.is(r.id, f.imageId);
    const again = px.served.get(`/v2/layered/blobs/${big}`) ?? 0;
    assert.is(again, size - Math.floor(size / 2), 'the second pull fetched only the missing half of the cut layer');
    for (const l of f.layerDigests) {
      const total = (first.get(`/v2/layered/blobs/${l}`) ?? 0) + (px.served.get(`/v2/layered/blobs/${l}`) ?? 0);
      assert.is(total, f.blobs[l], `layer ${l} crossed the wire exactly once`);
    }
  } finally {
    store.close();
    px.server.close();
    await reg.stop();
  }
});

test('partial bytes a killed berth left are resumed by the next process; a live pull\'s are not touched', async () => {
  const reg = await startRegistry();
  const px = await proxy(() => reg.host);
  const root = join(tmp(), 'root');
  const store = Store.open(root, { sys });
  try {
    const f = await fixture('busybox');
    await pushFixture(reg, 'busybox', 'library/busybox:latest');
    const blob = f.layerDigests[0]!;
    const bytes = await fixtureBlob('busybox', blob);
    const dead = spawnSync('true').pid!;
    mkdirSync(join(root, 'tmp'), { recursive: true });
    const half = Math.floor(bytes.length / 2);
    writeFileSync(join(root, 'tmp', `ingest-pull-${blob.slice(7)}-${dead}`), bytes.subarray(0, half));
    const live = join(root, 'tmp', `ingest-pull-${blob.slice(7)}-1`);
    writeFileSync(live, bytes.subarray(0, 10));
    const r = await pullImage(store, `${px.host}/library/busybox:latest`, { config: isolated() });
    assert.is(r.id, f.imageId);
    assert.is(px.served.get(`/v2/library/busybox/blobs/${blob}`), bytes.length - half, 'only the missing half was fetched');
    assert.ok(existsSync(live), 'the partial of a live process (pid 1) is left alone');
  } finally {
    store.close();
    px.server.close();
    await reg.stop();
  }
});

test.run();
