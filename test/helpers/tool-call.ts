import { ERROR_META_KEY } from '../../src/mcp/tool-result.js';

/** What one raw `tools/call` over HTTP gave back. */
export interface RawCall {
  /** HTTP status of the answer. */
  status: number;
  /** The X-Request-Id the gateway answered with. */
  requestId: string | null;
  /** The JSON-RPC result, when the body was one. */
  result?: { isError?: boolean; content: Array<{ type: string; text?: string }>; structuredContent?: unknown; _meta?: Record<string, unknown> };
  /** The GH_* code of a tool error result, as the result carries it: `_meta["io.gatehouse/error"].code`. */
  errorCode?: string;
  /** Milliseconds from sending to the whole body read. */
  ms: number;
}

/**
 * One `tools/call` as a 2025-11-25 client sends it (stateless, one JSON
 * answer), with our own X-Request-Id so the audit record can be found by it.
 * Rejects on a network error (e.g. the gateway went away mid-call).
 */
export async function callTool(gatewayUrl: string, name: string, args: Record<string, unknown>, requestId: string): Promise<RawCall> {
  const started = performance.now();
  const res = await fetch(`${gatewayUrl}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      'x-request-id': requestId,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  const out: RawCall = { status: res.status, requestId: res.headers.get('x-request-id'), ms };
  if (res.headers.get('content-type')?.startsWith('application/json') === true) {
    const body = JSON.parse(text) as { result?: RawCall['result'] };
    if (body.result !== undefined) {
      out.result = body.result;
      const meta = body.result._meta?.[ERROR_META_KEY] as { code?: unknown } | undefined;
      if (body.result.isError === true && typeof meta?.code === 'string') out.errorCode = meta.code;
    }
  }
  return out;
}

/** The value of a Prometheus sample in a /metrics text, e.g. `metric(text, 'gatehouse_store_errors_total{store="redis"}')`; NaN when absent, so no comparison passes by accident. */
export function metric(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return Number.NaN;
}

export async function scrape(gatewayUrl: string): Promise<string> {
  const res = await fetch(`${gatewayUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}
