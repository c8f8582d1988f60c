/**
 * `server.allowedOrigins`, parsed: checked when the config loads (an entry that
 * is neither an origin nor a host name is a config error naming it) and used by
 * http/host-check.ts for every request's Origin.
 */

/** `server.allowedOrigins`, parsed once: full origins, and bare host names (any scheme and port). */
export interface OriginAllowList {
  origins: ReadonlySet<string>;
  hostnames: ReadonlySet<string>;
}

/**
 * `server.allowedOrigins` entries: `https://app.example:3000` allows that origin only; a bare
 * `app.example` allows that host name on any scheme and port (the form earlier versions took).
 * Throws naming the entry when one is neither.
 */
export function originAllowList(entries: readonly string[]): OriginAllowList {
  const origins = new Set<string>();
  const hostnames = new Set<string>();
  entries.forEach((entry, i) => {
    if (entry.includes('://')) {
      const origin = originOf(entry);
      if (origin === undefined) throw new Error(`server.allowedOrigins[${i}]: "${entry}" is not an origin (expected scheme://host[:port] or a host name)`);
      origins.add(origin);
    } else {
      const name = hostnameOf(`http://${entry}`);
      if (name === undefined) throw new Error(`server.allowedOrigins[${i}]: "${entry}" is not a host name (expected scheme://host[:port] or a host name)`);
      hostnames.add(name);
    }
  });
  return { origins, hostnames };
}

/** The serialised origin of a URL (RFC 6454), or undefined for a non-URL or an opaque origin. */
export function originOf(url: string): string | undefined {
  try {
    const { origin } = new URL(url);
    // Opaque origins (file:, data:, "null") serialise as "null": never an allowed origin.
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** The host name of a URL, or undefined for a non-URL or one without a host. */
export function hostnameOf(url: string): string | undefined {
  try {
    const { hostname } = new URL(url);
    return hostname === '' ? undefined : hostname;
  } catch {
    return undefined;
  }
}
