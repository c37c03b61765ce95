/**
 * Images in and out of the store: docker-archive (`docker save` tars) and OCI image
 * layouts (directory or tar), both directions, several images per archive.
 *
 * docker-archive:  manifest.json  [{Config, RepoTags, Layers}]   repositories (legacy)
 *                  <config>.json   <layer>.tar (uncompressed, or symlinks to a shared one)
 * OCI layout:      oci-layout  index.json (ref names in annotations)  blobs/sha256/<hex>
 *
 * Loading streams the archive once: every file goes straight into the blob store (under a
 * lease, so GC leaves it alone), small JSON is kept in memory; then each image's layers are
 * verified against the config's diff_ids (by unpacking when the store can, else by hashing).
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Pack } from 'tar-stream';
import { BerthError, invalidArgument, notFound, toBerthError } from '@berth/errors';
import {
  Annotation, MediaType, hostPlatform, isIndexMediaType, parseImageIndex, parseManifestDocument, parseOciLayout,
} from '@berth/oci-spec';
import { writeFileAtomic } from './atomic.js';
import { chainIDs, digestOf, hexOf, isDigest, parseDigest, type Digest } from './digest.js';
import type { ImageRecord } from './images.js';
import { familiar, formatName, normalizeName, parseName } from './names.js';
import type { Store } from './store.js';
import { decompressing, detectCompression } from './unpack.js';

/** What a load did: per image its ID and the names it got. */
export interface LoadResult {
  readonly images: ReadonlyArray<{ readonly id: Digest; readonly tags: readonly string[] }>;
}

/** Docker's output lines for a load: `Loaded image: busybox:latest` / `Loaded image ID: sha256:…`. */
export function loadMessages(r: LoadResult): string[] {
  const out: string[] = [];
  for (const i of r.images) {
    if (i.tags.length === 0) out.push(`Loaded image ID: ${i.id}`);
    for (const t of i.tags) out.push(`Loaded image: ${familiar(t)}`);
  }
  return out;
}

const smallLimit = 8 << 20;
const metaNames = new Set(['manifest.json', 'repositories', 'index.json', 'oci-layout']);

/** Files of an archive as loaded: small ones in memory, every other one as a blob. */
interface ArchiveFiles {
  small: Map<string, Buffer>;
  blobs: Map<string, { digest: Digest; size: number }>;
  links: Map<string, string>;
}

function clean(name: string): string {
  return posix.normalize(name.replace(/^\/+/, '')).replace(/^\.\//, '').replace(/\/$/, '');
}

async function readArchive(store: Store, source: AsyncIterable<Uint8Array>, hold: (d: Digest) => void): Promise<ArchiveFiles> {
  const files: ArchiveFiles = { small: new Map(), blobs: new Map(), links: new Map() };
  const extract = tarExtract();
  const feeding = pipeline(Readable.from(source), extract);
  feeding.catch(() => undefined);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = clean(h.name);
      if (h.type === 'symlink' || h.type === 'link') {
        const target = h.type === 'symlink' ? posix.normalize(posix.join(posix.dirname(name), h.linkname ?? '')) : clean(h.linkname ?? '');
        files.links.set(name, target);
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') { entry.resume(); continue; }
      const size = h.size ?? 0;
      if (metaNames.has(name) || (size <= smallLimit && /\.json$|(^|\/)(json|VERSION)$/.test(name))) {
        const parts: Buffer[] = [];
        for await (const c of entry) parts.push(c as Buffer);
        const buf = Buffer.concat(parts);
        files.small.set(name, buf);
        if (!metaNames.has(name) && !/(^|\/)(json|VERSION)$/.test(name)) {
          const info = await store.blobs.write(buf);
          hold(info.digest);
          files.blobs.set(name, info);
        }
        continue;
      }
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      const info = await store.blobs.ingest(entry as AsyncIterable<Uint8Array>, { size, ...(m ? { digest: parseDigest(`sha256:${m[1]}`) } : {}) });
      hold(info.digest);
      files.blobs.set(name, info);
      if (m && size <= smallLimit) files.small.set(name, store.blobs.read(info.digest));
    }
    await feeding;
  } catch (e) {
    extract.destroy();
    if (e instanceof BerthError) throw e;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) throw toBerthError(e, 'load the archive');
    throw invalidArgument(`the archive is not a valid tar, or is truncated (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return files;
}

function follow(files: ArchiveFiles, name: string): string {
  let n = clean(name);
  for (let i = 0; i < 40 && files.links.has(n); i++) n = files.links.get(n) as string;
  return n;
}

function blobOf(files: ArchiveFiles, name: string, what: string): { digest: Digest; size: number } {
  const b = files.blobs.get(follow(files, name));
  if (!b) throw invalidArgument(`the archive names ${what} "${name}" but does not contain it`);
  return b;
}

function jsonOf(files: ArchiveFiles, name: string, what: string): unknown {
  const buf = files.small.get(follow(files, name));
  if (!buf) throw invalidArgument(`the archive has no ${what} "${name}"`);
  try { return JSON.parse(buf.toString('utf8')); } catch (e) {
    throw invalidArgument(`${what} "${name}" in the archive is not valid JSON`, { cause: e });
  }
}

/** Layer facts a loader gathers before recording an image. */
interface LayerIn { blob: Digest; mediaType: string; blobSize: number; diffSize: number; size?: number }

/**
 * Verifies (and, when the store can, unpacks) an image's layers against its config's
 * diff_ids, filling in uncompressed sizes. Layers already present are trusted.
 */
export async function prepareLayers(
  store: Store, config: Digest, layers: ReadonlyArray<Omit<LayerIn, 'diffSize'> & { diffSize?: number }>,
  hold: (d: Digest) => void = () => undefined,
): Promise<LayerIn[]> {
  const cfg = store.images.config(config);
  const diffIDs = cfg.rootfs.diff_ids.map((d) => parseDigest(d));
  if (diffIDs.length !== layers.length) throw invalidArgument(`image ${config}: config lists ${diffIDs.length} layers, the archive ${layers.length}`);
  const chains = chainIDs(diffIDs);
  const known = new Map(store.images.layers().map((l) => [l.chainID, l]));
  const out: LayerIn[] = [];
  for (const [i, l] of layers.entries()) {
    const diffID = diffIDs[i] as Digest;
    const chain = chains[i] as Digest;
    const have = known.get(chain);
    hold(chain); // a layer unpacked before its image is recorded is a GC root through the lease
    if (store.layers.canUnpack && !store.layers.has(chain)) {
      // The blob was verified as it was stored: only the tar needs hashing (the diffID).
      const r = await store.layers.unpack(chain, store.blobs.open(l.blob), { expectedDiffID: diffID, hashSource: false });
      if (r && have) store.images.setLayerSize(chain, r.size);
      out.push({ ...l, diffSize: r?.diffSize ?? have?.diffSize ?? 0, ...(r ? { size: r.size } : {}) });
      continue;
    }
    if (have) { out.push({ ...l, diffSize: have.diffSize }); continue; }
    if (l.blob === diffID) { out.push({ ...l, diffSize: l.blobSize }); continue; }
    const d = decompressing(store.blobs.open(l.blob));
    for await (const _ of d.tar) { /* hash only */ }
    if (d.diffID() !== diffID) {
      throw invalidArgument(`layer ${l.blob} does not match the config: diffID ${d.diffID()}, expected ${diffID}: the archive is corrupt`);
    }
    out.push({ ...l, diffSize: d.diffSize() });
  }
  return out;
}

async function compressionOf(store: Store, blob: Digest): Promise<'gzip' | 'zstd' | 'none'> {
  const s = store.blobs.open(blob, { start: 0 });
  try {
    for await (const c of s) return detectCompression(c as Buffer);
    return 'none';
  } finally { s.destroy(); }
}

function layerMediaType(c: 'gzip' | 'zstd' | 'none'): string {
  return c === 'gzip' ? MediaType.OciLayerGzip : c === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

/** Stores the OCI manifest that describes a config + layers (for save and push). */
async function synthesizeManifest(store: Store, config: Digest, layers: readonly LayerIn[]): Promise<{ digest: Digest; mediaType: string; size: number }> {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: config, size: store.blobs.info(config).size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.blob, size: l.blobSize })),
  };
  const info = await store.blobs.write(JSON.stringify(manifest));
  return { digest: info.digest, mediaType: MediaType.OciManifest, size: info.size };
}

async function addLoaded(store: Store, config: Digest, layers: LayerIn[], manifest: { digest: Digest; mediaType: string; size: number }, tags: string[]): Promise<{ id: Digest; tags: string[] }> {
  const img = store.images.add({ config, layers, manifests: [manifest], tags });
  return { id: img.id, tags: tags.map((t) => normalizeName(t)) };
}

async function loadDockerArchive(store: Store, files: ArchiveFiles, hold: (d: Digest) => void): Promise<LoadResult> {
  const raw = jsonOf(files, 'manifest.json', 'manifest.json');
  if (!Array.isArray(raw)) throw invalidArgument('manifest.json of the archive is not a list of images');
  const images: Array<{ id: Digest; tags: string[] }> = [];
  for (const [i, e] of (raw as unknown[]).entries()) {
    if (typeof e !== 'object' || e === null) throw invalidArgument(`manifest.json entry ${i} is not an object`);
    const o = e as Record<string, unknown>;
    if (typeof o['Config'] !== 'string' || !Array.isArray(o['Layers']) || !o['Layers'].every((x) => typeof x === 'string')) {
      throw invalidArgument(`manifest.json entry ${i} needs "Config" and "Layers"`);
    }
    const tags = Array.isArray(o['RepoTags']) ? (o['RepoTags'] as unknown[]).filter((t): t is string => typeof t === 'string') : [];
    const config = blobOf(files, o['Config'], 'config').digest;
    const layersIn = [];
    for (const l of o['Layers'] as string[]) {
      const b = blobOf(files, l, 'layer');
      layersIn.push({ blob: b.digest, blobSize: b.size, mediaType: layerMediaType(await compressionOf(store, b.digest)) });
    }
    const layers = await prepareLayers(store, config, layersIn, hold);
    const manifest = await synthesizeManifest(store, config, layers);
    hold(manifest.digest);
    images.push(await addLoaded(store, config, layers, manifest, tags));
  }
  return { images };
}

/** How a layout's index entry names its image: a full name, or a bare tag needing `repo`. */
function nameFromAnnotations(ann: Readonly<Record<string, string>> | undefined, repo: string | undefined): string[] {
  const full = ann?.[Annotation.ContainerdImageName];
  if (full) return [full];
  const ref = ann?.[Annotation.RefName];
  if (!ref) return [];
  if (/[/:]/.test(ref)) {
    try { parseName(ref); return [ref]; } catch { /* a bare tag with odd characters */ }
  }
  if (repo !== undefined) return [`${repo}:${ref}`];
  return [];
}

async function loadOciLayout(store: Store, files: ArchiveFiles, options: LoadOptions, hold: (d: Digest) => void): Promise<LoadResult> {
  parseOciLayout(jsonOf(files, 'oci-layout', 'oci-layout file'));
  const index = parseImageIndex(jsonOf(files, 'index.json', 'index.json'), 'index.json');
  const images: Array<{ id: Digest; tags: string[] }> = [];
  const host = hostPlatform();
  const readDoc = (d: string): unknown => {
    const digest = parseDigest(d);
    const b = files.blobs.get(`blobs/sha256/${hexOf(digest)}`);
    if (!b) throw invalidArgument(`the layout's blob ${digest} is missing`);
    return JSON.parse(store.blobs.read(digest).toString('utf8'));
  };
  const visit = async (desc: { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string; variant?: string }; annotations?: Record<string, string> }, names: string[]): Promise<void> => {
    if (isIndexMediaType(desc.mediaType)) {
      const idx = parseImageIndex(readDoc(desc.digest), `index ${desc.digest}`);
      const pick = idx.manifests.filter((m) => !m.platform || (m.platform.os === host.os && m.platform.architecture === host.architecture));
      if (pick.length === 0) throw notFound(`the archive has no image for ${host.os}/${host.architecture}`);
      for (const m of pick.slice(0, 1)) await visit(m, names);
      return;
    }
    const doc = parseManifestDocument(readDoc(desc.digest), desc.mediaType, `manifest ${desc.digest}`);
    if (doc.kind !== 'manifest') throw invalidArgument(`manifest ${desc.digest} is not an image manifest`);
    const man = doc.manifest;
    const config = parseDigest(man.config.digest);
    if (!store.blobs.has(config)) throw invalidArgument(`the layout's config blob ${config} is missing`);
    const layers = await prepareLayers(store, config, man.layers.map((l) => {
      if (!store.blobs.has(parseDigest(l.digest))) throw invalidArgument(`the layout's layer blob ${l.digest} is missing`);
      return { blob: l.digest, mediaType: l.mediaType, blobSize: l.size };
    }), hold);
    images.push(await addLoaded(store, config, layers, { digest: parseDigest(desc.digest), mediaType: desc.mediaType, size: desc.size }, names));
  };
  for (const m of index.manifests) await visit(m, nameFromAnnotations(m.annotations, options.repo));
  return { images };
}

/** Options of a load. */
export interface LoadOptions {
  /** For OCI layouts whose ref names are bare tags (`latest`): the repository to put them in. */
  readonly repo?: string;
}

/** Loads a docker-archive or OCI-layout tar stream (`berth load`). */
export async function loadArchive(store: Store, source: AsyncIterable<Uint8Array>, options: LoadOptions = {}): Promise<LoadResult> {
  return store.images.withLease(async (hold) => {
    const files = await readArchive(store, source, hold);
    if (files.small.has('manifest.json')) return loadDockerArchive(store, files, hold);
    if (files.small.has('index.json')) return loadOciLayout(store, files, options, hold);
    throw invalidArgument('the archive has neither manifest.json (docker-archive) nor index.json (OCI layout): is it an image archive?');
  });
}

/** Loads an OCI image layout directory. */
export async function loadOciDir(store: Store, dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  if (!existsSync(join(dir, 'index.json'))) throw notFound(`${dir} is not an OCI image layout: it has no index.json`);
  return store.images.withLease(async (hold) => {
    const files: ArchiveFiles = { small: new Map(), blobs: new Map(), links: new Map() };
    for (const n of ['oci-layout', 'index.json']) files.small.set(n, readFileSync(join(dir, n)));
    const bdir = join(dir, 'blobs', 'sha256');
    for (const hex of existsSync(bdir) ? readdirSync(bdir) : []) {
      const d = `sha256:${hex}`;
      if (!isDigest(d)) continue;
      const size = statSync(join(bdir, hex)).size;
      const info = await store.blobs.ingest(createReadStream(join(bdir, hex)), { digest: d, size });
      hold(info.digest);
      files.blobs.set(`blobs/sha256/${hex}`, info);
    }
    return loadOciLayout(store, files, options, hold);
  });
}

// ---------------------------------------------------------------------------------------
// Save

/** Archive formats `save` writes. */
export type SaveFormat = 'docker-archive' | 'oci-archive';

interface Picked { img: ImageRecord; names: string[] }

function pick(store: Store, refs: readonly string[]): Picked[] {
  const out = new Map<string, Picked>();
  for (const ref of refs) {
    const img = store.images.resolve(ref);
    const byId = isDigest(ref) || /^(sha256:)?[a-f0-9]{4,64}$/.test(ref) && !img.tags.includes(safeNormalize(ref));
    const p = out.get(img.id) ?? { img, names: [] };
    if (!byId && parseName(ref).digest === undefined) {
      const n = normalizeName(ref);
      if (!p.names.includes(n)) p.names.push(n);
    }
    out.set(img.id, p);
  }
  return [...out.values()];
}

function safeNormalize(ref: string): string {
  try { return normalizeName(ref); } catch { return ''; }
}

async function addEntry(p: Pack, name: string, body: Buffer | { size: number; stream: AsyncIterable<Uint8Array> }): Promise<void> {
  const header = { name, mode: 0o644, mtime: new Date(0), size: Buffer.isBuffer(body) ? body.length : body.size };
  if (Buffer.isBuffer(body)) {
    await new Promise<void>((res, rej) => p.entry(header, body, (e) => (e ? rej(e) : res())));
    return;
  }
  await new Promise<void>((res, rej) => {
    const w = p.entry(header, (e) => (e ? rej(e) : res()));
    pipeline(Readable.from(body.stream), w).catch(rej);
  });
}

async function uncompressedLayer(store: Store, blob: Digest, diffSize: number): Promise<{ size: number; stream: AsyncIterable<Uint8Array> }> {
  const c = await compressionOf(store, blob);
  if (c === 'none') return { size: store.blobs.info(blob).size, stream: store.blobs.open(blob) };
  return { size: diffSize, stream: decompressing(store.blobs.open(blob)).tar };
}

/** Writes images as a docker-archive or OCI-archive tar to `out` (`berth save`). */
export async function saveArchive(store: Store, refs: readonly string[], out: Writable, format: SaveFormat = 'docker-archive'): Promise<void> {
  if (refs.length === 0) throw invalidArgument('save needs at least one image');
  const picked = pick(store, refs);
  const p = tarPack();
  const done = pipeline(p, out);
  try {
    if (format === 'docker-archive') await writeDocker(store, picked, p);
    else await writeOci(store, picked, (name, body) => addEntry(p, name, body));
    p.finalize();
  } catch (e) {
    p.destroy(e instanceof Error ? e : new Error(String(e)));
    await done.catch(() => undefined);
    throw e;
  }
  await done;
}

async function writeDocker(store: Store, picked: Picked[], p: Pack): Promise<void> {
  const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const { img, names } of picked) {
    const configName = `${hexOf(img.id)}.json`;
    if (!written.has(configName)) { await addEntry(p, configName, store.blobs.read(img.id)); written.add(configName); }
    const layers: string[] = [];
    for (const l of img.layers) {
      const name = `${hexOf(l.diffID)}.tar`;
      if (!written.has(name)) { await addEntry(p, name, await uncompressedLayer(store, l.blob, l.diffSize)); written.add(name); }
      layers.push(name);
    }
    const tags = names.map((n) => familiar(n));
    manifest.push({ Config: configName, RepoTags: tags, Layers: layers });
    const top = img.layers[img.layers.length - 1];
    for (const n of names) {
      const pn = parseName(n);
      const repo = familiar(pn.repo);
      (repositories[repo] ??= {})[pn.tag ?? 'latest'] = top ? hexOf(top.chainID) : hexOf(img.id);
    }
  }
  await addEntry(p, 'manifest.json', Buffer.from(JSON.stringify(manifest)));
  await addEntry(p, 'repositories', Buffer.from(JSON.stringify(repositories)));
}

type Put = (name: string, body: Buffer | { size: number; stream: AsyncIterable<Uint8Array> }) => Promise<void>;

async function writeOci(store: Store, picked: Picked[], put: Put): Promise<void> {
  const written = new Set<string>();
  const blob = async (d: Digest): Promise<void> => {
    if (written.has(d)) return;
    written.add(d);
    const info = store.blobs.info(d);
    await put(`blobs/sha256/${hexOf(d)}`, { size: info.size, stream: store.blobs.open(d) });
  };
  const manifests: Array<Record<string, unknown>> = [];
  for (const { img, names } of picked) {
    let m = img.manifests.find((x) => store.blobs.has(x.digest));
    if (!m) m = await synthesizeManifest(store, img.id, img.layers.map((l) => ({ blob: l.blob, mediaType: l.mediaType, blobSize: l.blobSize, diffSize: l.diffSize })));
    await blob(img.id);
    for (const l of img.layers) await blob(l.blob);
    await blob(m.digest);
    const base = { mediaType: m.mediaType, digest: m.digest, size: m.size };
    if (names.length === 0) manifests.push(base);
    for (const n of names) {
      const pn = parseName(n);
      manifests.push({ ...base, annotations: { [Annotation.ContainerdImageName]: formatName(pn), [Annotation.RefName]: pn.tag ?? 'latest' } });
    }
  }
  await put('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await put('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests })));
}

/** Writes images as an OCI image layout directory. */
export async function saveOciDir(store: Store, refs: readonly string[], dir: string): Promise<void> {
  const picked = pick(store, refs);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeOci(store, picked, async (name, body) => {
    const path = join(dir, name);
    if (Buffer.isBuffer(body)) { writeFileAtomic(path, body); return; }
    if (existsSync(path)) return;
    const chunks: Buffer[] = [];
    // Blobs are copied through a temp file + rename as well, streamed.
    const { createWriteStream } = await import('node:fs');
    const tmp = `${path}.tmp-${process.pid}`;
    await pipeline(Readable.from(body.stream), createWriteStream(tmp));
    const { renameSync } = await import('node:fs');
    renameSync(tmp, path);
    void chunks;
  });
}

/** The digest of a file's bytes (for tests and checks). */
export function fileDigest(path: string): Digest {
  return digestOf(readFileSync(path));
}
