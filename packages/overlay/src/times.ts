/**
 * Copying timestamps exactly. Node's utimes takes a Date or a float of seconds: both lose the
 * nanoseconds (a double holds ~16 digits; seconds since 1970 with ns need 19), and `changes`
 * compares mtimes to the nanosecond. `touch -h -r` copies them with utimensat(2), exactly.
 */
import { spawn } from 'node:child_process';
import { toBerthError } from '@berth/errors';

/** Gives `target` the atime and mtime of `reference` (neither followed if a symlink). */
export function copyTimes(reference: string, target: string): Promise<void> {
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
