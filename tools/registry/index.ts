/**
 * A real registry for tests: Debian's `docker-registry` (the CNCF distribution registry v2) on
 * 127.0.0.1, a random free port, filesystem storage in a temp dir, optional htpasswd auth and TLS
 * with a throwaway CA.
 *
 *   const reg = await startRegistry({ auth: 'htpasswd', tls: true });
 *   await pushFixture(reg, 'busybox', 'library/busybox:latest');   // skopeo copy oci:… docker://…
 *   … reg.host, reg.url, reg.caCert, reg.username, reg.password …
 *   await reg.stop();                                                // kills it, removes its files
 *
 * Its temp dir (one per registry):
 *
 *   berth-registry-XXXXXX/
 *     config.yml  registry.log  htpasswd?
 *     certs/  ca.pem ca.key server.crt server.key server.csr server.ext   (tls)
 *       client/ca.crt                                                  (tls: certDir, for clients)
 *     storage/  docker/registry/v2/…
 *
 * Nothing happens at import time.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fixture, type FixtureName } from '../fixtures/index.js';

const run = promisify(execFile);
const setpriv = '/usr/bin/setpriv';

/** How to start a registry. */
export interface RegistryOptions {
  /** `htpasswd`: HTTP basic auth with one generated user (default `none`). */
  readonly auth?: 'none' | 'htpasswd';
  /** Serve HTTPS with a certificate for 127.0.0.1 and localhost signed by a fresh CA. */
  readonly tls?: boolean;
  /** A fixed port (default: a free one chosen at random). */
  readonly port?: number;
  /** Credentials for htpasswd mode (default: user `berth`, a random password). */
  readonly username?: string;
  readonly password?: string;
  /** Give up waiting for the registry to answer after this long (default 20 s). */
  readonly timeoutMs?: number;
}

/** A running registry. */
export interface Registry {
  /** `127.0.0.1:<port>`, as in image references (`127.0.0.1:5123/busybox:latest`). */
  readonly host: string;
  /** `http://127.0.0.1:<port>` or `https://…`. */
  readonly url: string;
  readonly tls: boolean;
  /** The CA certificate (PEM) that signed the server's (tls only). */
  readonly caCert?: string;
  /** A directory holding only `ca.crt`: skopeo's `--*-cert-dir`, or docker's certs.d/<host>/ (tls only). */
  readonly certDir?: string;
  readonly username?: string;
  readonly password?: string;
  /** Where the registry keeps blobs and manifests. */
  readonly storageDir: string;
  /** Its config, log and certificates. */
  readonly dir: string;
  readonly pid: number;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Makes a CA and a server certificate for 127.0.0.1/localhost with openssl (EC P-256, 2 days). */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string; clientDir: string }> {
  await mkdir(dir, { recursive: true });
  const f = (n: string): string => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=berth test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(f('server.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-out', f('server.crt'), '-extfile', f('server.ext')]);
  const clientDir = join(dir, 'client');
  await mkdir(clientDir);
  const ca = await readFile(f('ca.pem'), 'utf8');
  await writeFile(join(clientDir, 'ca.crt'), ca);
  return { ca, cert: f('server.crt'), key: f('server.key'), clientDir };
}

const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar

function configYaml(o: { storage: string; addr: string; tls?: { cert: string; key: string }; htpasswd?: string }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(o.storage)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(o.addr)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    ...(o.tls === undefined ? [] : ['  tls:', `    certificate: ${q(o.tls.cert)}`, `    key: ${q(o.tls.key)}`]),
    ...(o.htpasswd === undefined ? [] : ['auth:', '  htpasswd:', '    realm: berth-test', `    path: ${q(o.htpasswd)}`]),
    '',
  ].join('\n');
}

/** GET /v2/ once; resolves with the status, or undefined when nothing answers yet. */
function probe(url: string, ca: string | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const onResponse = (res: { statusCode?: number | undefined; resume(): void }): void => {
      res.resume();
      resolve(res.statusCode);
    };
    const req = url.startsWith('https:')
      ? httpsGet(`${url}/v2/`, { timeout: 2000, ...(ca === undefined ? {} : { ca }) }, onResponse)
      : httpGet(`${url}/v2/`, { timeout: 2000 }, onResponse);
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Starts a registry and waits until `/v2/` answers (200, or 401 in htpasswd mode). */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const auth = options.auth ?? 'none';
  const tls = options.tls ?? false;
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  try {
    const storageDir = join(dir, 'storage');
    await mkdir(storageDir);
    const certs = tls ? await makeCerts(join(dir, 'certs')) : undefined;
    let username: string | undefined;
    let password: string | undefined;
    let htpasswd: string | undefined;
    if (auth === 'htpasswd') {
      username = options.username ?? 'berth';
      password = options.password ?? randomBytes(12).toString('hex');
      htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, (await run('htpasswd', ['-Bbn', username, password])).stdout);
    }
    // A free port can be taken between our probe and the registry's bind: retry a few times.
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      const host = `127.0.0.1:${port}`;
      const url = `${tls ? 'https' : 'http'}://${host}`;
      const config = join(dir, 'config.yml');
      await writeFile(config, configYaml({
        storage: storageDir, addr: host,
        ...(certs === undefined ? {} : { tls: { cert: certs.cert, key: certs.key } }),
        ...(htpasswd === undefined ? {} : { htpasswd }),
      }));
      const logPath = join(dir, 'registry.log');
      const log = openSync(logPath, 'a');
      // With setpriv (util-linux), the registry gets SIGKILL when this process dies without
      // stop(), even by SIGKILL (a test timeout), so no registry outlives its test.
      const argv = existsSync(setpriv) ? [setpriv, '--pdeathsig', 'KILL', 'docker-registry'] : ['docker-registry'];
      const [file = 'docker-registry', ...pre] = argv;
      const child = spawn(file, [...pre, 'serve', config], { stdio: ['ignore', log, log] });
      closeSync(log);
      const spawned = await new Promise<Error | undefined>((resolve) => {
        child.once('spawn', () => resolve(undefined));
        child.once('error', resolve);
      });
      if (spawned !== undefined || child.pid === undefined) {
        throw new Error('cannot start docker-registry: install Debian\'s docker-registry package', { cause: spawned });
      }
      const pid = child.pid;
      const onExit = (): void => {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        rmSync(dir, { recursive: true, force: true });
      };
      process.once('exit', onExit);
      const deadline = Date.now() + (options.timeoutMs ?? 20_000);
      let status: number | undefined;
      while (status === undefined && child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
        status = await probe(url, certs?.ca);
        if (status === undefined) await sleep(50);
      }
      const ok = status === 200 || (auth === 'htpasswd' && status === 401);
      if (!ok) {
        child.kill('SIGKILL');
        await waitExit(child, 5000);
        process.removeListener('exit', onExit);
        const text = await readFile(logPath, 'utf8').catch(() => '');
        if (/address already in use/.test(text) && options.port === undefined && attempt < 5) continue;
        throw new Error(`registry on ${host} did not answer /v2/ (status ${status ?? 'none'}); its log:\n${text.slice(-2000)}`);
      }
      let stopped: Promise<void> | undefined;
      const stop = (): Promise<void> => {
        stopped ??= (async () => {
          child.kill('SIGTERM');
          if (!(await waitExit(child, 5000))) {
            child.kill('SIGKILL');
            await waitExit(child, 5000);
          }
          process.removeListener('exit', onExit);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      };
      return {
        host, url, tls, storageDir, dir, pid, stop,
        ...(certs === undefined ? {} : { caCert: certs.ca, certDir: certs.clientDir }),
        ...(username === undefined || password === undefined ? {} : { username, password }),
      };
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * skopeo flags to reach `registry` (TLS trust and credentials): as the source or destination of
 * `skopeo copy` (`src`/`dest`), or, without a side, for `skopeo inspect` and the like.
 */
export function skopeoArgs(registry: Registry, side?: 'src' | 'dest'): string[] {
  const p = side === undefined ? '--' : `--${side}-`;
  const args = registry.certDir === undefined ? [`${p}tls-verify=false`] : [`${p}cert-dir`, registry.certDir];
  if (registry.username !== undefined && registry.password !== undefined) args.push(`${p}creds`, `${registry.username}:${registry.password}`);
  return args;
}

/** What {@link pushFixture} pushed. */
export interface Pushed {
  /** `127.0.0.1:<port>/<repo>:<tag>` */
  readonly ref: string;
  /** The digest the tag now points at (the fixture's manifest, or index for multiarch). */
  readonly digest: string;
}

/**
 * Pushes fixture `name` to `registry` as `repoTag` (`busybox:latest`, `library/x:1`) with
 * `skopeo copy --preserve-digests`, every platform for multiarch: the registry then serves the
 * fixture's exact bytes and digests.
 */
export async function pushFixture(registry: Registry, name: FixtureName, repoTag: string): Promise<Pushed> {
  const f = await fixture(name);
  const ref = `${registry.host}/${repoTag}`;
  const args = ['copy', '-q', '--preserve-digests', ...(name === 'multiarch' ? ['--all'] : []), ...skopeoArgs(registry, 'dest'), f.ociRef, `docker://${ref}`];
  try {
    await run('skopeo', args, { env: { ...process.env, TMPDIR: registry.dir } });
  } catch (e) {
    const stderr = typeof e === 'object' && e !== null && 'stderr' in e ? String(e.stderr) : '';
    throw new Error(`push of fixture ${name} to ${ref} failed: ${stderr.trim()}`, { cause: e });
  }
  return { ref, digest: f.digest };
}
