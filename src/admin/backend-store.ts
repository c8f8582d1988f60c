/**
 * Where backends registered at runtime (the admin API) persist, so a restart
 * and every replica of a fleet serve them: SQLite for one gateway (the
 * default, in `dataDir`), PostgreSQL for a fleet (the same columns).
 *
 * A row keeps the entry as it was given: `${GATEHOUSE_BACKEND_*}` references
 * stay references, resolved by each gateway from its own environment, so no
 * secret needs to be in the database. The spec's text is kept with each
 * revision: an inline spec's, or what the spec URL served when it was imported
 * (`entry.spec` is then the URL), so every replica imports the same bytes.
 *
 * `revision` counts changes to a row; with `updatedAt` it tells a replica that
 * a backend changed since it last imported it (a re-import request changes
 * nothing but the revision).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { GatehouseError } from '../errors/catalogue.js';
import { openDatabase } from '../sqlite/open-database.js';

/** One registered backend as stored. */
export interface StoredBackend {
  name: string;
  /** The backend's settings as given; `spec` is its URL, absent when the spec is inline. */
  entry: Record<string, unknown>;
  /** The spec's text: inline (no `entry.spec`), or what `entry.spec` served when imported; absent only in rows stored before texts were kept. */
  document?: string;
  revision: number;
  /** ISO 8601. */
  updatedAt: string;
  /** The principal that made the last change. */
  updatedBy?: string;
}

export interface StoredBackendInput {
  name: string;
  entry: Record<string, unknown>;
  document?: string;
  updatedBy?: string;
}

export interface BackendStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Every registered backend, by name. */
  list(): Promise<StoredBackend[]>;
  /** Stores a backend; `create` refuses a name that exists (GH_ADMIN_CONFLICT), `replace` creates or replaces. */
  put(input: StoredBackendInput, mode: 'create' | 'replace'): Promise<StoredBackend>;
  /** False when there was no such backend. */
  remove(name: string): Promise<boolean>;
  /** Bumps the revision (a re-import request every replica follows); undefined when there is no such backend. */
  touch(name: string, updatedBy?: string): Promise<StoredBackend | undefined>;
  /**
   * Stores the document of a row that has none (a spec URL stored before
   * documents were kept), as a new revision, only if the row is still at
   * `revision` without one; returns the row as it is then (undefined: removed).
   */
  fillDocument(name: string, document: string, revision: number): Promise<StoredBackend | undefined>;
  /**
   * Calls `onChange` when another process may have changed the store
   * (PostgreSQL LISTEN/NOTIFY; after a reconnect too, as notifications may have
   * been missed). SQLite has no such signal: the periodic resync covers it.
   */
  watch(onChange: () => void): void;
  close(): Promise<void>;
  /** Why the store cannot be used right now (it could not be opened), or undefined when it can. */
  problem?(): string | undefined;
}

/** Text of a store failure: the store is unreachable or broken, nothing changed. */
export function storeUnavailable(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GatehouseError('GH_ADMIN_STORE_UNAVAILABLE', `the backend store is unavailable: ${message}`, { cause: err });
}

export function conflict(name: string): GatehouseError {
  return new GatehouseError('GH_ADMIN_CONFLICT', `backend "${name}" is registered already: PUT /admin/backends/${name} replaces it`);
}

interface Row {
  name: string;
  entry: string;
  document: string | null;
  revision: number;
  updated_at: string;
  updated_by: string | null;
}

export function fromRow(r: Row): StoredBackend {
  return {
    name: r.name,
    entry: JSON.parse(r.entry) as Record<string, unknown>,
    ...(r.document !== null ? { document: r.document } : {}),
    revision: Number(r.revision),
    updatedAt: typeof r.updated_at === 'string' ? r.updated_at : new Date(r.updated_at).toISOString(),
    ...(r.updated_by !== null ? { updatedBy: r.updated_by } : {}),
  };
}

/**
 * The SQLite store. Changes are rare and small, so it runs on the main thread
 * (unlike the audit trail's writer): each call is one short transaction.
 */
export function createSqliteBackendStore(file: string, options: { engine?: 'auto' | 'better-sqlite3' | 'node:sqlite' } = {}): BackendStore {
  mkdirSync(dirname(file), { recursive: true });
  const db = openDatabase(file, options);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 2000');
  // 1 MiB of page cache, not better-sqlite3's 16 MB: inline specs are read whole, and rarely.
  db.pragma('cache_size = -1024');
  db.exec(`CREATE TABLE IF NOT EXISTS gatehouse_backends (
    name TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    document TEXT,
    revision INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
  )`);
  const all = db.prepare('SELECT * FROM gatehouse_backends ORDER BY name');
  const one = db.prepare('SELECT * FROM gatehouse_backends WHERE name = ?');
  const insert = db.prepare('INSERT INTO gatehouse_backends (name, entry, document, revision, updated_at, updated_by) VALUES (?, ?, ?, 1, ?, ?)');
  const update = db.prepare('UPDATE gatehouse_backends SET entry = ?, document = ?, revision = revision + 1, updated_at = ?, updated_by = ? WHERE name = ?');
  const bump = db.prepare('UPDATE gatehouse_backends SET revision = revision + 1, updated_at = ?, updated_by = ? WHERE name = ?');
  const del = db.prepare('DELETE FROM gatehouse_backends WHERE name = ?');
  const fill = db.prepare('UPDATE gatehouse_backends SET document = ?, revision = revision + 1, updated_at = ? WHERE name = ? AND revision = ? AND document IS NULL');
  const fillDocument = db.transaction((name: string, document: string, revision: number) => {
    fill.run(document, new Date().toISOString(), name, revision);
    const row = one.get(name) as Row | undefined;
    return row === undefined ? undefined : fromRow(row);
  });
  const put = db.transaction((input: StoredBackendInput, mode: 'create' | 'replace'): StoredBackend => {
    const now = new Date().toISOString();
    const entry = JSON.stringify(input.entry);
    const exists = one.get(input.name) !== undefined;
    if (exists && mode === 'create') throw conflict(input.name);
    if (exists) update.run(entry, input.document ?? null, now, input.updatedBy ?? null, input.name);
    else insert.run(input.name, entry, input.document ?? null, now, input.updatedBy ?? null);
    return fromRow(one.get(input.name) as Row);
  });
  const touch = db.transaction((name: string, by: string | undefined) => {
    if (bump.run(new Date().toISOString(), by ?? null, name).changes === 0) return undefined;
    return fromRow(one.get(name) as Row);
  });
  // SQLite is synchronous here: each method wraps its call so a failure is a rejected promise.
  const run = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(f());
    } catch (err) {
      return Promise.reject(err instanceof GatehouseError ? err : storeUnavailable(err));
    }
  };
  return {
    kind: 'sqlite',
    list: () => run(() => (all.all() as Row[]).map(fromRow)),
    put: (input, mode) => run(() => put(input, mode)),
    remove: (name) => run(() => del.run(name).changes > 0),
    touch: (name, by) => run(() => touch(name, by)),
    fillDocument: (name, document, revision) => run(() => fillDocument(name, document, revision)),
    watch() {},
    close: () => run(() => void db.close()),
  };
}
