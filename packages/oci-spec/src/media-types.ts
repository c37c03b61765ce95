/**
 * Media types of the OCI image spec v1.1 and of Docker's schema2 formats.
 *
 * Docker's manifest and manifest list are accepted as equivalents of the OCI
 * manifest and index; Docker's layer gzip is interchangeable with the OCI
 * `tar+gzip` layer.
 */
export const MediaType = {
  /** An OCI content descriptor. */
  OciDescriptor: 'application/vnd.oci.descriptor.v1+json',
  /** The `oci-layout` file of an image layout. */
  OciLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  /** An OCI image manifest. */
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  /** An OCI image index. */
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  /** An OCI image config. */
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  /** An uncompressed OCI layer tar. */
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  /** A gzip-compressed OCI layer tar. */
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  /** A zstd-compressed OCI layer tar. */
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Deprecated: an uncompressed layer that must not be pushed elsewhere. */
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  /** Deprecated: a gzip-compressed nondistributable layer. */
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  /** Deprecated: a zstd-compressed nondistributable layer. */
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  /** The empty descriptor's content, `{}`. */
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  /** A Docker schema2 image manifest. */
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  /** A Docker schema2 manifest list. */
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  /** A Docker image config. */
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  /** A gzip-compressed Docker layer tar. */
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** A Docker layer whose blob lives outside the registry (Windows base layers). */
  DockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** An uncompressed Docker layer tar (written by `docker save`, rarely pushed). */
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  /** The Docker schema1 signed manifest: refused, kept to name it in errors. */
  DockerManifestSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  /** The Docker schema1 manifest: refused, kept to name it in errors. */
  DockerManifestSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;
/** One of the media types of {@link MediaType}. */
export type MediaType = (typeof MediaType)[keyof typeof MediaType];

/** The `Accept` header value a registry client sends to get any manifest kind berth understands. */
export const manifestAcceptHeader: string = [
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.OciIndex,
].join(', ');

/** How a layer blob is compressed. */
export type Compression = 'none' | 'gzip' | 'zstd';

const layerCompression: Readonly<Record<string, Compression>> = {
  [MediaType.OciLayer]: 'none',
  [MediaType.OciLayerGzip]: 'gzip',
  [MediaType.OciLayerZstd]: 'zstd',
  [MediaType.OciLayerNondistributable]: 'none',
  [MediaType.OciLayerNondistributableGzip]: 'gzip',
  [MediaType.OciLayerNondistributableZstd]: 'zstd',
  [MediaType.DockerLayerGzip]: 'gzip',
  [MediaType.DockerLayerForeignGzip]: 'gzip',
  [MediaType.DockerLayer]: 'none',
};

/** True for a single-image manifest type (OCI manifest or Docker schema2 manifest). */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** True for a multi-platform index type (OCI index or Docker manifest list). */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/** True for an image config type (OCI or Docker). */
export function isConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciConfig || mediaType === MediaType.DockerConfig;
}

/** True for a layer type berth can unpack (OCI or Docker; tar, gzip or zstd; nondistributable and foreign included). */
export function isLayerMediaType(mediaType: string): boolean {
  return Object.hasOwn(layerCompression, mediaType);
}

/** True for a layer that must not be pushed to another registry (nondistributable or foreign). */
export function isNondistributableMediaType(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.') || mediaType === MediaType.DockerLayerForeignGzip;
}

/** The compression of a layer media type, or `undefined` when `mediaType` is not a known layer type. */
export function layerCompressionOf(mediaType: string): Compression | undefined {
  return Object.hasOwn(layerCompression, mediaType) ? layerCompression[mediaType] : undefined;
}
