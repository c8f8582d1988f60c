/**
 * Writes must be JSON. A page on another site can make a browser send a POST
 * without asking first (no CORS preflight) only with one of the CORS-safelisted
 * types (Fetch standard §2.2.2 "CORS-safelisted request-header": text/plain,
 * application/x-www-form-urlencoded, multipart/form-data); anything else, JSON
 * included, needs a preflight the gateway never answers. So a body that must be
 * `application/json` is one no form and no cross-site `fetch` can deliver.
 * The programs the gateway serves (MCP clients, the OpenAI and Anthropic SDKs,
 * the CLI) always send `application/json`.
 */

/** The media type of a Content-Type header, lower-cased and without parameters (RFC 9110 §8.3.1). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** Why a body sent with this Content-Type is refused (`what` names the request), or undefined for JSON. */
export function jsonContentTypeRefusal(header: string | undefined, what: string): string | undefined {
  const type = mediaType(header);
  if (type === 'application/json') return undefined;
  return `${what} must be sent as Content-Type: application/json${type === '' ? '' : ` (got ${type.slice(0, 100)})`}`;
}
