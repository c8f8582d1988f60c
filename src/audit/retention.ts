import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { AuditStore } from './record.js';

export interface RetentionOptions {
  /** Records older than this many days are deleted. */
  days: number;
  /** How often to prune. Default one hour. */
  intervalMs?: number;
  log: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

export interface Retention {
  stop(): void;
  /** Prunes now; resolves to the number of records deleted (0 on failure, which is logged). */
  runOnce(): Promise<number>;
}

const DAY_MS = 86_400_000;

/** Prunes at start and then every `intervalMs`. Never throws after it is started; failures are logged. */
export function startRetention(store: AuditStore, options: RetentionOptions): Retention {
  const { days, log } = options;
  if (!Number.isFinite(days) || days <= 0) {
    throw new GatehouseError('GH_CONFIG_INVALID', `audit.retentionDays must be a positive number of days, got ${String(days)}`);
  }
  const now = options.now ?? Date.now;
  let running: Promise<number> | undefined;

  const prune = async (): Promise<number> => {
    const cutoff = now() - days * DAY_MS;
    try {
      const deleted = await store.prune(cutoff);
      if (deleted > 0) log.info({ deleted, before: new Date(cutoff).toISOString() }, 'audit: pruned old records');
      return deleted;
    } catch (err) {
      log.warn({ err, store: store.kind }, 'audit: pruning old records failed; will retry at the next interval');
      return 0;
    }
  };
  // One prune at a time: a slow prune of a big table must not pile up behind the timer.
  const runOnce = (): Promise<number> => {
    running ??= prune().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void runOnce(), options.intervalMs ?? 3_600_000);
  timer.unref();
  void runOnce();
  return { stop: () => clearInterval(timer), runOnce };
}
