import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BerthError } from '@berth/errors';
import {
  compatiblePlatforms,
  digestOf,
  formatPlatform,
  hostPlatform,
  matchPlatform,
  MediaType,
  normalizePlatform,
  parsePlatformSpecifier,
  platformMatcher,
  rankManifests,
  type Descriptor,
  type Platform,
} from './index.js';

const p = (s: string): Platform => {
  const [os, architecture, variant] = s.split('/') as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
};

test('normalizePlatform: the names found in the wild become the canonical ones', () => {
  const cases: Array<[Platform, string]> = [
    [{ os: 'linux', architecture: 'x86_64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'x86-64' }, 'linux/amd64'],
    [{ os: 'Linux', architecture: 'AMD64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v1' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v3' }, 'linux/amd64/v3'],
    [{ os: 'linux', architecture: 'aarch64' }, 'linux/arm64/v8'],
    [{ os: 'linux', architecture: 'arm64' }, 'linux/arm64/v8'],
    [{ os: 'linux', architecture: 'arm64', variant: '8' }, 'linux/arm64/v8'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8.0' }, 'linux/arm64/v8'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8.2' }, 'linux/arm64/v8.2'],
    [{ os: 'linux', architecture: 'arm64', variant: '9' }, 'linux/arm64/v9'],
    [{ os: 'linux', architecture: 'armhf' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'armel' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'armv7l' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm', variant: '6' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'arm', variant: '5' }, 'linux/arm/v5'],
    [{ os: 'linux', architecture: 'i386' }, 'linux/386'],
    [{ os: 'linux', architecture: 'i686', variant: 'x' }, 'linux/386'],
    [{ os: 'linux', architecture: 'ppc64el' }, 'linux/ppc64le'],
    [{ os: 'linux', architecture: 's390x' }, 'linux/s390x'],
    [{ os: 'macos', architecture: 'arm64' }, 'darwin/arm64/v8'],
  ];
  for (const [input, want] of cases) assert.is(formatPlatform(normalizePlatform(input)), want, JSON.stringify(input));
  // other fields are kept, and the input is not modified
  const win: Platform = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1879', 'os.features': ['win32k'] };
  assert.equal(normalizePlatform(win), win);
  const arm: Platform = { os: 'linux', architecture: 'aarch64' };
  normalizePlatform(arm);
  assert.equal(arm, { os: 'linux', architecture: 'aarch64' });
  assert.not.ok('variant' in normalizePlatform({ os: 'linux', architecture: 'amd64', variant: 'v1' }));
});

test('parsePlatformSpecifier: os/arch[/variant], or just one part filled from the host', () => {
  const host = hostPlatform();
  assert.equal(parsePlatformSpecifier('linux/arm64/v8'), p('linux/arm64/v8'));
  assert.equal(parsePlatformSpecifier('linux/arm64'), p('linux/arm64/v8'));
  assert.equal(parsePlatformSpecifier('linux/arm'), p('linux/arm/v7'));
  assert.equal(parsePlatformSpecifier('linux/x86_64'), p('linux/amd64'));
  assert.equal(parsePlatformSpecifier('arm64'), { ...p(`${host.os}/arm64/v8`) });
  assert.is(parsePlatformSpecifier('windows').os, 'windows');
  assert.is(parsePlatformSpecifier('windows').architecture, host.architecture);
  for (const bad of ['', 'linux/', 'a/b/c/d', 'linux/arm 64', '/amd64']) {
    assert.throws(() => parsePlatformSpecifier(bad), (e: unknown) => e instanceof BerthError && e.code === 'InvalidArgument' && e.message.includes('os/arch[/variant]'), bad);
  }
});

test('hostPlatform agrees with uname -m of this host', () => {
  const machine = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  const fromUname = normalizePlatform({ os: 'linux', architecture: machine });
  const host = hostPlatform();
  assert.is(host.os, 'linux');
  assert.is(host.architecture, fromUname.architecture);
  if (host.architecture === 'arm64') assert.is(host.variant, 'v8');
});

test('compatiblePlatforms: what a host runs, best first (containerd platforms.Only)', () => {
  const v = (s: string) => compatiblePlatforms(p(s)).map(formatPlatform);
  assert.equal(v('linux/amd64'), ['linux/amd64', 'linux/386']);
  assert.equal(v('linux/amd64/v3'), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']);
  assert.equal(v('linux/arm/v7'), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.equal(v('linux/arm/v5'), ['linux/arm/v5']);
  assert.equal(v('linux/arm64'), ['linux/arm64/v8', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.equal(v('linux/arm64/v8.2'), ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64/v8', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.equal(v('linux/arm64/v9').slice(0, 7), ['linux/arm64/v9', 'linux/arm64/v8.5', 'linux/arm64/v8.4', 'linux/arm64/v8.3', 'linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64/v8']);
  assert.equal(v('linux/s390x'), ['linux/s390x']);
});

const m = (platform: string | undefined, mediaType: string = MediaType.OciManifest, extra: Partial<Platform> = {}): Descriptor => ({
  mediaType,
  digest: digestOf(`${platform}${mediaType}${JSON.stringify(extra)}`),
  size: 100,
  ...(platform === undefined ? {} : { platform: { ...p(platform), ...extra } }),
});

// The shape of a Docker Hub official image index (busybox): many platforms plus attestations.
const hub = [
  m('linux/amd64'),
  m('unknown/unknown'), // a buildkit attestation manifest
  m('linux/arm/v5'),
  m('linux/arm/v6'),
  m('linux/arm/v7'),
  m('linux/arm64/v8'),
  m('linux/386'),
  m('linux/ppc64le'),
  m('linux/s390x'),
];

test('matchPlatform: the exact platform wins', () => {
  for (const want of ['linux/amd64', 'linux/arm/v5', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm64/v8', 'linux/386', 'linux/ppc64le']) {
    const got = matchPlatform(hub, p(want));
    assert.is(got?.platform && formatPlatform(got.platform), want);
  }
  // aliases on either side
  assert.is(matchPlatform(hub, p('linux/aarch64')), hub[5]);
  assert.is(matchPlatform(hub, p('linux/x86_64')), hub[0]);
  assert.is(matchPlatform([m('linux/arm64')], p('linux/arm64/v8'))?.platform?.architecture, 'arm64');
  assert.is(matchPlatform([m('linux/arm')], p('linux/arm/v7'))?.platform?.architecture, 'arm');
});

test('matchPlatform: compatible fallbacks in order, none when strict', () => {
  const noV7 = hub.filter((d) => d.platform?.variant !== 'v7');
  assert.is(matchPlatform(noV7, p('linux/arm/v7'))?.platform?.variant, 'v6');
  const armOnly = [m('linux/arm/v5'), m('linux/arm/v7'), m('linux/arm/v6')];
  assert.is(matchPlatform(armOnly, p('linux/arm64'))?.platform?.variant, 'v7');
  assert.is(matchPlatform([m('linux/386')], p('linux/amd64'))?.platform?.architecture, '386');
  assert.is(matchPlatform([m('linux/amd64'), m('linux/amd64', MediaType.OciManifest, { variant: 'v2' })], p('linux/amd64/v3'))?.platform?.variant, 'v2');
  assert.is(matchPlatform([m('linux/386')], p('linux/amd64'), { strict: true }), undefined);
  assert.is(matchPlatform(hub, p('linux/riscv64')), undefined);
  assert.is(matchPlatform(hub, p('windows/amd64')), undefined);
  assert.is(matchPlatform([m('linux/arm/v7')], p('linux/arm/v6')), undefined); // a v6 host cannot run v7
  assert.equal(rankManifests(hub, p('linux/arm/v7')).map((d) => formatPlatform(d.platform!)), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
});

test('matchPlatform: entries without a platform come last, non-manifests and attestations never', () => {
  const bare = m(undefined);
  assert.is(matchPlatform([bare, m('linux/amd64')], p('linux/amd64'))?.platform?.architecture, 'amd64');
  assert.is(matchPlatform([bare], p('linux/amd64')), bare);
  assert.is(matchPlatform([m('linux/amd64', 'application/vnd.example.sbom+json')], p('linux/amd64')), undefined);
  assert.is(matchPlatform([m('linux/amd64', MediaType.DockerManifest)], p('linux/amd64'))?.mediaType, MediaType.DockerManifest);
  assert.is(matchPlatform([m('linux/amd64', MediaType.OciIndex)], p('linux/amd64'))?.mediaType, MediaType.OciIndex);
  assert.is(matchPlatform([m('unknown/unknown')], p('linux/amd64')), undefined);
  // ties keep index order
  const a = m('linux/amd64', MediaType.OciManifest, { 'os.features': ['a'] });
  const b = m('linux/amd64', MediaType.OciManifest, { 'os.features': ['b'] });
  assert.is(matchPlatform([a, b], p('linux/amd64')), a);
});

test('matchPlatform: Windows images match only the same OS build', () => {
  const win = (v: string) => m('windows/amd64', MediaType.DockerManifest, { 'os.version': v });
  const idx = [win('10.0.17763.1879'), win('10.0.20348.643')];
  assert.is(matchPlatform(idx, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1000' }), idx[1]);
  assert.is(matchPlatform(idx, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.14393.1' }), undefined);
  assert.is(matchPlatform(idx, { os: 'windows', architecture: 'amd64' }), idx[0]);
  const matcher = platformMatcher(p('linux/arm/v7'));
  assert.is(matcher.rank(p('linux/arm/v7')), 0);
  assert.is(matcher.rank(p('linux/arm/v5')), 2);
  assert.not.ok(matcher.match(p('linux/amd64')));
});

test.run();
