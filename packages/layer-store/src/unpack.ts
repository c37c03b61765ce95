/**
 * Layer unpacking: a (compressed) layer tar → a directory in overlayfs form, safely.
 *
 * One streaming pass: source → sha256 (blob digest) → gunzip → sha256 (diffID) → tar reader
 * (tarparse.ts, synchronous) → the file system. Every entry's parent directory is resolved *inside* the target with
 * `sys.resolveInRoot` (RESOLVE_IN_ROOT semantics), so `..`, absolute names, symlinks and hard
 * links can never reach outside it; names that would climb out are refused outright.
 * gzip and zstd (fzstd, pure JS) are detected by their magic bytes. gzip is decoded on the calling
 * thread by the addon's decoder (Node's zlib; node:zlib's stream where the addon is missing),
 * without the CRC-32 when the diffID is checked, into one reused buffer.
 * Whiteouts become overlayfs whiteouts: `.wh.x` → char device 0/0 named `x`,
 * `.wh..wh..opq` → xattr `trusted.overlay.opaque=y` on the directory.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  constants as fsc, chmodSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, rmSync, symlinkSync, writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { BerthError, invalidArgument, isBerthError, toBerthError } from '@berth/errors';
import { gunzipper, type ResolveOptions } from '@berth/native';
import type { Digest } from './digest.js';
import { TarReader, type TarHeader, type TarSink } from './tarparse.js';

/** The narrow part of the kernel door that unpacking needs (a `Sys` from @berth/native fits). */
export interface UnpackSys {
  /** Resolves `path` inside `root` (RESOLVE_IN_ROOT): the result is always `root` or below it. */
  resolveInRoot(root: string, path: string, options?: ResolveOptions): string;
  /** mknod(2): `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2). */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  /**
   * Optional: a regular file made whole in one call (LinuxSys.createFile: open O_EXCL|O_NOFOLLOW,
   * write, fchown, fchmod to `chmod` when given, futimens, close; EEXIST when `path` exists).
   */
  createFile?(path: string, data: Uint8Array, options: { readonly mode: number; readonly uid: number; readonly gid: number; readonly chmod?: number; readonly mtime: number }): void;
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

/** Options of {@link decompressing}. */
export interface DecompressOptions {
  /** `false`: the compressed bytes are not hashed (`digest()` then throws). */
  readonly hashSource?: boolean;
  /**
   * The caller compares `diffID()` with a digest it trusts: gzip's own CRC-32 is then skipped (it
   * would only re-check what the sha256 of the tar checks).
   */
  readonly diffIDChecked?: boolean;
  /** The consumer is done with each tar chunk before it asks for the next: one buffer may serve them all. */
  readonly reuseChunks?: boolean;
}

/**
 * Decompresses a layer stream (by magic), hashing both sides: yields the tar bytes. After the
 * iterator ends, `digest()` and `diffID()` give the results. gzip is decompressed on the calling
 * thread by the native addon when it loads (`gunzipper`), else by node:zlib.
 */
export function decompressing(
  source: AsyncIterable<Uint8Array>, observeTar?: (chunk: Uint8Array) => void, options: DecompressOptions = {},
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
    const native = kind === 'gzip' ? gunzipper({ check: options.diffIDChecked !== true, reuse: options.reuseChunks === true, chunkSize: gunzipChunk }) : undefined;
    if (native !== undefined) {
      plain = native(rest());
    } else if (kind === 'gzip') {
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
 *
 * The tar is read synchronously as each decompressed chunk arrives ({@link TarReader}) and
 * written with synchronous, fd-based calls: no promise or stream per entry, which is most of
 * the cost of a layer of many small files besides the kernel's own. `LayerStore` runs this on
 * a worker thread, where blocking calls block nothing else.
 */
export async function unpackLayer(sys: UnpackSys, source: AsyncIterable<Uint8Array>, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  // TarReader and LayerWriter copy what they keep of a chunk, so the decompressor may reuse its buffer.
  const streams = decompressing(source, undefined, {
    reuseChunks: true, diffIDChecked: options.expectedDiffID !== undefined, ...(options.hashSource === false ? { hashSource: false } : {}),
  });
  const writer = new LayerWriter(sys, dir);
  const reader = new TarReader(writer);
  try {
    for await (const c of streams.tar) {
      if (options.signal?.aborted) throw new BerthError('Canceled', 'layer unpack canceled');
      reader.write(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    }
    reader.end();
  } catch (e) {
    writer.abort();
    if (e instanceof BerthError) throw e;
    const x = e as { code?: unknown; unsupportedType?: unknown; entryName?: unknown };
    if (typeof x.unsupportedType === 'string') {
      throw invalidArgument(`layer entry "${String(x.entryName).slice(0, 200)}" has unsupported type ${JSON.stringify(x.unsupportedType)}: refusing the layer`);
    }
    if (typeof x.code === 'string' && /^E[A-Z]+$/.test(x.code)) throw toBerthError(e, 'unpack layer');
    throw invalidArgument(`layer is not a valid tar, or is truncated (${e instanceof Error ? e.message : String(e)}): refusing the layer`, { cause: e });
  }
  writer.finish();
  const diffID = streams.diffID();
  if (options.expectedDiffID !== undefined && diffID !== options.expectedDiffID) {
    throw invalidArgument(`layer diffID mismatch: the config lists ${options.expectedDiffID}, the layer is ${diffID}: the image is corrupt`);
  }
  return { diffID, ...(options.hashSource === false ? {} : { digest: streams.digest() }), diffSize: streams.diffSize(), size: writer.size, entries: writer.entries };
}

/** The file-system side of an unpack: tar entries in, files, links, devices and whiteouts out. */
class LayerWriter implements TarSink {
  size = 0;
  entries = 0;
  private readonly dirTimes: Array<{ path: string; mtime: number }> = [];
  private readonly known = new Map<string, string>(); // relative dir → resolved host path, all real directories
  /** The regular file being written, and its header. */
  private file: { fd: number; h: TarHeader; path: string; chmod: boolean } | undefined;
  private readonly umask: number;

  constructor(private readonly sys: UnpackSys, private readonly dir: string) {
    this.umask = process.umask();
  }

  private forget(rel: string): void {
    for (const k of this.known.keys()) if (k === rel || k.startsWith(rel + '/')) this.known.delete(k);
  }

  private resolveDir(rel: string): string {
    if (rel === '.' || rel === '') return this.dir;
    const hit = this.known.get(rel);
    if (hit !== undefined) return hit;
    let p: string;
    try {
      p = this.sys.resolveInRoot(this.dir, rel, { mode: 'in-root' });
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
      // Missing parents are made, as tar does (0755, root-owned).
      const parent = this.resolveDir(posix.dirname(rel));
      p = `${parent}/${posix.basename(rel)}`;
      mkdirSync(p, 0o755);
    }
    const st = lstatSync(p);
    if (!st.isDirectory()) throw invalidArgument(`layer entry path "${rel}" goes through a non-directory: refusing the layer`);
    this.known.set(rel, p);
    return p;
  }

  onEntry(h: TarHeader): void {
    this.entries++;
    const rel = entryPath(h.name);
    if (rel === '.') {
      if (h.type === 'directory') this.applyAttrs(this.dir, h, true);
      return;
    }
    const base = posix.basename(rel);
    const parentRel = posix.dirname(rel);
    const parent = this.resolveDir(parentRel);

    if (base.startsWith('.wh.')) {
      if (base === '.wh..wh..opq') {
        this.sys.lsetxattr(parent, 'trusted.overlay.opaque', Buffer.from('y'));
      } else {
        const name = base.slice(4);
        if (name === '' || name === '.' || name === '..') throw invalidArgument(`layer entry "${h.name}" is an invalid whiteout: refusing the layer`);
        const target = `${parent}/${name}`;
        rmSync(target, { recursive: true, force: true });
        this.forget(parentRel === '.' ? name : `${parentRel}/${name}`);
        this.sys.mknod(target, S_IFCHR | 0, 0, 0);
      }
      return;
    }

    const target = `${parent}/${base}`;
    const create = <T>(make: () => T): T => this.createOver(target, rel, h, make);

    switch (h.type) {
      case 'directory':
        try { mkdirSync(target, 0o700); } catch (e) {
          if (!isExists(e)) throw e;
          if (!this.makeRoom(target, rel, h)) mkdirSync(target, 0o700);
        }
        this.applyAttrs(target, h, true);
        break;
      case 'file':
      case 'contiguous-file': {
        const { mode, chmod } = this.fileModes(h);
        const fd = create(() => openSync(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode));
        this.file = { fd, h, path: target, chmod: chmod !== undefined };
        break;
      }
      case 'symlink':
        create(() => symlinkSync(h.linkname, target));
        this.applyAttrs(target, h, false);
        break;
      case 'link': {
        const linkRel = entryPath(h.linkname);
        if (linkRel === '.') throw invalidArgument(`layer entry "${h.name}" hard-links to the layer root: refusing the layer`);
        // In-root resolution: a link to "/etc/shadow" means the layer's own etc/shadow.
        let src: string;
        try {
          src = this.sys.resolveInRoot(this.dir, linkRel, { mode: 'in-root', noFollowLeaf: true });
        } catch (e) {
          throw invalidArgument(`layer entry "${h.name}" hard-links to "${h.linkname}", which is not in the layer: refusing the layer`, { cause: e });
        }
        if (lstatSync(src).isDirectory()) throw invalidArgument(`layer entry "${h.name}" hard-links to a directory: refusing the layer`);
        create(() => linkSync(src, target));
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = h.type === 'fifo' ? S_IFIFO : h.type === 'block-device' ? S_IFBLK : S_IFCHR;
        create(() => this.sys.mknod(target, kind | (h.mode & 0o7777), h.devmajor, h.devminor));
        this.applyAttrs(target, h, false);
        break;
      }
    }
  }

  /**
   * A regular file with all its bytes at hand: one addon call instead of five fs calls (a layer
   * of small files is mostly these). Whiteouts, xattrs and a sys without createFile take the
   * general path.
   */
  onFile(h: TarHeader, data: Buffer): void {
    const create = this.sys.createFile;
    const rel = entryPath(h.name);
    const base = posix.basename(rel);
    if (create === undefined || h.xattrs !== undefined || rel === '.' || base.startsWith('.wh.')) {
      this.onEntry(h);
      this.onData(data);
      this.onEntryEnd();
      return;
    }
    this.entries++;
    const target = `${this.resolveDir(posix.dirname(rel))}/${base}`;
    const { mode, chmod } = this.fileModes(h);
    const options = { mode, uid: h.uid, gid: h.gid, mtime: h.mtime, ...(chmod === undefined ? {} : { chmod }) };
    this.createOver(target, rel, h, () => create.call(this.sys, target, data, options));
    this.size += data.length;
  }

  /**
   * Entries are created optimistically — O_EXCL, mkdir, symlink, link and mknod all fail with
   * EEXIST rather than follow or replace — and only then is the old entry looked at: in a fresh
   * layer dir that never happens, which saves an lstat per entry. `make` runs again after
   * {@link makeRoom}.
   */
  private createOver<T>(target: string, rel: string, h: TarHeader, make: () => T): T {
    try { return make(); } catch (e) {
      if (!isExists(e)) throw e;
      this.makeRoom(target, rel, h);
      return make();
    }
  }

  /** What is at `target` goes, except a directory that a directory entry merges into (then true). */
  private makeRoom(target: string, rel: string, h: TarHeader): boolean {
    const existing = lstatSync(target, { throwIfNoEntry: false });
    if (existing === undefined) return false;
    if (existing.isDirectory() && h.type === 'directory') return true;
    rmSync(target, { recursive: true, force: true });
    this.forget(rel);
    return false;
  }

  onData(chunk: Buffer): void {
    const f = this.file;
    if (f === undefined) return; // data of an entry that has none on disk (a link's, say)
    let off = 0;
    while (off < chunk.length) off += writeSync(f.fd, chunk, off, chunk.length - off);
    this.size += chunk.length;
  }

  onEntryEnd(): void {
    const f = this.file;
    if (f === undefined) return;
    this.file = undefined;
    try {
      fchownSync(f.fd, f.h.uid, f.h.gid);
      if (f.chmod) fchmodSync(f.fd, f.h.mode & 0o7777);
      this.setXattrs(f.path, f.h);
      futimesSync(f.fd, f.h.mtime, f.h.mtime);
    } finally {
      closeSync(f.fd);
    }
  }

  /**
   * A regular file is created with its final permission bits when the umask keeps them and there
   * are no setuid/setgid/sticky bits (which fchown would clear); otherwise 0600, and `chmod` is
   * what it gets after fchown.
   */
  private fileModes(h: TarHeader): { mode: number; chmod?: number } {
    const mode = h.mode & 0o7777;
    return (mode & 0o7000) === 0 && (mode & this.umask) === 0 ? { mode } : { mode: 0o600, chmod: mode };
  }

  /** The unpack failed: close what is open (the caller removes the directory). */
  abort(): void {
    if (this.file) { try { closeSync(this.file.fd); } catch { /* already failing */ } this.file = undefined; }
  }

  /** Every entry is written: directories get their mtimes, deepest last-made first. */
  finish(): void {
    for (const d of this.dirTimes.reverse()) lutimesSync(d.path, d.mtime, d.mtime);
  }

  private setXattrs(path: string, h: TarHeader): void {
    if (h.xattrs) for (const [k, v] of h.xattrs) this.sys.lsetxattr(path, k, v);
  }

  private applyAttrs(path: string, h: TarHeader, isDir: boolean): void {
    lchownSync(path, h.uid, h.gid);
    if (h.type !== 'symlink') chmodSync(path, h.mode & 0o7777);
    this.setXattrs(path, h);
    if (isDir) this.dirTimes.push({ path, mtime: h.mtime });
    else lutimesSync(path, h.mtime, h.mtime);
  }
}

/** EEXIST from Node's fs (`code`) or from the addon (a BerthError's `errno`). */
function isExists(e: unknown): boolean {
  const x = e as { code?: unknown; errno?: unknown };
  return x.code === 'EEXIST' || x.errno === 'EEXIST';
}
