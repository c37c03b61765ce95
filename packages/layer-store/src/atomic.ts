/**
 * The one helper for durable writes: temp file → fsync → rename → fsync(dir).
 * A reader sees either the old file or the whole new one, never a torn write, even
 * after a crash (ext4/xfs order the rename after the data once the file is fsynced).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** fsync a directory so a rename or unlink inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** A temp name beside `path` (same filesystem, so rename is atomic): `<dir>/.<base>.tmp-<random>`. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
}

/** Writes `data` to `path` atomically and durably. Creates the parent directory. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  commitRename(tmp, path);
}

/** Renames a finished, fsynced `tmp` onto `path` and fsyncs the directory. */
export function commitRename(tmp: string, path: string): void {
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}
