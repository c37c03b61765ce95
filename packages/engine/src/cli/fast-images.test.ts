import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './fast-images.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-fast-images-'));
const images = (...args: string[]) => run(['--root', join(dir, 'root'), '--state', join(dir, 'state'), 'images', ...args]);

test('answers from berth.db; declines (printing nothing) other commands, help, bad flags and filters', () => {
  assert.is(run(['ps']), false);
  assert.is(images('--help'), false);
  assert.is(images('-z'), false);
  assert.is(images('a', 'b'), false);
  assert.is(images('-f', 'bogus=1'), false, 'the full CLI reports the unknown filter');
  assert.is(images('-q'), true, 'an empty store');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
