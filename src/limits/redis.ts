/**
 * The Redis client for shared limit counters (ioredis 6).
 *
 * A rate limiter must never make a call wait for Redis: while Redis is down
 * every command fails at once (no offline queue, commands in flight are
 * rejected when the connection drops, a command timeout for a server that
 * accepts but does not answer), and the limiter applies `onStoreError`. In
 * the background the client reconnects forever with capped backoff, and
 * limiting resumes by itself when Redis is back.
 *
 * An ioredis client without an `error` listener crashes the process on the
 * first connection error (EventEmitter semantics); this one always has one,
 * and logs outages once, not once per reconnect attempt.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log/logger.js';

/** Longest wait between reconnect attempts. */
const MAX_RECONNECT_DELAY_MS = 2_000;
/** A command that takes longer fails (the rate limiter has its own, shorter deadline too). */
const COMMAND_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 2_000;
/** While Redis stays down, one reminder log per this interval. */
const ERROR_LOG_INTERVAL_MS = 60_000;

export interface RedisClientOptions {
  /** Clock for log rate limiting; defaults to Date.now. */
  now?: () => number;
}

/**
 * A client for `url` (`redis://[user:pass@]host:port/db`, `rediss://` for
 * TLS). It connects at once; commands issued before it is ready fail (the
 * rate limiter then applies `onStoreError`) rather than queue.
 */
export function createRedisClient(url: string, log: Logger, options: RedisClientOptions = {}): Redis {
  const now = options.now ?? Date.now;
  const redisOptions: RedisOptions = {
    // rate-limiter-flexible's advice for ioredis: fail commands while disconnected instead of queueing them.
    enableOfflineQueue: false,
    // 0: commands in flight when the connection drops are rejected at the first reconnect attempt, not resent 20 times.
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Returning a number means "retry": never give up, the counters are worth having back.
    retryStrategy: (times) => reconnectDelay(times),
    lazyConnect: false,
    connectionName: 'gatehouse-limits',
  };
  const client = new Redis(url, redisOptions);
  const target = describeUrl(url);

  // Log the first error of an outage, then at most one reminder per interval with a count.
  let down = false;
  let lastLog = 0;
  let suppressed = 0;
  client.on('error', (err: Error) => {
    const t = now();
    if (!down || t - lastLog >= ERROR_LOG_INTERVAL_MS) {
      log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code }, redis: target, suppressed }, down ? 'Redis still unreachable' : 'Redis unreachable; rate limits follow onStoreError');
      down = true;
      lastLog = t;
      suppressed = 0;
    } else {
      suppressed++;
    }
  });
  client.on('ready', () => {
    if (down) log.info({ redis: target }, 'Redis reachable again');
    down = false;
    suppressed = 0;
  });
  return client;
}

/** Exponential backoff from 50 ms, capped, with jitter so many instances do not reconnect in step. */
export function reconnectDelay(times: number): number {
  const base = Math.min(50 * 2 ** Math.min(Math.max(times - 1, 0), 16), MAX_RECONNECT_DELAY_MS);
  return base + Math.floor(Math.random() * 100);
}

/**
 * Closes the client: QUIT when connected (pending replies arrive first), else
 * drop the socket and stop reconnecting. Never rejects.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Fall through: the connection went away while quitting.
    }
  }
  client.disconnect(false);
}

/** host:port of a Redis URL, without credentials, for logs. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === '' ? '6379' : u.port}`;
  } catch {
    return '(invalid Redis URL)';
  }
}
