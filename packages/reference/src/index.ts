/**
 * Public API of @berth/reference: the distribution reference grammar
 * `[domain[:port]/]path[:tag][@digest]`, Docker's normalization and familiar forms.
 */
export {
  Reference,
  parse,
  parseNormalized,
  parseDockerRef,
  parseNamed,
  parseAnyReference,
  familiar,
  familiarName,
  withTag,
  withDigest,
  trimNamed,
  isNameOnly,
  isValidPath,
  nameTotalLengthMax,
  defaultDomain,
  legacyDefaultDomain,
  officialRepoPrefix,
  defaultTag,
  type ReferenceParts,
  type AnyReference,
} from './reference.js';
export { InvalidReferenceError, ReferenceErrorKind, isReferenceError } from './errors.js';
export { isTag, isDomain, isIdentifier, isDigestGrammar } from './grammar.js';
