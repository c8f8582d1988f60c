/**
 * A per-backend circuit breaker: after `failureThreshold` consecutive failed
 * calls the backend is not called at all for `cooldownMs`; then one trial
 * call decides whether it is back. A backend that is down then costs callers
 * an immediate GH_BACKEND_UNAVAILABLE instead of a connect timeout each, and
 * the backend gets room to recover instead of a retry storm.
 *
 *   closed ──N consecutive failures──▶ open ──cooldown──▶ half-open
 *     ▲                                  ▲                    │
 *     └────────── trial succeeds ────────┼── trial fails ─────┘
 *
 * What a failure is belongs to the caller (`isFailure`): connect errors,
 * timeouts and 5xx say the backend is unwell; a 4xx or a caller cancelling
 * says nothing about it and counts as a success (it proves the backend
 * answered, or at least does not prove it did not).
 */
import { GatehouseError } from '../errors/catalogue.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before a trial call (default 30 000 ms). */
  cooldownMs?: number;
  /** Clock in milliseconds; defaults to Date.now. */
  now?: () => number;
  /** Called on every transition (for a metric and a log). Must not throw. */
  onStateChange?: (state: CircuitState) => void;
  /** Named in error messages, e.g. the backend name. */
  name?: string;
}

export interface CircuitBreaker {
  /** The current state; an open circuit whose cool-down has ended reads as half-open. */
  readonly state: CircuitState;
  /**
   * Runs `fn` unless the circuit is open (or half-open with its one trial
   * call already running): then throws GatehouseError GH_BACKEND_UNAVAILABLE
   * with `details.retryAfterSeconds`, without calling `fn`. Returns or throws
   * what `fn` does; `isFailure` only decides how the outcome is counted.
   */
  run<T>(fn: () => Promise<T>, isFailure: (outcome: { value?: T; error?: unknown }) => boolean): Promise<T>;
}

export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const { failureThreshold = 5, cooldownMs = 30_000, now = Date.now, onStateChange } = options;
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    throw configError(`failureThreshold must be a positive integer; got ${String(failureThreshold)}.`);
  }
  if (!Number.isFinite(cooldownMs) || cooldownMs < 0) throw configError(`cooldownMs must be a non-negative number; got ${String(cooldownMs)}.`);
  const label = options.name === undefined ? 'The backend' : `Backend "${options.name}"`;

  let state: CircuitState = 'closed';
  let failures = 0;
  let openUntil = 0;
  let trialRunning = false;
  // Bumped on every transition: an outcome of a call started under an older
  // state is ignored (a slow success from before the circuit opened must not close it).
  let generation = 0;

  function transition(to: CircuitState): void {
    if (state === to) return;
    state = to;
    generation++;
    onStateChange?.(to);
  }

  /** The state now, moving open → half-open once the cool-down has passed. */
  function current(): CircuitState {
    if (state === 'open' && now() >= openUntil) transition('half-open');
    return state;
  }

  function open(): void {
    openUntil = now() + cooldownMs;
    failures = 0;
    transition('open');
  }

  function refuse(retryAfterMs: number): GatehouseError {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new GatehouseError('GH_BACKEND_UNAVAILABLE', `${label} kept failing; its circuit breaker is open. Retry in ${retryAfterSeconds} s.`, {
      details: { retryAfterSeconds },
    });
  }

  async function run<T>(fn: () => Promise<T>, isFailure: (outcome: { value?: T; error?: unknown }) => boolean): Promise<T> {
    const at = current();
    if (at === 'open') throw refuse(openUntil - now());
    // Half-open: one trial at a time; the others are refused as if open. Retry soon: the trial decides within a call.
    if (at === 'half-open' && trialRunning) throw refuse(0);
    const trial = at === 'half-open';
    if (trial) trialRunning = true;
    const started = generation;

    let outcome: { value?: T; error?: unknown };
    try {
      outcome = { value: await fn() };
    } catch (error) {
      outcome = { error };
    }
    if (trial) trialRunning = false;
    record(failed(isFailure, outcome), trial, started);
    if ('error' in outcome) throw outcome.error;
    return outcome.value as T;
  }

  function record(failure: boolean, trial: boolean, started: number): void {
    if (started !== generation) return;
    if (trial) {
      if (failure) open();
      else transition('closed');
      return;
    }
    if (!failure) {
      failures = 0;
      return;
    }
    failures++;
    if (failures >= failureThreshold) open();
  }

  return {
    get state() {
      return current();
    },
    run,
  };
}

/** An `isFailure` that throws is a bug in the caller; count the call as failed rather than lose the outcome. */
function failed<T>(isFailure: (outcome: { value?: T; error?: unknown }) => boolean, outcome: { value?: T; error?: unknown }): boolean {
  try {
    return isFailure(outcome);
  } catch {
    return true;
  }
}

function configError(message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `Circuit breaker: ${message}`);
}
