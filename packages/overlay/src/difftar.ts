/**
 * A container's changes as an OCI layer tar (uncompressed), streamed with backpressure.
 *
 * OCI whiteouts (image-spec layer.md): a deleted name becomes an empty file `.wh.<name>` in its
 * directory; an opaque directory gets an empty `<dir>/.wh..wh..opq` right after its own header.
 * Whiteouts come before their sibling entries (a SHOULD of the spec), directories before their
 * children. Names are relative (`etc/hosts`, `etc/`); a file linked twice within the diff is
 * stored once and then as a hard link.
 */
import { constants, type BigIntStats } from 'node:fs';
import { open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Header, Pack } from 'tar-stream';

type Headers = Partial<Header> & Pick<Header, 'name'>;
import { canceled, failedPrecondition, internal, isBerthError, toBerthError } from '@berth/errors';
import type { Change, SnapshotterSys } from './types.js';
import { isOpaque, isWhiteout, lstatOrNull } from './lower.js';

/** One entry of a diff tar. */
export type TarItem =
  /** A file, directory, link or device, read from `path` on disk; `name` is its tar name (no slash). */
  | { readonly kind: 'entry'; readonly name: string; readonly path: string; readonly stat: BigIntStats }
  /** `name` was deleted: written as `<dir>/.wh.<base>`. */
  | { readonly kind: 'whiteout'; readonly name: string }
  /** Directory `name` hides the image's children: written as `<name>/.wh..wh..opq`. */
  | { readonly kind: 'opaque'; readonly name: string };

export const whiteoutPrefix = '.wh.';
export const opaqueMarker = '.wh..wh..opq';

function whiteoutName(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? `${whiteoutPrefix}${name}` : `${name.slice(0, slash + 1)}${whiteoutPrefix}${name.slice(slash + 1)}`;
}

const dirFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Opens a directory without following a symlink in its last component. Children are then reached
 * as `/proc/self/fd/<fd>/<name>`: the kernel resolves that through the open directory itself, so
 * a running container that swaps a directory for a symlink (to a host dir) mid-walk is never
 * followed — the walk of an upper dir stays inside it.
 */
async function openDir(path: string): Promise<FileHandle> {
  try {
    return await open(path, dirFlags);
  } catch (e) {
    throw toBerthError(e, `open dir ${path}`);
  }
}

const viaFd = (fh: FileHandle): string => `/proc/self/fd/${fh.fd}`;

/**
 * Opens directory `rel` ('' or 'a/b') below `base` one component at a time, none followed if a
 * symlink; undefined when a component is missing or not a directory.
 */
async function openBeneath(base: string, rel: string): Promise<FileHandle | undefined> {
  let fh = await openDir(base);
  for (const part of rel.split('/').filter((x) => x !== '')) {
    let next: FileHandle;
    try {
      next = await open(`${viaFd(fh)}/${part}`, dirFlags);
    } catch (e) {
      await fh.close();
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
      throw toBerthError(e, `open dir ${base}/${rel}`);
    }
    await fh.close();
    fh = next;
  }
  return fh;
}

/**
 * The items of an overlay upper dir, in tar order: per directory, whiteouts first. `dir` is
 * opened (a symlink refused) and held open while its items are consumed.
 */
export async function* overlayItems(sys: SnapshotterSys, dir: string, rel = ''): AsyncGenerator<TarItem> {
  const fh = await openDir(dir);
  try {
    const here = viaFd(fh);
    const entries: Array<{ name: string; path: string; stat: BigIntStats }> = [];
    for (const n of (await readdir(here)).sort()) {
      const p = `${here}/${n}`;
      const st = await lstatOrNull(p);
      if (st !== null) entries.push({ name: rel === '' ? n : `${rel}/${n}`, path: p, stat: st });
    }
    for (const e of entries) if (isWhiteout(e.stat)) yield { kind: 'whiteout', name: e.name };
    for (const e of entries) {
      if (isWhiteout(e.stat)) continue;
      yield { kind: 'entry', ...e };
      if (e.stat.isDirectory()) {
        if (isOpaque(sys, e.path)) yield { kind: 'opaque', name: e.name };
        yield* overlayItems(sys, e.path, e.name);
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * The items of a change list over a full tree (vfs): added and changed entries read from
 * `upper`, deleted ones as whiteouts, ordered per directory with whiteouts first.
 */
export async function* changeItems(upper: string, changes: readonly Change[]): AsyncGenerator<TarItem> {
  const key = (c: Change): string[] => {
    const parts = c.path.split('/').filter((s) => s !== '');
    if (c.kind === 'D' && parts.length > 0) parts[parts.length - 1] = `\u0000${parts[parts.length - 1] ?? ''}`;
    return parts;
  };
  const cmp = (a: string[], b: string[]): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const x = a[i] ?? '';
      const y = b[i] ?? '';
      if (x !== y) return x < y ? -1 : 1;
    }
    return a.length - b.length;
  };
  const ordered = changes.map((c) => ({ c, k: key(c) })).sort((a, b) => cmp(a.k, b.k));
  for (const { c } of ordered) {
    const name = c.path.replace(/^\/+/, '');
    if (c.kind === 'D') {
      yield { kind: 'whiteout', name };
      continue;
    }
    // The parent is opened component by component (no symlink followed), as in overlayItems.
    const slash = name.lastIndexOf('/');
    const parent = await openBeneath(upper, slash < 0 ? '' : name.slice(0, slash));
    if (parent === undefined) continue; // gone since changes() saw it
    try {
      const path = `${viaFd(parent)}/${name.slice(slash + 1)}`;
      const stat = await lstatOrNull(path);
      if (stat !== null) yield { kind: 'entry', name, path, stat };
    } finally {
      await parent.close();
    }
  }
}

const mtimeOf = (st: BigIntStats): Date => new Date(Number(st.mtimeMs));
const major = (dev: bigint): number => Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
const minor = (dev: bigint): number => Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));

/**
 * The xattrs of `path` as PAX records (`SCHILY.xattr.<name>`), without overlay's own. tar-stream
 * writes PAX values as text, so only printable ASCII values are carried; binary ones (such as
 * security.capability) are left out.
 */
function xattrRecords(sys: SnapshotterSys, path: string): Record<string, string> | undefined {
  if (sys.llistxattr === undefined || sys.lgetxattr === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const name of sys.llistxattr(path)) {
    if (name.startsWith('trusted.overlay.')) continue;
    const v = sys.lgetxattr(path, name);
    if (v === undefined || !v.every((b) => b >= 0x20 && b < 0x7f)) continue;
    out[`SCHILY.xattr.${name}`] = v.toString('latin1');
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

async function writeItem(sys: SnapshotterSys, pack: Pack, item: TarItem, links: Map<string, string>): Promise<void> {
  const add = (h: Headers, content?: Buffer): Promise<void> => new Promise((resolve, reject) => {
    pack.entry(h, content ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
  if (item.kind === 'whiteout') return add({ name: whiteoutName(item.name), type: 'file', mode: 0o600, size: 0 });
  if (item.kind === 'opaque') return add({ name: `${item.name}/${opaqueMarker}`, type: 'file', mode: 0o600, size: 0 });
  const st = item.stat;
  const base: Headers = {
    name: item.name,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: mtimeOf(st),
  };
  const pax = xattrRecords(sys, item.path);
  if (pax !== undefined) base.pax = pax;
  if (st.isDirectory()) return add({ ...base, name: `${item.name}/`, type: 'directory' });
  if (st.isSymbolicLink()) return add({ ...base, type: 'symlink', linkname: await readlink(item.path) });
  if (st.isFIFO()) return add({ ...base, type: 'fifo' });
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    return add({ ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major(st.rdev), devminor: minor(st.rdev) });
  }
  if (!st.isFile()) return; // sockets have no tar form
  if (st.nlink > 1n) {
    const id = `${st.dev}:${st.ino}`;
    const first = links.get(id);
    if (first !== undefined) return add({ ...base, type: 'link', linkname: first });
    links.set(id, item.name);
  }
  const size = Number(st.size);
  if (size === 0) return add({ ...base, type: 'file', size: 0 });
  // Read only the inode the walk saw: a running container could have put a symlink (to a host
  // file) in its place. O_NOFOLLOW refuses a final symlink, O_NONBLOCK a FIFO's wait, and the
  // fd's inode must be the one lstat found, unchanged (inode numbers are reused at once). Directory swaps are not caught: diff a container that
  // is stopped or paused.
  let fh: FileHandle;
  try {
    fh = await open(item.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK); // libuv adds O_CLOEXEC
  } catch (e) {
    throw toBerthError(e, `diff of /${item.name}`);
  }
  const fst = await fh.stat({ bigint: true });
  if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev || fst.size !== st.size || fst.ctimeNs !== st.ctimeNs) {
    await fh.close();
    throw failedPrecondition(`diff of /${item.name}: the file was replaced while being read; stop or pause the container and retry`);
  }
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ ...base, type: 'file', size }, (err) => (err ? reject(err) : resolve()));
    (async () => {
      let written = 0;
      for await (const chunk of fh.createReadStream({ start: 0, end: size - 1 })) {
        const b = chunk as Buffer;
        written += b.length;
        if (!entry.write(b)) await once(entry, 'drain');
      }
      if (written !== size) throw internal(`diff of /${item.name}: file changed size while being read; stop the container and retry`);
      entry.end(undefined); // streamx types require an argument; none is written
    })().catch((e: unknown) => { entry.destroy(e as Error); reject(toBerthError(e, `diff of /${item.name}`)); });
  }).finally(() => fh.close().catch(() => undefined));
}

/** Streams `items` as a tar. Errors (and an aborted `signal`) destroy the stream with a BerthError. */
export function tarStream(sys: SnapshotterSys, items: AsyncIterable<TarItem>, signal?: AbortSignal): Readable {
  const pack = tar.pack();
  const links = new Map<string, string>();
  void (async () => {
    for await (const item of items) {
      if (signal?.aborted) throw canceled('diff tar: canceled', { cause: signal.reason });
      await writeItem(sys, pack, item, links);
    }
    pack.finalize();
  })().catch((e: unknown) => {
    pack.destroy(isBerthError(e) ? e : toBerthError(e, 'diff tar'));
  });
  return Readable.from(pack, { objectMode: false });
}
