// The published form of workspace packages, for tests that check it: each package is built from
// source into a scratch copy (the repository's dist/ is left alone), packed with `npm pack`, and
// installed into an empty folder outside the monorepo, where plain `node` (no tsx, no source
// condition) imports it as a user would.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(process.env['BERTH_REPO'] ?? new URL('../..', import.meta.url).pathname);

/** Runs a command, returning its stdout; npm's update check is off. */
export const sh = (cwd: string, file: string, ...args: string[]): string =>
  execFileSync(file, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

/** A scratch folder holding packed tarballs and an app that installed them. */
export interface PackedInstall {
  /** Tarball paths, in the order of the package names given. */
  readonly tarballs: readonly string[];
  /** The app folder whose node_modules holds the installed packages. */
  readonly app: string;
  /** Runs an ES module `source` with plain node inside the app; returns its stdout. */
  run(source: string): string;
  /** Removes the scratch folder. */
  remove(): void;
}

/** Builds, packs and installs `packages/<name>` for each name (dependencies first). */
export function packAndInstall(names: readonly string[]): PackedInstall {
  const work = mkdtempSync(join(tmpdir(), 'berth-pack-'));
  const tarballs = names.map((name) => {
    const src = join(repo, 'packages', name);
    const dst = join(work, name);
    mkdirSync(dst);
    for (const f of ['package.json', 'README.md']) copyFileSync(join(src, f), join(dst, f));
    sh(repo, process.execPath, join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(src, 'tsconfig.build.json'), '--outDir', join(dst, 'dist'));
    const out = sh(dst, 'npm', 'pack', '--silent', '--pack-destination', work).trim().split('\n').pop() ?? '';
    return join(work, out);
  });
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  sh(app, 'npm', 'install', '--no-audit', '--no-fund', '--silent', ...tarballs);
  return {
    tarballs,
    app,
    run(source) {
      writeFileSync(join(app, 'check.mjs'), source);
      return sh(app, process.execPath, 'check.mjs');
    },
    remove: () => rmSync(work, { recursive: true, force: true }),
  };
}
