/**
 * DNS rebinding protection for every route but the probes (MCP 2025-11-25
 * basic/transports#security-warning): the Host header, and a browser's Origin
 * when one is sent, must name an allowed host. app.ts applies it once, before
 * any route is chosen.
 *
 * The MCP SDK has the same check, but it lives in the SDK's main module (about
 * 30 MB once loaded); the ai-proxy, /metrics and the admin API answer without
 * loading the SDK at all, so every route uses this one. Same rules as the SDK's: hostnames compared
 * without the port, IPv6 literals in brackets, a missing Host refused, an
 * Origin that is not a URL refused, no Origin allowed.
 */

/** Why the request's Host is not allowed, or undefined when it is. */
export function hostRefusal(host: string | undefined, allowed: ReadonlySet<string>): string | undefined {
  if (host === undefined || host === '') return 'Missing Host header';
  const name = hostnameOf(`http://${host}`);
  if (name === undefined) return `Invalid Host header: ${host}`;
  return allowed.has(name) ? undefined : `Invalid Host: ${name}`;
}

/** Why the request's Origin is not allowed, or undefined when it is (or there is none). */
export function originRefusal(origin: string | undefined, allowed: ReadonlySet<string>): string | undefined {
  if (origin === undefined) return undefined;
  const name = hostnameOf(origin);
  if (name === undefined) return `Invalid Origin header: ${origin}`;
  return allowed.has(name) ? undefined : `Invalid Origin: ${name}`;
}

function hostnameOf(url: string): string | undefined {
  try {
    const { hostname } = new URL(url);
    return hostname === '' ? undefined : hostname;
  } catch {
    return undefined;
  }
}
