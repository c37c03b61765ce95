/**
 * Image names as the store keeps them: fully qualified (`docker.io/library/busybox:latest`,
 * `docker.io/library/busybox@sha256:…`), shown familiar (`busybox:latest`). The grammar and
 * normalization are @berth/reference's; this module adapts them to the strings the store records.
 */
import { familiar as familiarRef, parseNormalized } from '@berth/reference';

/** A parsed name: repository (`docker.io/library/busybox`) and tag or digest. */
export interface ImageName {
  readonly repo: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Parses `name[:tag][@digest]`, adding `docker.io/library/` as Docker does. No tag → none (see {@link withDefaultTag}). */
export function parseName(s: string): ImageName {
  const r = parseNormalized(s);
  return {
    repo: r.domain === undefined ? r.path : `${r.domain}/${r.path}`,
    ...(r.tag === undefined ? {} : { tag: r.tag }),
    ...(r.digest === undefined ? {} : { digest: r.digest }),
  };
}

/** `name` with `:latest` when it has neither tag nor digest. */
export function withDefaultTag(n: ImageName): ImageName {
  return n.tag === undefined && n.digest === undefined ? { ...n, tag: 'latest' } : n;
}

/** The full string of a name: `docker.io/library/busybox:latest`. */
export function formatName(n: ImageName): string {
  return n.repo + (n.tag === undefined ? '' : `:${n.tag}`) + (n.digest === undefined ? '' : `@${n.digest}`);
}

/** The familiar form of a repository or full name: `docker.io/library/busybox:1` → `busybox:1`. */
export function familiar(full: string): string {
  try {
    return familiarRef(parseNormalized(full));
  } catch {
    return full;
  }
}

/** Parses and fully qualifies a name with its default tag: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeName(s: string): string {
  return formatName(withDefaultTag(parseName(s)));
}
