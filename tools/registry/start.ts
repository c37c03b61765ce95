/**
 * Starts a test registry in the foreground until SIGINT/SIGTERM:
 *
 *   node --import tsx tools/registry/start.ts [--auth htpasswd] [--tls] [--port N] [--push fixture=repo:tag …]
 *
 * Prints one JSON line when it answers — {host, url, username?, password?, certDir?, storageDir, pid} —
 * then `registry listening on <url>` on stderr. Its temp dir is removed when it stops.
 */
import { pushFixture, startRegistry, type RegistryOptions } from './index.js';
import { fixtureNames, type FixtureName } from '../fixtures/index.js';

function usage(message?: string): never {
  if (message !== undefined) process.stderr.write(`start: ${message}\n`);
  process.stderr.write('usage: node --import tsx tools/registry/start.ts [--auth none|htpasswd] [--tls] [--port N] [--push fixture=repo:tag …]\n');
  process.exit(2);
}

function parse(argv: readonly string[]): { options: RegistryOptions; pushes: Array<[FixtureName, string]> } {
  let auth: 'none' | 'htpasswd' = 'none';
  let tls = false;
  let port: number | undefined;
  const pushes: Array<[FixtureName, string]> = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => argv[++i] ?? usage(`${String(a)} needs a value`);
    if (a === '--tls') tls = true;
    else if (a === '--auth') {
      const v = value();
      if (v !== 'none' && v !== 'htpasswd') usage(`--auth must be none or htpasswd, not "${v}"`);
      auth = v;
    } else if (a === '--port') {
      port = Number(value());
      if (!Number.isInteger(port) || port < 1 || port > 65535) usage('--port must be 1-65535');
    } else if (a === '--push') {
      const [name, ref] = value().split('=');
      if (name === undefined || ref === undefined || !(fixtureNames as readonly string[]).includes(name)) {
        usage(`--push takes fixture=repo:tag with fixture one of ${fixtureNames.join(', ')}`);
      }
      pushes.push([name as FixtureName, ref]);
    } else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument "${String(a)}"`);
  }
  return { options: { auth, tls, ...(port === undefined ? {} : { port }) }, pushes };
}

const { options, pushes } = parse(process.argv.slice(2));
const reg = await startRegistry(options);
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void reg.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  for (const [name, ref] of pushes) await pushFixture(reg, name, ref);
} catch (e) {
  process.stderr.write(`start: ${e instanceof Error ? e.message : String(e)}\n`);
  await reg.stop();
  process.exit(1);
}
const { host, url, username, password, certDir, storageDir, pid } = reg;
process.stdout.write(`${JSON.stringify({ host, url, username, password, certDir, storageDir, pid })}\n`);
process.stderr.write(`registry listening on ${url}\n`);
// Stay up until a signal; the registry child keeps the event loop alive.
