/**
 * The distribution-spec client: one registry host, HTTP/1.1 over node:http(s) with keep-alive.
 *
 * Transport: HTTPS, verified, with the host's CAs from certs.d added to the system's; for an
 * insecure registry (listed, or loopback as Docker does) TLS is not verified and a server that
 * speaks plain HTTP is reached over HTTP. The scheme is settled once, by the first `/v2/` ping.
 *
 * Auth (distribution's token spec): a request goes out with what the host wanted last time;
 * a 401 carries `WWW-Authenticate`:
 *   Basic realm=…                               → resend with the stored credentials
 *   Bearer realm=…,service=…,scope=…            → GET realm?service=&scope= (Basic if we have
 *                                                 credentials) → {token|access_token, expires_in}
 * Tokens are cached per scope until they expire; a 401 with a cached token drops it and
 * fetches a new one once.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { BerthError, ErrorCode, invalidArgument, notFound, permissionDenied, unavailable } from '@berth/errors';
import { caFor, credentialsFor, dockerHub, isInsecure, type Credentials, type RegistryConfig } from './config.js';

/** A response whose body is still to be read. */
export interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: IncomingMessage;
  /** The URL answered (after the scheme was settled). */
  readonly url: string;
}

/** A body that can be sent again after an auth round trip. */
export type Body = Buffer | { readonly length: number; readonly open: () => Readable };

/** Options of one request. */
export interface RequestOptions {
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Body;
  /** Token scope: `repository:<name>:pull` etc. */
  readonly scope?: readonly string[];
  readonly signal?: AbortSignal;
}

interface Challenge { scheme: 'basic' | 'bearer'; params: Record<string, string> }

/** Parses a `WWW-Authenticate` header (one challenge). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = (m[1] ?? '').toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) {
    params[(p[1] ?? '').toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

/** Reads a whole body, refusing more than `limit` bytes. */
export async function readBody(res: Response | IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const body = 'body' in res ? res.body : res;
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) {
      body.destroy();
      throw invalidArgument(`${what} is larger than ${limit} bytes: refusing it`);
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** The distribution-spec error codes of a body, if it has them. */
function errorCodes(text: string): Array<{ code: string; message: string }> {
  try {
    const j = JSON.parse(text) as unknown;
    const errs = typeof j === 'object' && j !== null ? (j as Record<string, unknown>)['errors'] : undefined;
    if (!Array.isArray(errs)) return [];
    return errs.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({ code: String(e['code'] ?? ''), message: String(e['message'] ?? '') }));
  } catch { return []; }
}

const tlsTrustCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED',
]);

/** Network errors worth a retry (the registry or the path to it hiccupped). */
export function isTransient(e: unknown): boolean {
  if (e instanceof BerthError) return e.code === ErrorCode.Unavailable && e.detail?.['transient'] === true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ERR_STREAM_PREMATURE_CLOSE|UND_ERR_SOCKET)$/.test(code)
    || (e instanceof Error && /aborted|socket hang up|premature close|truncated/i.test(e.message));
}

/** A client of one registry host (`127.0.0.1:5000`, `docker.io`). */
export class RegistryClient {
  /** What users call it (`docker.io`). */
  readonly host: string;
  /** Where its API lives (`registry-1.docker.io`). */
  readonly apiHost: string;
  private base: string | undefined;
  private readonly insecure: boolean;
  private readonly ca: string[] | undefined;
  private readonly httpsAgent: HttpsAgent;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly fetching = new Map<string, Promise<string>>();
  private creds: Credentials | undefined;

  constructor(host: string, readonly config: RegistryConfig, options: { readonly credentials?: Credentials; readonly apiHost?: string } = {}) {
    this.host = host;
    this.apiHost = options.apiHost ?? (host === dockerHub.domain ? dockerHub.apiHost : host);
    this.insecure = isInsecure(config, host);
    this.ca = caFor(config, host);
    this.httpsAgent = new HttpsAgent({
      keepAlive: true, maxSockets: 16,
      // Unverified TLS needs no CA store: `ca: []` spares the first request parsing Node's
      // ~140 root certificates (~40 ms), which the `/v2/` probe of a plain-HTTP registry paid.
      ...(this.insecure ? { ca: [] } : this.ca ? { ca: [...rootCertificates, ...this.ca] } : {}),
      rejectUnauthorized: !this.insecure,
    });
    this.creds = options.credentials ?? credentialsFor(config, host);
  }

  /** Closes idle connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private send(url: string, method: string, headers: Record<string, string>, body: Body | undefined, signal: AbortSignal | undefined): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const u = new URL(url);
      const https = u.protocol === 'https:';
      const req = (https ? httpsRequest : httpRequest)(u, {
        method, headers: { 'user-agent': 'berth/0.1', ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        agent: https ? this.httpsAgent : this.httpAgent,
        ...(signal ? { signal } : {}),
      }, (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }));
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(Object.assign(new Error(`no answer from ${u.host} in 60 s`), { code: 'ETIMEDOUT' })));
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const s = body.open();
        s.on('error', (e) => req.destroy(e));
        s.pipe(req);
      }
    });
  }

  /** Turns a transport failure into an error a person can act on. */
  private transportError(e: unknown, url: string): BerthError {
    if (e instanceof BerthError) return e;
    const code = String((e as { code?: unknown }).code ?? '');
    const msg = e instanceof Error ? e.message : String(e);
    if (tlsTrustCodes.has(code)) {
      return unavailable(`registry ${this.host}: x509: certificate signed by unknown authority: put the registry's CA at ${this.config.certsDir}/${this.host}/ca.crt, or add --insecure-registry ${this.host}`, { cause: e });
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'CERT_HAS_EXPIRED') {
      return unavailable(`registry ${this.host}: tls: ${msg}`, { cause: e });
    }
    if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return unavailable(`registry ${this.host} is unreachable (${code} on ${new URL(url).host}): is it running, and is the address right?`, { cause: e, detail: { transient: code !== 'ENOTFOUND' } });
    }
    if (code === 'ABORT_ERR') return new BerthError(ErrorCode.Canceled, `request to ${this.host} canceled`, { cause: e });
    return unavailable(`registry ${this.host}: ${msg}`, { cause: e, detail: { transient: isTransient(e) } });
  }

  /** The API base (`https://host`), settling the scheme with a `/v2/` ping on first use. */
  async baseUrl(signal?: AbortSignal): Promise<string> {
    if (this.base !== undefined) return this.base;
    const https = `https://${this.apiHost}`;
    try {
      const r = await this.send(`${https}/v2/`, 'GET', {}, undefined, signal);
      r.body.resume();
      this.noteChallenge(r);
      this.base = https;
      return https;
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '');
      const plainServer = code === 'EPROTO' || code === 'ECONNRESET' || /wrong version number|packet length too long/i.test(String((e as Error).message));
      if (!this.insecure || !(plainServer || code === 'ECONNREFUSED')) throw this.transportError(e, `${https}/v2/`);
    }
    const http = `http://${this.apiHost}`;
    try {
      const r = await this.send(`${http}/v2/`, 'GET', {}, undefined, signal);
      r.body.resume();
      this.noteChallenge(r);
    } catch (e) { throw this.transportError(e, `${http}/v2/`); }
    this.base = http;
    return http;
  }

  private noteChallenge(r: Response): void {
    const h = r.headers['www-authenticate'];
    if (r.status === 401 && typeof h === 'string') this.challenge = parseChallenge(h);
  }

  /** Checks that the registry answers and that these credentials are accepted (`berth login`). */
  async login(signal?: AbortSignal): Promise<void> {
    await this.baseUrl(signal);
    if (this.challenge?.scheme === 'bearer') this.tokens.clear();
    const r = await this.request('GET', '/v2/', signal ? { signal } : {});
    r.body.resume();
    if (r.status === 401) throw permissionDenied(`login to ${this.host} failed: unauthorized: incorrect username or password`);
    if (r.status >= 300) throw unavailable(`login to ${this.host} failed: the registry answered ${r.status}`);
  }

  private basic(): string | undefined {
    return this.creds ? `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}` : undefined;
  }

  /** Concurrent requests of one scope share one token fetch. */
  private token(ch: Challenge, scope: readonly string[], signal: AbortSignal | undefined): Promise<string> {
    const key = [ch.params['realm'], ch.params['service'], ...scope].join('|');
    const hit = this.tokens.get(key);
    if (hit && hit.expires > Date.now()) return Promise.resolve(hit.token);
    const running = this.fetching.get(key);
    if (running) return running;
    const p = this.fetchToken(ch, scope, key, signal);
    this.fetching.set(key, p);
    const clear = (): void => { this.fetching.delete(key); };
    p.then(clear, clear);
    return p;
  }

  private async fetchToken(ch: Challenge, scope: readonly string[], key: string, signal: AbortSignal | undefined): Promise<string> {
    const realm = ch.params['realm'];
    if (!realm) throw invalidArgument(`registry ${this.host} asked for a bearer token without a realm`);
    const u = new URL(realm);
    if (ch.params['service']) u.searchParams.set('service', ch.params['service']);
    for (const s of scope) u.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    const b = this.basic();
    if (b) headers['authorization'] = b;
    let r: Response;
    try { r = await this.send(u.toString(), 'GET', headers, undefined, signal); } catch (e) { throw this.transportError(e, u.toString()); }
    const text = (await readBody(r, 1 << 20, `token from ${u.host}`)).toString('utf8');
    if (r.status === 401 || r.status === 403) {
      throw permissionDenied(`unauthorized: the token server of ${this.host} refused ${this.creds ? `the credentials of ${this.creds.username}` : 'anonymous access'}: ${this.creds ? 'check them with' : 'login first with'} 'berth login ${this.host}'`);
    }
    if (r.status !== 200) throw unavailable(`token server ${u.host} answered ${r.status} for ${this.host}`);
    let j: Record<string, unknown>;
    try { j = JSON.parse(text) as Record<string, unknown>; } catch (e) { throw invalidArgument(`token server ${u.host} sent no JSON`, { cause: e }); }
    const token = typeof j['token'] === 'string' ? j['token'] : typeof j['access_token'] === 'string' ? j['access_token'] : undefined;
    if (!token) throw invalidArgument(`token server ${u.host} sent no token`);
    const ttl = Math.max(60, typeof j['expires_in'] === 'number' ? j['expires_in'] : 60);
    this.tokens.set(key, { token, expires: Date.now() + (ttl - 10) * 1000 });
    return token;
  }

  private async authorization(scope: readonly string[], signal: AbortSignal | undefined): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return this.basic();
    return `Bearer ${await this.token(ch, scope, signal)}`;
  }

  private dropToken(scope: readonly string[]): void {
    const ch = this.challenge;
    if (ch) this.tokens.delete([ch.params['realm'], ch.params['service'], ...scope].join('|'));
  }

  /**
   * Sends a request to `path` (`/v2/…`, or an absolute URL from a `Location`), answering the
   * auth challenge once. The caller reads or discards the body.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const base = await this.baseUrl(options.signal);
    const url = /^https?:\/\//.test(path) ? path : new URL(path, base).toString();
    const scope = options.scope ?? [];
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...options.headers };
      const auth = await this.authorization(scope, options.signal);
      if (auth) headers['authorization'] = auth;
      let r: Response;
      try { r = await this.send(url, method, headers, options.body, options.signal); } catch (e) { throw this.transportError(e, url); }
      if (r.status !== 401 || attempt > 0) return r;
      const h = r.headers['www-authenticate'];
      const ch = typeof h === 'string' ? parseChallenge(h) : undefined;
      if (!ch) return r;
      if (ch.scheme === 'basic' && (!this.creds || (auth !== undefined && this.challenge?.scheme === 'basic'))) return r;
      r.body.resume();
      if (auth && this.challenge?.scheme === 'bearer') this.dropToken(scope);
      this.challenge = ch;
    }
  }

  /** Throws the error a person can act on for a failed response (reads its body). */
  async fail(r: Response, what: string, repo: string): Promise<never> {
    const text = (await readBody(r, 1 << 20, `error from ${this.host}`).catch(() => Buffer.alloc(0))).toString('utf8');
    const codes = errorCodes(text);
    const first = codes[0];
    const detail = first ? `${first.code.toLowerCase().replace(/_/g, ' ')}${first.message ? `: ${first.message}` : ''}` : `HTTP ${r.status}`;
    if (r.status === 401) {
      throw permissionDenied(`${what}: unauthorized (${detail}): login first with 'berth login ${this.host}'`, { detail: { status: r.status } });
    }
    if (r.status === 403) throw permissionDenied(`${what}: denied by ${this.host} (${detail}): your account may lack access to ${repo}`);
    if (r.status === 404 || codes.some((c) => /_UNKNOWN$/.test(c.code))) {
      throw notFound(`${what}: not found in registry ${this.host} (${detail})`, { detail: { status: r.status } });
    }
    if (r.status >= 500 || r.status === 429) {
      throw unavailable(`${what}: registry ${this.host} answered ${r.status} (${detail})`, { detail: { status: r.status, transient: true } });
    }
    throw invalidArgument(`${what}: registry ${this.host} answered ${r.status} (${detail})`, { detail: { status: r.status } });
  }
}

/** Scope strings for a repository. */
export function repoScope(repo: string, actions: string): string {
  return `repository:${repo}:${actions}`;
}
