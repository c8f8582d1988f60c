import type { Logger } from '../log/logger.js';

/** Who is calling. Filled by authentication; anonymous until a later stage sets one. */
export interface Principal {
  id: string;
  kind: 'anonymous' | 'api-key' | 'jwt';
  scopes?: readonly string[];
  /** OAuth client the token was issued to (JWT `client_id`/`azp`), when known. */
  client?: string;
  /** Groups or roles the caller belongs to (JWT claim or API key config). */
  groups?: readonly string[];
  /** The verified JWT's claims, which `rules[].principals.claims` match (JWT callers only). */
  claims?: Readonly<Record<string, unknown>>;
}

/** The caller when no credentials are required or presented. */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', kind: 'anonymous', scopes: Object.freeze([]) as readonly string[] });

/**
 * What a call needs of a cancellation signal. An AbortSignal is one; the HTTP
 * fast path passes a lighter one-shot signal (see mcp/http-endpoint.ts).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A one-shot cancel signal. An AbortController plus a listener costs about
 * 10 µs a call on Node 20 (a measurable share of a forwarded call); this does
 * the one thing the call path needs: tell its listeners, once, that the client left.
 */
export class OneShotSignal implements CancelSignal {
  aborted = false;
  reason: unknown;
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }
}

/**
 * The context of one call — one tool call or one LLM request. Knows nothing
 * of express or MCP: the protocol edges build it.
 */
export interface CallContext {
  kind: 'tool' | 'model';
  /** Tool name or model name. */
  target: string;
  /** Backend (tools) or provider route (models). */
  backend: string;
  principal: Principal;
  args: Record<string, unknown>;
  requestId: string;
  log: Logger;
  signal: CancelSignal;
}

/** One stage of the pipeline (koa/hono style): run before and/or after `next()`. */
export type Policy<R> = (ctx: CallContext, next: () => Promise<R>) => Promise<R>;

/**
 * Composes policies into one function that runs them in order and then
 * `terminal`. Calling `next()` twice in one policy is a bug and rejects.
 */
export function compose<R>(policies: readonly Policy<R>[]): (ctx: CallContext, terminal: () => Promise<R>) => Promise<R> {
  if (policies.length === 0) return (_ctx, terminal) => terminal();
  return (ctx, terminal) => {
    let last = -1;
    const dispatch = (i: number): Promise<R> => {
      if (i <= last) return Promise.reject(new Error('next() called more than once in a policy'));
      last = i;
      const policy = policies[i];
      return policy === undefined ? terminal() : policy(ctx, () => dispatch(i + 1));
    };
    return dispatch(0);
  };
}
