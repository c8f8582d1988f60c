/**
 * Reading a JSON request body at the HTTP edge, for `/mcp` and `/v1` alike:
 * bounded in size and in nesting, so that what follows (the MCP SDK's zod
 * schemas, the argument validators, the providers' mappers — all recursive)
 * only ever sees a body it can walk. Each endpoint turns a refusal into its
 * own protocol's error shape.
 *
 * Why a nesting limit: `JSON.parse` accepts any depth, but a recursive walk
 * of a 100,000-deep array overflows the stack (a `RangeError` deep inside the
 * SDK, answered 500). No tool schema or LLM request needs more than a few
 * dozen levels.
 */
import type { IncomingMessage } from 'node:http';
import { JSON_BYTES } from './json-bytes.js';

const { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, OPEN_ARRAY, OPEN_OBJECT, QUOTE } = JSON_BYTES;

/** Deepest nesting of arrays and objects a request body may have (the JSON-RPC envelope takes 3 of them). */
export const MAX_JSON_DEPTH = 128;

export type BodyRead =
  | { kind: 'json'; value: unknown; raw: Buffer; bytes: number }
  /** The body is larger than the limit (declared or sent). */
  | { kind: 'too-large'; bytes: number }
  /** Not JSON: the raw bytes, for an endpoint that leaves the parse error to someone else. */
  | { kind: 'not-json'; raw: Buffer; bytes: number }
  | { kind: 'too-deep'; bytes: number }
  /** A limit of `bound` (below) refused the body before it was parsed; `reason` says which. */
  | { kind: 'refused'; reason: string; bytes: number };

/**
 * An optional look at the raw bytes before they are parsed (`/mcp`'s argument
 * limits, mcp/bound-request.ts): the body to parse (the same bytes, or a copy
 * with parts replaced), or a refusal.
 */
export type BodyBound = (raw: Buffer) => { body: Buffer; refused?: undefined } | { refused: string; body?: undefined };

/**
 * Reads the whole body (events, not an async iterator: it is on every call's
 * path). A body over `maxBytes` is drained, not kept, and answered once it has
 * ended, so the client reads the refusal rather than a reset connection; a
 * `Content-Length` over the limit is refused before any byte is read.
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Exclude<BodyRead, { kind: 'refused' }>>;
export function readJsonBody(req: IncomingMessage, maxBytes: number, bound: BodyBound): Promise<BodyRead>;
export function readJsonBody(req: IncomingMessage, maxBytes: number, bound?: BodyBound): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      // Nothing is kept; the socket is closed after the answer (the endpoint sends `connection: close`).
      req.resume();
      resolve({ kind: 'too-large', bytes: declared });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > maxBytes) {
        resolve({ kind: 'too-large', bytes: size });
        return;
      }
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      // Measured before parsing: JSON.parse of a 4 MiB body nested two million deep holds
      // the event loop for 1.7 s, the scan stops at level 129 in microseconds.
      if (nestingExceeds(raw, MAX_JSON_DEPTH)) {
        resolve({ kind: 'too-deep', bytes: size });
        return;
      }
      const bounded = bound?.(raw);
      if (bounded?.refused !== undefined) {
        resolve({ kind: 'refused', reason: bounded.refused, bytes: size });
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse((bounded?.body ?? raw).toString('utf8'));
      } catch {
        resolve({ kind: 'not-json', raw, bytes: size });
        return;
      }
      resolve({ kind: 'json', value, raw, bytes: size });
    });
  });
}

/**
 * Whether JSON text nests arrays and objects deeper than `max` (for text that
 * is not JSON, the answer is only as good as its brackets). One pass over the
 * bytes, no recursion and no allocation, stopping at the first level too deep:
 * brackets inside strings are skipped. About 2.5 ms per MiB of string text.
 */
export function nestingExceeds(raw: Uint8Array, max: number): boolean {
  // A byte loop, not http/json-bytes.ts's stringEnd: most strings in a body are short
  // (keys, small values), and a native indexOf per string costs more than it skips.
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}
