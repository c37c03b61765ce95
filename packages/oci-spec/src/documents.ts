/**
 * The validators of each document kind. Naming: `parseX(value: unknown, label?)`
 * returns an `X` or throws an InvalidArgument BerthError naming the JSON path of the
 * first bad field; `label` (default: the kind, e.g. `manifest`) starts that path.
 * Beyond the schema they check what JSON Schema cannot: embedded descriptor `data`
 * must match the descriptor's size and digest.
 */
import { invalidArgument } from '@berth/errors';
import { algorithmOf, digestAlgorithms, digestOf } from './digest.js';
import {
  DescriptorSchema,
  DockerManifestListSchema,
  DockerManifestSchema,
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  OciLayoutSchema,
  PlatformSchema,
  type Descriptor,
  type DockerManifest,
  type DockerManifestList,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type OciLayout,
  type Platform,
} from './image.js';
import { MediaType } from './media-types.js';
import { RuntimeFeaturesSchema, RuntimeSpecSchema, RuntimeStateSchema, type RuntimeFeatures, type RuntimeSpec, type RuntimeState } from './runtime.js';
import { quote } from './text.js';
import { invalidDocument, parseWith, type Issue } from './validate.js';

function dataIssue(d: Descriptor, path: string): Issue | undefined {
  if (d.data === undefined) return undefined;
  const bytes = Buffer.from(d.data, 'base64');
  if (bytes.byteLength !== d.size) return { path: `${path}.data`, message: `has ${bytes.byteLength} bytes, size says ${d.size}` };
  const alg = algorithmOf(d.digest);
  if (digestAlgorithms[alg]?.hash !== undefined && digestOf(bytes, alg) !== d.digest) {
    return { path: `${path}.data`, message: 'does not match the digest' };
  }
  return undefined;
}

function checkData(entries: ReadonlyArray<readonly [Descriptor | undefined, string]>): void {
  const issues: Issue[] = [];
  for (const [d, path] of entries) {
    const i = d === undefined ? undefined : dataIssue(d, path);
    if (i) issues.push(i);
  }
  if (issues.length > 0) throw invalidDocument(issues);
}

/** Validate a content descriptor. */
export function parseDescriptor(value: unknown, label = 'descriptor'): Descriptor {
  const d = parseWith(DescriptorSchema, value, label);
  checkData([[d, label]]);
  return d;
}

/** Validate a platform object (`{ architecture, os, variant? … }`); see `normalizePlatform` to canonicalize it. */
export function parsePlatform(value: unknown, label = 'platform'): Platform {
  return parseWith(PlatformSchema, value, label);
}

/** Validate an OCI image manifest. */
export function parseImageManifest(value: unknown, label = 'manifest'): ImageManifest {
  const m = parseWith(ImageManifestSchema, value, label);
  checkData([[m.config, `${label}.config`], ...m.layers.map((l, i) => [l, `${label}.layers[${i}]`] as const), [m.subject, `${label}.subject`]]);
  return m;
}

/** Validate an OCI image index. */
export function parseImageIndex(value: unknown, label = 'index'): ImageIndex {
  const x = parseWith(ImageIndexSchema, value, label);
  checkData([...x.manifests.map((l, i) => [l, `${label}.manifests[${i}]`] as const), [x.subject, `${label}.subject`]]);
  return x;
}

/** Validate a Docker schema2 manifest. */
export function parseDockerManifest(value: unknown, label = 'manifest'): DockerManifest {
  const m = parseWith(DockerManifestSchema, value, label);
  checkData([[m.config, `${label}.config`], ...m.layers.map((l, i) => [l, `${label}.layers[${i}]`] as const)]);
  return m;
}

/** Validate a Docker schema2 manifest list. */
export function parseDockerManifestList(value: unknown, label = 'manifest list'): DockerManifestList {
  const x = parseWith(DockerManifestListSchema, value, label);
  checkData(x.manifests.map((l, i) => [l, `${label}.manifests[${i}]`] as const));
  return x;
}

/** Validate an image config blob (OCI or Docker). */
export function parseImageConfig(value: unknown, label = 'config'): ImageConfig {
  return parseWith(ImageConfigSchema, value, label);
}

/** Validate an image layout's `oci-layout` file. */
export function parseOciLayout(value: unknown, label = 'oci-layout'): OciLayout {
  return parseWith(OciLayoutSchema, value, label);
}

/** Validate an image layout's `index.json` (an OCI image index). */
export function parseLayoutIndex(value: unknown, label = 'index.json'): ImageIndex {
  return parseImageIndex(value, label);
}

/** Validate a runtime bundle's `config.json`. */
export function parseRuntimeSpec(value: unknown, label = 'config'): RuntimeSpec {
  return parseWith(RuntimeSpecSchema, value, label);
}

/** Validate a container state (`berth-runtime state` output, a hook's stdin). */
export function parseRuntimeState(value: unknown, label = 'state'): RuntimeState {
  return parseWith(RuntimeStateSchema, value, label);
}

/** Content types that do not name a manifest kind (some registries and files serve these). */
const genericContentTypes = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/** Validate a runtime's features document (`runc features` output). */
export function parseRuntimeFeatures(value: unknown, label = 'features'): RuntimeFeatures {
  return parseWith(RuntimeFeaturesSchema, value, label);
}

/** A manifest document of any kind berth accepts, told apart by `kind` and `mediaType`. */
export type ManifestDocument =
  | { readonly kind: 'manifest'; readonly mediaType: typeof MediaType.OciManifest; readonly manifest: ImageManifest }
  | { readonly kind: 'manifest'; readonly mediaType: typeof MediaType.DockerManifest; readonly manifest: DockerManifest }
  | { readonly kind: 'index'; readonly mediaType: typeof MediaType.OciIndex; readonly index: ImageIndex }
  | { readonly kind: 'index'; readonly mediaType: typeof MediaType.DockerManifestList; readonly index: DockerManifestList };

/**
 * Validate a manifest or index whose kind comes from `mediaType` (a registry's
 * `Content-Type`, parameters allowed; a generic one such as `application/json` is ignored)
 * or else from the document's own `mediaType`
 * field or shape (`manifests` → index, else manifest). Docker schema1 is refused.
 * When both the header and the document name a media type, they must agree.
 */
export function parseManifestDocument(value: unknown, mediaType?: string, label = 'manifest'): ManifestDocument {
  // A generic Content-Type says nothing about the kind: read it from the body then.
  const given = mediaType?.split(';')[0]?.trim().toLowerCase();
  const header = given === undefined || genericContentTypes.has(given) ? undefined : given;
  const own = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['mediaType'] : undefined;
  const ownType = typeof own === 'string' ? own : undefined;
  if (header !== undefined && ownType !== undefined && header !== ownType) {
    throw invalidArgument(`${label}.mediaType: ${quote(ownType)} does not match the content type ${quote(header)}`);
  }
  let type = header ?? ownType;
  if (type === undefined) {
    const hasManifests = typeof value === 'object' && value !== null && 'manifests' in value;
    type = hasManifests ? MediaType.OciIndex : MediaType.OciManifest;
  }
  switch (type) {
    case MediaType.OciManifest: return { kind: 'manifest', mediaType: type, manifest: parseImageManifest(value, label) };
    case MediaType.DockerManifest: return { kind: 'manifest', mediaType: type, manifest: parseDockerManifest(value, label) };
    case MediaType.OciIndex: return { kind: 'index', mediaType: type, index: parseImageIndex(value, label) };
    case MediaType.DockerManifestList: return { kind: 'index', mediaType: type, index: parseDockerManifestList(value, label) };
    case MediaType.DockerManifestSchema1:
    case MediaType.DockerManifestSchema1Signed:
      throw invalidArgument(`${label}: docker schema1 manifests (${type}) are no longer supported; push the image again with a current docker or podman`, { detail: { mediaType: type } });
    default:
      throw invalidArgument(`${label}: unsupported manifest media type ${quote(type)}`, { detail: { mediaType: type } });
  }
}
