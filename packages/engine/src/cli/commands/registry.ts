/**
 * Registry commands, Docker's words: `pull`, `push`, `login`, `logout`, `manifest inspect`.
 * Each action calls one @berth/registry API and prints its progress events the way the
 * Docker CLI does: one line per layer with a bar on a terminal, plain lines otherwise.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { invalidArgument } from '@berth/errors';
import type { Store } from '@berth/layer-store';
import {
  Registries, fetchManifest, listTags, loadRegistryConfig, localTags, parsePullRef, pullImage, pullSummary, pushImage, removeCredentials,
  saveCredentials, RegistryClient, type PullEvent, type PushEvent, type RegistryConfig,
} from '@berth/registry';
import type { Context } from '../context.js';
import { openStore } from './images.js';
import { humanSize } from './image-list.js';
import { collect } from '../program.js';


function registryConfig(insecure: readonly string[] | undefined): RegistryConfig {
  const base = loadRegistryConfig();
  return insecure && insecure.length > 0 ? { ...base, insecureRegistries: [...base.insecureRegistries, ...insecure] } : base;
}

function insecureOption(): Option {
  return new Option('--insecure-registry <host:port>', 'reach this registry over plain HTTP or unverified TLS (repeatable)').argParser(collect);
}

/**
 * Docker's progress display: on a terminal, one line per layer redrawn in place with a bar;
 * otherwise one line per status change.
 */
export class ProgressPrinter {
  private readonly order: string[] = [];
  private readonly lines = new Map<string, string>();
  private drawn = 0;

  constructor(private readonly out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean }, private readonly quiet = false) {}

  private get tty(): boolean {
    return (this.out as { isTTY?: boolean }).isTTY === true;
  }

  /** Prints a line that is not a layer's. */
  line(text: string): void {
    if (this.quiet) return;
    this.out.write(`${text}\n`);
  }

  /** Sets a layer's status line. */
  layer(id: string, text: string, final = true): void {
    if (this.quiet) return;
    if (!this.tty) {
      if (final && this.lines.get(id) !== text) this.out.write(`${id}: ${text}\n`);
      this.lines.set(id, text);
      return;
    }
    if (!this.lines.has(id)) this.order.push(id);
    this.lines.set(id, text);
    this.redraw();
  }

  private redraw(): void {
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const id of this.order) s += `\x1b[2K${id}: ${this.lines.get(id) ?? ''}\n`;
    this.drawn = this.order.length;
    this.out.write(s);
  }

  /** Ends the layer block (the next lines print below it). */
  end(): void {
    this.order.length = 0;
    this.drawn = 0;
  }
}

/** Docker's progress bar: `[=====>       ]  1.2MB/3.4MB`. */
export function bar(current: number, total: number): string {
  const width = 50;
  const n = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const body = n >= width ? '='.repeat(width) : `${'='.repeat(n)}>${' '.repeat(width - n - 1)}`;
  return `[${body}]  ${humanSize(current)}/${humanSize(total)}`;
}

/** Prints a pull's events as `docker pull` does. */
export function pullPrinter(p: ProgressPrinter): (e: PullEvent) => void {
  return (e) => {
    switch (e.kind) {
      case 'resolved': p.line(`${e.tag ?? e.digest}: Pulling from ${e.repo}`); break;
      case 'layer':
        switch (e.status) {
          case 'waiting': p.layer(e.id, 'Pulling fs layer'); break;
          case 'exists': p.layer(e.id, 'Already exists'); break;
          case 'downloading': p.layer(e.id, `Downloading ${bar(e.current, e.total)}`, false); break;
          case 'retrying': p.layer(e.id, 'Retrying'); break;
          case 'verifying': p.layer(e.id, 'Verifying Checksum'); break;
          case 'extracting': p.layer(e.id, 'Extracting', false); break;
          case 'complete': p.layer(e.id, 'Pull complete'); break;
        }
        break;
      case 'done': p.end(); break;
      default: break;
    }
  };
}

/** The registry host a `login`/`logout` argument names: `https://host/v2/` → `host`, default docker.io. */
export function serverHost(server: string | undefined): string {
  if (server === undefined || server === '') return 'docker.io';
  const h = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

async function pullOne(store: Store, ref: string, o: PullOpts, registries: Registries): Promise<void> {
  const printer = new ProgressPrinter(process.stdout, o.quiet === true);
  const r = await pullImage(store, ref, {
    registries, config: registries.config, onProgress: pullPrinter(printer),
    maxConcurrentDownloads: o.maxConcurrentDownloads ?? 3,
    ...(o.platform ? { platform: o.platform } : {}),
  });
  if (o.quiet) { process.stdout.write(`${r.name}\n`); return; }
  for (const l of pullSummary(r)) process.stdout.write(`${l}\n`);
}

/** Pushes one tag, printing `docker push`'s lines. */
async function pushOne(store: Store, name: string, quiet: boolean, registries: Registries): Promise<void> {
  const printer = new ProgressPrinter(process.stdout, quiet);
  const pr = parsePullRef(name);
  // Mount candidates: other repositories of the same registry this image is tagged in.
  const img = store.images.resolve(`${pr.name}:${pr.tag ?? 'latest'}`);
  const mountFrom = img.tags.map((t) => parsePullRef(t)).filter((t) => t.host === pr.host && t.repo !== pr.repo).map((t) => t.repo);
  const r = await pushImage(store, name, {
    registries, config: registries.config, mountFrom,
    onProgress: (e: PushEvent) => {
      if (e.kind === 'preparing') printer.line(`The push refers to repository [${e.repo}]`);
      else if (e.kind === 'layer') {
        const text = { preparing: 'Preparing', exists: 'Layer already exists', mounted: `Mounted from ${mountFrom[0] ?? ''}`, pushing: `Pushing ${bar(e.current, e.total)}`, pushed: 'Pushed' }[e.status];
        printer.layer(e.id, text, e.status !== 'pushing');
      } else if (e.kind === 'done') printer.end();
    },
  });
  printer.line(`${r.tag}: digest: ${r.digest} size: ${r.size}`);
}

interface PullOpts { allTags?: boolean; platform?: string; quiet?: boolean; maxConcurrentDownloads?: number; insecureRegistry?: string[] }

/** Adds the registry commands. */
export function register(cmd: Command, ctx: () => Context): void {
  cmd.command('pull')
    .description('download an image from a registry')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('-a, --all-tags', 'download every tagged image of the repository')
    .option('--platform <os/arch[/variant]>', 'the platform to pick from a multi-platform image')
    .option('-q, --quiet', 'print only the image name')
    .addOption(new Option('--max-concurrent-downloads <n>', 'layers downloaded at once').default(3).argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw invalidArgument(`--max-concurrent-downloads ${v}: give a positive integer`);
      return n;
    }))
    .addOption(insecureOption())
    .action(async (name: string, o: PullOpts) => {
      const registries = new Registries(registryConfig(o.insecureRegistry));
      const store = openStore(ctx());
      try {
        if (o.allTags) {
          const pr = parsePullRef(name);
          if (pr.digest !== undefined || /:[^/]+$/.test(name.replace(/@.*$/, '').replace(/^[^/]*\//, ''))) {
            throw invalidArgument(`tag can't be used with --all-tags/-a`);
          }
          const tags = await listTags(registries.client(pr.host), pr.repo);
          for (const t of tags) await pullOne(store, `${pr.name}:${t}`, o, registries);
          return;
        }
        await pullOne(store, name, o, registries);
      } finally {
        registries.close();
        store.close();
      }
    });

  cmd.command('push')
    .description('upload an image to a registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-a, --all-tags', 'push every local tag of the repository')
    .option('-q, --quiet', 'print nothing but errors')
    .addOption(insecureOption())
    .action(async (name: string, o: { allTags?: boolean; quiet?: boolean; insecureRegistry?: string[] }) => {
      const registries = new Registries(registryConfig(o.insecureRegistry));
      const store = openStore(ctx());
      try {
        for (const t of o.allTags ? localTags(store, name) : [name]) await pushOne(store, t, o.quiet === true, registries);
      } finally {
        registries.close();
        store.close();
      }
    });

  cmd.command('login')
    .description('log in to a registry (credentials go to $XDG_CONFIG_HOME/berth/auth.json, mode 0600)')
    .argument('[server]', 'registry host (default docker.io)')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .addOption(insecureOption())
    .action(async (server: string | undefined, o: { username?: string; password?: string; passwordStdin?: boolean; insecureRegistry?: string[] }) => {
      const host = serverHost(server);
      if (o.password !== undefined && o.passwordStdin) throw invalidArgument('--password and --password-stdin are mutually exclusive');
      if (o.username === undefined) throw invalidArgument(`login to ${host} needs a user name: give -u <name> and --password-stdin`);
      let password = o.password;
      if (o.passwordStdin) password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      if (password === undefined || password === '') throw invalidArgument(`login to ${host} needs a password: pipe it into --password-stdin`);
      if (o.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      const config = registryConfig(o.insecureRegistry);
      const creds = { username: o.username, password };
      const client = new RegistryClient(host, config, { credentials: creds });
      try { await client.login(); } finally { client.close(); }
      saveCredentials(config, host, creds);
      process.stdout.write('Login Succeeded\n');
    });

  cmd.command('logout')
    .description('remove the stored credentials of a registry')
    .argument('[server]', 'registry host (default docker.io)')
    .action((server: string | undefined) => {
      const host = serverHost(server);
      const config = loadRegistryConfig();
      if (removeCredentials(config, host)) process.stdout.write(`Removing login credentials for ${host}\n`);
      else process.stdout.write(`Not logged in to ${host}\n`);
    });

  const manifest = cmd.command('manifest').description('inspect image manifests in a registry');
  manifest.command('inspect')
    .description('print the manifest or index an image reference names')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('-v, --verbose', 'also print the reference and digest')
    .addOption(insecureOption())
    .action(async (name: string, o: { verbose?: boolean; insecureRegistry?: string[] }) => {
      const registries = new Registries(registryConfig(o.insecureRegistry));
      try {
        const pr = parsePullRef(name);
        const m = await fetchManifest(registries.client(pr.host), pr.repo, pr.digest ?? pr.tag ?? 'latest');
        const doc = JSON.parse(m.bytes.toString('utf8')) as unknown;
        const out = o.verbose ? { Ref: name, Descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }, Raw: doc } : doc;
        process.stdout.write(`${JSON.stringify(out, null, 3)}\n`);
      } finally {
        registries.close();
      }
    });
}
