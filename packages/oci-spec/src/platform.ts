/**
 * Platforms: normalizing names (`x86_64` → `amd64`, `aarch64` → `arm64/v8`,
 * `armhf` → `arm/v7`), the host's platform, and choosing the best manifest of an
 * index for a wanted platform the way Docker (containerd's `platforms.Only`) does:
 * the exact platform first, then compatible ones in a fixed order (arm/v7 also runs
 * arm/v6 and arm/v5, arm64 also runs arm/v8…v5, amd64 also runs 386), then entries
 * with no platform at all.
 */
import { invalidArgument } from '@berth/errors';
import type { Descriptor, Platform } from './image.js';
import { isIndexMediaType, isManifestMediaType } from './media-types.js';
import { quote } from './text.js';

/** Canonical architecture and variant for `arch`/`variant` as found in the wild (uname, Debian, Go). */
function normalizeArch(archIn: string, variantIn: string): { architecture: string; variant: string } {
  let arch = archIn.toLowerCase();
  let variant = variantIn.toLowerCase();
  switch (arch) {
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
    case 'x86':
    case 'ia32':
      arch = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'x64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '' || variant === '8' || variant === 'v8' || variant === 'v8.0') variant = 'v8';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'armv7l':
    case 'armv7':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armv6l':
    case 'armv6':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'armv5tel':
    case 'armv5':
      arch = 'arm';
      variant = 'v5';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
    case 'ppc64el':
      arch = 'ppc64le';
      break;
  }
  return { architecture: arch, variant };
}

/**
 * The canonical form of a platform: lower case, `os` `macos` → `darwin`,
 * architecture aliases resolved, arm variants filled in (`arm` → `arm/v7`,
 * `arm64` → `arm64/v8`), amd64 `v1` dropped. Other fields are kept.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { ...p, os, architecture };
  if (variant === '') delete out.variant;
  else out.variant = variant;
  return out;
}

/** The platform string `os/arch[/variant]` of a platform (`linux/arm64/v8`). */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

const knownOs = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos', 'macos']);
const specifierPart = /^[A-Za-z0-9_.-]+$/;

/**
 * Parse a platform specifier as `--platform` takes it: `os/arch[/variant]`, or just
 * `arch` or `os` (the rest filled from the host). Returns the normalized platform.
 */
export function parsePlatformSpecifier(s: string): Platform {
  const parts = s.split('/');
  if (parts.length > 3 || parts.some((x) => !specifierPart.test(x))) {
    throw invalidArgument(`platform ${quote(s)}: invalid format, expected os/arch[/variant] such as linux/arm64/v8`);
  }
  const host = hostPlatform();
  const [a, b, c] = parts as [string, string | undefined, string | undefined];
  if (b === undefined) {
    if (knownOs.has(a.toLowerCase())) {
      return normalizePlatform({ os: a, architecture: host.architecture, ...(host.variant === undefined ? {} : { variant: host.variant }) });
    }
    return normalizePlatform({ os: host.os, architecture: a });
  }
  return normalizePlatform({ os: a, architecture: b, ...(c === undefined ? {} : { variant: c }) });
}

/** Node's `process.arch` as an OCI architecture and variant. */
function nodeArch(arch: string, armVersion: unknown): { architecture: string; variant?: string } {
  switch (arch) {
    case 'x64': return { architecture: 'amd64' };
    case 'ia32': return { architecture: '386' };
    case 'arm64': return { architecture: 'arm64', variant: 'v8' };
    case 'arm': {
      const v = typeof armVersion === 'string' || typeof armVersion === 'number' ? String(armVersion) : '7';
      return { architecture: 'arm', variant: `v${v}` };
    }
    case 'ppc64': return { architecture: process.platform === 'linux' ? 'ppc64le' : 'ppc64' };
    case 'loong64':
    case 'riscv64':
    case 's390x':
    case 'mips64el': return { architecture: arch === 'mips64el' ? 'mips64le' : arch };
    default: return { architecture: arch };
  }
}

/** The platform of this host, normalized (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`). */
export function hostPlatform(): Platform {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const vars = (process.config as { variables?: Record<string, unknown> }).variables ?? {};
  const { architecture, variant } = nodeArch(process.arch, vars['arm_version']);
  return normalizePlatform({ os, architecture, ...(variant === undefined ? {} : { variant }) });
}

/** The ordered list of platforms a host of `wanted` can run, best first (containerd's platform vector). */
export function compatiblePlatforms(wanted: Platform): Platform[] {
  const p = normalizePlatform(wanted);
  const base = { os: p.os, ...(p['os.version'] === undefined ? {} : { 'os.version': p['os.version'] }) };
  const out: Platform[] = [p];
  const num = (v: string | undefined): number => (v !== undefined && /^v[0-9]+$/.test(v) ? Number(v.slice(1)) : NaN);
  if (p.architecture === 'amd64') {
    for (let v = num(p.variant) - 1; v >= 1; v--) out.push({ ...base, architecture: 'amd64', ...(v === 1 ? {} : { variant: `v${v}` }) });
    out.push({ ...base, architecture: '386' });
  } else if (p.architecture === 'arm') {
    for (let v = num(p.variant) - 1; v >= 5; v--) out.push({ ...base, architecture: 'arm', variant: `v${v}` });
  } else if (p.architecture === 'arm64') {
    const variant = p.variant ?? 'v8';
    const m = /^v([0-9]+)(?:\.([0-9]))?$/.exec(variant);
    if (m) {
      let major = Number(m[1]);
      let minor = m[2] === undefined ? 0 : Number(m[2]);
      if (major === 9) {
        for (let x = minor - 1; x >= 0; x--) out.push({ ...base, architecture: 'arm64', variant: x === 0 ? 'v9' : `v9.${x}` });
        // v9.x is compatible with v8.(x+5), up to v8.9
        minor = Math.min(minor + 5, 9);
        major = 8;
        out.push({ ...base, architecture: 'arm64', variant: `v8.${minor}` });
      }
      if (major === 8) for (let x = minor - 1; x >= 0; x--) out.push({ ...base, architecture: 'arm64', variant: x === 0 ? 'v8' : `v8.${x}` });
    }
    for (let v = 8; v >= 5; v--) out.push({ ...base, architecture: 'arm', variant: `v${v}` });
  }
  return out;
}

function samePlatform(want: Platform, got: Platform): boolean {
  const g = normalizePlatform(got);
  if (g.os !== want.os || g.architecture !== want.architecture || (g.variant ?? '') !== (want.variant ?? '')) return false;
  if (want.os === 'windows' && want['os.version'] !== undefined && g['os.version'] !== undefined) {
    // Windows images run only on the same build: compare major.minor.build.
    const build = (v: string): string => v.split('.').slice(0, 3).join('.');
    return build(want['os.version']) === build(g['os.version']);
  }
  return true;
}

/** Options of {@link platformMatcher} and {@link matchPlatform}. */
export interface MatchOptions {
  /** Only the exact (normalized) platform, no compatible fallbacks (containerd's `OnlyStrict`). Default false. */
  readonly strict?: boolean;
}

/** A matcher for one wanted platform: `rank` is 0 for the exact platform, higher for fallbacks, `undefined` for no match. */
export interface PlatformMatcher {
  readonly wanted: Platform;
  match(p: Platform): boolean;
  rank(p: Platform): number | undefined;
}

/** A matcher that accepts what a host of `wanted` runs, ranking the exact platform first. */
export function platformMatcher(wanted: Platform, options: MatchOptions = {}): PlatformMatcher {
  const w = normalizePlatform(wanted);
  const vector = options.strict ? [w] : compatiblePlatforms(w);
  const rank = (p: Platform): number | undefined => {
    const i = vector.findIndex((v) => samePlatform(v, p));
    return i < 0 ? undefined : i;
  };
  return { wanted: w, rank, match: (p) => rank(p) !== undefined };
}

/**
 * All entries of an index's `manifests` that a host of `wanted` can run, best first:
 * exact platform, then compatible ones, then entries without a platform. Entries that
 * are not manifests or indexes (attestations' blobs, unknown types) are left out; ties
 * keep index order.
 */
export function rankManifests<D extends Descriptor>(manifests: readonly D[], wanted: Platform, options: MatchOptions = {}): D[] {
  const m = platformMatcher(wanted, options);
  const ranked: Array<{ d: D; r: number; i: number }> = [];
  manifests.forEach((d, i) => {
    if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) return;
    if (d.platform === undefined) {
      ranked.push({ d, r: Number.MAX_SAFE_INTEGER, i });
      return;
    }
    const r = m.rank(d.platform);
    if (r !== undefined) ranked.push({ d, r, i });
  });
  ranked.sort((a, b) => a.r - b.r || a.i - b.i);
  return ranked.map((x) => x.d);
}

/** The best entry of an index's `manifests` for `wanted` (see {@link rankManifests}), or `undefined` when none fits. */
export function matchPlatform<D extends Descriptor>(manifests: readonly D[], wanted: Platform, options: MatchOptions = {}): D | undefined {
  return rankManifests(manifests, wanted, options)[0];
}
