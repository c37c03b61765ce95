import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BerthError, ErrorCode, fromErrno, httpStatus, isBerthError, notFound, toBerthError, exitStatus } from './index.js';

test('a shorthand builds a BerthError with its code and keeps the cause', () => {
  const cause = new Error('disk');
  const e = notFound('image "x" not found', { cause });
  assert.ok(e instanceof BerthError);
  assert.is(e.code, ErrorCode.NotFound);
  assert.is(e.message, 'image "x" not found');
  assert.is(e.cause, cause);
  assert.ok(isBerthError(e, 'NotFound'));
  assert.not.ok(isBerthError(e, 'Conflict'));
});

test('fromErrno names the operation and maps the errno to a code', () => {
  const e = fromErrno('mount overlay on /x', 'EBUSY', { path: '/x', syscall: 'mount' });
  assert.is(e.message, 'mount overlay on /x: device or resource busy');
  assert.is(e.code, 'Conflict');
  assert.is(e.errno, 'EBUSY');
  assert.is(e.path, '/x');
  assert.is(fromErrno('open /y', 'EWEIRD').code, 'Internal');
});

test('toBerthError keeps a Node system error\'s errno and path', () => {
  let caught: unknown;
  try { readFileSync('/nonexistent/berth-test'); } catch (e) { caught = e; }
  const e = toBerthError(caught);
  assert.is(e.code, 'NotFound');
  assert.is(e.path, '/nonexistent/berth-test');
  assert.ok(e.message.includes('no such file or directory'));
  assert.is(toBerthError('boom').code, 'Internal');
});

test('exit and HTTP statuses follow Docker', () => {
  assert.is(exitStatus(notFound('x')), 125);
  assert.is(exitStatus(notFound('x', { detail: { exec: true } })), 127);
  assert.is(exitStatus(new BerthError('PermissionDenied', 'x', { detail: { exec: true } })), 126);
  assert.is(httpStatus('NotFound'), 404);
  assert.is(httpStatus('Conflict'), 409);
  assert.is(httpStatus('InvalidArgument'), 400);
});

test.run();
