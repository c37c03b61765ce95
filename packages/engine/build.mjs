// Bundles the berth CLI with esbuild into dist/ and puts the native build's files beside it
// (dist/berth_native.node, dist/berth-shim): @berth/native looks for them in the directory of the
// running bundle first, so dist/ is self-contained and can be copied anywhere. Workspace packages
// are bundled from their sources (the `berth-source` condition), better-sqlite3's JavaScript too;
// native addons (dist/better_sqlite3.node, @berth/native's .node) stay outside and load at run
// time (@berth/layer-store's openDatabase hands better-sqlite3 its addon from beside the bundle).
//
// Start-up speed (`berth version` is measured against `node -e 0`): main.ts loads each command
// group with import(), which esbuild turns into lazily run module wrappers, so a run evaluates
// only the modules its command needs; the bundle is minified, and dist/berth.cjs is a loader
// (../runtime/src/cli/loader.cjs) that runs dist/berth-main.cjs with V8's code cache. So is
// berth-runtime.cjs (berth-runtime-main.cjs).
import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const pkg = JSON.parse(readFileSync(here('./package.json'), 'utf8'));
const common = {
  absWorkingDir: here('.'),
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  conditions: ['berth-source'],
  external: ['*.node'],
  minify: process.env['BERTH_MINIFY'] !== '0', // BERTH_MINIFY=0 for readable profiles
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

/**
 * Node built-ins that only some commands use, yet that modules import at their top (crypto for
 * IDs and digests, zlib for layers, streams, fs/promises, perf_hooks …): each costs ms of every
 * start, `ps` included. In our own sources they become a proxy that requires the real module at
 * its first use; esbuild reads named imports at call time (`(0, m.randomBytes)()`), so nothing
 * changes but when the module loads.
 */
const lazyBuiltins = ['child_process', 'crypto', 'zlib', 'stream', 'stream/promises', 'perf_hooks', 'fs/promises', 'readline', 'net', 'tty', 'events'];
const lazyBuiltinsPlugin = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${lazyBuiltins.map((m) => m.replace('/', '\\/')).join('|')})$`);
    b.onResolve({ filter }, (a) =>
      a.importer.includes('/node_modules/') || a.namespace === 'lazy-builtin' ? undefined : { path: a.path.replace(/^node:/, ''), namespace: 'lazy-builtin' });
    // esbuild's __toESM copies every key a module lists onto a new object whose prototype is
    // the module's prototype (~0.1 ms for crypto's 80 keys; the 37 imports of a `run` took
    // 3-4 ms). This module lists none, and its prototype is a second proxy: a named import,
    // missing from the copy, is read through it from the real module, which loads then.
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (a) => ({
      contents: `let m; const real = () => (m ??= require('node:${a.path}'));
const through = new Proxy({}, { get: (_, k) => real()[k], has: (_, k) => k in real() });
module.exports = new Proxy({}, {
  get: (_, k) => (k === '__esModule' ? undefined : real()[k]),
  has: (_, k) => k in real(),
  ownKeys: () => [],
  getPrototypeOf: () => through,
});`,
      loader: 'js',
    }));
  },
};

// Sources are ESM; in a CommonJS bundle `import.meta` is empty, so `import.meta.url` is given the
// bundle's own file URL (what it means in an ES module).
const importMetaUrl = "var __berth_import_meta_url = require('node:url').pathToFileURL(__filename).href;";
await build({
  ...common,
  entryPoints: {
    'berth-main': 'src/bin.ts', 'berth-runtime-main': '../runtime/src/cli/bin.ts',
    'berth-fast-version': 'src/cli/fast-version.ts', 'berth-fast-ps': 'src/cli/fast-ps.ts', 'berth-fast-inspect': 'src/cli/fast-inspect.ts',
    'berth-fast-images': 'src/cli/fast-images.ts',
    // Layers unpack on worker threads (layer-store's unpack-pool.ts finds it beside the bundle).
    'berth-unpack-worker': '../layer-store/src/unpack-worker.ts',
  },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  banner: { js: importMetaUrl },
  define: { BERTH_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__berth_import_meta_url' },
  plugins: [lazyChildProcessForCommander, lazyBuiltinsPlugin],
});
// berth-runtime (our OCI runtime's runc-compatible CLI) ships beside berth: the engine drives
// containers through it by default (see src/containers/wiring.ts `runtimeBinary`).
for (const bin of ['berth', 'berth-runtime']) {
  copyFileSync(here('../runtime/src/cli/loader.cjs'), here(`./dist/${bin}.cjs`));
  chmodSync(here(`./dist/${bin}.cjs`), 0o755);
}
// What an earlier build (ES module chunks) left.
for (const f of readdirSync(here('./dist'))) {
  if (/^berth-(main|[A-Z0-9]{8})\.mjs$/.test(f)) rmSync(here(`./dist/${f}`), { force: true });
}

// The addon and berth-shim from native/build/Release (built by `npm ci` / `npm run build -w native`),
// and better-sqlite3's addon (built or fetched by its install script).
mkdirSync(here('./dist'), { recursive: true });
const missing = [];
const sqliteAddon = join(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
for (const [file, mode, from] of [
  ['berth_native.node', 0o644, here('../../native/build/Release/berth_native.node')],
  ['berth-shim', 0o755, here('../../native/build/Release/berth-shim')],
  ['better_sqlite3.node', 0o644, sqliteAddon],
]) {
  if (!existsSync(from)) {
    missing.push(file);
    continue;
  }
  // Through a new file and rename: a running berth-shim keeps its old inode (copying over it
  // would fail with ETXTBSY).
  const to = here(`./dist/${file}`);
  const tmp = `${to}.${process.pid}.tmp`;
  copyFileSync(from, tmp);
  chmodSync(tmp, mode);
  renameSync(tmp, to);
}
if (missing.length > 0) {
  const how = missing.map((f) => (f === 'better_sqlite3.node' ? `${f} (\`npm rebuild better-sqlite3\`)` : `${f} (\`npm run build -w native\`)`));
  console.warn(`engine build: not built yet, so dist/ lacks them: ${how.join(', ')}`);
}
