/**
 * Containers in SQLite (`$root/berth.db`), one transaction per change, safe under many
 * concurrent CLIs (WAL, `BEGIN IMMEDIATE`, a busy timeout).
 *
 * Schema (immutable config apart from changing state, as podman does):
 *
 *   containers
 *     id TEXT PK (64 hex) ─ name TEXT UNIQUE ─ image TEXT ─ image_id TEXT ─ created TEXT (RFC 3339)
 *     config TEXT (JSON, never changes after create)
 *     status TEXT  created | starting | running | paused | stopping | exited | removing
 *     pid, shim_pid INTEGER   (0 when none)
 *     exit_code INTEGER, started_at TEXT, finished_at TEXT, oom_killed INTEGER, restart_count INTEGER, error TEXT
 *     owner INTEGER  pid of the berth process holding a transient status (starting/stopping/removing);
 *                    a transient status whose owner is dead is recovered by the next reader
 *     holder_start TEXT  /proc start time of the process in shim_pid/owner (v2): a reused pid is not the holder
 *
 * The rhythm of every container operation: in one IMMEDIATE transaction re-read the row,
 * check the state machine, mark the transient status with our pid; act outside the
 * transaction; persist the outcome in a second transaction.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { migrate, type DB, type Migration } from '@berth/layer-store/db';
import { conflict, invalidArgument, notFound } from '@berth/errors';
import { generateName, newContainerId, type ContainerId } from './names.js';
import { checkName } from './options.js';

/** A container's status, Docker's plus transient ones owned by a running berth process. */
export type ContainerStatus = 'created' | 'starting' | 'running' | 'paused' | 'stopping' | 'exited' | 'removing';

/** What changes over a container's life. */
export interface ContainerState {
  readonly status: ContainerStatus;
  readonly pid: number;
  readonly shimPid: number;
  readonly exitCode: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly oomKilled: boolean;
  readonly restartCount: number;
  readonly error: string;
  readonly owner: number;
  /** Start time (clock ticks since boot, /proc/<pid>/stat field 22) of the holding process. */
  readonly holderStart: string;
}

/** One container as stored. `config` is the engine's JSON, fixed at create. */
export interface ContainerRecord<C = unknown> {
  readonly id: ContainerId;
  readonly name: string;
  readonly image: string;
  readonly imageId: string;
  readonly created: string;
  readonly config: C;
  readonly state: ContainerState;
}

/** The engine's migrations of berth.db (owner `containers`), applied through layer-store's `migrate`. */
export const containerMigrations: readonly Migration[] = [
  {
    version: 1,
    up: `CREATE TABLE containers (
      id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image TEXT NOT NULL, image_id TEXT NOT NULL,
      created TEXT NOT NULL, config TEXT NOT NULL,
      status TEXT NOT NULL, pid INTEGER NOT NULL DEFAULT 0, shim_pid INTEGER NOT NULL DEFAULT 0,
      exit_code INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL DEFAULT '', finished_at TEXT NOT NULL DEFAULT '',
      oom_killed INTEGER NOT NULL DEFAULT 0, restart_count INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
      owner INTEGER NOT NULL DEFAULT 0)`,
  },
  { version: 2, up: `ALTER TABLE containers ADD COLUMN holder_start TEXT NOT NULL DEFAULT ''` },
];

/** The owner name of the engine's tables in schema_migrations. */
export const containerStoreOwner = 'containers';

interface Row {
  id: string; name: string; image: string; image_id: string; created: string; config: string; status: string;
  pid: number; shim_pid: number; exit_code: number; started_at: string; finished_at: string; oom_killed: number;
  restart_count: number; error: string; owner: number; holder_start: string;
}

const statuses: readonly ContainerStatus[] = ['created', 'starting', 'running', 'paused', 'stopping', 'exited', 'removing'];

function fromRow<C>(r: Row, parse: (json: unknown) => C): ContainerRecord<C> {
  const status = statuses.includes(r.status as ContainerStatus) ? (r.status as ContainerStatus) : 'exited';
  return {
    id: r.id as ContainerId,
    name: r.name,
    image: r.image,
    imageId: r.image_id,
    created: r.created,
    config: parse(JSON.parse(r.config) as unknown),
    state: {
      status, pid: r.pid, shimPid: r.shim_pid, exitCode: r.exit_code, startedAt: r.started_at,
      finishedAt: r.finished_at, oomKilled: r.oom_killed !== 0, restartCount: r.restart_count, error: r.error, owner: r.owner, holderStart: r.holder_start,
    },
  };
}

const columns: Readonly<Record<keyof ContainerState, string>> = {
  status: 'status', pid: 'pid', shimPid: 'shim_pid', exitCode: 'exit_code', startedAt: 'started_at',
  finishedAt: 'finished_at', oomKilled: 'oom_killed', restartCount: 'restart_count', error: 'error', owner: 'owner', holderStart: 'holder_start',
};

/** What a new container needs. */
export interface NewContainer<C> {
  readonly id?: ContainerId;
  readonly name?: string;
  readonly image: string;
  readonly imageId: string;
  readonly config: C;
}

type Statement = BetterSqlite3.Statement<unknown[]>;

/** Containers' rows in SQLite. `parse` validates the stored config JSON. */
export class ContainerStore<C = unknown> {
  readonly #db: DB;
  readonly #parse: (json: unknown) => C;
  /** Prepared statements by SQL text: compiling one costs more than running it. */
  readonly #statements = new Map<string, Statement>();

  constructor(db: DB, parse: (json: unknown) => C) {
    this.#db = db;
    this.#parse = parse;
    migrate(db, containerStoreOwner, containerMigrations);
  }

  #sql(sql: string): Statement {
    let st = this.#statements.get(sql);
    if (st === undefined) this.#statements.set(sql, (st = this.#db.prepare(sql)));
    return st;
  }

  /** Adds a container in status `created`. Names are unique; a generated one is retried on collision. */
  insert(c: NewContainer<C>): ContainerRecord<C> {
    const id = c.id ?? newContainerId();
    const created = new Date().toISOString();
    const stmt = this.#sql(`INSERT INTO containers (id, name, image, image_id, created, config, status)
      VALUES (?, ?, ?, ?, ?, ?, 'created')`);
    for (let retry = 0; ; retry++) {
      const name = c.name === undefined ? generateName(retry) : checkName(c.name);
      try {
        stmt.run(id, name, c.image, c.imageId, created, JSON.stringify(c.config));
        return this.get(id);
      } catch (e) {
        const msg = e instanceof Error ? e.message : '';
        if (!/UNIQUE constraint failed: containers.name/.test(msg)) throw e;
        if (c.name !== undefined) {
          const other = this.#sql('SELECT id FROM containers WHERE name = ?').get(name) as { id: string } | undefined;
          throw conflict(`the container name "/${name}" is already in use by container "${other?.id ?? '?'}": remove or rename that container, or choose another name`);
        }
        if (retry > 20) throw e;
      }
    }
  }

  /** Finds a container by full name, full ID or unique ID prefix, like Docker. */
  find(ref: string): ContainerRecord<C> | undefined {
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const byName = this.#sql('SELECT * FROM containers WHERE name = ? OR id = ?').get(name, ref) as Row | undefined;
    if (byName) return fromRow(byName, this.#parse);
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const rows = this.#sql('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2').all(ref, `${ref}g`) as Row[];
    if (rows.length > 1) throw invalidArgument(`container ID prefix "${ref}" is ambiguous: give more characters`);
    return rows[0] ? fromRow(rows[0], this.#parse) : undefined;
  }

  /** Like {@link find}, but a missing container is a NotFound error. */
  get(ref: string): ContainerRecord<C> {
    const c = this.find(ref);
    if (!c) throw notFound(`no such container: ${ref}`);
    return c;
  }

  /** Every container, newest first. */
  list(): ContainerRecord<C>[] {
    return (this.#sql('SELECT * FROM containers ORDER BY created DESC, rowid DESC').all() as Row[]).map((r) => fromRow(r, this.#parse));
  }

  /**
   * In one IMMEDIATE transaction: re-read the container, let `check` decide from its current
   * record (throw to refuse), and apply the patch it returns. Returns the updated record.
   */
  transition(id: ContainerId, check: (c: ContainerRecord<C>) => Partial<ContainerState>): ContainerRecord<C> {
    return this.#stateChange(() => {
      const cur = this.get(id);
      const patch = check(cur);
      this.#write(id, patch);
      return this.get(id);
    });
  }

  /** Applies a state patch without a check (the shim's exit report). */
  update(id: ContainerId, patch: Partial<ContainerState>): void {
    this.#stateChange(() => this.#write(id, patch));
  }

  /**
   * Runs a state change in an IMMEDIATE transaction committed without an fsync of the WAL
   * (synchronous=NORMAL; the database stays FULL otherwise): a run makes four of them, and a
   * power cut that loses the last ones costs nothing, since the state they recorded (starting,
   * running, exited, removing) is read again from the processes (a dead holder reads as exited,
   * see reconcile) and rm redoes a removal. Inserts stay durable: a row must never be lost
   * while its container's files exist.
   */
  #stateChange<T>(fn: () => T): T {
    this.#db.pragma('synchronous = NORMAL');
    try {
      return this.#db.transaction(fn).immediate();
    } finally {
      this.#db.pragma('synchronous = FULL');
    }
  }

  #write(id: string, patch: Partial<ContainerState>): void {
    const keys = Object.keys(patch) as (keyof ContainerState)[];
    if (keys.length === 0) return;
    const values = keys.map((k) => {
      const v = patch[k];
      return typeof v === 'boolean' ? (v ? 1 : 0) : v;
    });
    this.#sql(`UPDATE containers SET ${keys.map((k) => `${columns[k]} = ?`).join(', ')} WHERE id = ?`).run(...values, id);
  }

  /** Renames a container; the new name must be free. */
  rename(id: ContainerId, newName: string): void {
    const name = checkName(newName);
    try {
      this.#sql('UPDATE containers SET name = ? WHERE id = ?').run(name, id);
    } catch (e) {
      if (e instanceof Error && /UNIQUE constraint failed/.test(e.message)) {
        throw conflict(`the container name "/${name}" is already in use: choose another name`);
      }
      throw e;
    }
  }

  /** Deletes a container's row. */
  delete(id: ContainerId): void {
    this.#sql('DELETE FROM containers WHERE id = ?').run(id);
  }
}
