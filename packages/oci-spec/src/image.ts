/**
 * Schemas of the OCI image spec v1.1 and Docker schema2, as TypeBox definitions:
 * each schema is both the static type (`Static<typeof X>`) and the runtime check,
 * so the two cannot drift. Every object keeps unknown fields
 * (`additionalProperties: true`): berth reads what it knows and passes the rest on.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Digest } from './digest.js';
import { MediaType } from './media-types.js';

/** Marks a schema node with what it expects, for error messages (`not a digest`). */
export const expectKey = 'x-berth-expect';

const open = { additionalProperties: true } as const;

/**
 * A digest as the OCI grammar allows it: registered algorithms must have their exact
 * lowercase-hex encoding, unknown ones only need to fit the grammar. Linear (no nested
 * ambiguous quantifiers: separators and components are disjoint).
 */
const digestPattern =
  '^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}|blake3:[a-f0-9]{64}|(?!(?:sha256|sha512|blake3):)[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$';

/** A digest string (see {@link Digest}). */
export const DigestSchema = Type.Unsafe<Digest>(Type.String({ pattern: digestPattern, [expectKey]: 'a digest' }));

/** An RFC 6838 media type: `type/subtype` with restricted characters. */
export const MediaTypeSchema = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$',
  [expectKey]: 'a media type',
});

/** String-to-string annotations (`org.opencontainers.image.*` keys and others). */
export const AnnotationsSchema = Type.Record(Type.String(), Type.String(), { [expectKey]: 'an object of strings' });
/** String-to-string annotations. */
export type Annotations = Static<typeof AnnotationsSchema>;

const Size = Type.Integer({ minimum: 0, [expectKey]: 'a non-negative integer' });

/** An absolute URI (a scheme, then anything without spaces), as descriptor `urls` need. */
const UrlSchema = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]+$', [expectKey]: 'an absolute URL' });

/** Standard padded base64 (RFC 4648 §4): whole 4-character groups. Fixed-width groups: linear. */
const Base64Schema = Type.String({
  pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
  [expectKey]: 'base64 data',
});

/** An RFC 3339 date-time (`2015-10-31T22:22:56.015925234Z`), as config `created` fields need. */
const DateTimeSchema = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$',
  [expectKey]: 'an RFC 3339 date-time',
});

/** The platform an image runs on. Field names follow the spec (`os.version`, `os.features`). */
export const PlatformSchema = Type.Object(
  {
    architecture: Type.String(),
    os: Type.String(),
    'os.version': Type.Optional(Type.String()),
    'os.features': Type.Optional(Type.Array(Type.String())),
    variant: Type.Optional(Type.String()),
    features: Type.Optional(Type.Array(Type.String())),
  },
  open,
);
/** The platform an image runs on: `linux/arm64/v8` is `{ os: 'linux', architecture: 'arm64', variant: 'v8' }`. */
export type Platform = Static<typeof PlatformSchema>;

/** A content descriptor: what a blob is, its digest and size. */
export const DescriptorSchema = Type.Object(
  {
    mediaType: MediaTypeSchema,
    digest: DigestSchema,
    size: Size,
    urls: Type.Optional(Type.Array(UrlSchema)),
    annotations: Type.Optional(AnnotationsSchema),
    data: Type.Optional(Base64Schema),
    platform: Type.Optional(PlatformSchema),
    artifactType: Type.Optional(MediaTypeSchema),
  },
  open,
);
/** A content descriptor: `{ mediaType, digest, size }`, optionally `urls`, `annotations`, `data`, `platform`, `artifactType`. */
export type Descriptor = Static<typeof DescriptorSchema>;

/** An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`). */
export const ImageManifestSchema = Type.Object(
  {
    schemaVersion: Type.Literal(2),
    mediaType: Type.Optional(Type.Literal(MediaType.OciManifest)),
    artifactType: Type.Optional(MediaTypeSchema),
    config: DescriptorSchema,
    layers: Type.Array(DescriptorSchema),
    subject: Type.Optional(DescriptorSchema),
    annotations: Type.Optional(AnnotationsSchema),
  },
  open,
);
/** An OCI image manifest: a config descriptor and layers, base layer first. */
export type ImageManifest = Static<typeof ImageManifestSchema>;

/** An OCI image index (`application/vnd.oci.image.index.v1+json`). */
export const ImageIndexSchema = Type.Object(
  {
    schemaVersion: Type.Literal(2),
    mediaType: Type.Optional(Type.Literal(MediaType.OciIndex)),
    artifactType: Type.Optional(MediaTypeSchema),
    manifests: Type.Array(DescriptorSchema),
    subject: Type.Optional(DescriptorSchema),
    annotations: Type.Optional(AnnotationsSchema),
  },
  open,
);
/** An OCI image index: manifests, usually one per platform. */
export type ImageIndex = Static<typeof ImageIndexSchema>;

/** A Docker schema2 manifest (`application/vnd.docker.distribution.manifest.v2+json`). */
export const DockerManifestSchema = Type.Object(
  {
    schemaVersion: Type.Literal(2),
    mediaType: Type.Literal(MediaType.DockerManifest),
    config: DescriptorSchema,
    layers: Type.Array(DescriptorSchema),
  },
  open,
);
/** A Docker schema2 manifest: like an OCI manifest, with its mediaType required. */
export type DockerManifest = Static<typeof DockerManifestSchema>;

/** A Docker schema2 manifest list (`application/vnd.docker.distribution.manifest.list.v2+json`). */
export const DockerManifestListSchema = Type.Object(
  {
    schemaVersion: Type.Literal(2),
    mediaType: Type.Literal(MediaType.DockerManifestList),
    manifests: Type.Array(DescriptorSchema),
  },
  open,
);
/** A Docker schema2 manifest list: like an OCI index, with its mediaType required. */
export type DockerManifestList = Static<typeof DockerManifestListSchema>;

/** A healthcheck in an image config (Docker field, reserved by OCI). Durations are nanoseconds. */
export const HealthcheckSchema = Type.Object(
  {
    Test: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()], { [expectKey]: 'an array of strings' })),
    Interval: Type.Optional(Type.Integer()),
    Timeout: Type.Optional(Type.Integer()),
    StartPeriod: Type.Optional(Type.Integer()),
    StartInterval: Type.Optional(Type.Integer()),
    Retries: Type.Optional(Type.Integer()),
  },
  open,
);
/** A healthcheck: `Test` is `["CMD", …]`, `["CMD-SHELL", cmd]` or `["NONE"]`. */
export type Healthcheck = Static<typeof HealthcheckSchema>;

const EmptySet = Type.Record(Type.String(), Type.Object({}, open), { [expectKey]: 'an object of objects' });
const NullableStrings = Type.Union([Type.Array(Type.String()), Type.Null()], { [expectKey]: 'an array of strings' });

/** The execution parameters of an image (the config blob's `config` field). Docker writes `null` for empty lists. */
export const ContainerConfigSchema = Type.Object(
  {
    User: Type.Optional(Type.String()),
    ExposedPorts: Type.Optional(Type.Union([EmptySet, Type.Null()], { [expectKey]: 'an object of objects' })),
    Env: Type.Optional(NullableStrings),
    Entrypoint: Type.Optional(NullableStrings),
    Cmd: Type.Optional(NullableStrings),
    Volumes: Type.Optional(Type.Union([EmptySet, Type.Null()], { [expectKey]: 'an object of objects' })),
    WorkingDir: Type.Optional(Type.String()),
    Labels: Type.Optional(Type.Union([AnnotationsSchema, Type.Null()], { [expectKey]: 'an object of strings' })),
    StopSignal: Type.Optional(Type.String()),
    ArgsEscaped: Type.Optional(Type.Boolean()),
    Memory: Type.Optional(Type.Integer()),
    MemorySwap: Type.Optional(Type.Integer()),
    CpuShares: Type.Optional(Type.Integer()),
    Healthcheck: Type.Optional(HealthcheckSchema),
    OnBuild: Type.Optional(NullableStrings),
    Shell: Type.Optional(NullableStrings),
  },
  open,
);
/** How to run the image: user, env, entrypoint, cmd, working dir, ports, volumes, labels, stop signal. */
export type ContainerConfig = Static<typeof ContainerConfigSchema>;

/** One entry of an image's history. */
export const HistorySchema = Type.Object(
  {
    created: Type.Optional(DateTimeSchema),
    author: Type.Optional(Type.String()),
    created_by: Type.Optional(Type.String()),
    comment: Type.Optional(Type.String()),
    empty_layer: Type.Optional(Type.Boolean()),
  },
  open,
);
/** One entry of an image's history; `empty_layer` entries made no layer. */
export type History = Static<typeof HistorySchema>;

/** The root filesystem of an image: its layers' DiffIDs, base first. */
export const RootFsSchema = Type.Object(
  {
    type: Type.Literal('layers'),
    diff_ids: Type.Array(DigestSchema),
  },
  open,
);
/** The root filesystem of an image: `{ type: 'layers', diff_ids }`. */
export type RootFs = Static<typeof RootFsSchema>;

/** An image config blob (OCI `application/vnd.oci.image.config.v1+json` or Docker's). */
export const ImageConfigSchema = Type.Object(
  {
    created: Type.Optional(DateTimeSchema),
    author: Type.Optional(Type.String()),
    architecture: Type.String(),
    os: Type.String(),
    'os.version': Type.Optional(Type.String()),
    'os.features': Type.Optional(Type.Array(Type.String())),
    variant: Type.Optional(Type.String()),
    config: Type.Optional(ContainerConfigSchema),
    rootfs: RootFsSchema,
    history: Type.Optional(Type.Array(HistorySchema)),
  },
  open,
);
/** An image config blob: platform, `config` (how to run), `rootfs.diff_ids`, `history`. */
export type ImageConfig = Static<typeof ImageConfigSchema>;

/** The `oci-layout` file at the top of an image layout directory. */
export const OciLayoutSchema = Type.Object(
  {
    imageLayoutVersion: Type.String(),
  },
  open,
);
/** The `oci-layout` file: `{ "imageLayoutVersion": "1.0.0" }`. */
export type OciLayout = Static<typeof OciLayoutSchema>;

/** Keys of well-known annotations. */
export const Annotation = {
  /** Name of a reference in an image layout's `index.json` (`ubuntu:22.04` or just `22.04`). */
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  Authors: 'org.opencontainers.image.authors',
  Url: 'org.opencontainers.image.url',
  Documentation: 'org.opencontainers.image.documentation',
  Source: 'org.opencontainers.image.source',
  Version: 'org.opencontainers.image.version',
  Revision: 'org.opencontainers.image.revision',
  Vendor: 'org.opencontainers.image.vendor',
  Licenses: 'org.opencontainers.image.licenses',
  Title: 'org.opencontainers.image.title',
  Description: 'org.opencontainers.image.description',
  BaseImageDigest: 'org.opencontainers.image.base.digest',
  BaseImageName: 'org.opencontainers.image.base.name',
  /** containerd's annotation carrying the full image name in a layout's index. */
  ContainerdImageName: 'io.containerd.image.name',
} as const;

/** The image layout version berth writes. */
export const ociLayoutVersion = '1.0.0';

/** The empty descriptor (content `{}`), used as config of artifacts. */
export const emptyDescriptor: Readonly<Descriptor> = Object.freeze({
  mediaType: MediaType.OciEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest,
  size: 2,
  data: 'e30=',
});

