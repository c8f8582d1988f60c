import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { FIXTURES } from './gateway.js';

/** The audit trail's stores as tests start them: SQLite on its worker thread, on the event loop, and PostgreSQL. */
export type StoreKind = 'sqlite' | 'sqlite-loop' | 'postgres';

const PG_USER = encodeURIComponent(process.env.PGUSER ?? userInfo().username);
/** The local PostgreSQL (database `test`), or a proxy in front of it on another port. */
export const pgUrl = (port = 5432): string => `postgres://${PG_USER}@127.0.0.1:${port}/test`;

export interface TestStore {
  dir: string;
  table: string;
  /** `dataDir` and `audit` lines for a gateway config. */
  yaml: string;
}

/**
 * Fresh audit stores for one test file: each in a temporary folder (SQLite) or
 * a table of its own (PostgreSQL), all removed by `cleanup()`.
 */
export function auditStores(name: string) {
  const dirs: string[] = [];
  const tables: string[] = [];
  let seq = 0;
  return {
    /** `settings` go inside `audit: { … }` after the store's own (e.g. `durability: sync, queue: {…}`). */
    create(kind: StoreKind, settings: string, pgPort = 5432): TestStore {
      const dir = mkdtempSync(join(tmpdir(), `gatehouse-${name}-`));
      dirs.push(dir);
      const table = `audit_${name}_${process.pid}_${Date.now().toString(36)}_${seq++}`;
      if (kind === 'postgres') tables.push(table);
      const store =
        kind === 'sqlite'
          ? 'store: sqlite'
          : kind === 'sqlite-loop'
            ? 'store: sqlite, sqlite: { thread: false }'
            : `store: postgres, postgres: { url: "${pgUrl(pgPort)}", table: ${table} }`;
      return { dir, table, yaml: `dataDir: ${join(dir, 'data')}\naudit: { ${store}, ${settings} }\n` };
    },
    /** The request ids of every stored record (one entry per row), read from the store itself. */
    async storedIds(admin: pg.Client, kind: StoreKind, store: TestStore): Promise<string[]> {
      if (kind === 'postgres') {
        const { rows } = await admin.query<{ request_id: string }>(`SELECT request_id FROM ${store.table}`);
        return rows.map((r) => r.request_id);
      }
      const db = new Database(join(store.dir, 'data', 'audit.db'), { readonly: true });
      try {
        return (db.prepare('SELECT request_id FROM audit').all() as Array<{ request_id: string }>).map((r) => r.request_id);
      } finally {
        db.close();
      }
    },
    async cleanup(admin: pg.Client): Promise<void> {
      for (const t of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${t}`);
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** The stub backend these tests call, with room for every call at once (no bulkhead refusals). */
export const stubBackendYaml = (stubUrl: string): string => `backends:
  - name: stub
    spec: ${join(FIXTURES, 'stub-api.yaml')}
    baseUrl: ${stubUrl}/api
    maxConcurrent: 1000
`;
