import type { Command } from 'commander';
import { printRows } from '../output.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupMode } from '@berth/runtime';
import { Store } from '@berth/layer-store';
import type { Context } from '../context.js';
import { version } from './version.js';

/** The storage driver berth uses on this kernel: overlay when the kernel has overlayfs. */
export function storageDriver(): 'overlay' | 'vfs' {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')) ? 'overlay' : 'vfs';
  } catch {
    return 'vfs';
  }
}

function countEntries(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch {
    return 0;
  }
}

/** Image and layer counts from the store (zero when it was never created; info never creates it). */
function storeCounts(root: string): { Images: number; Layers: number } {
  if (!existsSync(join(root, 'berth.db'))) return { Images: 0, Layers: 0 };
  const store = Store.open(root);
  try {
    return { Images: store.images.list().length, Layers: store.images.layers().length };
  } finally {
    store.close();
  }
}

/** `berth info`: where things are, what drivers are used, how many objects exist. */
export function info(ctx: Context): Record<string, string | number> {
  return {
    'Berth Version': version,
    'Root Dir': ctx.root,
    'State Dir': ctx.state,
    'Storage Driver': storageDriver(),
    'Cgroup Version': cgroupMode() === 'v2' ? '2' : '1',
    'Cgroup Mode': cgroupMode(),
    Containers: countEntries(join(ctx.root, 'containers')),
    ...storeCounts(ctx.root),
    'Store Initialized': existsSync(join(ctx.root, 'berth.db')) ? 'yes' : 'no',
  };
}

/** Registers `berth info`. */
export function register(cmd: Command, ctx: () => Context): void {
  cmd.command('info')
    .description('show where berth keeps its data and how it runs containers')
    .option('-f, --format <format>', "'json' for JSON output")
    .action((o: { format?: string }) => {
      const i = info(ctx());
      if (o.format === 'json') process.stdout.write(JSON.stringify(i) + '\n');
      else printRows(i);
    });
}
