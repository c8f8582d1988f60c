import type { IncomingHttpHeaders } from 'node:http';
import { classifyInboundRequest, type CallToolResult, type Implementation, type Tool } from '@modelcontextprotocol/server';
import type { CancelSignal, Principal, TraceHeaders } from '../call/context.js';
import type { ToolRegistry } from '../registry/registry.js';
import { refusalOf } from './argument-limits.js';
import type { ToolCall } from './call-tool.js';

/**
 * The hot path for the two requests agents send most: `tools/call` and
 * `tools/list`, in either protocol era, answered as one JSON body.
 *
 * Why: the SDK's per-request entry builds a web `Request`, a `Server`, a
 * transport and zod-parses every message for every call; a profile of a
 * gateway built only on it shows that work dominating a forwarded call (about
 * 0.06× the backend's own rate). Here a request that is plainly valid is
 * answered directly; everything else — the handshake, `server/discover`,
 * notifications, batches, anything malformed or unusual, unknown tools, bad
 * cursors — goes to the SDK, which stays the authority on the protocol. The era
 * decision is the SDK's own `classifyInboundRequest`, so the two paths can
 * never disagree on it, and test/fast-path.test.ts checks that both paths give
 * the same answers.
 *
 * Search-mode meta-tools (`<backend>_search_operations`, ...) need nothing
 * here: the registry lists and finds them like any tool, and `callTool`
 * answers them, for both paths alike.
 */

/** The 2025 revisions served by the stateless legacy leg (MCP 2025-11-25 basic/transports). */
const LEGACY_VERSIONS = new Set(['2025-11-25', '2025-06-18', '2025-03-26']);
const MODERN_VERSION = '2026-07-28';
const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';
const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
const PARAM_KEYS = new Set(['name', 'arguments', '_meta', 'cursor']);

export interface FastPlan {
  era: 'modern' | 'legacy';
  /** The MCP-Protocol-Version the request named. */
  protocol: string;
  id: string | number;
  method: 'tools/call' | 'tools/list';
  params: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return typeof v === 'string' ? v.trim() : undefined;
};

/**
 * Decides whether a POSTed JSON body can take the fast path. Pure; returns
 * undefined for anything the SDK must handle.
 */
export function planFastPath(headers: IncomingHttpHeaders, body: unknown): FastPlan | undefined {
  if (!isObject(body) || body.jsonrpc !== '2.0') return undefined;
  const { id, method, params } = body;
  if (method !== 'tools/call' && method !== 'tools/list') return undefined;
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isInteger(id))) return undefined;
  if (params !== undefined && !isObject(params)) return undefined;
  const p = params ?? {};
  for (const key of Object.keys(p)) if (!PARAM_KEYS.has(key)) return undefined;
  if (p._meta !== undefined && !isObject(p._meta)) return undefined;
  if (method === 'tools/call') {
    if (typeof p.name !== 'string' || p.cursor !== undefined) return undefined;
    if (p.arguments !== undefined && !isObject(p.arguments)) return undefined;
  } else if (p.name !== undefined || p.arguments !== undefined || (p.cursor !== undefined && typeof p.cursor !== 'string')) {
    return undefined;
  }
  // MCP 2025-11-25 basic/transports: the client MUST accept both; the SDK answers 406 otherwise.
  const accept = header(headers, 'accept') ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined;

  const versionHeader = header(headers, 'mcp-protocol-version');
  const methodHeader = header(headers, 'mcp-method');
  const nameHeader = header(headers, 'mcp-name');
  const meta = p._meta as Record<string, unknown> | undefined;
  if (meta === undefined || !(PROTOCOL_VERSION_KEY in meta)) {
    // No envelope claim and a 2025 header: what the SDK's classifier routes to
    // its stateless legacy leg ("no-claim"), decided without its zod checks.
    if (versionHeader === undefined || !LEGACY_VERSIONS.has(versionHeader)) return undefined;
    if (methodHeader !== undefined || nameHeader !== undefined) return undefined;
    return { era: 'legacy', protocol: versionHeader, id, method, params: p };
  }
  // SEP-2243 standard headers: present and equal to the body, as the SDK's ladder requires.
  if (versionHeader !== MODERN_VERSION || methodHeader !== method) return undefined;
  if (method === 'tools/call' && nameHeader !== p.name) return undefined;
  return modernEnvelopeAccepted(method, meta) ? { era: 'modern', protocol: MODERN_VERSION, id, method, params: p } : undefined;
}

/**
 * The SDK classifier's verdict on a 2026-07-28 envelope, remembered. Clients
 * send the same envelope (client info and capabilities) with every request, and
 * the classifier's zod checks cost more than the rest of the fast path, so each
 * distinct envelope is classified once — by the SDK, on a request that differs
 * from the real one only in what the classifier does not read (id, name, arguments).
 */
const envelopeVerdicts = new Map<string, boolean>();
const ENVELOPE_CACHE_SIZE = 1024;
const ENVELOPE_KEY_MAX = 4096;

/**
 * The last envelope classified, and its verdict. Most requests carry the same
 * envelope as the one before them, and comparing the parsed values is several
 * times cheaper than serialising them for the map's key (`JSON.stringify` and the
 * lookup were about 1% of the gateway's CPU time under tools/call load).
 */
let lastEnvelope: { method: string; meta: Record<string, unknown>; accepted: boolean } | undefined;

/** Equality of two values parsed from JSON (key order aside: the classifier does not read it). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function modernEnvelopeAccepted(method: string, meta: Record<string, unknown>): boolean {
  const last = lastEnvelope;
  if (last !== undefined && last.method === method && sameJson(meta, last.meta)) return last.accepted;
  const key = `${method} ${JSON.stringify(meta)}`;
  // Only small envelopes are remembered, so the cache stays small whatever clients send.
  const cacheable = key.length <= ENVELOPE_KEY_MAX;
  const accepted = classifiedEnvelope(method, meta, key, cacheable);
  // A copy, by JSON as the request's was made: its own object is not kept past its call.
  if (cacheable) lastEnvelope = { method, meta: JSON.parse(key.slice(method.length + 1)) as Record<string, unknown>, accepted };
  return accepted;
}

function classifiedEnvelope(method: string, meta: Record<string, unknown>, key: string, cacheable: boolean): boolean {
  let accepted = cacheable ? envelopeVerdicts.get(key) : undefined;
  if (accepted === undefined) {
    const outcome = classifyInboundRequest({
      httpMethod: 'POST',
      protocolVersionHeader: MODERN_VERSION,
      mcpMethodHeader: method,
      body: { jsonrpc: '2.0', id: 0, method, params: { _meta: meta } },
    });
    accepted = outcome.kind === 'modern' && outcome.messageKind === 'request' && outcome.classification.revision === MODERN_VERSION;
    if (cacheable) {
      if (envelopeVerdicts.size >= ENVELOPE_CACHE_SIZE) envelopeVerdicts.clear();
      envelopeVerdicts.set(key, accepted);
    }
  }
  return accepted;
}

/** What the HTTP edge knows of a request besides its body. */
export interface FastRequest {
  principal: Principal;
  signal: CancelSignal;
  /** The caller's Authorization header (for passthrough and token exchange). */
  authorization?: string | undefined;
  /** The request id (X-Request-Id, or generated at the edge). */
  requestId: string;
  /** The caller's W3C trace context (`traceparent`), when the request has one. */
  trace?: TraceHeaders | undefined;
}

const CLIENT_INFO_KEY = 'io.modelcontextprotocol/clientInfo';

/** The client's name and version a 2026-07-28 request carries in `_meta`. */
export function clientInfoOf(meta: unknown): { name?: string; version?: string } | undefined {
  if (!isObject(meta)) return undefined;
  const info = meta[CLIENT_INFO_KEY];
  if (!isObject(info)) return undefined;
  const out: { name?: string; version?: string } = {};
  if (typeof info.name === 'string') out.name = info.name.slice(0, 128);
  if (typeof info.version === 'string') out.version = info.version.slice(0, 64);
  return out;
}

export interface FastPathOptions {
  registry: () => ToolRegistry;
  callTool: (call: ToolCall) => Promise<CallToolResult>;
  pageSize: number;
  serverInfo: Implementation;
  /** The listed tools a principal may see (default: all). */
  visibleTools?: (registry: ToolRegistry, principal: Principal) => readonly Tool[];
}

/**
 * Runs a planned request. Resolves to the JSON-RPC response text, or undefined
 * when the SDK must answer instead (unknown tool, invalid cursor: the SDK owns
 * protocol errors).
 */
export function createFastPath(
  options: FastPathOptions,
): (plan: FastPlan, request: FastRequest) => Promise<string | undefined> {
  const { registry, callTool, pageSize } = options;
  // 2026-07-28 results carry the server's identity and (for cacheable lists) cache hints.
  const modernMeta = { [SERVER_INFO_KEY]: options.serverInfo };
  return async (plan, { principal, signal, authorization, requestId, trace }) => {
    let result: Record<string, unknown>;
    if (plan.method === 'tools/list') {
      const snapshot = registry();
      const page = snapshot.page(plan.params.cursor as string | undefined, pageSize, options.visibleTools?.(snapshot, principal));
      if (page === undefined) return undefined;
      result = plan.era === 'modern' ? { ...page, resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: modernMeta } : page;
    } else {
      const tool = registry().get(plan.params.name as string);
      if (tool === undefined) return undefined;
      const args = (plan.params.arguments ?? {}) as Record<string, unknown>;
      const called = await callTool({
        tool,
        args,
        argumentsRefused: refusalOf(args),
        principal,
        requestId,
        signal,
        authorization,
        trace,
        protocol: plan.era === 'modern' ? MODERN_VERSION : plan.protocol,
        client: clientInfoOf(plan.params._meta),
      });
      result = plan.era === 'modern' ? { ...called, resultType: 'complete', _meta: called._meta === undefined ? modernMeta : { ...called._meta, ...modernMeta } } : (called as Record<string, unknown>);
    }
    return JSON.stringify({ result, jsonrpc: '2.0', id: plan.id });
  };
}
