/**
 * Copying timestamps exactly. Node's utimes takes a Date or a float of seconds: both lose the
 * nanoseconds (a double holds ~16 digits; seconds since 1970 with ns need 19), and `changes`
 * compares mtimes to the nanosecond. The addon's `lutimens` (utimensat(2)) copies them exactly;
 * without it (a Sys that lacks it), `touch -h -r` does, at the price of a process per call.
 */
import { lstatSync } from 'node:fs';
import { toBerthError } from '@berth/errors';
import type { SnapshotterSys } from './types.js';

/** Gives `target` the atime and mtime of `reference` (neither followed if a symlink). */
export async function copyTimes(sys: SnapshotterSys, reference: string, target: string): Promise<void> {
  if (sys.lutimens !== undefined) {
    let st;
    try {
      st = lstatSync(reference, { bigint: true });
    } catch (e) {
      throw toBerthError(e, `copy times of ${reference} to ${target}`);
    }
    sys.lutimens(target, st.atimeNs, st.mtimeNs);
    return;
  }
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('touch', ['-h', '-r', reference, '--', target], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { if (err.length < 2048) err += d.toString(); });
    child.on('error', (e) => reject(toBerthError(e, `copy times of ${reference} to ${target}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(toBerthError(new Error(err.trim() || `touch exited ${String(code)}`), `copy times of ${reference} to ${target}`));
    });
  });
}
