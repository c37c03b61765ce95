/**
 * Pull: reference → manifest (→ platform from an index) → config → layers, into a Store.
 *
 *   GET /v2/<repo>/manifests/<tag|digest>   Accept: OCI/Docker manifest and index types; ≤ 4 MiB;
 *                                           Docker-Content-Digest and a pulled digest must match the bytes
 *   GET /v2/<repo>/blobs/<config>           verified, stored
 *   GET /v2/<repo>/blobs/<layer>  × N       3 at a time; each body is split in two as it arrives:
 *        ├─► blob store ingest (sha256 + size checked, fsynced, renamed into blobs/)
 *        └─► gunzip → tar → unpack into layers/<chainID>.tmp (diffID checked, renamed into place)
 *
 * One pass over the network bytes, no temp copy of the whole layer: the ingest's partial file in
 * `$root/tmp/ingest-pull-<hex>-<pid>` is what makes a cut download resumable (`Range: bytes=<n>-`):
 * the next try unpacks the partial bytes from disk followed by the rest from the network.
 * A layer that fails verification is removed again with every other layer this pull created,
 * and no image is recorded: nothing unverified stays in the store.
 */
import { BerthError, invalidArgument, notFound } from '@berth/errors';
import {
  ChunkQueue, chainIDs, decompressing, familiar, parseDigest, type Digest, type ImageRecord, type Store,
} from '@berth/layer-store';
import {
  createDigester, hostPlatform, isIndexMediaType, manifestAcceptHeader, matchPlatform, parsePlatformSpecifier, parseManifestDocument,
  formatPlatform, platformMatcher, type Descriptor, type Platform,
} from '@berth/oci-spec';
import { parseDockerRef } from '@berth/reference';
import { isTransient, readBody, repoScope, type RegistryClient, type Response } from './client.js';
import { dockerHub, loadRegistryConfig, type RegistryConfig } from './config.js';
import { Registries } from './registries.js';

/** The largest manifest or index accepted (the distribution spec's SHOULD-accept size). */
export const maxManifestBytes = 4 << 20;
const maxConfigBytes = 8 << 20;

/** Progress of a pull, as the library reports it. */
export type PullEvent =
  | { readonly kind: 'resolving'; readonly ref: string }
  | { readonly kind: 'resolved'; readonly ref: string; readonly repo: string; readonly tag: string | undefined; readonly digest: Digest; readonly platform: string }
  | { readonly kind: 'layer'; readonly id: string; readonly status: 'waiting' | 'exists' | 'downloading' | 'retrying' | 'verifying' | 'extracting' | 'complete'; readonly current: number; readonly total: number }
  | { readonly kind: 'done'; readonly ref: string; readonly id: Digest; readonly digest: Digest; readonly upToDate: boolean };

/** `https://mirror.example:5000/` → `mirror.example:5000`. */
function mirrorHost(url: string): string {
  return url.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
}

/** Options of {@link pullImage}. */
export interface PullOptions {
  /** `os/arch[/variant]`; default the host's. */
  readonly platform?: string;
  /** Layers downloaded at once (default 3). */
  readonly maxConcurrentDownloads?: number;
  /** Attempts per request on 5xx and broken connections (default 5). */
  readonly retries?: number;
  readonly onProgress?: (e: PullEvent) => void;
  readonly signal?: AbortSignal;
  /** Settings (credentials, CAs, insecure registries); default {@link loadRegistryConfig}(). */
  readonly config?: RegistryConfig;
  /** Clients to reuse (one per host); default a fresh set closed at the end. */
  readonly registries?: Registries;
}

/** What a pull did. */
export interface PullResult {
  /** The image ID (config digest). */
  readonly id: Digest;
  /** The digest the reference resolved to (index or manifest). */
  readonly digest: Digest;
  /** The manifest of the chosen platform. */
  readonly manifestDigest: Digest;
  /** The full name the image is tagged with (`127.0.0.1:5000/busybox:latest`), or name@digest. */
  readonly name: string;
  /** True when the store already had this image under this name. */
  readonly upToDate: boolean;
  /** Bytes fetched from the registry for layers. */
  readonly bytesDownloaded: number;
  readonly image: ImageRecord;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((res) => {
  const t = setTimeout(res, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); res(); }, { once: true });
});

/** Retries `fn` on transient failures with exponential backoff (100 ms, 200 ms, … ≤ 2 s). */
export async function withRetries<T>(attempts: number, fn: (attempt: number) => Promise<T>, signal?: AbortSignal, onRetry?: (e: unknown) => void): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn(i);
    } catch (e) {
      if (i + 1 >= attempts || !isTransient(e) || signal?.aborted) throw e;
      onRetry?.(e);
      await sleep(Math.min(2000, 100 * 2 ** i), signal);
    }
  }
}

/** A parsed pull reference. */
export interface PullRef {
  readonly host: string;
  readonly repo: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
  /** `host/repo` as the store names repositories. */
  readonly name: string;
}

/** Parses an image reference as `docker pull` does (`busybox` → docker.io/library/busybox:latest). */
export function parsePullRef(ref: string): PullRef {
  const r = parseDockerRef(ref);
  const host = r.domain ?? 'docker.io';
  return { host, repo: r.path, tag: r.tag, digest: r.digest === undefined ? undefined : parseDigest(r.digest), name: `${host}/${r.path}` };
}

/** Fetches and verifies a manifest or index; returns its bytes, digest and media type. */
export async function fetchManifest(client: RegistryClient, repo: string, reference: string, options: { readonly signal?: AbortSignal; readonly retries?: number } = {}): Promise<{ bytes: Buffer; digest: Digest; mediaType: string }> {
  const what = `image ${client.host}/${repo}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  return withRetries(options.retries ?? 5, async () => {
    const r = await client.request('GET', `/v2/${repo}/manifests/${reference}`, {
      headers: { accept: manifestAcceptHeader }, scope: [repoScope(repo, 'pull')], ...(options.signal ? { signal: options.signal } : {}),
    });
    if (r.status === 404) {
      r.body.resume();
      throw notFound(`${what} not found in registry (manifest unknown): check the name and tag`);
    }
    if (r.status !== 200) await client.fail(r, `pull ${what}`, repo);
    const len = Number(r.headers['content-length'] ?? NaN);
    if (len > maxManifestBytes) { r.body.destroy(); throw invalidArgument(`manifest of ${what} is ${len} bytes, over the ${maxManifestBytes}-byte limit: refusing it`); }
    const bytes = await readBody(r, maxManifestBytes, `manifest of ${what}`);
    const digest = `sha256:${createDigester('sha256').update(bytes).digest().slice(7)}` as Digest;
    const header = r.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw invalidArgument(`manifest of ${what} failed verification: the registry says ${header}, its bytes hash to ${digest}`);
    }
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw invalidArgument(`manifest of ${what} failed verification: its bytes hash to ${digest}`);
    }
    return { bytes, digest, mediaType: String(r.headers['content-type'] ?? '') };
  }, options.signal);
}

/** Fetches a small blob (a config) fully into memory, verified. */
async function fetchSmallBlob(client: RegistryClient, repo: string, desc: Descriptor, signal: AbortSignal | undefined, retries: number): Promise<Buffer> {
  return withRetries(retries, async () => {
    const r = await client.request('GET', `/v2/${repo}/blobs/${desc.digest}`, { scope: [repoScope(repo, 'pull')], ...(signal ? { signal } : {}) });
    if (r.status !== 200) await client.fail(r, `fetch blob ${desc.digest} of ${client.host}/${repo}`, repo);
    if (desc.size > maxConfigBytes) { r.body.destroy(); throw invalidArgument(`config ${desc.digest} is ${desc.size} bytes: refusing it`); }
    const bytes = await readBody(r, desc.size, `blob ${desc.digest}`);
    if (bytes.length !== desc.size) throw invalidArgument(`blob ${desc.digest}: got ${bytes.length} bytes, the manifest says ${desc.size}: truncated`);
    const got = `sha256:${createDigester('sha256').update(bytes).digest().slice(7)}`;
    if (got !== desc.digest) throw corrupted(desc.digest, 'config');
    return bytes;
  }, signal);
}

function corrupted(digest: string, what = 'layer'): BerthError {
  return invalidArgument(`${what} ${digest} failed verification: the registry served corrupted data; nothing was stored`, { detail: { digest, verification: true } });
}

function isVerification(e: unknown): boolean {
  return e instanceof BerthError && (e.detail?.['verification'] === true || /mismatch|does not match|corrupt|diffID/i.test(e.message));
}

/** One layer's download, split to the blob store and the unpacker. */
interface LayerJob {
  readonly index: number;
  readonly desc: Descriptor;
  readonly blob: Digest;
  readonly diffID: Digest;
  readonly chain: Digest;
  readonly short: string;
  result?: { diffSize: number; size?: number };
}

/**
 * Pulls `ref` into `store`: tags it (unless pulled by digest) and returns what happened.
 * This is the entry point the engine calls for `berth pull` and for `berth run` of a missing image.
 */
export async function pullImage(store: Store, ref: string, options: PullOptions = {}): Promise<PullResult> {
  const config = options.config ?? loadRegistryConfig();
  const own = options.registries === undefined;
  const registries = options.registries ?? new Registries(config);
  try {
    // docker.io goes through its mirrors first, in order; the last word is docker.io's own.
    const pr = parsePullRef(ref);
    const via = pr.host === dockerHub.domain ? [...config.mirrors.map(mirrorHost), pr.host] : [pr.host];
    for (const [i, host] of via.entries()) {
      try {
        return await pullWith(store, ref, options, registries, host);
      } catch (e) {
        if (i === via.length - 1 || !(e instanceof BerthError) || isVerification(e)) throw e;
      }
    }
    throw notFound(`image ${ref}: no registry to pull from`);
  } finally {
    if (own) registries.close();
  }
}

async function pullWith(store: Store, ref: string, options: PullOptions, registries: Registries, via: string): Promise<PullResult> {
  const emit = options.onProgress ?? ((): void => undefined);
  const signal = options.signal;
  const retries = options.retries ?? 5;
  const pr = parsePullRef(ref);
  const client = registries.client(via);
  const name = pr.digest !== undefined ? `${pr.name}@${pr.digest}` : `${pr.name}:${pr.tag ?? 'latest'}`;
  const before = store.images.find(name);
  // A new image will have layers to unpack: the workers start (~70 ms each) while the manifest
  // and config are fetched, not after. A name we have is likely up to date: no workers yet.
  if (before === undefined && store.layers.canUnpack) store.layers.warm(Math.max(1, options.maxConcurrentDownloads ?? 3));
  emit({ kind: 'resolving', ref });
  const top = await fetchManifest(client, pr.repo, pr.digest ?? pr.tag ?? 'latest', { retries, ...(signal ? { signal } : {}) });
  let doc = parseManifestDocument(JSON.parse(top.bytes.toString('utf8')) as unknown, top.mediaType, `manifest of ${ref}`);
  let manifest = top;
  const fromIndex = doc.kind === 'index';
  const wanted: Platform = options.platform ? parsePlatformSpecifier(options.platform) : hostPlatform();
  if (doc.kind === 'index') {
    const pick = matchPlatform(doc.index.manifests, wanted);
    if (!pick) {
      const have = doc.index.manifests.map((m) => m.platform ? formatPlatform(m.platform) : 'unknown').join(', ');
      throw notFound(`image ${ref} has no manifest for ${formatPlatform(wanted)} (it has ${have}): choose one with --platform`);
    }
    manifest = await fetchManifest(client, pr.repo, pick.digest, { retries, ...(signal ? { signal } : {}) });
    doc = parseManifestDocument(JSON.parse(manifest.bytes.toString('utf8')) as unknown, manifest.mediaType || pick.mediaType, `manifest ${pick.digest}`);
    if (doc.kind !== 'manifest') throw invalidArgument(`image ${ref}: index entry ${pick.digest} is not an image manifest`);
  }
  if (doc.kind !== 'manifest') throw invalidArgument(`image ${ref}: not an image manifest`);
  const man = doc.manifest;
  emit({ kind: 'resolved', ref, repo: pr.repo, tag: pr.tag, digest: top.digest, platform: formatPlatform(wanted) });
  const configDigest = parseDigest(man.config.digest);

  return store.images.withLease(async (hold) => {
    hold(configDigest);
    if (!store.blobs.has(configDigest)) {
      const bytes = await fetchSmallBlob(client, pr.repo, man.config, signal, retries);
      await store.blobs.write(bytes, { digest: configDigest });
    }
    const cfg = store.images.config(configDigest);
    if (options.platform && !fromIndex) {
      const actual = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant === undefined ? {} : { variant: cfg.variant }) };
      if (!platformMatcher(wanted).match(actual)) {
        throw notFound(`image ${ref} was found but does not match the specified platform: wanted ${formatPlatform(wanted)}, actual: ${formatPlatform(actual)}`);
      }
    }
    const diffIDs = cfg.rootfs.diff_ids.map((d) => parseDigest(d));
    if (diffIDs.length !== man.layers.length) {
      throw invalidArgument(`image ${ref}: its config lists ${diffIDs.length} layers, its manifest ${man.layers.length}`);
    }
    const chains = chainIDs(diffIDs);
    const jobs: LayerJob[] = man.layers.map((desc, index) => {
      const blob = parseDigest(desc.digest);
      return { index, desc, blob, diffID: diffIDs[index] as Digest, chain: chains[index] as Digest, short: blob.slice(7, 19) };
    });
    for (const j of jobs) { hold(j.blob); hold(j.chain); }
    const known = new Map(store.images.layers().map((l) => [l.chainID, l]));
    const created: { blobs: Digest[]; layers: Digest[] } = { blobs: [], layers: [] };
    let downloaded = 0;
    const pending: LayerJob[] = [];
    for (const j of jobs) {
      const have = known.get(j.chain);
      const unpacked = !store.layers.canUnpack || store.layers.has(j.chain);
      if (store.blobs.has(j.blob) && unpacked && have) {
        j.result = { diffSize: have.diffSize };
        emit({ kind: 'layer', id: j.short, status: 'exists', current: j.desc.size, total: j.desc.size });
      } else {
        emit({ kind: 'layer', id: j.short, status: 'waiting', current: 0, total: j.desc.size });
        pending.push(j);
      }
    }

    // Layer unpack workers start while the first layer requests are on their way.
    const toUnpack = store.layers.canUnpack ? pending.filter((j) => !store.layers.has(j.chain)).length : 0;
    if (toUnpack > 0) store.layers.warm(Math.min(toUnpack, Math.max(1, options.maxConcurrentDownloads ?? 3)));

    const runJob = async (j: LayerJob): Promise<void> => {
      const r = await withRetries(retries, () => downloadLayer(store, client, pr.repo, j, emit, signal, created, (n) => { downloaded += n; }), signal,
        () => emit({ kind: 'layer', id: j.short, status: 'retrying', current: store.blobs.offset(ingestRef(store, j.blob)), total: j.desc.size }));
      j.result = r;
      emit({ kind: 'layer', id: j.short, status: 'complete', current: j.desc.size, total: j.desc.size });
    };
    try {
      await pool(pending, Math.max(1, options.maxConcurrentDownloads ?? 3), runJob);
    } catch (e) {
      if (isVerification(e)) {
        for (const c of created.layers) store.layers.delete(c);
        for (const b of created.blobs) store.blobs.delete(b);
      }
      throw e;
    }

    await store.blobs.write(manifest.bytes, { digest: manifest.digest });
    if (manifest.digest !== top.digest) await store.blobs.write(top.bytes, { digest: top.digest });
    const image = store.images.add({
      config: configDigest,
      layers: jobs.map((j) => ({
        blob: j.blob, mediaType: j.desc.mediaType, blobSize: j.desc.size, diffSize: j.result?.diffSize ?? 0,
        ...(j.result?.size === undefined ? {} : { size: j.result.size }),
      })),
      manifests: [{ digest: manifest.digest, mediaType: doc.mediaType, size: manifest.bytes.length }],
      tags: pr.digest === undefined ? [name] : [],
      repos: [pr.name],
      // RepoDigests name what the reference resolved to: the index of a multi-platform image,
      // as `docker pull` records it (and prints on the `Digest:` line).
      repoDigests: [top.digest],
    });
    const upToDate = before?.id === image.id && pending.length === 0;
    emit({ kind: 'done', ref, id: image.id, digest: top.digest, upToDate });
    return { id: image.id, digest: top.digest, manifestDigest: manifest.digest, name, upToDate, bytesDownloaded: downloaded, image };
  });
}

/** Runs `fn` over `items`, `limit` at a time; the first failure stops new starts and is thrown after the running ones end. */
async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const t = items[next++] as T;
      try { await fn(t); } catch (e) { failure ??= { e }; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.e;
}

/**
 * The resumable ingest of a layer for this process: `pull-<hex>-<pid>`. Partial bytes a dead
 * process left (a killed pull) are taken over by renaming them to this process's ref; those of
 * a live one (a concurrent pull of the same layer) are left alone, so two pulls never append
 * to one file.
 */
function ingestRef(store: Store, blob: Digest): string {
  const hex = blob.slice(7);
  const mine = `pull-${hex}-${process.pid}`;
  if (store.blobs.offset(mine) > 0) return mine;
  for (const ref of store.blobs.partialRefs()) {
    const m = new RegExp(`^pull-${hex}-(\\d+)$`).exec(ref);
    if (!m || pidAlive(Number(m[1]))) continue;
    if (store.blobs.adoptPartial(ref, mine)) return mine;
  }
  return mine;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}

/** Downloads one layer (resuming its partial ingest), storing the blob and unpacking it in the same pass. */
async function downloadLayer(
  store: Store, client: RegistryClient, repo: string, j: LayerJob, emit: (e: PullEvent) => void, signal: AbortSignal | undefined,
  created: { blobs: Digest[]; layers: Digest[] }, count: (n: number) => void,
): Promise<{ diffSize: number; size?: number }> {
  const ref = ingestRef(store, j.blob);
  const haveBlob = store.blobs.has(j.blob);
  let offset = haveBlob ? 0 : store.blobs.offset(ref);
  if (offset > j.desc.size) { store.blobs.abort(ref); offset = 0; }
  const needUnpack = store.layers.canUnpack && !store.layers.has(j.chain);

  // The blob is here already (e.g. an earlier pull stopped before unpacking): unpack from disk.
  if (haveBlob) {
    emit({ kind: 'layer', id: j.short, status: 'extracting', current: j.desc.size, total: j.desc.size });
    return verifyOrUnpack(store, j, store.blobs.open(j.blob), needUnpack, created);
  }

  const r: Response = await client.request('GET', `/v2/${repo}/blobs/${j.blob}`, {
    scope: [repoScope(repo, 'pull')],
    ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}),
    ...(signal ? { signal } : {}),
  });
  if (r.status === 200 && offset > 0) { store.blobs.abort(ref); offset = 0; }
  else if (r.status !== 200 && r.status !== 206) await client.fail(r, `fetch layer ${j.blob} of ${client.host}/${repo}`, repo);
  const len = Number(r.headers['content-length'] ?? NaN);
  if (!Number.isNaN(len) && len !== j.desc.size - offset) {
    r.body.destroy();
    throw invalidArgument(`layer ${j.blob}: the registry sends ${len + offset} bytes, the manifest says ${j.desc.size}: refusing it`, { detail: { verification: true } });
  }

  let current = offset;
  let lastEmit = 0;
  // Both branches get the same chunks (no copy); the body pauses while either holds over 1 MiB.
  const relieve = (): void => { if (r.body.isPaused() && branches.every((b) => b.bytes <= branchLimit / 2)) r.body.resume(); };
  const toStore = new ChunkQueue(relieve);
  const toUnpack = new ChunkQueue(relieve);
  const branches = [toStore, toUnpack];
  r.body.on('data', (c: Buffer) => {
    current += c.length;
    count(c.length);
    toStore.push(c);
    toUnpack.push(c);
    if (branches.some((b) => b.bytes > branchLimit)) r.body.pause();
    const now = Date.now();
    if (now - lastEmit > 100) { lastEmit = now; emit({ kind: 'layer', id: j.short, status: 'downloading', current, total: j.desc.size }); }
  });
  r.body.on('end', () => { toStore.end(); toUnpack.end(); });
  // A cut connection: the blob store still gets every byte that arrived (so a resume asks only
  // for the rest), then the error, which keeps the partial ingest; the unpack stops at once.
  let cut: Error | undefined;
  const onCut = (e: Error): void => {
    if (cut) return;
    cut = Object.assign(e, { code: (e as { code?: string }).code ?? 'ECONNRESET' });
    toStore.end();
    toUnpack.fail(e);
  };
  r.body.on('error', onCut);
  // A body that ends early ends without an error in some Node versions: the size check catches it.
  r.body.on('aborted', () => onCut(new Error(`download of ${j.blob} aborted`)));
  async function* received(): AsyncGenerator<Uint8Array> {
    yield* toStore;
    if (cut) throw cut;
  }

  const unpackSource: AsyncIterable<Uint8Array> = offset > 0
    ? concat(store.blobs.readPartial(ref, offset), toUnpack)
    : toUnpack;
  const ingesting = store.blobs.ingest(received(), { digest: j.blob, size: j.desc.size, ref, ...(signal ? { signal } : {}) });
  const unpacking = verifyOrUnpack(store, j, unpackSource, needUnpack, created);
  // Either side failing must not stall the other behind a full pipe: drop the failed branch.
  ingesting.catch((e: unknown) => { toUnpack.fail(e instanceof Error ? e : new Error('the blob store failed')); r.body.destroy(); });
  unpacking.catch(() => { toUnpack.fail(new Error('the unpack failed')); });
  const [ing, unp] = await Promise.allSettled([ingesting, unpacking]);
  if (ing.status === 'rejected') {
    toUnpack.fail(new Error('the blob store failed'));
    if (unp.status === 'fulfilled' && needUnpack) store.layers.delete(j.chain);
    const e = ing.reason as unknown;
    if (e instanceof BerthError && /mismatch/.test(e.message)) throw corrupted(j.blob);
    if (e instanceof BerthError && /truncated|larger than/.test(e.message)) {
      throw Object.assign(invalidArgument(`layer ${j.blob}: ${e.message}`), { code: 'ECONNRESET' });
    }
    throw e;
  }
  created.blobs.push(j.blob);
  if (unp.status === 'rejected') {
    const e = unp.reason as unknown;
    if (isVerification(e)) throw corrupted(j.blob);
    throw e;
  }
  return unp.value;
}

async function* concat(...sources: Array<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  for (const s of sources) yield* s;
}

/** Bytes a branch of a layer's body may hold before the body pauses. */
const branchLimit = 1 << 20;

async function verifyOrUnpack(store: Store, j: LayerJob, source: AsyncIterable<Uint8Array>, needUnpack: boolean, created: { layers: Digest[] }): Promise<{ diffSize: number; size?: number }> {
  if (needUnpack) {
    // The compressed bytes are hashed once, by the blob ingest (or were, when the blob is stored),
    // and the caller drops this layer again when that check fails; the tar itself is always
    // checked here against the diffID of the verified config, whoever ingested the blob.
    const r = await store.layers.unpack(j.chain, source, { expectedDiffID: j.diffID, hashSource: false });
    if (r) {
      created.layers.push(j.chain);
      return { diffSize: r.diffSize, size: r.size };
    }
  }
  // Already unpacked, or no kernel door: hash the tar to check the diffID.
  const d = decompressing(source, undefined, { hashSource: false, diffIDChecked: true, reuseChunks: true });
  for await (const _ of d.tar) { /* hash only */ }
  if (d.diffID() !== j.diffID) throw invalidArgument(`layer ${j.blob} does not match the image config (diffID ${d.diffID()}, expected ${j.diffID})`, { detail: { verification: true } });
  return { diffSize: d.diffSize() };
}

/** Docker's `Status:` line and the name printed after a pull. */
export function pullSummary(r: PullResult): string[] {
  return [
    `Digest: ${r.digest}`,
    r.upToDate ? `Status: Image is up to date for ${familiar(r.name)}` : `Status: Downloaded newer image for ${familiar(r.name)}`,
    r.name,
  ];
}

/** Every tag of a repository (`GET /v2/<repo>/tags/list`, following `Link` pages). */
export async function listTags(client: RegistryClient, repo: string, signal?: AbortSignal): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repo}/tags/list`;
  for (let pages = 0; path !== undefined && pages < 1000; pages++) {
    const r = await client.request('GET', path, { scope: [repoScope(repo, 'pull')], ...(signal ? { signal } : {}) });
    if (r.status !== 200) await client.fail(r, `list tags of ${client.host}/${repo}`, repo);
    const j = JSON.parse((await readBody(r, 16 << 20, `tag list of ${repo}`)).toString('utf8')) as { tags?: unknown };
    if (Array.isArray(j.tags)) tags.push(...j.tags.filter((t): t is string => typeof t === 'string'));
    const link = r.headers['link'];
    const m = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
    path = m?.[1];
  }
  return tags;
}
