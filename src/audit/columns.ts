import type { AuditOutcome, AuditRecord, StoredAuditRecord } from './record.js';

/**
 * The one mapping between record fields and table columns, shared by both
 * stores so that a field added to `AuditRecord` is added to both schemas.
 */
export type ColumnType = 'time' | 'text' | 'int' | 'bigint' | 'real' | 'json';

export interface Column {
  field: keyof AuditRecord;
  name: string;
  type: ColumnType;
  /** Never null in the table (the store substitutes a placeholder rather than fail the batch). */
  required?: true;
}

export const COLUMNS: readonly Column[] = [
  { field: 'time', name: 'time', type: 'time', required: true },
  { field: 'requestId', name: 'request_id', type: 'text', required: true },
  { field: 'kind', name: 'kind', type: 'text', required: true },
  { field: 'uid', name: 'uid', type: 'text' },
  { field: 'principalId', name: 'principal_id', type: 'text' },
  { field: 'principalKind', name: 'principal_kind', type: 'text' },
  { field: 'clientId', name: 'client_id', type: 'text' },
  { field: 'keyId', name: 'key_id', type: 'text' },
  { field: 'clientName', name: 'client_name', type: 'text' },
  { field: 'clientVersion', name: 'client_version', type: 'text' },
  { field: 'protocol', name: 'protocol', type: 'text' },
  { field: 'backend', name: 'backend', type: 'text' },
  { field: 'tool', name: 'tool', type: 'text' },
  { field: 'httpMethod', name: 'http_method', type: 'text' },
  { field: 'urlTemplate', name: 'url_template', type: 'text' },
  { field: 'arguments', name: 'arguments', type: 'json' },
  { field: 'argumentsHash', name: 'arguments_hash', type: 'text' },
  { field: 'outcome', name: 'outcome', type: 'text', required: true },
  { field: 'errorCode', name: 'error_code', type: 'text' },
  { field: 'status', name: 'status', type: 'int' },
  { field: 'latencyMs', name: 'latency_ms', type: 'real', required: true },
  { field: 'bytesIn', name: 'bytes_in', type: 'bigint' },
  { field: 'bytesOut', name: 'bytes_out', type: 'bigint' },
  { field: 'provider', name: 'provider', type: 'text' },
  { field: 'model', name: 'model', type: 'text' },
  { field: 'tokensIn', name: 'tokens_in', type: 'bigint' },
  { field: 'tokensOut', name: 'tokens_out', type: 'bigint' },
  { field: 'costUsd', name: 'cost_usd', type: 'real' },
  { field: 'route', name: 'route', type: 'text' },
  { field: 'attempts', name: 'attempts', type: 'json' },
  { field: 'ttftMs', name: 'ttft_ms', type: 'real' },
  { field: 'traceId', name: 'trace_id', type: 'text' },
];

/** Placeholders for required columns, so one malformed record cannot wedge the queue behind it. */
const REQUIRED_DEFAULT: Partial<Record<keyof AuditRecord, string | number>> = {
  requestId: '',
  kind: 'tool',
  outcome: 'error',
  latencyMs: 0,
  time: 0,
};

/** A column value as both drivers accept it: string, finite number or null. `time` stays epoch ms. */
export type CellValue = string | number | null;

/**
 * Record → cells in `COLUMNS` order. Values of the wrong type become null (or
 * the placeholder of a required column) instead of failing the whole batch: a
 * store rejects batches only for outages, which the writer retries.
 */
export function toCells(record: AuditRecord): CellValue[] {
  return COLUMNS.map((c) => {
    const v = cell(c.type, record[c.field]);
    return v === null && c.required ? (REQUIRED_DEFAULT[c.field] ?? null) : v;
  });
}

function cell(type: ColumnType, value: unknown): CellValue {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'text':
      return typeof value === 'string' ? value : String(value);
    case 'json':
      return JSON.stringify(value) ?? null;
    case 'time':
    case 'int':
    case 'bigint': {
      const n = typeof value === 'number' ? value : Number(value);
      return Number.isFinite(n) ? Math.trunc(n) : null;
    }
    case 'real': {
      const n = typeof value === 'number' ? value : Number(value);
      return Number.isFinite(n) ? n : null;
    }
  }
}

/**
 * A row → record. `readTime` converts the driver's time value (a number from
 * SQLite, a Date from pg); bigint columns arrive as strings from pg.
 */
export function fromRow(row: Record<string, unknown>, readTime: (v: unknown) => number): StoredAuditRecord {
  const out: Record<string, unknown> = { id: Number(row.id) };
  for (const c of COLUMNS) {
    const v = row[c.name];
    if (v === null || v === undefined) continue;
    if (c.type === 'time') out[c.field] = readTime(v);
    else if (c.type === 'json') out[c.field] = typeof v === 'string' ? JSON.parse(v) : v;
    else if (c.type === 'int' || c.type === 'bigint' || c.type === 'real') out[c.field] = Number(v);
    else out[c.field] = v;
  }
  return out as unknown as StoredAuditRecord & { outcome: AuditOutcome };
}

/** The query fields that filter on a column by equality. */
export const EQUALITY_FILTERS = [
  ['principal', 'principal_id'],
  ['backend', 'backend'],
  ['tool', 'tool'],
  ['outcome', 'outcome'],
] as const;
