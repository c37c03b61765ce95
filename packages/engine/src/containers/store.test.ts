import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { isBerthError } from '@berth/errors';
import { openDatabase } from '@berth/layer-store';
import { ContainerStore } from './store.js';
import { generateName, newContainerId, parseContainerId } from './names.js';
import { monitorAlive, processStart, selfStart } from './record.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
const store = (file = 'a.db') => new ContainerStore(openDatabase(join(dir, file)), (j) => j as { cmd: string[] });

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { return isBerthError(e) ? e.code : `not berth: ${String(e)}`; }
  return 'no error';
}

test('IDs are 64 hex with a non-numeric short form; names look like Docker\'s', () => {
  for (let i = 0; i < 50; i++) {
    const id = newContainerId();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.not.match(id.slice(0, 12), /^\d+$/);
  }
  assert.match(generateName(), /^[a-z]+_[a-z]+$/);
  assert.match(generateName(1), /^[a-z]+_[a-z]+\d$/);
  assert.is(code(() => parseContainerId('xyz')), 'InvalidArgument');
});

test('insert, lookup by name, full ID and unique prefix; ambiguous prefixes refused', () => {
  const s = store();
  const a = s.insert({ id: parseContainerId('ab' + '0'.repeat(62)), name: 'web', image: 'busybox', imageId: 'sha256:x', config: { cmd: ['sh'] } });
  s.insert({ id: parseContainerId('ac' + '0'.repeat(62)), image: 'busybox', imageId: 'sha256:x', config: { cmd: [] } });
  assert.is(a.state.status, 'created');
  assert.equal(a.config, { cmd: ['sh'] });
  assert.is(s.get('web').id, a.id);
  assert.is(s.get('/web').id, a.id);
  assert.is(s.get(a.id).name, 'web');
  assert.is(s.get('ab').id, a.id);
  assert.is(code(() => s.get('a')), 'InvalidArgument');
  assert.is(code(() => s.get('nope')), 'NotFound');
  assert.is(code(() => s.insert({ name: 'web', image: 'b', imageId: 'x', config: { cmd: [] } })), 'Conflict');
  assert.is(s.list().length, 2);
});

test('transitions re-read and check inside one transaction; rename keeps names unique', () => {
  const s = store('b.db');
  const c = s.insert({ name: 'one', image: 'b', imageId: 'x', config: { cmd: [] } });
  s.insert({ name: 'two', image: 'b', imageId: 'x', config: { cmd: [] } });
  const r = s.transition(c.id, (cur) => {
    if (cur.state.status !== 'created') throw new Error('bad');
    return { status: 'running', pid: 42, startedAt: 'now', oomKilled: false };
  });
  assert.is(r.state.status, 'running');
  assert.is(r.state.pid, 42);
  assert.is(code(() => s.rename(c.id, 'two')), 'Conflict');
  s.rename(c.id, 'uno');
  assert.is(s.get('uno').id, c.id);
  s.delete(c.id);
  assert.is(s.find(c.id), undefined);
});

test('6 processes inserting at once all succeed with distinct names', async () => {
  const db = join(dir, 'c.db');
  store('c.db');
  const script = `
    import { openDatabase } from '@berth/layer-store';
    import { ContainerStore } from ${JSON.stringify(new URL('./store.ts', import.meta.url).pathname)};
    const s = new ContainerStore(openDatabase(${JSON.stringify(db)}), (j) => j);
    for (let i = 0; i < 5; i++) s.insert({ image: 'b', imageId: 'x', config: {} });
  `;
  const runs = Array.from({ length: 6 }, () => new Promise<number>((done) => {
    const p = spawn(process.execPath, ['--conditions=berth-source', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (c) => done(c ?? 1));
  }));
  assert.equal(await Promise.all(runs), Array(6).fill(0));
  const all = store('c.db').list();
  assert.is(all.length, 30);
  assert.is(new Set(all.map((c) => c.name)).size, 30);
});

test('a holder is alive only with the start time it recorded (a reused pid is someone else)', () => {
  assert.ok(selfStart() !== '');
  assert.is(processStart(process.pid), selfStart());
  assert.ok(monitorAlive(process.pid, selfStart()));
  assert.not.ok(monitorAlive(process.pid, String(Number(selfStart()) + 1)));
  assert.not.ok(monitorAlive(0));
  assert.is(processStart(2 ** 22 + 1), '');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
