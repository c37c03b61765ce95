// Documents written by the real tools of the ecosystem validate: an OCI image layout made by
// umoci, the same image converted to Docker schema2 by skopeo, and runc's default config.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Annotation,
  digestOf,
  hexOf,
  isLayerMediaType,
  layerCompressionOf,
  MediaType,
  parseDigest,
  parseDockerManifest,
  parseImageConfig,
  parseImageManifest,
  parseLayoutIndex,
  parseManifestDocument,
  parseOciLayout,
  parseRuntimeFeatures,
  parseRuntimeSpec,
  type Descriptor,
} from './index.js';

const has = (tool: string): boolean => ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin'].some((d) => existsSync(join(d, tool)));
const run = (cwd: string, file: string, ...args: string[]): string => execFileSync(file, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const dir = mkdtempSync(join(tmpdir(), 'berth-oci-spec-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Read a blob of an OCI layout, checking that its content has the digest and size its descriptor claims. */
function blob(layout: string, d: Descriptor): unknown {
  const bytes = readFileSync(join(layout, 'blobs', 'sha256', hexOf(parseDigest(d.digest))));
  assert.is(digestOf(bytes), d.digest);
  assert.is(bytes.length, d.size);
  return JSON.parse(bytes.toString('utf8'));
}

const tools = has('umoci') && has('skopeo');
if (!tools) console.log('# skip: umoci or skopeo not installed (apt install umoci skopeo)');

(tools ? test : test.skip)('an image layout written by umoci validates: oci-layout, index.json, manifest, config', () => {
  const layout = join(dir, 'oci');
  run(dir, 'umoci', 'init', '--layout', layout);
  run(dir, 'umoci', 'new', '--image', `${layout}:v1`);
  writeFileSync(join(dir, 'hello'), 'hello\n');
  run(dir, 'umoci', 'insert', '--image', `${layout}:v1`, join(dir, 'hello'), '/etc/hello');
  run(dir, 'umoci', 'config', '--image', `${layout}:v1`, '--config.cmd', 'sh', '--config.env', 'A=1', '--config.exposedports', '80/tcp', '--config.volume', '/data', '--config.label', 'x=y', '--config.workingdir', '/srv');

  assert.equal(parseOciLayout(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8'))), { imageLayoutVersion: '1.0.0' });
  const index = parseLayoutIndex(JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')));
  const entry = index.manifests.find((m) => m.annotations?.[Annotation.RefName] === 'v1');
  assert.ok(entry, 'index.json names v1');
  assert.is(entry.mediaType, MediaType.OciManifest);
  const manifest = parseImageManifest(blob(layout, entry));
  assert.is(manifest.layers.length, 1);
  assert.ok(manifest.layers.every((l) => isLayerMediaType(l.mediaType)));
  assert.is(layerCompressionOf(manifest.layers[0]!.mediaType), 'gzip');
  const config = parseImageConfig(blob(layout, manifest.config));
  assert.is(config.rootfs.diff_ids.length, 1);
  assert.equal(config.config?.Cmd, ['sh']);
  assert.ok(config.config?.Env?.includes('A=1'));
  assert.equal(config.config?.ExposedPorts, { '80/tcp': {} });
  assert.is(config.config?.WorkingDir, '/srv');
  assert.is(config.config?.Labels?.['x'], 'y');
  assert.ok((config.history?.length ?? 0) >= 1);
});

(tools ? test : test.skip)('the same image as Docker schema2 (skopeo --format v2s2) validates', () => {
  const out = join(dir, 'v2s2');
  run(dir, 'skopeo', 'copy', '--quiet', '--format', 'v2s2', `oci:${join(dir, 'oci')}:v1`, `dir:${out}`);
  const raw: unknown = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const manifest = parseDockerManifest(raw);
  assert.is(manifest.config.mediaType, MediaType.DockerConfig);
  assert.is(manifest.layers[0]?.mediaType, MediaType.DockerLayerGzip);
  const doc = parseManifestDocument(raw, MediaType.DockerManifest);
  assert.is(doc.kind, 'manifest');
  const config = parseImageConfig(JSON.parse(readFileSync(join(out, hexOf(manifest.config.digest)), 'utf8')));
  assert.equal(config.config?.Cmd, ['sh']);
});

(has('runc') ? test : test.skip)('runc spec writes a config.json that validates, rootless too', () => {
  for (const rootless of [false, true]) {
    const bundle = mkdtempSync(join(dir, 'bundle-'));
    run(bundle, 'runc', 'spec', ...(rootless ? ['--rootless'] : []));
    const spec = parseRuntimeSpec(JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')));
    assert.equal(spec.process?.args, ['sh']);
    assert.ok(spec.linux?.namespaces?.some((n) => n.type === 'mount'));
    assert.ok((spec.linux?.maskedPaths?.length ?? 0) > 0);
    if (rootless) assert.ok(spec.linux?.uidMappings?.length === 1);
  }
});

(has('runc') ? test : test.skip)('runc features validates as a runtime features document', () => {
  const features = parseRuntimeFeatures(JSON.parse(run(dir, 'runc', 'features')));
  assert.ok(features.ociVersionMax.length > 0);
  assert.ok(features.linux?.namespaces?.includes('pid'));
  assert.ok(features.linux?.seccomp?.actions?.includes('SCMP_ACT_ERRNO'));
});

test.run();
