/**
 * The blob store: content-addressed, verified while it streams in.
 *
 *   $root/blobs/sha256/<hex>     finished blobs, immutable, named by their digest
 *   $root/tmp/ingest-<ref>       partial ingests (resumable when the caller names a ref)
 *
 * A blob becomes visible only by the rename at the end of {@link FileBlobStore.ingest},
 * after its digest and size were checked and its data fsynced: an unverified byte is never
 * under blobs/. Ingests of one digest in one process share one write; two processes
 * racing on one digest both verify and the second rename is a no-op replace of equal bytes.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, renameSync, writeSync, readdirSync, rmSync, statSync, type ReadStream } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { canceled, invalidArgument, notFound } from '@berth/errors';
import { fsyncDir } from './atomic.js';
import { hexOf, isDigest, parseDigest, type Digest } from './digest.js';

/** What the store knows of a blob. */
export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

/** Options of an ingest: what the bytes must hash to, how many there are, and a ref to resume by. */
export interface IngestOptions {
  /** Expected digest; the ingest fails (and nothing is kept) when the bytes differ. */
  readonly digest?: Digest;
  /** Expected size in bytes; the ingest fails as soon as more arrive, or when fewer did. */
  readonly size?: number;
  /**
   * Names a resumable ingest: its partial bytes stay in `tmp/` after a failure, and a later
   * ingest with the same ref appends to them — the stream then starts at {@link Ingester.offset}.
   */
  readonly ref?: string;
  readonly signal?: AbortSignal;
}

/** Reads blobs. */
export interface ContentReader {
  has(digest: Digest): boolean;
  /** Size of a blob; throws NotFound when it is absent. */
  info(digest: Digest): BlobInfo;
  /** A stream of the blob's bytes (from `start`); throws NotFound when it is absent. */
  open(digest: Digest, options?: { readonly start?: number }): ReadStream;
  /** The blob's bytes, for small blobs (manifests, configs). */
  read(digest: Digest): Buffer;
  /** Every stored blob's digest. */
  list(): Digest[];
}

/** Writes blobs. */
export interface Ingester {
  ingest(source: AsyncIterable<Uint8Array>, options?: IngestOptions): Promise<BlobInfo>;
  /** Stores bytes already in memory. */
  write(data: string | Uint8Array, options?: { readonly digest?: Digest }): Promise<BlobInfo>;
  /** How many bytes of the resumable ingest `ref` are already written (0 if none). */
  offset(ref: string): number;
  /** Drops a resumable ingest's partial bytes. */
  abort(ref: string): void;
}

/** A content store: reader, ingester, and delete. */
export interface ContentStore extends ContentReader, Ingester {
  /** Removes a blob (no-op when absent). Deletion is GC's job: see `collectGarbage`. */
  delete(digest: Digest): void;
}

const refRe = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}$/;

/** The file-system content store under `$root/blobs` and `$root/tmp`. */
export class FileBlobStore implements ContentStore {
  readonly blobsDir: string;
  readonly tmpDir: string;
  private readonly inflight = new Map<string, Promise<BlobInfo>>();

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.tmpDir = join(root, 'tmp');
  }

  /** The path of a blob's file (it may not exist). */
  path(digest: Digest): string {
    return join(this.blobsDir, hexOf(digest));
  }

  has(digest: Digest): boolean {
    try {
      return statSync(this.path(digest)).isFile();
    } catch {
      return false;
    }
  }

  info(digest: Digest): BlobInfo {
    try {
      return { digest, size: statSync(this.path(digest)).size };
    } catch {
      throw notFound(`blob ${digest} not found in the content store`);
    }
  }

  open(digest: Digest, options: { readonly start?: number } = {}): ReadStream {
    if (!this.has(digest)) throw notFound(`blob ${digest} not found in the content store`);
    return createReadStream(this.path(digest), options.start === undefined ? {} : { start: options.start });
  }

  read(digest: Digest): Buffer {
    this.info(digest);
    return readFileSync(this.path(digest));
  }

  list(): Digest[] {
    let names: string[];
    try { names = readdirSync(this.blobsDir); } catch { return []; }
    return names.map((n) => `sha256:${n}`).filter(isDigest);
  }

  delete(digest: Digest): void {
    rmSync(this.path(digest), { force: true });
    try { fsyncDir(this.blobsDir); } catch { /* dir absent */ }
  }

  offset(ref: string): number {
    try { return statSync(this.partialPath(ref)).size; } catch { return 0; }
  }

  abort(ref: string): void {
    rmSync(this.partialPath(ref), { force: true });
  }

  /**
   * The first `length` bytes already written to the resumable ingest `ref` — what a resumed
   * download replays to a consumer (an unpacker) that needs the whole stream.
   */
  readPartial(ref: string, length: number): ReadStream {
    if (length <= 0) return createReadStream(this.partialPath(ref), { start: 0, end: -1 });
    return createReadStream(this.partialPath(ref), { start: 0, end: length - 1 });
  }

  /** The refs of every resumable ingest with bytes in `tmp/` (finished or not, any process's). */
  partialRefs(): string[] {
    let names: string[];
    try { names = readdirSync(this.tmpDir); } catch { return []; }
    return names.filter((n) => n.startsWith('ingest-') && refRe.test(n.slice('ingest-'.length))).map((n) => n.slice('ingest-'.length));
  }

  /**
   * Takes over resumable ingest `from` as `to` (a rename, atomic): the bytes of a dead process's
   * download become this one's. False when `from` is gone (another process took it first).
   */
  adoptPartial(from: string, to: string): boolean {
    try {
      renameSync(this.partialPath(from), this.partialPath(to));
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return false;
      throw e;
    }
  }

  async write(data: string | Uint8Array, options: { readonly digest?: Digest } = {}): Promise<BlobInfo> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.ingest((async function* () { yield buf; })(), { size: buf.length, ...(options.digest ? { digest: options.digest } : {}) });
  }

  async ingest(source: AsyncIterable<Uint8Array>, options: IngestOptions = {}): Promise<BlobInfo> {
    const { digest } = options;
    if (digest !== undefined) {
      parseDigest(digest);
      // Already stored, or being written by another ingest here: the work is done once.
      if (this.has(digest)) {
        await drain(source);
        return this.info(digest);
      }
      const running = this.inflight.get(digest);
      if (running) {
        await drain(source);
        return running;
      }
      const p = this.lockedIngest(digest, source, options);
      this.inflight.set(digest, p);
      try { return await p; } finally { this.inflight.delete(digest); }
    }
    return this.doIngest(source, options);
  }

  /**
   * Across processes, one ingest per digest: `tmp/lock-<hex>` (O_EXCL, holding the writer's pid)
   * marks the one doing the work; the others wait for the blob, or take over from a dead writer.
   */
  private async lockedIngest(digest: Digest, source: AsyncIterable<Uint8Array>, options: IngestOptions): Promise<BlobInfo> {
    mkdirSync(this.tmpDir, { recursive: true });
    const lock = join(this.tmpDir, `lock-${hexOf(digest)}`);
    for (;;) {
      let fd: number | undefined;
      try { fd = openSync(lock, 'wx'); } catch (e) { if ((e as { code?: string }).code !== 'EEXIST') throw e; }
      if (fd !== undefined) {
        try {
          writeSync(fd, String(process.pid));
          closeSync(fd);
          if (this.has(digest)) { await drain(source); return this.info(digest); }
          return await this.doIngest(source, options);
        } finally {
          rmSync(lock, { force: true });
        }
      }
      let owner = 0;
      try { owner = Number(readFileSync(lock, 'utf8')); } catch { continue; }
      if (owner > 0 && !pidAlive(owner)) { rmSync(lock, { force: true }); continue; }
      if (this.has(digest)) { await drain(source); return this.info(digest); }
      if (options.signal?.aborted) throw canceled(`ingest of ${digest} canceled`, { cause: options.signal.reason });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private partialPath(ref: string): string {
    if (!refRe.test(ref)) throw invalidArgument(`ingest ref "${ref}" is not valid: use letters, digits and _.:-`);
    return join(this.tmpDir, `ingest-${ref}`);
  }

  private async doIngest(source: AsyncIterable<Uint8Array>, options: IngestOptions): Promise<BlobInfo> {
    const { ref, size: expectedSize, digest: expected, signal } = options;
    mkdirSync(this.tmpDir, { recursive: true });
    mkdirSync(this.blobsDir, { recursive: true });
    const tmp = ref === undefined ? join(this.tmpDir, `ingest-anon-${process.pid}-${randomBytes(6).toString("hex")}`) : this.partialPath(ref);
    const hash = createHash('sha256');
    let size = 0;
    if (ref !== undefined) size = await hashExisting(tmp, hash);
    const fh = await open(tmp, 'a', 0o644);
    const out = new Appender(fh);
    let ok = false;
    try {
      for await (const chunk of source) {
        if (signal?.aborted) throw canceled(`ingest of ${expected ?? 'blob'} canceled`, { cause: signal.reason });
        size += chunk.length;
        if (expectedSize !== undefined && size > expectedSize) {
          throw invalidArgument(`blob ${expected ?? ''} is larger than its declared size ${expectedSize}: refusing it`.replace('  ', ' '));
        }
        hash.update(chunk);
        await out.add(chunk);
      }
      await out.done();
      if (signal?.aborted) throw canceled(`ingest of ${expected ?? 'blob'} canceled`, { cause: signal.reason });
      const got = `sha256:${hash.digest('hex')}` as Digest;
      if (expectedSize !== undefined && size !== expectedSize) {
        throw invalidArgument(`blob ${expected ?? got}: got ${size} bytes, expected ${expectedSize}: the source is truncated`);
      }
      if (expected !== undefined && got !== expected) {
        throw invalidArgument(`blob digest mismatch: expected ${expected}, got ${got}: the source is corrupt`);
      }
      await fh.sync();
      await fh.close();
      ok = true;
      await rename(tmp, this.path(got));
      fsyncDir(this.blobsDir);
      return { digest: got, size };
    } catch (e) {
      // What arrived before a cut is kept for the resume: the queued writes finish first.
      await out.done().catch(() => undefined);
      if (!ok) await fh.close().catch(() => undefined);
      // A verification failure discards the bytes; an interrupted resumable ingest keeps them.
      const verifyFailed = e instanceof Error && /mismatch|truncated|larger than/.test(e.message);
      if (ref === undefined || verifyFailed) await rm(tmp, { force: true });
      throw e;
    }
  }
}

/**
 * Appends chunks to a file in order with one `writev` in flight at a time; what arrives while
 * it runs goes in the next one. A chunk-by-chunk `await write` costs a thread-pool round trip
 * per network chunk (~2,000 for a 126 MB layer) and held a pull's download to that pace.
 * `add` resolves at once unless more than {@link appendLimit} bytes wait, then once they are
 * written; a write error is thrown by the next `add` or by `done`.
 */
class Appender {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private running: Promise<void> | undefined;
  private error: { e: unknown } | undefined;

  constructor(private readonly fh: FileHandle) {}

  async add(chunk: Uint8Array): Promise<void> {
    this.check();
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.running ??= this.drain();
    if (this.queued > appendLimit) await this.running;
    this.check();
  }

  /** Every added chunk is written (or the first write error is thrown). */
  async done(): Promise<void> {
    while (this.running) await this.running;
    this.check();
  }

  private check(): void {
    if (this.error) throw this.error.e;
  }

  /** Never rejects: a failure is kept for `add`/`done`, and what is still queued is dropped. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.error) {
        const bufs = this.queue;
        this.queue = [];
        this.queued = 0;
        await writeAll(this.fh, bufs);
      }
    } catch (e) {
      this.error = { e };
      this.queue = [];
      this.queued = 0;
    } finally {
      this.running = undefined;
    }
  }
}

/** Bytes an {@link Appender} lets wait before `add` waits for the disk. */
const appendLimit = 4 << 20;

async function writeAll(fh: FileHandle, bufs: Uint8Array[]): Promise<void> {
  let rest = bufs;
  while (rest.length > 0) {
    let n = (await fh.writev(rest)).bytesWritten;
    // A short write (rare for a regular file): continue after the bytes that made it.
    let i = 0;
    while (i < rest.length && n >= (rest[i] as Uint8Array).length) n -= (rest[i++] as Uint8Array).length;
    rest = i < rest.length && n > 0 ? [(rest[i] as Uint8Array).subarray(n), ...rest.slice(i + 1)] : rest.slice(i);
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
}

async function hashExisting(path: string, hash: Hash): Promise<number> {
  let size = 0;
  try { await stat(path); } catch { return 0; }
  for await (const chunk of createReadStream(path)) {
    const b = chunk as Buffer;
    hash.update(b);
    size += b.length;
  }
  return size;
}

async function drain(source: AsyncIterable<Uint8Array>): Promise<void> {
  const s = source as AsyncIterable<Uint8Array> & { destroy?: () => void; return?: () => Promise<unknown> };
  if (typeof s.destroy === 'function') { s.destroy(); return; }
  if (typeof s.return === 'function') { await s.return(); return; }
  for await (const _ of source) { /* discard */ }
}
