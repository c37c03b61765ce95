// Bundles the berth CLI into one file, dist/berth.cjs, with esbuild, and puts the native build's
// files beside it (dist/berth_native.node, dist/berth-shim): @berth/native looks for them in the
// directory of the running bundle first, so dist/ is self-contained and can be copied anywhere.
// Workspace packages are bundled from their sources (the `berth-source` condition); native
// addons (better-sqlite3, @berth/native's .node) stay outside and load at run time.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const pkg = JSON.parse(readFileSync(here('./package.json'), 'utf8'));
await build({
  // berth-runtime (our OCI runtime's runc-compatible CLI) ships beside berth: the engine drives
  // containers through it by default (see src/containers/wiring.ts `runtimeBinary`).
  entryPoints: { berth: 'src/bin.ts', 'berth-runtime': '../runtime/src/cli/bin.ts' },
  absWorkingDir: here('.'),
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  conditions: ['berth-source'],
  external: ['better-sqlite3', '*.node'],
  // Sources are ESM; in a CommonJS bundle `import.meta` is empty, so `import.meta.url` is given
  // the bundle's own file URL (what it means in an ES module).
  banner: { js: "#!/usr/bin/env node\nvar __berth_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  define: { BERTH_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__berth_import_meta_url' },
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
});

chmodSync(here('./dist/berth-runtime.cjs'), 0o755);

// The addon and berth-shim from native/build/Release (built by `npm ci` / `npm run build -w native`).
mkdirSync(here('./dist'), { recursive: true });
const missing = [];
for (const [file, mode] of [['berth_native.node', 0o644], ['berth-shim', 0o755]]) {
  const from = here(`../../native/build/Release/${file}`);
  if (!existsSync(from)) {
    missing.push(file);
    continue;
  }
  const to = here(`./dist/${file}`);
  copyFileSync(from, to);
  chmodSync(to, mode);
}
if (missing.length > 0) {
  console.warn(`engine build: ${missing.join(' and ')} not built yet, so dist/ lacks them: run \`npm run build -w native\``);
}
