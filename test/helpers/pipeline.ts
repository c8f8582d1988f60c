import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { AuditQuery, StoredAuditRecord } from '../../src/audit/index.js';
import type { Gateway } from '../../src/server/gateway.js';
import { MODERN_ENVELOPE, type Era } from './gateway.js';
import type { StubBackend } from './stub-backend.js';

/**
 * Helpers for the policy-pipeline tests (test/pipeline/): a test identity
 * provider, a client that sends credentials, raw MCP calls where headers
 * matter, the audit records a gateway actually stored, and a reader of the
 * Prometheus text format.
 */

export const ISSUER = 'https://idp.test/';
export const AUDIENCE = 'https://gatehouse.test/mcp';

/** A JWKS on port 0 and a signer for tokens it vouches for. */
export interface TestIdp {
  jwksUrl: string;
  /** A signed RS256 token; `sub` defaults to `user-1`, audience to {@link AUDIENCE}. */
  token(claims: Record<string, unknown>, options?: { audience?: string; expiresIn?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startIdp(): Promise<TestIdp> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    token: (claims, options = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(options.audience ?? AUDIENCE)
        .setSubject(String(claims.sub ?? 'user-1'))
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '5m')
        .sign(privateKey),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** What a client saw of one exchange: the JSON-RPC method it sent and the X-Request-Id the gateway echoed. */
export interface Exchange {
  method: string | undefined;
  requestId: string | null;
}

/**
 * The real SDK client in the given era, sending `headers` (e.g. Authorization)
 * with every request. `exchanges`, when given, collects each POST's method and
 * the X-Request-Id the gateway answered with.
 */
export async function connectWith(
  gateway: Gateway,
  era: Era,
  headers: Record<string, string> = {},
  options: { info?: { name: string; version: string }; exchanges?: Exchange[] } = {},
): Promise<Client> {
  const client = new Client(options.info ?? CLIENT_INFO, { versionNegotiation: { mode: era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } });
  const exchanges = options.exchanges;
  const recording: typeof fetch = async (url, init) => {
    const res = await fetch(url, init);
    if (exchanges !== undefined && init?.method === 'POST' && typeof init.body === 'string') {
      const sent = JSON.parse(init.body) as { method?: string };
      exchanges.push({ method: sent.method, requestId: res.headers.get('x-request-id') });
    }
    return res;
  };
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers }, fetch: recording }));
  return client;
}

/** Who {@link connectWith}'s client says it is. */
export const CLIENT_INFO = { name: 'pipeline-test', version: '2.3.4' };

/** The text of a tool result. */
export const text = (r: { content?: unknown }): string => ((r.content ?? []) as Array<{ text?: string }>).map((c) => c.text ?? '').join('\n');

export interface RawResponse {
  status: number;
  headers: Headers;
  /** The JSON-RPC message (from a JSON body or the one SSE event), or the plain JSON body of an HTTP error. */
  message: { result?: { isError?: boolean; content?: unknown }; error?: { code: number; message: string } } & Record<string, unknown>;
}

/**
 * One `tools/call` POSTed by hand, as a client of `era` sends it (the modern
 * era with its `_meta` envelope and the Mcp-Method / Mcp-Name headers).
 */
export async function rawCall(
  gateway: Gateway,
  era: Era,
  name: string,
  args: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const res = await fetch(`${gateway.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': era === 'modern' ? '2026-07-28' : '2025-11-25',
      ...(era === 'modern' ? { 'mcp-method': 'tools/call', 'mcp-name': name } : {}),
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name, arguments: args, ...(era === 'modern' ? { _meta: MODERN_ENVELOPE } : {}) },
    }),
  });
  const body = await res.text();
  // The SDK's stateless 2025 leg may answer with one SSE event.
  const json = body.startsWith('{') ? body : (body.split('\n').find((l) => l.startsWith('data: '))?.slice(6) ?? '{}');
  return { status: res.status, headers: res.headers, message: JSON.parse(json) as RawResponse['message'] };
}

/**
 * Every audit record the gateway stored that matches `q`, newest first: the
 * writer's queue is flushed first, then the store is read page by page.
 */
export async function storedAudit(gateway: Gateway, q: Omit<AuditQuery, 'limit' | 'cursor'> = {}): Promise<StoredAuditRecord[]> {
  const { writer: auditWriter, store: auditStore } = gateway.runtime.audit;
  await auditWriter!.flush();
  const records: StoredAuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await auditStore!.query({ ...q, limit: 1000, ...(cursor !== undefined ? { cursor } : {}) });
    records.push(...page.records);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return records;
}

/** The one record stored for `q`; fails unless there is exactly one. */
export async function onlyRecord(gateway: Gateway, q: Omit<AuditQuery, 'limit' | 'cursor'>): Promise<StoredAuditRecord> {
  const records = await storedAudit(gateway, q);
  if (records.length !== 1) throw new Error(`expected exactly one audit record for ${JSON.stringify(q)}, found ${records.length}: ${JSON.stringify(records)}`);
  return records[0]!;
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * Makes the stub hold every request open until `release` answers them (200
 * JSON), so a test controls how many calls are in flight at the backend.
 */
export function holdRequests(stub: StubBackend): { held: () => number; release: (body?: string) => void } {
  const pending: ServerResponse[] = [];
  stub.handle((_req, res) => {
    pending.push(res);
  });
  return {
    held: () => pending.length,
    release(body = '{"ok":true}') {
      for (const res of pending.splice(0)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      }
    },
  };
}

/** One sample of the Prometheus text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text format (comments skipped; label values unescaped). */
export function parseMetrics(body: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/**
 * The value of the one sample named `name` whose labels include `labels`;
 * undefined when there is none, an error when several match.
 */
export function metricValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** GET /metrics, parsed. */
export async function scrape(gateway: Gateway): Promise<{ contentType: string; samples: Sample[] }> {
  const res = await fetch(`${gateway.url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return { contentType: res.headers.get('content-type') ?? '', samples: parseMetrics(await res.text()) };
}
