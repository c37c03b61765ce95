/**
 * CLI start-up: `node packages/engine/dist/berth.cjs version` against `node -e 0`, the floor
 * any Node program pays. Builds the engine bundle first when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bench, childEnv, type BenchOptions, type BenchResult } from './harness.js';

const repo = new URL('../..', import.meta.url).pathname;
const bundle = join(repo, 'packages/engine/dist/berth.cjs');

export const description = 'berth version vs node -e 0 (CLI start-up)';

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  if (!existsSync(bundle)) {
    process.stderr.write('startup: building the engine bundle (npx nx run @berth/engine:build)\n');
    execFileSync('npx', ['nx', 'run', '@berth/engine:build'], { cwd: repo, stdio: 'inherit', env: childEnv() });
  }
  return [await bench('startup: berth version vs node -e 0', [
    { name: 'berth version', argv: [process.execPath, bundle, 'version'] },
    { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  ], { peer: 'node -e 0', ...options })];
}
