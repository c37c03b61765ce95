// The native build's preflight: a missing tool is one line that says what to install.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const script = join(process.env['BERTH_REPO'] ?? process.cwd(), 'native', 'scripts', 'build-native.mjs');
const check = (env: Record<string, string>) =>
  spawnSync(process.execPath, [script, 'check'], { env: { ...process.env, ...env }, encoding: 'utf8' });

test('a missing C++ compiler fails the build before node-gyp, naming the package', () => {
  const r = check({ CXX: '/nonexistent/g++' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /berth's native addon cannot be built; missing:/);
  assert.match(r.stderr, /- a C\+\+ compiler \(g\+\+\): apt-get install g\+\+/);
});

test('npm_config_nodedir without headers is refused', () => {
  const r = check({ npm_config_nodedir: '/nonexistent-node-headers' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /npm_config_nodedir=\/nonexistent-node-headers: it has no include\/node\/node_api\.h/);
});

test('an unknown action is a usage error', () => {
  const r = spawnSync(process.execPath, [script, 'bogus'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown action "bogus"/);
});

test('this machine has everything (or the test says what is missing)', () => {
  const r = check({});
  if (r.status !== 0) {
    console.log(`# skip: the toolchain is incomplete here: ${r.stderr.trim().split('\n').slice(1).join('; ')}`);
    return;
  }
  assert.is(r.stderr, '');
});

test.run();
