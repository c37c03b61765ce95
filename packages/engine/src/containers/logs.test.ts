import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLogWriter, parseLogLines, readLog, selectLog } from './logs.js';
import { humanDuration } from '../cli/commands/ps.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-logs-'));

test('lines become json-file entries; partial lines wait for their end or the flush', () => {
  const p = join(dir, 'a.json');
  const w = new JsonLogWriter(p);
  w.write('stdout', 'hel');
  w.write('stdout', 'lo\nwor');
  w.write('stderr', 'oops\n');
  w.close();
  const e = readLog(p);
  assert.equal(e.map((x) => [x.stream, x.log]), [['stdout', 'hello\n'], ['stderr', 'oops\n'], ['stdout', 'wor']]);
  assert.match(readFileSync(p, 'utf8').split('\n')[0] ?? '', /^\{"log":"hello\\n","stream":"stdout","time":"\d{4}-/);
});

test('max-size rotates to log.json.1 … and readers read oldest first; max-file bounds the files', () => {
  const p = join(dir, 'b.json');
  const w = new JsonLogWriter(p, { maxSize: 200, maxFile: 3 });
  for (let i = 0; i < 20; i++) w.write('stdout', `line ${i}\n`);
  w.close();
  assert.ok(existsSync(`${p}.1`) && existsSync(`${p}.2`));
  assert.not.ok(existsSync(`${p}.3`));
  const lines = readLog(p).map((e) => e.log);
  assert.is(lines[lines.length - 1], 'line 19\n');
  const nums = lines.map((l) => Number(l.split(' ')[1]));
  assert.equal(nums, [...nums].sort((a, b) => a - b));
  assert.ok(lines.length < 20);
});

test('tail, since and until select like docker logs; torn lines are skipped', () => {
  const entries = parseLogLines([
    '{"log":"a\\n","stream":"stdout","time":"2026-01-01T00:00:00.000Z"}',
    '{"log":"b\\n","stream":"stdout","time":"2026-01-01T00:00:10.000Z"}',
    '{"log":"c\\n","stream":"stderr","time":"2026-01-01T00:00:20.000Z"}',
    '{"log":"torn',
  ].join('\n'));
  assert.is(entries.length, 3);
  assert.equal(selectLog(entries, { tail: 2 }).map((e) => e.log), ['b\n', 'c\n']);
  assert.equal(selectLog(entries, { tail: 0 }), []);
  assert.equal(selectLog(entries, { since: Date.parse('2026-01-01T00:00:05Z'), until: Date.parse('2026-01-01T00:00:15Z') }).map((e) => e.log), ['b\n']);
});

test('durations read like Docker\'s', () => {
  assert.is(humanDuration(500), 'Less than a second');
  assert.is(humanDuration(1000), '1 second');
  assert.is(humanDuration(42_000), '42 seconds');
  assert.is(humanDuration(90_000), 'About a minute');
  assert.is(humanDuration(5 * 60_000), '5 minutes');
  assert.is(humanDuration(3_600_000 * 1.5), 'About an hour');
  assert.is(humanDuration(3_600_000 * 5), '5 hours');
  assert.is(humanDuration(86_400_000 * 3), '3 days');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
