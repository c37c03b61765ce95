#!/usr/bin/env node
// Entry of berth's bundled binaries (dist/berth.cjs, dist/berth-runtime.cjs), copied there by the
// engine's and the runtime's build.mjs: it runs the bundle beside it, `<name>-main.cjs`, with V8's
// code cache, so a start does not parse and compile the bundle again (Node 20 has no
// module.enableCompileCache; this is what it does, by hand).
//
// The cache is one file per bundle build, Node version and command under $BERTH_CACHE, else
// $BERTH_STATE/cache, else /run/berth/cache. Its name carries the bundle's size and mtime: V8
// itself checks only the source's length, its version and flags, so the name is what ties the
// data to this very bundle. A missing, unreadable or rejected cache only costs the compile; then
// the cache is written at exit, with every function this run compiled. One cache per command
// (`version`, `run`, `ps`…): V8 deserializes all of a cache, so `version` must not load the
// functions that a `run` compiled.
//
// A command may have a fast entry beside the bundle, `<name>-fast-<command>.cjs`, a small bundle
// of what that command needs in its common forms: its `run(argv)` answers and returns true, or
// returns false, having printed nothing, and the full bundle runs. It is loaded the same way
// (with its own code cache).
'use strict';
const { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, write, writeFileSync } = require('node:fs');
const { basename, dirname, join } = require('node:path');
const { Script, constants: vmConstants } = require('node:vm');

// The command: the first argument that is not an option or the value of a global option of
// berth's or berth-runtime's (all of which take a value); anything unusual shares one cache.
const valued = new Set(['--root', '--state', '--log', '--log-format']);
let command = 'other';
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (valued.has(a)) { i++; continue; }
  if (a.startsWith('-')) continue;
  if (/^[a-z][a-z0-9-]{0,31}$/.test(a)) command = a;
  break;
}
if (basename(__filename, '.cjs') === 'berth-runtime' && (command === 'run' || command === 'create' || command === 'exec')) warmCgroupMove(command === 'exec');
const fast = join(__dirname, `${basename(__filename, '.cjs')}-fast-${command}.cjs`);
if (!(command !== 'other' && existsSync(fast) && load(fast).run(process.argv.slice(2)) === true)) load(join(__dirname, `${basename(__filename, '.cjs')}-main.cjs`));

/** Runs a CommonJS bundle with the code cache of this command; returns its exports. */
function load(file) {
  const fd = openSync(file, 'r');
  const st = fstatSync(fd);
  // latin1: esbuild writes ASCII only (its default charset escapes the rest), so this is the
  // same text, made straight into a one-byte string; 'utf8' goes through a decoder and an extra
  // copy (~2 ms and ~200 page faults for berth's 600 KB bundle).
  const source = readFileSync(fd, 'latin1');
  closeSync(fd);
  const dir = process.env.BERTH_CACHE || join(process.env.BERTH_STATE || '/run/berth', 'cache');
  const prefix = `${basename(file, '.cjs')}-`;
  const build = `${prefix}${st.size}-${Math.floor(st.mtimeMs)}-`;
  const cacheFile = join(dir, `${build}${process.version}-${process.arch}-${command}.v8`);
  let cachedData;
  try { cachedData = readFileSync(cacheFile); } catch { /* first run of this build: compile */ }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    // import() of Node's modules in the bundle resolves as it would in the bundle run directly.
    importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  if (cachedData === undefined || script.cachedDataRejected === true) {
    process.once('exit', (code) => {
      // A failed command (a typo, a bad flag) leaves no cache behind.
      if (code !== 0) return;
      try {
        mkdirSync(dir, { recursive: true });
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
        // Caches of earlier builds of this bundle go once an hour old (another copy of berth may
        // still use its own: it writes it again, once). Builds are frequent where berth is developed.
        for (const f of readdirSync(dir)) {
          const old = join(dir, f);
          if (f.startsWith(prefix) && !f.startsWith(build) && f.endsWith('.v8') && Date.now() - statSync(old).mtimeMs > 3600e3) rmSync(old, { force: true });
        }
      } catch { /* the cache is an optimisation: a read-only or missing state dir only costs speed */ }
    });
  }
  const mod = { exports: {} };
  // The bundle gets this file's own require: both sit in dist/, and a bundle requires only
  // Node's built-ins (esbuild inlined the rest; addons load by absolute path). createRequire
  // would load node:module's public face, ~0.5 ms of every start.
  script.runInThisContext()(mod.exports, require, mod, file, dirname(file));
  return mod.exports;
}

/**
 * berth-runtime run/create/exec move a process into the container's cgroups through cgroup.procs
 * (exec always; run/create only with cgroup v2, as v1's init joins itself), and the first move
 * in a while waits for an RCU grace period (5-15 ms here; runc pays it too): see
 * ../cgroups/warm.ts. Started here, before the bundle loads, the wait is mostly over by the time
 * the process is moved. This process
 * moves into the cgroup it is already in (a no-op) from libuv's thread pool; v1's pids or
 * freezer hierarchy, else cgroup2, at their usual mount points; any failure just skips it.
 */
function warmCgroupMove(exec) {
  try {
    const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const v1 = lines.map((l) => /^\d+:(pids|freezer):(\/.*)$/.exec(l)).find((m) => m !== null);
    // With cgroup v1 a container's init joins itself without the wait, and a warm-up would
    // only hold cgroup_mutex while the cgroups are made (../cgroups/warm.ts): exec only.
    if (v1 && !exec) return;
    const v2 = lines.map((l) => /^0::(\/.*)$/.exec(l)).find((m) => m !== null);
    const procs = v1 ? `/sys/fs/cgroup/${v1[1]}${v1[2] === '/' ? '' : v1[2]}/cgroup.procs`
      : v2 ? `/sys/fs/cgroup${v2[1] === '/' ? '' : v2[1]}/cgroup.procs` : undefined;
    if (procs === undefined) return;
    const fd = openSync(procs, 'r+');
    write(fd, String(process.pid), () => closeSync(fd));
  } catch { /* no such hierarchy here, or no permission: the move just waits later */ }
}
