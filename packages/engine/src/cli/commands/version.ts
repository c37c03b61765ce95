import type { Command } from 'commander';
import { formatRows, printSync } from '../output.js';
import { release } from 'node:os';
import { cgroupMode } from '@berth/runtime/cgroup-mode';

/** berth's own version, stamped into the bundle by build.mjs. */
declare const BERTH_VERSION: string | undefined;
export const version: string = typeof BERTH_VERSION === 'string' ? BERTH_VERSION : '0.0.0-dev';

/** `berth version`: the versions a bug report needs. */
export function versionInfo(): Record<string, string> {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const mode = cgroupMode();
  return {
    Version: version,
    Node: process.version,
    Kernel: release(),
    'OS/Arch': `${process.platform}/${arch}`,
    Cgroups: mode === 'hybrid' ? 'v1 (hybrid: cgroup2 mounted beside the v1 controllers)' : mode,
  };
}

/** What `berth version [-f format]` prints. */
export function versionText(format?: string): string {
  const v = versionInfo();
  return format === 'json' ? `${JSON.stringify(v)}\n` : `berth:\n${formatRows(v, ' ')}`;
}

/** Registers `berth version`. */
export function register(cmd: Command): void {
  cmd.command('version')
    .description('show the versions of berth, Node, the kernel and the cgroup mode')
    .option('-f, --format <format>', "'json' for JSON output")
    .action((o: { format?: string }) => printSync(versionText(o.format)));
}
