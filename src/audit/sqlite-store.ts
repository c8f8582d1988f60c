import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { GatehouseError } from '../errors/catalogue.js';
import { openDatabase, type SqliteDatabase, type SqliteStatement } from '../sqlite/open-database.js';
import { COLUMNS, EQUALITY_FILTERS, fromRow, toCells, type ColumnType } from './columns.js';
import { checkQuery, decodeCursor, encodeCursor, pageLimit, type AuditPage, type AuditQuery, type AuditRecord, type AuditStore } from './record.js';

/** Options of the default store: one SQLite file under the data directory. */
export interface SqliteStoreOptions {
  /** Path of the database file; its directory is created if missing. */
  file: string;
  /** Table name (a plain identifier). Default `audit`. */
  table?: string;
  /** How long a write waits for another process's lock before failing (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** Which SQLite library (default: better-sqlite3, node:sqlite if that cannot load). */
  engine?: 'auto' | 'better-sqlite3' | 'node:sqlite';
}

const SQL_TYPE: Record<ColumnType, string> = { time: 'INTEGER', text: 'TEXT', int: 'INTEGER', bigint: 'INTEGER', real: 'REAL', json: 'TEXT' };
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;
/** Rows deleted per prune step (a few milliseconds); the event loop gets a turn between steps. */
const PRUNE_CHUNK = 1_000;

/**
 * The SQLite audit store (better-sqlite3, or node:sqlite where that cannot load: see sqlite/open-database.ts).
 *
 * better-sqlite3 is synchronous: every statement blocks the event loop while it
 * runs. That is why it is only ever called by the audit writer, off the call
 * path, with a whole batch in one transaction — one fsync-free WAL append per
 * batch (`synchronous = NORMAL`) costs well under a millisecond for hundreds of
 * rows, where a statement per call would put SQLite on every call's latency.
 */
export function createSqliteStore(options: SqliteStoreOptions): AuditStore {
  const table = options.table ?? 'audit';
  if (!IDENTIFIER.test(table)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `audit.sqlite.table "${table}" is not a plain identifier (letters, digits, _; at most 41 characters)`);
  }
  let db: SqliteDatabase | undefined;
  let insert: ((rows: readonly AuditRecord[]) => void) | undefined;
  const queries = new Map<string, SqliteStatement>();

  const open = (): SqliteDatabase => {
    if (db) return db;
    mkdirSync(dirname(options.file), { recursive: true });
    const d = openDatabase(options.file, options.engine === undefined ? {} : { engine: options.engine });
    try {
      d.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a crash of the machine may lose the last batches, never corrupt the file.
      d.pragma('synchronous = NORMAL');
      d.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      // better-sqlite3 builds SQLite with a 16 MB page cache per connection; a growing audit
      // table fills it, all resident. Inserts touch only the right-most pages of the table
      // and its three indexes, so 1 MiB holds them many times over; queries and pruning read
      // through the OS page cache.
      d.pragma('cache_size = -1024');
      d.exec(schema(table).table);
      // A table from an earlier version gains the columns added since (all nullable).
      const present = new Set((d.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
      for (const c of COLUMNS) if (!present.has(c.name)) d.exec(`ALTER TABLE ${table} ADD COLUMN ${c.name} ${SQL_TYPE[c.type]}`);
      d.exec(schema(table).indexes);
    } catch (err) {
      d.close();
      throw err;
    }
    const columns = COLUMNS.map((c) => c.name).join(', ');
    // No uid de-duplication here: a local transaction either commits or throws, so a
    // retried batch was never written (the PostgreSQL store needs it; see there).
    const stmt = d.prepare(`INSERT INTO ${table} (${columns}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
    insert = d.transaction((rows: readonly AuditRecord[]) => {
      for (const r of rows) stmt.run(...toCells(r));
    });
    db = d;
    return d;
  };

  const statement = (sql: string): SqliteStatement => {
    let s = queries.get(sql);
    if (!s) {
      s = open().prepare(sql);
      queries.set(sql, s);
    }
    return s;
  };

  return {
    kind: 'sqlite',
    async init() {
      open();
    },
    async write(records) {
      if (records.length === 0) return;
      open();
      insert?.(records);
    },
    async query(q: AuditQuery): Promise<AuditPage> {
      checkQuery(q);
      const where: string[] = [];
      const params: (string | number)[] = [];
      const add = (sql: string, ...values: (string | number)[]) => {
        where.push(sql);
        params.push(...values);
      };
      if (q.since !== undefined) add('time >= ?', q.since);
      if (q.until !== undefined) add('time < ?', q.until);
      for (const [key, column] of EQUALITY_FILTERS) {
        const v = q[key];
        if (v !== undefined) add(`${column} = ?`, v);
      }
      if (q.cursor !== undefined) {
        const k = decodeCursor(q.cursor);
        add('(time < ? OR (time = ? AND id < ?))', k.time, k.time, k.id);
      }
      const limit = pageLimit(q.limit);
      const sql = `SELECT * FROM ${table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ?`;
      const rows = statement(sql).all(...params, limit + 1) as Record<string, unknown>[];
      const records = rows.slice(0, limit).map((row) => fromRow(row, Number));
      const last = records[records.length - 1];
      return rows.length > limit && last ? { records, nextCursor: encodeCursor({ time: last.time, id: last.id }) } : { records };
    },
    async prune(olderThan) {
      const step = statement(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE time < ? LIMIT ${PRUNE_CHUNK})`);
      let total = 0;
      for (;;) {
        const { changes } = step.run(olderThan);
        total += changes;
        if (changes < PRUNE_CHUNK) return total;
        // Let calls (and the audit writer) run between chunks of a large prune.
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      queries.clear();
      insert = undefined;
      db?.close();
      db = undefined;
    },
  };
}

/**
 * Every index costs each insert a B-tree update, so only the filters people
 * narrow by most have one: time (every query orders by it), principal, and
 * backend+tool. `outcome` is scanned within the time range. `id` is the rowid:
 * monotonic, as pruning deletes the oldest rows only.
 */
function schema(table: string): { table: string; indexes: string } {
  const columns = COLUMNS.map((c) => `  ${c.name} ${SQL_TYPE[c.type]}${c.required ? ' NOT NULL' : ''}`).join(',\n');
  return {
    table: `
CREATE TABLE IF NOT EXISTS ${table} (
  id INTEGER PRIMARY KEY,
${columns}
);`,
    indexes: `
CREATE INDEX IF NOT EXISTS ${table}_time ON ${table} (time);
CREATE INDEX IF NOT EXISTS ${table}_principal_time ON ${table} (principal_id, time);
CREATE INDEX IF NOT EXISTS ${table}_backend_tool_time ON ${table} (backend, tool, time);
`,
  };
}
