import { expect } from 'vitest';
import { AuditQueryError, type AuditOutcome, type AuditQuery, type AuditRecord, type AuditStore } from '../../src/audit/index.js';

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

/**
 * The query contract every audit store keeps, checked the same way for SQLite and
 * PostgreSQL: filters (each one, and ANDed), keyset pagination, pruning.
 */
export async function expectFiltersWork(store: AuditStore): Promise<void> {
  const rows = fixtures();
  await store.write(rows);
  const cases: Array<[AuditQuery, (r: AuditRecord) => boolean]> = [
    [{ since: T0 + 10_000 }, (r) => r.time >= T0 + 10_000],
    [{ until: T0 + 5_000 }, (r) => r.time < T0 + 5_000],
    [{ principal: 'bob' }, (r) => r.principalId === 'bob'],
    [{ backend: 'store' }, (r) => r.backend === 'store'],
    [{ tool: 't2' }, (r) => r.tool === 't2'],
    [{ outcome: 'denied' }, (r) => r.outcome === 'denied'],
    [{ principal: 'alice', outcome: 'ok', since: T0 + 3_000, until: T0 + 15_000 }, (r) => r.principalId === 'alice' && r.outcome === 'ok' && r.time >= T0 + 3_000 && r.time < T0 + 15_000],
  ];
  for (const [q, keep] of cases) {
    const expected = rows.filter(keep);
    expect(expected.length, JSON.stringify(q)).toBeGreaterThan(0);
    expect(ids(await all(store, { ...q, limit: 1000 })), JSON.stringify(q)).toEqual(ids(expected));
  }
}

export async function expectPagination(store: AuditStore): Promise<void> {
  await store.write(fixtures());
  const seen = await all(store, { limit: 7 });
  expect(seen).toHaveLength(40);
  expect(new Set(seen.map((r) => r.requestId)).size).toBe(40);
  for (let i = 1; i < seen.length; i++) {
    const [a, b] = [seen[i - 1] as AuditRecord & { id: number }, seen[i] as AuditRecord & { id: number }];
    expect(a.time > b.time || (a.time === b.time && a.id > b.id)).toBe(true);
  }
  const first = await store.query({ limit: 7 });
  expect(first.records).toHaveLength(7);
  expect(first.nextCursor).toBeTypeOf('string');
  await expect(store.query({ cursor: 'garbage' })).rejects.toBeInstanceOf(AuditQueryError);
}

export async function expectPrune(store: AuditStore): Promise<void> {
  await store.write(fixtures());
  const cut = T0 + 10_000;
  expect(await store.prune(cut)).toBe(20);
  const left = await all(store, {});
  expect(left).toHaveLength(20);
  expect(left.every((r) => r.time >= cut)).toBe(true);
  expect(await store.prune(cut)).toBe(0);
}
