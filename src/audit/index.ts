import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { createPostgresStore } from './postgres-store.js';
import type { AuditStore } from './record.js';
import { createThreadedSqliteStore } from './sqlite-thread.js';

export * from './record.js';
export { createArgumentRedactor, canonicalJson, REDACTED, type ArgumentRedactor, type ArgumentRedactorOptions } from './redact.js';
export { createAuditWriter, isContentError, type AuditSink, type AuditWriter, type AuditWriterEvent, type AuditWriterOptions, type AuditWriterStats } from './writer.js';
export { createJsonlSink } from './jsonl-sink.js';
export { AUDIT_FILTERS, parseAuditFilters, queryAudit, type AuditFilterName } from './filters.js';
export { createSqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { createThreadedSqliteStore } from './sqlite-thread.js';
export { createPostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { startRetention, type Retention, type RetentionOptions } from './retention.js';

export interface AuditStoreConfig {
  store: 'sqlite' | 'postgres';
  sqlite?: { file: string };
  postgres?: { url: string; table?: string };
}

/**
 * Opens the configured store. SQLite must open (a bad path is a configuration
 * error, thrown). PostgreSQL may be down at start: that is logged, and the
 * table is created by the first write that gets through.
 */
export async function openAuditStore(config: AuditStoreConfig, log: Logger): Promise<AuditStore> {
  if (config.store === 'postgres') {
    if (!config.postgres?.url) throw new GatehouseError('GH_CONFIG_INVALID', 'audit.postgres.url is required when audit.store is "postgres"');
    const store = createPostgresStore({ ...config.postgres, log });
    await store.init().catch((err: unknown) => log.warn({ err }, 'audit: PostgreSQL is not reachable at start; records are queued until it is'));
    return store;
  }
  if (!config.sqlite?.file) throw new GatehouseError('GH_CONFIG_INVALID', 'audit.sqlite.file is required when audit.store is "sqlite"');
  // On a worker thread: SQLite's synchronous writes stay off the event loop that serves calls.
  const store = createThreadedSqliteStore({ file: config.sqlite.file });
  await store.init();
  return store;
}
