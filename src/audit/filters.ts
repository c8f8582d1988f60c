/**
 * The audit filters as people and URLs give them (`--since 1h`,
 * `?outcome=denied`), turned into an AuditQuery. One parser for the
 * `gatehouse audit` command and `GET /admin/audit`, so both accept the same
 * words and refuse the same mistakes with the same message.
 */
import { GatehouseError } from '../errors/catalogue.js';
import { AUDIT_OUTCOMES, AuditQueryError, checkQuery, parseTimeBound, type AuditOutcome, type AuditPage, type AuditQuery, type AuditStore } from './record.js';

export const AUDIT_FILTERS = ['since', 'until', 'principal', 'backend', 'tool', 'outcome', 'limit', 'cursor'] as const;
export type AuditFilterName = (typeof AUDIT_FILTERS)[number];

function invalid(field: string, message: string): GatehouseError {
  return new GatehouseError('GH_AUDIT_QUERY_INVALID', `${field}: ${message}`, { details: { field } });
}

/** Parses filters; throws GH_AUDIT_QUERY_INVALID naming the filter. */
export function parseAuditFilters(input: Partial<Record<AuditFilterName, string>>, now: number = Date.now()): AuditQuery {
  const q: AuditQuery = {};
  for (const field of ['since', 'until'] as const) {
    const text = input[field];
    if (text === undefined || text === '') continue;
    try {
      q[field] = parseTimeBound(text, now);
    } catch (err) {
      throw invalid(field, (err as Error).message);
    }
  }
  for (const field of ['principal', 'backend', 'tool', 'cursor'] as const) {
    const v = input[field];
    if (v !== undefined && v !== '') q[field] = v;
  }
  if (input.outcome !== undefined && input.outcome !== '') {
    if (!(AUDIT_OUTCOMES as readonly string[]).includes(input.outcome)) throw invalid('outcome', `must be one of ${AUDIT_OUTCOMES.join(', ')}`);
    q.outcome = input.outcome as AuditOutcome;
  }
  if (input.limit !== undefined && input.limit !== '') {
    const n = Number(input.limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw invalid('limit', 'must be an integer from 1 to 1000');
    q.limit = n;
  }
  try {
    checkQuery(q);
  } catch (err) {
    if (err instanceof AuditQueryError) throw invalid(err.field, err.message);
    throw err;
  }
  return q;
}

/** Runs a query; a store that cannot answer is GH_AUDIT_UNAVAILABLE, a bad filter GH_AUDIT_QUERY_INVALID. */
export async function queryAudit(store: AuditStore | undefined, q: AuditQuery): Promise<AuditPage> {
  if (store === undefined) throw new GatehouseError('GH_AUDIT_UNAVAILABLE', 'the audit trail is off (audit.store: none)');
  try {
    return await store.query(q);
  } catch (err) {
    if (err instanceof AuditQueryError) throw invalid(err.field, err.message);
    throw new GatehouseError('GH_AUDIT_UNAVAILABLE', `the audit store could not be queried: ${(err as Error).message}`, { cause: err });
  }
}
