// The loader of the bundled binaries (dist/berth-runtime.cjs, dist/berth.cjs): V8's code cache,
// one file per command, written only by a command that succeeded, and used by the next start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const repo = process.env['BERTH_REPO'] ?? process.cwd();
const bin = join(repo, 'packages/runtime/dist/berth-runtime.cjs');
const dir = mkdtempSync(join(tmpdir(), 'berth-loader-'));
const cache = join(dir, 'cache');
const state = join(dir, 'state');

function br(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, BERTH_CACHE: cache, NODE_EXTRA_CA_CERTS: '' }, encoding: 'utf8' });
}

test.before(() => {
  if (!existsSync(bin)) execFileSync(process.execPath, [join(repo, 'packages/runtime/build.mjs')], { stdio: 'inherit' });
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('one cache per command, named after it; a failed command writes none', () => {
  assert.equal(br('--root', state, 'list').status, 0);
  assert.equal(br('--root', state, '--log-format', 'json', 'features').status, 0);
  assert.equal(br('--root', state, 'no-such-command').status, 1);
  const files = readdirSync(cache).sort();
  assert.equal(files.length, 2, files.join(' '));
  assert.match(files[0] ?? '', /^berth-runtime-main-\d+-\d+-v[\d.]+-\w+-features\.v8$/);
  assert.match(files[1] ?? '', /-list\.v8$/);
});

test('a start with the cache prints what a start without it printed', () => {
  const first = br('--root', state, 'features');
  const again = br('--root', state, 'features');
  assert.equal(again.status, 0);
  assert.equal(again.stdout, first.stdout);
  assert.ok(JSON.parse(again.stdout).ociVersionMax);
});

const engineDist = join(repo, 'packages/engine/dist');
const bundles = [
  join(repo, 'packages/runtime/dist/berth-runtime-main.cjs'),
  ...(existsSync(engineDist) ? readdirSync(engineDist).filter((f) => /^berth(-runtime)?-(main|fast-[a-z]+)\.cjs$/.test(f)).map((f) => join(engineDist, f)) : []),
];

test('the bundles it loads are ASCII, which it reads as latin1', () => {
  // esbuild escapes every non-ASCII character by default; a build that stopped doing so would
  // turn "é" in a message into mojibake.
  for (const f of bundles) {
    const bytes = readFileSync(f);
    const at = bytes.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `${f}: non-ASCII byte at ${at}`);
  }
});

test('the bundles it loads require only Node built-ins, which its own require resolves', () => {
  const builtins = new Set(builtinModules);
  for (const f of bundles) {
    const text = readFileSync(f, 'latin1');
    // (esbuild prints every require it keeps as require("name"); single quotes are in strings,
    // such as the tsx bootstrap of a worker run from sources.)
    const names = [...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1] ?? '');
    assert.ok(names.length > 0, `${f}: no require found`);
    const other = names.filter((n) => !builtins.has(n.replace(/^node:/, '')));
    assert.equal(other, [], `${f} requires ${other.join(', ')}`);
  }
});

test.run();
