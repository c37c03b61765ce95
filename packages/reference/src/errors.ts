/**
 * The typed error of the reference grammar. Its `kind` names the failure as the
 * reference implementation (distribution/reference, go-digest) does; its `code` is
 * always InvalidArgument.
 */
import { BerthError, ErrorCode } from '@berth/errors';

/** Why a string is not a valid reference, after distribution/reference's error values. */
export const ReferenceErrorKind = {
  /** `ErrReferenceInvalidFormat`: the string does not follow the grammar. */
  ReferenceInvalidFormat: 'ReferenceInvalidFormat',
  /** `ErrNameContainsUppercase`: the repository path has upper-case letters. */
  NameContainsUppercase: 'NameContainsUppercase',
  /** `ErrNameTooLong`: the repository path is longer than 255 characters. */
  NameTooLong: 'NameTooLong',
  /** `ErrNameEmpty`: the string is empty. */
  NameEmpty: 'NameEmpty',
  /** `ErrNameNotCanonical`: {@link parseNamed} was given a name that is not already canonical. */
  NameNotCanonical: 'NameNotCanonical',
  /** `ErrTagInvalidFormat`: the tag is not 1–128 of `[A-Za-z0-9_.-]` starting with `[A-Za-z0-9_]`. */
  TagInvalidFormat: 'TagInvalidFormat',
  /** `ErrDigestInvalidFormat`: the digest does not follow the grammar or is not lowercase hex. */
  DigestInvalidFormat: 'DigestInvalidFormat',
  /** go-digest's `ErrDigestInvalidLength`: the hex part has the wrong length for its algorithm. */
  DigestInvalidLength: 'DigestInvalidLength',
  /** `ErrDigestUnsupported`: the digest's algorithm is not sha256, sha384 or sha512. */
  DigestUnsupported: 'DigestUnsupported',
} as const;
/** One of the kinds of {@link ReferenceErrorKind}. */
export type ReferenceErrorKind = (typeof ReferenceErrorKind)[keyof typeof ReferenceErrorKind];

/** Quote user input for a message, cut short so a hostile megabyte never lands in a log. */
export function quote(s: string, max = 80): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s);
}

/** The error every function of @berth/reference throws for bad input (code InvalidArgument). Not named `ReferenceError`, which would shadow the JS built-in. */
export class InvalidReferenceError extends BerthError {
  override readonly name: string = 'InvalidReferenceError';
  /** What is wrong, as the reference implementation names it. */
  readonly kind: ReferenceErrorKind;
  /** The string that was refused (possibly long: do not log it whole). */
  readonly input: string;

  constructor(kind: ReferenceErrorKind, input: string, message: string) {
    super(ErrorCode.InvalidArgument, message, { detail: { kind } });
    this.kind = kind;
    this.input = input;
  }
}

/** True when `e` is an {@link InvalidReferenceError}, optionally of the given kind. */
export function isReferenceError(e: unknown, kind?: ReferenceErrorKind): e is InvalidReferenceError {
  return e instanceof InvalidReferenceError && (kind === undefined || e.kind === kind);
}
