/**
 * Volumes of the `local` driver: rows in the shared `$root/berth.db`, data under `$root/volumes`.
 *
 *   $root/
 *     berth.db
 *       volumes        name TEXT PK ─ driver TEXT ─ created TEXT (RFC 3339)
 *                      labels TEXT (JSON object) ─ options TEXT (JSON object) ─ anonymous INTEGER (0|1)
 *       volume_mounts  container_id TEXT ─ destination TEXT ─ spec TEXT (JSON: the resolved mount)
 *                      volume TEXT (NULL for binds and tmpfs)     PK (container_id, destination)
 *     volumes/<name>/_data    the volume's content (the Mountpoint Docker shows)
 *
 * A volume is in use while some container's `volume_mounts` row names it (rows are written at
 * container create by `prepareMounts` and dropped at container remove by `releaseMounts`).
 * Every change is one `BEGIN IMMEDIATE` transaction, so concurrent CLIs never remove a volume
 * a container is being created with.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { alreadyExists, conflict, invalidArgument, notFound } from '@berth/errors';
import { migrate, openDatabase, write, type DB, type Migration } from '@berth/layer-store/db';

/** The owner name of this package's migrations in `schema_migrations`. */
export const volumeStoreOwner = 'volumes';

/** Migrations of berth.db owned by `volumes`. */
export const volumeMigrations: readonly Migration[] = [
  {
    version: 1,
    up: `CREATE TABLE volumes (
      name TEXT PRIMARY KEY, driver TEXT NOT NULL, created TEXT NOT NULL,
      labels TEXT NOT NULL, options TEXT NOT NULL, anonymous INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE volume_mounts (
      container_id TEXT NOT NULL, destination TEXT NOT NULL, volume TEXT, spec TEXT NOT NULL,
      PRIMARY KEY (container_id, destination));
    CREATE INDEX volume_mounts_volume ON volume_mounts (volume);`,
  },
];

/** A volume as stored. */
export interface Volume {
  readonly name: string;
  readonly driver: string;
  /** RFC 3339, seconds precision. */
  readonly createdAt: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Driver options (`type`, `device`, `o` for the local driver). */
  readonly options: Readonly<Record<string, string>>;
  /** Made for `-v /path` or an image `VOLUME`, named by 64 hex digits. */
  readonly anonymous: boolean;
  /** Host path of its data (`$root/volumes/<name>/_data`). */
  readonly mountpoint: string;
}

/** What `create` takes. A missing name makes an anonymous volume. */
export interface NewVolume {
  readonly name?: string;
  readonly driver?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly options?: Readonly<Record<string, string>>;
}

/** Filters of `list` and `prune`, as `--filter` gives them. */
export interface VolumeFilter {
  /** true: only volumes no container uses; false: only used ones. */
  readonly dangling?: boolean;
  /** Substrings of the name (any matches). */
  readonly name?: readonly string[];
  /** `key` or `key=value` (all must match). */
  readonly label?: readonly string[];
  readonly driver?: readonly string[];
}

/** The Docker-shaped JSON of `volume inspect` and the API's `GET /volumes/{name}`. */
export interface VolumeInspect {
  readonly CreatedAt: string;
  readonly Driver: string;
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly Mountpoint: string;
  readonly Name: string;
  readonly Options: Readonly<Record<string, string>> | null;
  readonly Scope: 'local';
}

const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Throws InvalidArgument unless `name` is a valid volume name (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`). */
export function checkVolumeName(name: string): void {
  if (!namePattern.test(name)) {
    throw invalidArgument(`volume name "${name}" includes invalid characters: use [a-zA-Z0-9][a-zA-Z0-9_.-] (at least 2 characters); for a host directory use an absolute path`);
  }
}

/** The local driver's options: `type`, `device`, `o` (as `docker volume create -o`). */
const localOptions = new Set(['type', 'device', 'o', 'size']);

function checkOptions(name: string, options: Readonly<Record<string, string>>): void {
  for (const k of Object.keys(options)) {
    if (!localOptions.has(k)) throw invalidArgument(`volume "${name}": invalid option "${k}" for the local driver: use type, device and o`);
  }
  const type = options['type'];
  if (type !== undefined && options['device'] === undefined) {
    throw invalidArgument(`volume "${name}": option type=${type} needs device= (e.g. device=tmpfs, or device=/host/path with type=none,o=bind)`);
  }
  if (type === undefined && (options['device'] !== undefined || options['o'] !== undefined)) {
    throw invalidArgument(`volume "${name}": options device and o need type= (tmpfs, none for a bind, or a filesystem type)`);
  }
  if (options['o'] !== undefined && /(^|,)bind(,|$)/.test(options['o']) && !(options['device'] ?? '').startsWith('/')) {
    throw invalidArgument(`volume "${name}": a bind volume needs an absolute device= path`);
  }
}

interface Row { name: string; driver: string; created: string; labels: string; options: string; anonymous: number }

function stringRecord(json: string, what: string): Record<string, string> {
  const v: unknown = JSON.parse(json);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument(`${what} is not a JSON object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Container ids that use a volume beyond what `volume_mounts` records (see {@link VolumeStoreOptions.extraUsers}). */
export type ExtraUsers = (name: string) => readonly string[];

/** Options of {@link VolumeStore}. */
export interface VolumeStoreOptions {
  /**
   * More users of a volume than `volume_mounts` records (container ids), e.g. containers made
   * before the engine recorded mounts here. A volume with any user is in use.
   */
  readonly extraUsers?: ExtraUsers;
  /**
   * Whether a container id still exists. Marks of containers it denies (a create that failed
   * before `releaseMounts`, a crash) are stale: they do not hold a volume. Without it every mark holds.
   */
  readonly containerExists?: (id: string) => boolean;
}

/** The `local` volume driver's store: rows in berth.db, data under `$root/volumes`. */
export class VolumeStore {
  readonly db: DB;
  readonly root: string;
  readonly #extra: ExtraUsers;
  readonly #exists: (id: string) => boolean;
  readonly #ownsDb: boolean;

  /** Wraps an open berth.db (applying this package's migrations). */
  constructor(db: DB, root: string, options: VolumeStoreOptions & { readonly ownsDb?: boolean } = {}) {
    this.db = db;
    this.root = root;
    this.#extra = options.extraUsers ?? (() => []);
    this.#exists = options.containerExists ?? (() => true);
    this.#ownsDb = options.ownsDb === true;
    migrate(db, volumeStoreOwner, volumeMigrations);
  }

  /** Opens `$root/berth.db` and the volume store on it; `close()` closes the database. */
  static open(root: string, options: VolumeStoreOptions = {}): VolumeStore {
    return new VolumeStore(openDatabase(root), root, { ...options, ownsDb: true });
  }

  /** Closes the database if this store opened it. */
  close(): void {
    if (this.#ownsDb) this.db.close();
  }

  /** `$root/volumes/<name>/_data`. */
  mountpoint(name: string): string {
    return join(this.root, 'volumes', name, '_data');
  }

  /**
   * Creates a volume, or returns the existing one of that name (Docker's behaviour) when its
   * driver matches. No name: an anonymous volume named by 64 random hex digits.
   */
  create(v: NewVolume = {}): Volume {
    const anonymous = v.name === undefined || v.name === '';
    const name = anonymous ? randomBytes(32).toString('hex') : (v.name as string);
    checkVolumeName(name);
    const driver = v.driver ?? 'local';
    if (driver !== 'local') throw invalidArgument(`volume "${name}": driver "${driver}" is not supported: use local`);
    const options = v.options ?? {};
    checkOptions(name, options);
    const labels = { ...(v.labels ?? {}) };
    if (anonymous) labels['com.docker.volume.anonymous'] = '';
    return write(this.db, () => {
      const existing = this.#row(name);
      if (existing !== undefined) {
        if (existing.driver !== driver) throw alreadyExists(`volume "${name}" already exists with driver ${existing.driver}`);
        return this.#fromRow(existing);
      }
      this.#makeDir(name);
      const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      this.db.prepare('INSERT INTO volumes (name, driver, created, labels, options, anonymous) VALUES (?, ?, ?, ?, ?, ?)')
        .run(name, driver, created, JSON.stringify(labels), JSON.stringify(options), anonymous ? 1 : 0);
      return this.#fromRow(this.#row(name) as Row);
    });
  }

  /** The volume of that name, or NotFound. */
  get(name: string): Volume {
    const r = this.#row(name);
    if (r === undefined) throw notFound(`volume "${name}" not found: see 'berth volume ls'`);
    return this.#fromRow(r);
  }

  /** The volume of that name, or undefined. */
  find(name: string): Volume | undefined {
    const r = this.#row(name);
    return r === undefined ? undefined : this.#fromRow(r);
  }

  /** Volumes sorted by name, filtered. */
  list(filter: VolumeFilter = {}): Volume[] {
    const rows = this.db.prepare('SELECT * FROM volumes ORDER BY name').all() as Row[];
    return rows.map((r) => this.#fromRow(r)).filter((v) => this.#matches(v, filter));
  }

  /** Container ids using the volume (recorded mounts plus extra users), sorted, unique. */
  users(name: string): string[] {
    const rows = this.db.prepare('SELECT DISTINCT container_id AS id FROM volume_mounts WHERE volume = ?').all(name) as { id: string }[];
    return [...new Set([...rows.map((r) => r.id).filter((id) => this.#exists(id)), ...this.#extra(name)])].sort();
  }

  /**
   * Removes a volume and its data. Refused (Conflict) while a container uses it, even with
   * `force`; `force` only makes a missing volume no error. Returns false when it was missing.
   */
  remove(name: string, options: { readonly force?: boolean } = {}): boolean {
    const gone = write(this.db, () => {
      const r = this.#row(name);
      if (r === undefined) {
        if (options.force) return false;
        throw notFound(`volume "${name}" not found: see 'berth volume ls'`);
      }
      const users = this.users(name);
      if (users.length > 0) {
        throw conflict(`volume "${name}" is in use by container ${users.map((u) => u.slice(0, 12)).join(', ')}: remove the container first`, { detail: { containers: users } });
      }
      this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
      return true;
    });
    if (gone) this.#removeDir(name);
    return gone;
  }

  /**
   * Removes unused volumes: anonymous ones only, or all with `all` (Docker ≥ 23's `volume
   * prune [-a]`). Returns the removed names and the bytes freed.
   */
  prune(options: { readonly all?: boolean; readonly filter?: VolumeFilter } = {}): { readonly removed: string[]; readonly reclaimed: number } {
    const removed: string[] = [];
    let reclaimed = 0;
    for (const v of this.list({ ...options.filter, dangling: true })) {
      if (!v.anonymous && !options.all) continue;
      const size = duBytes(join(this.root, 'volumes', v.name));
      try {
        if (this.remove(v.name, { force: true })) { removed.push(v.name); reclaimed += size; }
      } catch { /* taken by a container since the listing: keep it */ }
    }
    return { removed, reclaimed };
  }

  /** Size and users of every volume, for `system df` (Docker's "Local Volumes": active = used by a container). */
  diskUsage(): { readonly name: string; readonly size: number; readonly users: number }[] {
    return this.list().map((v) => ({ name: v.name, size: duBytes(join(this.root, 'volumes', v.name)), users: this.users(v.name).length }));
  }

  /** The Docker-shaped JSON of a volume. */
  inspect(name: string): VolumeInspect {
    const v = this.get(name);
    return {
      CreatedAt: v.createdAt,
      Driver: v.driver,
      Labels: Object.keys(v.labels).length === 0 ? null : v.labels,
      Mountpoint: v.mountpoint,
      Name: v.name,
      Options: Object.keys(v.options).length === 0 ? null : v.options,
      Scope: 'local',
    };
  }

  #row(name: string): Row | undefined {
    return this.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Row | undefined;
  }

  #fromRow(r: Row): Volume {
    return {
      name: r.name,
      driver: r.driver,
      createdAt: r.created,
      labels: stringRecord(r.labels, `labels of volume "${r.name}"`),
      options: stringRecord(r.options, `options of volume "${r.name}"`),
      anonymous: r.anonymous === 1,
      mountpoint: this.mountpoint(r.name),
    };
  }

  #matches(v: Volume, f: VolumeFilter): boolean {
    if (f.dangling !== undefined && (this.users(v.name).length === 0) !== f.dangling) return false;
    if (f.name !== undefined && f.name.length > 0 && !f.name.some((n) => v.name.includes(n))) return false;
    if (f.driver !== undefined && f.driver.length > 0 && !f.driver.includes(v.driver)) return false;
    for (const l of f.label ?? []) {
      const i = l.indexOf('=');
      if (i < 0 ? !(l in v.labels) : v.labels[l.slice(0, i)] !== l.slice(i + 1)) return false;
    }
    return true;
  }

  #makeDir(name: string): void {
    // The volume dir 0701 (others may traverse to _data but not list volumes), _data 0755 as Docker makes them.
    mkdirSync(join(this.root, 'volumes'), { recursive: true, mode: 0o701 });
    mkdirSync(join(this.root, 'volumes', name), { recursive: true, mode: 0o701 });
    mkdirSync(this.mountpoint(name), { recursive: true, mode: 0o755 });
  }

  #removeDir(name: string): void {
    // Rename first so a half-deleted tree never sits under a name a new volume could take.
    const dir = join(this.root, 'volumes', name);
    const trash = join(this.root, 'volumes', `.removing-${name}-${process.pid}`);
    try { renameSync(dir, trash); } catch { return; }
    rmSync(trash, { recursive: true, force: true });
  }
}

/** Bytes of regular files under `dir` (not following symlinks, hard links once). */
export function duBytes(dir: string): number {
  let n = 0;
  const seen = new Set<string>();
  const walk = (d: string): void => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const name of names) {
      const p = join(d, name);
      let st;
      try { st = lstatSync(p); } catch { continue; }
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1) { if (seen.has(key)) continue; seen.add(key); }
        n += st.size;
      }
    }
  };
  walk(dir);
  return n;
}
