// Gzip decompression on the calling thread (csrc/inflate.cc), for the layer unpacker: no
// thread-pool round trip per chunk, optionally one output buffer for the whole stream, and the
// CRC-32 skipped when the caller checks a stronger digest of the output anyway.
import { loadAddon, type Addon } from './addon.js';

/** Options of {@link gunzipper}. */
export interface GunzipOptions {
  /** Check each member's CRC-32 and length (default true). Skip it only when the output's digest is checked. */
  readonly check?: boolean;
  /**
   * Yield views of one buffer, overwritten by the next chunk: for a consumer that is done with a
   * chunk before it asks for the next (default false: every chunk is a buffer of its own).
   */
  readonly reuse?: boolean;
  /** Output chunk size (default 256 KiB). */
  readonly chunkSize?: number;
}

let addon: Addon | null | undefined;

/**
 * A gunzip function over async byte streams, or `undefined` when the addon cannot be loaded or
 * this Node does not export zlib to addons; the caller then uses node:zlib. Corrupt data throws
 * `gzip: <zlib's message>`; a stream that ends inside a member throws `gzip: unexpected end of file`.
 * Bytes after the last member that do not begin another are ignored, as node:zlib ignores them.
 */
export function gunzipper(options: GunzipOptions = {}): ((source: AsyncIterable<Uint8Array>) => AsyncGenerator<Buffer>) | undefined {
  if (addon === undefined) {
    try {
      const a = loadAddon();
      addon = a.inflaterAvailable() === true ? a : null;
    } catch {
      addon = null;
    }
  }
  const a = addon;
  if (a === null) return undefined;
  const check = options.check !== false;
  const reuse = options.reuse === true;
  const size = options.chunkSize ?? 256 << 10;
  return async function* gunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
    const inflater = new a.Inflater(check);
    let out = Buffer.allocUnsafe(size);
    try {
      for await (const chunk of source) {
        let offset = 0;
        for (;;) {
          const n = inflater.run(chunk, offset, out);
          offset = inflater.consumed;
          if (n > 0) {
            yield out.subarray(0, n);
            if (!reuse) out = Buffer.allocUnsafe(size);
          }
          if (n < size) break;
        }
      }
      inflater.end();
    } finally {
      inflater.close();
    }
  };
}
