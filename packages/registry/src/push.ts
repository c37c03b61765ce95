/**
 * Push: an image of the Store → a registry repository.
 *
 *   HEAD /v2/<repo>/blobs/<digest>                    200 → skip ("Layer already exists")
 *   POST /v2/<repo>/blobs/uploads/?mount=<d>&from=<r>  201 → mounted from another repo of the registry
 *   POST /v2/<repo>/blobs/uploads/                     202 Location
 *     monolithic:  PUT <Location>?digest=<d>  body = the blob
 *     chunked:     PATCH <Location> (Content-Range) … then PUT <Location>?digest=<d>
 *   PUT  /v2/<repo>/manifests/<tag>                    the stored manifest's exact bytes
 */
import { createReadStream } from 'node:fs';
import { invalidArgument, notFound } from '@berth/errors';
import { MediaType } from '@berth/oci-spec';
import { familiar, type Digest, type Store } from '@berth/layer-store';
import { readBody, repoScope, type RegistryClient } from './client.js';
import { loadRegistryConfig, type RegistryConfig } from './config.js';
import { parsePullRef, withRetries } from './pull.js';
import { Registries } from './registries.js';

/** Progress of a push. */
export type PushEvent =
  | { readonly kind: 'preparing'; readonly repo: string }
  | { readonly kind: 'layer'; readonly id: string; readonly status: 'preparing' | 'exists' | 'mounted' | 'pushing' | 'pushed'; readonly current: number; readonly total: number }
  | { readonly kind: 'done'; readonly tag: string; readonly digest: Digest; readonly size: number };

/** Options of {@link pushImage}. */
export interface PushOptions {
  readonly onProgress?: (e: PushEvent) => void;
  readonly signal?: AbortSignal;
  readonly config?: RegistryConfig;
  readonly registries?: Registries;
  /** Upload blobs over this size in PATCH chunks of this size (default: monolithic). */
  readonly chunkSize?: number;
  /** Repositories of the same registry to try a cross-repository mount from. */
  readonly mountFrom?: readonly string[];
  readonly retries?: number;
}

/** What a push did. */
export interface PushResult {
  readonly digest: Digest;
  readonly size: number;
  readonly tag: string;
  /** Blobs uploaded (not skipped or mounted). */
  readonly uploaded: number;
}

function locationOf(client: RegistryClient, loc: string | string[] | undefined, base: string): string {
  if (typeof loc !== 'string' || loc === '') throw invalidArgument(`registry ${client.host} started an upload without a Location`);
  return new URL(loc, base).toString();
}

function withDigest(url: string, digest: string): string {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Uploads one blob unless the repository has it (or can mount it). Returns how it got there. */
export async function pushBlob(
  client: RegistryClient, store: Store, repo: string, digest: Digest, options: { readonly chunkSize?: number; readonly mountFrom?: readonly string[]; readonly signal?: AbortSignal; readonly onBytes?: (n: number) => void } = {},
): Promise<'exists' | 'mounted' | 'pushed'> {
  const sig = options.signal ? { signal: options.signal } : {};
  const scope = [repoScope(repo, 'pull,push')];
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scope, ...sig });
  head.body.resume();
  if (head.status === 200) return 'exists';
  const base = await client.baseUrl();
  for (const from of options.mountFrom ?? []) {
    if (from === repo) continue;
    const m = await client.request('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      scope: [...scope, repoScope(from, 'pull')], ...sig,
    });
    m.body.resume();
    if (m.status === 201) return 'mounted';
  }
  const size = store.blobs.info(digest).size;
  const start = await client.request('POST', `/v2/${repo}/blobs/uploads/`, { scope, ...sig });
  if (start.status !== 202) await client.fail(start, `push blob ${digest} to ${client.host}/${repo}`, repo);
  start.body.resume();
  let loc = locationOf(client, start.headers['location'], base);
  const chunk = options.chunkSize;
  if (chunk !== undefined && chunk > 0 && size > chunk) {
    for (let off = 0; off < size; off += chunk) {
      const end = Math.min(size, off + chunk) - 1;
      const p = await client.request('PATCH', loc, {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${off}-${end}` },
        body: { length: end - off + 1, open: () => createReadStream(store.blobs.path(digest), { start: off, end }) },
        scope, ...sig,
      });
      if (p.status !== 202) await client.fail(p, `push blob ${digest} to ${client.host}/${repo}`, repo);
      p.body.resume();
      loc = locationOf(client, p.headers['location'], base);
      options.onBytes?.(end - off + 1);
    }
    const done = await client.request('PUT', withDigest(loc, digest), { body: Buffer.alloc(0), headers: { 'content-type': 'application/octet-stream' }, scope, ...sig });
    if (done.status !== 201) await client.fail(done, `push blob ${digest} to ${client.host}/${repo}`, repo);
    done.body.resume();
    return 'pushed';
  }
  const put = await client.request('PUT', withDigest(loc, digest), {
    headers: { 'content-type': 'application/octet-stream' },
    body: {
      length: size,
      open: () => {
        const s = store.blobs.open(digest);
        if (options.onBytes) s.on('data', (c) => options.onBytes?.(c.length));
        return s;
      },
    },
    scope, ...sig,
  });
  if (put.status !== 201) await client.fail(put, `push blob ${digest} to ${client.host}/${repo}`, repo);
  put.body.resume();
  return 'pushed';
}

/** The manifest to push for an image: the stored one, or an OCI manifest made from the record. */
async function manifestOf(store: Store, id: Digest): Promise<{ bytes: Buffer; digest: Digest; mediaType: string }> {
  const img = store.images.get(id);
  for (const m of img.manifests) {
    if (store.blobs.has(m.digest)) return { bytes: store.blobs.read(m.digest), digest: m.digest, mediaType: m.mediaType };
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: id, size: store.blobs.info(id).size },
    layers: img.layers.map((l) => ({ mediaType: l.mediaType, digest: l.blob, size: l.blobSize })),
  };
  const info = await store.blobs.write(JSON.stringify(manifest));
  return { bytes: store.blobs.read(info.digest), digest: info.digest, mediaType: MediaType.OciManifest };
}

/** Pushes image `ref` (a name in the store, `host/repo:tag`) to its registry. */
export async function pushImage(store: Store, ref: string, options: PushOptions = {}): Promise<PushResult> {
  const config = options.config ?? loadRegistryConfig();
  const own = options.registries === undefined;
  const registries = options.registries ?? new Registries(config);
  const emit = options.onProgress ?? ((): void => undefined);
  try {
    const pr = parsePullRef(ref);
    if (pr.digest !== undefined) throw invalidArgument(`cannot push ${ref} by digest: push a tag (berth tag ${familiar(ref)} <name>:<tag>)`);
    const tag = pr.tag ?? 'latest';
    const img = store.images.resolve(`${pr.name}:${tag}`);
    const client = registries.client(pr.host);
    emit({ kind: 'preparing', repo: pr.name });
    const man = await manifestOf(store, img.id);
    const blobs: Digest[] = [...img.layers.map((l) => l.blob), img.id];
    const sizes = new Map(img.layers.map((l) => [l.blob, l.blobSize]));
    let uploaded = 0;
    const retries = options.retries ?? 5;
    for (const l of img.layers) emit({ kind: 'layer', id: l.blob.slice(7, 19), status: 'preparing', current: 0, total: l.blobSize });
    const others = options.mountFrom ?? [];
    // The blobs go up side by side; the first failure stops the others, and the push returns only
    // when every lane has settled, so no request of a failed push lands after its error.
    const lanes = new AbortController();
    let firstError: { readonly error: unknown } | undefined;
    const stop = (): void => lanes.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', stop, { once: true });
    await Promise.all(blobs.map(async (d) => {
      try {
        const id = d.slice(7, 19);
        const isLayer = d !== img.id;
        const total = sizes.get(d) ?? 0;
        let last = 0;
        const how = await withRetries(retries, () => {
          let current = 0;
          return pushBlob(client, store, pr.repo, d, {
            ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}), mountFrom: others, signal: lanes.signal,
            onBytes: (n) => {
              current += n;
              const now = Date.now();
              if (isLayer && now - last > 100) { last = now; emit({ kind: 'layer', id, status: 'pushing', current, total }); }
            },
          });
        }, lanes.signal);
        if (how === 'pushed') uploaded++;
        if (isLayer) emit({ kind: 'layer', id, status: how, current: sizes.get(d) ?? 0, total: sizes.get(d) ?? 0 });
      } catch (e) {
        firstError ??= { error: e };
        lanes.abort(e);
      }
    }));
    options.signal?.removeEventListener('abort', stop);
    if (firstError) throw firstError.error;
    const put = await client.request('PUT', `/v2/${pr.repo}/manifests/${tag}`, {
      headers: { 'content-type': man.mediaType }, body: man.bytes, scope: [repoScope(pr.repo, 'pull,push')], ...(options.signal ? { signal: options.signal } : {}),
    });
    if (put.status !== 201 && put.status !== 200) await client.fail(put, `push manifest of ${ref}`, pr.repo);
    await readBody(put, 1 << 20, 'manifest push answer');
    const header = put.headers['docker-content-digest'];
    if (typeof header === 'string' && header !== man.digest) {
      throw invalidArgument(`registry ${client.host} stored the manifest of ${ref} as ${header}, not ${man.digest}: it changed the bytes`);
    }
    emit({ kind: 'done', tag, digest: man.digest, size: man.bytes.length });
    return { digest: man.digest, size: man.bytes.length, tag, uploaded };
  } finally {
    if (own) registries.close();
  }
}

/**
 * The tags `berth push --all-tags <repo>` pushes: every tag in the store of repository `name`
 * (`host/repo`, no tag or digest), sorted. Throws as docker does when `name` has a tag, or when
 * the store has no tag of the repository.
 */
export function localTags(store: Store, name: string): string[] {
  const pr = parsePullRef(name);
  // parsePullRef fills in `latest`: look for a tag in the name's last path component (a
  // registry's port is in its first).
  const last = name.replace(/@.*$/, '').split('/').pop() ?? '';
  if (pr.digest !== undefined || last.includes(':')) throw invalidArgument(`tag can't be used with --all-tags/-a`);
  const tags = store.images.list().flatMap((img) => img.tags).filter((t) => {
    const p = parsePullRef(t);
    return p.name === pr.name && p.digest === undefined;
  });
  if (tags.length === 0) throw notFound(`an image does not exist locally with the name: ${familiar(pr.name)} (tag one first: berth tag <image> ${familiar(pr.name)}:<tag>)`);
  return [...new Set(tags)].sort();
}

/**
 * Pushes every local tag of repository `name` ({@link localTags}), one after another as docker
 * does; blobs the registry already got from an earlier tag are skipped by their HEAD.
 */
export async function pushAllTags(store: Store, name: string, options: PushOptions = {}): Promise<PushResult[]> {
  const tags = localTags(store, name);
  const own = options.registries === undefined;
  const registries = options.registries ?? new Registries(options.config ?? loadRegistryConfig());
  try {
    const out: PushResult[] = [];
    for (const t of tags) out.push(await pushImage(store, t, { ...options, registries, config: registries.config }));
    return out;
  } finally {
    if (own) registries.close();
  }
}

