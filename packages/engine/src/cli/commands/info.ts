import type { Command } from 'commander';
import { printRows } from '../output.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupMode } from '@berth/runtime';
import { Store } from '@berth/layer-store';
import { readDriverVerdict } from '@berth/overlay';
import type { Context } from '../context.js';
import { version } from './version.js';

/**
 * The storage driver of this root and why: overlay's own verdict (probed at the first container
 * create, cached in $root/overlay/probe.json); before any probe, what /proc/filesystems suggests.
 */
export async function storageDriver(root: string): Promise<{ driver: 'overlay' | 'vfs'; reason: string }> {
  const v = await readDriverVerdict(root);
  if (v !== undefined) return { driver: v.driver, reason: v.reason };
  let listed = false;
  try { listed = /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')); } catch { /* vfs */ }
  return {
    driver: listed ? 'overlay' : 'vfs',
    reason: `not probed yet (the first container create probes it): the kernel ${listed ? 'lists' : 'does not list'} overlay in /proc/filesystems`,
  };
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
export async function info(ctx: Context): Promise<Record<string, string | number>> {
  const storage = await storageDriver(ctx.root);
  return {
    'Berth Version': version,
    'Root Dir': ctx.root,
    'State Dir': ctx.state,
    'Storage Driver': storage.driver,
    'Storage Driver Reason': storage.reason,
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
    .action(async (o: { format?: string }) => {
      const i = await info(ctx());
      if (o.format === 'json') process.stdout.write(JSON.stringify(i) + '\n');
      else printRows(i);
    });
}
