/**
 * A passive tar scanner that keeps the raw bytes of PAX `SCHILY.xattr.*` records, per entry.
 *
 * tar-stream decodes PAX values as UTF-8, which mangles binary xattrs such as
 * `security.capability`. The unpacker feeds the same tar bytes through this scanner (ahead of
 * tar-stream) and takes each entry's xattrs from here, by the entry's ordinal.
 *
 *   512-byte header ─┬─ typeflag 'x' → PAX records (may carry size=, SCHILY.xattr.name=value)
 *                    ├─ 'g', 'L', 'K' → metadata, skipped
 *                    └─ anything else → entry #n (xattrs of the preceding 'x' apply to it)
 *   data padded to 512
 */

function octal(b: Buffer): number {
  if ((b[0] ?? 0) & 0x80) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + (b[i] ?? 0);
    return n;
  }
  const s = b.toString('latin1').replace(/\0.*$/, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** Parses PAX records (`<len> <key>=<value>\n`), values as raw bytes. */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(buf.toString('latin1', off, sp), 10);
    if (!(len > 0) || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

/** Follows a tar stream chunk by chunk; `xattrs(n)` gives entry n's raw PAX xattrs. */
export class PaxXattrScanner {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;
  private capture = -1; // bytes of a PAX body still to collect (-1: not collecting)
  private paxBody: Buffer[] = [];
  private pending: Map<string, Buffer> | undefined;
  private pendingSize: number | undefined;
  private count = 0;
  private readonly found = new Map<number, Map<string, Buffer>>();

  /** Raw xattrs (name without the `SCHILY.xattr.` prefix → value) of entry `n` (0-based), if any. */
  xattrs(n: number): Map<string, Buffer> | undefined {
    return this.found.get(n);
  }

  push(chunk: Uint8Array): void {
    let c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (c.length > 0) {
      if (this.capture >= 0) {
        const take = Math.min(this.capture, c.length);
        this.paxBody.push(Buffer.from(c.subarray(0, take)));
        this.capture -= take;
        c = c.subarray(take);
        if (this.capture === 0) {
          this.capture = -1;
          const recs = parsePaxRecords(Buffer.concat(this.paxBody));
          this.paxBody = [];
          const x = new Map<string, Buffer>();
          for (const [k, v] of recs) if (k.startsWith('SCHILY.xattr.')) x.set(k.slice('SCHILY.xattr.'.length), v);
          this.pending = x.size > 0 ? x : undefined;
          const size = recs.get('size');
          this.pendingSize = size === undefined ? undefined : Number(size.toString('latin1'));
        }
        continue;
      }
      if (this.skip > 0) {
        const take = Math.min(this.skip, c.length);
        this.skip -= take;
        c = c.subarray(take);
        continue;
      }
      const need = 512 - this.buf.length;
      this.buf = Buffer.concat([this.buf, c.subarray(0, need)]);
      c = c.subarray(Math.min(need, c.length));
      if (this.buf.length < 512) return;
      const h = this.buf;
      this.buf = Buffer.alloc(0);
      if (h.every((b) => b === 0)) continue;
      const type = String.fromCharCode(h[156] ?? 0);
      const size = octal(h.subarray(124, 136));
      const padded = (n: number) => Math.ceil(n / 512) * 512;
      if (type === 'x') {
        this.capture = size;
        this.skip = padded(size) - size;
        if (size === 0) { this.capture = -1; this.pending = undefined; }
        // The capture runs first, then the padding is skipped.
        continue;
      }
      if (type === 'g' || type === 'L' || type === 'K') { this.skip = padded(size); continue; }
      if (this.pending) this.found.set(this.count, this.pending);
      this.count++;
      const dataSize = this.pendingSize ?? size;
      this.pending = undefined;
      this.pendingSize = undefined;
      // As tar-stream reads it: a directory has no data whatever its size field says; others have `size` bytes.
      this.skip = type === '5' ? 0 : padded(dataSize);
    }
  }
}
