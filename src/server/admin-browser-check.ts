/**
 * The admin API answers programs (the CLI, curl, scripts), not web pages: a
 * page on another site must not be able to make a visitor's browser change
 * backends (CSRF), even where the Host check passes (a page on another port of
 * localhost is "same-site" and sends `Host: localhost`).
 *
 * A request is refused when a browser says it comes from elsewhere:
 * - an `Origin` (RFC 6454 §7) that is not the gateway's own: the request's own
 *   Host over http or https, or `server.publicUrl`'s origin; `Origin: null`
 *   (sandboxed frames, redirects, file: pages) is never the gateway's own;
 * - `Sec-Fetch-Site: cross-site` or `same-site` (W3C Fetch Metadata §2.4), which
 *   browsers send even on requests without an Origin (a no-cors GET);
 * - a write (POST, PUT, PATCH) whose Content-Type is not `application/json`:
 *   only the three CORS-safelisted types (Fetch standard §2.2.2: form-urlencoded,
 *   multipart, text/plain) can be sent cross-origin without a preflight, and the
 *   gateway answers no preflight, so no form or `fetch` from a page gets through.
 *   DELETE always needs a preflight, so it needs no such rule.
 *
 * Clients that are not browsers send none of these headers and are not affected.
 * A console the gateway serves itself from its own origin passes: its requests
 * carry the gateway's own Origin (or `Sec-Fetch-Site: same-origin`) and JSON.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Why an /admin request is refused, or undefined when it is not a cross-site browser request. */
export function adminBrowserRefusal(
  method: string | undefined,
  headers: IncomingHttpHeaders,
  publicOrigin: string | undefined,
): { code: 'GH_ADMIN_CROSS_SITE' | 'GH_ADMIN_CONTENT_TYPE'; message: string } | undefined {
  const origin = headers.origin;
  if (origin !== undefined && !isOwnOrigin(origin, headers.host, publicOrigin)) {
    return { code: 'GH_ADMIN_CROSS_SITE', message: `the admin API does not answer pages of other sites (Origin: ${origin.slice(0, 200)})` };
  }
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return { code: 'GH_ADMIN_CROSS_SITE', message: `the admin API does not answer pages of other sites (Sec-Fetch-Site: ${site})` };
  }
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const type = (headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      return { code: 'GH_ADMIN_CONTENT_TYPE', message: `admin writes must be sent as Content-Type: application/json${type === '' ? '' : ` (got ${type.slice(0, 100)})`}` };
    }
  }
  return undefined;
}

function isOwnOrigin(origin: string, host: string | undefined, publicOrigin: string | undefined): boolean {
  if (origin === 'null' || host === undefined) return false;
  let given: string;
  try {
    given = new URL(origin).origin;
  } catch {
    return false;
  }
  if (given === publicOrigin) return true;
  // The Host has passed the allow-list already; a TLS-terminating proxy in front may make the page https.
  return ['http', 'https'].some((scheme) => {
    try {
      return new URL(`${scheme}://${host}`).origin === given;
    } catch {
      return false;
    }
  });
}
