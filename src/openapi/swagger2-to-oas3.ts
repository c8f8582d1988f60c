/**
 * Swagger 2.0 → OpenAPI 3.0 normalisation, so that the rest of the importer
 * reads one shape.
 *
 * Written here rather than taken from the usual converter package
 * (swagger2openapi): that package is unmaintained, pulls in a large dependency
 * tree, and resolves external `$ref`s over the network by default, which the
 * importer must not do (SSRF). This is a pure function of the parsed document;
 * it covers what the importer needs and never drops a parameter.
 *
 * Mapping (OpenAPI 3.0.3 spec, "Appendix: upgrading from 2.0" and the 2.0 spec):
 * - `host` + `basePath` + `schemes` → `servers` (https first);
 * - `in: body` → `requestBody` with one media type per `consumes`;
 * - `in: formData` → a form body: multipart/form-data when a parameter has
 *   `type: file` or `consumes` lists multipart, else application/x-www-form-urlencoded;
 * - parameter-level `type`/`items`/`enum`/`format`/`default`/`minimum`... → `schema`;
 * - `collectionFormat` → `style`/`explode` (parameters) or an Encoding Object (form bodies);
 * - response `schema` → `content` with one media type per `produces`;
 * - `#/definitions/X` → `#/components/schemas/X`, `#/responses/X` → `#/components/responses/X`;
 *   parameter refs are inlined (body and form parameters change shape, so they cannot stay refs).
 */
import { childPointer, getAt, parseLocalRef, toPointer } from './json-pointer.js';
import { HTTP_METHODS, isObj, put, str, type Obj, type OasDocument } from './oas.js';

export interface Swagger2Conversion {
  document: OasDocument;
  /** Approximations made (e.g. `collectionFormat: tsv`, which 3.x cannot express). */
  warnings: string[];
}

/** Keywords a 2.0 parameter, Items or Header object shares with a Schema Object. */
const SIMPLE_SCHEMA_KEYS = [
  'type', 'format', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'enum', 'multipleOf',
] as const;

export function swagger2ToOas3(doc: Obj): Swagger2Conversion {
  const warnings: string[] = [];
  const globalConsumes = strings(doc['consumes']);
  const globalProduces = strings(doc['produces']);

  const out: OasDocument = { openapi: '3.0.3' };
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'info' || k === 'tags' || k === 'security' || k === 'externalDocs' || k.startsWith('x-')) out[k] = v;
  }
  const servers = toServers(doc['host'], doc['basePath'], doc['schemes']);
  if (servers.length > 0) out.servers = servers;

  const paths: Record<string, unknown> = {};
  for (const [template, rawItem] of Object.entries(isObj(doc['paths']) ? doc['paths'] : {})) {
    if (!isObj(rawItem)) continue;
    const itemPointer = toPointer(['paths', template]);
    const item: Obj = {};
    for (const [k, v] of Object.entries(rawItem)) {
      if (k === '$ref' || k.startsWith('x-')) item[k] = v;
    }
    const pathParams = Array.isArray(rawItem['parameters']) ? rawItem['parameters'] : [];
    for (const method of HTTP_METHODS) {
      const op = rawItem[method];
      if (!isObj(op)) continue;
      const ctx: OpContext = {
        doc,
        pointer: childPointer(itemPointer, method),
        consumes: strings(op['consumes']) ?? globalConsumes ?? ['application/json'],
        produces: strings(op['produces']) ?? globalProduces ?? ['application/json'],
        warnings,
      };
      item[method] = convertOperation(op, pathParams, ctx);
      const opServers = op['schemes'] === undefined ? [] : toServers(doc['host'], doc['basePath'], op['schemes']);
      if (opServers.length > 0) (item[method] as Obj)['servers'] = opServers;
    }
    paths[template] = item;
  }
  out.paths = paths;

  const components: Obj = {};
  if (isObj(doc['definitions'])) {
    const schemas: Obj = {};
    for (const [name, s] of Object.entries(doc['definitions'])) put(schemas, name, convertSchema(s));
    components['schemas'] = schemas;
  }
  if (isObj(doc['responses'])) {
    const responses: Obj = {};
    const produces = globalProduces ?? ['application/json'];
    for (const [name, r] of Object.entries(doc['responses'])) responses[name] = convertResponse(r, produces);
    components['responses'] = responses;
  }
  if (isObj(doc['securityDefinitions'])) {
    const schemes: Obj = {};
    for (const [name, s] of Object.entries(doc['securityDefinitions'])) if (isObj(s)) schemes[name] = convertSecurityScheme(s);
    components['securitySchemes'] = schemes;
  }
  if (Object.keys(components).length > 0) out.components = components;
  return { document: out, warnings };
}

interface OpContext {
  doc: Obj;
  pointer: string;
  consumes: string[];
  produces: string[];
  warnings: string[];
}

function convertOperation(op: Obj, pathParams: unknown[], ctx: OpContext): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(op)) {
    if (k === 'parameters' || k === 'responses' || k === 'consumes' || k === 'produces' || k === 'schemes') continue;
    out[k] = v;
  }

  // Operation parameters override path-level ones with the same name and location
  // (2.0 §Path Item Object). Refs are inlined: body and formData parameters change shape.
  const merged = new Map<string, Obj>();
  const opParams = Array.isArray(op['parameters']) ? op['parameters'] : [];
  for (const raw of [...pathParams, ...opParams]) {
    const p = inlineParameter(raw, ctx);
    if (p) merged.set(`${str(p['in'])}:${str(p['name'])}`, p);
  }

  const parameters: Obj[] = [];
  const form: Obj[] = [];
  let body: Obj | undefined;
  for (const p of merged.values()) {
    const where = str(p['in']);
    if (where === 'body') body = p;
    else if (where === 'formData') form.push(p);
    else if (where === 'query' || where === 'path' || where === 'header') parameters.push(convertParameter(p, where, ctx));
    else ctx.warnings.push(`${ctx.pointer}: parameter "${str(p['name'])}" has unknown location "${String(where)}"`);
  }
  if (parameters.length > 0) out['parameters'] = parameters;

  if (body) {
    const content: Obj = {};
    for (const ct of ctx.consumes) content[ct] = { schema: convertSchema(body['schema'] ?? {}) };
    out['requestBody'] = pick({ description: body['description'], required: body['required'] === true, content });
  } else if (form.length > 0) {
    out['requestBody'] = formBody(form, ctx);
  }

  const responses: Obj = {};
  for (const [code, r] of Object.entries(isObj(op['responses']) ? op['responses'] : {})) {
    responses[code] = convertResponse(r, ctx.produces);
  }
  out['responses'] = responses;
  return out;
}

function inlineParameter(raw: unknown, ctx: OpContext): Obj | undefined {
  let p = raw;
  for (let hops = 0; isObj(p) && typeof p['$ref'] === 'string' && hops < 10; hops++) {
    const tokens = parseLocalRef(p['$ref']);
    const target = tokens ? getAt(ctx.doc, tokens) : undefined;
    if (target === undefined) {
      // Left for the importer to report (external or unresolvable); it names the pointer.
      return p;
    }
    p = target;
  }
  return isObj(p) ? p : undefined;
}

function convertParameter(p: Obj, where: 'query' | 'path' | 'header', ctx: OpContext): Obj {
  if (typeof p['$ref'] === 'string') return p;
  const out: Obj = { name: p['name'], in: where };
  if (p['description'] !== undefined) out['description'] = p['description'];
  if (where === 'path' || p['required'] === true) out['required'] = true;
  if (p['deprecated'] !== undefined) out['deprecated'] = p['deprecated'];
  if (where === 'query' && p['allowEmptyValue'] !== undefined) out['allowEmptyValue'] = p['allowEmptyValue'];
  out['schema'] = simpleSchema(p);
  if (p['type'] === 'array') {
    const style = collectionStyle(p['collectionFormat'], where, `${ctx.pointer} parameter "${str(p['name'])}"`, ctx.warnings);
    out['style'] = style.style;
    out['explode'] = style.explode;
  }
  for (const [k, v] of Object.entries(p)) if (k.startsWith('x-') && k !== 'x-nullable') out[k] = v;
  return out;
}

function formBody(form: Obj[], ctx: OpContext): Obj {
  const multipart =
    form.some((p) => p['type'] === 'file') || ctx.consumes.some((c) => /^multipart\/form-data\b/i.test(c));
  const mediaType = multipart
    ? (ctx.consumes.find((c) => /^multipart\/form-data\b/i.test(c)) ?? 'multipart/form-data')
    : (ctx.consumes.find((c) => /^application\/x-www-form-urlencoded\b/i.test(c)) ?? 'application/x-www-form-urlencoded');
  const properties: Obj = {};
  const required: string[] = [];
  const encoding: Obj = {};
  for (const p of form) {
    const name = str(p['name']);
    if (name === undefined) continue;
    const schema = simpleSchema(p);
    if (typeof p['description'] === 'string') schema['description'] = p['description'];
    put(properties, name, schema);
    if (p['required'] === true) required.push(name);
    if (p['type'] === 'array') {
      put(encoding, name, collectionStyle(p['collectionFormat'], 'query', `${ctx.pointer} form field "${name}"`, ctx.warnings));
    }
  }
  const schema: Obj = { type: 'object', properties };
  if (required.length > 0) schema['required'] = required;
  const media: Obj = { schema };
  if (Object.keys(encoding).length > 0) media['encoding'] = encoding;
  return { required: required.length > 0, content: { [mediaType]: media } };
}

/** A 2.0 parameter/Items/Header object → a 3.0 Schema Object. */
function simpleSchema(p: Obj): Obj {
  const s: Obj = {};
  for (const k of SIMPLE_SCHEMA_KEYS) if (p[k] !== undefined) s[k] = p[k];
  if (s['type'] === 'file') {
    s['type'] = 'string';
    s['format'] = 'binary';
  }
  if (p['x-nullable'] === true) s['nullable'] = true;
  if (p['type'] === 'array') s['items'] = isObj(p['items']) ? simpleSchema(p['items']) : {};
  return s;
}

/**
 * `collectionFormat` → style/explode (3.0.3 §Style Values). 2.0's default is csv,
 * unlike 3.x's query default (form, exploded), so the style is always explicit.
 */
function collectionStyle(
  format: unknown,
  where: 'query' | 'path' | 'header',
  what: string,
  warnings: string[],
): { style: string; explode: boolean } {
  const delimited = (style: string) => {
    if (where === 'query') return { style, explode: false };
    warnings.push(`${what}: collectionFormat "${String(format)}" has no 3.x equivalent outside the query; sent comma-separated`);
    return { style: 'simple', explode: false };
  };
  switch (format) {
    case 'multi':
      return { style: 'form', explode: true };
    case 'ssv':
      return delimited('spaceDelimited');
    case 'pipes':
      return delimited('pipeDelimited');
    case 'tsv':
      warnings.push(`${what}: collectionFormat "tsv" has no OpenAPI 3.x equivalent; sent comma-separated`);
      return where === 'query' ? { style: 'form', explode: false } : { style: 'simple', explode: false };
    default:
      return where === 'query' ? { style: 'form', explode: false } : { style: 'simple', explode: false };
  }
}

function convertResponse(r: unknown, produces: string[]): unknown {
  if (!isObj(r)) return r;
  if (typeof r['$ref'] === 'string') return { $ref: rewriteRef(r['$ref']) };
  const out: Obj = { description: typeof r['description'] === 'string' ? r['description'] : '' };
  if (r['schema'] !== undefined) {
    const schema = convertSchema(r['schema']);
    const content: Obj = {};
    for (const ct of produces) content[ct] = { schema };
    out['content'] = content;
  }
  if (isObj(r['headers'])) {
    const headers: Obj = {};
    for (const [name, h] of Object.entries(r['headers'])) {
      if (!isObj(h)) continue;
      headers[name] = pick({ description: h['description'], schema: simpleSchema(h) });
    }
    out['headers'] = headers;
  }
  return out;
}

/** Rewrites a 2.0 Schema Object to 3.0: refs, `type: file`, `x-nullable`, string discriminators. */
function convertSchema(s: unknown): unknown {
  if (!isObj(s)) return s;
  if (typeof s['$ref'] === 'string') return { ...s, $ref: rewriteRef(s['$ref']) };
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    switch (k) {
      case 'properties':
      case 'patternProperties':
        out[k] = isObj(v) ? Object.fromEntries(Object.entries(v).map(([n, p]) => [n, convertSchema(p)])) : v;
        break;
      case 'items':
        out[k] = Array.isArray(v) ? v.map(convertSchema) : convertSchema(v);
        break;
      case 'additionalProperties':
      case 'not':
        out[k] = convertSchema(v);
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[k] = Array.isArray(v) ? v.map(convertSchema) : v;
        break;
      case 'x-nullable':
        if (v === true) out['nullable'] = true;
        break;
      case 'discriminator':
        out[k] = typeof v === 'string' ? { propertyName: v } : v;
        break;
      default:
        out[k] = v;
    }
  }
  if (out['type'] === 'file') {
    out['type'] = 'string';
    out['format'] = 'binary';
  }
  return out;
}

function rewriteRef(ref: string): string {
  if (ref.startsWith('#/definitions/')) return '#/components/schemas/' + ref.slice('#/definitions/'.length);
  if (ref.startsWith('#/responses/')) return '#/components/responses/' + ref.slice('#/responses/'.length);
  return ref;
}

function toServers(host: unknown, basePath: unknown, schemes: unknown): Obj[] {
  let base = typeof basePath === 'string' ? basePath : '';
  if (base !== '' && !base.startsWith('/')) base = '/' + base;
  const list = (strings(schemes) ?? []).map((s) => s.toLowerCase()).filter((s) => s === 'https' || s === 'http');
  list.sort((a, b) => (a === b ? 0 : a === 'https' ? -1 : 1));
  if (typeof host !== 'string' || host === '') {
    // 2.0: without host, "the host (and port) serving the documentation is to be used".
    return [{ url: base === '' ? '/' : base }];
  }
  // Without schemes, "the scheme used to access the documentation": a scheme-relative URL.
  if (list.length === 0) return [{ url: `//${host}${base}` }];
  return [...new Set(list)].map((scheme) => ({ url: `${scheme}://${host}${base}` }));
}

function convertSecurityScheme(s: Obj): Obj {
  const description = s['description'];
  switch (s['type']) {
    case 'basic':
      return pick({ type: 'http', scheme: 'basic', description });
    case 'apiKey':
      return pick({ type: 'apiKey', name: s['name'], in: s['in'], description });
    case 'oauth2': {
      const scopes = isObj(s['scopes']) ? s['scopes'] : {};
      const flow = s['flow'];
      const flows: Obj = {};
      if (flow === 'implicit') flows['implicit'] = { authorizationUrl: s['authorizationUrl'], scopes };
      else if (flow === 'password') flows['password'] = { tokenUrl: s['tokenUrl'], scopes };
      else if (flow === 'application') flows['clientCredentials'] = { tokenUrl: s['tokenUrl'], scopes };
      else if (flow === 'accessCode') flows['authorizationCode'] = { authorizationUrl: s['authorizationUrl'], tokenUrl: s['tokenUrl'], scopes };
      return pick({ type: 'oauth2', flows, description });
    }
    default:
      return s;
  }
}

function strings(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = v.filter((x): x is string => typeof x === 'string');
  return out.length > 0 ? out : undefined;
}

/** Drops undefined members, so the converted document holds no `undefined` values. */
function pick(o: Obj): Obj {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
