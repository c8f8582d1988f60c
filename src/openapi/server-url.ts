/**
 * Base URL of an operation from the spec's Server Objects (OAS 3.1 §4.8.5):
 * operation `servers` → path item `servers` → document `servers` (an empty list
 * counts as absent), variables filled with their defaults, relative URLs
 * resolved against the document's own location ("MAY be relative, to indicate
 * that the host location is relative to the location where the document is
 * being served").
 */
import { isObj } from './oas.js';

export type BaseUrlResult = { url: string } | { problem: string };

/** The innermost non-empty `servers` list, or undefined. */
export function pickServers(...levels: unknown[]): unknown[] | undefined {
  for (const s of levels) if (Array.isArray(s) && s.length > 0) return s;
  return undefined;
}

/**
 * The first usable server of `servers` as an absolute http(s) URL without a
 * trailing slash. No servers means `/` (OAS 3.x default), i.e. the origin the
 * document was served from.
 */
export function resolveServerUrl(servers: unknown[] | undefined, location: string): BaseUrlResult {
  const list = servers ?? [{ url: '/' }];
  const problems: string[] = [];
  for (const server of list) {
    if (!isObj(server) || typeof server['url'] !== 'string') {
      problems.push('a server has no url');
      continue;
    }
    const filled = fillVariables(server['url'], server['variables']);
    if ('problem' in filled) {
      problems.push(filled.problem);
      continue;
    }
    const url = absolute(filled.url, location);
    if ('problem' in url) problems.push(url.problem);
    else return url;
  }
  return { problem: problems.join('; ') };
}

/** Checks and normalises a configured base URL. */
export function normaliseBaseUrl(raw: string): BaseUrlResult {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { problem: `"${raw}" is not an absolute URL` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { problem: `"${raw}" is not an http(s) URL` };
  return { url: stripSlash(u.href) };
}

function fillVariables(template: string, variables: unknown): { url: string } | { problem: string } {
  const vars = isObj(variables) ? variables : {};
  let problem: string | undefined;
  const url = template.replace(/\{([^{}]*)\}/g, (_m, name: string) => {
    const v = vars[name];
    const value = isObj(v) ? (v['default'] ?? (Array.isArray(v['enum']) ? v['enum'][0] : undefined)) : undefined;
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    problem ??= `server URL "${template}" uses variable {${name}} with no default`;
    return '';
  });
  return problem ? { problem } : { url };
}

function absolute(url: string, location: string): BaseUrlResult {
  let u: URL;
  try {
    u = new URL(url, location);
  } catch {
    return { problem: `server URL "${url}" is not a valid URL` };
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') return { url: stripSlash(u.href) };
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    return { problem: `server URL "${url}" is relative and the spec was read from ${location.startsWith('file:') ? 'a file' : location}` };
  }
  return { problem: `server URL "${url}" is not http(s)` };
}

function stripSlash(href: string): string {
  return href.replace(/\/+$/, '');
}
