// Settings and protocol details that need no registry: credential files (berth's and Docker's),
// insecure-registry rules, certs.d lookup, WWW-Authenticate parsing.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { caFor, credentialsFor, isInsecure, loadRegistryConfig, parseChallenge, removeCredentials, saveCredentials, type RegistryConfig } from './index.js';

const dirs: string[] = [];
function config(extra: Partial<RegistryConfig> = {}): RegistryConfig {
  const d = mkdtempSync(join(tmpdir(), 'berth-regcfg-'));
  dirs.push(d);
  return loadRegistryConfig({ env: { HOME: d, XDG_CONFIG_HOME: join(d, 'xdg'), BERTH_REGISTRIES_CONF: join(d, 'registries.json') }, ...extra });
}
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

test('defaults follow XDG_CONFIG_HOME and HOME; registries.json adds insecure registries and mirrors', () => {
  const d = mkdtempSync(join(tmpdir(), 'berth-regcfg-'));
  dirs.push(d);
  writeFileSync(join(d, 'registries.json'), JSON.stringify({ 'insecure-registries': ['10.0.0.0/8', 'reg.lan:5000'], 'registry-mirrors': ['https://mirror.lan'] }));
  const c = loadRegistryConfig({ env: { HOME: d, XDG_CONFIG_HOME: join(d, 'xdg'), BERTH_REGISTRIES_CONF: join(d, 'registries.json'), BERTH_CERTS_D: join(d, 'certs') } });
  assert.is(c.authFile, join(d, 'xdg/berth/auth.json'));
  assert.is(c.dockerConfig, join(d, '.docker/config.json'));
  assert.is(c.certsDir, join(d, 'certs'));
  assert.equal(c.mirrors, ['https://mirror.lan']);
  assert.ok(isInsecure(c, '10.1.2.3:5000'));
  assert.ok(isInsecure(c, 'reg.lan:5000'));
  assert.not.ok(isInsecure(c, 'reg.lan:443'));
  assert.not.ok(isInsecure(c, 'registry-1.docker.io'));
});

test('loopback is insecure by default, as in Docker, unless turned off', () => {
  for (const h of ['127.0.0.1:5000', '127.3.4.5', 'localhost:5000']) assert.ok(isInsecure(config(), h), h);
  assert.not.ok(isInsecure(config({ loopbackInsecure: false }), '127.0.0.1:5000'));
});

test("login saves 0600 credentials; lookups fall back to Docker's config.json; logout removes them", () => {
  const c = config();
  assert.is(credentialsFor(c, 'reg.lan:5000'), undefined);
  mkdirSync(join(c.dockerConfig, '..'), { recursive: true });
  writeFileSync(c.dockerConfig, JSON.stringify({ auths: {
    'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hubpass').toString('base64') },
    'reg.lan:5000': { auth: Buffer.from('docker:pw:with:colons').toString('base64') },
  } }));
  assert.equal(credentialsFor(c, 'docker.io'), { username: 'hubuser', password: 'hubpass' });
  assert.equal(credentialsFor(c, 'reg.lan:5000'), { username: 'docker', password: 'pw:with:colons' });
  saveCredentials(c, 'reg.lan:5000', { username: 'berth', password: 'secret' });
  assert.is(statSync(c.authFile).mode & 0o777, 0o600);
  assert.equal(credentialsFor(c, 'reg.lan:5000'), { username: 'berth', password: 'secret' }, 'berth\'s own file wins');
  assert.ok(removeCredentials(c, 'reg.lan:5000'));
  assert.not.ok(removeCredentials(c, 'reg.lan:5000'));
  assert.equal(credentialsFor(c, 'reg.lan:5000'), { username: 'docker', password: 'pw:with:colons' });
});

test('certs.d: every *.crt of the host directory is a trusted CA', () => {
  const c = config({ certsDir: join(dirs[0] ?? tmpdir(), 'certs.d') });
  assert.is(caFor(c, 'reg.lan:5000'), undefined);
  mkdirSync(join(c.certsDir, 'reg.lan:5000'), { recursive: true });
  writeFileSync(join(c.certsDir, 'reg.lan:5000', 'ca.crt'), 'PEM');
  writeFileSync(join(c.certsDir, 'reg.lan:5000', 'client.cert'), 'not a CA');
  assert.equal(caFor(c, 'reg.lan:5000'), ['PEM']);
});

const challenges: Array<[string, unknown]> = [
  ['Basic realm="Registry Realm"', { scheme: 'basic', params: { realm: 'Registry Realm' } }],
  ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } }],
  ['bearer realm=http://127.0.0.1:1/token, service=x', { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/token', service: 'x' } }],
  ['Bearer realm="a\\"b"', { scheme: 'bearer', params: { realm: 'a"b' } }],
  ['Negotiate abc', undefined],
];
for (const [header, want] of challenges) {
  test(`WWW-Authenticate: ${header}`, () => { assert.equal(parseChallenge(header), want); });
}

test.run();
