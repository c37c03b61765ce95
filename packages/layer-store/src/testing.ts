/**
 * Test helpers: the real kernel door (LinuxSys from @berth/native) for unpacking, xattr reads,
 * a tar builder and a rejection assertion. Not part of the public API; excluded from the build.
 */
import { LinuxSys } from '@berth/native';
import { pack, type Header } from 'tar-stream';
import type { UnpackSys } from './unpack.js';

const linux = new LinuxSys();

/** The real door: openat2 in-root resolution, mknod, xattrs. */
export const testSys: UnpackSys = linux;

/** Reads an xattr as text (for assertions). */
export function getXattr(path: string, name: string): string | undefined {
  return linux.lgetxattr(path, name)?.toString('utf8');
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
