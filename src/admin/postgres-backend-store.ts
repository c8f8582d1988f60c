/**
 * The PostgreSQL store of runtime backends, for a fleet: every replica reads
 * and writes one table, and learns of changes through LISTEN/NOTIFY.
 *
 * Why NOTIFY rather than Redis pub/sub: the notification is sent inside the
 * transaction that changes the row, so it is delivered only if that change
 * committed, and only after it is visible to the replica that reads it. The
 * registry and its change signal cannot disagree, and a fleet needs nothing
 * beyond the database it already has for the registry. Notifications missed
 * while a replica's listening connection was down are covered by a re-read on
 * reconnect and by the periodic resync.
 */
import pg from 'pg';
import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { conflict, fromRow, storeUnavailable, type BackendStore, type StoredBackend, type StoredBackendInput } from './backend-store.js';

export interface PostgresBackendStoreOptions {
  url: string;
  /** Lower-case identifier; also the NOTIFY channel. Default `gatehouse_backends`. */
  table?: string;
  log?: Logger;
  /** Reconnect delay of the listening connection after a failure (ms; doubles up to 10 s). Default 500. */
  reconnectMs?: number;
}

const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

export function createPostgresBackendStore(options: PostgresBackendStoreOptions): BackendStore {
  const table = options.table ?? 'gatehouse_backends';
  if (!TABLE.test(table)) throw new GatehouseError('GH_CONFIG_INVALID', `admin.postgres.table "${table}" is not a lower-case identifier`);
  const log = options.log;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: 2,
    connectionTimeoutMillis: 2_000,
    query_timeout: 10_000,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
  });
  pool.on('error', (err) => log?.warn({ err }, 'backend store: idle PostgreSQL connection failed'));

  let ready: Promise<void> | undefined;
  const ensureTable = (): Promise<void> => {
    ready ??= transaction(async (c) => {
      // Replicas starting together would race CREATE TABLE IF NOT EXISTS (a unique violation in pg_type).
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [table]);
      await c.query(`CREATE TABLE IF NOT EXISTS ${table} (
        name text PRIMARY KEY,
        entry text NOT NULL,
        document text,
        revision integer NOT NULL,
        updated_at timestamptz NOT NULL,
        updated_by text
      )`);
    }, false).catch((err: unknown) => {
      ready = undefined; // tried again by the next call
      throw err;
    });
    return ready;
  };

  async function transaction<T>(work: (c: pg.PoolClient) => Promise<T>, needsTable = true): Promise<T> {
    if (needsTable) await ensureTable();
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const result = await work(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
  const guard = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw storeUnavailable(err);
    }
  };
  const select = `SELECT name, entry, document, revision, updated_at, updated_by FROM ${table}`;
  const notify = (c: pg.PoolClient, name: string) => c.query('SELECT pg_notify($1, $2)', [table, name]);

  let closed = false;
  let listener: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  return {
    kind: 'postgres',
    list: () =>
      guard(async () => {
        await ensureTable();
        return (await pool.query(`${select} ORDER BY name`)).rows.map(fromRow);
      }),
    put: (input: StoredBackendInput, mode) =>
      guard(() =>
        transaction(async (c): Promise<StoredBackend> => {
          const values = [input.name, JSON.stringify(input.entry), input.document ?? null, input.updatedBy ?? null];
          const sql =
            mode === 'create'
              ? `INSERT INTO ${table} (name, entry, document, revision, updated_at, updated_by) VALUES ($1, $2, $3, 1, now(), $4)
                 ON CONFLICT (name) DO NOTHING RETURNING *`
              : `INSERT INTO ${table} (name, entry, document, revision, updated_at, updated_by) VALUES ($1, $2, $3, 1, now(), $4)
                 ON CONFLICT (name) DO UPDATE SET entry = EXCLUDED.entry, document = EXCLUDED.document,
                   revision = ${table}.revision + 1, updated_at = now(), updated_by = EXCLUDED.updated_by
                 RETURNING *`;
          const { rows } = await c.query(sql, values);
          if (rows.length === 0) throw conflict(input.name);
          await notify(c, input.name);
          return fromRow(rows[0]);
        }),
      ),
    remove: (name) =>
      guard(() =>
        transaction(async (c) => {
          const { rowCount } = await c.query(`DELETE FROM ${table} WHERE name = $1`, [name]);
          if ((rowCount ?? 0) > 0) await notify(c, name);
          return (rowCount ?? 0) > 0;
        }),
      ),
    touch: (name, by) =>
      guard(() =>
        transaction(async (c) => {
          const { rows } = await c.query(`UPDATE ${table} SET revision = revision + 1, updated_at = now(), updated_by = $2 WHERE name = $1 RETURNING *`, [name, by ?? null]);
          if (rows.length === 0) return undefined;
          await notify(c, name);
          return fromRow(rows[0]);
        }),
      ),
    fillDocument: (name, document, revision) =>
      guard(() =>
        transaction(async (c) => {
          const { rows } = await c.query(
            `UPDATE ${table} SET document = $2, revision = revision + 1, updated_at = now() WHERE name = $1 AND revision = $3 AND document IS NULL RETURNING *`,
            [name, document, revision],
          );
          if (rows.length > 0) {
            await notify(c, name);
            return fromRow(rows[0]);
          }
          // Another replica filled it first (or it changed): the row as it is now.
          const now = await c.query(`${select} WHERE name = $1`, [name]);
          return now.rows.length === 0 ? undefined : fromRow(now.rows[0]);
        }),
      ),
    watch(onChange) {
      let delay = options.reconnectMs ?? 500;
      const connect = async (): Promise<void> => {
        retry = undefined;
        if (closed) return;
        const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 2_000, keepAlive: true });
        let failed = false;
        const fail = (err: unknown) => {
          if (failed) return;
          failed = true;
          if (listener === client) listener = undefined;
          client.end().catch(() => undefined);
          if (closed) return;
          log?.warn({ err: err instanceof Error ? err.message : String(err), retryMs: delay }, 'backend store: change notifications lost; reconnecting');
          retry = setTimeout(() => void connect(), delay);
          retry.unref();
          delay = Math.min(delay * 2, 10_000);
        };
        client.on('error', fail);
        client.on('end', () => fail(new Error('connection ended')));
        client.on('notification', (msg) => {
          if (msg.channel === table) onChange();
        });
        try {
          await client.connect();
          await client.query(`LISTEN ${table}`);
        } catch (err) {
          fail(err);
          return;
        }
        if (closed) {
          await client.end().catch(() => undefined);
          return;
        }
        listener = client;
        delay = options.reconnectMs ?? 500;
        // Changes made while nobody listened: re-read once connected.
        onChange();
      };
      void connect();
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const l = listener;
      listener = undefined;
      await l?.end().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
