/**
 * The call: what every stage of the chain (policy/chain.ts), every protocol
 * edge and every observer speaks of. Types and two small classes only, so a
 * stage, a store or a protocol can import it without importing the chain.
 *
 * A call is one tool call (MCP) or one model call (the ai-proxy). The protocol
 * edge builds its context, the chain runs its stages, the protocol's forward
 * step does the work, and the edge ends the call with its outcome
 * (`Chain.finish`), which the observers — audit, metrics, the call line — read.
 */
import type { ErrorCode, GatehouseError } from '../errors/catalogue.js';
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
 * edges pass a lighter one-shot signal.
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

/** Checks run before a call exists (or that cannot be cancelled): nothing to listen to. */
export const NEVER_CANCELLED: CancelSignal = Object.freeze({ aborted: false, addEventListener() {}, removeEventListener() {} });

/** Tokens one model call used, as its provider reported them. */
export interface TokenUsage {
  input: number;
  output: number;
  /** Input tokens served from the provider's prompt cache. */
  cached?: number;
}

/** One attempt of a model call at one target (ai/engine). */
export interface CallAttempt {
  target: string;
  provider: string;
  model: string;
  status?: number;
  error?: string;
  ms: number;
}

/**
 * The context of one call — one tool call or one model call. Knows nothing of
 * HTTP, MCP or OpenAI: the protocol edges build it, the stages read it, and
 * the few things a stage leaves for the protocol (a redactor, work to do when
 * the call ends) are fields of their own.
 */
export interface CallContext {
  kind: 'tool' | 'model';
  /** The tool's name (an operation's, for `<backend>_call_operation`) or the model's. */
  target: string;
  /** The tool's backend, or the route serving the model. */
  backend: string;
  /** A tool's HTTP method (upper case); '' for models. */
  method: string;
  /** A tool that only reads (`readOnlyHint`); false for models. */
  readOnly: boolean;
  principal: Principal;
  /** A tool's arguments; `{}` for a model call. */
  args: Record<string, unknown>;
  /** A model call's request body (guards read its messages). */
  request?: unknown;
  /** A model call's token estimate: what `cost: tokens` rate limits reserve until the call ends. */
  tokens?: number;
  requestId: string;
  log: Logger;
  signal: CancelSignal;
  /** Epoch ms and `performance.now()` when the call started. */
  startedAt: number;
  started: number;
  /** What the call did, filled in by the protocol as it runs; read by the stages that settle and by the observers. */
  outcome: CallOutcome;
  /**
   * The protocol's own check of the call's input (a tool's arguments against
   * its schema, a model request's messages): the error to refuse with, or
   * undefined. The `validate` stage runs it.
   */
  validate?: () => GatehouseError | undefined;
  /** Set by the `redact` stage: what the protocol passes the answer through. */
  redactor?: Redactor;
  /** Work a stage left for when the call ends (settle a token reservation, charge a budget); run by `Chain.finish`. */
  onFinish?: Array<(outcome: CallOutcome) => void>;
  /** The values `when:` conditions read, made on first use (see conditions/input.ts). */
  conditionInput?: unknown;
  /** Tracing's part of the call (see tracing/): the caller's trace context, and once tracing is on, the call's span. */
  trace?: CallTrace;
}

/** A W3C Trace Context (`traceparent`, `tracestate`) as it crosses HTTP. */
export interface TraceHeaders {
  traceparent: string;
  tracestate?: string;
}

/**
 * What a call carries for tracing. The edges set `caller` when the request
 * has a `traceparent`; only the tracing module (when tracing is on) sets the
 * rest, so with tracing off nothing is sent on to a backend.
 */
export interface CallTrace {
  /** The caller's trace context: the call's span is its child. */
  caller?: TraceHeaders | undefined;
  /** The call's span as the backend or provider request carries it on. */
  send?: TraceHeaders;
  /** The call's trace id (32 hex digits), for the audit record and the call line. */
  traceId?: string;
  /** The tracing module's own handle on the span. */
  span?: unknown;
}

/** Rewrites text on its way back to the caller (see ai/policy/guards.ts for the stream form). */
export interface Redactor {
  text(s: string): string;
  stream(): { push(delta: string): string; flush(): string };
}

/**
 * What a call did, filled in by the protocol as it runs: one shape for every
 * call kind. Audit, metrics and the call line are built from it, and the
 * stages that settle after the call (token limits, budgets) read it.
 */
export interface CallOutcome {
  /** The code the call ended with (absent: it succeeded). */
  errorCode?: ErrorCode;
  /** The backend's or provider's HTTP status, or the one the gateway answered with. */
  status?: number;
  /** The name the client called (a tool's with its prefix; a meta-tool's) when it differs from the context's target. */
  calledAs?: string;
  /** Request bytes: sent to the backend (tools), read from the client (models). */
  bytesIn?: number;
  /** Response bytes: received from the backend (tools), sent to the client (models). */
  bytesOut?: number;
  /** How long the backend request took (seconds), when one was sent. */
  backendSeconds?: number;
  /** Tools: the arguments as the call ran them (for the audit trail, redacted there). */
  args?: Record<string, unknown>;
  /** Tools: the operation's URL template. */
  urlTemplate?: string;
  /** Tools: MCP protocol version and client, when the request carries them. */
  protocol?: string;
  client?: { name?: string; version?: string };
  /** Models: the target that answered, its provider and model; the attempts. */
  aiTarget?: string;
  provider?: string;
  upstreamModel?: string;
  /** The bounded name metrics label the call with (a model a route names, its glob, or `(unrouted)`). */
  metricsTarget?: string;
  attempts?: readonly CallAttempt[];
  usage?: TokenUsage;
  costUsd?: number;
  ttftMs?: number;
  /** True when a provider (or backend) was called: a refusal before that gives reservations back whole. */
  sent?: boolean;
  /** Set by the edge for a request refused before any call existed (authentication, required scopes). */
  refusedAtEdge?: boolean;
  /** The caller could not be identified (authentication failed): the context's principal is a placeholder, not recorded. */
  principalUnknown?: boolean;
}

/**
 * One stage of the chain (koa/hono style): it may refuse (throw a
 * GatehouseError), run work before and after `next()`, and leave work for the
 * call's end on `ctx.onFinish`. Stages never look at the protocol's answer
 * (`R`): the chain serves tool calls and model calls alike.
 */
export type Middleware = <R>(ctx: CallContext, next: () => Promise<R>) => Promise<R>;

/**
 * Composes stages into one function that runs them in order and then
 * `terminal`. Calling `next()` twice in one stage is a bug and rejects.
 */
export function compose(stages: readonly Middleware[]): <R>(ctx: CallContext, terminal: () => Promise<R>) => Promise<R> {
  if (stages.length === 0) return (_ctx, terminal) => terminal();
  return <R>(ctx: CallContext, terminal: () => Promise<R>): Promise<R> => {
    let last = -1;
    const dispatch = (i: number): Promise<R> => {
      if (i <= last) return Promise.reject(new Error('next() called more than once in a stage'));
      last = i;
      const stage = stages[i];
      return stage === undefined ? terminal() : stage(ctx, () => dispatch(i + 1));
    };
    return dispatch(0);
  };
}

/**
 * Told once about every finished call — allowed, refused or failed, refused
 * at the edge too — with its outcome filled in (audit, metrics, the call
 * line, tracing). A promise (durable audit) holds the call's answer
 * until it settles; a rejection withholds it.
 */
export type CallObserver = (ctx: CallContext, seconds: number) => void | Promise<void>;
