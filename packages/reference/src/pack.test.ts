// The published form works: `npm pack` of @berth/errors and @berth/reference (built from
// source into a scratch copy, so the repository's dist/ is left alone), installed into an
// empty folder outside the monorepo, imported with plain node — no tsx, no source condition.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packAndInstall, sh } from '../../../tools/test/pack.js';

test('npm pack of @berth/reference installs and imports in an empty folder', () => {
  const packed = packAndInstall(['errors', 'reference']);
  try {
    const files = sh(packed.app, 'tar', '-tzf', packed.tarballs[1]!).split('\n');
    assert.ok(files.includes('package/dist/index.js') && files.includes('package/dist/index.d.ts') && files.includes('package/README.md'), files.join(' '));
    assert.not.ok(files.some((f) => f.includes('.test.') || f.includes('/src/')), 'tests or sources packed');
    const got: unknown = JSON.parse(packed.run(`import { parseDockerRef, familiar, parse, isReferenceError } from '@berth/reference';
import { isBerthError } from '@berth/errors';
const r = parseDockerRef('busybox');
let kind;
try { parse('Upper:tag'); } catch (e) { kind = isReferenceError(e) && isBerthError(e, 'InvalidArgument') ? e.kind : 'other'; }
let deep = 'allowed';
try { await import('@berth/reference/dist/grammar.js'); } catch (e) { deep = e.code; }
console.log(JSON.stringify({ ref: String(r), familiar: familiar(r), kind, deep }));
`));
    assert.equal(got, { ref: 'docker.io/library/busybox:latest', familiar: 'busybox:latest', kind: 'NameContainsUppercase', deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  } finally {
    packed.remove();
  }
});

test.run();
