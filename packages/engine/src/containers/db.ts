/**
 * Opens `$root/berth.db` for the engine: WAL so readers never wait for a writer, a busy
 * timeout so concurrent CLIs queue instead of failing, NORMAL sync (safe with WAL).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Opens (creating if needed) the SQLite database at `path`. */
export function openDatabase(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path, { timeout: 15_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}
