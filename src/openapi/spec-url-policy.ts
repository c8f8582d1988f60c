/**
 * Which hosts a spec URL registered through the admin API may point at
 * (`admin.specUrls`). Without a rule the admin API would let whoever reaches it
 * make the gateway send requests into its own network (SSRF): cloud metadata at
 * 169.254.169.254, services bound to loopback, private subnets.
 *
 * The default allows a host only when every address it resolves to is public
 * unicast (IANA special-purpose registries, RFC 6890, as ipaddr.js classifies
 * them: loopback, private, link-local, CGNAT 100.64/10, unique-local fc00::/7,
 * unspecified 0.0.0.0 and ::, multicast, reserved, NAT64 and 6to4 forms are all
 * refused). IPv4-mapped IPv6 addresses are judged as the IPv4 address they
 * carry. Entries of `admin.specUrls` widen that: a host name (`specs.internal`),
 * a leading-wildcard name (`*.corp.example`: every name below it, not the name
 * itself), or an IP address or CIDR block (`10.1.0.0/16`, `fd00::/8`) that
 * resolved addresses may fall in.
 *
 * Pure: host names and addresses in, a reason out. The lookups and the
 * connection that must use the checked address are in guarded-fetch.ts.
 */
import { createRequire } from 'node:module';
import type IpAddr from 'ipaddr.js';

// Loaded on first use (DESIGN.md decision 12): every start reads the config, few set admin.specUrls.
// ipaddr.js is CommonJS, so a synchronous require serves the synchronous config check.
let loadedIpaddr: typeof IpAddr | undefined;
const ipaddr = (): typeof IpAddr => (loadedIpaddr ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr);

/** The compiled `admin.specUrls`. */
export interface SpecUrlRules {
  /** Whether the host name is listed (by name or wildcard): then any address it resolves to is allowed. */
  allowsName(hostname: string): boolean;
  /** Why a resolved (or literal) address is refused, or undefined when it is public or listed. */
  addressRefusal(address: string): string | undefined;
}

/**
 * Why an `admin.specUrls` entry is not valid, or undefined when it is. Host
 * globs are a single leading `*.` only (as in TLS certificates, RFC 6125 §6.4.3):
 * a general glob library would also accept `*` or `*internal*`, which allow far
 * more than anyone listing an internal host means to.
 */
export function specUrlEntryProblem(raw: string): string | undefined {
  const entry = normalise(raw);
  if (entry.includes('/')) {
    if (!ipaddr().isValidCIDR(entry)) return `"${entry}" is not a CIDR block (expected e.g. 10.0.0.0/8 or fd00::/8)`;
    return undefined;
  }
  if (ipaddr().isValid(unbracket(entry))) return strictIp(unbracket(entry)) ? undefined : `"${entry}" is not an IP address in standard form`;
  const name = entry.startsWith('*.') ? entry.slice(2) : entry;
  if (!HOST_NAME.test(name)) return `"${entry}" is not a host name, "*." followed by a host name, an IP address or a CIDR block`;
  return undefined;
}

/** Compiles `admin.specUrls` (entries checked already by the config loader). */
export function compileSpecUrlRules(entries: readonly string[]): SpecUrlRules {
  const names = new Set<string>();
  const suffixes: string[] = [];
  const blocks: Array<[IpAddr.IPv4 | IpAddr.IPv6, number]> = [];
  for (const raw of entries) {
    const entry = normalise(raw);
    const problem = specUrlEntryProblem(entry);
    if (problem !== undefined) throw new Error(problem);
    if (entry.includes('/')) blocks.push(normaliseBlock(ipaddr().parseCIDR(entry)));
    else if (ipaddr().isValid(unbracket(entry))) {
      const ip = ipaddr().process(unbracket(entry));
      blocks.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else if (entry.startsWith('*.')) suffixes.push(entry.slice(1));
    else names.add(entry);
  }
  return {
    allowsName(hostname) {
      const name = normalise(hostname);
      if (ipaddr().isValid(unbracket(name))) return false; // literals are judged as addresses
      return names.has(name) || suffixes.some((s) => name.endsWith(s) && name.length > s.length);
    },
    addressRefusal(address) {
      let ip: IpAddr.IPv4 | IpAddr.IPv6;
      try {
        // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) becomes the IPv4 address it carries.
        ip = ipaddr().process(unbracket(address));
      } catch {
        return `${address} is not an IP address`;
      }
      if (blocks.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return undefined;
      const range = ip.range();
      if (range === 'unicast') return undefined;
      return `${ip.toString()} is a ${RANGE_NAMES[range] ?? `special-purpose (${range})`} address, which admin.specUrls does not list`;
    },
  };
}

/** Host names as URLs carry them (already lower-cased and punycoded by the URL parser). */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

const RANGE_NAMES: Readonly<Record<string, string>> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local (cloud metadata lives here)',
  carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
  uniqueLocal: 'unique-local (fc00::/7)',
  unspecified: 'unspecified (0.0.0.0 or ::)',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved',
};

/** Names compare case-insensitively and without the root's trailing dot (RFC 1034 §3.1). */
function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** ipaddr.isValid accepts legacy forms (`0x7f.1`, `2130706433`); a config entry must be written plainly. */
function strictIp(text: string): boolean {
  return ipaddr().IPv4.isValidFourPartDecimal(text) || (text.includes(':') && ipaddr().IPv6.isValid(text));
}

/** An IPv4-mapped IPv6 block (::ffff:10.0.0.0/104) is matched as the IPv4 block it stands for. */
function normaliseBlock([net, bits]: [IpAddr.IPv4 | IpAddr.IPv6, number]): [IpAddr.IPv4 | IpAddr.IPv6, number] {
  if (net.kind() === 'ipv6' && (net as IpAddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(net as IpAddr.IPv6).toIPv4Address(), bits - 96];
  return [net, bits];
}
