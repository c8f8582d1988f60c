/**
 * Loose shapes of the OpenAPI 3.x objects the importer reads. Specs in the wild
 * break the rules, so every field is optional and read defensively; only what
 * the importer uses is typed.
 */

/** An object that may be a Reference Object (`{ $ref }`). */
export type Obj = Record<string, unknown>;

export interface OasDocument extends Obj {
  openapi?: string;
  swagger?: string;
  info?: { title?: unknown; version?: unknown };
  servers?: unknown;
  paths?: Record<string, unknown>;
  components?: Obj;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Sets `obj[key]` as an own property even when a spec names something
 * `__proto__` (plain assignment would replace the object's prototype instead).
 */
export function put<T>(obj: Record<string, T>, key: string, value: NoInfer<T>): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
