/**
 * berth.db: one SQLite file under $root shared by every package, each owning its tables
 * through numbered, forward-only migrations.
 *
 *   berth.db
 *   └── schema_migrations (owner, version, applied_at)   one row per applied migration
 *       └── <owner>'s tables                              created by its migrations
 *
 * WAL mode (readers never block the writer), `busy_timeout` so concurrent CLIs wait for
 * each other instead of failing, and writes in `BEGIN IMMEDIATE` transactions (see {@link write}).
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failedPrecondition, toBerthError } from '@berth/errors';

/** An open berth.db. */
export type DB = Database.Database;

/** One migration: `version` counts from 1 per owner; `up` is SQL or a function run in the migration's transaction. */
export interface Migration {
  readonly version: number;
  readonly up: string | ((db: DB) => void);
}

/**
 * better-sqlite3's addon when it lies beside the running module: the engine's bundle (dist/)
 * carries the library's JavaScript inside and its addon beside, handed to the library directly,
 * since its own search for the addon (the `bindings` package) cannot work from a bundle and costs
 * ms of every start. Run from sources or a package's dist/, the library finds its addon itself.
 */
function bundledAddon(): string | undefined {
  const path = join(dirname(fileURLToPath(import.meta.url)), 'better_sqlite3.node');
  return existsSync(path) ? path : undefined;
}

/** Opens (creating if needed) `$root/berth.db` in WAL mode with foreign keys on. */
export function openDatabase(root: string, options: { readonly readonly?: boolean } = {}): DB {
  try {
    if (!options.readonly) mkdirSync(root, { recursive: true });
    const addon = bundledAddon();
    const db = new Database(join(root, 'berth.db'), {
      readonly: options.readonly === true, fileMustExist: options.readonly === true, ...(addon === undefined ? {} : { nativeBinding: addon }),
    });
    db.pragma('busy_timeout = 10000');
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      owner TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,
      PRIMARY KEY (owner, version))`);
    return db;
  } catch (e) {
    throw toBerthError(e, `open the berth database in ${root}`);
  }
}

/**
 * Applies `owner`'s migrations not yet applied, in order, each in its own IMMEDIATE
 * transaction. Refuses a database that has a newer migration than the code knows.
 */
export function migrate(db: DB, owner: string, migrations: readonly Migration[]): void {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const known = sorted.length === 0 ? 0 : (sorted[sorted.length - 1] as Migration).version;
  const current = (): number =>
    (db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE owner = ?').get(owner) as { v: number | null }).v ?? 0;
  const now = current();
  if (now > known) {
    throw failedPrecondition(`berth.db has ${owner} schema version ${now}, newer than this berth knows (${known}): upgrade berth`);
  }
  // Up to date (every open but the first): no write transaction, so no wait for the write lock
  // that another berth holds.
  if (now === known) return;
  for (const m of sorted) {
    write(db, () => {
      if (current() >= m.version) return;
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      db.prepare('INSERT INTO schema_migrations (owner, version, applied_at) VALUES (?, ?, ?)').run(owner, m.version, Date.now());
    });
  }
}

/** Runs `fn` in a `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so it never fails mid-way on a lock upgrade. */
export function write<T>(db: DB, fn: () => T): T {
  return db.transaction(fn).immediate();
}
