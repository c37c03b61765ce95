/**
 * Digests as the store uses them — the `Digest` of @berth/oci-spec, restricted to sha256
 * (the store names files by it) — and diffID/chainID arithmetic per the OCI image spec.
 */
import { invalidArgument } from '@berth/errors';
import { digestOf, hexOf, isDigest as isOciDigest, type Digest } from '@berth/oci-spec';

export { digestOf, hexOf, type Digest };

const sha256Re = /^sha256:[a-f0-9]{64}$/;

/** Parses a sha256 digest (the only algorithm the store keeps). */
export function parseDigest(s: string): Digest {
  if (!sha256Re.test(s)) throw invalidArgument(`invalid digest "${s.slice(0, 200)}": only sha256:<64 lowercase hex digits> is supported`);
  if (!isOciDigest(s)) throw invalidArgument(`invalid digest "${s.slice(0, 200)}"`);
  return s;
}

/** True when `s` is a sha256 digest. */
export function isDigest(s: string): s is Digest {
  return sha256Re.test(s);
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
