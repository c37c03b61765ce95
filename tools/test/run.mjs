#!/usr/bin/env node
// The one test runner of the monorepo.
//
//   node tools/test/run.mjs [DIR|FILE ...]     (default: every package, native/, tools/, e2e/)
//
// Finds `*.test.ts` files, runs each in its own Node process with uvu (TypeScript through tsx,
// workspace packages resolved to their sources with the `berth-source` condition), and prints as
// its very last line `N passed, N failed, N skipped`. Exit status 1 when anything failed.
//
// `*.root.test.ts` files need root: when not root they are not run, and each counts as one
// skipped test with the reason printed. Plain tests run two at a time; root tests run one at a
// time after them, since they share the host's mounts, cgroups and CPU.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(import.meta.url), '../../..');
const skipDirs = new Set(['node_modules', 'dist', 'build', '.nx', '.git']);
const timeoutMs = Number(process.env.BERTH_TEST_TIMEOUT_MS ?? 15 * 60_000);
const jobs = Math.max(1, Number(process.env.BERTH_TEST_JOBS ?? 2));

function find(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(path);
    return out;
  }
  for (const name of readdirSync(path).sort()) {
    if (skipDirs.has(name) || name.startsWith('.')) continue;
    find(join(path, name), out);
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args.map((a) => resolve(a)) : ['packages', 'native', 'tools', 'e2e'].map((d) => join(repo, d));
const files = [];
for (const r of roots) {
  try { find(r, files); } catch (e) { if (e.code !== 'ENOENT') throw e; }
}

const isRoot = process.getuid?.() === 0;
const totals = { passed: 0, failed: 0, skipped: 0 };
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const num = (text, label) => {
  const m = new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

function runFile(file) {
  const name = relative(repo, file);
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--conditions=berth-source', '--import', 'tsx', file], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1', BERTH_REPO: repo },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n(test file timed out after ${timeoutMs} ms)\n`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = strip(out);
      const total = num(text, 'Total');
      const passed = num(text, 'Passed');
      const skipped = num(text, 'Skipped') ?? 0;
      const ms = Date.now() - started;
      let failed;
      if (total === undefined || passed === undefined) failed = 1;
      // uvu's Total counts the tests that ran; skipped ones are counted apart.
      else failed = Math.max(0, total - passed) || (code === 0 ? 0 : 1);
      totals.passed += passed ?? 0;
      totals.skipped += skipped;
      totals.failed += failed;
      const notes = [...text.matchAll(/^#\s*skip:.*$/gm)].map((m) => `    ${m[0]}`);
      if (failed > 0) {
        process.stdout.write(`FAIL ${name} (${ms} ms, exit ${signal ?? code})\n${text.replace(/^/gm, '    ')}\n`);
      } else {
        process.stdout.write(`ok   ${name} (${passed} passed${skipped ? `, ${skipped} skipped` : ''}, ${ms} ms)\n${notes.length ? notes.join('\n') + '\n' : ''}`);
      }
      done();
    });
  });
}

async function pool(list, n) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, list.length) }, async () => {
    while (next < list.length) await runFile(list[next++]);
  }));
}

const plain = files.filter((f) => !f.endsWith('.root.test.ts'));
const rootOnly = files.filter((f) => f.endsWith('.root.test.ts'));
await pool(plain, jobs);
if (isRoot) await pool(rootOnly, 1);
else for (const f of rootOnly) {
  totals.skipped += 1;
  process.stdout.write(`skip ${relative(repo, f)}: needs root (run the suite as root)\n`);
}
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exitCode = totals.failed > 0 ? 1 : 0;
