/**
 * Backend protection: a bulkhead and a circuit breaker per backend, kept
 * across reloads while their settings stay the same. The chain's `protect`
 * stage runs a tool call's forward step inside its backend's guard.
 */
import { GatehouseError, type ErrorCode } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { createBulkhead, type Bulkhead } from './bulkhead.js';
import { createCircuitBreaker } from './circuit-breaker.js';

/** What a guard needs of a backend's settings (`backends[]`). */
export interface GuardedBackend {
  name: string;
  maxConcurrent: number;
  maxQueued: number;
  queueTimeoutMs: number;
  circuitBreaker: false | { failureThreshold: number; cooldownMs: number };
}

/**
 * Runs `run` within the backend's bulkhead and circuit breaker. `failed` says
 * whether what happened counts towards opening the circuit: called with the
 * error, or with none when `run` resolved.
 */
export type BackendGuard = <T>(run: () => Promise<T>, failed: (error: unknown) => boolean) => Promise<T>;

export interface BackendGuards {
  get(backend: string): BackendGuard | undefined;
  /** Follows a reload: guards for added backends and for those whose settings changed; removed backends lose theirs. */
  update(backends: readonly GuardedBackend[]): void;
}

/** Errors that say the backend is unwell: they count towards opening its circuit. */
const BACKEND_FAILURES: ReadonlySet<ErrorCode> = new Set(['GH_UPSTREAM_CONNECT', 'GH_UPSTREAM_TIMEOUT', 'GH_UPSTREAM_FAILED']);

/** Whether an error (or, with none, an answer's status) counts as the backend failing. */
export function backendFailed(error: unknown, status: number | undefined): boolean {
  return error !== undefined ? error instanceof GatehouseError && BACKEND_FAILURES.has(error.code) : status !== undefined && status >= 500;
}

/** The settings a backend's guard is built from. */
function guardKey(b: GuardedBackend): string {
  return JSON.stringify([b.maxConcurrent, b.maxQueued, b.queueTimeoutMs, b.circuitBreaker]);
}

export function createBackendGuards(backends: readonly GuardedBackend[], options: { log: Logger; metrics: GatewayMetrics | undefined }): BackendGuards {
  const { log, metrics } = options;
  const guards = new Map<string, BackendGuard>();
  const bulkheads = new Map<string, Bulkhead>();
  /** What each guard was built from: a reload rebuilds a guard only when these settings change. */
  const settings = new Map<string, string>();
  const add = (b: GuardedBackend): void => {
    const bulkhead = createBulkhead({ maxConcurrent: b.maxConcurrent, maxQueued: b.maxQueued, queueTimeoutMs: b.queueTimeoutMs, name: b.name });
    bulkheads.set(b.name, bulkhead);
    settings.set(b.name, guardKey(b));
    const breakerConfig = b.circuitBreaker;
    if (breakerConfig === false) {
      guards.set(b.name, (run) => bulkhead.run(run));
      return;
    }
    const breaker = createCircuitBreaker({
      ...breakerConfig,
      name: b.name,
      onStateChange: (state) => {
        metrics?.circuit(b.name, state);
        if (state === 'open') log.warn({ backend: b.name }, `backend ${b.name}: circuit open after ${breakerConfig.failureThreshold} consecutive failures; calls refused for ${breakerConfig.cooldownMs} ms`);
        else if (state === 'closed') log.info({ backend: b.name }, `backend ${b.name}: circuit closed`);
      },
    });
    metrics?.circuit(b.name, 'closed');
    // The breaker stands outside the bulkhead: an open circuit refuses without taking a slot,
    // and a full bulkhead (GH_BACKEND_BUSY) says nothing about the backend's health.
    guards.set(b.name, (run, failed) =>
      breaker.run(
        () => bulkhead.run(run),
        ({ error }) => failed(error),
      ),
    );
  };
  for (const b of backends) add(b);
  metrics?.inFlight(() => new Map([...bulkheads].map(([name, b]) => [name, b.inFlight])));

  return {
    get: (backend) => guards.get(backend),
    update(next) {
      const names = new Set(next.map((b) => b.name));
      for (const name of [...guards.keys()]) {
        if (names.has(name)) continue;
        guards.delete(name);
        bulkheads.delete(name);
        settings.delete(name);
        metrics?.forgetBackend(name);
      }
      // A guard whose settings did not change is kept: its circuit state and the calls it counts survive the reload.
      // A rebuilt one starts afresh; calls in flight finish under the guard they started with.
      for (const b of next) if (settings.get(b.name) !== guardKey(b)) add(b);
    },
  };
}
