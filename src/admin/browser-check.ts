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
import { jsonContentTypeRefusal } from '../http/content-type-check.js';
import { isOwnOrigin, type OwnOrigin } from '../http/host-check.js';

/** Own origin by the request's Host alone: what the Host check establishes on a loopback bind. */
const BY_HOST: OwnOrigin = { publicOrigin: undefined, hostChecked: true };

/** Why an /admin request is refused, or undefined when it is not a cross-site browser request. */
export function adminBrowserRefusal(
  method: string | undefined,
  headers: IncomingHttpHeaders,
  own: OwnOrigin = BY_HOST,
): { code: 'GH_ADMIN_CROSS_SITE' | 'GH_ADMIN_CONTENT_TYPE'; message: string } | undefined {
  const origin = headers.origin;
  // The same notion of "own origin" as the Origin check in front of every route (host-check.ts),
  // without server.allowedOrigins: those are pages allowed to call /mcp, not to change backends.
  if (origin !== undefined && !isOwnOrigin(origin, headers.host, own)) {
    return { code: 'GH_ADMIN_CROSS_SITE', message: `the admin API does not answer pages of other sites (Origin: ${origin.slice(0, 200)})` };
  }
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return { code: 'GH_ADMIN_CROSS_SITE', message: `the admin API does not answer pages of other sites (Sec-Fetch-Site: ${site})` };
  }
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const refused = jsonContentTypeRefusal(headers['content-type'], 'admin writes');
    if (refused !== undefined) return { code: 'GH_ADMIN_CONTENT_TYPE', message: refused };
  }
  return undefined;
}
