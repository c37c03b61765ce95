/**
 * A synchronous, push-style tar reader: bytes go in by `write`, entries come out by callback,
 * with no stream, promise or copy per entry — a layer of 10,000 small files is parsed in the
 * time its bytes take to pass. It reads what tar-stream reads, the same way (so the unpacked
 * tree does not change), and keeps PAX values as raw bytes (binary xattrs survive):
 *
 *   512-byte header (checksum checked; magic "ustar\0" (POSIX, name = prefix/name) or
 *                    "ustar  \0" (GNU); an all-zero block is skipped)
 *     typeflag 'x'  PAX records for the next entry (path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*)
 *              'g'  PAX records for every later entry
 *              'L'  GNU long name of the next entry, 'K' its long link name
 *     else          an entry: `onEntry(header)`, then its `size` bytes (none for a directory)
 *                   by `onData`, then `onEntryEnd`; or, for a regular file whose bytes are all
 *                   in the chunk at hand, `onFile(header, bytes)` when the sink has it
 *   data padded to 512
 *
 * Errors are thrown from `write`/`end` as plain Errors (the unpacker names them).
 */

/** Entry types, named as tar-stream names them. */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'contiguous-file';

/** One entry's header, PAX and GNU long names applied. */
export interface TarHeader {
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch, PAX fractions kept to the millisecond (as tar-stream's Date). */
  readonly mtime: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** `SCHILY.xattr.<name>` PAX records: name → raw value. */
  readonly xattrs: ReadonlyMap<string, Buffer> | undefined;
}

/** What the reader calls. */
export interface TarSink {
  onEntry(h: TarHeader): void;
  onData(chunk: Buffer): void;
  onEntryEnd(): void;
  /**
   * A regular file whose data is all in the chunk being read: called instead of
   * onEntry/onData/onEntryEnd when the sink has it (a file made in one go).
   */
  onFile?(h: TarHeader, data: Buffer): void;
}

const types: Record<string, TarEntryType | undefined> = {
  '0': 'file', '\0': 'file', '1': 'link', '2': 'symlink', '3': 'character-device', '4': 'block-device',
  '5': 'directory', '6': 'fifo', '7': 'contiguous-file',
};
/** A PAX or GNU long header larger than this is refused (as tar-stream does). */
const maxMetaSize = 1 << 20;

function str(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** A numeric field: octal text, or base-256 when the high bit of the first byte is set. */
function num(b: Buffer, off: number, len: number): number {
  const first = b[off] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw new Error('negative number in a tar header');
    let n = first & 0x7f;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + (b[i] ?? 0);
    return n;
  }
  let i = off;
  const end = off + len;
  while (i < end && b[i] === 0x20) i++;
  let n = 0;
  for (; i < end; i++) {
    const c = b[i] ?? 0;
    if (c < 0x30 || c > 0x37) break;
    n = n * 8 + (c - 0x30);
  }
  return n;
}

function checksum(b: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += b[i] ?? 0;
  for (let i = 156; i < 512; i++) sum += b[i] ?? 0;
  return sum;
}

const ustar = Buffer.from('ustar\0', 'latin1');
const gnu = Buffer.from('ustar ', 'latin1');
const gnuVersion = Buffer.from(' \0', 'latin1');

/** Reads a tar stream pushed to it, calling `sink` for each entry (see the module comment). */
export class TarReader {
  private head = Buffer.alloc(512);
  private headLen = 0;
  /** Bytes of the current entry's (or meta header's) data still to come. */
  private dataLeft = 0;
  /** Padding still to skip after the data. */
  private padLeft = 0;
  /** Collecting a PAX/GNU meta body (its type) rather than entry data. */
  private meta: { type: string; parts: Buffer[] } | undefined;
  private inEntry = false;
  private pax: Map<string, Buffer> | undefined;
  private paxGlobal: Map<string, Buffer> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;

  constructor(private readonly sink: TarSink) {}

  write(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.dataLeft > 0) {
        const take = Math.min(this.dataLeft, n - off);
        const part = chunk.subarray(off, off + take);
        off += take;
        this.dataLeft -= take;
        if (this.meta) this.meta.parts.push(Buffer.from(part));
        else this.sink.onData(part);
        if (this.dataLeft === 0) this.endData();
        continue;
      }
      if (this.padLeft > 0) {
        const take = Math.min(this.padLeft, n - off);
        off += take;
        this.padLeft -= take;
        continue;
      }
      // A header: straight from the chunk when it is all there, else gathered.
      let h: Buffer;
      if (this.headLen === 0 && n - off >= 512) {
        h = chunk.subarray(off, off + 512);
        off += 512;
      } else {
        const take = Math.min(512 - this.headLen, n - off);
        chunk.copy(this.head, this.headLen, off, off + take);
        this.headLen += take;
        off += take;
        if (this.headLen < 512) return;
        this.headLen = 0;
        h = this.head;
      }
      const entry = this.header(h);
      if (entry === undefined) continue;
      // A directory has no data whatever its size says (tar-stream reads it so).
      const data = entry.type === 'directory' ? 0 : entry.size;
      this.padLeft = pad(data);
      if (this.sink.onFile !== undefined && (entry.type === 'file' || entry.type === 'contiguous-file') && n - off >= data) {
        this.sink.onFile(entry, chunk.subarray(off, off + data));
        off += data;
        continue;
      }
      this.inEntry = true;
      this.sink.onEntry(entry);
      this.dataLeft = data;
      if (data === 0) this.endData();
    }
  }

  /** The stream ended: throws when it ended inside an entry or a header. */
  end(): void {
    if (this.headLen > 0 || this.dataLeft > 0 || this.meta !== undefined || this.inEntry) throw new Error('unexpected end of data');
  }

  private endData(): void {
    const m = this.meta;
    if (m) {
      this.meta = undefined;
      const body = Buffer.concat(m.parts);
      if (m.type === 'x') this.pax = parsePaxRecords(body);
      else if (m.type === 'g') this.paxGlobal = parsePaxRecords(body);
      else if (m.type === 'L') this.longName = str(body, 0, body.length);
      else this.longLink = str(body, 0, body.length);
      return;
    }
    this.inEntry = false;
    this.sink.onEntryEnd();
  }

  /** Reads a header block: the entry it begins, or undefined (a meta header, an all-zero block). */
  private header(h: Buffer): TarHeader | undefined {
    const sum = checksum(h);
    if (sum === 8 * 0x20) return undefined; // an all-zero block (end of archive)
    if (sum !== num(h, 148, 8)) throw new Error('invalid tar header (bad checksum): is the tar corrupt?');
    const isUstar = h.compare(ustar, 0, 6, 257, 263) === 0;
    const isGnu = !isUstar && h.compare(gnu, 0, 6, 257, 263) === 0 && h.compare(gnuVersion, 0, 2, 263, 265) === 0;
    if (!isUstar && !isGnu) throw new Error('invalid tar header: unknown format');
    const flag = String.fromCharCode(h[156] ?? 0);
    const size = num(h, 124, 12);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > maxMetaSize) throw new Error(`tar ${flag} header of ${size} bytes exceeds the ${maxMetaSize}-byte limit`);
      this.meta = { type: flag, parts: [] };
      this.dataLeft = size;
      this.padLeft = pad(size);
      if (size === 0) this.endData();
      return undefined;
    }
    let name = str(h, 0, 100);
    if (isUstar && h[345] !== 0) name = `${str(h, 345, 155)}/${name}`;
    let type = types[flag];
    if (type === undefined) throw Object.assign(new Error(`unsupported tar entry type ${JSON.stringify(flag)}`), { unsupportedType: flag, entryName: name });
    if (type === 'file' && name.endsWith('/')) type = 'directory'; // old tars mark directories by a trailing slash
    let linkname = h[157] === 0 ? '' : str(h, 157, 100);
    let entrySize = size;
    let uid = num(h, 108, 8);
    let gid = num(h, 116, 8);
    let mtime = num(h, 136, 12);
    if (this.longName !== undefined) { name = this.longName; this.longName = undefined; }
    if (this.longLink !== undefined) { linkname = this.longLink; this.longLink = undefined; }
    let xattrs: Map<string, Buffer> | undefined;
    const pax = this.paxGlobal && this.pax ? new Map([...this.paxGlobal, ...this.pax]) : this.pax ?? this.paxGlobal;
    this.pax = undefined;
    if (pax) {
      const text = (k: string): string | undefined => pax.get(k)?.toString('utf8');
      const p = text('path');
      if (p) name = p;
      const l = text('linkpath');
      if (l) linkname = l;
      const s = text('size');
      if (s) entrySize = parseInt(s, 10);
      const u = text('uid');
      if (u && /^\d+$/.test(u)) uid = Number(u);
      const g = text('gid');
      if (g && /^\d+$/.test(g)) gid = Number(g);
      const t = text('mtime');
      if (t !== undefined && /^\d+(\.\d+)?$/.test(t)) mtime = Math.trunc(Number(t) * 1000) / 1000;
      for (const [k, v] of pax) {
        if (k.startsWith('SCHILY.xattr.')) (xattrs ??= new Map()).set(k.slice('SCHILY.xattr.'.length), v);
      }
    }
    if (!(entrySize >= 0) || !Number.isSafeInteger(entrySize)) throw new Error('invalid tar header: bad size');
    return {
      name, type, mode: num(h, 100, 8), uid, gid, size: entrySize, mtime, linkname,
      devmajor: num(h, 329, 8), devminor: num(h, 337, 8), xattrs,
    };
  }
}

/** Parses PAX records (`<len> <key>=<value>\n`), values as raw bytes (binary xattrs stay intact). */
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

function pad(n: number): number {
  return (512 - (n % 512)) % 512;
}
