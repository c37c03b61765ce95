/**
 * Image references: parse, normalize (Docker's defaults), familiarize, and build.
 *
 *   parse('localhost:5000/foo/bar:tag')   → { domain: 'localhost:5000', path: 'foo/bar', tag: 'tag' }
 *   parseNormalized('busybox')            → docker.io/library/busybox
 *   parseDockerRef('busybox')             → docker.io/library/busybox:latest
 *   familiar(parseDockerRef('busybox'))   → 'busybox:latest'
 */
import { InvalidReferenceError, ReferenceErrorKind, quote } from './errors.js';
import { checkRemoteName, isDigestGrammar, isDomain, isIdentifier, isRemoteName, isTag, joinChecks, type RemoteCheck } from './grammar.js';

/**
 * The longest repository name (`domain/path`) allowed, as distribution's test vectors and
 * the distribution spec's client limit have it (`a/` × 128 + `a` is too long).
 */
export const nameTotalLengthMax = 255;
/** The domain short names resolve to. */
export const defaultDomain = 'docker.io';
/** Docker Hub's legacy domain, normalized to {@link defaultDomain}. */
export const legacyDefaultDomain = 'index.docker.io';
/** The namespace of Docker Hub's official images. */
export const officialRepoPrefix = 'library/';
/** The tag {@link parseDockerRef} adds when a reference has neither tag nor digest. */
export const defaultTag = 'latest';

/** The parts of a reference: `[domain/]path[:tag][@digest]`. */
export interface ReferenceParts {
  readonly domain?: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Hex length of each digest algorithm a reference may carry (go-digest's registered set). */
const digestHexLength: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Builds a Reference from parts already validated; module-private so every Reference is valid. */
let construct: (domain: string | undefined, path: string, tag: string | undefined, digest: string | undefined) => Reference;

/** A parsed, valid image reference. Immutable; `toString()` gives the canonical string, which parses back to an equal reference. */
export class Reference implements ReferenceParts {
  // `declare`: absent parts stay absent (no own key holding undefined).
  declare readonly domain?: string;
  readonly path: string;
  declare readonly tag?: string;
  declare readonly digest?: string;

  /** Use {@link parse}, {@link parseNormalized} or {@link parseDockerRef}; the constructor does not validate. */
  private constructor(domain: string | undefined, path: string, tag: string | undefined, digest: string | undefined) {
    // Positional and conditional, not object spreads: this is the hot path of every parse.
    if (domain !== undefined) this.domain = domain;
    this.path = path;
    if (tag !== undefined) this.tag = tag;
    if (digest !== undefined) this.digest = digest;
    Object.freeze(this);
  }

  static {
    construct = (domain, path, tag, digest) => new Reference(domain, path, tag, digest);
  }

  /** The repository name: `domain/path`, or `path` without a domain. */
  get name(): string {
    return this.domain === undefined ? this.path : `${this.domain}/${this.path}`;
  }

  /** The canonical string `[domain/]path[:tag][@digest]`. */
  toString(): string {
    let s = this.name;
    if (this.tag !== undefined) s += `:${this.tag}`;
    if (this.digest !== undefined) s += `@${this.digest}`;
    return s;
  }

  /** Serializes as its canonical string. */
  toJSON(): string {
    return this.toString();
  }

  /** True when both references have the same parts. */
  equals(other: ReferenceParts): boolean {
    return this.domain === other.domain && this.path === other.path && this.tag === other.tag && this.digest === other.digest;
  }
}

function fail(kind: ReferenceErrorKind, input: string, what: string): never {
  throw new InvalidReferenceError(kind, input, `invalid reference format: ${what}`);
}

/** Validate a digest as distribution/reference + go-digest do; returns a description of the problem or undefined. */
function digestProblem(d: string): { kind: ReferenceErrorKind; what: string } | undefined {
  if (!isDigestGrammar(d)) return { kind: ReferenceErrorKind.DigestInvalidFormat, what: `digest ${quote(d)} must be <algorithm>:<hex>, such as sha256:<64 hex digits>` };
  const colon = d.indexOf(':');
  const alg = d.slice(0, colon);
  const want = Object.hasOwn(digestHexLength, alg) ? digestHexLength[alg] : undefined;
  if (want === undefined) return { kind: ReferenceErrorKind.DigestUnsupported, what: `unsupported digest algorithm ${quote(alg, 32)}; use sha256, sha384 or sha512` };
  if (d.length - colon - 1 !== want) return { kind: ReferenceErrorKind.DigestInvalidLength, what: `${alg} digest must have ${want} hex digits, got ${d.length - colon - 1}` };
  for (let i = colon + 1; i < d.length; i++) {
    const c = d.charCodeAt(i);
    if (c >= 0x41 && c <= 0x46) return { kind: ReferenceErrorKind.DigestInvalidFormat, what: `digest ${quote(d)} must be lowercase hex` };
  }
  return undefined;
}

/**
 * The core parser. The reference is `prefix + "/" + rest` (or just `rest`), where `prefix`
 * (a first component chosen by normalization) holds no "/" and no "@"; with `library`,
 * `library/` comes between them. Taking the pieces apart saves copying a hostile megabyte
 * just to prepend `docker.io/library/`.
 */
function parseCore(input: string, prefix: string | undefined, rest: string, library = false, upperWins = false): Reference {
  // Neither name nor tag may hold "@", nor the digest: the first "@" splits off the digest.
  const at = rest.indexOf('@');
  const left = at < 0 ? rest : rest.slice(0, at);
  const digest = at < 0 ? undefined : rest.slice(at + 1);
  // A path holds no ":" and a domain no "/": so the tag's ":" is the first one after the
  // first "/" (a ":" before it belongs to the domain), or the first one at all without a "/".
  // Forward searches only: they run at memchr speed on hostile input.
  let first: string | undefined = prefix;
  let nameRest: string;
  let tag: string | undefined;
  const colonFrom = prefix === undefined ? Math.max(0, left.indexOf('/')) : 0;
  const colon = left.indexOf(':', colonFrom);
  const name = colon < 0 ? left : left.slice(0, colon);
  if (colon >= 0) tag = left.slice(colon + 1);
  if (prefix === undefined) {
    const slash = name.indexOf('/');
    first = slash > 0 ? name.slice(0, slash) : undefined;
    nameRest = slash > 0 ? name.slice(slash + 1) : name;
  } else {
    nameRest = name;
  }
  if (first === undefined && nameRest === '') fail(ReferenceErrorKind.ReferenceInvalidFormat, input, `${quote(input)} has no repository name`);

  // Only the first component can be a domain. When it is one, the rest alone is the path:
  // the name read as a bare path would contain that same rest, so could not fare better
  // (and the reference regex's leftmost-first match prefers the domain anyway).
  let domain: string | undefined;
  let check: RemoteCheck;
  if (first !== undefined && isDomain(first)) {
    domain = first;
    check = checkRemoteName(nameRest, upperWins);
  } else if (first !== undefined) {
    const restCheck = checkRemoteName(nameRest, upperWins);
    // Docker's case check covers the part after the first component before anything else.
    check = upperWins && restCheck === 'uppercase' ? restCheck : joinChecks(checkRemoteName(first), restCheck);
  } else {
    check = checkRemoteName(nameRest);
  }
  if (check === 'uppercase') fail(ReferenceErrorKind.NameContainsUppercase, input, `repository name ${quote(domain === undefined && first !== undefined ? `${first}/${nameRest.slice(0, 80)}` : nameRest)} must be lowercase`);
  if (check === 'invalid') {
    fail(ReferenceErrorKind.ReferenceInvalidFormat, input, `${quote(input)} is not a valid image name; use [registry[:port]/]name[:tag][@digest] with a lowercase name`);
  }
  // "library/" is a valid component: it changes the path, never the check.
  const tail = library ? officialRepoPrefix + nameRest : nameRest;
  const path = domain === undefined && first !== undefined ? `${first}/${tail}` : tail;
  const nameLength = (domain === undefined ? 0 : domain.length + 1) + path.length;
  if (nameLength > nameTotalLengthMax) {
    fail(ReferenceErrorKind.NameTooLong, input, `repository name must not be more than ${nameTotalLengthMax} characters, got ${nameLength}`);
  }
  if (tag !== undefined && tag.includes('/')) fail(ReferenceErrorKind.ReferenceInvalidFormat, input, `${quote(input)} has a "/" after its tag`);
  if (tag !== undefined && !isTag(tag)) {
    fail(ReferenceErrorKind.TagInvalidFormat, input, `tag ${quote(tag)} must be 1 to 128 characters of [A-Za-z0-9_.-], not starting with "." or "-"`);
  }
  if (digest !== undefined) {
    const bad = digestProblem(digest);
    if (bad) fail(bad.kind, input, bad.what);
  }
  return construct(domain, path, tag, digest);
}

/**
 * Parse a reference exactly as written, with no defaults: `[domain[:port]/]path[:tag][@digest]`.
 * Throws a {@link InvalidReferenceError} whose `kind` says what is wrong.
 */
export function parse(s: string): Reference {
  if (typeof s !== 'string') throw new InvalidReferenceError(ReferenceErrorKind.ReferenceInvalidFormat, String(s), 'invalid reference format: a reference must be a string');
  if (s === '') throw new InvalidReferenceError(ReferenceErrorKind.NameEmpty, s, 'repository name must have at least one component');
  return parseCore(s, undefined, s);
}

const hasUpper = /[A-Z]/;

/**
 * Split a familiar name into Docker's domain and remainder (distribution's splitDockerDomain).
 * `library` says the remainder gets the official `library/` prefix.
 */
function splitDockerDomain(s: string): { domain: string; library: boolean; remainder: string } {
  const slash = s.indexOf('/');
  if (slash < 0) return { domain: defaultDomain, library: true, remainder: s };
  const first = s.slice(0, slash);
  if (first === 'localhost' || first.includes('.') || first.includes(':') || hasUpper.test(first)) {
    const domain = first === legacyDefaultDomain ? defaultDomain : first;
    const remainder = s.slice(slash + 1);
    return { domain, library: domain === defaultDomain && !remainder.includes('/'), remainder };
  }
  return { domain: defaultDomain, library: false, remainder: s };
}

/**
 * Parse a name as the Docker CLI reads it, adding no tag: `busybox` → `docker.io/library/busybox`,
 * `user/app:1` → `docker.io/user/app:1`. The first component is a domain only when it contains
 * "." or ":", is `localhost`, or has an upper-case letter. A bare 64-hex string is refused (it is an ID).
 * Upper case is checked in ASCII: other letters are simply invalid.
 */
export function parseNormalized(s: string): Reference {
  if (typeof s === 'string' && isIdentifier(s)) {
    throw new InvalidReferenceError(ReferenceErrorKind.ReferenceInvalidFormat, s, `invalid repository name ${quote(s)}: cannot specify 64-byte hexadecimal strings; use sha256:<id> for an image ID`);
  }
  if (typeof s !== 'string' || s === '') return parse(s);
  const { domain, library, remainder } = splitDockerDomain(s);
  // Docker refuses upper case anywhere in the remote part (up to the first ":") before parsing;
  // parseCore does that for the path in its own pass (upperWins); only a digest-like rest of
  // the remote part, after an "@", is left to look at here.
  const tagSep = remainder.indexOf(':');
  const remote = tagSep < 0 ? remainder : remainder.slice(0, tagSep);
  const at = remote.indexOf('@');
  if (at >= 0 && hasUpper.test(remote.slice(at))) {
    fail(ReferenceErrorKind.NameContainsUppercase, s, `repository name ${quote(library ? officialRepoPrefix + remote.slice(0, 80) : remote)} must be lowercase`);
  }
  // parseCore needs a prefix without "@"; such a first component is garbage anyway: take the slow road.
  if (domain.includes('@')) {
    if (hasUpper.test(remote)) fail(ReferenceErrorKind.NameContainsUppercase, s, `repository name ${quote(remote)} must be lowercase`);
    return parse(`${domain}/${library ? officialRepoPrefix : ''}${remainder}`);
  }
  return parseCore(s, domain, remainder, library, true);
}

/**
 * Parse a reference with all of Docker's defaults: normalized, `:latest` added when there is
 * neither tag nor digest, and only the digest kept when both are given (the digest is what resolves).
 */
export function parseDockerRef(s: string): Reference {
  const r = parseNormalized(s);
  if (r.digest !== undefined) return r.tag === undefined ? r : construct(r.domain, r.path, undefined, r.digest);
  if (r.tag === undefined) return construct(r.domain, r.path, defaultTag, undefined);
  return r;
}

/** Parse a name that must already be canonical (`docker.io/library/busybox`, not `busybox`): {@link ReferenceErrorKind.NameNotCanonical} otherwise. */
export function parseNamed(s: string): Reference {
  const r = parseNormalized(s);
  if (r.toString() !== s) throw new InvalidReferenceError(ReferenceErrorKind.NameNotCanonical, s, `repository name ${quote(s)} must be canonical (${quote(r.toString())})`);
  return r;
}

/** The short form the Docker CLI shows: `docker.io/library/ubuntu:22.04` → `ubuntu:22.04`, `docker.io/user/app` → `user/app`. */
export function familiar(ref: ReferenceParts): string {
  const f = familiarParts(ref);
  return construct(f.domain, f.path, ref.tag, ref.digest).toString();
}

/** The short name without tag or digest: `docker.io/library/ubuntu:22.04` → `ubuntu`. */
export function familiarName(ref: ReferenceParts): string {
  const { domain, path } = familiarParts(ref);
  return domain === undefined ? path : `${domain}/${path}`;
}

function familiarParts(ref: ReferenceParts): { domain: string | undefined; path: string } {
  if (ref.domain !== defaultDomain) return { domain: ref.domain, path: ref.path };
  const rest = ref.path.startsWith(officialRepoPrefix) ? ref.path.slice(officialRepoPrefix.length) : undefined;
  return { domain: undefined, path: rest !== undefined && !rest.includes('/') ? rest : ref.path };
}

/** The same repository with `tag` (a digest, if any, is kept). Throws {@link ReferenceErrorKind.TagInvalidFormat}. */
export function withTag(ref: ReferenceParts, tag: string): Reference {
  if (!isTag(tag)) {
    throw new InvalidReferenceError(ReferenceErrorKind.TagInvalidFormat, tag, `invalid tag format: ${quote(tag)} must be 1 to 128 characters of [A-Za-z0-9_.-], not starting with "." or "-"`);
  }
  return construct(ref.domain, ref.path, tag, ref.digest);
}

/** The same repository with `digest` (a tag, if any, is kept). Throws a digest kind of {@link ReferenceErrorKind}. */
export function withDigest(ref: ReferenceParts, digest: string): Reference {
  const bad = digestProblem(digest);
  if (bad) throw new InvalidReferenceError(bad.kind, digest, `invalid digest format: ${bad.what}`);
  return construct(ref.domain, ref.path, ref.tag, digest);
}

/** The repository alone, without tag or digest. */
export function trimNamed(ref: ReferenceParts): Reference {
  return construct(ref.domain, ref.path, undefined, undefined);
}

/** True when the reference has neither tag nor digest. */
export function isNameOnly(ref: ReferenceParts): boolean {
  return ref.tag === undefined && ref.digest === undefined;
}

/** What a user typed where an image is expected: a full or short image ID, a bare digest, or a named reference. */
export type AnyReference =
  | { readonly kind: 'digest'; readonly digest: string }
  | { readonly kind: 'named'; readonly reference: Reference };

/**
 * Parse an image ID (64 hex → `sha256:…`), a digest (`sha256:…`), or else a normalized
 * name, as distribution's ParseAnyReference does.
 */
export function parseAnyReference(s: string): AnyReference {
  if (isIdentifier(s)) return { kind: 'digest', digest: `sha256:${s}` };
  if (isDigestGrammar(s) && digestProblem(s) === undefined) return { kind: 'digest', digest: s };
  return { kind: 'named', reference: parseNormalized(s) };
}

/** True when `s` is a valid repository path (`library/busybox`) of at most 255 characters, with no domain, tag or digest. */
export function isValidPath(s: string): boolean {
  return s.length <= nameTotalLengthMax && isRemoteName(s);
}
