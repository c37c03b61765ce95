// Builds berth-runtime: the CLI bundled by esbuild into dist/berth-runtime-main.cjs, run by
// dist/berth-runtime.cjs (src/cli/loader.cjs: it keeps V8's code cache of the bundle, so a start
// does not compile it again; `run` is measured against runc's), and berth-shim beside it (from
// native/build/Release when the native build made it, else compiled here with the C compiler:
// it is one C file and libseccomp), and berth_native.node (the addon) beside them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const pkg = JSON.parse(readFileSync(here('./package.json'), 'utf8'));
mkdirSync(here('./dist'), { recursive: true });
await build({
  entryPoints: { 'berth-runtime-main': 'src/cli/bin.ts' },
  absWorkingDir: here('.'),
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  conditions: ['berth-source'],
  define: { BERTH_VERSION: JSON.stringify(pkg.version) },
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  // @berth/native's locate.ts reads import.meta only when __dirname is missing, never in this CJS bundle.
  logOverride: { 'empty-import-meta': 'silent' },
});
const src = here('../../native/shim/shim.c');
const built = here('../../native/build/Release/berth-shim');
const out = here('./dist/berth-shim');
const cli = here('./dist/berth-runtime.cjs');
copyFileSync(here('./src/cli/loader.cjs'), cli);
// Through a new file and rename: a running berth-shim keeps its old inode (writing over it
// would fail with ETXTBSY).
const tmp = `${out}.${process.pid}.tmp`;
if (existsSync(built) && statSync(built).mtimeMs >= statSync(src).mtimeMs) {
  copyFileSync(built, tmp);
} else {
  execFileSync('cc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-static', '-o', tmp, src, '-lseccomp'], { stdio: 'inherit' });
}
chmodSync(tmp, 0o755);
renameSync(tmp, out);
chmodSync(cli, 0o755);
// The addon beside the bundle too: a foreground `run` becomes berth-shim through its execve (the
// CLI runs the ordinary way when it is missing).
const addon = here('../../native/build/Release/berth_native.node');
if (existsSync(addon)) {
  const t = here(`./dist/berth_native.node.${process.pid}.tmp`);
  copyFileSync(addon, t);
  renameSync(t, here('./dist/berth_native.node'));
}
