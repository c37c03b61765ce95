// Where the native build's files are: the addon and berth-shim.
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failedPrecondition } from '@berth/errors';

/** The addon's file name, as node-gyp builds it and as the engine bundle ships it. */
export const addonFile = 'berth_native.node';
/** The helper executable's file name. */
export const shimFile = 'berth-shim';

/**
 * The directory of the running module. In the engine's CommonJS bundle that is the bundle's own
 * directory (`__dirname`, which esbuild keeps); run from sources (ESM under tsx) or from dist/ it
 * is `native/src` or `native/dist`.
 */
function moduleDir(): string {
  return typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
}

/** Directories searched, in order: $BERTH_NATIVE_DIR, beside the running module, ../build/Release. */
export function searchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  const fromEnv = env['BERTH_NATIVE_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') dirs.push(fromEnv);
  const here = moduleDir();
  dirs.push(here, join(here, '..', 'build', 'Release'));
  return dirs;
}

/** Finds `file` in {@link searchDirs} with access `mode`; exported for tests. */
export function locate(file: string, mode: number, what: string, env: NodeJS.ProcessEnv): string {
  const dirs = searchDirs(env);
  for (const dir of dirs) {
    const path = join(dir, file);
    try {
      accessSync(path, mode);
      return path;
    } catch {
      // not here: try the next directory
    }
  }
  throw failedPrecondition(
    `berth's ${what} is not built: run \`npm run build -w native\` (needs g++, make, python3) ` +
      `or set BERTH_NATIVE_DIR (looked for ${file} in ${dirs.join(', ')})`,
    { detail: { searched: dirs } },
  );
}

/** The path of `berth_native.node`, or a FailedPrecondition error that says how to build it. */
export function addonPath(env: NodeJS.ProcessEnv = process.env): string {
  return locate(addonFile, constants.R_OK, 'native addon', env);
}

/** The path of the `berth-shim` executable, or a FailedPrecondition error that says how to build it. */
export function shimPath(env: NodeJS.ProcessEnv = process.env): string {
  return locate(shimFile, constants.X_OK, 'native helper berth-shim', env);
}
