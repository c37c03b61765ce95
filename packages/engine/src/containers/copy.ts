/**
 * `berth cp`: files between a container's root filesystem and the host, both ways, or as a tar
 * stream (`-`). Every path inside the container goes through the kernel door's safe resolver
 * (`resolveInRoot`, openat2 RESOLVE_IN_ROOT): a symlink in the container can never make berth
 * read or write outside the rootfs. Host → container copies resolve each entry on its own and
 * replace a symlink leaf instead of following it.
 */
import {
  copyFileSync, createReadStream, createWriteStream, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync,
  statSync, symlinkSync, chmodSync, lchownSync, type Stats,
} from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { invalidArgument, notFound } from '@berth/errors';

/** The part of the Sys door `cp` needs. */
export interface CopySys {
  resolveInRoot(root: string, path: string, options?: { readonly mode?: 'in-root' | 'beneath'; readonly allowMissingLeaf?: boolean; readonly noFollowLeaf?: boolean }): string;
}

/** Splits `container:path` (a leading `./` or `/` means a host path). */
export function parseCpArg(arg: string): { readonly container?: string; readonly path: string } {
  if (arg === '-' || arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) || '/' };
}

function lstatOrUndefined(p: string): Stats | undefined {
  try { return lstatSync(p); } catch { return undefined; }
}

/** Where a copy of `src` lands, `docker cp` style: into `dst` when it is a directory, else as `dst`. */
function landing(dstIsDir: boolean, dst: string, src: string): string {
  return dstIsDir ? posix.join(dst, basename(src)) : dst;
}

/** Copies a container path out to the host. */
export function copyOut(sys: CopySys, rootfs: string, from: string, to: string): void {
  const src = sys.resolveInRoot(rootfs, from);
  const st = lstatOrUndefined(src);
  if (!st) throw notFound(`could not find ${from} in the container`);
  const dstSt = lstatOrUndefined(to);
  const dest = st.isDirectory() && from.endsWith('/.') ? to : landing(dstSt?.isDirectory() === true, to, from);
  const walk = (s: string, d: string): void => {
    const e = lstatSync(s);
    if (e.isSymbolicLink()) {
      rmSync(d, { force: true });
      symlinkSync(readlinkSync(s), d);
    } else if (e.isDirectory()) {
      mkdirSync(d, { recursive: true, mode: e.mode & 0o7777 });
      for (const name of readdirSync(s)) walk(join(s, name), join(d, name));
    } else if (e.isFile()) {
      copyFileSync(s, d);
      chmodSync(d, e.mode & 0o7777);
    }
  };
  walk(src, dest);
}

/** Copies a host path into the container, resolving every entry inside the rootfs. */
export function copyIn(sys: CopySys, rootfs: string, from: string, to: string): void {
  const st = lstatOrUndefined(from);
  if (!st) throw notFound(`could not find ${from} on the host`);
  let dstIsDir = false;
  try { dstIsDir = statSync(sys.resolveInRoot(rootfs, to)).isDirectory(); } catch { /* missing: copy as that name */ }
  const base = st.isDirectory() && from.endsWith('/.') ? to : landing(dstIsDir, to, from);
  const walk = (s: string, cpath: string): void => {
    const e = lstatSync(s);
    const d = sys.resolveInRoot(rootfs, cpath, { allowMissingLeaf: true, noFollowLeaf: true });
    const cur = lstatOrUndefined(d);
    if (e.isDirectory()) {
      if (cur && !cur.isDirectory()) rmSync(d, { force: true });
      if (!cur || !cur.isDirectory()) mkdirSync(d, { mode: e.mode & 0o7777 });
      for (const name of readdirSync(s)) walk(join(s, name), posix.join(cpath, name));
      return;
    }
    if (cur && (cur.isSymbolicLink() || !cur.isFile())) rmSync(d, { recursive: true, force: true });
    if (e.isSymbolicLink()) symlinkSync(readlinkSync(s), d);
    else if (e.isFile()) {
      copyFileSync(s, d);
      chmodSync(d, e.mode & 0o7777);
    }
  };
  mkdirSync(sys.resolveInRoot(rootfs, dirname(base), { allowMissingLeaf: true }), { recursive: true });
  walk(from, base);
}

/** Writes a tar of a container path to `out` (`berth cp c:/path -`). */
export async function tarOut(sys: CopySys, rootfs: string, from: string, out: Writable): Promise<void> {
  const src = sys.resolveInRoot(rootfs, from);
  if (!lstatOrUndefined(src)) throw notFound(`could not find ${from} in the container`);
  const pack = tarPack();
  const done = pipeline(pack, out);
  const add = async (s: string, name: string): Promise<void> => {
    const e = lstatSync(s);
    const h = { name, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: e.mtime };
    if (e.isSymbolicLink()) pack.entry({ ...h, type: 'symlink', linkname: readlinkSync(s) });
    else if (e.isDirectory()) {
      pack.entry({ ...h, type: 'directory' });
      for (const n of readdirSync(s)) await add(join(s, n), `${name}/${n}`);
    } else if (e.isFile()) {
      const entry = pack.entry({ ...h, type: 'file', size: e.size });
      await pipeline(createReadStream(s), entry);
    }
  };
  await add(src, basename(from) || '.');
  pack.finalize();
  await done;
}

/** Extracts a tar from `input` into a container directory (`berth cp - c:/dir`). */
export async function tarIn(sys: CopySys, rootfs: string, to: string, input: Readable): Promise<void> {
  const dir = sys.resolveInRoot(rootfs, to);
  if (!lstatOrUndefined(dir)?.isDirectory()) throw invalidArgument(`destination ${to} must be an existing directory in the container when copying a tar stream`);
  const extract = tarExtract();
  extract.on('entry', (h, stream, next) => {
    const name = posix.normalize(`/${h.name}`);
    const work = async (): Promise<void> => {
      const d = sys.resolveInRoot(rootfs, posix.join(to, name), { allowMissingLeaf: true, noFollowLeaf: true });
      const cur = lstatOrUndefined(d);
      if (h.type === 'directory') {
        if (!cur?.isDirectory()) { if (cur) rmSync(d, { force: true }); mkdirSync(d, { mode: h.mode ?? 0o755 }); }
        stream.resume();
        return;
      }
      if (cur) rmSync(d, { recursive: true, force: true });
      if (h.type === 'symlink') { symlinkSync(h.linkname ?? '', d); stream.resume(); }
      else if (h.type === 'file') {
        await pipeline(stream, createWriteStream(d, { mode: h.mode ?? 0o644 }));
        try { lchownSync(d, h.uid ?? 0, h.gid ?? 0); } catch { /* keep ours */ }
      } else stream.resume();
    };
    work().then(() => next(), (e: unknown) => next(e as Error));
  });
  try {
    await pipeline(input, extract);
  } catch (e) {
    throw invalidArgument(`cannot extract the tar stream into ${to}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
