/**
 * A stand-in `UnpackSys` for tests until @berth/native's LinuxSys lands: in-root resolution
 * walked in TypeScript (lstat/readlink, RESOLVE_IN_ROOT rules), mknod via coreutils, xattrs via
 * python3. Not part of the public API; excluded from the build.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, readlinkSync } from 'node:fs';
import { fromErrno, invalidArgument } from '@berth/errors';
import type { ResolveOptions } from '@berth/native';
import type { UnpackSys } from './unpack.js';
import { pack, type Header } from 'tar-stream';

export function resolveInRootTs(root: string, path: string, options: ResolveOptions = {}): string {
  const stack: string[] = [];
  let todo = path.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift() as string;
    if (c === '..') { stack.pop(); continue; }
    const p = [root, ...stack, c].join('/');
    let st;
    try { st = lstatSync(p); } catch {
      if (todo.length === 0 && options.allowMissingLeaf) return p;
      throw fromErrno(`resolve ${path} in ${root}`, 'ENOENT', { path: p });
    }
    if (st.isSymbolicLink() && !(todo.length === 0 && options.noFollowLeaf)) {
      if (++links > 40) throw fromErrno(`resolve ${path} in ${root}`, 'ELOOP', { path: p });
      const target = readlinkSync(p);
      if (options.mode === 'beneath') throw fromErrno(`resolve ${path} beneath ${root}`, 'EXDEV', { path: p });
      if (target.startsWith('/')) stack.length = 0;
      todo = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...todo];
      continue;
    }
    if (todo.length > 0 && !st.isDirectory()) throw fromErrno(`resolve ${path} in ${root}`, 'ENOTDIR', { path: p });
    stack.push(c);
  }
  return [root, ...stack].join('/');
}

export const testSys: UnpackSys = {
  resolveInRoot: resolveInRootTs,
  mknod(path, mode, major, minor) {
    const type = (mode & 0o170000) === 0o010000 ? 'p' : (mode & 0o170000) === 0o060000 ? 'b' : 'c';
    const args = ['-m', (mode & 0o7777).toString(8), path, type, ...(type === 'p' ? [] : [String(major), String(minor)])];
    const r = spawnSync('mknod', args, { encoding: 'utf8' });
    if (r.status !== 0) throw invalidArgument(`mknod ${path}: ${r.stderr.trim()}`);
  },
  lsetxattr(path, name, value) {
    const r = spawnSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)', path, name, Buffer.from(value).toString('hex')], { encoding: 'utf8' });
    if (r.status !== 0) throw invalidArgument(`lsetxattr ${path} ${name}: ${r.stderr.trim()}`);
  },
};

/** Reads an xattr (for assertions). */
export function getXattr(path: string, name: string): string | undefined {
  const r = spawnSync('python3', ['-c', 'import os,sys\ntry: print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())\nexcept OSError: pass', path, name], { encoding: 'utf8' });
  const out = r.stdout.replace(/\n$/, '');
  return out === '' ? undefined : out;
}

/** Asserts that a promise rejects with a message matching `re`; returns the error. */
export async function rejects(p: Promise<unknown>, re: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof Error) || !re.test(e.message)) throw new Error(`expected rejection matching ${String(re)}, got ${String(e)}`);
    return e;
  }
  throw new Error(`expected rejection matching ${String(re)}, but it resolved`);
}

/** A tar entry for {@link makeTar}. */
export type Entry = Partial<Header> & { name: string; body?: string | Buffer };

/** Builds a tar in memory with tar-stream. */
export async function makeTar(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  p.on('data', (c: unknown) => out.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    const { body, ...h } = e;
    await new Promise<void>((res, rej) => p.entry({ mode: 0o644, mtime: new Date(1_600_000_000_000), ...h } as Header, body ?? '', (err) => (err ? rej(err) : res())));
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}
/** Yields a buffer in 64 KiB chunks. */
export async function* from(b: Buffer): AsyncGenerator<Buffer> { for (let i = 0; i < b.length; i += 65536) yield b.subarray(i, i + 65536); }
