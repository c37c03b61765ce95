#!/usr/bin/env node
// Entry of berth's bundled binaries (dist/berth.cjs, dist/berth-runtime.cjs), copied there by the
// engine's and the runtime's build.mjs: it runs the bundle beside it, `<name>-main.cjs`, with V8's
// code cache, so a start does not parse and compile the bundle again (Node 20 has no
// module.enableCompileCache; this is what it does, by hand).
//
// The cache is one file per bundle build (size, mtime) and Node version under $BERTH_CACHE, else
// $BERTH_STATE/cache, else /run/berth/cache. A missing, unreadable or stale cache only costs the
// compile: V8 checks the data against the source and flags and rejects what does not match;
// then the cache is written anew at exit, with every function this run compiled.
'use strict';
const { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { basename, dirname, join } = require('node:path');
const { Script, constants: vmConstants } = require('node:vm');

const file = join(__dirname, basename(__filename, '.cjs') + '-main.cjs');
const fd = openSync(file, 'r');
const st = fstatSync(fd);
const source = readFileSync(fd, 'utf8');
closeSync(fd);
const dir = process.env.BERTH_CACHE || join(process.env.BERTH_STATE || '/run/berth', 'cache');
const prefix = `${basename(file, '.cjs')}-`;
const cacheFile = join(dir, `${prefix}${st.size}-${Math.floor(st.mtimeMs)}-${process.version}-${process.arch}.v8`);
let cachedData;
try { cachedData = readFileSync(cacheFile); } catch { /* first run of this build: compile */ }
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: file,
  // import() of Node's modules in the bundle resolves as it would in the bundle run directly.
  importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  ...(cachedData === undefined ? {} : { cachedData }),
});
if (cachedData === undefined || script.cachedDataRejected === true) {
  process.once('exit', () => {
    try {
      mkdirSync(dir, { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
      // Caches of earlier builds of this bundle go once a week old (another copy of berth may
      // still be using its own).
      for (const f of readdirSync(dir)) {
        const old = join(dir, f);
        if (f.startsWith(prefix) && f.endsWith('.v8') && old !== cacheFile && Date.now() - statSync(old).mtimeMs > 7 * 86400e3) rmSync(old, { force: true });
      }
    } catch { /* the cache is an optimisation: a read-only or missing state dir only costs speed */ }
  });
}
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
