/**
 * Layer unpacking: a (compressed) layer tar → a directory in overlayfs form, safely.
 *
 * One streaming pass: source → sha256 (blob digest) → gunzip → sha256 (diffID) → tar-stream
 * → the file system. Every entry's parent directory is resolved *inside* the target with
 * `sys.resolveInRoot` (RESOLVE_IN_ROOT semantics), so `..`, absolute names, symlinks and hard
 * links can never reach outside it; names that would climb out are refused outright.
 * gzip and zstd (fzstd, pure JS) are detected by their magic bytes.
 * Whiteouts become overlayfs whiteouts: `.wh.x` → char device 0/0 named `x`,
 * `.wh..wh..opq` → xattr `trusted.overlay.opaque=y` on the directory.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  constants as fsc, chmodSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, rmSync, symlinkSync, write, writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { BerthError, invalidArgument, isBerthError, toBerthError } from '@berth/errors';
import type { ResolveOptions } from '@berth/native';
import type { Digest } from './digest.js';
import { PaxXattrScanner } from './paxscan.js';

/** The narrow part of the kernel door that unpacking needs (a `Sys` from @berth/native fits). */
export interface UnpackSys {
  /** Resolves `path` inside `root` (RESOLVE_IN_ROOT): the result is always `root` or below it. */
  resolveInRoot(root: string, path: string, options?: ResolveOptions): string;
  /** mknod(2): `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2). */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
}

/** What unpacking found. */
export interface UnpackResult {
  /** sha256 of the uncompressed tar: the layer's diffID. */
  readonly diffID: Digest;
  /** sha256 of the bytes as read (the compressed blob's digest); absent with `hashSource: false`. */
  readonly digest?: Digest;
  /** Bytes of the uncompressed tar. */
  readonly diffSize: number;
  /** Bytes of regular-file content written (the layer's size on disk, for `system df`). */
  readonly size: number;
  readonly entries: number;
}

/** Options of {@link unpackLayer}. */
export interface UnpackOptions {
  /** When set, the tar's diffID must equal it, else the unpack fails. */
  readonly expectedDiffID?: Digest;
  /**
   * `false` skips hashing the compressed bytes, for a caller that verifies them itself (a pull
   * hashes them once, in the blob ingest); the result's `digest` is then `undefined`.
   */
  readonly hashSource?: boolean;
  readonly signal?: AbortSignal;
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const PATH_MAX = 4095;
const NAME_MAX = 255;
const gunzipChunk = 256 << 10;
const largeFile = 1 << 20;
const writeAsync = (fd: number, b: Buffer, off: number, len: number): Promise<number> =>
  new Promise((resolve, reject) => write(fd, b, off, len, null, (e, n) => (e ? reject(e) : resolve(n))));

/** Compression of a layer stream, by its magic bytes. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** Detects gzip (1f 8b) and zstd (28 b5 2f fd) by magic; anything else is taken as plain tar. */
export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

async function* hashing(src: AsyncIterable<Uint8Array>, hash: Hash | undefined, count: { n: number }, observe?: (c: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  for await (const c of src) {
    hash?.update(c);
    count.n += c.length;
    observe?.(c);
    yield c;
  }
}

/**
 * Decompresses a layer stream (by magic), hashing both sides: yields the tar bytes. After the
 * iterator ends, `digest()` and `diffID()` give the results.
 */
export function decompressing(
  source: AsyncIterable<Uint8Array>, observeTar?: (chunk: Uint8Array) => void, options: { readonly hashSource?: boolean } = {},
): { tar: AsyncIterable<Uint8Array>; digest(): Digest; diffID(): Digest; diffSize(): number } {
  const blobHash = options.hashSource === false ? undefined : createHash('sha256');
  const tarHash = createHash('sha256');
  const blobCount = { n: 0 };
  const tarCount = { n: 0 };
  let d1: Digest | undefined;
  let d2: Digest | undefined;
  async function* run(): AsyncGenerator<Uint8Array> {
    const it = hashing(source, blobHash, blobCount)[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let got = 0;
    let done = false;
    while (got < 4) {
      const r = await it.next();
      if (r.done) { done = true; break; }
      head.push(r.value);
      got += r.value.length;
    }
    const first = Buffer.concat(head);
    const kind = detectCompression(first);
    async function* rest(): AsyncGenerator<Uint8Array> {
      if (first.length) yield first;
      if (!done) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    }
    let plain: AsyncIterable<Uint8Array>;
    if (kind === 'gzip') {
      // 256 KiB output chunks, not 16: a sixteenth of the thread-pool round trips and callbacks.
      const gunzip = createGunzip({ chunkSize: gunzipChunk });
      pipeline(Readable.from(rest()), gunzip).catch(() => undefined);
      plain = gunzip;
    } else if (kind === 'zstd') {
      plain = unzstd(rest());
    } else {
      plain = rest();
    }
    yield* hashing(plain, tarHash, tarCount, observeTar);
    d1 = blobHash === undefined ? undefined : `sha256:${blobHash.digest('hex')}` as Digest;
    d2 = `sha256:${tarHash.digest('hex')}` as Digest;
  }
  const need = (d: Digest | undefined): Digest => {
    if (d === undefined) throw new BerthError('Internal', blobHash === undefined && d2 !== undefined ? 'layer digest not computed (hashSource: false)' : 'layer digest read before the stream ended');
    return d;
  };
  return { tar: run(), digest: () => need(d1), diffID: () => need(d2), diffSize: () => tarCount.n };
}

/** Streaming zstd decompression (fzstd: pure JS, no native build). */
async function* unzstd(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let out: Uint8Array[] = [];
  const d = new ZstdDecompress((chunk) => { out.push(chunk); });
  try {
    for await (const c of source) {
      d.push(c);
      if (out.length) { const o = out; out = []; yield* o; }
    }
    d.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw invalidArgument(`zstd layer is corrupt: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  yield* out;
}

/** Normalizes a tar entry name to a relative path inside the layer, or refuses it. */
export function entryPath(name: string): string {
  if (name.includes('\0')) throw invalidArgument(`layer entry name contains a NUL byte: refusing the layer`);
  if (Buffer.byteLength(name) > PATH_MAX) throw invalidArgument(`layer entry name is ${Buffer.byteLength(name)} bytes long (limit ${PATH_MAX}): refusing the layer`);
  // Absolute names are taken relative to the layer root, as Docker and containerd do.
  const p = posix.normalize('/' + name).slice(1).replace(/\/$/, '');
  const rel = posix.normalize(name.replace(/^\/+/, '')).replace(/\/$/, '');
  if (rel === '..' || rel.startsWith('../')) throw invalidArgument(`layer entry "${name.slice(0, 200)}" climbs out of the layer root: refusing the layer`);
  for (const part of p.split('/')) {
    if (Buffer.byteLength(part) > NAME_MAX) throw invalidArgument(`layer entry "${name.slice(0, 100)}…" has a name component over ${NAME_MAX} bytes: refusing the layer`);
  }
  return p === '' ? '.' : p;
}

/**
 * Unpacks one layer stream into `dir` (which must exist and be empty, or hold the layers
 * below when applying a stack). Throws on any hostile or malformed entry; the caller
 * removes `dir` then (see `LayerStore.unpack`, which unpacks into a temp dir and renames).
 */
export async function unpackLayer(sys: UnpackSys, source: AsyncIterable<Uint8Array>, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const scanner = new PaxXattrScanner();
  const streams = decompressing(source, (c) => scanner.push(c), options.hashSource === false ? { hashSource: false } : {});
  const extract = tarExtract();
  const feeding = pipeline(Readable.from(streams.tar), extract);
  feeding.catch(() => undefined);
  const dirTimes: Array<{ path: string; mtime: Date }> = [];
  const known = new Map<string, string>(); // relative dir → resolved host path, all real directories
  let size = 0;
  let entries = 0;

  const forget = (rel: string): void => {
    for (const k of known.keys()) if (k === rel || k.startsWith(rel + '/')) known.delete(k);
  };
  const resolveDir = (rel: string): string => {
    if (rel === '.' || rel === '') return dir;
    const hit = known.get(rel);
    if (hit !== undefined) return hit;
    let p: string;
    try {
      p = sys.resolveInRoot(dir, rel, { mode: 'in-root' });
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
      // Missing parents are made, as tar does (0755, root-owned).
      const parent = resolveDir(posix.dirname(rel));
      p = `${parent}/${posix.basename(rel)}`;
      mkdirSync(p, 0o755);
    }
    const st = lstatSync(p);
    if (!st.isDirectory()) throw invalidArgument(`layer entry path "${rel}" goes through a non-directory: refusing the layer`);
    known.set(rel, p);
    return p;
  };

  try {
    for await (const entry of extract) {
      if (options.signal?.aborted) throw new BerthError('Canceled', 'layer unpack canceled');
      const h: Header = entry.header;
      const rawXattrs = scanner.xattrs(entries);
      entries++;
      const rel = entryPath(h.name);
      if (rel === '.') {
        if (h.type === 'directory') applyAttrs(sys, dir, h, dirTimes, true, rawXattrs);
        entry.resume();
        continue;
      }
      const base = posix.basename(rel);
      const parent = resolveDir(posix.dirname(rel));
      const parentRel = posix.dirname(rel);

      if (base.startsWith('.wh.')) {
        if (base === '.wh..wh..opq') {
          sys.lsetxattr(parent, 'trusted.overlay.opaque', Buffer.from('y'));
        } else {
          const name = base.slice(4);
          if (name === '' || name === '.' || name === '..') throw invalidArgument(`layer entry "${h.name}" is an invalid whiteout: refusing the layer`);
          const target = `${parent}/${name}`;
          rmSync(target, { recursive: true, force: true });
          forget(parentRel === '.' ? name : `${parentRel}/${name}`);
          sys.mknod(target, S_IFCHR | 0, 0, 0);
        }
        entry.resume();
        continue;
      }

      const target = `${parent}/${base}`;
      // Entries are created optimistically — O_EXCL, mkdir, symlink, link and mknod all fail with
      // EEXIST rather than follow or replace — and only then is the old entry looked at: in a
      // fresh layer dir that never happens, which saves an lstat per entry. What is there goes,
      // except a directory that a directory entry merges into.
      const makeRoom = (): boolean => {
        const existing = lstatSync(target, { throwIfNoEntry: false });
        if (existing === undefined) return false;
        if (existing.isDirectory() && h.type === 'directory') return true;
        rmSync(target, { recursive: true, force: true });
        forget(rel);
        return false;
      };
      const create = <T>(make: () => T): T => {
        try { return make(); } catch (e) {
          if (!isExists(e)) throw e;
          makeRoom();
          return make();
        }
      };

      switch (h.type) {
        case 'directory':
          try { mkdirSync(target, 0o700); } catch (e) {
            if (!isExists(e)) throw e;
            if (!makeRoom()) mkdirSync(target, 0o700);
          }
          applyAttrs(sys, target, h, dirTimes, true, rawXattrs);
          break;
        case 'file':
        case 'contiguous-file': {
          // Synchronous, fd-based: one open, the writes, fchown/fchmod/futimes, close — no path
          // lookups after the O_EXCL|O_NOFOLLOW create, no thread-pool round trip per call.
          const fd = create(() => openSync(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600));
          try {
            // Large files are written on the thread pool: the copy into the page cache then
            // overlaps with this thread's work on the other layers unpacking at the same time.
            const large = (h.size ?? 0) >= largeFile;
            for await (const chunk of entry) {
              const b = chunk as Buffer;
              let off = 0;
              while (off < b.length) off += large ? await writeAsync(fd, b, off, b.length - off) : writeSync(fd, b, off, b.length - off);
              size += b.length;
            }
            fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
            fchmodSync(fd, (h.mode ?? 0o644) & 0o7777);
            setXattrs(sys, target, h, rawXattrs);
            const mtime = paxMtime(h);
            futimesSync(fd, mtime, mtime);
          } finally {
            closeSync(fd);
          }
          break;
        }
        case 'symlink':
          create(() => symlinkSync(h.linkname ?? '', target));
          applyAttrs(sys, target, h, dirTimes, false, rawXattrs);
          break;
        case 'link': {
          const linkRel = entryPath(h.linkname ?? '');
          if (linkRel === '.') throw invalidArgument(`layer entry "${h.name}" hard-links to the layer root: refusing the layer`);
          // In-root resolution: a link to "/etc/shadow" means the layer's own etc/shadow.
          let src: string;
          try {
            src = sys.resolveInRoot(dir, linkRel, { mode: 'in-root', noFollowLeaf: true });
          } catch (e) {
            throw invalidArgument(`layer entry "${h.name}" hard-links to "${h.linkname ?? ''}", which is not in the layer: refusing the layer`, { cause: e });
          }
          if (lstatSync(src).isDirectory()) throw invalidArgument(`layer entry "${h.name}" hard-links to a directory: refusing the layer`);
          create(() => linkSync(src, target));
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
          create(() => sys.mknod(target, kind | ((h.mode ?? 0o644) & 0o7777), h.devmajor ?? 0, h.devminor ?? 0));
          applyAttrs(sys, target, h, dirTimes, false, rawXattrs);
          break;
        }
        default:
          throw invalidArgument(`layer entry "${h.name.slice(0, 200)}" has unsupported type ${String(h.type)}: refusing the layer`);
      }
      entry.resume();
    }
    await feeding;
  } catch (e) {
    extract.destroy();
    if (e instanceof BerthError) throw e;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) throw toBerthError(e, 'unpack layer');
    throw invalidArgument(`layer is not a valid tar, or is truncated (${e instanceof Error ? e.message : String(e)}): refusing the layer`, { cause: e });
  }
  for (const d of dirTimes.reverse()) lutimesSync(d.path, d.mtime, d.mtime);
  const diffID = streams.diffID();
  if (options.expectedDiffID !== undefined && diffID !== options.expectedDiffID) {
    throw invalidArgument(`layer diffID mismatch: the config lists ${options.expectedDiffID}, the layer is ${diffID}: the image is corrupt`);
  }
  return { diffID, ...(options.hashSource === false ? {} : { digest: streams.digest() }), diffSize: streams.diffSize(), size, entries };
}

/** EEXIST from Node's fs (`code`) or from the addon (a BerthError's `errno`). */
function isExists(e: unknown): boolean {
  const x = e as { code?: unknown; errno?: unknown };
  return x.code === 'EEXIST' || x.errno === 'EEXIST';
}

function paxOf(h: Header): Record<string, string> {
  const pax: unknown = (h as { pax?: unknown }).pax;
  if (typeof pax !== 'object' || pax === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (typeof v === 'string') out[k] = v;
  return out;
}

function setXattrs(sys: UnpackSys, path: string, h: Header, raw: Map<string, Buffer> | undefined): void {
  // The scanner's raw bytes, not tar-stream's UTF-8 decoding, so binary values
  // (security.capability) survive; tar-stream's view is the fallback.
  if (raw) {
    for (const [k, v] of raw) sys.lsetxattr(path, k, v);
    return;
  }
  if ((h as { pax?: unknown }).pax == null) return;
  for (const [k, v] of Object.entries(paxOf(h))) {
    if (k.startsWith('SCHILY.xattr.')) sys.lsetxattr(path, k.slice('SCHILY.xattr.'.length), Buffer.from(v));
  }
}

function paxMtime(h: Header): Date {
  const v = paxOf(h)['mtime'];
  if (v !== undefined && /^\d+(\.\d+)?$/.test(v)) return new Date(Number(v) * 1000);
  return h.mtime ?? new Date(0);
}

function applyAttrs(sys: UnpackSys, path: string, h: Header, dirTimes: Array<{ path: string; mtime: Date }>, isDir: boolean, raw: Map<string, Buffer> | undefined): void {
  lchownSync(path, h.uid ?? 0, h.gid ?? 0);
  if (h.type !== 'symlink') chmodSync(path, (h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777);
  setXattrs(sys, path, h, raw);
  const mtime = paxMtime(h);
  if (isDir) dirTimes.push({ path, mtime });
  else lutimesSync(path, mtime, mtime);
}
