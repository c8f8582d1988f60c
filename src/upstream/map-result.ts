/**
 * A backend response → an MCP tool result (MCP 2025-11-25 server/tools).
 * Pure: no I/O, no clocks.
 */
import { isUtf8 } from 'node:buffer';
import type { Buffer } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { GatehouseError } from '../errors/catalogue.js';
import type { UpstreamResponse } from './forward.js';
import { isJsonMediaType, isTextMediaType, mediaTypeEssence, mediaTypeParam } from './media-type.js';

export interface ToolResultOptions {
  /**
   * The tool declares an outputSchema, so a 2xx JSON answer is also returned
   * as `structuredContent` (an object; other JSON values as `{ result: value }`,
   * which the importer's outputSchema must mirror).
   */
  hasOutputSchema: boolean;
  /**
   * With an outputSchema: checks the structured content against it and returns
   * one message per wrong field (empty: it conforms). Absent: not checked.
   */
  checkOutput?: (structured: Record<string, unknown>) => string[];
  /** Cap on the text content of a 2xx answer, in UTF-8 bytes; the full body is used otherwise. */
  maxTextBytes?: number;
  /** URI for binary answers returned as an embedded resource. */
  resourceUri?: string;
}

/** How much of a non-2xx body the model sees. */
export const ERROR_BODY_MAX_CHARS = 2000;
const DEFAULT_RESOURCE_URI = 'gatehouse://upstream/response';

type Content = CallToolResult['content'][number];

/**
 * Throws a GatehouseError (GH_UPSTREAM_RESULT_INVALID, GH_UPSTREAM_RESULT_TRUNCATED)
 * when a tool with an outputSchema gets a 2xx answer that cannot be its structured
 * result: MCP 2025-11-25 server/tools#output-schema says a server MUST return
 * structured results that conform to the schema, and the MCP client refuses a
 * success without them ("has an output schema but did not return structured
 * content") or with content that does not match; a tool error is what the agent
 * can read and the audit trail records.
 */
export function toCallToolResult(res: UpstreamResponse, opts: ToolResultOptions): CallToolResult {
  const head = statusLine(res);
  // Tool-error texts start with their stable code (docs/errors.md).
  if (res.status < 200 || res.status > 299) return errorStatusResult(res, `GH_UPSTREAM_STATUS: ${head}`);
  if (opts.hasOutputSchema) return structuredResult(res, head, opts);
  if (res.body.length === 0) return textResult(head);

  const essence = mediaTypeEssence(res.contentType);
  const media = essence.startsWith('image/') ? 'image' : essence.startsWith('audio/') ? 'audio' : undefined;
  const textual = media === undefined && (essence === '' ? looksLikeText(res.body) : isTextMediaType(essence));

  if (!textual) {
    // A cut-off image or file is useless and misleading: say so instead.
    if (res.truncated) {
      return {
        isError: true,
        content: [{ type: 'text', text: `${head}: the ${essence || 'binary'} response exceeded ${res.body.length} bytes and was not returned.` }],
      };
    }
    const data = res.body.toString('base64');
    if (media !== undefined) return { content: [{ type: media, data, mimeType: essence }] };
    return {
      content: [{ type: 'resource', resource: { uri: resourceUri(res, opts.resourceUri), mimeType: essence || 'application/octet-stream', blob: data } }],
    };
  }

  const full = decodeText(res.body, res.contentType, res.truncated);
  let text = full;
  if (opts.maxTextBytes !== undefined && res.body.length > opts.maxTextBytes) {
    const cut = utf8Boundary(res.body, opts.maxTextBytes);
    text = decodeText(res.body.subarray(0, cut), res.contentType, false) + truncationMarker(opts.maxTextBytes);
  } else if (res.truncated) {
    text += truncationMarker(res.body.length);
  }
  return { content: [{ type: 'text', text }] };
}

/**
 * A 2xx answer of a tool with an outputSchema: the JSON text plus the same value
 * as `structuredContent`, or a GatehouseError saying why there is none. An empty
 * body (204) is the empty object, checked like any other: the importer's output
 * shapes name properties without requiring any, so it conforms.
 */
function structuredResult(res: UpstreamResponse, head: string, opts: ToolResultOptions): CallToolResult {
  const essence = mediaTypeEssence(res.contentType);
  if (res.truncated) {
    throw new GatehouseError(
      'GH_UPSTREAM_RESULT_TRUNCATED',
      `${head}: the response was cut at the size cap, so it cannot be the tool's structured result${excerpt(res)}`,
      { details: { status: res.status, bytes: res.body.length } },
    );
  }
  let full = '';
  let structured: Record<string, unknown> = {};
  if (res.body.length > 0) {
    const textual = essence === '' ? looksLikeText(res.body) : isTextMediaType(essence);
    full = textual ? decodeText(res.body, res.contentType, false) : '';
    if (!isJsonMediaType(essence) && !(essence === '' && /^\s*[[{]/.test(full))) {
      throw new GatehouseError(
        'GH_UPSTREAM_RESULT_INVALID',
        `${head}: the backend answered ${essence || 'an untyped body'}, not JSON; the tool declares an output schema${textual ? excerpt(res) : ` (${res.body.length} bytes)`}`,
        { details: { status: res.status, contentType: essence } },
      );
    }
    const parsed = parseStructured(full);
    if (parsed instanceof Error) {
      throw new GatehouseError('GH_UPSTREAM_RESULT_INVALID', `${head}: the ${essence || 'response'} body is not valid JSON (${parsed.message})${excerpt(res)}`, {
        cause: parsed,
        details: { status: res.status, contentType: essence },
      });
    }
    structured = parsed;
  }
  const problems = opts.checkOutput?.(structured) ?? [];
  if (problems.length > 0) {
    throw new GatehouseError('GH_UPSTREAM_RESULT_INVALID', `${head}: the response does not match the tool's output schema:\n- ${problems.join('\n- ')}${excerpt(res)}`, {
      details: { status: res.status, errors: problems },
    });
  }
  let text = res.body.length === 0 ? head : full;
  if (opts.maxTextBytes !== undefined && res.body.length > opts.maxTextBytes) {
    const cut = utf8Boundary(res.body, opts.maxTextBytes);
    text = decodeText(res.body.subarray(0, cut), res.contentType, false) + truncationMarker(opts.maxTextBytes);
  }
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/** `:\n<the start of the body>` (with the truncation marker when it was cut), for the error text. */
function excerpt(res: UpstreamResponse): string {
  if (res.body.length === 0) return '';
  const window = res.body.length > ERROR_BODY_MAX_CHARS * 4 ? res.body.subarray(0, ERROR_BODY_MAX_CHARS * 4) : res.body;
  let body = decodeText(window, res.contentType, true).trim();
  let marker = '';
  if (body.length > ERROR_BODY_MAX_CHARS) {
    const end = isHighSurrogate(body.charCodeAt(ERROR_BODY_MAX_CHARS - 1)) ? ERROR_BODY_MAX_CHARS - 1 : ERROR_BODY_MAX_CHARS;
    body = body.slice(0, end);
    marker = `\n…[truncated: showing the first ${end} characters]`;
  }
  // Cut by the size cap: that is the marker that matters.
  if (res.truncated) marker = truncationMarker(res.body.length);
  return `:\n${body}${marker}`;
}

function textResult(text: string, isError = false): CallToolResult {
  const content: Content[] = [{ type: 'text', text }];
  return isError ? { isError: true, content } : { content };
}

function statusLine(res: UpstreamResponse): string {
  const reason = res.statusText || STATUS_CODES[res.status] || '';
  return reason === '' ? `HTTP ${res.status}` : `HTTP ${res.status} ${reason}`;
}

function truncationMarker(bytes: number): string {
  return `\n…[truncated: response exceeded ${bytes} bytes]`;
}

/** `HTTP 404 Not Found: <body, at most ERROR_BODY_MAX_CHARS characters>`. */
function errorStatusResult(res: UpstreamResponse, head: string): CallToolResult {
  let text = head;
  const location = res.headers.location;
  if (res.status >= 300 && res.status < 400 && typeof location === 'string') text += ` (Location: ${location})`;
  if (res.body.length > 0) {
    const essence = mediaTypeEssence(res.contentType);
    const textual = essence === '' ? looksLikeText(res.body) : isTextMediaType(essence);
    if (!textual) {
      text += `: <${res.body.length} bytes of ${essence || 'binary data'}>`;
    } else {
      // 4 bytes per character at most: decode no more than could be shown.
      const window = res.body.length > ERROR_BODY_MAX_CHARS * 4 ? res.body.subarray(0, ERROR_BODY_MAX_CHARS * 4) : res.body;
      const body = decodeText(window, res.contentType, true).trim();
      if (body.length > ERROR_BODY_MAX_CHARS) {
        const end = isHighSurrogate(body.charCodeAt(ERROR_BODY_MAX_CHARS - 1)) ? ERROR_BODY_MAX_CHARS - 1 : ERROR_BODY_MAX_CHARS;
        text += `: ${body.slice(0, end)}\n…[truncated: showing the first ${end} characters]`;
      } else {
        text += `: ${body}`;
        if (res.truncated || window !== res.body) text += truncationMarker(res.truncated ? res.body.length : window.length);
      }
    }
  }
  return textResult(text, true);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function parseStructured(text: string): Record<string, unknown> | Error {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return err as Error;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { result: value };
}

/**
 * Decodes with the declared charset (UTF-8 by default, BOM dropped). With
 * `mayEndMidChar`, a multi-byte character cut by truncation is dropped rather
 * than shown as U+FFFD.
 */
function decodeText(buf: Buffer, contentType: string | undefined, mayEndMidChar: boolean): string {
  const charset = mediaTypeParam(contentType, 'charset')?.toLowerCase();
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii') {
    const bytes = mayEndMidChar ? buf.subarray(0, completeUtf8Length(buf)) : buf;
    const text = bytes.toString('utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
  try {
    return new TextDecoder(charset).decode(buf);
  } catch {
    return buf.toString('utf8');
  }
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence. */
function completeUtf8Length(buf: Buffer): number {
  const n = buf.length;
  for (let back = 1; back <= 4 && back <= n; back++) {
    const b = buf[n - back] as number;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

/** The largest cut ≤ `max` that does not split a UTF-8 sequence. */
function utf8Boundary(buf: Buffer, max: number): number {
  if (max >= buf.length) return buf.length;
  let i = max;
  while (i > 0 && ((buf[i] as number) & 0xc0) === 0x80) i--;
  return i;
}

/** No Content-Type: text when it is valid UTF-8 without NUL bytes. */
function looksLikeText(buf: Buffer): boolean {
  return !buf.includes(0) && isUtf8(buf.subarray(0, completeUtf8Length(buf)));
}

/** `attachment; filename="report.pdf"` → `<base>/report.pdf`. */
function resourceUri(res: UpstreamResponse, base: string | undefined): string {
  const uri = base ?? DEFAULT_RESOURCE_URI;
  const disposition = res.headers['content-disposition'];
  if (typeof disposition !== 'string') return uri;
  const filename = mediaTypeParam(disposition, 'filename');
  return filename === undefined || filename === '' ? uri : `${uri}/${encodeURIComponent(filename)}`;
}
