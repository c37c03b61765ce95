/**
 * One {@link RegistryClient} per registry host, shared by the pulls and pushes of a process so
 * connections and tokens are reused.
 */
import { RegistryClient } from './client.js';
import type { Credentials, RegistryConfig } from './config.js';

/** Clients by host. */
export class Registries {
  private readonly clients = new Map<string, RegistryClient>();

  constructor(readonly config: RegistryConfig, private readonly credentials: Readonly<Record<string, Credentials>> = {}) {}

  /** The client of `host` (`docker.io`, `127.0.0.1:5000`). */
  client(host: string): RegistryClient {
    let c = this.clients.get(host);
    if (!c) {
      const creds = this.credentials[host];
      c = new RegistryClient(host, this.config, creds ? { credentials: creds } : {});
      this.clients.set(host, c);
    }
    return c;
  }

  /** Closes every client's idle connections. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
