// The bundled binary as a user runs it: version, info, and one-line errors for bad input.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const bin = join(process.env.BERTH_REPO ?? process.cwd(), 'packages/engine/dist/berth.cjs');
const berth = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('berth version prints berth, Node, kernel and cgroup versions', () => {
  const r = berth('version');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /Version:\s+\d+\.\d+\.\d+/);
  assert.match(r.stdout, new RegExp(`Node:\\s+${process.version.replace(/\./g, '\\.')}`));
  assert.match(r.stdout, /Kernel:\s+\S+/);
  assert.match(r.stdout, /Cgroups:\s+(v1|v2)/);
  const json = JSON.parse(berth('version', '--format', 'json').stdout) as Record<string, string>;
  assert.is(json['Node'], process.version);
});

test("version's fast entry prints what the full CLI prints, and declines the forms it does not know", () => {
  const full = (...args: string[]) => spawnSync(process.execPath, [join(bin, '../berth-main.cjs'), ...args], { encoding: 'utf8' });
  for (const args of [['version'], ['version', '-f', 'json'], ['--root', '/nonexistent', 'version', '--format=json']]) {
    const fast = berth(...args);
    assert.is(fast.status, 0, fast.stderr);
    assert.is(fast.stdout, full(...args).stdout, args.join(' '));
  }
  assert.match(berth('version', '--help').stdout, /^Usage: berth version \[options\]/);
  const bad = berth('version', '--bogus');
  assert.is(bad.status, 125);
  assert.match(bad.stderr, /unknown option '--bogus'/);
});

test('berth info reports the root and state dirs it was given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-e2e-'));
  try {
    const r = berth('--root', join(dir, 'root'), '--state', join(dir, 'state'), 'info', '--format', 'json');
    assert.is(r.status, 0, r.stderr);
    const i = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.is(i['Root Dir'], join(dir, 'root'));
    assert.is(i['State Dir'], join(dir, 'state'));
    assert.ok(i['Storage Driver'] === 'overlay' || i['Storage Driver'] === 'vfs');
    const env = spawnSync(process.execPath, [bin, 'info', '--format', 'json'], {
      encoding: 'utf8', env: { ...process.env, BERTH_ROOT: join(dir, 'r2') },
    });
    assert.is((JSON.parse(env.stdout) as Record<string, unknown>)['Root Dir'], join(dir, 'r2'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown command is one line on stderr and exit 125', () => {
  const r = berth('frobnicate');
  assert.is(r.status, 125);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^berth: unknown command 'frobnicate'/);
});

test('an unknown flag is one line on stderr and exit 125', () => {
  const r = berth('version', '--bogus');
  assert.is(r.status, 125);
  assert.is(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /unknown option '--bogus'/);
});

test.run();
