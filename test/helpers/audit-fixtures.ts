import type { AuditOutcome, AuditQuery, AuditRecord, AuditStore } from '../../src/audit/index.js';

/** Records and readers the audit store tests share (SQLite and PostgreSQL must behave alike). */

/** Every field set, to prove each one has a column and comes back unchanged. */
export const FULL: AuditRecord = {
  time: 1_750_000_000_123,
  requestId: 'req-full',
  kind: 'model',
  uid: 'uid-full',
  principalId: 'alice',
  principalKind: 'jwt',
  clientId: 'cli-1',
  keyId: 'key-9',
  clientName: 'claude-code',
  clientVersion: '1.2.3',
  protocol: '2025-11-25',
  backend: 'petstore',
  tool: 'petstore_getPet',
  httpMethod: 'GET',
  urlTemplate: '/pets/{petId}',
  arguments: { petId: 7, nested: { list: [1, 'two', null, true], text: 'é "quoted" \\ back' } },
  argumentsHash: 'ab'.repeat(32),
  outcome: 'error',
  errorCode: 'GH_UPSTREAM_STATUS',
  status: 503,
  latencyMs: 12.75,
  bytesIn: 321,
  bytesOut: 5_000_000_000,
  provider: 'anthropic',
  model: 'claude-sonnet',
  tokensIn: 1200,
  tokensOut: 345,
  costUsd: 0.01234,
};

export const OUTCOMES: AuditOutcome[] = ['ok', 'error', 'denied', 'limited'];
export const T0 = 1_760_000_000_000;

/** 40 records over three principals, two backends, four outcomes; times collide in pairs to exercise the id tie-break. */
export function fixtures(): AuditRecord[] {
  return Array.from({ length: 40 }, (_, i) => ({
    time: T0 + Math.floor(i / 2) * 1000,
    requestId: `r${i}`,
    kind: 'tool' as const,
    principalId: ['alice', 'bob', 'carol'][i % 3],
    backend: i % 2 === 0 ? 'pets' : 'store',
    tool: `t${i % 4}`,
    outcome: OUTCOMES[i % 4] as AuditOutcome,
    latencyMs: i,
  }));
}

export async function all(store: AuditStore, q: AuditQuery): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.query({ ...q, cursor });
    out.push(...page.records);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

export const ids = (rs: readonly AuditRecord[]) => rs.map((r) => r.requestId).sort();
