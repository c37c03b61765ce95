/**
 * `system df` (disk usage of images, containers, volumes, build cache) and `system check`
 * (is the store consistent after a crash?).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkStore, collectGarbage, familiar, imageDiskUsage, parseName } from '@berth/layer-store';
import type { Context } from '../context.js';
import { humanDuration } from './ps.js';
import { openStore } from './images.js';
import { humanSize } from './image-list.js';
import { ContainerStore } from '../../containers/store.js';
import { LinuxSys } from '@berth/native';
import { OverlaySnapshotter, createSnapshotter, findOrphanMounts, pruneInitLayers, repairOrphanMounts } from '@berth/overlay';
import { duBytes } from '@berth/volume';

function table(rows: readonly Record<string, string>[], cols: readonly [string, string][]): string {
  const widths = cols.map(([k, h]) => Math.max(h.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd() + '\n';
  return line(cols.map(([, h]) => h)) + rows.map((r) => line(cols.map(([k]) => r[k] ?? ''))).join('');
}

const pct = (part: number, whole: number): string => (whole === 0 ? '0%' : `${Math.round((part * 100) / whole)}%`);

/** Registers `system df` and `system check`. */
export function register(cmd: Command, ctx: () => Context): void {
  const system = cmd.command('system').description('manage berth');
  system.command('df').description('show disk usage')
    .option('-v, --verbose', 'show per-image usage')
    .option('--format <format>', "'json' for JSON lines")
    .action((o: { verbose?: boolean; format?: string }) => {
      const c = ctx();
      const store = openStore(c);
      try {
        const img = imageDiskUsage(store);
        const containers = new ContainerStore(store.db, (j) => j).list();
        const running = containers.filter((x) => ['running', 'paused', 'starting', 'stopping'].includes(x.state.status)).length;
        const cdir = join(c.root, 'containers');
        const csize = containers.reduce((n, x) => n + duBytes(join(cdir, x.id)), 0);
        const cstopped = containers.filter((x) => x.state.status === 'exited' || x.state.status === 'created')
          .reduce((n, x) => n + duBytes(join(cdir, x.id)), 0);
        const vdir = join(c.root, 'volumes');
        let vnames: string[] = [];
        try { vnames = readdirSync(vdir); } catch { /* none */ }
        const vsize = vnames.reduce((n, v) => n + duBytes(join(vdir, v)), 0);
        const rows = [
          { Type: 'Images', TotalCount: String(img.total), Active: String(img.active), Size: humanSize(img.size), Reclaimable: `${humanSize(img.reclaimable)} (${pct(img.reclaimable, img.size)})` },
          { Type: 'Containers', TotalCount: String(containers.length), Active: String(running), Size: humanSize(csize), Reclaimable: `${humanSize(cstopped)} (${pct(cstopped, csize)})` },
          { Type: 'Local Volumes', TotalCount: String(vnames.length), Active: '0', Size: humanSize(vsize), Reclaimable: `${humanSize(vsize)} (${pct(vsize, vsize)})` },
          { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
        ];
        if (o.format === 'json') { for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n'); return; }
        if (!o.verbose) {
          process.stdout.write(table(rows, [['Type', 'TYPE'], ['TotalCount', 'TOTAL'], ['Active', 'ACTIVE'], ['Size', 'SIZE'], ['Reclaimable', 'RECLAIMABLE']]));
          return;
        }
        const now = Date.now();
        const irows = img.images.flatMap((i) => {
          const rec = store.images.get(i.id);
          const created = rec.created === undefined ? 'N/A' : `${humanDuration(now - Date.parse(rec.created))} ago`;
          const base = { ID: i.id.slice(7, 19), Created: created, Size: humanSize(i.size), Shared: humanSize(i.shared), Unique: humanSize(i.unique), Containers: String(i.containers) };
          if (i.tags.length === 0) return [{ Repository: '<none>', Tag: '<none>', ...base }];
          return i.tags.map((t) => { const n = parseName(t); return { Repository: familiar(n.repo), Tag: n.tag ?? '<none>', ...base }; });
        });
        process.stdout.write('Images space usage:\n\n');
        process.stdout.write(table(irows, [['Repository', 'REPOSITORY'], ['Tag', 'TAG'], ['ID', 'IMAGE ID'], ['Created', 'CREATED'], ['Size', 'SIZE'], ['Shared', 'SHARED SIZE'], ['Unique', 'UNIQUE SIZE'], ['Containers', 'CONTAINERS']]));
      } finally {
        store.close();
      }
    });
  system.command('check').description('check the store for consistency (after a crash, say)')
    .option('--quick', 'do not re-hash blob contents')
    .option('-r, --repair', 'remove leftovers of interrupted work (temp files, unused layers, mounts nothing owns)')
    .action(async (o: { quick?: boolean; repair?: boolean }) => {
      const c = ctx();
      const store = openStore(c);
      try {
        const r = await checkStore(store, { quick: o.quick === true });
        // Mounts below $root/containers and $root/overlay that no container owns (a crash
        // between mount and record, a container row deleted under its mounts).
        const ids = new ContainerStore(store.db, (j) => j).list().map((x) => x.id);
        const problems = [...r.problems];
        if (o.repair) {
          for (const m of await repairOrphanMounts(c.root, ids, new LinuxSys())) {
            process.stdout.write(`repaired: unmounted ${m.target} (${m.fstype}, ${m.reason})\n`);
          }
        } else {
          for (const m of await findOrphanMounts(c.root, ids)) {
            problems.push(`mount ${m.target} (${m.fstype}) is owned by nothing (${m.reason}): run berth system check --repair`);
          }
        }
        for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
        for (const p of problems) process.stdout.write(`problem: ${p}\n`);
        if (o.repair) {
          const gc = collectGarbage(store);
          process.stdout.write(`removed ${gc.blobs.length} unused blobs, ${gc.layers.length} unused layers, ${gc.temps.length} leftovers (${humanSize(gc.reclaimed)})\n`);
          // Init layers shared by the containers of images that are gone, then short links of
          // overlay lower dirs that are gone (layers just collected, those init layers).
          const inits = pruneInitLayers(c.root);
          if (inits > 0) process.stdout.write(`removed ${inits} unused init layer${inits === 1 ? '' : 's'}\n`);
          const snap = await createSnapshotter({ root: c.root, sys: new LinuxSys() });
          if (snap instanceof OverlaySnapshotter) {
            const n = await snap.pruneLinks();
            if (n > 0) process.stdout.write(`removed ${n} dangling layer link${n === 1 ? '' : 's'}\n`);
          }
        }
        const { images, blobs, layers } = r.counts;
        if (problems.length === 0) process.stdout.write(`store is clean: ${images} images, ${blobs} blobs, ${layers} layers checked\n`);
        else {
          process.stdout.write(`store has ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
          process.exitCode = 1;
        }
      } finally {
        store.close();
      }
    });
}
