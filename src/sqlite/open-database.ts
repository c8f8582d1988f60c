/**
 * Opens a SQLite database for the stores (the audit trail, runtime backends):
 * better-sqlite3 first, the runtime's own `node:sqlite` when better-sqlite3's
 * native module cannot load.
 *
 * better-sqlite3 is a native addon built for one Node ABI by `npm ci`: run the
 * same install under another major version (the MCP Inspector's `npx -p node@22`
 * puts Node 22 first on PATH) and `new Database()` fails with "Module did not
 * self-register" or "NODE_MODULE_VERSION". `node:sqlite` (Node 22.5+, unflagged
 * from 22.13 and 23.4; absent on Node 20) needs no build, so it takes over then,
 * with a warning. better-sqlite3 stays first: it is what every release is tested
 * and measured with, and Node 20 has nothing else.
 *
 * Both are synchronous; the stores see only the small common surface below.
 */
import { createRequire } from 'node:module';

/** What SQLite binds: the values the stores write. */
export type SqlValue = string | number | bigint | null | Uint8Array;

export interface SqliteStatement {
  run(...params: SqlValue[]): { changes: number };
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}

export interface SqliteDatabase {
  /** Which library serves this database. */
  readonly engine: 'better-sqlite3' | 'node:sqlite';
  exec(sql: string): void;
  /** `PRAGMA <setting>`, e.g. `journal_mode = WAL`. */
  pragma(setting: string): void;
  prepare(sql: string): SqliteStatement;
  /** `fn` in one transaction: committed when it returns, rolled back when it throws. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

/** The part of better-sqlite3's API used here. */
interface BetterDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): { run(...p: unknown[]): { changes: number }; get(...p: unknown[]): unknown; all(...p: unknown[]): unknown[] };
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  close(): unknown;
}

/** The part of node:sqlite's API used here (@types/node 20 does not declare the module). */
interface NodeSqlite {
  DatabaseSync: new (path: string) => {
    exec(sql: string): void;
    prepare(sql: string): { run(...p: SqlValue[]): { changes: number | bigint }; get(...p: SqlValue[]): unknown; all(...p: SqlValue[]): unknown[] };
    close(): void;
  };
}

const require = createRequire(import.meta.url);
/** Set once better-sqlite3 failed to load in this thread: every later open goes straight to node:sqlite. */
let betterUnavailable: Error | undefined;

/**
 * Opens (creating) `file`. Throws when neither library can open it; the error
 * says why, and for a native module that does not load, what fixes it.
 * `engine` forces one library (tests; `auto` by default).
 */
export function openDatabase(file: string, options: { engine?: 'auto' | 'better-sqlite3' | 'node:sqlite' } = {}): SqliteDatabase {
  const engine = options.engine ?? 'auto';
  if (engine === 'node:sqlite') return openNodeSqlite(file, undefined);
  if (betterUnavailable === undefined || engine === 'better-sqlite3') {
    try {
      return openBetter(file);
    } catch (err) {
      if (engine === 'better-sqlite3' || !isLoadFailure(err)) throw err;
      betterUnavailable = err as Error;
      const sqlite = nodeSqlite();
      if (sqlite === undefined) throw noEngine(err as Error);
      process.emitWarning(
        `better-sqlite3 cannot load on Node ${process.versions.node} (${firstLine(err as Error)}); using node:sqlite instead. \`npm rebuild better-sqlite3\` under this Node version restores it.`,
        { code: 'GATEHOUSE_SQLITE_FALLBACK' },
      );
      return openNodeSqlite(file, sqlite);
    }
  }
  const sqlite = nodeSqlite();
  if (sqlite === undefined) throw noEngine(betterUnavailable);
  return openNodeSqlite(file, sqlite);
}

function openBetter(file: string): SqliteDatabase {
  // Required here, not imported: the addon's JS loads fine under any Node; its binary loads at `new Database()`.
  const Database = require('better-sqlite3') as new (file: string) => BetterDatabase;
  const db = new Database(file);
  return {
    engine: 'better-sqlite3',
    exec: (sql) => void db.exec(sql),
    pragma: (setting) => void db.exec(`PRAGMA ${setting}`),
    prepare: (sql) => db.prepare(sql),
    transaction: (fn) => db.transaction(fn as (...args: never[]) => unknown) as unknown as typeof fn,
    close: () => void db.close(),
  };
}

function openNodeSqlite(file: string, module: NodeSqlite | undefined): SqliteDatabase {
  const sqlite = module ?? nodeSqlite();
  if (sqlite === undefined) throw new Error(`node:sqlite is not available on Node ${process.versions.node} (it needs 22.13+ or 23.4+)`);
  const db = new sqlite.DatabaseSync(file);
  return {
    engine: 'node:sqlite',
    exec: (sql) => db.exec(sql),
    pragma: (setting) => db.exec(`PRAGMA ${setting}`),
    prepare: (sql) => {
      const s = db.prepare(sql);
      return {
        run: (...p) => ({ changes: Number(s.run(...p).changes) }),
        get: (...p) => s.get(...p),
        all: (...p) => s.all(...p),
      };
    },
    // node:sqlite has no transaction helper: BEGIN/COMMIT around the call, as better-sqlite3 does.
    transaction:
      (fn) =>
      (...args) => {
        db.exec('BEGIN');
        try {
          const result = fn(...args);
          db.exec('COMMIT');
          return result;
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      },
    close: () => db.close(),
  };
}

/** node:sqlite when this runtime has it unflagged, else undefined. */
function nodeSqlite(): NodeSqlite | undefined {
  // getBuiltinModule (Node 20.16+, 22.3+) answers undefined for a module this runtime lacks, where import() would throw.
  const get = (process as { getBuiltinModule?: (id: string) => object | undefined }).getBuiltinModule;
  try {
    return get?.call(process, 'node:sqlite') as NodeSqlite | undefined;
  } catch {
    return undefined;
  }
}

/** A native module built for another Node ABI, or missing its binary. */
function isLoadFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code === 'ERR_DLOPEN_FAILED' || e?.code === 'MODULE_NOT_FOUND') return true;
  return typeof e?.message === 'string' && /NODE_MODULE_VERSION|did not self-register|Could not locate the bindings file|invalid ELF header/.test(e.message);
}

function noEngine(cause: Error): Error {
  return new Error(
    `better-sqlite3 cannot load on Node ${process.versions.node} (${firstLine(cause)}), and this Node has no node:sqlite: run \`npm rebuild better-sqlite3\` with this Node version, or run Gatehouse with the Node version \`npm ci\` used`,
    { cause },
  );
}

/** The loader's message on one line (it spans several: "The module … was compiled against … NODE_MODULE_VERSION 115 …"). */
function firstLine(err: Error): string {
  const text = err.message.replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
