/**
 * `import`: a root file system tarball (from a file or stdin, plain or gzip) becomes a
 * one-layer image, its config shaped by Dockerfile-like `--change` instructions.
 */
import { invalidArgument } from '@berth/errors';
import { MediaType, hostPlatform } from '@berth/oci-spec';
import type { ContainerConfig } from '@berth/oci-spec';
import { prepareLayers } from './archive.js';
import type { Digest } from './digest.js';
import type { Store } from './store.js';
import { decompressing, detectCompression } from './unpack.js';

/** Options of {@link importTarball}. */
export interface ImportOptions {
  /** Name to tag the image with (`myimage:1`). */
  readonly tag?: string;
  /** Dockerfile instructions: `CMD ["sh"]`, `ENV A=b`, `WORKDIR /w`, `ENTRYPOINT`, `USER`, `EXPOSE`, `LABEL`, `VOLUME`, `STOPSIGNAL`. */
  readonly changes?: readonly string[];
  /** History comment (`--message`). */
  readonly message?: string;
  /** Where the tarball came from, for the history (`-` for stdin). */
  readonly source?: string;
}

function words(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    let v: unknown;
    try { v = JSON.parse(t); } catch { v = undefined; }
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  }
  return ['/bin/sh', '-c', t];
}

function keyValues(rest: string): Array<[string, string]> {
  const t = rest.trim();
  if (!t.includes('=')) {
    const sp = t.search(/\s/);
    if (sp < 0) throw invalidArgument(`"${t}" needs a value: use KEY=VALUE`);
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  const out: Array<[string, string]> = [];
  for (const m of t.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const v = m[2] ?? '';
    out.push([m[1] ?? '', v.startsWith('"') ? (JSON.parse(v) as string) : v]);
  }
  return out;
}

/** Applies `--change` instructions to a container config. */
export function applyChanges(base: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const c: Record<string, unknown> = { ...base };
  for (const ch of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(ch);
    if (!m) throw invalidArgument(`invalid --change "${ch}": expected INSTRUCTION ARGS`);
    const ins = (m[1] ?? '').toUpperCase();
    const rest = m[2] ?? '';
    switch (ins) {
      case 'CMD': c['Cmd'] = words(rest); break;
      case 'ENTRYPOINT': c['Entrypoint'] = words(rest); break;
      case 'WORKDIR': c['WorkingDir'] = rest.trim(); break;
      case 'USER': c['User'] = rest.trim(); break;
      case 'STOPSIGNAL': c['StopSignal'] = rest.trim(); break;
      case 'ENV': {
        const env = [...((c['Env'] as string[] | null | undefined) ?? [])];
        for (const [k, v] of keyValues(rest)) {
          const i = env.findIndex((e) => e.startsWith(`${k}=`));
          if (i >= 0) env[i] = `${k}=${v}`; else env.push(`${k}=${v}`);
        }
        c['Env'] = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...((c['Labels'] as Record<string, string> | null | undefined) ?? {}) };
        for (const [k, v] of keyValues(rest)) labels[k] = v;
        c['Labels'] = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...((c['ExposedPorts'] as Record<string, object> | null | undefined) ?? {}) };
        for (const p of rest.trim().split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        c['ExposedPorts'] = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...((c['Volumes'] as Record<string, object> | null | undefined) ?? {}) };
        const list = rest.trim().startsWith('[') ? words(rest) : rest.trim().split(/\s+/);
        for (const v of list) vols[v] = {};
        c['Volumes'] = vols;
        break;
      }
      default:
        throw invalidArgument(`--change "${ins}" is not supported: use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR or STOPSIGNAL`);
    }
  }
  return c as ContainerConfig;
}

/** Imports a rootfs tarball as a one-layer image; returns its ID. */
export async function importTarball(store: Store, source: AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<Digest> {
  return store.images.withLease(async (hold) => {
    const blob = await store.blobs.ingest(source);
    hold(blob.digest);
    const head = store.blobs.open(blob.digest, { start: 0 });
    let first: Buffer = Buffer.alloc(0);
    for await (const c of head) { first = c as Buffer; break; }
    head.destroy();
    const compression = detectCompression(first);
    const d = decompressing(store.blobs.open(blob.digest));
    for await (const _ of d.tar) { /* hash */ }
    const diffID = d.diffID();
    const now = new Date().toISOString();
    const host = hostPlatform();
    const config = {
      architecture: host.architecture,
      ...(host.variant === undefined ? {} : { variant: host.variant }),
      os: 'linux',
      created: now,
      config: applyChanges({}, options.changes ?? []),
      rootfs: { type: 'layers', diff_ids: [diffID] },
      history: [{ created: now, created_by: '', comment: options.message ?? `Imported from ${options.source ?? '-'}` }],
    };
    const cfg = await store.blobs.write(JSON.stringify(config));
    hold(cfg.digest);
    const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
    const layers = await prepareLayers(store, cfg.digest, [{ blob: blob.digest, mediaType, blobSize: blob.size }], hold);
    const manifest = await store.blobs.write(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
      layers: [{ mediaType, digest: blob.digest, size: blob.size }],
    }));
    hold(manifest.digest);
    const img = store.images.add({
      config: cfg.digest, layers, manifests: [{ digest: manifest.digest, mediaType: MediaType.OciManifest, size: manifest.size }],
      ...(options.tag === undefined ? {} : { tags: [options.tag] }),
    });
    return img.id;
  });
}
