/**
 * CLI start-up: `node packages/engine/dist/berth.cjs version` against `node -e 0`, the floor
 * any Node program pays. Builds the engine bundle first when it is missing.
 */
import { bench, engineBundle, type BenchOptions, type BenchResult } from './harness.js';


export const description = 'berth version vs node -e 0 (CLI start-up)';

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  const bundle = engineBundle('startup');
  return [await bench('startup: berth version vs node -e 0', [
    { name: 'berth version', argv: [process.execPath, bundle, 'version'] },
    { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  ], { peer: 'node -e 0', ...options })];
}
