// Documents served by a real registry (CNCF distribution, tools/registry) validate and lead where
// they should: the multi-platform index of tools/fixtures' `multiarch`, the platform Docker would
// pick from it, each manifest, config and layer blob verified while it streams; and a Docker
// schema2 manifest written by skopeo --format v2s2.
import { execFile } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from '../../../tools/fixtures/index.js';
import { pushFixture, skopeoArgs, startRegistry, type Registry } from '../../../tools/registry/index.js';
import {
  DigestStream,
  digestOf,
  manifestAcceptHeader,
  matchPlatform,
  MediaType,
  parseDigest,
  parseImageConfig,
  parseManifestDocument,
  type Digest,
} from './index.js';

const run = promisify(execFile);
let reg: Registry | undefined;
test.before(async () => { reg = await startRegistry(); });
test.after(async () => { await reg?.stop(); });

async function getManifest(repo: string, ref: string): Promise<{ body: Buffer; contentType: string; digest: string | null }> {
  const res = await fetch(`${reg!.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: manifestAcceptHeader } });
  assert.is(res.status, 200, `GET manifest ${repo}:${ref}`);
  return { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '', digest: res.headers.get('docker-content-digest') };
}

/** Streams a blob through a verifying DigestStream; returns its bytes. */
async function getBlob(repo: string, digest: Digest, size: number): Promise<Buffer> {
  const res = await fetch(`${reg!.url}/v2/${repo}/blobs/${digest}`);
  assert.is(res.status, 200);
  const chunks: Buffer[] = [];
  const check = new DigestStream({ expected: digest, expectedSize: size });
  await pipeline(Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream<Uint8Array>), check, new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }));
  assert.is(check.digest(), digest);
  return Buffer.concat(chunks);
}

test('a multi-platform index from a registry: validated, the right platform picked, every blob verified', async () => {
  const f = await fixture('multiarch');
  await pushFixture(reg!, 'multiarch', 'multi:1');
  const top = await getManifest('multi', '1');
  assert.is(digestOf(top.body), f.indexDigest);
  assert.is(top.digest, f.indexDigest);
  const doc = parseManifestDocument(JSON.parse(top.body.toString('utf8')), top.contentType);
  assert.is(doc.kind, 'index');
  assert.is(doc.mediaType, MediaType.OciIndex);
  if (doc.kind !== 'index') return;

  const cases: Array<[string, string | undefined]> = [
    ['linux/amd64', f.images[0]?.manifestDigest],
    ['linux/aarch64', f.images[1]?.manifestDigest],
    ['linux/arm64/v8', f.images[1]?.manifestDigest],
    ['linux/arm/v7', undefined],
    ['windows/amd64', undefined],
  ];
  for (const [want, digest] of cases) {
    const [os = '', architecture = '', variant] = want.split('/');
    assert.is(matchPlatform(doc.index.manifests, { os, architecture, ...(variant === undefined ? {} : { variant }) })?.digest, digest, want);
  }

  for (const [i, entry] of doc.index.manifests.entries()) {
    const image = f.images[i]!;
    const m = await getManifest('multi', entry.digest);
    assert.is(digestOf(m.body), entry.digest);
    assert.is(m.body.length, entry.size);
    const md = parseManifestDocument(JSON.parse(m.body.toString('utf8')), m.contentType);
    assert.is(md.kind, 'manifest');
    if (md.kind !== 'manifest') continue;
    const config = parseImageConfig(JSON.parse((await getBlob('multi', md.manifest.config.digest, md.manifest.config.size)).toString('utf8')));
    assert.equal(config.rootfs.diff_ids, image.diffIDs);
    assert.is(config.architecture, image.platform.architecture);
    assert.equal(md.manifest.layers.map((l) => l.digest), image.layerDigests);
    for (const l of md.manifest.layers) await getBlob('multi', l.digest, l.size);
  }
});

test('a Docker schema2 manifest from a registry (skopeo --format v2s2) validates', async () => {
  const f = await fixture('busybox');
  await run('skopeo', ['copy', '-q', '--format', 'v2s2', ...skopeoArgs(reg!, 'dest'), f.ociRef, `docker://${reg!.host}/v2s2/busybox:1`], { env: { ...process.env, TMPDIR: reg!.dir } });
  const m = await getManifest('v2s2/busybox', '1');
  assert.is(m.contentType, MediaType.DockerManifest);
  const doc = parseManifestDocument(JSON.parse(m.body.toString('utf8')), m.contentType);
  assert.is(doc.mediaType, MediaType.DockerManifest);
  if (doc.kind !== 'manifest') return;
  assert.is(doc.manifest.config.mediaType, MediaType.DockerConfig);
  assert.is(doc.manifest.layers[0]?.mediaType, MediaType.DockerLayerGzip);
  assert.is(parseDigest(m.digest), digestOf(m.body));
  const config = parseImageConfig(JSON.parse((await getBlob('v2s2/busybox', doc.manifest.config.digest, doc.manifest.config.size)).toString('utf8')));
  assert.equal(config.rootfs.diff_ids, f.diffIDs);
  assert.equal(config.config?.Cmd, ['sh']);
});

test.run();
