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
// The entries' form is checked when the config loads (config/spec-url-entries.ts), and again here.
import { normaliseHostName as normalise, specUrlEntryProblem, unbracket } from '../config/spec-url-entries.js';

// Loaded on first use (DESIGN.md decision 12): every start reads the config, few set admin.specUrls.
// ipaddr.js is CommonJS, so a synchronous require serves the synchronous compile and checks.
let loadedIpaddr: typeof IpAddr | undefined;
const ipaddr = (): typeof IpAddr => (loadedIpaddr ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr);

/** The compiled `admin.specUrls`. */
export interface SpecUrlRules {
  /** Whether the host name is listed (by name or wildcard): then any address it resolves to is allowed. */
  allowsName(hostname: string): boolean;
  /** Why a resolved (or literal) address is refused, or undefined when it is public or listed. */
  addressRefusal(address: string): string | undefined;
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

/** An IPv4-mapped IPv6 block (::ffff:10.0.0.0/104) is matched as the IPv4 block it stands for. */
function normaliseBlock([net, bits]: [IpAddr.IPv4 | IpAddr.IPv6, number]): [IpAddr.IPv4 | IpAddr.IPv6, number] {
  if (net.kind() === 'ipv6' && (net as IpAddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(net as IpAddr.IPv6).toIPv4Address(), bits - 96];
  return [net, bits];
}
