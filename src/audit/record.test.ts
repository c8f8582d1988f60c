import { describe, expect, it } from 'vitest';
import { AuditQueryError, checkQuery, decodeCursor, encodeCursor, pageLimit, parseTimeBound } from './record.js';

describe('parseTimeBound', () => {
  const now = Date.UTC(2025, 5, 1, 12, 0, 0);

  it.each([
    ['45s', now - 45_000],
    ['30m', now - 30 * 60_000],
    ['1h', now - 3_600_000],
    ['7d', now - 7 * 86_400_000],
    ['2025-01-31T12:00:00Z', Date.UTC(2025, 0, 31, 12)],
    ['2025-01-31T12:00:00.250+02:00', Date.UTC(2025, 0, 31, 10, 0, 0, 250)],
    ['2025-01-31', Date.UTC(2025, 0, 31)],
  ])('%s', (text, expected) => {
    expect(parseTimeBound(text, now)).toBe(expected);
  });

  it.each(['', 'yesterday', '1y', '-1h', '1.5h', '2025-13-45', '1700000000'])('rejects %j, naming it', (text) => {
    expect(() => parseTimeBound(text, now)).toThrow(`Invalid time "${text}"`);
  });
});

describe('query helpers', () => {
  it('round-trips a cursor and rejects a forged one', () => {
    expect(decodeCursor(encodeCursor({ time: 1_700_000_000_123, id: 42 }))).toEqual({ time: 1_700_000_000_123, id: 42 });
    expect(() => decodeCursor('not-a-cursor')).toThrow(AuditQueryError);
    expect(() => decodeCursor(Buffer.from('[1,"x"]').toString('base64url'))).toThrow(/Invalid cursor/);
  });

  it('clamps the page size to 1..1000, default 100', () => {
    expect([pageLimit(undefined), pageLimit(0), pageLimit(5.7), pageLimit(5000), pageLimit(Number.NaN)]).toEqual([100, 1, 5, 1000, 100]);
  });

  it('rejects an unknown outcome', () => {
    expect(() => checkQuery({ outcome: 'maybe' as 'ok' })).toThrow(/Invalid outcome "maybe"/);
  });
});
