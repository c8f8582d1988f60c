/**
 * The audit trail's vocabulary: one `AuditRecord` per tool call (or LLM
 * request) and per refused call, the query over them and the store contract.
 * Pure types and helpers; the stores and the writer do the I/O.
 */

/** How a call ended. Refusals (`unauthenticated`, `denied`, `limited`, `invalid`) are recorded too. */
export type AuditOutcome = 'ok' | 'error' | 'unauthenticated' | 'denied' | 'limited' | 'invalid' | 'unavailable' | 'cancelled';

export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['ok', 'error', 'unauthenticated', 'denied', 'limited', 'invalid', 'unavailable', 'cancelled'];

/** One call as the audit trail keeps it. Arguments are already redacted (see redact.ts). */
export interface AuditRecord {
  /** Epoch ms when the call started. */
  time: number;
  requestId: string;
  kind: 'tool' | 'model';
  /**
   * Idempotency key for PostgreSQL: its store sets a random one on the first
   * write attempt and ignores a second insert of the same key, so a batch
   * retried after its commit acknowledgement was lost (connection cut
   * mid-INSERT) is not written twice. SQLite commits locally and needs none.
   */
  uid?: string;
  principalId?: string;
  principalKind?: string;
  clientId?: string;
  keyId?: string;
  /** MCP client info (`initialize` clientInfo) and protocol version. */
  clientName?: string;
  clientVersion?: string;
  protocol?: string;
  backend?: string;
  tool?: string;
  httpMethod?: string;
  urlTemplate?: string;
  /** Already redacted. */
  arguments?: unknown;
  argumentsHash?: string;
  outcome: AuditOutcome;
  errorCode?: string;
  /** Backend HTTP status. */
  status?: number;
  latencyMs: number;
  bytesIn?: number;
  bytesOut?: number;
  // LLM proxy: the columns exist now and stay null until the AI stage fills them.
  provider?: string;
  model?: string;
  tokensIn?: number;
  tokensOut?: number;
  costUsd?: number;
  /** ai-proxy: the route the requested model matched. */
  route?: string;
  /** ai-proxy: every target tried, in order: `{ target, provider, model, status?, error?, ms }`. */
  attempts?: unknown;
  /** ai-proxy streams: milliseconds from the request to the first content sent. */
  ttftMs?: number;
  /** The call's OpenTelemetry trace id (32 hex digits), when tracing is on. */
  traceId?: string;
}

/** A record read back from a store, with the store's row id (the pagination tie-breaker). */
export interface StoredAuditRecord extends AuditRecord {
  id: number;
}

/** Filters are ANDed; `since` is inclusive, `until` exclusive (epoch ms). */
export interface AuditQuery {
  since?: number;
  until?: number;
  principal?: string;
  backend?: string;
  tool?: string;
  outcome?: AuditOutcome;
  /** Default 100, clamped to 1..1000. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** Newest first. `nextCursor` is an opaque keyset cursor, absent on the last page. */
export interface AuditPage {
  records: StoredAuditRecord[];
  nextCursor?: string;
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Creates the table and indexes if missing. */
  init(): Promise<void>;
  /** Writes one batch in one transaction; rejects on failure (the writer retries). */
  write(records: readonly AuditRecord[]): Promise<void>;
  query(q: AuditQuery): Promise<AuditPage>;
  /** Deletes records with `time < olderThan`; resolves to how many. */
  prune(olderThan: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A query the caller got wrong (bad cursor, bad outcome, bad time). Edges turn
 * it into a 400 naming `field`.
 */
export class AuditQueryError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'AuditQueryError';
    this.field = field;
  }
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time bound as people type it: a duration ago (`45s`, `30m`, `1h`, `7d`) or
 * an ISO-8601 date/date-time (a date alone is midnight UTC; a date-time without
 * offset is local time, as `Date.parse` reads it). Returns epoch ms.
 */
export function parseTimeBound(text: string, now: number = Date.now()): number {
  const trimmed = text.trim();
  const duration = /^(\d+)\s*([smhd])$/.exec(trimmed);
  if (duration) return now - Number(duration[1]) * (UNIT_MS[duration[2] as string] as number);
  if (ISO_DATE.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (Number.isFinite(ms)) return ms;
  }
  throw new Error(`Invalid time "${text}": expected a duration ago (45s, 30m, 1h, 7d) or an ISO-8601 date-time (2025-01-31T12:00:00Z)`);
}

/** The page size a query asks for, within 1..1000 (default 100). */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return 100;
  return Math.min(1000, Math.max(1, Math.trunc(limit)));
}

/** Keyset position: the (time, id) of the last record on a page. */
export interface Keyset {
  time: number;
  id: number;
}

/** Opaque to callers; base64url so it survives a query string. */
export function encodeCursor(k: Keyset): string {
  return Buffer.from(JSON.stringify([k.time, k.id])).toString('base64url');
}

export function decodeCursor(cursor: string): Keyset {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((n) => Number.isSafeInteger(n))) {
    return { time: parsed[0] as number, id: parsed[1] as number };
  }
  throw new AuditQueryError('cursor', `Invalid cursor "${cursor}": pass the nextCursor of a previous page unchanged`);
}

/** Checks a query's values once, before any store builds SQL from it. */
export function checkQuery(q: AuditQuery): void {
  if (q.outcome !== undefined && !AUDIT_OUTCOMES.includes(q.outcome)) {
    throw new AuditQueryError('outcome', `Invalid outcome "${String(q.outcome)}": expected one of ${AUDIT_OUTCOMES.join(', ')}`);
  }
  for (const field of ['since', 'until'] as const) {
    const v = q[field];
    if (v !== undefined && !Number.isFinite(v)) throw new AuditQueryError(field, `Invalid ${field}: expected epoch milliseconds, got ${String(v)}`);
  }
}
