/**
 * One OpenAPI 3.x operation → one ToolDefinition: a flat `type: "object"` input
 * schema over all parameters and the body, an output schema when the success
 * response is a JSON object, MCP annotations, and the HTTP binding that maps
 * arguments back to the wire.
 *
 * Argument names (the clash rule). Arguments are claimed in the order path,
 * query, header, cookie, body (each in declaration order). Characters outside
 * `[a-zA-Z0-9_.-]` become `_` (the property-name rule of the strictest LLM
 * provider) and names are cut to 64 characters. The first owner of a name keeps
 * it; a later one gets `_<location>` appended (`id_query`, `id_header`,
 * `id_body`), then a number if even that is taken (`id_query2`). A wrapped body
 * is the argument `body` under the same rule. Bindings map every argument back
 * to its wire name, so renaming never changes the request.
 *
 * What a tool carries (tools/list is fetched in every session, and many
 * clients put it in front of the model whole; GitHub's 845 tools were 1.8 MB,
 * Kubernetes' 11 MB). Names and arguments matter most, prose least:
 * - description: the summary, then the first paragraph of the description as
 *   plain text (no Markdown link targets or HTML tags), whole sentences, 512
 *   characters in all; "Deprecated. " first when it is. `title` and
 *   `annotations.title`: the one-line summary (≤ 200).
 * - inputSchema: every argument, with every constraint (`type`, `enum`,
 *   `const`, `default` except `null`, `format`, `pattern`, bounds, `required`,
 *   nested structure). Descriptions: whole sentences of the first paragraph,
 *   ≤ 200 characters, for arguments; the first sentence, ≤ 120, below them. No
 *   examples, no `title` except an argument's own when it has no description.
 *   Over 16 KB of JSON, repeats move to `$defs`, then nested descriptions go,
 *   deepest first (compact-schema.ts).
 * - outputSchema: the top-level property names of a JSON object response and
 *   their types, nothing else; `{ "type": "object" }` past 2 KB
 *   (SchemaConverter.outputShape).
 */
import type { BodyBinding, BodyPropertyEncoding, JsonSchema, ObjectSchema, ParameterBinding, ParameterLocation, ParameterStyle, ToolAnnotations, ToolDefinition } from './tool-definition.js';
import { childPointer } from './json-pointer.js';
import { InputCompactor } from './compact-schema.js';
import { MAX_SCHEMA_DESCRIPTION, shorten, type Converted, type SchemaConverter } from './json-schema.js';
import { isObj, put, str, type Obj } from './oas.js';
import { deref } from './refs.js';
import { shortText } from './short-text.js';

export interface OperationInput {
  /** Backend (config `backends[].name`). */
  backend: string;
  /** The tool name (see tool-name.ts). */
  name: string;
  /** Lower-case HTTP method as in the Path Item. */
  method: string;
  /** Path template. */
  path: string;
  /** The (dereferenced) Path Item, for path-level parameters. */
  pathItem: Obj;
  operation: Obj;
  /** JSON pointer of the operation, e.g. `#/paths/~1items~1{id}/get`. */
  pointer: string;
  /** Absolute base URL without a trailing slash. */
  baseUrl: string;
  /** Converter of the document the operation belongs to (it memoises shared schemas). */
  schemas: SchemaConverter;
  /** The 3.x-shaped document, for parameter/body/response `$ref`s. */
  document: unknown;
  /** Names the spec in errors. */
  source: string;
  /** Receives non-fatal problems (an undeclared path parameter, an unknown location...). */
  warn: (message: string) => void;
}

/** No tool description is longer than this (several clients truncate or reject longer ones). */
export const MAX_TOOL_DESCRIPTION = 1024;
/**
 * Characters of a tool description made from the spec: the summary, then the
 * first paragraph of the description in whole sentences (short-text.ts). A
 * model picks a tool from its name and first lines; the rest of a long
 * description is documentation, repeated in every tools/list.
 */
export const TOOL_DESCRIPTION_BUDGET = 512;
const LOCATIONS: readonly ParameterLocation[] = ['path', 'query', 'header', 'cookie'];
const STYLES = new Set<ParameterStyle>(['matrix', 'label', 'simple', 'form', 'spaceDelimited', 'pipeDelimited', 'deepObject']);
/** OAS 3.x §Parameter Object: header parameters with these names "SHALL be ignored". */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
/** Body media types in order of preference (regexes over the type without parameters). */
const BODY_PREFERENCE = [
  /^application\/json$/,
  /^[a-z]+\/[^;]*\+json$/,
  /^application\/x-www-form-urlencoded$/,
  /^multipart\/form-data$/,
  /^text\/plain$/,
  /^application\/octet-stream$/,
];
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

interface Param {
  name: string;
  in: ParameterLocation;
  raw: Obj;
  pointer: string;
}

export function operationToTool(input: OperationInput): ToolDefinition {
  const { operation: op, schemas } = input;
  const method = input.method.toUpperCase();
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  let needs: string[] = [];
  const use = (c: Converted): JsonSchema => {
    if (c.needs) needs = [...needs, ...c.needs];
    return c.schema;
  };
  const taken = new Set<string>();
  const claim = (wireName: string, location: string): string => {
    const bare = fit(argName(wireName), '');
    let arg = bare;
    if (taken.has(arg)) arg = fit(bare, `_${location}`);
    for (let i = 2; taken.has(arg); i++) arg = fit(bare, `_${location}${i}`);
    taken.add(arg);
    return arg;
  };

  const parameters: ParameterBinding[] = [];
  for (const p of collectParameters(input)) {
    const arg = claim(p.name, p.in);
    const { schema: conv, contentType } = parameterSchema(p, input);
    let schema = use(conv);
    const description = shortText(p.raw['description'], MAX_SCHEMA_DESCRIPTION);
    if (description && description !== schema['description']) schema = { ...schema, description };
    if (p.raw['deprecated'] === true && schema['deprecated'] !== true) schema = { ...schema, deprecated: true };
    if (p.in === 'path') schema = nonEmptyString(schema);
    put(properties, arg, schema);
    if (p.in === 'path' || p.raw['required'] === true) required.push(arg);
    parameters.push(parameterBinding(arg, p, contentType));
  }

  const body = requestBody(input);
  let bodyBinding: BodyBinding | undefined;
  if (body) {
    const c = schemas.unwrap(body.schema, 'input');
    const schema = use(c);
    if (flattenable(schema)) {
      const args: Record<string, string> = {};
      const bodyRequired = new Set(Array.isArray(schema['required']) ? (schema['required'] as string[]) : []);
      for (const [prop, propSchema] of Object.entries(schema['properties'] as Record<string, JsonSchema>)) {
        const arg = claim(prop, 'body');
        put(args, arg, prop);
        put(properties, arg, propSchema);
        // Required body properties are required arguments even when the spec
        // leaves requestBody.required unset: specs omit it far more often than
        // APIs accept an empty body (e.g. 390 of Stripe's 452 bodies).
        if (bodyRequired.has(prop)) required.push(arg);
      }
      bodyBinding = { contentType: body.contentType, required: body.required, mode: 'properties', args };
    } else {
      const arg = claim('body', 'body');
      const description = shortText(body.description, MAX_SCHEMA_DESCRIPTION);
      put(properties, arg, description && schema['description'] === undefined ? { ...schema, description } : schema);
      if (body.required) required.push(arg);
      bodyBinding = { contentType: body.contentType, required: body.required, mode: 'wrapped', arg };
    }
    if (body.encoding) bodyBinding.encoding = body.encoding;
  }

  const defs = needs.length > 0 ? schemas.defsFor(needs, 'input') : undefined;
  const inputSchema = compactorFor(schemas).compact(properties, required, defs);

  const summary = shorten(oneLine(op['summary']), 200);
  const annotations: ToolAnnotations = {};
  if (summary) annotations.title = summary;
  // RFC 9110 §9.2.1 (safe methods) and §9.2.2 (idempotent methods).
  if (SAFE_METHODS.has(method)) annotations.readOnlyHint = true;
  if (method === 'DELETE') annotations.destructiveHint = true;
  if (method === 'PUT' || method === 'DELETE') annotations.idempotentHint = true;

  const tool: ToolDefinition = {
    name: input.name,
    description: toolDescription(op, method, input.path),
    inputSchema,
    annotations,
    backend: input.backend,
    source: { method, path: input.path, pointer: input.pointer },
    binding: { method, path: input.path, baseUrl: input.baseUrl, parameters },
  };
  if (summary) tool.title = summary;
  const operationId = str(op['operationId']);
  if (operationId) tool.source.operationId = operationId;
  const tags = Array.isArray(op['tags']) ? op['tags'].filter((t): t is string => typeof t === 'string' && t.length > 0) : [];
  if (tags.length > 0) tool.tags = tags;
  if (bodyBinding) tool.binding.body = bodyBinding;
  const outputSchema = responseSchema(input);
  if (outputSchema) tool.outputSchema = outputSchema;
  return tool;
}

/**
 * Path-level then operation-level parameters; an operation parameter replaces a
 * path-level one with the same name and location (OAS 3.x §Path Item Object).
 * Path placeholders with no declared parameter get a string parameter, so the
 * path can always be filled.
 */
function collectParameters(input: OperationInput): Param[] {
  const byKey = new Map<string, Param>();
  const lists: [unknown, string][] = [
    [input.pathItem['parameters'], childPointer(input.pointer.slice(0, input.pointer.lastIndexOf('/')), 'parameters')],
    [input.operation['parameters'], childPointer(input.pointer, 'parameters')],
  ];
  for (const [list, listPointer] of lists) {
    if (!Array.isArray(list)) continue;
    list.forEach((raw, i) => {
      const { value, pointer } = deref(input.document, raw, childPointer(listPointer, i), input.source);
      if (!isObj(value)) return;
      const name = str(value['name']);
      const where = str(value['in']);
      if (!name || !LOCATIONS.includes(where as ParameterLocation)) {
        input.warn(`${pointer}: parameter ${JSON.stringify(name)} in ${JSON.stringify(where)} is not a path, query, header or cookie parameter; ignored`);
        return;
      }
      if (where === 'header' && IGNORED_HEADERS.has(name.toLowerCase())) return;
      byKey.set(`${where}:${name}`, { name, in: where as ParameterLocation, raw: value, pointer });
    });
  }

  // Only the path before a fragment is sent (RFC 3986 §3.5; build-request.ts).
  const placeholders = [...input.path.replace(/#.*$/s, '').matchAll(/\{([^{}]+)\}/g)].map((m) => m[1] as string);
  for (const [key, p] of byKey) {
    if (p.in === 'path' && !placeholders.includes(p.name)) {
      input.warn(`${p.pointer}: path parameter "${p.name}" does not appear in ${input.path}; ignored`);
      byKey.delete(key);
    }
  }
  for (const name of placeholders) {
    if (byKey.has(`path:${name}`)) continue;
    input.warn(`${input.pointer}: path placeholder {${name}} has no parameter; declared as a required string`);
    byKey.set(`path:${name}`, { name, in: 'path', raw: { name, in: 'path', required: true, schema: { type: 'string' } }, pointer: input.pointer });
  }
  const all = [...byKey.values()];
  return LOCATIONS.flatMap((loc) => all.filter((p) => p.in === loc));
}

function parameterSchema(p: Param, input: OperationInput): { schema: Converted; contentType?: string } {
  if (p.raw['schema'] !== undefined) return { schema: input.schemas.convert(p.raw['schema'], 'input', childPointer(p.pointer, 'schema')) };
  const content = p.raw['content'];
  if (isObj(content)) {
    const [contentType, media] = Object.entries(content)[0] ?? [];
    if (contentType !== undefined) {
      const mediaSchema = isObj(media) ? media['schema'] : undefined;
      const pointer = childPointer(childPointer(childPointer(p.pointer, 'content'), contentType), 'schema');
      return { schema: input.schemas.convert(mediaSchema, 'input', pointer), contentType };
    }
  }
  // No schema: every parameter travels as text.
  return { schema: { schema: { type: 'string' } } };
}

/** Keywords that already say what an untyped schema holds: {@link nonEmptyString} leaves it alone. */
const UNTYPED_KEEP = ['$ref', 'allOf', 'anyOf', 'oneOf', 'not', 'const', 'enum'] as const;

/**
 * A path parameter cannot be empty (build-request.ts refuses `""`: it would
 * address another resource), so its string forms say `minLength: 1` and the
 * agent knows before it calls. A larger `minLength` is kept, and an `enum`
 * without `""` needs nothing more; `pattern` and the rest stay as they are. Type arrays arrive split into `anyOf`
 * branches (json-schema.ts `splitTypeArray`), so the string branch gets it;
 * a schema with no `type` gets it too, as `minLength` constrains only strings.
 * A `$ref` (a cyclic schema, never a string) or `allOf` is left alone.
 * Converted schemas are shared between tools: this returns a copy.
 */
function nonEmptyString(schema: JsonSchema): JsonSchema {
  const t = schema['type'];
  if (Array.isArray(schema['anyOf']) && t === undefined) {
    const branches = schema['anyOf'] as JsonSchema[];
    const next = branches.map((b) => (isObj(b) ? nonEmptyString(b) : b));
    return next.some((b, i) => b !== branches[i]) ? { ...schema, anyOf: next } : schema;
  }
  const untyped = t === undefined && !UNTYPED_KEEP.some((k) => schema[k] !== undefined);
  if (!(t === 'string' || (Array.isArray(t) && t.includes('string')) || untyped)) return schema;
  const min = schema['minLength'];
  if (typeof min === 'number' && min >= 1) return schema;
  // Listed values already tell the agent what to send, unless "" is one of them.
  const values = Array.isArray(schema['enum']) ? (schema['enum'] as unknown[]) : 'const' in schema ? [schema['const']] : undefined;
  if (values !== undefined && !values.includes('')) return schema;
  return { ...schema, minLength: 1 };
}

/** OAS 3.x §Parameter Object: style defaults by location; explode defaults to `style === "form"`. */
function parameterBinding(arg: string, p: Param, contentType: string | undefined): ParameterBinding {
  const declared = str(p.raw['style']);
  const style: ParameterStyle = declared && STYLES.has(declared as ParameterStyle) ? (declared as ParameterStyle) : p.in === 'query' || p.in === 'cookie' ? 'form' : 'simple';
  const explode = typeof p.raw['explode'] === 'boolean' ? p.raw['explode'] : style === 'form';
  const binding: ParameterBinding = { arg, name: p.name, in: p.in, style, explode, allowReserved: p.in === 'query' && p.raw['allowReserved'] === true };
  if (contentType !== undefined) binding.contentType = contentType;
  return binding;
}

interface Body {
  contentType: string;
  required: boolean;
  description: unknown;
  schema: Converted;
  encoding?: Record<string, BodyPropertyEncoding>;
}

function requestBody(input: OperationInput): Body | undefined {
  const raw = input.operation['requestBody'];
  if (raw === undefined) return undefined;
  const { value: rb, pointer } = deref(input.document, raw, childPointer(input.pointer, 'requestBody'), input.source);
  if (!isObj(rb) || !isObj(rb['content'])) return undefined;
  const content = rb['content'];
  const types = Object.keys(content);
  const chosen = pickMediaType(types);
  if (chosen === undefined) return undefined;
  const media = isObj(content[chosen]) ? content[chosen] : {};
  const base = essence(chosen);
  const mediaPointer = childPointer(childPointer(pointer, 'content'), chosen);
  const schema =
    media['schema'] !== undefined
      ? input.schemas.convert(media['schema'], 'input', childPointer(mediaPointer, 'schema'))
      : { schema: base.endsWith('json') ? {} : { type: 'string' } };
  const body: Body = { contentType: sendableType(chosen), required: rb['required'] === true, description: rb['description'], schema };
  if ((base === 'application/x-www-form-urlencoded' || base.startsWith('multipart/')) && isObj(media['encoding'])) {
    const encoding: Record<string, BodyPropertyEncoding> = {};
    for (const [prop, e] of Object.entries(media['encoding'])) {
      if (!isObj(e)) continue;
      const enc: BodyPropertyEncoding = {};
      if (typeof e['contentType'] === 'string') enc.contentType = e['contentType'];
      if (typeof e['style'] === 'string' && STYLES.has(e['style'] as ParameterStyle)) enc.style = e['style'] as ParameterStyle;
      if (typeof e['explode'] === 'boolean') enc.explode = e['explode'];
      if (typeof e['allowReserved'] === 'boolean') enc.allowReserved = e['allowReserved'];
      put(encoding, prop, enc);
    }
    if (Object.keys(encoding).length > 0) body.encoding = encoding;
  }
  return body;
}

/** The media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`). */
function essence(mediaType: string): string {
  return (mediaType.split(';', 1)[0] ?? '').trim().toLowerCase();
}

export function pickMediaType(types: readonly string[]): string | undefined {
  for (const re of BODY_PREFERENCE) {
    const hit = types.find((t) => re.test(essence(t)));
    if (hit !== undefined) return hit;
  }
  return types[0];
}

/** A wildcard range (`*\/*`, `application/*`) is not a Content-Type; send a concrete one. */
function sendableType(mediaType: string): string {
  const e = essence(mediaType);
  if (e === '*/*' || e === 'application/*') return 'application/json';
  if (e.endsWith('/*')) return 'application/octet-stream';
  return mediaType;
}

/** A body whose top level can become tool arguments: a plain object schema with properties. */
function flattenable(schema: JsonSchema): boolean {
  const t = schema['type'];
  const isObject = t === 'object' || (Array.isArray(t) && t.includes('object') && !t.some((x) => x !== 'object' && x !== 'null'));
  if (!isObject || !isObj(schema['properties']) || Object.keys(schema['properties']).length === 0) return false;
  // Composition at the top would be lost when the properties are spread out.
  for (const k of ['anyOf', 'oneOf', 'allOf', 'not', 'if', '$ref', 'dependentSchemas']) if (schema[k] !== undefined) return false;
  return true;
}

/** From the first 2xx response (200, 201, …, then 2XX) with a JSON media type, when it is an object. */
function responseSchema(input: OperationInput): ObjectSchema | undefined {
  const responses = input.operation['responses'];
  if (!isObj(responses)) return undefined;
  const codes = Object.keys(responses)
    .filter((c) => /^2(\d\d|XX)$/i.test(c))
    .sort((a, b) => (a.toUpperCase() === '2XX' ? 1 : b.toUpperCase() === '2XX' ? -1 : Number(a) - Number(b)));
  for (const code of codes) {
    const base = childPointer(childPointer(input.pointer, 'responses'), code);
    const { value: response, pointer } = deref(input.document, responses[code], base, input.source);
    if (!isObj(response) || !isObj(response['content'])) continue;
    const content = response['content'];
    const json = Object.keys(content).find((t) => { const e = essence(t); return e === 'application/json' || e.endsWith('+json'); });
    if (json === undefined) continue;
    const media = content[json];
    if (!isObj(media) || media['schema'] === undefined) return undefined;
    return input.schemas.outputShape(media['schema'], childPointer(childPointer(childPointer(pointer, 'content'), json), 'schema'));
  }
  return undefined;
}

/** One compactor per converter (per imported document), so compacted shared schemas are shared too. */
const compactors = new WeakMap<SchemaConverter, InputCompactor>();

function compactorFor(schemas: SchemaConverter): InputCompactor {
  let c = compactors.get(schemas);
  if (!c) compactors.set(schemas, (c = new InputCompactor((s) => schemas.nameOf(s))));
  return c;
}

/** The summary, then what the first paragraph of the description adds, within {@link TOOL_DESCRIPTION_BUDGET}. */
function toolDescription(op: Obj, method: string, path: string): string {
  const summary = oneLine(op['summary'])?.trim() ?? '';
  const prefix = op['deprecated'] === true ? 'Deprecated. ' : '';
  const room = TOOL_DESCRIPTION_BUDGET - prefix.length - (summary ? summary.length + 2 : 0);
  // Too little room left for a sentence: the summary says it.
  const first = room >= 40 ? shortText(op['description'], room) : undefined;
  let text = summary;
  if (first && first !== summary) text = !summary || first.startsWith(summary) ? first : `${summary}\n\n${first}`;
  if (!text) text = `${method} ${path}`;
  text = prefix + text;
  return text.length > TOOL_DESCRIPTION_BUDGET ? (shorten(text, TOOL_DESCRIPTION_BUDGET) ?? text) : text;
}

function oneLine(v: unknown): string | undefined {
  return typeof v === 'string' ? v.replace(/\s+/g, ' ') : undefined;
}

/** A property name every provider accepts: `^[a-zA-Z0-9_.-]{1,64}$`. */
function argName(wireName: string): string {
  return wireName.replace(/[^a-zA-Z0-9_.-]/g, '_') || '_';
}

function fit(name: string, suffix: string): string {
  return name.slice(0, 64 - suffix.length) + suffix;
}
