import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  isConfigMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isNondistributableMediaType,
  layerCompressionOf,
  manifestAcceptHeader,
  MediaType,
} from './index.js';

test('media types are the spec strings', () => {
  assert.is(MediaType.OciManifest, 'application/vnd.oci.image.manifest.v1+json');
  assert.is(MediaType.OciIndex, 'application/vnd.oci.image.index.v1+json');
  assert.is(MediaType.OciLayerZstd, 'application/vnd.oci.image.layer.v1.tar+zstd');
  assert.is(MediaType.DockerManifestList, 'application/vnd.docker.distribution.manifest.list.v2+json');
  assert.is(MediaType.DockerLayerForeignGzip, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip');
});

test('kinds and compression of each media type', () => {
  assert.ok(isManifestMediaType(MediaType.DockerManifest) && isManifestMediaType(MediaType.OciManifest));
  assert.not.ok(isManifestMediaType(MediaType.OciIndex));
  assert.ok(isIndexMediaType(MediaType.DockerManifestList) && isIndexMediaType(MediaType.OciIndex));
  assert.ok(isConfigMediaType(MediaType.DockerConfig) && isConfigMediaType(MediaType.OciConfig));
  const layers: Array<[string, string]> = [
    [MediaType.OciLayer, 'none'],
    [MediaType.OciLayerGzip, 'gzip'],
    [MediaType.OciLayerZstd, 'zstd'],
    [MediaType.OciLayerNondistributable, 'none'],
    [MediaType.OciLayerNondistributableGzip, 'gzip'],
    [MediaType.OciLayerNondistributableZstd, 'zstd'],
    [MediaType.DockerLayerGzip, 'gzip'],
    [MediaType.DockerLayerForeignGzip, 'gzip'],
    [MediaType.DockerLayer, 'none'],
  ];
  for (const [t, c] of layers) {
    assert.ok(isLayerMediaType(t), t);
    assert.is(layerCompressionOf(t), c);
  }
  assert.not.ok(isLayerMediaType(MediaType.OciConfig));
  assert.is(layerCompressionOf('toString'), undefined);
  assert.ok(isNondistributableMediaType(MediaType.OciLayerNondistributableZstd));
  assert.ok(isNondistributableMediaType(MediaType.DockerLayerForeignGzip));
  assert.not.ok(isNondistributableMediaType(MediaType.OciLayerGzip));
  for (const t of [MediaType.DockerManifest, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.OciIndex]) assert.ok(manifestAcceptHeader.includes(t));
});

test.run();
