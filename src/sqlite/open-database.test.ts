import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSqliteBackendStore } from '../admin/backend-store.js';
import { createSqliteStore } from '../audit/sqlite-store.js';
import { openDatabase } from './open-database.js';

// Runs on every Node: on 20 the node:sqlite cases are skipped (it has none); on 22+
// they run, and with a better-sqlite3 built for another Node (`npm ci` under 20,
// the tests under 22) the `auto` case takes the fallback.
const hasNodeSqlite = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:sqlite') !== undefined;
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
let n = 0;
const file = () => join(dir, `db-${++n}.sqlite`);

function betterLoads(): boolean {
  try {
    openDatabase(file(), { engine: 'better-sqlite3' }).close();
    return true;
  } catch {
    return false;
  }
}

const engines = ['better-sqlite3', ...(hasNodeSqlite ? ['node:sqlite' as const] : [])] as const;
const usable = engines.filter((e) => e !== 'better-sqlite3' || betterLoads());

describe('openDatabase', () => {
  it('auto: better-sqlite3 where its native module loads, else node:sqlite', () => {
    if (!betterLoads() && !hasNodeSqlite) {
      expect(() => openDatabase(file())).toThrow(/npm rebuild better-sqlite3/);
      return;
    }
    const db = openDatabase(file());
    expect(db.engine).toBe(betterLoads() ? 'better-sqlite3' : 'node:sqlite');
    db.close();
  });

  it.skipIf(hasNodeSqlite)('node:sqlite asked for on a Node without it: a clear error', () => {
    expect(() => openDatabase(file(), { engine: 'node:sqlite' })).toThrow(/node:sqlite is not available on Node \d+/);
  });

  it.each(usable)('%s: statements, a transaction that commits and one that rolls back', (engine) => {
    const db = openDatabase(file(), { engine });
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n REAL)');
    const insert = db.prepare('INSERT INTO t (name, n) VALUES (?, ?)');
    const many = db.transaction((names: string[]) => names.forEach((name, i) => insert.run(name, i + 0.5)));
    many(['a', 'b']);
    expect(() =>
      db.transaction(() => {
        insert.run('c', null);
        throw new Error('no');
      })(),
    ).toThrow('no');
    expect(db.prepare('SELECT name, n FROM t ORDER BY id').all().map((r) => ({ ...(r as object) }))).toEqual([
      { name: 'a', n: 0.5 },
      { name: 'b', n: 1.5 },
    ]);
    expect(db.prepare('SELECT name FROM t WHERE id = ?').get(99)).toBeUndefined();
    expect(db.prepare('DELETE FROM t WHERE n > ?').run(1).changes).toBe(1);
    db.close();
  });

  it.each(usable)('%s: the audit store writes, queries and prunes', async (engine) => {
    const store = createSqliteStore({ file: file(), engine });
    await store.init();
    await store.write([
      { time: 1000, requestId: 'r1', kind: 'tool', outcome: 'ok', latencyMs: 1.5, tool: 'a_get', status: 200 },
      { time: 2000, requestId: 'r2', kind: 'tool', outcome: 'error', latencyMs: 3, tool: 'a_get', errorCode: 'GH_UPSTREAM_STATUS' },
    ]);
    const page = await store.query({ outcome: 'error' });
    expect(page.records.map((r) => [r.requestId, r.errorCode])).toEqual([['r2', 'GH_UPSTREAM_STATUS']]);
    expect(await store.prune(1500)).toBe(1);
    expect((await store.query({})).records.map((r) => r.requestId)).toEqual(['r2']);
    await store.close();
  });

  it.each(usable)('%s: the runtime-backend store keeps rows and refuses a second create', async (engine) => {
    const store = createSqliteBackendStore(file(), { engine });
    await store.put({ name: 'pets', entry: { spec: 'http://x/pets.yaml' } }, 'create');
    await expect(store.put({ name: 'pets', entry: {} }, 'create')).rejects.toMatchObject({ code: 'GH_ADMIN_CONFLICT' });
    expect((await store.touch('pets'))?.revision).toBe(2);
    expect((await store.list()).map((b) => [b.name, b.revision])).toEqual([['pets', 2]]);
    expect(await store.remove('pets')).toBe(true);
    await store.close();
  });
});
