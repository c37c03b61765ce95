/**
 * The distribution reference grammar, as a hand-written scanner: every check is one
 * left-to-right pass, so the cost is linear in the input whatever it holds (regular
 * expressions with nested quantifiers backtrack catastrophically on hostile names).
 *
 *   reference          := name [ ":" tag ] [ "@" digest ]
 *   name               := [domain "/"] remote-name
 *   domain             := host [":" port-number]
 *   host               := domain-name | "[" IPv6address "]"
 *   domain-name        := domain-component ("." domain-component)*
 *   domain-component   := /[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]/
 *   port-number        := /[0-9]+/
 *   remote-name        := path-component ("/" path-component)*
 *   path-component     := alpha-numeric (separator alpha-numeric)*
 *   alpha-numeric      := /[a-z0-9]+/
 *   separator          := /[_.]|__|[-]+/
 *   tag                := /[\w][\w.-]{0,127}/
 *   digest             := algorithm ":" hex
 *   algorithm          := component ([-_+.] component)*
 *   component          := /[A-Za-z][A-Za-z0-9]{0,}/
 *   hex                := /[0-9a-fA-F]{32,}/
 *   identifier         := /[a-f0-9]{64}/
 *
 * When a name has a "/", its first component is the domain if it fits the domain
 * grammar and the rest fits remote-name (the regex engine's leftmost-first choice).
 *
 * Why not one big regex: the grammar's natural regex nests quantifiers
 * (`[a-z0-9]+(?:sep[a-z0-9]+)*`), and V8's backtracking engine can go quadratic or worse
 * on such patterns. Each check here is instead a look at the first and last character
 * plus one or two *searches* for something forbidden (a character outside the set, or a
 * forbidden pair of neighbours): such a search has no quantifier at all, never
 * backtracks, and stops at the first hit, so it is one linear pass. (A hand-written
 * charCodeAt loop is linear too, but several times slower than V8's regex engine on a
 * megabyte; an anchored `^[set]+$` backtracks over the whole run when it fails at the end.)
 */


const alnum = /^[a-zA-Z0-9]$/;

/**
 * Neighbours no remote-name holds: two separators in a row other than "__" and "--",
 * three underscores, or a separator next to "/" (an empty or badly bounded component).
 * Each alternative starts with a literal, so V8 skips ahead between candidates.
 */
const remoteBadPair = /\.[._/-]|_[./-]|-[._/]|\/[._/-]|___/;
/** A character outside the remote-name set; the same with upper case allowed. Few ranges: fast. */
const notRemoteChar = /[^a-z0-9._/-]/;
const notRemoteCharFolded = /[^a-zA-Z0-9._/-]/;
const upperLetter = /^[A-Z]$/;
const upper = /[A-Z]/;

/** How a string fares as a remote-name. */
export type RemoteCheck = 'valid' | 'uppercase' | 'invalid';

/**
 * Check a remote-name (path components of [a-z0-9] runs joined by ".", "_", "__" or "-"+,
 * separated by "/"): `valid`, `uppercase` (valid once lower-cased), or `invalid`.
 * With `upperWins`, any upper-case letter means `uppercase` whatever else is wrong (Docker's
 * normalized parsing checks case first). Two linear searches for a valid name.
 */
export function checkRemoteName(s: string, upperWins = false): RemoteCheck {
  if (s.length === 0 || !alnum.test(s.charAt(0)) || !alnum.test(s.charAt(s.length - 1))) {
    return upperWins && upper.test(s) ? 'uppercase' : 'invalid';
  }
  // The first character outside the lower-case set; any upper-case letter is at or after it.
  const i = s.search(notRemoteChar);
  if (upperWins && i >= 0 && upper.test(s.slice(i))) return 'uppercase';
  if (remoteBadPair.test(s)) return 'invalid';
  if (i < 0) return 'valid';
  // The first odd character: upper case is only fatal if nothing worse follows.
  if (!upperLetter.test(s.charAt(i))) return 'invalid';
  return s.slice(i).search(notRemoteCharFolded) < 0 ? 'uppercase' : 'invalid';
}

/** The check of `a + "/" + b` from the checks of `a` and `b`. */
export function joinChecks(a: RemoteCheck, b: RemoteCheck): RemoteCheck {
  if (a === 'invalid' || b === 'invalid') return 'invalid';
  return a === 'uppercase' || b === 'uppercase' ? 'uppercase' : 'valid';
}

/** True when s is a remote-name (a repository path without domain). */
export function isRemoteName(s: string): boolean {
  return checkRemoteName(s) === 'valid';
}

/** What no domain-name holds: a character outside [a-zA-Z0-9.-]; a dot next to a dot or dash. */
const notDomainChar = /[^a-zA-Z0-9.-]/;
const domainBadPair = /\.[.-]|-\./;
const nonDigit = /[^0-9]/;
const nonIpv6 = /[^a-fA-F0-9:]/;

function isDomainName(s: string): boolean {
  return s.length > 0 && alnum.test(s.charAt(0)) && alnum.test(s.charAt(s.length - 1)) && !domainBadPair.test(s) && !notDomainChar.test(s);
}

/** True when s is a domain: a host (domain-name or bracketed IPv6) with an optional ":port". */
export function isDomain(s: string): boolean {
  let hostEnd: number;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 2 || nonIpv6.test(s.slice(1, close))) return false;
    hostEnd = close + 1;
  } else {
    const colon = s.indexOf(':');
    hostEnd = colon < 0 ? s.length : colon;
    if (!isDomainName(s.slice(0, hostEnd))) return false;
  }
  if (hostEnd === s.length) return true;
  return s.charAt(hostEnd) === ':' && hostEnd + 1 < s.length && !nonDigit.test(s.slice(hostEnd + 1));
}

const tagPattern = /^[\w][\w.-]{0,127}$/;

/** True when `tag` fits the tag grammar: 1–128 of [A-Za-z0-9_.-], not starting with "." or "-". */
export function isTag(tag: string): boolean {
  return tag.length <= 128 && tagPattern.test(tag);
}

/** What no digest algorithm holds: a character outside the set, or a separator not followed by a letter. */
const notAlgorithmChar = /[^A-Za-z0-9_+.-]/;
const algorithmBadPair = /[-_+.][^A-Za-z]/;
const letter = /^[A-Za-z]$/;
const separator = /^[-_+.]$/;
const nonHex = /[^0-9a-fA-F]/;

/** True when `d` fits the reference grammar for digests: algorithm, ":", at least 32 hex digits of either case. */
export function isDigestGrammar(d: string): boolean {
  const colon = d.indexOf(':');
  if (colon <= 0 || d.length - colon - 1 < 32) return false;
  const alg = d.slice(0, colon);
  return letter.test(alg.charAt(0)) && !separator.test(alg.charAt(alg.length - 1)) && !notAlgorithmChar.test(alg) && !algorithmBadPair.test(alg) && !nonHex.test(d.slice(colon + 1));
}

const identifierPattern = /^[a-f0-9]{64}$/;

/** True when `s` is a 64-character lowercase hex identifier (an image ID without `sha256:`). */
export function isIdentifier(s: string): boolean {
  return s.length === 64 && identifierPattern.test(s);
}
