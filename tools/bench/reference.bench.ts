/**
 * @berth/reference speed: refusing 1 MiB hostile strings (the bound is 5 ms each), and parsing
 * typical references. The peer is distribution/reference's own regular expression, ported as
 * one JS RegExp (what a straightforward port would do); a single `/[^a-z]/` pass over 1 MiB shows
 * the floor any linear check pays.
 */
import { bench, type BenchOptions, type BenchResult } from './harness.js';

export const description = '@berth/reference: 1 MiB hostile strings refused, and typical references parsed, vs distribution\'s regex';

// distribution/reference regexp.go, assembled the same way (referencePat).
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainAndPort = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[(?:[a-fA-F0-9:]+)\\])(?::[0-9]+)?`;
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const namePat = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
const referenceRegexp = new RegExp(`^(${namePat})(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}))?$`);

const MiB = 1 << 20;
const hostile: Record<string, string> = {
  'valid but long': 'a'.repeat(MiB),
  'upper case': 'A'.repeat(MiB),
  'dash runs': `${'a-'.repeat(MiB / 2)}:`,
  'underscores': 'a_'.repeat(MiB / 2),
  'slashes': `${'a/'.repeat(MiB / 2)}!`,
  'long digest': `a@sha256:${'f'.repeat(MiB)}`,
  'long algorithm': `a@${'a+'.repeat(MiB / 2)}:${'f'.repeat(64)}`,
};

const typical = [
  'busybox', 'ubuntu:22.04', 'library/alpine:3.19', 'docker.io/library/nginx:1.25-alpine',
  'ghcr.io/owner/project/app:v1.2.3', 'localhost:5000/test/image', 'quay.io/prometheus/node-exporter:latest',
  `registry.example.com:443/team/svc@sha256:${'ab'.repeat(32)}`, 'user/app:latest', '[::1]:5000/repo:tag',
];
const typicalBatch = Array.from({ length: 10_000 }, (_, i) => typical[i % typical.length] ?? 'busybox');

export async function run(options: BenchOptions): Promise<readonly BenchResult[]> {
  const { parseDockerRef, parse } = await import('@berth/reference');
  const refuse = (f: (s: string) => unknown, s: string): void => {
    try {
      f(s);
    } catch {
      return;
    }
    throw new Error('reference bench: a hostile string parsed');
  };
  const results: BenchResult[] = [];

  results.push(await bench('reference: parseDockerRef refusing one 1 MiB hostile string', [
    ...Object.entries(hostile).map(([name, s]) => ({ name, fn: async () => refuse(parseDockerRef, s) })),
    { name: 'one /[^a-z]/ pass', fn: async () => { /[^a-z]/.test(hostile['valid but long'] ?? ''); } },
  ], { ...options, peer: 'one /[^a-z]/ pass' }));

  results.push(await bench(`reference: all ${Object.keys(hostile).length} hostile strings, berth vs distribution's regex`, [
    { name: 'berth parse', fn: async () => { for (const s of Object.values(hostile)) refuse(parse, s); } },
    { name: 'distribution regex', fn: async () => { for (const s of Object.values(hostile)) referenceRegexp.test(s); } },
  ], { ...options, peer: 'distribution regex' }));

  results.push(await bench('reference: 10,000 typical references', [
    { name: 'berth parseDockerRef', fn: async () => { for (const s of typicalBatch) parseDockerRef(s); } },
    { name: 'berth parse', fn: async () => { for (const s of typicalBatch) parse(s); } },
    { name: 'distribution regex', fn: async () => { for (const s of typicalBatch) referenceRegexp.exec(s); } },
  ], { ...options, peer: 'distribution regex' }));
  return results;
}
