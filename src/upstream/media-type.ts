/**
 * Small, allocation-light helpers over media types (RFC 9110 §8.3.1), shared
 * by request body encoding and response mapping.
 */

/** `Application/JSON; charset=utf-8` → `application/json`. Empty string when absent. */
export function mediaTypeEssence(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** The value of one media-type parameter (`charset`, `boundary`), unquoted; undefined when absent. */
export function mediaTypeParam(contentType: string | undefined, name: string): string | undefined {
  if (contentType === undefined) return undefined;
  const wanted = name.toLowerCase();
  const parts = contentType.split(';');
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] as string;
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim().toLowerCase() !== wanted) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

/** `application/json`, `text/json` and any structured-syntax `+json` type (RFC 6839 §3.1). */
export function isJsonMediaType(essence: string): boolean {
  return essence === 'application/json' || essence === 'text/json' || essence.endsWith('+json');
}

const TEXTUAL_APPLICATION_TYPES = new Set([
  'application/xml',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/x-www-form-urlencoded',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/graphql',
  'application/sql',
  'application/csv',
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/json-seq',
  'application/jwt',
  'application/x-sh',
  'application/rtf',
]);

/** Media types whose content is text a model can read as-is. */
export function isTextMediaType(essence: string): boolean {
  return (
    essence.startsWith('text/') ||
    isJsonMediaType(essence) ||
    essence.endsWith('+xml') ||
    essence.endsWith('+yaml') ||
    TEXTUAL_APPLICATION_TYPES.has(essence)
  );
}

/** True for a range such as `*\/*` or `image/*`, which cannot be sent as a Content-Type. */
export function isMediaRange(essence: string): boolean {
  return essence.includes('*');
}

/**
 * The first concrete media type of an Encoding Object `contentType`, which may
 * be a comma-separated list with ranges (OAS 3.1 §4.8.15.1.1): `image/png, image/*`
 * → `image/png`. Undefined when only ranges are listed.
 */
export function firstConcreteMediaType(list: string | undefined): string | undefined {
  if (list === undefined) return undefined;
  for (const item of list.split(',')) {
    const trimmed = item.trim();
    if (trimmed !== '' && !isMediaRange(mediaTypeEssence(trimmed))) return trimmed;
  }
  return undefined;
}
