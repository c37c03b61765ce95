/** Print `key: value` rows aligned, Docker style. */
export function printRows(rows: Record<string, string | number>, indent = ''): void {
  const width = Math.max(...Object.keys(rows).map((k) => k.length)) + 1;
  for (const [k, v] of Object.entries(rows)) process.stdout.write(`${indent}${`${k}:`.padEnd(width)} ${v}\n`);
}
