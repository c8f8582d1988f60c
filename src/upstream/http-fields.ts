/** HTTP field rules shared by request building and backend credentials. */

/** RFC 9110 §5.1 field-name (`token`). */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Characters a field value Gatehouse sends may not carry: the C0 controls but
 * HTAB, DEL (RFC 9110 §5.5), and the C1 controls U+0080–U+009F. RFC 9110 lets
 * the bytes 0x80–0x9F through as obs-text, but a value made of text (a tool
 * argument, a credential) is sent as Latin-1, where they are control
 * characters again: NEL (U+0085) is a line break to Unicode-aware parsers and
 * CSI (U+009B) starts a terminal escape in a backend's logs. A sender may
 * refuse what a recipient would have to tolerate; U+00A0–U+00FF pass.
 */
export const HEADER_VALUE_INVALID = /[^\t\x20-\x7e\xa0-\xff]/;

/**
 * Default cap on one header value built from tool arguments (a header
 * parameter, the Cookie built from cookie parameters): 8 KiB, the per-line
 * limit of common servers and proxies (nginx `large_client_header_buffers`,
 * Apache `LimitRequestFieldSize`); a larger value would only be refused by them.
 */
export const DEFAULT_MAX_HEADER_VALUE_BYTES = 8192;

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
