/**
 * An OTLP/HTTP trace receiver on 127.0.0.1:0: what a collector would get.
 * Every export is kept as it crossed the wire; OTLP/JSON bodies (the
 * `http/json` protocol) are also read into spans, with their resource.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/JSON carries it (ids in hex, as the OTLP JSON encoding says). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number; message?: string };
  /** Added here: the exporting resource's attributes. */
  resource: Record<string, unknown>;
}

export interface OtlpExport {
  path: string;
  contentType: string;
  body: Buffer;
}

export interface OtlpSink {
  /** Base URL, e.g. http://127.0.0.1:40123 (exports arrive at /v1/traces). */
  url: string;
  exports: OtlpExport[];
  /** Every span of every OTLP/JSON export so far. */
  spans(): OtlpSpan[];
  close(): Promise<void>;
}

/** An OTLP attribute value as a plain value (intValue arrives as a number or a string). */
function plain(value: Record<string, unknown>): unknown {
  if ('stringValue' in value) return value['stringValue'];
  if ('intValue' in value) return Number(value['intValue']);
  if ('doubleValue' in value) return value['doubleValue'];
  if ('boolValue' in value) return value['boolValue'];
  return value;
}

/** A span's attributes as an object. */
export function attributesOf(span: Pick<OtlpSpan, 'attributes'>): Record<string, unknown> {
  return Object.fromEntries((span.attributes ?? []).map((a) => [a.key, plain(a.value)]));
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const exports: OtlpExport[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      exports.push({ path: req.url ?? '', contentType, body: Buffer.concat(chunks) });
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': contentType.startsWith('application/json') ? 'application/json' : 'application/x-protobuf' });
      res.end(contentType.startsWith('application/json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports,
    spans() {
      const out: OtlpSpan[] = [];
      for (const e of exports) {
        if (!e.contentType.startsWith('application/json')) continue;
        const body = JSON.parse(e.body.toString('utf8')) as {
          resourceSpans?: Array<{ resource?: { attributes?: OtlpSpan['attributes'] }; scopeSpans?: Array<{ spans?: Omit<OtlpSpan, 'resource'>[] }> }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          const resource = attributesOf({ attributes: rs.resource?.attributes ?? [] });
          for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) out.push({ ...span, resource });
        }
      }
      return out;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
