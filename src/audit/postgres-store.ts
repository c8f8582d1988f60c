import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { COLUMNS, EQUALITY_FILTERS, fromRow, toCells, type CellValue, type ColumnType } from './columns.js';
import { checkQuery, decodeCursor, encodeCursor, pageLimit, type AuditPage, type AuditQuery, type AuditStore } from './record.js';

/** Options of the fleet store: one PostgreSQL table shared by every gateway instance. */
export interface PostgresStoreOptions {
  /** `postgres://user:pass@host:port/db` */
  url: string;
  /** Table name, optionally schema-qualified (`audit.calls`); lower-case identifiers only. Default `gatehouse_audit`. */
  table?: string;
  /** Pool size. Default 4: the writer has one batch in flight; queries and pruning take the rest. */
  maxConnections?: number;
  /** Gives up connecting after this long (ms), so an outage fails a batch fast instead of stalling the writer. Default 2000. */
  connectTimeoutMs?: number;
  /** Gives up on a query after this long (ms): a half-open connection must not hang the writer forever. Default 15000. */
  queryTimeoutMs?: number;
  log?: Logger;
}

const PG_TYPE: Record<ColumnType, string> = { time: 'timestamptz', text: 'text', int: 'integer', bigint: 'bigint', real: 'double precision', json: 'jsonb' };
const TABLE = /^(?:[a-z_][a-z0-9_]{0,40}\.)?[a-z_][a-z0-9_]{0,40}$/;
const PRUNE_CHUNK = 10_000;

/**
 * The PostgreSQL audit store (pg). The table is created on first use, not only
 * by `init()`: a gateway that starts while PostgreSQL is down keeps its records
 * queued in the writer and creates the table once a write gets through.
 */
export function createPostgresStore(options: PostgresStoreOptions): AuditStore {
  const table = options.table ?? 'gatehouse_audit';
  if (!TABLE.test(table)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `audit.postgres.table "${table}" is not a lower-case identifier (optionally schema.table; letters, digits, _)`);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2_000,
    query_timeout: options.queryTimeoutMs ?? 15_000,
    idleTimeoutMillis: 10_000,
    // The pool never keeps the process alive on its own.
    allowExitOnIdle: true,
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that
  // would crash the process. The pool drops the client; the next batch reconnects.
  pool.on('error', (err) => options.log?.warn({ err }, 'audit: idle PostgreSQL connection failed'));

  let ready: Promise<void> | undefined;
  let ended = false;
  const ensureTable = (): Promise<void> => {
    ready ??= createTable(pool, table).catch((err: unknown) => {
      ready = undefined; // retry on the next call
      throw err;
    });
    return ready;
  };

  const columns = COLUMNS.map((c) => c.name);
  const insertSql =
    `INSERT INTO ${table} (${columns.join(', ')}) ` +
    `SELECT * FROM unnest(${COLUMNS.map((c, i) => `$${i + 1}::${PG_TYPE[c.type]}[]`).join(', ')}) ` +
    'ON CONFLICT (uid) DO NOTHING';

  return {
    kind: 'postgres',
    init: ensureTable,
    async write(records) {
      if (records.length === 0) return;
      await ensureTable();
      // One statement per batch, whatever its size: a column-wise array per parameter
      // (unnest) keeps the parameter count at one per column, far from pg's 65535 limit.
      const arrays: unknown[][] = COLUMNS.map(() => new Array<unknown>(records.length));
      // The idempotency key, given once: a batch retried after a lost acknowledgement
      // carries the same uids (the writer retries the same objects), so no row is doubled.
      for (const r of records) (r as { uid?: string }).uid ??= randomUUID();
      records.forEach((r, row) => {
        toCells(r).forEach((v, col) => {
          (arrays[col] as unknown[])[row] = pgCell((COLUMNS[col] as { type: ColumnType }).type, v);
        });
      });
      await pool.query(insertSql, arrays);
    },
    async query(q: AuditQuery): Promise<AuditPage> {
      checkQuery(q);
      await ensureTable();
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: (n: (v: unknown) => string) => string) => where.push(sql((v) => `$${params.push(v)}`));
      if (q.since !== undefined) add((p) => `time >= ${p(new Date(q.since as number))}`);
      if (q.until !== undefined) add((p) => `time < ${p(new Date(q.until as number))}`);
      for (const [key, column] of EQUALITY_FILTERS) {
        const v = q[key];
        if (v !== undefined) add((p) => `${column} = ${p(v)}`);
      }
      if (q.cursor !== undefined) {
        const k = decodeCursor(q.cursor);
        add((p) => `(time, id) < (${p(new Date(k.time))}, ${p(k.id)})`);
      }
      const limit = pageLimit(q.limit);
      const sql = `SELECT * FROM ${table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC LIMIT ${limit + 1}`;
      const { rows } = await pool.query<Record<string, unknown>>(sql, params);
      const records = rows.slice(0, limit).map((row) => fromRow(row, (v) => (v as Date).getTime()));
      const last = records[records.length - 1];
      return rows.length > limit && last ? { records, nextCursor: encodeCursor({ time: last.time, id: last.id }) } : { records };
    },
    async prune(olderThan) {
      await ensureTable();
      // In chunks, so a first prune of a large table does not hold one long transaction.
      const sql = `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE time < $1 LIMIT ${PRUNE_CHUNK})`;
      let total = 0;
      for (;;) {
        const { rowCount } = await pool.query(sql, [new Date(olderThan)]);
        total += rowCount ?? 0;
        if ((rowCount ?? 0) < PRUNE_CHUNK) return total;
      }
    },
    async close() {
      if (ended) return;
      ended = true;
      await pool.end();
    },
  };
}

/**
 * Creates the table once per fleet: the advisory lock serialises instances
 * starting together (concurrent CREATE TABLE IF NOT EXISTS can still fail on
 * the catalogue's unique index).
 */
async function createTable(pool: pg.Pool, table: string): Promise<void> {
  const base = table.slice(table.lastIndexOf('.') + 1);
  const columns = COLUMNS.map((c) => `  ${c.name} ${PG_TYPE[c.type]}${c.required ? ' NOT NULL' : ''}`).join(',\n');
  const ddl = `
CREATE TABLE IF NOT EXISTS ${table} (
  id bigserial PRIMARY KEY,
${columns}
);
CREATE UNIQUE INDEX IF NOT EXISTS ${base}_uid ON ${table} (uid);
CREATE INDEX IF NOT EXISTS ${base}_time ON ${table} (time, id);
CREATE INDEX IF NOT EXISTS ${base}_principal_time ON ${table} (principal_id, time);
CREATE INDEX IF NOT EXISTS ${base}_backend_tool_time ON ${table} (backend, tool, time);
CREATE INDEX IF NOT EXISTS ${base}_outcome_time ON ${table} (outcome, time);
${COLUMNS.filter((c) => !c.required).map((c) => `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${c.name} ${PG_TYPE[c.type]};`).join('\n')}
`;
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gatehouse_audit:${table}`]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    // A failed client may be broken: passing the error makes the pool discard it.
    client.release(failure);
  }
}

/**
 * PostgreSQL refuses NUL in text and jsonb, and lone UTF-16 surrogates in
 * jsonb; one such argument would otherwise fail its batch on every retry.
 */
function pgCell(type: ColumnType, v: CellValue): unknown {
  if (v === null) return null;
  if (type === 'time') return new Date(v as number);
  if (typeof v !== 'string') return v;
  if (type === 'json') return v.includes('\\u') ? v.replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi, '$1\\ufffd') : v;
  return v.includes('\0') ? v.replaceAll('\0', '\ufffd') : v;
}
