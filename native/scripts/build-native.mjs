#!/usr/bin/env node
// Builds berth_native.node and berth-shim with node-gyp, after checking that the toolchain is
// there, so a missing compiler is one clear line instead of a page of gyp output.
//
//   node scripts/build-native.mjs build     incremental build (the npm `install` and `build` scripts);
//                                           configures first when never configured, or configured
//                                           for another Node or other headers
//   node scripts/build-native.mjs rebuild   clean, configure and build from scratch
//   node scripts/build-native.mjs check     only check the toolchain
//
// `install` is incremental too on purpose: in a shared work tree, a clean rebuild would delete
// build/Release/berth_native.node while other processes' tests are looking for it; the linker
// writes a new inode, so a process that has the old addon loaded keeps working.
//
// Node headers: node-gyp downloads them unless told where they are, and this machine may have no
// internet; so we pass --nodedir when headers for this exact Node version are installed
// (Debian/NodeSource `nodejs` ships them in /usr/include/node).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const action = process.argv[2] ?? 'build';
if (!['build', 'rebuild', 'check'].includes(action)) {
  console.error(`build-native: unknown action "${action}" (use build, rebuild or check)`);
  process.exit(2);
}

const problems = [];
function have(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) problems.push(what);
}
have(process.env.CXX ?? 'g++', ['--version'], 'a C++ compiler (g++): apt-get install g++');
have(process.env.CC ?? 'cc', ['--version'], 'a C compiler (gcc): apt-get install gcc');
have('make', ['--version'], 'make: apt-get install make');
have(process.env.PYTHON ?? 'python3', ['--version'], 'python3 (node-gyp runs gyp with it): apt-get install python3');
if (!['/usr/include/seccomp.h', '/usr/local/include/seccomp.h'].some((p) => existsSync(p))) {
  problems.push('libseccomp headers (berth-shim links -lseccomp): apt-get install libseccomp-dev');
}

/** A directory with include/node/node_api.h for exactly this Node version, or undefined. */
function headersIn(dir) {
  try {
    const h = readFileSync(join(dir, 'include/node/node_version.h'), 'utf8');
    const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => new RegExp(`#define NODE_${k}_VERSION (\\d+)`).exec(h)?.[1]).join('.');
    return v === process.versions.node && existsSync(join(dir, 'include/node/node_api.h')) ? dir : undefined;
  } catch {
    return undefined;
  }
}
const nodeVersion = process.versions.node;
const gypCache = [process.env.npm_config_devdir, join(homedir(), '.cache/node-gyp')].filter(Boolean).map((d) => join(d, nodeVersion));
const fromEnv = process.env.npm_config_nodedir;
const nodedir = fromEnv || [dirname(dirname(process.execPath)), '/usr', '/usr/local'].map(headersIn).find(Boolean);
const cached = gypCache.some((d) => existsSync(join(d, 'include/node/node_api.h')));
if (fromEnv && !existsSync(join(fromEnv, 'include/node/node_api.h'))) {
  problems.push(`Node headers in npm_config_nodedir=${fromEnv}: it has no include/node/node_api.h`);
} else if (!nodedir && !cached) {
  problems.push(
    `headers for Node ${nodeVersion} (node_api.h): install Node with its headers (the NodeSource or Debian \`nodejs\` ` +
      'package puts them in /usr/include/node), or point npm_config_nodedir at an unpacked node-headers tarball',
  );
}

if (problems.length > 0) {
  console.error("berth's native addon cannot be built; missing:");
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
if (action === 'check') process.exit(0);

// One build at a time: in a shared work tree `nx run-many -t build`, `npm install` and a developer
// may all build native at once, and two node-gyp runs in one build/ break each other (one cleans
// what the other configures). flock(1) (util-linux) holds a kernel lock for the whole build and
// drops it if we die; the decision to reconfigure is taken inside it.
const lockEnv = 'BERTH_NATIVE_BUILD_LOCKED';
if (process.env[lockEnv] !== '1' && spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0) {
  const lock = join(tmpdir(), `berth-native-build-${createHash('sha256').update(here).digest('hex').slice(0, 16)}.lock`);
  const r = spawnSync('flock', [lock, process.execPath, fileURLToPath(import.meta.url), action], {
    stdio: 'inherit',
    env: { ...process.env, [lockEnv]: '1' },
  });
  process.exit(r.status ?? 1);
}

// node-gyp: the root devDependency, else the one npm ships with.
const require = createRequire(join(here, 'package.json'));
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  gyp = process.env.npm_config_node_gyp;
}
if (!gyp || !existsSync(gyp)) {
  console.error('build-native: node-gyp not found: run `npm install` at the repository root first');
  process.exit(1);
}

/** True when build/ was configured for this Node (module version) and these headers. */
function configuredForThisNode() {
  if (!existsSync(join(here, 'build/Makefile'))) return false;
  try {
    const cfg = readFileSync(join(here, 'build/config.gypi'), 'utf8');
    const modules = /"node_module_version": (\d+)/.exec(cfg)?.[1];
    const dir = /"nodedir": "([^"]*)"/.exec(cfg)?.[1];
    return modules === process.versions.modules && (nodedir === undefined || dir === nodedir);
  } catch {
    return false;
  }
}
const gypAction = action === 'rebuild' || !configuredForThisNode() ? 'rebuild' : 'build';
const args = [gyp, gypAction, '--release', '--loglevel=warn', `--jobs=${process.env.BERTH_BUILD_JOBS ?? '2'}`];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: here, stdio: 'inherit' });
process.exit(r.status ?? 1);
