/**
 * OpenAPI parameter serialisation: the style/explode matrix of OAS 3.1
 * §4.8.12.4 (Style Values) and §4.8.12.6 (Style Examples), which follows
 * RFC 6570 URI Templates for `matrix`, `label`, `simple` and `form`.
 *
 * Every function here is pure and works on already-validated argument values.
 * Values RFC 6570 §2.3 calls *undefined* (null, an empty array, an empty
 * object) produce nothing; the empty string is a value.
 */
import type { ParameterStyle } from '../openapi/tool-definition.js';

// ---------------------------------------------------------------------------
// Percent-encoding (RFC 3986 §2)

/** RFC 3986 §2.3 unreserved characters: never encoded. */
const UNRESERVED_ONLY = /^[A-Za-z0-9\-._~]*$/;
/** The characters `encodeURIComponent` leaves alone although RFC 3986 reserves them. */
const COMPONENT_LEFTOVERS = /[!'()*]/g;

function hex(c: string): string {
  return '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
}

/**
 * Percent-encodes everything except RFC 3986 unreserved characters (UTF-8).
 * Throws URIError on a lone surrogate, which has no UTF-8 form.
 */
export function encodeUnreserved(value: string): string {
  if (UNRESERVED_ONLY.test(value)) return value;
  return encodeURIComponent(value).replace(COMPONENT_LEFTOVERS, hex);
}

/** Unreserved, the reserved characters we let through, and `%` (checked separately). */
const ALLOW_RESERVED_ONLY = /^[A-Za-z0-9\-._~:/?@!$'()*,;]*$/;
const PCT_TRIPLET = /(%[0-9A-Fa-f]{2})/;
/** Reserved characters `encodeURI` leaves alone that must still be encoded in a query. */
const QUERY_UNSAFE_RESERVED = /[#&=+]/g;

/**
 * `allowReserved: true` (RFC 6570 §3.2.3 reserved expansion): RFC 3986
 * reserved characters and existing percent-encoded triplets pass through.
 * Still encoded, as OAS 3.1 §4.8.15.1.2 requires: `[ ]` and `#` (not allowed
 * in a query) and `& = +` (delimiters in form-urlencoded) — which is also what
 * keeps an argument from adding query parameters or truncating the query
 * (DESIGN.md decision 5).
 */
export function encodeAllowReserved(value: string): string {
  if (ALLOW_RESERVED_ONLY.test(value)) return value;
  const pieces = value.split(PCT_TRIPLET);
  let out = '';
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as string;
    // split() with a capture group puts the triplets at odd indexes.
    out += i % 2 === 1 ? piece : encodeURI(piece).replace(QUERY_UNSAFE_RESERVED, hex);
  }
  return out;
}

/**
 * A query parameter name: percent-encoded, except that `[` and `]` stay
 * literal so names such as `filter[status]` (JSON:API) and deepObject keys
 * look the way servers expect them.
 */
export function encodeQueryName(name: string): string {
  if (UNRESERVED_ONLY.test(name)) return name;
  return encodeUnreserved(name).replace(/%5B/g, '[').replace(/%5D/g, ']');
}

/**
 * A cookie value: characters outside RFC 6265 §4.1.1 `cookie-octet` (CTLs,
 * space, `"` `,` `;` `\` and non-ASCII) are percent-encoded, as is `%` so that
 * the encoding is reversible. Base64 tokens (`+/=`) pass unchanged, unlike
 * RFC 6570 form encoding (see OAS 3.1 Appendix D.1).
 */
export function encodeCookieValue(value: string): string {
  if (COOKIE_SAFE_ONLY.test(value)) return value;
  return encodeURIComponent(value).replace(COOKIE_RESTORE, decodeURIComponent);
}
const COOKIE_SAFE_ONLY = /^[!#$&-+\--:<-[\]-~]*$/;
/** Triplets `encodeURIComponent` produced for characters that are valid cookie-octets. */
const COOKIE_RESTORE = /%(?:23|24|26|2B|2F|3A|3C|3D|3E|3F|40|5B|5D|5E|60|7B|7C|7D)/g;

// ---------------------------------------------------------------------------
// Values

/** One parameter value, normalised for RFC 6570 expansion. */
type Expandable =
  | { kind: 'primitive'; value: string }
  | { kind: 'array'; items: string[] }
  | { kind: 'object'; entries: Array<[string, string]> };

/**
 * A scalar as text. Nested arrays/objects have no defined serialisation in the
 * style matrix; they are sent as compact JSON, which is at least parseable.
 */
export function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return '';
  return JSON.stringify(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expandable(value: unknown): Expandable | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (const item of value) if (item !== undefined) items.push(scalarText(item));
    return items.length === 0 ? undefined : { kind: 'array', items };
  }
  if (isPlainObject(value)) {
    const entries: Array<[string, string]> = [];
    for (const key of Object.keys(value)) {
      const v = value[key];
      if (v !== undefined) entries.push([key, scalarText(v)]);
    }
    return entries.length === 0 ? undefined : { kind: 'object', entries };
  }
  return { kind: 'primitive', value: scalarText(value) };
}

/** `content`-based parameters (OAS 3.1 §4.8.12.3): serialise with the media type, then encode as one value. */
export function contentText(value: unknown, contentType: string): string {
  const essence = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (typeof value === 'string' && !(essence === 'application/json' || essence.endsWith('+json'))) return value;
  return JSON.stringify(value) ?? '';
}

function joinEncoded(items: readonly string[], sep: string, enc: (s: string) => string): string {
  let out = '';
  for (let i = 0; i < items.length; i++) out += (i === 0 ? '' : sep) + enc(items[i] as string);
  return out;
}

function flattenEntries(entries: ReadonlyArray<[string, string]>): string[] {
  const flat: string[] = [];
  for (const [k, v] of entries) flat.push(k, v);
  return flat;
}

// ---------------------------------------------------------------------------
// Query (and application/x-www-form-urlencoded, which shares the rules)

export interface QuerySerialization {
  name: string;
  style: ParameterStyle;
  explode: boolean;
  allowReserved: boolean;
  contentType?: string | undefined;
}

/**
 * Appends the `name=value` pairs (already encoded, without `&`) for one query
 * parameter to `out`. Styles `form`, `spaceDelimited`, `pipeDelimited` and
 * `deepObject`; path-only styles fall back to `form`.
 */
export function serializeQuery(param: QuerySerialization, value: unknown, out: string[]): void {
  const name = encodeQueryName(param.name);
  const enc = param.allowReserved ? encodeAllowReserved : encodeUnreserved;

  if (param.contentType !== undefined) {
    if (value === undefined) return;
    out.push(name + '=' + enc(contentText(value, param.contentType)));
    return;
  }
  if (param.style === 'deepObject') {
    // OAS defines deepObject only for objects with explode: true; arrays and
    // nesting follow the bracket convention (qs, Rails, Stripe) with indexes.
    if (value === null || value === undefined) return;
    if (typeof value !== 'object') {
      out.push(name + '=' + enc(scalarText(value)));
      return;
    }
    appendBrackets(name, value, enc, out, false);
    return;
  }

  // form, and the n/a exploded spaceDelimited/pipeDelimited, repeat pairs when exploded.
  const sep = param.style === 'spaceDelimited' ? '%20' : param.style === 'pipeDelimited' ? '|' : ',';
  appendForm(name, value, param.explode, sep, enc, encodeQueryName, out);
}

/**
 * RFC 6570 form-style expansion (`name=v`, `name=a&name=b` or `name=a,b`;
 * objects as `k=v` pairs or `name=k,v`), shared by query and cookie parameters,
 * which differ only in how names and values are encoded.
 */
function appendForm(
  name: string,
  value: unknown,
  explode: boolean,
  sep: string,
  enc: (s: string) => string,
  encName: (s: string) => string,
  out: string[],
): void {
  const v = expandable(value);
  if (v === undefined) return;
  if (v.kind === 'primitive') {
    out.push(name + '=' + enc(v.value));
    return;
  }
  if (explode) {
    if (v.kind === 'array') for (const item of v.items) out.push(name + '=' + enc(item));
    else for (const [k, val] of v.entries) out.push(encName(k) + '=' + enc(val));
    return;
  }
  const items = v.kind === 'array' ? v.items : flattenEntries(v.entries);
  out.push(name + '=' + joinEncoded(items, sep, enc));
}

/**
 * Bracket notation, `name[key][0]=v`: deepObject (OAS 3.1 §4.8.12.4) extended
 * to nesting and arrays the way form APIs parse it. Brackets stay literal,
 * which is what qs, Rails, PHP and Stripe expect. With `nullAsEmpty`, null
 * becomes an empty value (`name[key]=`, how such APIs unset a field);
 * otherwise it is omitted like any RFC 6570 undefined value.
 */
export function appendBrackets(
  prefix: string,
  value: unknown,
  enc: (s: string) => string,
  out: string[],
  nullAsEmpty: boolean,
): void {
  if (value === undefined) return;
  if (value === null) {
    if (nullAsEmpty) out.push(prefix + '=');
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) appendBrackets(`${prefix}[${i}]`, value[i], enc, out, nullAsEmpty);
    return;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) appendBrackets(`${prefix}[${encodeQueryName(key)}]`, value[key], enc, out, nullAsEmpty);
    return;
  }
  out.push(prefix + '=' + enc(scalarText(value)));
}

// ---------------------------------------------------------------------------
// Path

/**
 * The expansion of one path parameter: `simple` (default), `label`, `matrix`.
 * Always fully percent-encoded — `allowReserved` never applies to a path, so
 * `/`, `?` and `#` in a value cannot change the request target. Undefined
 * values expand to nothing (RFC 6570 §2.3).
 */
export function serializePath(
  param: { name: string; style: ParameterStyle; explode: boolean; contentType?: string | undefined },
  value: unknown,
): string {
  const enc = encodeUnreserved;
  if (param.contentType !== undefined) {
    if (value === undefined || value === null) return '';
    return prefixFor(param.style, param.name) + enc(contentText(value, param.contentType));
  }
  const v = expandable(value);
  if (v === undefined) return '';
  const { style, explode } = param;
  const name = enc(param.name);

  if (style === 'matrix') {
    if (v.kind === 'primitive') return v.value === '' ? ';' + name : ';' + name + '=' + enc(v.value);
    if (v.kind === 'array') {
      return explode ? ';' + name + '=' + joinEncoded(v.items, ';' + name + '=', enc) : ';' + name + '=' + joinEncoded(v.items, ',', enc);
    }
    if (explode) {
      let out = '';
      for (const [k, val] of v.entries) out += ';' + enc(k) + (val === '' ? '' : '=' + enc(val));
      return out;
    }
    return ';' + name + '=' + joinEncoded(flattenEntries(v.entries), ',', enc);
  }

  if (style === 'label') {
    // RFC 6570 §3.2.5 and the OAS 3.1.1+ Style Examples table: commas unless
    // exploded (OAS 3.1.0's table showed dots for both, an erratum).
    if (v.kind === 'primitive') return '.' + enc(v.value);
    if (v.kind === 'array') return '.' + joinEncoded(v.items, explode ? '.' : ',', enc);
    if (explode) return '.' + v.entries.map(([k, val]) => enc(k) + '=' + enc(val)).join('.');
    return '.' + joinEncoded(flattenEntries(v.entries), ',', enc);
  }

  // simple (and any query-only style misapplied to a path)
  if (v.kind === 'primitive') return enc(v.value);
  if (v.kind === 'array') return joinEncoded(v.items, ',', enc);
  if (explode) return v.entries.map(([k, val]) => enc(k) + '=' + enc(val)).join(',');
  return joinEncoded(flattenEntries(v.entries), ',', enc);
}

/**
 * True when a path value has no text of its own: its `simple` expansion is
 * empty (`""`, an array or object RFC 6570 §2.3 calls undefined, `[""]`, a
 * `content` value serialised to nothing). Whatever the style, such a value
 * leaves a segment empty or holding only a `.`/`;name` prefix, so the caller
 * refuses it rather than send a request to another resource.
 */
export function isEmptyPathValue(param: { contentType?: string | undefined }, value: unknown): boolean {
  if (param.contentType !== undefined) return contentText(value, param.contentType) === '';
  const v = expandable(value);
  if (v === undefined) return true;
  if (v.kind === 'primitive') return v.value === '';
  if (v.kind === 'array') return v.items.length === 1 && v.items[0] === '';
  return false;
}

function prefixFor(style: ParameterStyle, name: string): string {
  if (style === 'matrix') return ';' + encodeUnreserved(name) + '=';
  if (style === 'label') return '.';
  return '';
}

// ---------------------------------------------------------------------------
// Header and cookie

/**
 * A header value, `simple` style. Not percent-encoded: OAS 3.1 Appendix D
 * (as corrected in 3.1.2) leaves header escaping to the application; the
 * caller checks the characters. Undefined when there is nothing to send.
 */
export function serializeHeader(param: { explode: boolean; contentType?: string | undefined }, value: unknown): string | undefined {
  if (param.contentType !== undefined) return value === undefined || value === null ? undefined : contentText(value, param.contentType);
  const v = expandable(value);
  if (v === undefined) return undefined;
  if (v.kind === 'primitive') return v.value;
  if (v.kind === 'array') return v.items.join(',');
  if (param.explode) return v.entries.map(([k, val]) => k + '=' + val).join(',');
  return flattenEntries(v.entries).join(',');
}

/**
 * Cookie pairs for one `form` style cookie parameter, appended to `out`
 * (joined later with `; `). Exploded arrays and objects become several pairs,
 * since cookie pairs are delimited by `; `, never `&` (OAS 3.1 Appendix D.1).
 */
export function serializeCookie(
  param: { name: string; explode: boolean; contentType?: string | undefined },
  value: unknown,
  out: string[],
): void {
  const name = encodeCookieValue(param.name);
  if (param.contentType !== undefined) {
    if (value !== undefined && value !== null) out.push(name + '=' + encodeCookieValue(contentText(value, param.contentType)));
    return;
  }
  appendForm(name, value, param.explode, ',', encodeCookieValue, encodeCookieValue, out);
}
