// The Bearer token flow against the real registry in `auth: token` mode: a small token server on
// loopback signs ES256 JWTs with a key whose certificate the registry trusts (rootcertbundle).
// Anonymous pulls are refused with a login hint; with credentials berth fetches one token per
// scope and reuses it for every request of that scope.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store, loadOciDir } from '@berth/layer-store';
import { LinuxSys } from '@berth/native';
import { fixture } from '../../../tools/fixtures/index.js';
import { loadRegistryConfig, pullImage, pushImage, saveCredentials, type RegistryConfig } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-bearer-'));
const sys = new LinuxSys();
const user = 'berth';
const password = randomBytes(8).toString('hex');
const service = 'berth-test-registry';
const issuer = 'berth-test-issuer';
let registry: ChildProcess | undefined;
let tokenServer: Server | undefined;
let host = '';
const requests: Array<{ scope: string; user: string | undefined }> = [];

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function listen(s: Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => { const a = s.address(); r(typeof a === 'object' && a ? a.port : 0); }));
}

async function freePort(): Promise<number> {
  const s = createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

const isolated = (): RegistryConfig => {
  const d = mkdtempSync(join(dir, 'cfg-'));
  return loadRegistryConfig({ env: { HOME: d }, authFile: join(d, 'auth.json'), dockerConfig: join(d, 'none.json'), certsDir: join(d, 'certs.d') });
};

test.before(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'token.key'),
    '-out', join(dir, 'token.pem'), '-days', '2', '-subj', '/CN=berth token issuer']);
  const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
  const certDer = new X509Certificate(readFileSync(join(dir, 'token.pem'))).raw;
  tokenServer = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    const creds = auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : undefined;
    const scopes = u.searchParams.getAll('scope');
    requests.push({ scope: scopes.join(' '), user: creds?.split(':')[0] });
    if (creds !== `${user}:${password}`) { res.writeHead(401); res.end('{"details":"incorrect username or password"}'); return; }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map((s) => { const [type, name, actions] = s.split(':'); return { type, name, actions: (actions ?? '').split(',') }; });
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const sig = createSign('SHA256').update(`${header}.${claims}`).sign({ key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(sig)}`, expires_in: 300 }));
  });
  const tokenPort = await listen(tokenServer);
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${JSON.stringify(join(dir, 'storage'))}`,
    'http:', `  addr: ${JSON.stringify(host)}`, `  secret: ${JSON.stringify(randomBytes(8).toString('hex'))}`,
    'auth:', '  token:', `    realm: "http://127.0.0.1:${tokenPort}/token"`, `    service: ${service}`, `    issuer: ${issuer}`,
    `    rootcertbundle: ${JSON.stringify(join(dir, 'token.pem'))}`, '',
  ].join('\n'));
  registry = spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', 'docker-registry', 'serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const status = await new Promise<number | undefined>((r) => { get(`http://${host}/v2/`, (res) => { res.resume(); r(res.statusCode); }).on('error', () => r(undefined)); });
    if (status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the token-auth registry did not start');
});

test.after(async () => {
  if (registry?.pid) { registry.kill('SIGTERM'); await new Promise((r) => registry?.once('exit', r)); }
  tokenServer?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('bearer: anonymous pull is refused with a login hint; with credentials push and pull work, one token per scope', async () => {
  const f = await fixture('layered');
  const store = Store.open(join(dir, 'root1'), { sys });
  const [img] = (await loadOciDir(store, f.ociLayout, { repo: 'layered' })).images;
  store.images.tag(img!.id, `${host}/team/layered:1`);
  try {
    await pushImage(store, `${host}/team/layered:1`, { config: isolated() });
    assert.unreachable('pushed anonymously');
  } catch (e) {
    assert.match((e as Error).message, `login first with 'berth login ${host}'`);
  }
  const config = isolated();
  saveCredentials(config, host, { username: user, password });
  requests.length = 0;
  const pushed = await pushImage(store, `${host}/team/layered:1`, { config });
  assert.is(pushed.digest, f.manifestDigest);
  assert.equal(requests.map((r) => r.scope), ['repository:team/layered:pull,push'], 'one token for every blob and the manifest');
  requests.length = 0;
  const other = Store.open(join(dir, 'root2'), { sys });
  const pulled = await pullImage(other, `${host}/team/layered:1`, { config });
  assert.is(pulled.id, f.imageId);
  assert.equal(requests.map((r) => r.scope), ['repository:team/layered:pull']);
  assert.is(requests[0]?.user, user);
  try {
    await pullImage(Store.open(join(dir, 'root3'), { sys }), `${host}/team/layered:1`, { config: isolated() });
    assert.unreachable('pulled anonymously');
  } catch (e) {
    assert.match((e as Error).message, /login first/);
  }
  store.close();
  other.close();
});

test.run();
