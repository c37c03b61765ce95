// Bundles the berth CLI with esbuild into dist/ and puts the native build's files beside it
// (dist/berth_native.node, dist/berth-shim): @berth/native looks for them in the directory of the
// running bundle first, so dist/ is self-contained and can be copied anywhere. Workspace packages
// are bundled from their sources (the `berth-source` condition); native addons (better-sqlite3,
// @berth/native's .node) stay outside and load at run time.
//
// Start-up speed (`berth version` is measured against `node -e 0`): the CLI is an ES module bundle
// split into chunks (dist/berth-main.mjs and dist/berth-<hash>.mjs), because main.ts loads each
// command group with import() and only esbuild's ESM output keeps those imports lazy: a run
// reads, compiles and evaluates only the chunks its command needs. dist/berth.cjs stays the
// entry point, a few lines that import() berth-main.mjs.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const pkg = JSON.parse(readFileSync(here('./package.json'), 'utf8'));
const common = {
  absWorkingDir: here('.'),
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  conditions: ['berth-source'],
  external: ['better-sqlite3', '*.node'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/**
 * commander requires node:child_process at its top level, for executable subcommands that berth
 * does not use; child_process (with dgram and spawn bindings behind it) is a few ms of every
 * start. This gives commander a `spawn` that loads the real module when called.
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (a) =>
      a.importer.includes('/node_modules/commander/') ? { path: 'child_process', namespace: 'lazy-child-process' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      contents: "module.exports = { spawn: (...a) => require('node:child_process').spawn(...a) };",
      loader: 'js',
    }));
  },
};

const engine = await build({
  ...common,
  entryPoints: { 'berth-main': 'src/bin.ts' },
  format: 'esm',
  splitting: true,
  chunkNames: 'berth-[hash]',
  outExtension: { '.js': '.mjs' },
  // Bundled CommonJS dependencies (commander, tar-stream…) call require() for Node's modules.
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);" },
  define: { BERTH_VERSION: JSON.stringify(pkg.version) },
  plugins: [lazyChildProcessForCommander],
  metafile: true,
});
writeFileSync(here('./dist/berth.cjs'), [
  '#!/usr/bin/env node',
  '// The berth CLI (see build.mjs): the bundle is ES modules beside this file, loaded on demand.',
  "import('./berth-main.mjs').catch((e) => { process.stderr.write(`berth: internal error: ${String(e)}\\n`); process.exitCode = 125; });",
  '',
].join('\n'));
chmodSync(here('./dist/berth.cjs'), 0o755);
// Chunks of earlier builds (their names hash their contents) go once this build's are written.
const written = new Set(Object.keys(engine.metafile.outputs).map((p) => basename(p)));
for (const f of readdirSync(here('./dist'))) {
  if (/^berth-[A-Z0-9]+\.mjs$/.test(f) && !written.has(f)) rmSync(here(`./dist/${f}`), { force: true });
}

// berth-runtime (our OCI runtime's runc-compatible CLI) ships beside berth: the engine drives
// containers through it by default (see src/containers/wiring.ts `runtimeBinary`). One CommonJS
// file: it has no subcommands worth splitting, and CommonJS starts faster than ES modules.
await build({
  ...common,
  entryPoints: { 'berth-runtime': '../runtime/src/cli/bin.ts' },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // Sources are ESM; in a CommonJS bundle `import.meta` is empty, so `import.meta.url` is given
  // the bundle's own file URL (what it means in an ES module).
  banner: { js: "#!/usr/bin/env node\nvar __berth_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  define: { BERTH_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__berth_import_meta_url' },
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
