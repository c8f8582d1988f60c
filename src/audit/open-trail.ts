import { resolve } from 'node:path';
import type { AuditConfig } from '../config/schema.js';
import type { CallObserver } from '../call/context.js';
import type { Logger } from '../log/logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { openAuditStore } from './index.js';
import { createJsonlSink } from './jsonl-sink.js';
import { createAuditObserver } from './observer.js';
import type { AuditStore } from './record.js';
import { createArgumentRedactor } from './redact.js';
import { startRetention, type Retention } from './retention.js';
import { createAuditWriter, type AuditSink, type AuditWriter } from './writer.js';

/** The audit trail of one gateway: its store, its writer, and the observer every call reports to. */
export interface AuditTrail {
  /** The store queries read (absent with `audit.store: none`). */
  store: AuditStore | undefined;
  writer: AuditWriter | undefined;
  /** `audit.durability: sync` with a store: answers wait for their record's commit. */
  durable: boolean;
  /** False while the store cannot commit. */
  healthy: () => boolean;
  /** Undefined when nothing is recorded (no store, no stream). */
  observer: CallObserver | undefined;
  /** Flushes the queue and closes the store. */
  close(): Promise<void>;
}

/** Opens the audit trail from `audit` (a store — SQLite by default —, an optional JSON-lines stream, one bounded writer). */
export async function openAuditTrail(audit: AuditConfig, dataDir: string, log: Logger, metrics: GatewayMetrics | undefined): Promise<AuditTrail> {
  const sinks: AuditSink[] = audit.stream === undefined ? [] : [createJsonlSink(audit.stream === 'stdout' ? 'stdout' : resolve(dataDir, audit.stream))];
  let store: AuditStore | undefined;
  let retention: Retention | undefined;
  // A store that failed to open at start is down from the start (/readyz, gatehouse_audit_store_up).
  let storeDown = false;
  if (audit.store !== 'none') {
    store = await openAuditStore(
      audit.store === 'postgres' ? { store: 'postgres', postgres: audit.postgres! } : { store: 'sqlite', sqlite: { file: resolve(dataDir, audit.sqlite.file), thread: audit.sqlite.thread } },
      log,
      { onInitError: () => (storeDown = true) },
    );
    retention = startRetention(store, { days: audit.retentionDays, log });
  }
  let writer: AuditWriter | undefined;
  if (store !== undefined || sinks.length > 0) {
    writer = createAuditWriter({
      ...(store !== undefined ? { store } : {}),
      sinks,
      maxQueue: audit.queue.max,
      batchSize: audit.queue.batchSize,
      flushIntervalMs: audit.queue.flushIntervalMs,
      storeHealthy: !storeDown,
      log,
      onEvent: (e) => {
        if (e.type === 'written') metrics?.auditWritten(e.count);
        else if (e.type === 'dropped') metrics?.auditDropped(e.count);
        else if (e.type === 'failure') {
          metrics?.auditFailure();
          metrics?.storeError('audit');
        }
      },
    });
    const w = writer;
    metrics?.auditStats(() => w.stats());
  }
  const durable = audit.durability === 'sync' && writer !== undefined && store !== undefined;
  const redact = createArgumentRedactor({ mode: audit.arguments, names: audit.redact });
  const w = writer;
  return {
    store,
    writer,
    durable,
    healthy: () => w === undefined || w.stats().storeHealthy,
    observer: w === undefined ? undefined : createAuditObserver(w, redact, durable),
    async close() {
      retention?.stop();
      // The writer closes the store once everything queued is written.
      if (writer !== undefined) await writer.close();
      else await store?.close();
    },
  };
}
