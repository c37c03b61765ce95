/**
 * Loads the busybox fixture into a berth store, for the container e2e tests and the benchmark.
 * Uses `berth load -i` when the CLI has it, else layer-store's loader directly (same result).
 *
 *   node --conditions=berth-source --import tsx e2e/containers-fixture.ts <root>
 */
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Store, loadArchive } from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import { fixture } from '../tools/fixtures/index.js';

/** Loads busybox:latest into `root`; `bin` is the bundled berth. */
export async function loadBusybox(root: string, bin?: string): Promise<void> {
  const bb = await fixture('busybox');
  const archive = bb.dockerArchive;
  if (archive === undefined) throw new Error('the busybox fixture has no docker archive');
  if (bin !== undefined) {
    const r = spawnSync(process.execPath, [bin, '--root', root, 'load', '-i', archive], { encoding: 'utf8' });
    if (r.status === 0) return;
    if (!/unknown command/.test(r.stderr)) throw new Error(`berth load failed: ${r.stderr}`);
  }
  const store = Store.open(root, { sys: new LinuxSys() });
  try {
    await loadArchive(store, createReadStream(archive));
  } finally {
    store.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0') && process.argv[2] !== undefined) {
  await loadBusybox(process.argv[2], process.argv[3]);
}
