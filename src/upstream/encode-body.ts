/**
 * Request bodies by media type: JSON, form-urlencoded, multipart/form-data,
 * text, and binary. Pure: the multipart boundary is an input.
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors/catalogue.js';
import type { BodyBinding, BodyPropertyEncoding } from '../openapi/tool-definition.js';
import {
  firstConcreteMediaType,
  isJsonMediaType,
  isMediaRange,
  isTextMediaType,
  mediaTypeEssence,
} from './media-type.js';
import {
  appendBrackets,
  encodeUnreserved,
  isPlainObject,
  scalarText,
  serializeQuery,
} from './serialize-parameter.js';

/** A body ready to send, with the Content-Type that describes it. */
export interface EncodedBody {
  body: string | Uint8Array;
  contentType: string;
}

/**
 * A file argument as the tool's input schema describes it to the model:
 * base64 content plus optional name and media type.
 */
export interface FileArgument {
  filename?: string;
  content: string;
  contentType?: string;
}

/** The value the body is made of, or undefined when no body is sent. */
export function bodyValue(binding: BodyBinding, args: Record<string, unknown>): unknown {
  if (binding.mode === 'wrapped') {
    return binding.arg === undefined ? undefined : args[binding.arg];
  }
  const body: Record<string, unknown> = {};
  let present = false;
  if (binding.args !== undefined) {
    for (const argName of Object.keys(binding.args)) {
      const value = args[argName];
      if (value === undefined) continue;
      body[binding.args[argName] as string] = value;
      present = true;
    }
  }
  // An optional body with no properties given is not sent at all.
  return present || binding.required ? body : undefined;
}

/**
 * Encodes `value` for `binding.contentType`. Multipart uses `boundary` when
 * given (tests pass one so the bytes are deterministic), else a random one.
 */
export function encodeBody(binding: BodyBinding, value: unknown, boundary?: string): EncodedBody {
  const contentType = binding.contentType;
  const essence = mediaTypeEssence(contentType);

  if (essence.startsWith('multipart/')) {
    const sendAs = isMediaRange(essence) ? 'multipart/form-data' : essence;
    if (boundary === undefined) boundary = randomBoundary();
    else checkBoundary(boundary);
    // The parameter is quoted unless the boundary is an RFC 9110 token.
    const param = /^[0-9A-Za-z'+_\-.]+$/.test(boundary) ? boundary : `"${boundary}"`;
    return { body: encodeMultipart(asObject(value, 'multipart'), binding.encoding, boundary), contentType: `${sendAs}; boundary=${param}` };
  }
  if (essence === 'application/x-www-form-urlencoded') {
    return { body: encodeForm(asObject(value, 'form'), binding.encoding), contentType };
  }
  if (isJsonMediaType(essence)) {
    return { body: JSON.stringify(value) ?? 'null', contentType };
  }
  if (isMediaRange(essence)) {
    // `*/*`, `application/*`: no concrete type declared; pick one that fits the value.
    if (isFileArgument(value)) {
      const bytes = decodeBase64(value.content, 'file content');
      return { body: bytes, contentType: value.contentType ?? 'application/octet-stream' };
    }
    return typeof value === 'string'
      ? { body: value, contentType: 'text/plain; charset=utf-8' }
      : { body: JSON.stringify(value) ?? 'null', contentType: 'application/json' };
  }
  if (isTextMediaType(essence)) {
    return { body: typeof value === 'object' && value !== null ? JSON.stringify(value) : scalarText(value), contentType };
  }
  // Anything else (application/octet-stream, image/png, application/pdf, …) is
  // binary, which a tool argument carries as base64.
  if (isFileArgument(value)) {
    return { body: decodeBase64(value.content, 'body'), contentType };
  }
  if (typeof value !== 'string') {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The ${essence} request body must be a base64 string, got ${typeName(value)}.`);
  }
  return { body: decodeBase64(value, 'body'), contentType };
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (isPlainObject(value)) return value;
  throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `A ${what} request body must be an object of fields, got ${typeName(value)}.`);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

// ---------------------------------------------------------------------------
// application/x-www-form-urlencoded

function hasStyleFields(enc: BodyPropertyEncoding): boolean {
  return (enc.style !== undefined || enc.explode !== undefined || enc.allowReserved !== undefined);
}

/**
 * Per property (OAS 3.1 §4.8.15):
 * - an Encoding Object with `style`/`explode`/`allowReserved` → RFC 6570
 *   serialisation exactly as for a query parameter;
 * - one with only `contentType` → the value serialised with that media type
 *   (JSON for JSON types), then percent-encoded;
 * - no Encoding Object → bracket notation for arrays and objects
 *   (`metadata[key]=v`, `items[0][price]=x`), which is what form APIs such as
 *   Stripe parse; OAS 3.1.1's default would JSON-encode them instead.
 * Spaces are `%20` (RFC 3986), which every form decoder accepts.
 */
export function encodeForm(fields: Record<string, unknown>, encoding: Record<string, BodyPropertyEncoding> | undefined): string {
  const pairs: string[] = [];
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    if (value === undefined) continue;
    const enc = encoding?.[name];
    if (enc !== undefined && hasStyleFields(enc)) {
      const style = enc.style ?? 'form';
      serializeQuery(
        { name, style, explode: enc.explode ?? style === 'form', allowReserved: enc.allowReserved ?? false },
        value,
        pairs,
      );
      continue;
    }
    const key = encodeFormKey(name);
    if (enc?.contentType !== undefined) {
      const essence = mediaTypeEssence(firstConcreteMediaType(enc.contentType) ?? enc.contentType);
      if (value === null && !isJsonMediaType(essence)) {
        pairs.push(key + '=');
        continue;
      }
      const text = isJsonMediaType(essence) || typeof value === 'object' ? JSON.stringify(value) : scalarText(value);
      pairs.push(key + '=' + encodeUnreserved(text));
      continue;
    }
    appendBrackets(key, value, encodeUnreserved, pairs, true);
  }
  return pairs.join('&');
}

function encodeFormKey(name: string): string {
  return encodeUnreserved(name).replace(/%5B/g, '[').replace(/%5D/g, ']');
}

// ---------------------------------------------------------------------------
// multipart/form-data (RFC 7578)

const CRLF = '\r\n';

/** A value shaped like a file argument: `{ content: base64, filename?, contentType? }` and nothing else. */
export function isFileArgument(value: unknown): value is FileArgument {
  if (!isPlainObject(value) || typeof value.content !== 'string') return false;
  for (const key of Object.keys(value)) {
    if (key === 'content') continue;
    if (key !== 'filename' && key !== 'contentType') return false;
    if (value[key] !== undefined && typeof value[key] !== 'string') return false;
  }
  return true;
}

/**
 * One part per property, in property order; arrays become one part per item
 * under the same name (RFC 7578 §4.3). Part kinds:
 * - a file argument → a file part (filename, its contentType or the
 *   Encoding Object's or `application/octet-stream`), content base64-decoded;
 * - a string whose Encoding Object `contentType` is binary (the importer sets
 *   this for `format: binary` / `contentEncoding` properties, whose OAS default
 *   is `application/octet-stream`) → a file part from the base64 string;
 * - an object → a JSON part (`application/json`);
 * - anything else → a text part (no Content-Type: text/plain is the default,
 *   RFC 7578 §4.4), JSON-serialised if the Encoding Object says JSON.
 */
export function encodeMultipart(
  fields: Record<string, unknown>,
  encoding: Record<string, BodyPropertyEncoding> | undefined,
  boundary: string,
): Buffer {
  const chunks: Buffer[] = [];
  const delimiter = Buffer.from(`--${boundary}${CRLF}`, 'latin1');
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    if (value === undefined || value === null) continue;
    const declared = encoding?.[name]?.contentType;
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (item === undefined || item === null) continue;
      const part = multipartPart(name, item, declared);
      chunks.push(delimiter, Buffer.from(part.head, 'utf8'), part.data, Buffer.from(CRLF, 'latin1'));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--${CRLF}`, 'latin1'));
  return Buffer.concat(chunks);
}

/** 128 random bits: the chance of it occurring in a part is negligible (RFC 2046 §5.1.1). */
function randomBoundary(): string {
  return 'gatehouse-' + randomBytes(16).toString('hex');
}

/** RFC 2046 §5.1.1: 1–70 `bchars`, not ending in a space. */
function checkBoundary(boundary: string): void {
  if (!/^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `Invalid multipart boundary ${JSON.stringify(boundary)} (RFC 2046 §5.1.1).`);
  }
}

function multipartPart(name: string, value: unknown, declared: string | undefined): { head: string; data: Buffer } {
  const disposition = `Content-Disposition: form-data; name="${escapeDispositionValue(name)}"`;
  const declaredType = firstConcreteMediaType(declared);
  const declaredEssence = declared === undefined ? '' : mediaTypeEssence(declaredType ?? declared);

  if (isFileArgument(value)) {
    const type = value.contentType ?? declaredType ?? 'application/octet-stream';
    const filename = value.filename ?? name;
    return {
      head: `${disposition}; filename="${escapeDispositionValue(filename)}"${CRLF}Content-Type: ${checkPartHeader(type, name)}${CRLF}${CRLF}`,
      data: decodeBase64(value.content, `file field "${name}"`),
    };
  }
  if (typeof value === 'string' && declared !== undefined && isBinaryDeclared(declaredEssence)) {
    const type = declaredType ?? 'application/octet-stream';
    return {
      head: `${disposition}; filename="${escapeDispositionValue(name)}"${CRLF}Content-Type: ${checkPartHeader(type, name)}${CRLF}${CRLF}`,
      data: decodeBase64(value, `file field "${name}"`),
    };
  }
  if (typeof value === 'object' || (declared !== undefined && isJsonMediaType(declaredEssence))) {
    const type = declaredType ?? 'application/json';
    return {
      head: `${disposition}${CRLF}Content-Type: ${checkPartHeader(type, name)}${CRLF}${CRLF}`,
      data: Buffer.from(JSON.stringify(value), 'utf8'),
    };
  }
  const typeHeader = declaredType === undefined ? '' : `Content-Type: ${checkPartHeader(declaredType, name)}${CRLF}`;
  return { head: `${disposition}${CRLF}${typeHeader}${CRLF}`, data: Buffer.from(scalarText(value), 'utf8') };
}

function isBinaryDeclared(essence: string): boolean {
  return essence !== '' && !isTextMediaType(essence);
}

/**
 * Field names and filenames inside `Content-Disposition` quotes: `"`, CR and
 * LF are percent-encoded as the HTML multipart/form-data encoding algorithm
 * does, so a filename cannot end the header or add new ones.
 */
function escapeDispositionValue(value: string): string {
  return value.replace(/["\r\n]/g, (c) => (c === '"' ? '%22' : c === '\r' ? '%0D' : '%0A'));
}

function checkPartHeader(value: string, field: string): string {
  if (/[^\t\x20-\x7e]/.test(value)) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The content type of multipart field "${field}" contains characters not allowed in a header.`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// base64

const DATA_URL = /^data:[^,]*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/**
 * Strict base64 (standard or URL-safe alphabet, padding optional, whitespace
 * ignored; a `data:…;base64,` prefix is accepted). Buffer.from would silently
 * skip invalid characters and send corrupt bytes.
 */
export function decodeBase64(text: string, what: string): Buffer {
  let s = DATA_URL.test(text) ? text.slice(text.indexOf(',') + 1) : text;
  if (/\s/.test(s)) s = s.replace(/\s+/g, '');
  if (!BASE64.test(s) || s.replace(/=+$/, '').length % 4 === 1) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', `The ${what} must be base64-encoded; the value given is not valid base64.`);
  }
  // Node's base64 decoder accepts both alphabets.
  return Buffer.from(s, 'base64');
}
