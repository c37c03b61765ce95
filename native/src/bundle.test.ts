// In a CommonJS bundle (how the engine ships), @berth/native finds the addon and berth-shim
// beside the bundle, and loads the addon from there.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const dir = mkdtempSync(join(tmpdir(), 'berth-bundle-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a CJS bundle resolves the addon and berth-shim from its own directory', async () => {
  const release = join(process.env['BERTH_REPO'] ?? process.cwd(), 'native', 'build', 'Release');
  if (!existsSync(join(release, 'berth_native.node'))) {
    console.log('# skip: the addon is not built (npm run build -w native)');
    return;
  }
  const contents = `
    import { addonPath, shimPath, LinuxSys } from '@berth/native';
    console.log(JSON.stringify({ addon: addonPath(), shim: shimPath(), openat2: typeof new LinuxSys().openat2Available() }));
  `;
  await build({
    stdin: { contents, loader: 'ts', resolveDir: join(release, '..', '..', 'src') },
    outfile: join(dir, 'out', 'app.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    conditions: ['berth-source'],
    banner: { js: "var __berth_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__berth_import_meta_url' },
    logLevel: 'silent',
  });
  for (const f of ['berth_native.node', 'berth-shim']) copyFileSync(join(release, f), join(dir, 'out', f));
  // from another cwd and without BERTH_NATIVE_DIR: only the bundle's location can find them
  const env = { ...process.env };
  delete env['BERTH_NATIVE_DIR'];
  const r = spawnSync(process.execPath, [join(dir, 'out', 'app.cjs')], { cwd: tmpdir(), env, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { addon: join(dir, 'out', 'berth_native.node'), shim: join(dir, 'out', 'berth-shim'), openat2: 'boolean' });
});

test.run();
