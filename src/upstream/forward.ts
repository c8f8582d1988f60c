/**
 * Sends a BuiltRequest to its backend over one shared, keep-alive undici
 * Agent. This is the hot path of every tool call: one `Agent.request()`, one
 * timer, one AbortController, and a bounded body read.
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Agent, Dispatcher } from 'undici';
import { GatehouseError } from '../errors/catalogue.js';
import type { CancelSignal } from '../call/context.js';
import type { BuiltRequest } from './build-request.js';

export interface ForwarderOptions {
  /** Time allowed to open the TCP/TLS connection (undici connector `timeout`). */
  connectTimeoutMs: number;
  /** Default total deadline for one call: connect, send, headers and body. */
  timeoutMs: number;
  /** The response body is read up to this many bytes; the rest is discarded and `truncated` set. */
  maxResponseBytes: number;
  /** Maximum sockets per backend origin; unlimited when unset. */
  connections?: number;
}

export interface ForwardOptions {
  /** Aborts the backend request (a cancelled MCP call). */
  signal?: CancelSignal | undefined;
  /** Overrides the forwarder's total deadline for this call (per-backend timeouts). */
  timeoutMs?: number | undefined;
}

/** What the backend answered. */
export interface UpstreamResponse {
  status: number;
  /** The reason phrase the backend sent (HTTP/1.1); may be empty. */
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The Content-Type header as sent; undefined when absent. */
  contentType: string | undefined;
  /** At most `maxResponseBytes` bytes. */
  body: Buffer;
  /** True when the body was longer than `maxResponseBytes` and was cut. */
  truncated: boolean;
}

export interface Forwarder {
  /**
   * Sends `req` and reads the response. Non-2xx statuses are returned, not
   * thrown. Throws GatehouseError: GH_UPSTREAM_CONNECT (refused, DNS, TLS,
   * connect timeout), GH_UPSTREAM_TIMEOUT (total deadline), GH_UPSTREAM_ABORTED
   * (the signal fired), GH_UPSTREAM_FAILED (anything else); `cause` is the
   * original error.
   */
  forward(req: BuiltRequest, signalOrOptions?: CancelSignal | ForwardOptions): Promise<UpstreamResponse>;
  /** Closes the pooled connections once in-flight requests finish. */
  /** Starts loading undici now (once the gateway serves), so the first call does not wait for it. */
  warm(): void;
  close(): Promise<void>;
}

const IDLE = 0;
const TIMED_OUT = 1;
const CANCELLED = 2;

/** Builds the one Agent every backend shares and returns the forward function over it. */
export function createForwarder(options: ForwarderOptions): Forwarder {
  const { connectTimeoutMs, timeoutMs, maxResponseBytes } = options;
  checkPositive('connectTimeoutMs', connectTimeoutMs);
  checkPositive('timeoutMs', timeoutMs);
  checkPositive('maxResponseBytes', maxResponseBytes);
  if (options.connections !== undefined) checkPositive('connections', options.connections);

  // undici is loaded with the first call, not at start: its module graph takes
  // ~100 ms to load, and a gateway serves tools/list (its first request) without it.
  let agent: Agent | undefined;
  let loading: Promise<Agent> | undefined;
  const loadAgent = (): Promise<Agent> =>
    (loading ??= import('undici').then(
      ({ Agent }) =>
        (agent = new Agent({
          connect: { timeout: connectTimeoutMs },
          connections: options.connections ?? null,
          // The total deadline below covers headers and body; undici's per-phase
          // timers would only be extra timers on the hot path.
          headersTimeout: 0,
          bodyTimeout: 0,
        })),
    ));

  async function forward(req: BuiltRequest, signalOrOptions?: CancelSignal | ForwardOptions): Promise<UpstreamResponse> {
    const { signal, timeoutMs: callTimeout } = toForwardOptions(signalOrOptions);
    const deadline = callTimeout ?? timeoutMs;
    const { origin, path } = splitUrl(req.url);

    if (signal?.aborted) throw cancelled(origin, signal.reason);

    // The deadline and the caller's signal both fire one `abort` event at
    // undici; `state` records which fired, whatever error undici surfaces.
    // undici accepts an EventEmitter as its signal: on Node 20 a fresh
    // AbortController with a listener costs ~10 µs a call plus GC work, an
    // EventEmitter ~0.25 µs.
    const abort = new EventEmitter();
    let state = IDLE;
    const timer = setTimeout(() => {
      state = TIMED_OUT;
      abort.emit('abort');
    }, deadline);
    const onCallerAbort = (): void => {
      if (state !== IDLE) return;
      state = CANCELLED;
      abort.emit('abort');
    };
    signal?.addEventListener('abort', onCallerAbort, { once: true });

    try {
      const res = await (agent ?? (await loadAgent())).request({
        origin,
        path,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body ?? null,
        signal: abort,
      });
      const { body, truncated } = await readBody(res.body, maxResponseBytes);
      const ct = res.headers['content-type'];
      return {
        status: res.statusCode,
        statusText: res.statusText ?? '',
        headers: res.headers,
        contentType: Array.isArray(ct) ? ct[0] : ct,
        body,
        truncated,
      };
    } catch (err) {
      if (state === TIMED_OUT) {
        throw new GatehouseError('GH_UPSTREAM_TIMEOUT', `backend did not answer within ${deadline} ms`, {
          cause: err,
          details: { timeoutMs: deadline },
        });
      }
      if (state === CANCELLED) throw cancelled(origin, err);
      throw classify(err, origin, connectTimeoutMs);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  return {
    forward,
    warm: () => {
      void loadAgent().catch(() => undefined);
    },
    close: async () => {
      if (loading !== undefined) await (await loading).close();
    },
  };
}

function toForwardOptions(arg: CancelSignal | ForwardOptions | undefined): ForwardOptions {
  if (arg === undefined) return {};
  return isAbortSignal(arg) ? { signal: arg } : arg;
}

function isAbortSignal(value: CancelSignal | ForwardOptions): value is CancelSignal {
  return typeof (value as CancelSignal).aborted === 'boolean' && typeof (value as CancelSignal).addEventListener === 'function';
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`createForwarder: ${name} must be a positive number, got ${value}`);
}

/** `http://h:1/a?b` → origin `http://h:1`, path `/a?b`, without a URL parse (buildRequest made it). */
export function splitUrl(url: string): { origin: string; path: string } {
  const schemeEnd = url.indexOf('://');
  const slash = url.indexOf('/', schemeEnd === -1 ? 0 : schemeEnd + 3);
  if (slash === -1) {
    const q = url.indexOf('?');
    return q === -1 ? { origin: url, path: '/' } : { origin: url.slice(0, q), path: '/' + url.slice(q) };
  }
  return { origin: url.slice(0, slash), path: url.slice(slash) };
}

/**
 * Reads at most `limit` bytes. Past the limit the stream is destroyed, which
 * makes undici drop that connection rather than drain an oversized body.
 */
function readBody(stream: Dispatcher.ResponseData['body'], limit: number): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (truncated: boolean): void => {
      if (settled) return;
      settled = true;
      resolve({ body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size), truncated });
    };
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (size + chunk.length > limit) {
        chunks.push(chunk.subarray(0, limit - size));
        size = limit;
        finish(true);
        stream.destroy();
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.on('end', () => finish(false));
    stream.on('error', (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}

function cancelled(origin: string, cause: unknown): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_ABORTED', `the call was cancelled; the request to ${origin} was aborted`, { cause });
}

/** Node/OpenSSL codes meaning "the backend could not be reached". */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NODATA',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'HOSTNAME_MISMATCH',
]);

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy-eyeballs connects (autoSelectFamily) fail with an AggregateError.
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) ? errorCode(inner[0]) : undefined;
}

function classify(err: unknown, origin: string, connectTimeoutMs: number): GatehouseError {
  const code = errorCode(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatehouseError('GH_UPSTREAM_CONNECT', `could not connect to ${origin} within ${connectTimeoutMs} ms`, { cause: err });
  }
  if (code !== undefined && (CONNECT_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'))) {
    return new GatehouseError('GH_UPSTREAM_CONNECT', `could not connect to ${origin}: ${code}`, { cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new GatehouseError('GH_UPSTREAM_TIMEOUT', `backend ${origin} stopped responding (${code})`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new GatehouseError('GH_UPSTREAM_FAILED', `request to ${origin} failed: ${message}${code === undefined ? '' : ` (${code})`}`, {
    cause: err,
  });
}
