/**
 * Imports one backend: load and check its spec, normalise Swagger 2.0, select
 * and name the operations to serve (select-operations.ts), and compile each into
 * a ToolDefinition (DESIGN.md decision 1: all schema work happens here, once).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GatehouseError } from '../errors/catalogue.js';
import type { ImportCache } from './import-cache.js';
import type { ToolDefinition } from './tool-definition.js';
import { SchemaConverter } from './json-schema.js';
import { toPointer } from './json-pointer.js';
import { loadSpec, type SpecVersion } from './load-spec.js';
import { HTTP_METHODS, isObj, str, type Obj, type OasDocument } from './oas.js';
import { operationToTool } from './operation-to-tool.js';
import { deref } from './refs.js';
import { selectOperations, type DeprecatedMode, type OperationFilter, type OperationOverride } from './select-operations.js';
import { normaliseBaseUrl, pickServers, resolveServerUrl } from './server-url.js';
import { swagger2ToOas3 } from './swagger2-to-oas3.js';

export interface ImportBackendOptions {
  /** Backend name (config `backends[].name`); also the tool-name prefix. */
  name: string;
  /** Spec file path (relative to `baseDir`) or http(s) URL; with `specText`, only where that text came from. */
  spec: string;
  /** The spec's text, already in hand (see load-spec.ts `text`): nothing is read. */
  specText?: string;
  /** Names the spec in messages instead of `spec` (e.g. `inline spec of backend pets`). */
  specLabel?: string;
  baseDir?: string;
  /**
   * Absolute base URL that every request goes to, used as given (scheme, host
   * and base path). Default: the spec's servers (operation → path → document),
   * resolved against the spec's own location.
   */
  baseUrl?: string;
  /** Prefix tool names with `<name>_` (default true). */
  prefix?: boolean;
  /** Allow the spec's `$ref`s to read other files and URLs (default false). */
  allowExternalRefs?: boolean;
  /** `admin.specUrls` for a backend registered through the admin API (see load-spec.ts); absent for the config file's own. */
  specUrls?: readonly string[];
  /**
   * Fail with GH_SPEC_NO_SERVER when an operation has no base URL (default true).
   * `false` is for listing tools only (`gatehouse tools`): such tools get an
   * empty `binding.baseUrl` and a warning, and cannot be called.
   */
  requireBaseUrl?: boolean;
  /** Reuse earlier imports of the same spec bytes and options (see import-cache.ts). */
  cache?: ImportCache;
  /** Serve only operations matching every criterion kind listed (see select-operations.ts). Default: all. */
  include?: OperationFilter;
  /** Drop operations matching any criterion listed. */
  exclude?: OperationFilter;
  /** Serve (`include`, the default) or drop (`exclude`) deprecated operations. */
  deprecated?: DeprecatedMode;
  /** Per-operation name, description and hidden, keyed by operationId or `"METHOD /path"`; win over the spec's `x-gatehouse`. */
  overrides?: Readonly<Record<string, OperationOverride>>;
}

export interface ImportedBackend {
  tools: ToolDefinition[];
  /** Non-fatal problems, each naming the JSON pointer it is about. */
  warnings: string[];
  /** `info.title` of the spec. */
  title?: string;
  /** `info.version` of the spec (the API's version, not the OpenAPI version). */
  version: string;
  /** OpenAPI version of the spec as read (2.0 specs are converted to 3.0 on import). */
  specVersion: SpecVersion;
  /** The spec's `apiKey` security schemes by name: where a static API key credential goes. */
  apiKeySchemes?: Record<string, ApiKeyPlacement>;
  /** Operations the spec declares (before include/exclude), for the import's log line. */
  operations?: number;
  /** Size of the spec as read, in bytes. */
  specBytes?: number;
}

/** Where an API key is sent, as an OpenAPI `apiKey` security scheme declares it. */
export interface ApiKeyPlacement {
  in: 'header' | 'query' | 'cookie';
  name: string;
}

/**
 * `importer` does the work the cache saves (default: in this thread); the cache
 * is read and written here either way. Reloads pass one that runs it on a
 * worker thread (import-worker-client.ts).
 */
export async function importBackend(opts: ImportBackendOptions, importer: (opts: ImportBackendOptions) => Promise<ImportedBackend> = importUncached): Promise<ImportedBackend> {
  const cache = opts.cache;
  if (cache === undefined || opts.allowExternalRefs || (opts.specText === undefined && /^https?:\/\//i.test(opts.spec))) return importer(opts);
  // The key is over the bytes, so the text itself stays out of the options hashed with them.
  const { cache: _cache, specText, ...options } = opts;
  let bytes: Buffer;
  if (specText !== undefined) {
    bytes = Buffer.from(specText);
  } else {
    try {
      bytes = await readFile(resolve(opts.baseDir ?? process.cwd(), opts.spec));
    } catch {
      return importer(opts); // loadSpec reports the unreadable file
    }
  }
  const cached = await cache.get(bytes, options);
  if (cached !== undefined) return { ...cached, specBytes: bytes.length };
  const imported = await importer(opts);
  await cache.set(bytes, options, imported);
  return imported;
}

async function importUncached(opts: ImportBackendOptions): Promise<ImportedBackend> {
  const loaded = await loadSpec(opts.spec, {
    baseDir: opts.baseDir,
    allowExternalRefs: opts.allowExternalRefs ?? false,
    ...(opts.specUrls !== undefined ? { specUrls: opts.specUrls } : {}),
    ...(opts.specText !== undefined ? { text: opts.specText } : {}),
    ...(opts.specLabel !== undefined ? { label: opts.specLabel } : {}),
  });
  const source = opts.specLabel !== undefined ? `(${opts.specLabel})` : `"${opts.spec}"`;
  const warnings = [...loaded.warnings];

  let document: OasDocument = loaded.document;
  if (loaded.version === '2.0') {
    const converted = swagger2ToOas3(document);
    document = converted.document;
    warnings.push(...converted.warnings);
  }

  let configuredBaseUrl: string | undefined;
  if (opts.baseUrl !== undefined) {
    const r = normaliseBaseUrl(opts.baseUrl);
    if ('problem' in r) {
      throw new GatehouseError('GH_CONFIG_INVALID', `Backend "${opts.name}": baseUrl ${r.problem}; expected an absolute http(s) URL such as https://api.example.com/v1`);
    }
    configuredBaseUrl = r.url;
  }

  const schemas = new SchemaConverter({ document, version: loaded.version === '3.1' ? '3.1' : '3.0', source });
  const operations = collectOperations(document, source);
  if (operations.length === 0) warnings.push(`${source}: the spec declares no operations under #/paths`);
  const selection = selectOperations(operations, {
    include: opts.include,
    exclude: opts.exclude,
    deprecated: opts.deprecated,
    overrides: opts.overrides,
    prefix: opts.prefix === false ? undefined : opts.name,
    backend: opts.name,
    source,
  });
  warnings.push(...selection.warnings);

  const serverCache = new Map<unknown, ReturnType<typeof resolveServerUrl>>();
  const warn = (m: string) => warnings.push(m);
  let noServerWarned = false;
  const tools = selection.selected.map(({ operation: o, name, description }) => {
    let baseUrl = configuredBaseUrl;
    if (baseUrl === undefined) {
      const servers = pickServers(o.operation['servers'], o.pathItem['servers'], document.servers);
      let r = serverCache.get(servers);
      if (!r) {
        r = resolveServerUrl(servers, loaded.location);
        serverCache.set(servers, r);
      }
      if ('problem' in r) {
        const message = `Backend "${opts.name}": no base URL for ${o.pointer} of ${source} (${r.problem}); set baseUrl for this backend`;
        if (opts.requireBaseUrl !== false) throw new GatehouseError('GH_SPEC_NO_SERVER', message, { details: { pointer: o.pointer } });
        if (!noServerWarned) warnings.push(message);
        noServerWarned = true;
        baseUrl = '';
      } else {
        baseUrl = r.url;
      }
    }
    const tool = operationToTool({ ...o, backend: opts.name, name, baseUrl, schemas, document, source, warn });
    if (description !== undefined) tool.description = description;
    return tool;
  });
  warnings.push(...schemas.warnings);

  const info = isObj(document.info) ? document.info : {};
  const result: ImportedBackend = { tools, warnings, version: String(info['version'] ?? ''), specVersion: loaded.version, operations: operations.length, specBytes: loaded.bytes };
  const title = str(info['title']);
  if (title) result.title = title;
  const apiKeySchemes = collectApiKeySchemes(document, source);
  if (Object.keys(apiKeySchemes).length > 0) result.apiKeySchemes = apiKeySchemes;
  return result;
}

/** `components.securitySchemes` entries of type apiKey (2.0 `securityDefinitions` arrive converted). */
function collectApiKeySchemes(document: OasDocument, source: string): Record<string, ApiKeyPlacement> {
  const out: Record<string, ApiKeyPlacement> = {};
  const components = isObj(document.components) ? document.components : {};
  const schemes = isObj(components['securitySchemes']) ? components['securitySchemes'] : {};
  for (const [name, raw] of Object.entries(schemes)) {
    const { value } = deref(document, raw, toPointer(['components', 'securitySchemes', name]), source);
    if (!isObj(value) || value['type'] !== 'apiKey' || typeof value['name'] !== 'string' || value['name'] === '') continue;
    const where = value['in'];
    if (where === 'header' || where === 'query' || where === 'cookie') out[name] = { in: where, name: value['name'] };
  }
  return out;
}

interface Operation {
  method: string;
  path: string;
  pathItem: Obj;
  operation: Obj;
  pointer: string;
}

function collectOperations(document: OasDocument, source: string): Operation[] {
  const out: Operation[] = [];
  for (const [path, rawItem] of Object.entries(isObj(document.paths) ? document.paths : {})) {
    const itemPointer = toPointer(['paths', path]);
    const { value: pathItem } = deref(document, rawItem, itemPointer, source);
    if (!isObj(pathItem)) continue;
    for (const method of HTTP_METHODS) {
      const operation = pathItem[method];
      if (!isObj(operation)) continue;
      out.push({ method, path, pathItem, operation, pointer: toPointer(['paths', path, method]) });
    }
  }
  return out;
}
