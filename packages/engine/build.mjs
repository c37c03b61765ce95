// Bundles the berth CLI into one file, dist/berth.cjs, with esbuild.
// Workspace packages are bundled from their sources (the `berth-source` condition); native
// addons (better-sqlite3, @berth/native's .node) stay outside and load at run time.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: { berth: 'src/bin.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  conditions: ['berth-source'],
  external: ['better-sqlite3', '*.node'],
  banner: { js: '#!/usr/bin/env node' },
  define: { BERTH_VERSION: JSON.stringify(pkg.version) },
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
});
