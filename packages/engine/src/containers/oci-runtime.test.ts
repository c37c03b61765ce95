import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runtimeError, runtimeOomKilled, startError } from './oci-runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-oci-runtime-'));
const log = (name: string, lines: readonly string[]): string => {
  const p = join(dir, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
};

test('the last error of a runtime log is its start failure; 127/126 for exec errors', () => {
  const p = log('err.json', ['{"level":"info","msg":"x"}', 'not json', '{"level":"error","msg":"first"}', '{"level":"error","msg":"runc run failed: unable to start container process: exec: \\"nope\\": executable file not found in $PATH"}']);
  const msg = runtimeError(p);
  assert.match(msg ?? '', /executable file not found/);
  const e = startError(msg ?? '');
  assert.is(e.code, 'NotFound');
  assert.is(e.detail?.['exec'], true);
  assert.is(e.message, 'cannot start container: exec: "nope": executable file not found in $PATH');
  assert.is(startError('exec: "/etc": permission denied').code, 'PermissionDenied');
  assert.is(runtimeError(join(dir, 'absent.json')), undefined);
});

test('an OOM kill is read from the runtime log line that says oomKilled: true', () => {
  assert.is(runtimeOomKilled(log('oom.json', ['{"level":"info","msg":"container exited","exitCode":137,"oomKilled":true}'])), true);
  assert.is(runtimeOomKilled(log('no-oom.json', ['{"level":"info","msg":"container exited","exitCode":137,"oomKilled":false}', 'oomKilled true'])), false);
  assert.is(runtimeOomKilled(join(dir, 'absent.json')), false);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
