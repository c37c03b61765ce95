import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BerthError } from '@berth/errors';
import {
  familiar,
  familiarName,
  isNameOnly,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalized,
  InvalidReferenceError,
  trimNamed,
  withDigest,
  withTag,
  type ReferenceErrorKind,
} from './index.js';

const f64 = 'f'.repeat(64);
const sha = `sha256:${f64}`;
const sha512 = `sha512:${'f'.repeat(128)}`;

/** Expect `fn` to throw a InvalidReferenceError of `kind`. */
function throwsKind(fn: () => unknown, kind: ReferenceErrorKind, input: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InvalidReferenceError, `${input}: not a InvalidReferenceError: ${String(e)}`);
    assert.ok(e instanceof BerthError);
    assert.is(e.code, 'InvalidArgument');
    assert.is(e.kind, kind, `${input}: kind ${e.kind}, message ${e.message}`);
    assert.is(e.detail?.['kind'], kind);
    return;
  }
  assert.unreachable(`${input}: parsed, expected ${kind}`);
}

type Ok = { domain?: string; path: string; tag?: string; digest?: string };
// [input, expected parts] — every branch of the grammar, after distribution/reference's own table.
const valid: Array<[string, Ok]> = [
  ['test_com', { path: 'test_com' }],
  ['test.com:tag', { path: 'test.com', tag: 'tag' }],
  ['test.com:5000', { path: 'test.com', tag: '5000' }],
  ['test.com/repo:tag', { domain: 'test.com', path: 'repo', tag: 'tag' }],
  ['test:5000/repo', { domain: 'test:5000', path: 'repo' }],
  ['test:5000/repo:tag', { domain: 'test:5000', path: 'repo', tag: 'tag' }],
  [`test:5000/repo@${sha}`, { domain: 'test:5000', path: 'repo', digest: sha }],
  [`test:5000/repo:tag@${sha}`, { domain: 'test:5000', path: 'repo', tag: 'tag', digest: sha }],
  ['localhost:5000/foo/bar:tag', { domain: 'localhost:5000', path: 'foo/bar', tag: 'tag' }],
  [`a/a/a:b@${sha}`, { domain: 'a', path: 'a/a', tag: 'b', digest: sha }],
  ['lowercase:Uppercase', { path: 'lowercase', tag: 'Uppercase' }],
  ['sub-dom1.foo.com/bar/baz/quux', { domain: 'sub-dom1.foo.com', path: 'bar/baz/quux' }],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', { domain: 'sub-dom1.foo.com', path: 'bar/baz/quux', tag: 'some-long-tag' }],
  ['b.gcr.io/test.example.com/my-app:test.example.com', { domain: 'b.gcr.io', path: 'test.example.com/my-app', tag: 'test.example.com' }],
  ['xn--n3h.com/myimage:xn--n3h.com', { domain: 'xn--n3h.com', path: 'myimage', tag: 'xn--n3h.com' }],
  [`xn--7o8h.com/myimage:xn--7o8h.com@${sha512}`, { domain: 'xn--7o8h.com', path: 'myimage', tag: 'xn--7o8h.com', digest: sha512 }],
  ['foo_bar.com:8080', { path: 'foo_bar.com', tag: '8080' }],
  ['foo/foo_bar.com:8080', { domain: 'foo', path: 'foo_bar.com', tag: '8080' }],
  ['192.168.1.1', { path: '192.168.1.1' }],
  ['192.168.1.1:tag', { path: '192.168.1.1', tag: 'tag' }],
  ['192.168.1.1:5000', { path: '192.168.1.1', tag: '5000' }],
  ['192.168.1.1/repo', { domain: '192.168.1.1', path: 'repo' }],
  ['192.168.1.1:5000/repo', { domain: '192.168.1.1:5000', path: 'repo' }],
  ['192.168.1.1:5000/repo:5050', { domain: '192.168.1.1:5000', path: 'repo', tag: '5050' }],
  ['[2001:db8::1]/repo', { domain: '[2001:db8::1]', path: 'repo' }],
  ['[2001:db8:1:2:3:4:5:6]/repo:tag', { domain: '[2001:db8:1:2:3:4:5:6]', path: 'repo', tag: 'tag' }],
  ['[2001:db8::1]:5000/repo', { domain: '[2001:db8::1]:5000', path: 'repo' }],
  ['[2001:db8::1]:5000/repo:tag', { domain: '[2001:db8::1]:5000', path: 'repo', tag: 'tag' }],
  [`[2001:db8::1]:5000/repo@${sha}`, { domain: '[2001:db8::1]:5000', path: 'repo', digest: sha }],
  ['[2001:db8::]:5000/repo', { domain: '[2001:db8::]:5000', path: 'repo' }],
  ['[::1]:5000/repo', { domain: '[::1]:5000', path: 'repo' }],
  ['Uppercase/lowercase:tag', { domain: 'Uppercase', path: 'lowercase', tag: 'tag' }], // a domain may have upper case
  ['test-com:8080/foo', { domain: 'test-com:8080', path: 'foo' }],
  ['a/b/c/d/e', { domain: 'a', path: 'b/c/d/e' }],
  // path separators: ".", "_", "__", "-" and runs of "-"
  ['a.b', { path: 'a.b' }],
  ['a_b', { path: 'a_b' }],
  ['a__b', { path: 'a__b' }],
  ['a-b', { path: 'a-b' }],
  ['a---b', { path: 'a---b' }],
  ['a.b_c__d-e--f/g', { path: 'a.b_c__d-e--f/g' }],
  ['0/1', { domain: '0', path: '1' }],
  // tags
  ['a:_', { path: 'a', tag: '_' }],
  ['a:A.b-C_9', { path: 'a', tag: 'A.b-C_9' }],
  [`a:${'t'.repeat(128)}`, { path: 'a', tag: 't'.repeat(128) }],
  // digests: sha256, sha384, sha512
  [`a@sha384:${'0'.repeat(96)}`, { path: 'a', digest: `sha384:${'0'.repeat(96)}` }],
  [`a@${sha512}`, { path: 'a', digest: sha512 }],
  // name of exactly 255 characters
  [`${'a/'.repeat(127)}a:tag-puts-this-over-max`, { domain: 'a', path: `${'a/'.repeat(126)}a`, tag: 'tag-puts-this-over-max' }],
  [`x.io/${'a'.repeat(250)}`, { domain: 'x.io', path: 'a'.repeat(250) }],
];

test('parse: every branch of the grammar, and the string round-trips', () => {
  for (const [input, want] of valid) {
    const r = parse(input);
    assert.equal({ domain: r.domain, path: r.path, tag: r.tag, digest: r.digest }, { domain: want.domain, path: want.path, tag: want.tag, digest: want.digest }, input);
    assert.is(r.toString(), input);
    assert.is(String(parse(String(r))), input);
    assert.is(JSON.stringify(r), JSON.stringify(input));
    assert.is(r.name, want.domain === undefined ? want.path : `${want.domain}/${want.path}`);
  }
});

test('parse: absent parts are absent, not undefined-valued keys', () => {
  const r = parse('busybox');
  assert.equal(Object.keys(r).sort(), ['path']);
  assert.ok(Object.isFrozen(r));
});

const invalid: Array<[string, ReferenceErrorKind]> = [
  ['', 'NameEmpty'],
  [':justtag', 'ReferenceInvalidFormat'],
  [`@${sha}`, 'ReferenceInvalidFormat'],
  ['aa/asdf$$^/aa', 'ReferenceInvalidFormat'],
  ['[2001:db8::1]', 'ReferenceInvalidFormat'],
  ['[2001:db8::1]:5000', 'ReferenceInvalidFormat'],
  ['[2001:db8::1]:tag', 'ReferenceInvalidFormat'],
  ['[fe80::1%eth0]:5000/repo', 'ReferenceInvalidFormat'],
  ['[fe80::1%@invalidzone]:5000/repo', 'ReferenceInvalidFormat'],
  ['[]/repo', 'ReferenceInvalidFormat'],
  ['a..b', 'ReferenceInvalidFormat'],
  ['a___b', 'ReferenceInvalidFormat'],
  ['a.-b', 'ReferenceInvalidFormat'],
  ['a-_b', 'ReferenceInvalidFormat'],
  ['-a', 'ReferenceInvalidFormat'],
  ['a-', 'ReferenceInvalidFormat'],
  ['_a', 'ReferenceInvalidFormat'],
  ['a//b', 'ReferenceInvalidFormat'],
  ['a/', 'ReferenceInvalidFormat'],
  ['/a', 'ReferenceInvalidFormat'],
  ['a/b/', 'ReferenceInvalidFormat'],
  ['a b', 'ReferenceInvalidFormat'],
  ['ünïcode', 'ReferenceInvalidFormat'],
  ['-domain.com/a', 'ReferenceInvalidFormat'],
  ['domain-.com:5000/a', 'ReferenceInvalidFormat'],
  ['host:port/a', 'ReferenceInvalidFormat'],
  ['host:/a', 'ReferenceInvalidFormat'],
  ['a/b:c/d', 'ReferenceInvalidFormat'],
  ['Uppercase:tag', 'NameContainsUppercase'],
  ['test:5000/Uppercase/lowercase:tag', 'NameContainsUppercase'],
  ['UPPER', 'NameContainsUppercase'],
  ['Foo_bar/x', 'NameContainsUppercase'],
  ['Foo/Bar', 'NameContainsUppercase'],
  [`${'a/'.repeat(128)}a:tag`, 'NameTooLong'],
  [`x.io/${'a'.repeat(251)}`, 'NameTooLong'],
  ['a'.repeat(256), 'NameTooLong'],
  [`a:${'t'.repeat(129)}`, 'TagInvalidFormat'],
  ['a:-tag', 'TagInvalidFormat'],
  ['a:.tag', 'TagInvalidFormat'],
  ['a:', 'TagInvalidFormat'],
  ['a:b:c', 'TagInvalidFormat'],
  ['a:t@g', 'DigestInvalidFormat'],
  ['a@', 'DigestInvalidFormat'],
  ['a@sha256', 'DigestInvalidFormat'],
  ['a@sha256:ffff', 'DigestInvalidFormat'],
  [`a@sha256:${'g'.repeat(64)}`, 'DigestInvalidFormat'],
  [`a@sha256:${'F'.repeat(64)}`, 'DigestInvalidFormat'],
  [`a@1sha:${f64}`, 'DigestInvalidFormat'],
  [`a@sha+:${f64}`, 'DigestInvalidFormat'],
  [`a@${sha}@${sha}`, 'DigestInvalidFormat'],
  [`repo@sha256:${'f'.repeat(34)}`, 'DigestInvalidLength'],
  [`repo@sha256:${'f'.repeat(65)}`, 'DigestInvalidLength'],
  [`validname@invaliddigest:${f64}`, 'DigestUnsupported'],
  [`a@md5+b64:${f64}`, 'DigestUnsupported'],
];

test('parse: every error kind, as the reference implementation names it', () => {
  for (const [input, kind] of invalid) throwsKind(() => parse(input), kind, input);
});

test('error messages are lower case, name the input and stay short for huge input', () => {
  try {
    parse(`${'A'.repeat(100_000)}`);
  } catch (e) {
    assert.instance(e, InvalidReferenceError);
    const msg = (e as Error).message;
    assert.ok(msg.startsWith('invalid reference format: repository name'), msg);
    assert.ok(msg.length < 300, `message of ${msg.length} chars`);
  }
});

test('parseNormalized: Docker defaults, no tag added', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io/library/busybox'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    [`busybox@${sha}`, `docker.io/library/busybox@${sha}`],
    ['user/app', 'docker.io/user/app'],
    ['user/app/sub', 'docker.io/user/app/sub'],
    ['docker.io/ubuntu', 'docker.io/library/ubuntu'],
    ['docker.io/library/ubuntu', 'docker.io/library/ubuntu'],
    ['index.docker.io/ubuntu', 'docker.io/library/ubuntu'],
    ['index.docker.io/user/app:1', 'docker.io/user/app:1'],
    ['localhost/app', 'localhost/app'],
    ['localhost:5000/app:v1', 'localhost:5000/app:v1'],
    ['example.com/app', 'example.com/app'],
    ['registry:5000/app', 'registry:5000/app'],
    ['[::1]:5000/app', '[::1]:5000/app'],
    ['Registry/app', 'Registry/app'], // upper case makes the first component a domain
    ['localhost', 'docker.io/library/localhost'], // as distribution does: a single component is never a domain
    ['foo_bar.com/x', 'foo_bar.com/x'], // not a valid domain: the whole name is the path
  ];
  for (const [input, want] of cases) assert.is(String(parseNormalized(input)), want, input);
  const r = parseNormalized('localhost:5000/foo/bar:tag');
  assert.is(r.domain, 'localhost:5000');
  assert.is(r.path, 'foo/bar');
});

test('parseNormalized: refuses IDs and upper-case paths', () => {
  throwsKind(() => parseNormalized(f64), 'ReferenceInvalidFormat', 'identifier');
  throwsKind(() => parseNormalized('user/App'), 'NameContainsUppercase', 'user/App');
  throwsKind(() => parseNormalized('Busybox'), 'NameContainsUppercase', 'Busybox');
  throwsKind(() => parseNormalized('docker.io/Foo!'), 'NameContainsUppercase', 'docker.io/Foo!');
  throwsKind(() => parseNormalized('a.-b/Foo'), 'NameContainsUppercase', 'a.-b/Foo'); // Docker checks case before the domain
  throwsKind(() => parseNormalized('a.b@c/Foo'), 'NameContainsUppercase', 'a.b@c/Foo');
  throwsKind(() => parseNormalized('a.b@c/foo'), 'DigestInvalidFormat', 'a.b@c/foo');
  throwsKind(() => parseNormalized(''), 'NameEmpty', 'empty');
  throwsKind(() => parseNormalized('a/b/'), 'ReferenceInvalidFormat', 'a/b/');
  throwsKind(() => parseNormalized(`x/${'a'.repeat(254)}`), 'NameTooLong', 'long');
  throwsKind(() => parseNormalized('a'.repeat(238)), 'NameTooLong', 'docker.io/library/ + 238');
  assert.is(parseNormalized('a'.repeat(237)).path.length, 245);
  // 63 or 65 hex characters are just names
  assert.is(String(parseNormalized('f'.repeat(63))), `docker.io/library/${'f'.repeat(63)}`);
});

test('parseDockerRef: adds :latest, and keeps only the digest when both are given', () => {
  assert.is(String(parseDockerRef('busybox')), 'docker.io/library/busybox:latest');
  assert.is(String(parseDockerRef('busybox:1')), 'docker.io/library/busybox:1');
  assert.is(String(parseDockerRef(`busybox@${sha}`)), `docker.io/library/busybox@${sha}`);
  const both = parseDockerRef(`docker.io/library/busybox:latest@${sha}`);
  assert.is(String(both), `docker.io/library/busybox@${sha}`);
  assert.is(both.tag, undefined);
  assert.is(both.digest, sha);
});

test('parseNamed: only canonical names', () => {
  assert.is(String(parseNamed('docker.io/library/busybox:1')), 'docker.io/library/busybox:1');
  throwsKind(() => parseNamed('busybox'), 'NameNotCanonical', 'busybox');
});

test('familiar: back to the short form', () => {
  assert.is(familiar(parse('docker.io/library/ubuntu')), 'ubuntu');
  assert.is(familiar(parseDockerRef('ubuntu')), 'ubuntu:latest');
  assert.is(familiar(parseNormalized(`user/app:1@${sha}`)), `user/app:1@${sha}`);
  assert.is(familiar(parse('docker.io/library/a/b')), 'library/a/b');
  assert.is(familiar(parse('localhost:5000/library/x')), 'localhost:5000/library/x');
  assert.is(familiar(parse('quay.io/x/y:z')), 'quay.io/x/y:z');
  assert.is(familiarName(parseDockerRef('ubuntu:22.04')), 'ubuntu');
  // familiar form normalizes back to the same reference
  for (const s of ['ubuntu', 'user/app:1', 'quay.io/a/b', `x@${sha}`]) {
    const r = parseNormalized(s);
    assert.ok(parseNormalized(familiar(r)).equals(r), s);
  }
});

test('withTag, withDigest, trimNamed', () => {
  const r = parseNormalized('busybox');
  assert.is(String(withTag(r, 'v1')), 'docker.io/library/busybox:v1');
  assert.is(String(withDigest(withTag(r, 'v1'), sha)), `docker.io/library/busybox:v1@${sha}`);
  assert.is(String(withTag(withDigest(r, sha), 'TAG5')), `docker.io/library/busybox:TAG5@${sha}`);
  assert.is(String(trimNamed(parse(`a/b:c@${sha}`))), 'a/b');
  assert.ok(isNameOnly(r));
  assert.not.ok(isNameOnly(withTag(r, 'x')));
  throwsKind(() => withTag(r, '-x'), 'TagInvalidFormat', '-x');
  throwsKind(() => withTag(r, 'x'.repeat(129)), 'TagInvalidFormat', 'long tag');
  throwsKind(() => withDigest(r, 'sha256:abc'), 'DigestInvalidFormat', 'short digest');
  throwsKind(() => withDigest(r, `sha256:${'f'.repeat(40)}`), 'DigestInvalidLength', '40 hex');
  throwsKind(() => withDigest(r, `foo:${f64}`), 'DigestUnsupported', 'foo');
});

test('parseAnyReference: IDs, digests, then names', () => {
  assert.equal(parseAnyReference(f64), { kind: 'digest', digest: sha });
  assert.equal(parseAnyReference(sha), { kind: 'digest', digest: sha });
  const n = parseAnyReference('busybox');
  assert.is(n.kind, 'named');
  assert.is(n.kind === 'named' ? String(n.reference) : '', 'docker.io/library/busybox');
});

test('non-string input is a typed error, not a crash', () => {
  throwsKind(() => parse(42 as unknown as string), 'ReferenceInvalidFormat', '42');
  throwsKind(() => parseNormalized(null as unknown as string), 'ReferenceInvalidFormat', 'null');
});

test.run();
