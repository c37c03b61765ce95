// The published form works: `npm pack` of @berth/errors and @berth/oci-spec (built from
// source into a scratch copy, so the repository's dist/ is left alone), installed into an
// empty folder outside the monorepo, imported with plain node — no tsx, no source condition.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packAndInstall, sh } from '../../../tools/test/pack.js';

test('npm pack of @berth/oci-spec installs and imports in an empty folder', () => {
  const packed = packAndInstall(['errors', 'oci-spec']);
  try {
    const files = sh(packed.app, 'tar', '-tzf', packed.tarballs[1]!).split('\n');
    assert.ok(files.includes('package/dist/index.js') && files.includes('package/dist/index.d.ts') && files.includes('package/README.md'), files.join(' '));
    assert.not.ok(files.some((f) => f.includes('.test.') || f.includes('/src/')), 'tests or sources packed');
    const got: unknown = JSON.parse(packed.run(`import { parseImageManifest, digestOf, matchPlatform, MediaType, hostPlatform } from '@berth/oci-spec';
const d = digestOf('x');
const m = parseImageManifest({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: d, size: 1 }, layers: [] });
let message;
try { parseImageManifest({ ...m, layers: [{ mediaType: MediaType.OciLayerGzip, digest: 'nope', size: 1 }] }); } catch (e) { message = e.code + ': ' + e.message; }
const best = matchPlatform([{ mediaType: MediaType.OciManifest, digest: d, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } }], { os: 'linux', architecture: 'armhf' });
let deep = 'allowed';
try { await import('@berth/oci-spec/dist/digest.js'); } catch (e) { deep = e.code; }
console.log(JSON.stringify({ digest: d, message, best: best?.platform?.variant, os: hostPlatform().os, deep }));
`));
    assert.equal(got, {
      digest: 'sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
      message: 'InvalidArgument: manifest.layers[0].digest: not a digest',
      best: 'v6',
      os: 'linux',
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  } finally {
    packed.remove();
  }
});

test.run();
