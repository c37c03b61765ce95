/**
 * Digests as the store uses them: `sha256:<64 hex>`, branded, made by {@link parseDigest};
 * diffIDs and chainIDs per the OCI image spec.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from '@berth/errors';

/** A validated `sha256:<64 lowercase hex>` digest. */
export type Digest = string & { readonly __brand: 'Digest' };

const sha256Re = /^sha256:[a-f0-9]{64}$/;

/** Parses a digest; only sha256 is stored (the algorithm every registry and tool uses). */
export function parseDigest(s: string): Digest {
  if (!sha256Re.test(s)) throw invalidArgument(`invalid digest "${s.slice(0, 200)}": only sha256:<64 lowercase hex digits> is supported`);
  return s as Digest;
}

/** True when `s` is a sha256 digest. */
export function isDigest(s: string): s is Digest {
  return sha256Re.test(s);
}

/** The hex part of a digest. */
export function hexOf(d: Digest): string {
  return d.slice(7);
}

/** sha256 digest of bytes or a string. */
export function digestOf(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/**
 * ChainIDs of a layer stack (image-spec config.md): ChainID(L0) = DiffID(L0),
 * ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)).
 */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIDs) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : digestOf(`${prev} ${d}`));
  }
  return out;
}
