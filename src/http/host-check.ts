/**
 * DNS rebinding and cross-origin protection for every route but the probes
 * (MCP 2025-11-25 basic/transports#security-warning): the Host header, and a
 * browser's Origin when one is sent, must be allowed. server/app.ts applies it once,
 * before any route is chosen.
 *
 * The MCP SDK has a Host check too, but it lives in the SDK's main module (about
 * 30 MB once loaded); the ai-proxy, /metrics and the admin API answer without
 * loading the SDK at all, so every route uses this one. Host names are compared
 * without the port (IPv6 literals in brackets, a missing Host refused), as the
 * SDK does.
 *
 * An Origin is compared as a whole origin, scheme, host and port (RFC 6454 §5):
 * a page on another port of localhost is another origin, though its host name
 * is the gateway's. Allowed are the gateway's own origin (see {@link isOwnOrigin})
 * and `server.allowedOrigins`. `Origin: null` and values that are not URLs are
 * refused; no Origin (a program, not a page) is allowed.
 */
import type { IncomingMessage } from 'node:http';
import type { GatehouseConfig } from '../config/schema.js';
import { hostnameOf, originAllowList, originOf, type OriginAllowList } from '../config/origins.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

/** The check `server` configures, and the notion of the gateway's own origin it rests on (the admin browser check's too). */
export interface RebindingCheck {
  /** Why this request's Host or Origin is refused (undefined: allowed). */
  refusal(req: IncomingMessage): string | undefined;
  own: OwnOrigin;
}

export function createRebindingCheck(server: GatehouseConfig['server']): RebindingCheck {
  const publicUrl = server.publicUrl ? new URL(server.publicUrl) : undefined;
  // Bound to loopback, only loopback Host names are accepted unless configured.
  const hosts = new Set([...(isLoopbackHost(server.host) ? LOOPBACK_NAMES : []), ...server.allowedHosts, ...(publicUrl ? [publicUrl.hostname] : [])]);
  // A browser's Origin must be allowed too, whenever one is sent: the gateway's own origin, or one
  // server.allowedOrigins names (compared whole: another port of localhost is another site).
  const own: OwnOrigin = { publicOrigin: publicUrl?.origin, hostChecked: hosts.size > 0 };
  const origins = originAllowList(server.allowedOrigins);
  return {
    own,
    refusal(req) {
      const origin = req.headers.origin;
      return (hosts.size > 0 ? hostRefusal(req.headers.host, hosts) : undefined) ?? originRefusal(typeof origin === 'string' ? origin : undefined, req.headers.host, own, origins);
    },
  };
}

/**
 * Host header → its host name (null: not a host), remembered. Every request is
 * checked, a client sends the same Host with each, and parsing it with the WHATWG
 * URL parser was about 1.5% of the gateway's CPU time under load (a profile of
 * `bench/tools-call.mjs`). The parser stays the authority: a value is parsed
 * once, and the map is bounded (cleared when full) whatever Hosts clients send.
 */
const hostNames = new Map<string, string | null>();
const HOST_NAMES_MAX = 256;
const HOST_KEY_MAX = 300;

function hostNameOfHeader(host: string): string | undefined {
  const known = hostNames.get(host);
  if (known !== undefined) return known ?? undefined;
  const name = hostnameOf(`http://${host}`);
  if (host.length <= HOST_KEY_MAX) {
    if (hostNames.size >= HOST_NAMES_MAX) hostNames.clear();
    hostNames.set(host, name ?? null);
  }
  return name;
}

/** Why the request's Host is not allowed, or undefined when it is. */
export function hostRefusal(host: string | undefined, allowed: ReadonlySet<string>): string | undefined {
  if (host === undefined || host === '') return 'Missing Host header';
  const name = hostNameOfHeader(host);
  if (name === undefined) return `Invalid Host header: ${host}`;
  return allowed.has(name) ? undefined : `Invalid Host: ${name}`;
}

/** What counts as the gateway's own origin. */
export interface OwnOrigin {
  /** `server.publicUrl`'s origin, if set. */
  publicOrigin: string | undefined;
  /**
   * True when the Host passed an allow-list (always on a loopback bind): only then is
   * `http(s)://Host` the gateway's own origin. With no Host check, a rebound name's page
   * sends its own name as Host and Origin alike, so the Host proves nothing.
   */
  hostChecked: boolean;
}

/** Why the request's Origin is not allowed, or undefined when it is (or there is none). */
export function originRefusal(origin: string | undefined, host: string | undefined, own: OwnOrigin, allowed: OriginAllowList): string | undefined {
  if (origin === undefined) return undefined;
  const given = origin === 'null' ? undefined : originOf(origin);
  if (given === undefined) return `Invalid Origin header: ${origin.slice(0, 200)}`;
  if (isOwnOrigin(given, host, own) || allowed.origins.has(given) || allowed.hostnames.has(new URL(given).hostname)) return undefined;
  return `Invalid Origin: ${given}`;
}

/**
 * Whether `origin` (serialised, or any URL) is the gateway's own: `server.publicUrl`'s origin,
 * or the request's own Host over http or https (a TLS-terminating proxy in front may make the
 * page https) once that Host passed the allow-list. `null` and non-URLs are never its own.
 */
export function isOwnOrigin(origin: string, host: string | undefined, own: OwnOrigin): boolean {
  const given = originOf(origin);
  if (given === undefined) return false;
  if (given === own.publicOrigin) return true;
  if (!own.hostChecked || host === undefined || host === '') return false;
  return originOf(`http://${host}`) === given || originOf(`https://${host}`) === given;
}
