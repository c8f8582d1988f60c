/**
 * Tool arguments → the HTTP request for the backend. Pure: plain data in,
 * plain data out; nothing is sent here.
 *
 * DESIGN.md decision 5, "arguments cannot steer the request":
 * - the origin and base path come from `binding.baseUrl` only;
 * - path parameters are always percent-encoded (`/`, `?`, `#` cannot escape
 *   their segment), may not be empty and may not form a `.`/`..` segment;
 * - a fragment in the path template is dropped (RFC 3986 §3.5: it is never
 *   part of a request);
 * - header and cookie values are checked for CR, LF, NUL, other C0 and C1
 *   controls and length (`upstream.maxHeaderValueBytes`);
 * - only parameters and body properties declared in the binding are sent.
 */
import { GatehouseError } from '../errors/catalogue.js';
import type { HttpBinding, ParameterBinding } from '../openapi/tool-definition.js';
import { bodyValue, encodeBody } from './encode-body.js';
import { isEmptyPathValue, serializeCookie, serializeHeader, serializePath, serializeQuery } from './serialize-parameter.js';
import { DEFAULT_MAX_HEADER_VALUE_BYTES, FRAMING_HEADERS, HEADER_VALUE_INVALID, HTTP_TOKEN } from './http-fields.js';

/** An HTTP request ready for `forward()`. */
export interface BuiltRequest {
  /** Upper-case method. */
  method: string;
  /** Absolute URL: base URL + path + query string. */
  url: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export interface BuildRequestOptions {
  /** Multipart boundary to use instead of a random one (deterministic bytes for tests). */
  boundary?: string;
  /** Longest header value arguments may make (`upstream.maxHeaderValueBytes`; default 8 KiB). */
  maxHeaderValueBytes?: number;
}

/**
 * Sent as `Accept`. JSON first, but anything else is acceptable: servers that
 * enforce content negotiation (Spring, ASP.NET) answer 406 to a bare
 * `application/json` on operations that only produce images, files or text.
 */
export const DEFAULT_ACCEPT = 'application/json, */*;q=0.8';

/**
 * Header parameters that are never sent from arguments. OAS 3.1 §4.8.12.1:
 * `Accept`, `Content-Type` and `Authorization` parameters SHALL be ignored.
 * The rest would let an argument change framing, routing or credentials
 * (FRAMING_HEADERS, and proxy credentials).
 */
const IGNORED_HEADERS: ReadonlySet<string> = new Set([
  ...FRAMING_HEADERS,
  'accept',
  'authorization',
  'proxy-authorization',
  'proxy-connection',
]);

const HEADER_INJECTION = /[\r\n\0]/;

/**
 * Builds the backend request for one tool call. `args` must already be
 * validated against the tool's input schema. Throws GatehouseError
 * GH_REQUEST_BUILD_FAILED (naming the argument) when a value cannot be sent.
 */
export function buildRequest(binding: HttpBinding, args: Record<string, unknown>, options?: BuildRequestOptions): BuiltRequest {
  const base = baseUrlPrefix(binding.baseUrl);
  const template = compilePath(binding.path);
  const headers: Record<string, string> = { accept: DEFAULT_ACCEPT };
  const query: string[] = template.fixedQuery === '' ? [] : [template.fixedQuery];
  const cookies: string[] = [];
  const maxHeader = options?.maxHeaderValueBytes ?? DEFAULT_MAX_HEADER_VALUE_BYTES;
  let pathValues: Record<string, string> | undefined;
  let pathArgs: Record<string, string> | undefined;

  for (const param of binding.parameters) {
    const value = args[param.arg];
    try {
      switch (param.in) {
        case 'path':
          pathValues ??= {};
          pathArgs ??= {};
          pathArgs[param.name] = param.arg;
          if (value === undefined || value === null) continue;
          if (isEmptyPathValue(param, value)) throw emptyPathValue(param, binding.path);
          pathValues[param.name] = serializePath(param, value);
          break;
        case 'query':
          if (value !== undefined) serializeQuery(param, value, query);
          break;
        case 'header':
          if (value !== undefined) addHeader(headers, param, value, maxHeader);
          break;
        case 'cookie':
          if (value !== undefined) serializeCookie(param, value, cookies);
          break;
      }
    } catch (err) {
      throw argumentError(param, err);
    }
  }

  let url = base + (template.params.length === 0 ? template.literal : renderPath(template, pathValues ?? {}, pathArgs ?? {}));
  if (query.length > 0) url += '?' + query.join('&');

  if (cookies.length > 0) {
    const cookie = cookies.join('; ');
    checkHeaderValue(cookie, 'cookie parameters', maxHeader);
    headers.cookie = cookie;
  }

  const request: BuiltRequest = { method: binding.method.toUpperCase(), url, headers };
  if (binding.body !== undefined) {
    const value = bodyValue(binding.body, args);
    if (value !== undefined) {
      const encoded = encodeBody(binding.body, value, options?.boundary);
      headers['content-type'] = encoded.contentType;
      request.body = encoded.body;
    }
  }
  return request;
}

function addHeader(headers: Record<string, string>, param: ParameterBinding, value: unknown, maxBytes: number): void {
  const name = param.name.toLowerCase();
  if (IGNORED_HEADERS.has(name)) return;
  if (!HTTP_TOKEN.test(name)) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `Header parameter name "${param.name}" is not a valid HTTP field name.`);
  }
  const text = serializeHeader(param, value);
  if (text === undefined) return;
  checkHeaderValue(text, `argument "${param.arg}" (header ${param.name})`, maxBytes, param.arg);
  headers[name] = text;
}

function checkHeaderValue(text: string, what: string, maxBytes: number, argument?: string): void {
  // Checked first, before any pattern runs over a long value. Any value that
  // passes the checks below is Latin-1, one byte a character: only a longer one
  // can be refused for a reason it does not deserve.
  if (text.length > maxBytes) {
    throw new GatehouseError(
      'GH_REQUEST_BUILD_FAILED',
      `The value of ${what} is ${text.length} characters long; a header value may be at most ${maxBytes} bytes (upstream.maxHeaderValueBytes).`,
      { details: { ...(argument !== undefined ? { argument } : {}), maxBytes } },
    );
  }
  if (HEADER_INJECTION.test(text)) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The value of ${what} contains CR, LF or NUL, which are not allowed in an HTTP header.`);
  }
  if (HEADER_VALUE_INVALID.test(text)) {
    throw new GatehouseError(
      'GH_REQUEST_BUILD_FAILED',
      `The value of ${what} contains control characters (C0 or C1, U+0080–U+009F) or characters outside Latin-1, which cannot be sent in an HTTP header.`,
    );
  }
}

/**
 * An empty path value leaves an empty segment, which addresses another
 * resource: `DELETE /items/{itemId}` with `""` is `DELETE /items/`, the
 * collection, and an empty first segment makes `//x`, which a server that
 * resolves its request target as a URL reads as the authority `x`
 * (RFC 3986 §4.2 network-path reference). Refused like a `.`/`..` segment.
 */
function emptyPathValue(param: ParameterBinding, path: string): GatehouseError {
  return new GatehouseError(
    'GH_REQUEST_BUILD_FAILED',
    `The value of argument "${param.arg}" (path parameter ${param.name}) is empty; a path parameter needs a value, as an empty one would change the request path ${JSON.stringify(path)}.`,
  );
}

function argumentError(param: ParameterBinding, err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  // encodeURIComponent throws URIError for a lone UTF-16 surrogate.
  const reason = err instanceof URIError ? 'contains text that is not valid Unicode' : 'could not be serialised';
  return new GatehouseError('GH_REQUEST_BUILD_FAILED', `The value of argument "${param.arg}" (${param.in} parameter ${param.name}) ${reason}.`, {
    cause: err,
  });
}

// ---------------------------------------------------------------------------
// Base URL

/**
 * Per-string caches of checked base URLs and compiled path templates. Keys
 * come from config and specs, not arguments; the cap only bounds growth
 * across many reloads.
 */
const CACHE_LIMIT = 10_000;
const baseCache = new Map<string, string>();

function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

/** `https://api.example.com/v1/` → `https://api.example.com/v1`, checked once per distinct base URL. */
function baseUrlPrefix(baseUrl: string): string {
  const cached = baseCache.get(baseUrl);
  if (cached !== undefined) return cached;
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch (err) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The backend base URL ${JSON.stringify(baseUrl)} is not an absolute URL.`, { cause: err });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The backend base URL ${JSON.stringify(baseUrl)} must use http or https.`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The backend base URL must not contain credentials; configure backend auth instead.`);
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The backend base URL ${JSON.stringify(baseUrl)} must not contain a query or fragment.`);
  }
  return remember(baseCache, baseUrl, `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`);
}

// ---------------------------------------------------------------------------
// Path templates (OAS 3.1 §4.8.8.1 Path Templating)

type PathPart = string | { param: string };

interface CompiledPath {
  /** The whole path when it has no parameters. */
  literal: string;
  /** Names of the template's parameters. */
  params: string[];
  /** Segments between `/`, each a list of literal text and parameters. */
  segments: PathPart[][];
  /** Text after a `?` in the template (some specs put fixed query parameters there). */
  fixedQuery: string;
}

const pathCache = new Map<string, CompiledPath>();
const PCT_TRIPLET = /(%[0-9A-Fa-f]{2})/;

/** Encodes template text that is not allowed in a path; keeps pchars, `/` and existing triplets. */
function encodeLiteral(text: string): string {
  if (/^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/.test(text)) return text;
  return text
    .split(PCT_TRIPLET)
    .map((piece, i) => (i % 2 === 1 ? piece : encodeURI(piece).replace(/[#?]/g, (c) => (c === '#' ? '%23' : '%3F'))))
    .join('');
}

function compilePath(path: string): CompiledPath {
  const cached = pathCache.get(path);
  if (cached !== undefined) return cached;
  // RFC 3986 §3.5: the fragment starts at the first `#` (a `?` after it is
  // part of the fragment) and is never sent. AWS documents name operations
  // there (`/#Action=DescribeInstances`, `/tags/{resourceArn}#tagKeys`); the
  // request itself carries what the spec declares as parameters.
  const hash = path.indexOf('#');
  const target = hash === -1 ? path : path.slice(0, hash);
  const q = target.indexOf('?');
  let pathPart = q === -1 ? target : target.slice(0, q);
  const fixedQuery = q === -1 ? '' : encodeLiteral(target.slice(q + 1));
  if (!pathPart.startsWith('/')) pathPart = '/' + pathPart;

  const params: string[] = [];
  const segments: PathPart[][] = pathPart.split('/').map((segment) => {
    const parts: PathPart[] = [];
    const re = /\{([^{}]+)\}/g;
    let last = 0;
    for (let m = re.exec(segment); m !== null; m = re.exec(segment)) {
      if (m.index > last) parts.push(encodeLiteral(segment.slice(last, m.index)));
      const name = m[1] as string;
      parts.push({ param: name });
      params.push(name);
      last = m.index + m[0].length;
    }
    if (last < segment.length) parts.push(encodeLiteral(segment.slice(last)));
    return parts;
  });
  const compiled: CompiledPath = {
    literal: segments.map((parts) => parts.join('')).join('/'),
    params,
    segments,
    fixedQuery,
  };
  return remember(pathCache, path, compiled);
}

/** RFC 3986 §5.2.4 dot-segments, also in the forms the WHATWG URL parser treats as dots. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

function renderPath(template: CompiledPath, values: Record<string, string>, argOf: Record<string, string>): string {
  let out = '';
  for (let s = 0; s < template.segments.length; s++) {
    const parts = template.segments[s] as PathPart[];
    let segment = '';
    let fromArgs: string[] | undefined;
    for (const part of parts) {
      if (typeof part === 'string') {
        segment += part;
        continue;
      }
      const value = values[part.param];
      if (value === undefined) {
        const arg = argOf[part.param];
        throw new GatehouseError(
          'GH_REQUEST_BUILD_FAILED',
          arg === undefined
            ? `The path ${JSON.stringify(template.literal)} uses {${part.param}} but the operation declares no such path parameter.`
            : `Missing required path parameter: argument "${arg}" (path parameter ${part.param}).`,
        );
      }
      segment += value;
      (fromArgs ??= []).push(argOf[part.param] ?? part.param);
    }
    if (fromArgs !== undefined && DOT_SEGMENT.test(segment)) {
      throw new GatehouseError(
        'GH_REQUEST_BUILD_FAILED',
        `The value of argument "${fromArgs.join('", "')}" would make the path segment "${segment}", which would change the request path.`,
      );
    }
    out += s === 0 ? segment : '/' + segment;
  }
  return out;
}
