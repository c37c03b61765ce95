// The published form works: `npm pack` of @berth/errors and @berth/oci-spec (built from
// source into a scratch copy, so the repository's dist/ is left alone), installed into an
// empty folder outside the monorepo, imported with plain node — no tsx, no source condition.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repo = resolve(process.env['BERTH_REPO'] ?? new URL('../../..', import.meta.url).pathname);
const work = mkdtempSync(join(tmpdir(), 'berth-pack-oci-spec-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const sh = (cwd: string, file: string, ...args: string[]): string =>
  execFileSync(file, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

/** Build `packages/<name>` into a scratch copy and pack it; returns the tarball's path. */
function pack(name: string): string {
  const src = join(repo, 'packages', name);
  const dst = join(work, name);
  mkdirSync(dst);
  for (const f of ['package.json', 'README.md']) copyFileSync(join(src, f), join(dst, f));
  sh(repo, process.execPath, join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(src, 'tsconfig.build.json'), '--outDir', join(dst, 'dist'));
  const out = sh(dst, 'npm', 'pack', '--silent', '--pack-destination', work).trim().split('\n').pop() ?? '';
  return join(work, out);
}

test('npm pack of @berth/oci-spec installs and imports in an empty folder', () => {
  const tarballs = ['errors', 'oci-spec'].map(pack);
  const files = sh(work, 'tar', '-tzf', tarballs[1]!).split('\n');
  assert.ok(files.includes('package/dist/index.js') && files.includes('package/dist/index.d.ts') && files.includes('package/README.md'), files.join(' '));
  assert.not.ok(files.some((f) => f.includes('.test.') || f.includes('/src/')), 'tests or sources packed');

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  sh(app, 'npm', 'install', '--no-audit', '--no-fund', '--silent', ...tarballs);
  assert.ok(readdirSync(join(app, 'node_modules/@berth')).includes('oci-spec'));
  writeFileSync(
    join(app, 'check.mjs'),
    `import { parseImageManifest, digestOf, matchPlatform, MediaType, hostPlatform } from '@berth/oci-spec';
const d = digestOf('x');
const m = parseImageManifest({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: d, size: 1 }, layers: [] });
let message;
try { parseImageManifest({ ...m, layers: [{ mediaType: MediaType.OciLayerGzip, digest: 'nope', size: 1 }] }); } catch (e) { message = e.code + ': ' + e.message; }
const best = matchPlatform([{ mediaType: MediaType.OciManifest, digest: d, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } }], { os: 'linux', architecture: 'armhf' });
let deep = 'allowed';
try { await import('@berth/oci-spec/dist/digest.js'); } catch (e) { deep = e.code; }
console.log(JSON.stringify({ digest: d, message, best: best?.platform?.variant, os: hostPlatform().os, deep }));
`,
  );
  const got: unknown = JSON.parse(sh(app, process.execPath, 'check.mjs'));
  assert.equal(got, {
    digest: 'sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
    message: 'InvalidArgument: manifest.layers[0].digest: not a digest',
    best: 'v6',
    os: 'linux',
    deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
  });
});

test.run();
