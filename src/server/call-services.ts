import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { CallObserver } from '../call/context.js';
import { openAuditTrail, type AuditTrail } from '../audit/open-trail.js';
import { createBackendGuards, type BackendGuards } from '../limits/backend-guards.js';
import { createMetrics, type GatewayMetrics } from '../metrics/metrics.js';
import { createMetricsObserver } from '../metrics/observer.js';
import { createCallLineObserver } from '../log/call-line.js';
import { createChain, type Chain } from '../policy/chain.js';
import { compileRules, type Authorizer } from '../policy/rules.js';
import { tracingSettings } from '../tracing/settings.js';

/** What every call of this gateway shares: the chain and what it is built on and reports to. */
export interface CallServices {
  chain: Chain;
  /** The compiled rules (absent: everything allowed); the chain's authorize stage and tools/list visibility share them. */
  authorizer: Authorizer | undefined;
  backendGuards: BackendGuards;
  metrics: GatewayMetrics | undefined;
  audit: AuditTrail;
  close(): Promise<void>;
}

/**
 * Builds the chain and its observers from the config, each part handed its own
 * sections: metrics, the one Redis connection (rate limits and budgets kept
 * there), the audit trail, backend protection, the rules, tracing.
 */
export async function createCallServices(config: GatehouseConfig, log: Logger): Promise<CallServices> {
  const metrics = config.metrics.enabled ? createMetrics() : undefined;
  const closers: Array<() => Promise<void>> = [];

  let redisClient: Redis | undefined;
  // ioredis is loaded only when Redis is configured: it costs about 8 MiB resident.
  const redisModule = config.redis === undefined ? undefined : await import('../limits/redis.js');
  const redis =
    redisModule === undefined
      ? undefined
      : (): Redis => {
          if (redisClient === undefined) {
            const client = redisModule.createRedisClient(config.redis!.url, log);
            closers.push(() => redisModule.closeRedis(client));
            redisClient = client;
          }
          return redisClient;
        };
  // Budgets counted in Redis: connect now, so the first model call finds the connection made.
  if (config.ai?.budgetStore === 'redis' && config.ai.budgets.length + config.policies.filter((p) => 'budget' in p).length > 0) redis?.();

  const audit = await openAuditTrail(config.audit, resolve(config.baseDir, config.dataDir), log, metrics);
  const backendGuards = createBackendGuards(config.backends, { log, metrics });
  const authorizer = config.rules !== undefined && config.rules.length > 0 ? compileRules(config.rules) : undefined;
  const observers: CallObserver[] = [];
  // OpenTelemetry is loaded only when tracing is on (telemetry.tracing, or OTEL_TRACES_EXPORTER=otlp).
  const tracingOn = tracingSettings(config.telemetry.tracing);
  const tracing = tracingOn === undefined ? undefined : await (await import('../tracing/tracing.js')).createCallTracing(tracingOn, log);
  if (tracing !== undefined) {
    // First: the observers after it find the call's trace id.
    observers.push(tracing.observer);
    closers.push(() => tracing.close());
  }
  if (metrics !== undefined) observers.push(createMetricsObserver(metrics));
  const callLine = createCallLineObserver(log, config.log.calls);
  if (callLine !== undefined) observers.push(callLine);
  if (audit.observer !== undefined) observers.push(audit.observer);

  const chain = createChain(
    { policies: config.policies, rateLimits: config.rateLimits, ai: config.ai, audit: config.audit },
    { log, authorizer, backendGuards, redis, metrics, auditHealthy: audit.healthy, observers, onRun: tracing?.start },
  );
  return {
    chain,
    authorizer,
    backendGuards,
    metrics,
    audit,
    async close() {
      await audit.close();
      for (const close of closers) await close();
    },
  };
}
