/**
 * Fetches a URL only from hosts `admin.specUrls` allows (see
 * spec-url-policy.ts), for specs registered through the admin API.
 *
 * The check sits where the address is chosen, not before it: the dispatcher's
 * `connect.lookup` resolves the name, refuses it unless every address passes,
 * and hands the checked addresses to the socket, so a second DNS answer (a
 * rebinding name with a zero TTL) cannot swap the address between check and
 * connect. IP literals skip lookups altogether, so each URL is also checked
 * before it is requested. Redirects are followed here, one hop at a time, and
 * each hop is checked again (RFC 9110 §15.4: a `Location` may name any host).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { Agent as UndiciAgent, Response as UndiciResponse } from 'undici';
import type { SpecUrlRules } from './spec-url-policy.js';

/** A request the rules refuse; load-spec.ts turns it into GH_SPEC_URL_REFUSED. */
export class SpecUrlRefused extends Error {
  override readonly name = 'SpecUrlRefused';
}

/** The refusal somewhere in an error's `cause` chain (undici wraps what the lookup throws in "fetch failed"). */
export function specUrlRefusalIn(err: unknown): SpecUrlRefused | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof SpecUrlRefused) return e;
  }
  return undefined;
}

/** Redirects followed at most (undici's and browsers' default is 20; a spec host needs few). */
const MAX_REDIRECTS = 5;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `net.connect` lookup that resolves every address of a name and refuses the name unless all pass. */
export function checkedLookup(rules: SpecUrlRules): (hostname: string, options: LookupOptions, callback: LookupCallback) => void {
  return function specUrlLookup(hostname, options, callback) {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) {
        callback(err, '');
        return;
      }
      if (!rules.allowsName(hostname)) {
        for (const { address } of addresses) {
          const why = rules.addressRefusal(address);
          if (why !== undefined) {
            callback(new SpecUrlRefused(`${hostname}: ${why}`), '');
            return;
          }
        }
      }
      const first = addresses[0];
      if (options.all === true) callback(null, addresses);
      else if (first === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
      else callback(null, first.address, first.family);
    });
  };
}

/** Why this URL may not be requested before any lookup (scheme, an IP literal), or undefined. */
export function urlRefusal(url: URL, rules: SpecUrlRules): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${url.href}: only http(s) URLs are fetched`;
  // The WHATWG URL parser has already turned decimal, octal and hex forms (http://2130706433/) into dotted IPv4.
  const host = url.hostname;
  if (rules.allowsName(host)) return undefined;
  const literal = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[');
  if (!literal) return undefined; // a name: the lookup checks what it resolves to
  const why = rules.addressRefusal(host);
  return why;
}

/** The dispatcher that connects only to checked addresses (one per spec load; close it when done). */
export async function guardedAgent(rules: SpecUrlRules, connectTimeoutMs: number): Promise<UndiciAgent> {
  const { Agent } = await import('undici');
  return new Agent({ connect: { lookup: checkedLookup(rules), timeout: connectTimeoutMs } });
}

/**
 * `fetch`, with every hop checked: the first URL and each redirect target
 * (relative ones resolved against the hop that sent them). Returns the final
 * response and its URL; a refused hop throws SpecUrlRefused.
 */
export async function guardedFetch(
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
  rules: SpecUrlRules,
  dispatcher: UndiciAgent,
): Promise<{ response: UndiciResponse; url: string }> {
  const { fetch } = await import('undici');
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const refuse = (why: string) => new SpecUrlRefused(hop === 0 ? why : `it redirected to ${current.href}: ${why}`);
    const why = urlRefusal(current, rules);
    if (why !== undefined) throw refuse(why);
    let response: UndiciResponse;
    try {
      response = await fetch(current, { ...init, dispatcher, redirect: 'manual' });
    } catch (err) {
      const refused = specUrlRefusalIn(err);
      throw refused === undefined ? err : refuse(refused.message);
    }
    const location = response.headers.get('location');
    if (response.status < 300 || response.status > 399 || location === null) return { response, url: current.href };
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    current = new URL(location, current);
  }
}
