/**
 * Where a registry client finds its settings: credentials, trusted CAs, insecure registries
 * and mirrors. Docker's file layouts, so existing setups work:
 *
 *   $XDG_CONFIG_HOME/berth/auth.json      {"auths": {"<host>": {"auth": base64("user:pass")}}}   mode 0600, written by `berth login`
 *   ~/.docker/config.json                 same "auths" shape; read only
 *   /etc/berth/certs.d/<host:port>/ca.crt  extra CAs trusted for that registry  ($BERTH_CERTS_D)
 *   /etc/berth/registries.json            {"insecure-registries": ["host:port", "10.0.0.0/8"], "registry-mirrors": ["https://…"]}
 *                                         ($BERTH_REGISTRIES_CONF)
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { invalidArgument } from '@berth/errors';
import { writeFileAtomic } from '@berth/layer-store';

/** Docker Hub's names: what users write, and where its API lives. */
export const dockerHub = { domain: 'docker.io', apiHost: 'registry-1.docker.io', legacyKey: 'https://index.docker.io/v1/' } as const;

/** A username and password (or an identity token as password). */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Settings of a registry client. Every field has a default from the environment. */
export interface RegistryConfig {
  /** berth's own credentials file (read-write). */
  readonly authFile: string;
  /** Docker's config file (read-only `auths`). */
  readonly dockerConfig: string;
  /** `certs.d` root: `<certsDir>/<host:port>/ca.crt`. */
  readonly certsDir: string;
  /** Registries (host:port, host, or IPv4 CIDR) reached over plain HTTP or without TLS verification. */
  readonly insecureRegistries: readonly string[];
  /** Treat 127.0.0.0/8 and localhost as insecure, as Docker does (default true). */
  readonly loopbackInsecure: boolean;
  /** Mirrors of docker.io, tried in order before it. */
  readonly mirrors: readonly string[];
}

/** Options overriding {@link loadRegistryConfig}'s defaults. */
export type RegistryConfigOptions = Partial<RegistryConfig> & { readonly env?: NodeJS.ProcessEnv };

function readJson(path: string): unknown {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return undefined; }
  try { return JSON.parse(text); } catch (e) {
    throw invalidArgument(`${path} is not valid JSON: fix or remove it`, { cause: e });
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The settings from the environment and the config files, with `options` taking precedence. */
export function loadRegistryConfig(options: RegistryConfigOptions = {}): RegistryConfig {
  const env = options.env ?? process.env;
  const home = env['HOME'] ?? homedir();
  const xdg = env['XDG_CONFIG_HOME'] ?? join(home, '.config');
  const confPath = env['BERTH_REGISTRIES_CONF'] ?? '/etc/berth/registries.json';
  const conf = readJson(confPath);
  const o = typeof conf === 'object' && conf !== null ? conf as Record<string, unknown> : {};
  return {
    authFile: options.authFile ?? join(xdg, 'berth', 'auth.json'),
    dockerConfig: options.dockerConfig ?? join(env['DOCKER_CONFIG'] ?? join(home, '.docker'), 'config.json'),
    certsDir: options.certsDir ?? env['BERTH_CERTS_D'] ?? '/etc/berth/certs.d',
    insecureRegistries: [...(options.insecureRegistries ?? []), ...stringList(o['insecure-registries'])],
    loopbackInsecure: options.loopbackInsecure ?? env['BERTH_LOOPBACK_SECURE'] !== '1',
    mirrors: options.mirrors ?? stringList(o['registry-mirrors']),
  };
}

/** The keys a host's credentials may be filed under (Docker files Hub under its v1 URL). */
function authKeys(host: string): string[] {
  if (host === dockerHub.domain || host === dockerHub.apiHost || host === 'index.docker.io') {
    return [dockerHub.domain, dockerHub.legacyKey, 'index.docker.io', dockerHub.apiHost];
  }
  return [host, `https://${host}`, `http://${host}`, `https://${host}/v2/`, `https://${host}/v1/`];
}

function authsOf(path: string): Record<string, unknown> {
  const raw = readJson(path);
  const auths = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['auths'] : undefined;
  return typeof auths === 'object' && auths !== null ? auths as Record<string, unknown> : {};
}

function decodeEntry(v: unknown): Credentials | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e['username'] === 'string' && typeof e['password'] === 'string') return { username: e['username'], password: e['password'] };
  if (typeof e['auth'] !== 'string' || e['auth'] === '') return undefined;
  const text = Buffer.from(e['auth'], 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** Credentials for `host`: berth's auth.json first, then Docker's config.json. */
export function credentialsFor(config: RegistryConfig, host: string): Credentials | undefined {
  for (const file of [config.authFile, config.dockerConfig]) {
    const auths = authsOf(file);
    for (const k of authKeys(host)) {
      const c = decodeEntry(auths[k]);
      if (c) return c;
    }
  }
  return undefined;
}

/** Stores credentials for `host` in berth's auth.json (mode 0600). */
export function saveCredentials(config: RegistryConfig, host: string, creds: Credentials): void {
  const raw = readJson(config.authFile);
  const doc = typeof raw === 'object' && raw !== null ? raw as Record<string, unknown> : {};
  const auths = authsOf(config.authFile);
  for (const k of authKeys(host)) delete auths[k];
  auths[host === dockerHub.apiHost ? dockerHub.domain : host] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  mkdirSync(dirname(config.authFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(config.authFile, JSON.stringify({ ...doc, auths }, null, 2) + '\n', 0o600);
}

/** Removes `host`'s credentials from berth's auth.json; false when there were none. */
export function removeCredentials(config: RegistryConfig, host: string): boolean {
  const raw = readJson(config.authFile);
  if (typeof raw !== 'object' || raw === null) return false;
  const auths = authsOf(config.authFile);
  let found = false;
  for (const k of authKeys(host)) if (k in auths) { delete auths[k]; found = true; }
  if (found) writeFileAtomic(config.authFile, JSON.stringify({ ...raw as Record<string, unknown>, auths }, null, 2) + '\n', 0o600);
  return found;
}

/** Extra CA certificates (PEM) for `host` from `<certsDir>/<host>/*.crt`, or undefined. */
export function caFor(config: RegistryConfig, host: string): string[] | undefined {
  const dir = join(config.certsDir, host);
  if (!existsSync(dir)) return undefined;
  let names: string[];
  try { names = readdirSync(dir); } catch { return undefined; }
  const pems = names.filter((n) => n.endsWith('.crt') && !n.endsWith('.cert')).sort().map((n) => readFileSync(join(dir, n), 'utf8'));
  return pems.length > 0 ? pems : undefined;
}

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const a = ipv4(ip);
  const b = net === undefined ? undefined : ipv4(net);
  const bits = Number(bitsText);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const shift = 32 - bits;
  return Math.floor(a / 2 ** shift) === Math.floor(b / 2 ** shift);
}

/** True when `host` (host or host:port) may be reached without verified TLS. */
export function isInsecure(config: RegistryConfig, host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (config.loopbackInsecure && (name === 'localhost' || name === '::1' || inCidr(name, '127.0.0.0/8'))) return true;
  return config.insecureRegistries.some((r) => r === host || r === name || (r.includes('/') && inCidr(name, r)));
}
