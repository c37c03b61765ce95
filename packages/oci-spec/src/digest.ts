/**
 * Content digests: `<algorithm>:<encoded>` as in the OCI image spec's descriptor.md.
 *
 *   digest              ::= algorithm ":" encoded
 *   algorithm           ::= component (separator component)*
 *   component           ::= [a-z0-9]+
 *   separator           ::= [+._-]
 *   encoded             ::= [a-zA-Z0-9=_-]+
 *
 * Registered algorithms constrain `encoded` further (sha256: 64 lowercase hex,
 * sha512: 128). Parsing is a hand-written scan, linear in the input.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BerthError, invalidArgument } from '@berth/errors';
import { quote } from './text.js';

declare const digestBrand: unique symbol;
/** A validated digest string such as `sha256:e3b0…b855`; made only by {@link parseDigest}, {@link digestOf} or a digester. */
export type Digest = string & { readonly [digestBrand]: true };

/** What the registry knows of one digest algorithm. */
export interface DigestAlgorithm {
  /** Name as it appears before the colon. */
  readonly name: string;
  /** Length of the lowercase hex encoding. */
  readonly hexLength: number;
  /** Name of the node:crypto hash, when berth can compute it. */
  readonly hash: string | undefined;
}

/** The registered digest algorithms. `blake3` is recognised (and validated) but cannot be computed here. */
export const digestAlgorithms: Readonly<Record<string, DigestAlgorithm>> = Object.freeze({
  sha256: { name: 'sha256', hexLength: 64, hash: 'sha256' },
  sha512: { name: 'sha512', hexLength: 128, hash: 'sha512' },
  blake3: { name: 'blake3', hexLength: 64, hash: undefined },
});

/** The algorithm berth uses when none is named. */
export const defaultDigestAlgorithm = 'sha256';

/** Why a string is not a digest: `invalid` (bad grammar or encoding) or `unsupported` (unknown algorithm). */
export type DigestErrorKind = 'invalid' | 'unsupported';

/** Options of {@link parseDigest}. */
export interface ParseDigestOptions {
  /** Accept an algorithm outside the registry when it fits the grammar (the OCI spec says validators SHOULD). Default false. */
  readonly allowUnknownAlgorithm?: boolean;
}

const isLowerAlnum = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
const isHexLower = (c: number): boolean => (c >= 0x61 && c <= 0x66) || (c >= 0x30 && c <= 0x39);
const isEncodedChar = (c: number): boolean =>
  isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a) || c === 0x3d /* = */ || c === 0x5f /* _ */ || c === 0x2d; /* - */
const isAlgSeparator = (c: number): boolean => c === 0x2b || c === 0x2e || c === 0x5f || c === 0x2d; // + . _ -

/**
 * Check `s` against the digest grammar and the registry without throwing.
 * Returns `undefined` when valid, else the error kind and a reason.
 */
export function checkDigest(s: string, options: ParseDigestOptions = {}): { kind: DigestErrorKind; reason: string } | undefined {
  const colon = s.indexOf(':');
  if (colon <= 0) return { kind: 'invalid', reason: 'invalid format, expected <algorithm>:<encoded>' };
  // algorithm: components of [a-z0-9]+ joined by single separators
  let prevSep = true;
  for (let i = 0; i < colon; i++) {
    const c = s.charCodeAt(i);
    if (isLowerAlnum(c)) prevSep = false;
    else if (isAlgSeparator(c) && !prevSep) prevSep = true;
    else return { kind: 'invalid', reason: 'invalid algorithm' };
  }
  if (prevSep) return { kind: 'invalid', reason: 'invalid algorithm' };
  const alg = s.slice(0, colon);
  const encLen = s.length - colon - 1;
  if (encLen === 0) return { kind: 'invalid', reason: 'empty encoded part' };
  const known = Object.hasOwn(digestAlgorithms, alg) ? digestAlgorithms[alg] : undefined;
  if (known) {
    if (encLen !== known.hexLength) return { kind: 'invalid', reason: `${alg} needs ${known.hexLength} hex characters, got ${encLen}` };
    for (let i = colon + 1; i < s.length; i++) {
      if (!isHexLower(s.charCodeAt(i))) return { kind: 'invalid', reason: `${alg} needs lowercase hex` };
    }
    return undefined;
  }
  for (let i = colon + 1; i < s.length; i++) {
    if (!isEncodedChar(s.charCodeAt(i))) return { kind: 'invalid', reason: 'invalid encoded part' };
  }
  if (!options.allowUnknownAlgorithm) return { kind: 'unsupported', reason: `unsupported digest algorithm ${quote(alg, 32)}` };
  return undefined;
}

/**
 * Parse a digest. Throws a BerthError (InvalidArgument, `detail.kind` `invalid` or
 * `unsupported`) naming the string: `digest "sha256:abc": sha256 needs 64 hex characters, got 3`.
 */
export function parseDigest(s: unknown, options: ParseDigestOptions = {}): Digest {
  if (typeof s !== 'string') throw invalidArgument(`digest must be a string, got ${typeof s}`, { detail: { kind: 'invalid' } });
  const bad = checkDigest(s, options);
  if (bad) throw invalidArgument(`digest ${quote(s)}: ${bad.reason}`, { detail: { kind: bad.kind } });
  return s as Digest;
}

/** True when `s` is a digest of a registered algorithm with a well-formed encoding (or any grammatical one, with `allowUnknownAlgorithm`). */
export function isDigest(s: unknown, options: ParseDigestOptions = {}): s is Digest {
  return typeof s === 'string' && checkDigest(s, options) === undefined;
}

/** The algorithm part of a digest (`sha256`). */
export function algorithmOf(d: Digest): string {
  return d.slice(0, d.indexOf(':'));
}

/** The encoded (hex) part of a digest, the name of its blob file. */
export function hexOf(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

function hashFor(algorithm: string): Hash {
  const alg = Object.hasOwn(digestAlgorithms, algorithm) ? digestAlgorithms[algorithm] : undefined;
  if (alg?.hash === undefined) {
    throw new BerthError('NotImplemented', `digest algorithm ${quote(algorithm, 32)} cannot be computed; use sha256 or sha512`);
  }
  return createHash(alg.hash);
}

/** The digest of `data` (a string is hashed as UTF-8). */
export function digestOf(data: Uint8Array | string, algorithm: string = defaultDigestAlgorithm): Digest {
  return `${algorithm}:${hashFor(algorithm).update(data).digest('hex')}` as Digest;
}

/** An incremental digest: feed chunks with `update`, read the result with `digest`. */
export interface Digester {
  /** Add a chunk; returns the digester for chaining. */
  update(chunk: Uint8Array | string): Digester;
  /** The digest of everything fed so far; the digester may not be updated afterwards. */
  digest(): Digest;
  /** Bytes fed so far. */
  readonly size: number;
  /** The algorithm in use. */
  readonly algorithm: string;
}

/** A streaming digester for `algorithm` (default sha256). */
export function createDigester(algorithm: string = defaultDigestAlgorithm): Digester {
  const hash = hashFor(algorithm);
  let size = 0;
  let done: Digest | undefined;
  const d: Digester = {
    algorithm,
    get size() { return size; },
    update(chunk) {
      if (done !== undefined) throw new BerthError('FailedPrecondition', 'digester already finished; create a new one');
      size += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      hash.update(chunk);
      return d;
    },
    digest() {
      done ??= `${algorithm}:${hash.digest('hex')}` as Digest;
      return done;
    },
  };
  return d;
}

/** Options of {@link DigestStream}. */
export interface DigestStreamOptions {
  /** Hash algorithm, default sha256. */
  readonly algorithm?: string;
  /** When set, the stream fails at its end unless the content has this digest. */
  readonly expected?: Digest;
  /** When set, the stream fails as soon as more bytes pass, or at its end if fewer did. */
  readonly expectedSize?: number;
}

/**
 * A pass-through Transform that hashes what flows through it. After `finish`,
 * `digest()` and `size` give the result. With `expected` / `expectedSize` it
 * verifies the content and fails with an InvalidArgument BerthError
 * (`detail.kind` `digest-mismatch` or `size-mismatch`) instead of finishing.
 */
export class DigestStream extends Transform {
  readonly #digester: Digester;
  readonly #expected: Digest | undefined;
  readonly #expectedSize: number | undefined;
  #result: Digest | undefined;

  constructor(options: DigestStreamOptions = {}) {
    super();
    const algorithm = options.expected !== undefined ? algorithmOf(options.expected) : (options.algorithm ?? defaultDigestAlgorithm);
    this.#digester = createDigester(algorithm);
    this.#expected = options.expected;
    this.#expectedSize = options.expectedSize;
  }

  /** Bytes that have passed through. */
  get size(): number { return this.#digester.size; }

  /** The digest of the whole content; throws before the stream has finished. */
  digest(): Digest {
    if (this.#result === undefined) throw new BerthError('FailedPrecondition', 'digest stream has not finished yet');
    return this.#result;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this.#digester.update(buf);
    if (this.#expectedSize !== undefined && this.#digester.size > this.#expectedSize) {
      callback(invalidArgument(`content is larger than the expected ${this.#expectedSize} bytes`, { detail: { kind: 'size-mismatch' } }));
      return;
    }
    callback(null, buf);
  }

  override _flush(callback: TransformCallback): void {
    const got = this.#digester.digest();
    if (this.#expectedSize !== undefined && this.#digester.size !== this.#expectedSize) {
      callback(invalidArgument(`content has ${this.#digester.size} bytes, expected ${this.#expectedSize}`, { detail: { kind: 'size-mismatch' } }));
      return;
    }
    if (this.#expected !== undefined && got !== this.#expected) {
      callback(invalidArgument(`content digest ${got} does not match the expected ${this.#expected}`, { detail: { kind: 'digest-mismatch', expected: this.#expected, actual: got } }));
      return;
    }
    this.#result = got;
    callback();
  }
}
