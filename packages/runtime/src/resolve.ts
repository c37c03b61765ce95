/**
 * Where a container path lands on the host: `dest` resolved inside `root` as if `root` were
 * `/` (openat2's RESOLVE_IN_ROOT semantics): `..` stops at the root, absolute symlinks restart
 * at the root, so a rootfs holding `etc -> /` cannot aim a mount at the host's /. Components
 * that do not exist yet are kept as written (the shim creates them).
 *
 * The walk is by path, so a rootfs that changes while we walk can still race; rootfs contents
 * are the image's, prepared before create, which is what runc assumes too.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { invalidArgument } from '@berth/errors';

/** A resolver of container paths to host paths (injectable: `Sys.resolveInRoot` fits). */
export type InRootResolver = (root: string, dest: string) => string;

/** The default {@link InRootResolver}: lstat and readlink, component by component. */
export function resolveInRoot(root: string, dest: string): string {
  const pending = dest.split('/').filter((p) => p !== '' && p !== '.');
  const parts: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() ?? '';
    if (name === '..') {
      parts.pop();
      continue;
    }
    const here = posix.join(root, ...parts, name);
    let isLink = false;
    try {
      isLink = lstatSync(here).isSymbolicLink();
    } catch {
      // missing: keep the rest as written
      parts.push(name, ...pending.filter((p) => p !== '..'));
      break;
    }
    if (!isLink) {
      parts.push(name);
      continue;
    }
    if (++links > 40) throw invalidArgument(`resolve ${dest} in ${root}: too many levels of symbolic links`);
    const target = readlinkSync(here);
    const rest = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) parts.length = 0;
    pending.unshift(...rest);
  }
  return parts.length === 0 ? root : posix.join(root, ...parts);
}
