/** HTTP field rules shared by request building and backend credentials. */

/** RFC 9110 §5.1 field-name (`token`). */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Characters a field value cannot carry (RFC 9110 §5.5: controls other than HTAB). */
export const HEADER_VALUE_INVALID = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Fields that frame or route the message, or that Gatehouse builds itself:
 * neither a tool argument nor a configured credential may set them
 * (RFC 9110 §7.2 Host, RFC 9112 §6 framing, hop-by-hop fields; `Cookie` is
 * built from cookie parameters and credentials, `Content-Type` from the body).
 */
export const FRAMING_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'cookie',
  'content-type',
]);
