// A synthetic OpenAPI 3.0 document of any size, for benchmarks and size tests.
//
//   import { syntheticSpec } from './synthetic-spec.mjs';
//   const doc = syntheticSpec({ operations: 10_000 });
//
//   node bench/synthetic-spec.mjs [--operations 10000] [--tags 48] > spec.json
//
// The shape follows real large APIs (GitHub, Stripe): resources grouped by
// domain, five CRUD operations per resource (list, create, get, update,
// delete), camelCase operationIds, summaries and descriptions in plain words,
// path and query parameters, JSON bodies and responses through shared
// `components.schemas` $refs. It is deterministic: the same options give the
// same bytes, so figures are comparable between runs.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const DOMAINS = [
  'billing', 'catalog', 'fleet', 'identity', 'inventory', 'logistics', 'marketing', 'payroll',
  'procurement', 'support', 'analytics', 'compliance', 'content', 'scheduling', 'telemetry', 'warehouse',
];
const NOUNS = [
  'invoice', 'customer', 'vehicle', 'driver', 'product', 'order', 'shipment', 'campaign', 'employee', 'supplier',
  'ticket', 'report', 'policy', 'document', 'appointment', 'sensor', 'pallet', 'coupon', 'contract', 'route',
  'account', 'payment', 'refund', 'subscription', 'webhook', 'team', 'project', 'asset', 'alert', 'audit',
];
const ACTIONS = [
  { verb: 'list', method: 'get', item: false, summary: (n) => `List ${n}s`, description: (n, d) => `Returns the ${n}s of the ${d} service, newest first, one page at a time.` },
  { verb: 'create', method: 'post', item: false, summary: (n) => `Create ${a(n)}`, description: (n, d) => `Creates a new ${n} in the ${d} service and returns it.` },
  { verb: 'get', method: 'get', item: true, summary: (n) => `Get ${a(n)}`, description: (n, d) => `Returns one ${n} of the ${d} service by its identifier.` },
  { verb: 'update', method: 'patch', item: true, summary: (n) => `Update ${a(n)}`, description: (n, d) => `Changes the given fields of ${a(n)} in the ${d} service.` },
  { verb: 'delete', method: 'delete', item: true, summary: (n) => `Delete ${a(n)}`, description: (n, d) => `Removes ${a(n)} from the ${d} service. This cannot be undone.` },
];

const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const a = (noun) => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`);

/**
 * @param {{ operations?: number, tags?: number, title?: string, serverUrl?: string }} [options]
 *   operations: how many operations (default 10,000); tags: distinct tags, at most one per
 *   resource (default 48); title: `info.title`; serverUrl: `servers[0].url`.
 * @returns {Record<string, unknown>} an OpenAPI 3.0.3 document
 */
export function syntheticSpec(options = {}) {
  const operations = options.operations ?? 10_000;
  const tagCount = Math.max(1, options.tags ?? 48);
  const paths = {};
  const schemas = {};
  const tags = new Map();
  let made = 0;
  for (let r = 0; made < operations; r++) {
    const domain = DOMAINS[r % DOMAINS.length];
    const noun = NOUNS[Math.floor(r / DOMAINS.length) % NOUNS.length];
    const round = Math.floor(r / (DOMAINS.length * NOUNS.length));
    const version = `v${round + 1}`;
    const Resource = `${capital(domain)}${capital(noun)}${round > 0 ? capital(version) : ''}`;
    // Tag t names its domain when tagCount is a multiple of the 16 domains (the default, 48, is).
    const t = r % tagCount;
    const tag = `${DOMAINS[t % DOMAINS.length]}${t >= DOMAINS.length ? `-${Math.floor(t / DOMAINS.length) + 1}` : ''}`;
    tags.set(tag, true);
    schemas[Resource] = {
      type: 'object',
      required: ['id', 'name'],
      properties: {
        id: { type: 'string', readOnly: true, description: `Identifier of the ${noun}.` },
        name: { type: 'string', minLength: 1, maxLength: 200, description: `Display name of the ${noun}.` },
        status: { type: 'string', enum: ['active', 'archived', 'pending'] },
        quantity: { type: 'integer', minimum: 0 },
        labels: { type: 'array', items: { type: 'string' } },
        metadata: { type: 'object', additionalProperties: { type: 'string' } },
        created_at: { type: 'string', format: 'date-time', readOnly: true },
      },
    };
    const ref = { $ref: `#/components/schemas/${Resource}` };
    const base = `/${version}/${domain}/${noun}s`;
    for (const action of ACTIONS) {
      if (made >= operations) break;
      made++;
      const path = action.item ? `${base}/{${noun}_id}` : base;
      const operation = {
        operationId: `${action.verb}${Resource}${action.verb === 'list' ? 's' : ''}`,
        summary: action.summary(noun, domain),
        description: action.description(noun, domain),
        tags: [tag],
        parameters: [],
        responses: {},
      };
      if (action.item) operation.parameters.push({ name: `${noun}_id`, in: 'path', required: true, schema: { type: 'string' } });
      if (action.verb === 'list') {
        operation.parameters.push(
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        );
        operation.responses['200'] = {
          description: 'A page',
          content: { 'application/json': { schema: { type: 'object', properties: { data: { type: 'array', items: ref }, next_cursor: { type: 'string' } } } } },
        };
      } else if (action.verb === 'delete') {
        operation.responses['204'] = { description: 'Deleted' };
      } else {
        operation.responses[action.verb === 'create' ? '201' : '200'] = { description: capital(noun), content: { 'application/json': { schema: ref } } };
      }
      if (action.verb === 'create' || action.verb === 'update') {
        operation.requestBody = { required: true, content: { 'application/json': { schema: ref } } };
      }
      if (operation.parameters.length === 0) delete operation.parameters;
      (paths[path] ??= {})[action.method] = operation;
    }
  }
  return {
    openapi: '3.0.3',
    info: { title: options.title ?? 'Synthetic Operations API', version: '1.0.0', description: `${operations} generated operations.` },
    servers: [{ url: options.serverUrl ?? 'http://127.0.0.1:9' }],
    tags: [...tags.keys()].map((name) => ({ name })),
    paths,
    components: { schemas },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { operations: { type: 'string', default: '10000' }, tags: { type: 'string', default: '48' } } });
  process.stdout.write(JSON.stringify(syntheticSpec({ operations: Number(values.operations), tags: Number(values.tags) })));
}
