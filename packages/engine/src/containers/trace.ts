/**
 * Phase timing for `BERTH_TRACE=1`: `phase(name)` ends the phase `name` (begun at the previous
 * call, or at process start) and prints
 * `berth-trace <phase> <ms>` to stderr when the process ends. Used by tools/bench/run to show
 * where the time of `berth run` goes. Free when tracing is off.
 */
const on = process.env['BERTH_TRACE'] === '1';
// (The global `performance` loads node:perf_hooks at its first touch: only when tracing.)
let last = 0;
const rows: [string, number][] = [];

/** Ends the phase `name`, timed since the previous call (or process start). */
export function phase(name: string): void {
  if (!on) return;
  const now = performance.now();
  rows.push([name, now - last]);
  last = now;
}

if (on) {
  process.on('exit', () => {
    phase('exit');
    process.stderr.write(rows.map(([n, ms]) => `berth-trace ${n.replace(/ /g, '_')} ${ms.toFixed(1)}\n`).join(''));
  });
}
