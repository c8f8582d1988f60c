import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { AuditStore } from './record.js';
import { createSqliteStore } from './sqlite-store.js';
import { createThreadedSqliteStore } from './sqlite-thread.js';

export * from './record.js';
export { createArgumentRedactor, canonicalJson, REDACTED, type ArgumentRedactor, type ArgumentRedactorOptions } from './redact.js';
export { createAuditWriter, isContentError, type AuditSink, type AuditWriter, type AuditWriterEvent, type AuditWriterOptions, type AuditWriterStats } from './writer.js';
export { createJsonlSink } from './jsonl-sink.js';
export { AUDIT_FILTERS, parseAuditFilters, queryAudit, type AuditFilterName } from './filters.js';
export { createSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { createThreadedSqliteStore } from './sqlite-thread.js';
// The PostgreSQL store is imported from './postgres-store.js' where it is used: pg is loaded only then.
export { startRetention, type Retention, type RetentionOptions } from './retention.js';

export interface AuditStoreConfig {
  store: 'sqlite' | 'postgres';
  /** `thread` (the default): on a worker thread (see sqlite-thread.ts); false: on the event loop. */
  sqlite?: { file: string; thread?: boolean };
  postgres?: { url: string; table?: string };
}

/**
 * Opens the configured store. Neither has to be reachable at start: a failure
 * is logged, and the first write that gets through creates the table.
 */
export async function openAuditStore(config: AuditStoreConfig, log: Logger, options: { onInitError?: (err: unknown) => void } = {}): Promise<AuditStore> {
  if (config.store === 'postgres') {
    if (!config.postgres?.url) throw new GatehouseError('GH_CONFIG_INVALID', 'audit.postgres.url is required when audit.store is "postgres"');
    // pg is loaded only for this store.
    const { createPostgresStore } = await import('./postgres-store.js');
    const store = createPostgresStore({ ...config.postgres, log });
    await store.init().catch((err: unknown) => {
      log.warn({ err }, 'audit: PostgreSQL is not reachable at start; records are queued until it is');
      options.onInitError?.(err);
    });
    return store;
  }
  if (!config.sqlite?.file) throw new GatehouseError('GH_CONFIG_INVALID', 'audit.sqlite.file is required when audit.store is "sqlite"');
  // On a worker thread by default: SQLite's synchronous inserts (about 10 µs a record)
  // stay off the loop that serves calls; on two cores that is as many or more tool
  // calls a second. `audit.sqlite.thread: false` (best with `audit.queue.batchSize: 100`,
  // about 1 ms a batch on the loop) saves the thread's V8 isolate and the records' time
  // in the queue: 17–26 MiB resident under load (docs/benchmarks.md has both).
  const store = config.sqlite.thread === false ? createSqliteStore({ file: config.sqlite.file }) : createThreadedSqliteStore({ file: config.sqlite.file });
  // A store that cannot open (unwritable directory, a native module built for another
  // Node) must not take the gateway down: calls go on, records queue, and the writer
  // retries and reports the outage (log, gatehouse_audit_store_up 0).
  await store.init().catch((err: unknown) => {
    log.error({ err, file: config.sqlite!.file }, 'audit: the SQLite store cannot be opened; records are queued until it can');
    options.onInitError?.(err);
  });
  return store;
}
