/**
 * Image names as the store keeps them: fully qualified (`docker.io/library/busybox:latest`,
 * `docker.io/library/busybox@sha256:…`), shown familiar (`busybox:latest`).
 * A small stand-in for @berth/reference's grammar, enough for tags the store records.
 */
import { invalidArgument } from '@berth/errors';

/** A parsed name: repository (`docker.io/library/busybox`) and tag or digest. */
export interface ImageName {
  readonly repo: string;
  readonly tag?: string;
  readonly digest?: string;
}

const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const pathRe = new RegExp(`^${component}(?:/${component})*$`);
const tagRe = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Parses `name[:tag][@digest]`, adding `docker.io/library/` as Docker does. No tag → none (see {@link withDefaultTag}). */
export function parseName(s: string): ImageName {
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); }
  const parts = rest.split('/');
  let domain = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    parts.shift();
  }
  let path = parts.join('/');
  if (domain === 'docker.io' && parts.length === 1) path = `library/${path}`;
  if (!pathRe.test(path) || (tag !== undefined && !tagRe.test(tag)) || (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest))) {
    throw invalidArgument(`invalid reference format: "${s.slice(0, 300)}" is not a valid image name`);
  }
  if (!/^[A-Za-z0-9.-]+(?::\d+)?$/.test(domain)) throw invalidArgument(`invalid reference format: "${s.slice(0, 300)}" has an invalid registry host`);
  return { repo: `${domain}/${path}`, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
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
  return full.replace(/^docker\.io\/library\/(?=[^/]+$|[^/]+[:@])/, '').replace(/^docker\.io\//, '');
}

/** Parses and fully qualifies a name with its default tag: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeName(s: string): string {
  return formatName(withDefaultTag(parseName(s)));
}
