/**
 * Reads an OpenAPI document (file or http(s) URL, JSON or YAML), checks it
 * against the official OpenAPI JSON Schema of its version, and returns it with
 * its version and location.
 *
 * `$ref`s are left in place: the importer resolves local refs itself (it needs
 * them to find cycles and to memoise converted schemas). External refs (other
 * files, URLs) are never fetched unless `allowExternalRefs` is set: a spec is
 * input, and letting it make the gateway read files or call URLs is an SSRF and
 * local-file-disclosure risk. When allowed, they are bundled into the document
 * (by @apidevtools/swagger-parser) so that every ref left is local.
 *
 * Start-up cost matters here (a gateway imports every spec before it serves):
 * the schema check is compiled at build time (spec-schema.ts), and YAML, HTTP
 * and swagger-parser are loaded only for the documents that need them.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GatehouseError } from '../errors/catalogue.js';
import { escapeToken } from './json-pointer.js';
import { HTTP_METHODS, isObj, type OasDocument } from './oas.js';
import type { SpecValidator } from './spec-schema.js';
import type { Agent } from 'undici';
import { guardedAgent, guardedFetch, specUrlRefusalIn } from './guarded-fetch.js';
import { compileSpecUrlRules, type SpecUrlRules } from './spec-url-policy.js';

export type SpecVersion = '2.0' | '3.0' | '3.1';

export interface LoadSpecOptions {
  /** Directory that a relative file path is resolved against (default: the working directory). */
  baseDir?: string;
  /**
   * Fetch and bundle `$ref`s to other files and URLs, internal hosts included
   * (default false: local `#/...` refs only).
   */
  allowExternalRefs?: boolean;
  /** Largest spec read over HTTP, in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Deadline for fetching a spec (and each external ref) over HTTP (default 30 s). */
  timeoutMs?: number;
  /**
   * `admin.specUrls`, for a spec registered through the admin API: the URL,
   * each redirect and each external ref is fetched only from a host these
   * rules allow (spec-url-policy.ts), and external refs never read files.
   * Absent: the operator's own configuration, trusted as written.
   */
  specUrls?: readonly string[];
  /**
   * The document's text, already in hand (an inline spec, or the bytes a spec
   * URL served when it was imported, as the admin store keeps them): nothing is
   * read. `source` is then only its location (an http(s) URL, for relative
   * server URLs), or any name when it has none.
   */
  text?: string;
  /** Names the document in messages instead of `source`, e.g. `inline spec of backend pets`. */
  label?: string;
}

export interface LoadedSpec {
  /** The parsed document, `$ref`s intact (external ones bundled in when allowed). */
  document: OasDocument;
  version: SpecVersion;
  /** Absolute `file:` URL or the http(s) URL the document was read from. */
  location: string;
  /**
   * Problems the importer tolerates: the document is sound but a Schema Object
   * is not an object. (Keywords inside Schema Objects are checked, and invalid
   * ones dropped with a warning, by the schema converter: see spec-schema.ts.)
   */
  warnings: string[];
  /** Size of the document as read (UTF-8 bytes; external refs not counted). */
  bytes: number;
}

/** Upper bound for a spec fetched over HTTP (GitHub's, the largest we know, is 6 MB). */
const MAX_SPEC_BYTES = 64 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 30_000;

export async function loadSpec(source: string, opts: LoadSpecOptions = {}): Promise<LoadedSpec> {
  // A document in hand has no file behind it: its location is its URL, when it came from one.
  const location = opts.text !== undefined ? (/^https?:\/\//i.test(source) ? new URL(source).href : source) : toLocation(source, opts.baseDir);
  const where = opts.label !== undefined ? `(${opts.label})` : location === source ? `"${source}"` : `"${source}" (${location})`;
  const limits = { maxBytes: opts.maxBytes ?? MAX_SPEC_BYTES, timeoutMs: opts.timeoutMs ?? FETCH_TIMEOUT_MS };
  // The document in hand still fetches its external refs, when they are allowed.
  const fetches = (opts.text === undefined && /^https?:/i.test(location)) || opts.allowExternalRefs === true;
  const guard = opts.specUrls === undefined || !fetches ? undefined : await specUrlGuard(opts.specUrls, limits.timeoutMs);
  try {
    return await loadFrom(location, where, limits, opts, guard);
  } finally {
    await guard?.agent.close();
  }
}

async function loadFrom(location: string, where: string, limits: Limits, opts: LoadSpecOptions, guard: Guard | undefined): Promise<LoadedSpec> {
  const text = opts.text ?? (await readSource(location, where, limits, guard));
  const document = await parseText(text, where);
  const version = detectVersion(document, where);

  // swagger-parser accepts a filesystem path or a URL as the base for ref resolution.
  const base = location.startsWith('file:') ? fileURLToPath(location) : location;
  const warnings: string[] = [];
  let doc = document;
  if (opts.allowExternalRefs) {
    // The opt-in is the operator's: it covers internal hosts too (the resolver
    // blocks localhost and private addresses by default), since internal
    // services are what Gatehouse fronts.
    const resolve =
      guard === undefined
        ? { external: true, http: { safeUrlResolver: false, timeout: limits.timeoutMs } }
        : {
            // An admin-registered spec: its refs go through the same checked fetch, and never to files.
            external: true,
            file: false,
            http: {
              safeUrlResolver: false,
              canRead: (file: { url: string }) => /^https?:\/\//i.test(file.url),
              read: (file: { url: string }) =>
                readSource(file.url, `"${file.url}"`, limits, guard).catch((err: unknown) => {
                  refused ??= err instanceof GatehouseError && err.code === 'GH_SPEC_URL_REFUSED' ? err : undefined;
                  throw err;
                }),
            },
          };
    // The resolver wraps what `read` throws in its own errors: a refusal is answered as itself.
    let refused: GatehouseError | undefined;
    const SwaggerParser = await swaggerParser();
    doc = await keepServers(doc, () => new SwaggerParser().bundle(base, doc as never, { resolve }).then((d) => d as OasDocument)).catch((err: unknown) => {
      if (refused !== undefined) throw refused;
      throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where}: could not resolve an external $ref: ${messageOf(err)}`, { cause: err });
    });
  }
  await validate(doc, version, base, where, warnings);
  return { document: doc, version, location, warnings, bytes: Buffer.byteLength(text) };
}

/**
 * The text of a spec file or URL as it is now, read with loadSpec's limits and
 * messages (GH_SPEC_LOAD_FAILED): what the admin store keeps, so every replica
 * imports the same bytes.
 */
export async function readSpecText(source: string, opts: Pick<LoadSpecOptions, 'baseDir' | 'maxBytes' | 'timeoutMs' | 'specUrls'> = {}): Promise<string> {
  const location = toLocation(source, opts.baseDir);
  const where = location === source ? `"${source}"` : `"${source}" (${location})`;
  const limits = { maxBytes: opts.maxBytes ?? MAX_SPEC_BYTES, timeoutMs: opts.timeoutMs ?? FETCH_TIMEOUT_MS };
  const guard = opts.specUrls === undefined ? undefined : await specUrlGuard(opts.specUrls, limits.timeoutMs);
  try {
    return await readSource(location, where, limits, guard);
  } finally {
    await guard?.agent.close();
  }
}

function toLocation(source: string, baseDir: string | undefined): string {
  if (/^https?:\/\//i.test(source)) return new URL(source).href;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(source)?.[1];
  if (scheme !== undefined && scheme.toLowerCase() !== 'file') {
    throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec "${source}": only http(s) URLs and files can be read, not ${scheme}:`);
  }
  if (/^file:/i.test(source)) return new URL(source).href;
  const path = isAbsolute(source) ? source : resolvePath(baseDir ?? process.cwd(), source);
  return pathToFileURL(path).href;
}

interface Limits {
  maxBytes: number;
  timeoutMs: number;
}

/** The compiled `admin.specUrls` and the dispatcher that connects only to addresses they allow. */
interface Guard {
  rules: SpecUrlRules;
  agent: Agent;
}

async function specUrlGuard(entries: readonly string[], timeoutMs: number): Promise<Guard> {
  const rules = compileSpecUrlRules(entries);
  return { rules, agent: await guardedAgent(rules, timeoutMs) };
}

async function readSource(location: string, where: string, limits: Limits, guard?: Guard): Promise<string> {
  if (location.startsWith('file:')) {
    try {
      return await readFile(fileURLToPath(location), 'utf8');
    } catch (err) {
      throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} could not be read: ${messageOf(err)}`, { cause: err });
    }
  }
  // undici only for specs read over HTTP (it is not needed to read a file).
  const { fetch } = await import('undici');
  let res;
  const init = { signal: AbortSignal.timeout(limits.timeoutMs), headers: { accept: 'application/json, application/yaml;q=0.9, */*;q=0.5' } };
  try {
    res = guard === undefined ? await fetch(location, init) : (await guardedFetch(location, init, guard.rules, guard.agent)).response;
  } catch (err) {
    const refused = specUrlRefusalIn(err);
    if (refused !== undefined) throw new GatehouseError('GH_SPEC_URL_REFUSED', `OpenAPI spec ${where} was not fetched: ${refused.message}`, { cause: err });
    throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} could not be fetched: ${messageOf(err)}`, { cause: err });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} could not be fetched: HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const declared = Number(res.headers.get('content-length') ?? 0);
  const tooLarge = () => new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} is larger than ${limits.maxBytes} bytes`);
  if (declared > limits.maxBytes) {
    await res.body?.cancel();
    throw tooLarge();
  }
  try {
    // Leaving the loop early cancels the stream (and so the download).
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      if (size > limits.maxBytes) break;
      chunks.push(chunk);
    }
  } catch (err) {
    throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} could not be fetched: ${messageOf(err)}`, { cause: err });
  }
  if (size > limits.maxBytes) throw tooLarge();
  return Buffer.concat(chunks).toString('utf8');
}

async function parseText(raw: string, where: string): Promise<OasDocument> {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  let value: unknown;
  if (/^\s*[{[]/.test(text)) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      // Not JSON after all? YAML is a superset of JSON, so give YAML a chance before failing.
      value = await parseYamlOrThrow(text, where, err);
    }
  } else {
    value = await parseYamlOrThrow(text, where, undefined);
  }
  if (!isObj(value)) {
    throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} is not a JSON or YAML object`);
  }
  return value as OasDocument;
}

async function parseYamlOrThrow(text: string, where: string, jsonError: unknown): Promise<unknown> {
  const { parse: parseYaml } = await import('yaml');
  try {
    // The yaml package caps alias expansion (maxAliasCount), so a "billion laughs" document fails fast.
    return parseYaml(text);
  } catch (err) {
    const first = jsonError ?? err;
    const kind = jsonError ? 'JSON' : 'YAML';
    throw new GatehouseError('GH_SPEC_LOAD_FAILED', `OpenAPI spec ${where} is not valid ${kind}: ${firstLine(messageOf(first))}`, { cause: first });
  }
}

function detectVersion(doc: OasDocument, where: string): SpecVersion {
  if (doc.swagger !== undefined) {
    if (doc.swagger === '2.0') return '2.0';
    throw new GatehouseError('GH_SPEC_INVALID', `OpenAPI spec ${where}: #/swagger must be the string "2.0", got ${JSON.stringify(doc.swagger)}`);
  }
  const v = doc.openapi;
  if (typeof v === 'string' && /^3\.0\.\d+$/.test(v)) return '3.0';
  if (typeof v === 'string' && /^3\.1\.\d+$/.test(v)) return '3.1';
  const got = v === undefined ? 'no "openapi" or "swagger" field' : `openapi ${JSON.stringify(v)}`;
  throw new GatehouseError('GH_SPEC_INVALID', `OpenAPI spec ${where}: #/openapi must be a 3.0.x or 3.1.x version string (or #/swagger "2.0"); found ${got}`);
}

/** One validation problem, located by JSON pointer. */
interface Problem {
  pointer: string;
  message: string;
}

async function validate(doc: OasDocument, version: SpecVersion, base: string, where: string, warnings: string[]): Promise<void> {
  const check = await specValidator(version);
  // The document as it is: refs stay in place (Reference Objects are allowed
  // wherever the schema expects one), so nothing is dereferenced or copied.
  if (!check(doc)) {
    const problems = ajvProblems(check.errors);
    const fatal = problems.filter((p) => !insideSchemaObject(p.pointer));
    if (fatal.length > 0) throw invalid(where, fatal);
    for (const p of problems) warnings.push(`${p.pointer}: ${p.message} (the importer drops the invalid keyword)`);
  }
  if (version !== '2.0') return;
  // Swagger 2.0 "spec" rules (path parameters declared and required, unique
  // operationIds...), which JSON Schema cannot express: swagger-parser's checks,
  // on its own dereferenced copy.
  const SwaggerParser = await swaggerParser();
  const options = {
    resolve: { external: false },
    validate: { schema: false, spec: true },
    mutateInputSchema: false,
    dereference: { circular: 'ignore' as const },
  };
  try {
    await new SwaggerParser().validate(base, doc as never, options);
  } catch (err) {
    throw invalid(where, [specProblem(err)], err);
  }
}

const validators = new Map<SpecVersion, Promise<SpecValidator>>();

/** The spec validator of `version`, built once per process (see spec-schema.ts). */
function specValidator(version: SpecVersion): Promise<SpecValidator> {
  let validator = validators.get(version);
  if (!validator) {
    validator = loadValidator(version);
    validators.set(version, validator);
  }
  return validator;
}

async function loadValidator(version: SpecVersion): Promise<SpecValidator> {
  // Written by `npm run build` (scripts/build-validators.mjs) beside the compiled load-spec.js.
  const built = new URL(`./spec-validators/v${version}.js`, import.meta.url);
  if (existsSync(built)) return ((await import(built.href)) as { default: SpecValidator }).default;
  const { compileSpecValidator } = await import('./spec-schema.js');
  return compileSpecValidator(version);
}

async function swaggerParser() {
  return (await import('@apidevtools/swagger-parser')).default;
}

function invalid(where: string, problems: Problem[], cause?: unknown): GatehouseError {
  const shown = problems.slice(0, 3).map((p) => `${p.pointer} ${p.message}`);
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
  const first = problems[0];
  return new GatehouseError('GH_SPEC_INVALID', `OpenAPI spec ${where} is invalid: ${shown.join('; ')}${more}`, {
    ...(cause !== undefined ? { cause } : {}),
    details: { pointer: first?.pointer, problems: problems.slice(0, 20) },
  });
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Ajv keywords that only say "some branch failed"; the branch's own errors say why. */
const NOISE = new Set(['oneOf', 'anyOf', 'if', 'then', 'else', 'not', 'false schema', '$ref']);

/**
 * Turns the Ajv errors of a failed spec check (all of them) into pointer +
 * message, most specific first, without the noise a failed `oneOf` produces.
 */
function ajvProblems(raw: unknown[] | null | undefined): Problem[] {
  const errors = (raw ?? []).filter((e): e is AjvError => typeof (e as AjvError | null)?.instancePath === 'string');
  if (errors.length === 0) return [{ pointer: '#', message: 'does not match the OpenAPI schema' }];
  // Inside a oneOf over "Reference Object | X", every branch but the right one adds
  // "must have required property '$ref'"; drop that unless it is all there is.
  const informative = errors.filter(
    (e) => !NOISE.has(e.keyword) && !(e.keyword === 'required' && e.params?.['missingProperty'] === '$ref'),
  );
  const chosen = informative.length > 0 ? informative : errors;
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const e of chosen) {
    let pointer = '#' + e.instancePath;
    let message = e.message ?? e.keyword;
    const missing = e.params?.['missingProperty'];
    if (e.keyword === 'required' && typeof missing === 'string') {
      pointer += '/' + escapeToken(missing);
      message = 'is required';
    } else if (e.keyword === 'additionalProperties' && typeof e.params?.['additionalProperty'] === 'string') {
      pointer += '/' + escapeToken(e.params['additionalProperty']);
      message = 'is not allowed here';
    } else if (e.keyword === 'enum' && Array.isArray(e.params?.['allowedValues'])) {
      message = `must be one of ${(e.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const key = pointer + ' ' + message;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ pointer, message });
  }
  // Deepest pointer first: it is the closest to the actual mistake.
  return problems.sort((a, b) => depth(b.pointer) - depth(a.pointer));
}

function depth(pointer: string): number {
  let n = 0;
  for (const c of pointer) if (c === '/') n++;
  return n;
}

/**
 * Whether a pointer lies inside a Schema Object (components/schemas, 2.0
 * definitions, or any `schema` member of a parameter, media type, header or
 * response). Schema-level mistakes are tolerated: the converter drops what is
 * invalid; anything else (paths, operations, parameters) is fatal.
 */
function insideSchemaObject(pointer: string): boolean {
  const t = pointer.slice(2).split('/');
  if (t[0] === 'components' && t[1] === 'schemas' && t.length >= 3) return true;
  if (t[0] === 'definitions' && t.length >= 2) return true;
  // Index ≥ 2: `paths/<template>` and `webhooks/<name>` are names, not fields.
  return t.indexOf('schema', 2) !== -1;
}

/**
 * The Swagger 2.0 spec checks and json-schema-ref-parser throw plain errors whose
 * messages name paths like `/paths/pets/{id}/get`; rewrite those as JSON pointers.
 */
function specProblem(err: unknown): Problem {
  const message = firstLine(messageOf(err)).replace(/^Validation failed\.\s*/, '');
  const methods = HTTP_METHODS.join('|');
  const m = new RegExp(`/paths(/\\S*?)/(${methods})\\b`).exec(message);
  if (m) {
    const pointer = `#/paths/${escapeToken(m[1] ?? '')}/${m[2] ?? ''}`;
    return { pointer, message: message.replace(m[0], pointer) };
  }
  const ref = /\$ref pointer "([^"]+)"/.exec(message);
  return { pointer: ref?.[1] ?? '#', message };
}

/**
 * swagger-parser rewrites relative server URLs of a document read over HTTP, and
 * drops the port while doing so. Server resolution is the importer's job
 * (import-backend resolves against the document location), so put them back.
 */
async function keepServers<T>(doc: OasDocument, run: () => Promise<T>): Promise<T> {
  const saved: [Record<string, unknown>, unknown][] = [];
  const collect = (servers: unknown) => {
    if (Array.isArray(servers)) for (const s of servers) if (isObj(s)) saved.push([s, s['url']]);
  };
  collect(doc.servers);
  for (const item of Object.values(doc.paths ?? {})) {
    if (!isObj(item)) continue;
    collect(item['servers']);
    for (const m of HTTP_METHODS) {
      const op = item[m];
      if (isObj(op)) collect(op['servers']);
    }
  }
  try {
    return await run();
  } finally {
    for (const [server, url] of saved) server['url'] = url;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? s;
  return line.length > 300 ? line.slice(0, 300) + '…' : line;
}
