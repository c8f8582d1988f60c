/**
 * The form of an `admin.specUrls` entry, checked when the config loads: a host
 * name, `*.` and a host name, an IP address or a CIDR block. What the entries
 * allow is openapi/spec-url-policy.ts, which compiles them.
 */
import { createRequire } from 'node:module';
import type IpAddr from 'ipaddr.js';

// Loaded on first use (DESIGN.md decision 12): every start reads the config, few set admin.specUrls.
// ipaddr.js is CommonJS, so a synchronous require serves the synchronous config check.
let loadedIpaddr: typeof IpAddr | undefined;
const ipaddr = (): typeof IpAddr => (loadedIpaddr ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr);

/**
 * Why an `admin.specUrls` entry is not valid, or undefined when it is. Host
 * globs are a single leading `*.` only (as in TLS certificates, RFC 6125 §6.4.3):
 * a general glob library would also accept `*` or `*internal*`, which allow far
 * more than anyone listing an internal host means to.
 */
export function specUrlEntryProblem(raw: string): string | undefined {
  const entry = normaliseHostName(raw);
  if (entry.includes('/')) {
    if (!ipaddr().isValidCIDR(entry)) return `"${entry}" is not a CIDR block (expected e.g. 10.0.0.0/8 or fd00::/8)`;
    return undefined;
  }
  if (ipaddr().isValid(unbracket(entry))) return strictIp(unbracket(entry)) ? undefined : `"${entry}" is not an IP address in standard form`;
  const name = entry.startsWith('*.') ? entry.slice(2) : entry;
  if (!HOST_NAME.test(name)) return `"${entry}" is not a host name, "*." followed by a host name, an IP address or a CIDR block`;
  return undefined;
}

/** Names compare case-insensitively and without the root's trailing dot (RFC 1034 §3.1). */
export function normaliseHostName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** `[::1]` → `::1`: an IPv6 literal as a URL carries it, as an address. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Host names as URLs carry them (already lower-cased and punycoded by the URL parser). */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** ipaddr.isValid accepts legacy forms (`0x7f.1`, `2130706433`); a config entry must be written plainly. */
function strictIp(text: string): boolean {
  return ipaddr().IPv4.isValidFourPartDecimal(text) || (text.includes(':') && ipaddr().IPv6.isValid(text));
}
