import { createHash } from 'node:crypto';
import type { FromSchema } from 'json-schema-to-ts';
/**
 * JSON Schema of gatehouse.yaml. The single source of truth for the
 * configuration: defaults live here (ajv `useDefaults`), the TypeScript types
 * of the validated config are derived from it (json-schema-to-ts, at the end of
 * this file), and the README documents the same fields. This module is the
 * ground floor: it imports nothing from the rest of the gateway, which imports
 * its config types from here.
 */
export const BACKEND_NAME_PATTERN = '^[a-zA-Z][a-zA-Z0-9-]{0,31}$';

const HTTP_METHOD_NAMES = ['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE'];
const nonEmptyStrings = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } as const;
/** An HTTP method, in upper or lower case. */
const httpMethodSchema = { enum: [...HTTP_METHOD_NAMES, ...HTTP_METHOD_NAMES.map((m) => m.toLowerCase())] } as const;

/** `sqlite` and `postgres` settings of a section that keeps state in one or the other (audit, admin). */
// `const Extra`: the extra properties keep their literal types, which the derived config types are made from.
function databaseStores<const Extra extends Record<string, unknown> = Record<never, never>>(file: string, table: string, sqliteExtra: Extra = {} as Extra) {
  return {
    sqlite: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { file: { type: 'string', minLength: 1, default: file, description: 'Relative to dataDir.' }, ...sqliteExtra },
    },
    postgres: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^postgres(ql)?://' },
        table: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$', default: table },
      },
    },
  } as const;
}

/** A `when:` condition: a CEL expression over the call (README "Policies"); compiled once at load. */
const whenSchema = { type: 'string', minLength: 1, maxLength: 4096, description: 'A CEL condition over principal and call; the instance applies only where it is true.' } as const;

/** One rate-limit rule: `rateLimits.rules[]` and a `policies[].rateLimit` instance. */
const rateLimitRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'limit', 'window'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    key: { type: 'array', uniqueItems: true, items: { enum: ['principal', 'backend', 'tool', 'model'] }, default: ['principal'] },
    limit: { type: 'integer', minimum: 1 },
    window: { type: 'string', pattern: '^[1-9][0-9]*(s|m|h|d)$', description: 'e.g. 1s, 1m, 1h, 1d.' },
    match: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { backends: nonEmptyStrings, tools: nonEmptyStrings, models: nonEmptyStrings, principals: nonEmptyStrings },
    },
    cost: { enum: ['requests', 'tokens'], default: 'requests' },
    when: whenSchema,
  },
} as const;

/** One budget: `ai.budgets[]` and a `policies[].budget` instance. */
const budgetRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'per', 'limitUsd'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    per: { enum: ['day', 'month'] },
    limitUsd: { type: 'number', exclusiveMinimum: 0 },
    match: {
      type: 'object',
      additionalProperties: false,
      properties: { principals: nonEmptyStrings, models: nonEmptyStrings },
    },
    when: whenSchema,
  },
} as const;

/** `backends[].include` / `exclude`: see README "Choosing which operations become tools". */
const operationFilterSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    tags: { ...nonEmptyStrings, description: 'Tag names (exact).' },
    operations: { ...nonEmptyStrings, description: 'operationId globs; * matches any characters.' },
    methods: { type: 'array', minItems: 1, items: httpMethodSchema },
    paths: {
      type: 'array',
      minItems: 1,
      // Path templates start with "/": a glob that cannot match one is a mistake.
      items: { type: 'string', pattern: '^[/*]' },
      description: 'Path template globs; * matches within a segment, ** across segments.',
    },
  },
} as const;

/** `backends[].overrides.<operationId or "METHOD /path">`. */
const operationOverrideSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, description: 'Tool name without the backend prefix.' },
    description: { type: 'string', minLength: 1 },
    hidden: { type: 'boolean' },
  },
} as const;

/** `rules[].allow|deny.principals`: criteria on who is calling. */
const principalMatchSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Criteria on who is calling. Each kind is an OR over its values (except claims, an AND over its entries).',
  properties: {
    scopes: { ...nonEmptyStrings, description: 'The principal holds at least one of these scopes.' },
    groups: { ...nonEmptyStrings, description: 'The principal is in at least one of these groups.' },
    keyIds: { ...nonEmptyStrings, description: 'The principal authenticated with one of these API key ids.' },
    subjects: { ...nonEmptyStrings, description: "The principal's id (or subject, when set) is one of these." },
    claims: {
      type: 'object',
      minProperties: 1,
      additionalProperties: { type: 'string' },
      description: 'Every listed claim has this value. A claim that is an array matches when it contains the value; a number or boolean is compared as its string form.',
    },
  },
} as const;

/** `rules[].allow` / `deny`: what one rule applies to (policy/rules.ts has the semantics). */
const matchSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Every listed kind must match (AND), each kind an OR over its values; an empty match matches every call. Tool kinds never match a model, models never a tool.',
  properties: {
    principals: principalMatchSchema,
    tools: { ...nonEmptyStrings, description: 'Tool name globs (* matches any characters).' },
    backends: { ...nonEmptyStrings, description: 'Backend name globs.' },
    methods: { type: 'array', minItems: 1, items: httpMethodSchema, description: "HTTP methods of the tool's operation." },
    readOnly: { type: 'boolean', description: 'true: only read-only tools (readOnlyHint); false: only tools that are not.' },
    models: { ...nonEmptyStrings, description: 'Model name globs (ai-proxy).' },
  },
} as const;

/**
 * One `rules[]` entry. Empty lists, a missing or doubled `allow`/`deny` and
 * unknown keys are refused here: a typo must not silently widen an allow.
 */
const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Exactly one of allow and deny.',
  properties: {
    allow: matchSchema,
    deny: matchSchema,
    when: { ...whenSchema, description: 'A CEL condition over principal and call: the rule applies only where it is true.' },
  },
  // Branches of `required` alone: describe-errors.ts words this as "exactly one of `allow` and `deny`".
  oneOf: [{ required: ['allow'] }, { required: ['deny'] }],
} as const;

/** The client of an OAuth2 token endpoint (`oauth2`, `tokenExchange`). */
const tokenClientProperties = {
  tokenUrl: { type: 'string', pattern: '^https?://', description: 'The token endpoint; credentials go in clientId/clientSecret, never in the URL.' },
  clientId: { type: 'string' },
  clientSecret: { type: 'string' },
  scopes: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Sent as `scope`, space-separated.' },
  audience: { type: 'string' },
} as const;

/** An AWS service signing name or region: what SigV4 writes into its credential scope. */
const awsName = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } as const;

/**
 * `backends[].credentials`, one kind per `type`. upstream/credentials.ts and
 * upstream/aws-sigv4.ts check at start what a schema cannot say: header and
 * cookie syntax, RFC 7617 user-ids, which AWS key fields go together.
 */
const credentialsSchema = {
  type: 'object',
  required: ['type'],
  description: 'How Gatehouse authenticates to this backend (upstream/credentials.ts); the caller\'s own token never reaches it unless passthrough is set.',
  // Ajv's discriminator (option `discriminator`): only the branch that `type` names is
  // checked, so a wrong or missing field is reported once, for that kind.
  discriminator: { propertyName: 'type' },
  oneOf: [
    { type: 'object', additionalProperties: false, properties: { type: { const: 'none' } } },
    {
      type: 'object',
      additionalProperties: false,
      required: ['value'],
      description: 'A static API key sent as a header, a query parameter or a cookie. in and name may be left out when the spec declares the placement as an apiKey security scheme; scheme picks one of several.',
      properties: {
        type: { const: 'apiKey' },
        in: { enum: ['header', 'query', 'cookie'] },
        name: { type: 'string', minLength: 1 },
        scheme: { type: 'string', minLength: 1, description: "The spec's apiKey security scheme that says where the key goes." },
        value: { type: 'string' },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['token'],
      description: 'Authorization: Bearer <token>, a static token.',
      properties: { type: { const: 'bearer' }, token: { type: 'string', minLength: 1 } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['username', 'password'],
      description: 'Authorization: Basic (RFC 7617).',
      properties: { type: { const: 'basic' }, username: { type: 'string' }, password: { type: 'string' } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['tokenUrl', 'clientId', 'clientSecret'],
      description: 'OAuth2 client credentials grant (RFC 6749 §4.4); the token is cached until shortly before it expires.',
      properties: { type: { const: 'oauth2' }, ...tokenClientProperties },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['tokenUrl', 'clientId', 'clientSecret'],
      description: "OAuth2 token exchange (RFC 8693): the caller's bearer token is exchanged for one this backend accepts.",
      properties: { type: { const: 'tokenExchange' }, ...tokenClientProperties },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['service', 'region'],
      description: 'AWS Signature Version 4 (upstream/aws-sigv4.ts): static keys, or without them the AWS credential chain.',
      properties: {
        type: { const: 'aws-sigv4' },
        service: { ...awsName, description: 'The service signing name (ec2, es, execute-api, s3, …; APIs.guru documents give it as info.x-aws-signingName).' },
        region: { ...awsName, description: 'The AWS region to sign for (us-east-1, …).' },
        accessKeyId: { type: 'string', minLength: 1 },
        secretAccessKey: { type: 'string', minLength: 1 },
        sessionToken: { type: 'string', minLength: 1 },
        profile: { type: 'string', minLength: 1, description: 'Without keys: the profile of the shared AWS credentials/config files.' },
      },
    },
  ],
} as const;

export const configSchema = {
  $id: 'https://gatehouse.dev/schemas/config.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to bind.' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        allowedHosts: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description: 'Extra Host header names accepted (DNS rebinding protection applies when bound to loopback).',
        },
        allowedOrigins: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description: 'Extra browser Origins accepted (besides the gateway\'s own): a full origin (https://app.example:3000), or a bare host name for any scheme and port.',
        },
        maxRequestBytes: { type: 'integer', minimum: 1024, default: 4_194_304 },
        shutdown: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'SIGTERM/SIGINT: /readyz answers 503 at once; requests are still served for readinessDelayMs, then no new ones are taken and calls in flight get graceMs to finish.',
          properties: {
            readinessDelayMs: { type: 'integer', minimum: 0, default: 0, description: 'Time for load balancers to see /readyz fail before the gateway stops taking requests.' },
            graceMs: { type: 'integer', minimum: 0, default: 10_000, description: 'How long calls in flight may take to finish.' },
          },
        },
        publicUrl: { type: 'string', format: 'uri', description: 'External URL of the gateway (behind a proxy).' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        format: {
          enum: ['auto', 'pretty', 'json'],
          default: 'auto',
          description: 'pretty: human lines; json: one JSON object a line; auto: pretty on a terminal, else JSON. --log-format and GATEHOUSE_LOG_FORMAT override it.',
        },
        calls: { type: 'boolean', default: true, description: 'One info line per tool call and per model call (tool or model, principal, outcome, ms).' },
      },
    },
    upstream: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        connectTimeoutMs: { type: 'integer', minimum: 1, default: 5_000 },
        timeoutMs: { type: 'integer', minimum: 1, default: 30_000 },
        maxResponseBytes: { type: 'integer', minimum: 1024, default: 1_048_576 },
        connections: { type: 'integer', minimum: 1, default: 128, description: 'Max sockets per backend origin.' },
        maxHeaderValueBytes: {
          type: 'integer',
          minimum: 256,
          maximum: 65_536,
          default: 8_192,
          description: 'Longest header value a tool call may send from its arguments (a header parameter, the Cookie of cookie parameters).',
        },
      },
    },
    mcp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        pageSize: { type: 'integer', minimum: 1, default: 500, description: 'tools/list page size.' },
        arguments: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Bounds on tool arguments, checked before anything else; a call past one gets GH_TOOL_ARGS_TOO_LARGE (mcp/argument-limits.ts).',
          properties: {
            maxBytes: { type: 'integer', minimum: 1024, default: 1_048_576, description: "Characters of the arguments' JSON (about their size)." },
            maxDepth: { type: 'integer', minimum: 2, maximum: 1000, default: 32, description: 'Nesting of objects and arrays; the arguments object is depth 1.' },
            maxKeys: { type: 'integer', minimum: 1, default: 10_000, description: 'Object members, counted over every depth.' },
            maxArrayLength: { type: 'integer', minimum: 1, default: 10_000, description: 'Elements of any one array.' },
          },
        },
      },
    },
    auth: {
      type: 'object',
      additionalProperties: false,
      description: 'Who may call /mcp. Without jwt or apiKeys, calls are anonymous (allowed only on a loopback bind).',
      properties: {
        jwt: {
          type: 'object',
          additionalProperties: false,
          required: ['issuer', 'jwksUrl'],
          properties: {
            jwksUrl: { type: 'string', pattern: '^https?://' },
            issuer: { type: 'string', minLength: 1 },
            audience: { type: 'string', minLength: 1, description: "Default: the gateway's MCP URL (server.publicUrl + /mcp)." },
            algorithms: { type: 'array', minItems: 1, items: { type: 'string' } },
            clockToleranceSec: { type: 'integer', minimum: 0, maximum: 300 },
            claims: {
              type: 'object',
              additionalProperties: false,
              properties: { subject: { type: 'string' }, client: { type: 'string' }, groups: { type: 'string' } },
            },
          },
        },
        apiKeys: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'sha256'],
            properties: {
              id: { type: 'string', minLength: 1 },
              sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 of the key, hex.' },
              scopes: { type: 'array', items: { type: 'string' } },
              groups: { type: 'array', items: { type: 'string' } },
            },
          },
        },
        apiKeyHeader: { type: 'string', minLength: 1, description: 'Header carrying API keys (default: Authorization: Bearer).' },
        allowAnonymous: { type: 'boolean', description: 'Requests without credentials are served as anonymous.' },
        allowUnauthenticatedPublic: {
          type: 'boolean',
          default: false,
          description: 'Serve anonymous calls on a non-loopback bind (insecure; logged loudly at start).',
        },
        scopesSupported: { type: 'array', items: { type: 'string' }, description: 'Listed in the RFC 9728 metadata.' },
        requiredScopes: {
          type: 'array',
          items: { type: 'string', minLength: 1, pattern: '^[!#-\\[\\]-~]+$' },
          description: 'Scopes every /mcp request needs (all of them); a token without them gets 403 insufficient_scope.',
        },
      },
    },
    rules: {
      type: 'array',
      items: ruleSchema,
      description: 'Authorisation rules (policy/rules.ts): none, everything is allowed; once there is one, a call needs a matching allow, and a matching deny wins.',
    },
    policies: {
      type: 'array',
      default: [],
      description: 'Middleware instances added to the call chain, listed in its built-in order (README "Policies"): rateLimit, budget, validate, guard, redact.',
      items: {
        type: 'object',
        minProperties: 1,
        maxProperties: 1,
        additionalProperties: false,
        properties: {
          rateLimit: rateLimitRuleSchema,
          budget: budgetRuleSchema,
          validate: {
            description: 'false: tool arguments are not checked against their schema (the backend checks them); { when }: only calls where it holds are checked.',
            oneOf: [{ const: false }, { type: 'object', additionalProperties: false, properties: { when: whenSchema } }],
          },
          guard: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              maxMessages: { type: 'integer', minimum: 1, description: 'Model calls: messages at most.' },
              maxChars: { type: 'integer', minimum: 1, description: 'Characters of prompt text (model calls) or of string arguments (tool calls) at most.' },
              blockedPatterns: { ...nonEmptyStrings, description: 'Regular expressions (case-insensitive) refused in prompts and string arguments.' },
              when: whenSchema,
            },
          },
          redact: {
            type: 'object',
            additionalProperties: false,
            required: ['patterns'],
            properties: {
              patterns: { ...nonEmptyStrings, description: 'Regular expressions replaced by [REDACTED] in model answers (streams included) and tool results.' },
              when: whenSchema,
            },
          },
        },
      },
    },
    dataDir: {
      type: 'string',
      minLength: 1,
      default: './data',
      description: 'Directory (relative to the config file) for state: the SQLite audit store. Unset, $GATEHOUSE_DATA_DIR if set, else ./data.',
    },
    redis: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^rediss?://', description: 'redis://[user:password@]host:port[/db]; shared by every replica.' },
      },
    },
    rateLimits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        store: { enum: ['memory', 'redis'], default: 'memory', description: 'memory: per process; redis: one limit across replicas (needs redis.url).' },
        onStoreError: { enum: ['open', 'closed'], default: 'open', description: 'Redis unreachable: let calls through (open) or refuse them (closed).' },
        rules: { type: 'array', default: [], items: rateLimitRuleSchema },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        store: { enum: ['sqlite', 'postgres', 'none'], default: 'sqlite' },
        ...databaseStores('audit.db', 'gatehouse_audit', {
          thread: {
            type: 'boolean',
            default: true,
            description: 'Write SQLite on a worker thread (off the event loop); false writes it on the event loop: less resident memory, up to a quarter fewer calls/s (see docs/benchmarks.md).',
          },
        }),
        stream: { type: 'string', minLength: 1, description: 'Also write JSON lines: "stdout" or a file path (relative to dataDir).' },
        arguments: { enum: ['redact', 'hash', 'omit'], default: 'redact', description: 'Record arguments with secrets redacted, only their SHA-256, or not at all.' },
        redact: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'Extra argument names to redact.' },
        retentionDays: { type: 'integer', minimum: 1, default: 30 },
        queue: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            max: { type: 'integer', minimum: 1, default: 10_000 },
            batchSize: { type: 'integer', minimum: 1, default: 500 },
            flushIntervalMs: { type: 'integer', minimum: 1, default: 200 },
          },
        },
        adminScope: { type: 'string', minLength: 1, default: 'gatehouse:admin', description: 'Scope GET /admin/audit requires.' },
        durability: {
          enum: ['batched', 'sync'],
          default: 'batched',
          description: 'batched: records are written in batches after the answer (a SIGKILL loses the last few ms). sync: a tool call is answered only once its record is committed.',
        },
      },
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      description: 'The admin API for backends registered at runtime (/admin/backends, /admin/tools; off unless set).',
      properties: {
        scope: { type: 'string', minLength: 1, description: 'Scope the /admin endpoints require (default: audit.adminScope).' },
        apiKey: { type: 'string', minLength: 16, description: 'A key that also grants admin access (Bearer or the API key header); use ${ENV}.' },
        store: { enum: ['sqlite', 'postgres'], default: 'sqlite', description: 'Where runtime backends persist: sqlite (one gateway) or postgres (a fleet).' },
        ...databaseStores('registry.db', 'gatehouse_backends'),
        resyncSeconds: { type: 'integer', minimum: 1, default: 30, description: 'Re-read the store this often (a safety net under change notifications).' },
        specUrls: {
          type: 'array',
          default: [],
          items: { type: 'string', minLength: 1 },
          description:
            'Non-public hosts a spec URL given to the admin API may name: host names, *.suffix, IP addresses, CIDR blocks. Public addresses are always allowed; loopback, private, link-local (metadata) and other special addresses only when listed.',
        },
      },
    },
    ai: {
      type: 'object',
      additionalProperties: false,
      description: 'The ai-proxy: OpenAI-compatible /v1/chat/completions, /v1/models, /v1/embeddings (off unless set).',
      required: ['targets', 'routes'],
      properties: {
        targets: {
          type: 'object',
          minProperties: 1,
          propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['provider'],
            properties: {
              provider: { enum: ['openai', 'openai-compatible', 'anthropic', 'ollama'] },
              model: { type: 'string', minLength: 1, description: 'Upstream model name; default: the model the client asked for.' },
              baseUrl: { type: 'string', pattern: '^https?://', description: 'Default per provider: api.openai.com/v1, api.anthropic.com, 127.0.0.1:11434.' },
              apiKey: { type: 'string', description: 'Sent as the provider expects (Bearer, x-api-key); use ${ENV}.' },
              headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Extra headers, e.g. OpenAI-Organization.' },
              timeoutMs: { type: 'integer', minimum: 1, default: 120_000, description: 'Total deadline of one upstream request.' },
              maxTokens: { type: 'integer', minimum: 1, default: 4096, description: 'max_tokens when the client gives none (Anthropic requires one).' },
            },
          },
        },
        routes: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['model', 'targets'],
            properties: {
              model: { type: 'string', minLength: 1, description: 'The model name clients ask for; * globs allowed.' },
              aliases: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
              targets: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'Target names, in fallback order.' },
              when: { ...whenSchema, description: 'A CEL condition on the caller: the route serves only calls where it is true (e.g. "\'premium\' in principal.groups"); the next route for the model serves the rest.' },
            },
          },
        },
        retry: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            attempts: { type: 'integer', minimum: 1, maximum: 10, default: 2, description: 'Tries per target (connection errors, timeouts, 5xx, 429, 529).' },
            backoffMs: { type: 'integer', minimum: 0, default: 200 },
            deadlineMs: { type: 'integer', minimum: 1, default: 120_000, description: 'One deadline for every retry and fallback of a request.' },
          },
        },
        cooldown: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            failures: { type: 'integer', minimum: 1, default: 3, description: 'Consecutive failures that bench a target.' },
            ms: { type: 'integer', minimum: 1, default: 30_000 },
          },
        },
        prices: {
          type: 'object',
          description: 'USD per million tokens, per model: { input, output, cache_read, cache_write }; overrides the built-in table.',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: { input: { type: 'number', minimum: 0 }, output: { type: 'number', minimum: 0 }, cache_read: { type: 'number', minimum: 0 }, cache_write: { type: 'number', minimum: 0 } },
          },
        },
        budgetStore: {
          enum: ['memory', 'redis'],
          default: 'memory',
          description: 'Where budget spend is counted: memory (per process) or redis (one count for the fleet; needs redis.url).',
        },
        budgets: { type: 'array', default: [], items: budgetRuleSchema },
        guards: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            maxMessages: { type: 'integer', minimum: 1 },
            maxChars: { type: 'integer', minimum: 1 },
            blockedPatterns: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Regular expressions (case-insensitive) refused in requests.' },
            redactPatterns: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Regular expressions replaced by [REDACTED] in answers, streams included.' },
          },
        },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Serve Prometheus metrics at /metrics.' },
      },
    },
    telemetry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'OpenTelemetry. Tracing is off unless telemetry.tracing is set or OTEL_TRACES_EXPORTER=otlp.',
      properties: {
        tracing: {
          type: 'object',
          additionalProperties: false,
          description: 'A span per call (tool or model), exported over OTLP; unset fields fall back to the standard OTEL_* variables.',
          properties: {
            endpoint: {
              type: 'string',
              pattern: '^https?://',
              description: 'The collector (as OTEL_EXPORTER_OTLP_ENDPOINT): http protocols post to <endpoint>/v1/traces; default http://localhost:4318 (grpc: :4317).',
            },
            protocol: { enum: ['http/protobuf', 'http/json', 'grpc'], description: 'Default OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.' },
            headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Sent with every export (e.g. an API key: use ${ENV}); default OTEL_EXPORTER_OTLP_HEADERS.' },
            sampleRatio: {
              type: 'number',
              minimum: 0,
              maximum: 1,
              description: "The share of new traces recorded; a caller's sampled flag is followed (parent-based). Default OTEL_TRACES_SAMPLER/_ARG, else every call.",
            },
            serviceName: { type: 'string', minLength: 1, description: 'service.name of the spans; default OTEL_SERVICE_NAME, else gatehouse.' },
          },
        },
      },
    },
    importCache: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      description: 'Reuse imports of unchanged specs across restarts (off unless set).',
      properties: {
        dir: { type: 'string', minLength: 1, description: 'Directory (relative to the config file) for cached imports.' },
      },
    },
    backends: {
      type: 'array',
      default: [],
      description: 'The backends to serve (may be empty: backends can be registered through the admin API).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'spec'],
        properties: {
          name: { type: 'string', pattern: BACKEND_NAME_PATTERN, description: 'Tool name prefix.' },
          spec: { type: 'string', minLength: 1, description: 'File path (relative to the config file) or http(s) URL.' },
          baseUrl: { type: 'string', pattern: '^https?://', description: "Overrides the spec's server URL." },
          timeoutMs: { type: 'integer', minimum: 1 },
          credentials: credentialsSchema,
          passthrough: { type: 'boolean', default: false, description: "Forward the caller's Authorization header (off: the caller's token never reaches the backend)." },
          allowExternalRefs: { type: 'boolean', default: false },
          include: { ...operationFilterSchema, description: 'Serve only operations that match every criterion kind listed.' },
          exclude: { ...operationFilterSchema, description: 'Drop operations that match any criterion listed.' },
          deprecated: { enum: ['include', 'exclude'], description: 'Serve deprecated operations (include, the default) or drop them.' },
          overrides: {
            type: 'object',
            propertyNames: { minLength: 1 },
            additionalProperties: operationOverrideSchema,
            description: 'Keyed by operationId or "METHOD /path"; wins over the spec\'s x-gatehouse.',
          },
          tools: {
            enum: ['all', 'search', 'auto'],
            default: 'auto',
            description: 'List every operation as a tool (all), or three search meta-tools instead (search); auto: search above toolBudget tools.',
          },
          toolBudget: { type: 'integer', minimum: 1, default: 128, description: 'tools: auto switches to search mode above this many tools.' },
          maxConcurrent: { type: 'integer', minimum: 1, default: 256, description: 'Calls in flight to this backend at most (bulkhead).' },
          maxQueued: { type: 'integer', minimum: 0, default: 0, description: 'Calls that may wait for a slot (for at most queueTimeoutMs).' },
          queueTimeoutMs: { type: 'integer', minimum: 1, default: 1_000 },
          circuitBreaker: {
            description: 'Short-circuits a backend that keeps failing: false, or { failureThreshold (default 5 consecutive failures: connect errors, timeouts, 5xx), cooldownMs (default 30000) }.',
            oneOf: [
              { const: false },
              {
                type: 'object',
                additionalProperties: false,
                properties: { failureThreshold: { type: 'integer', minimum: 1 }, cooldownMs: { type: 'integer', minimum: 1 } },
              },
            ],
          },
        },
      },
    },
  },
} as const;

// ---------------------------------------------------------------------------
// The types of the validated configuration, derived from the schema above.
//
// FromSchema makes a property that has a `default` required (its option
// keepDefaultedPropertiesOptional is false by default): that is what the loader
// hands on, since Ajv's useDefaults fills every such property of an object that
// is there. Ajv applies no default inside oneOf/anyOf; the schema puts none
// there (circuitBreaker's defaults are filled by load-config, typed below).

/** The file as validated, defaults applied. */
type ValidatedConfig = FromSchema<typeof configSchema>;
type ValidatedBackend = ValidatedConfig['backends'][number];

/**
 * An object whose schema allows exactly one of its properties (`minProperties: 1,
 * maxProperties: 1`), as the union of the one-property objects it can be.
 */
type ExactlyOne<T> = { [K in keyof T]-?: { [P in K]-?: Exclude<T[P], undefined> } }[keyof T];

/** Criteria over operations (`backends[].include` / `exclude`); each kind is an OR over its values. */
export type OperationFilterConfig = NonNullable<ValidatedBackend['include']>;

/** Per-operation changes (`backends[].overrides`). */
export type OperationOverrideConfig = NonNullable<ValidatedBackend['overrides']>[string];

/** How Gatehouse authenticates to one backend (upstream/credentials.ts). Values arrive already `${VAR}`-interpolated. */
export type CredentialConfig = NonNullable<ValidatedBackend['credentials']>;

/** A backend as configured. */
export type BackendConfig = Omit<ValidatedBackend, 'circuitBreaker'> & {
  /** Set by load-config (fillBackendDefaults) from what the file gives: Ajv applies no defaults inside oneOf. */
  circuitBreaker: false | Required<Exclude<ValidatedBackend['circuitBreaker'], false | undefined>>;
  /**
   * Never read from the config file: the spec's text as the admin store keeps it
   * (an inline spec, or what the spec URL served when it was imported), so every
   * replica imports the same bytes. `label` names it in messages. When set,
   * `spec` is only where it came from (the URL, or `inline`).
   */
  specDocument?: { text: string; label: string };
  /**
   * Set by the admin API on the backends it registers (never read from a file):
   * `admin.specUrls`, which the spec URL, its redirects and its external refs must pass.
   */
  adminSpecUrls?: readonly string[];
};

/** `rateLimits.rules[]` and a `policies[].rateLimit` instance (see limits/rate-limit.ts). */
export type RateLimitRuleConfig = ValidatedConfig['rateLimits']['rules'][number];

/** `ai.budgets[]` and a `policies[].budget` instance. */
export type BudgetRuleConfig = AiConfig['budgets'][number];

type ValidatedPolicyEntry = ValidatedConfig['policies'][number];

/** `policies[].guard`. */
export type GuardConfig = NonNullable<ValidatedPolicyEntry['guard']>;

/** One `policies[]` entry: a middleware instance of the call chain (policy/chain.ts). */
export type PolicyEntryConfig = ExactlyOne<ValidatedPolicyEntry>;

/** One authorisation rule (`rules[]`): exactly one of `allow` and `deny`, and maybe `when`. */
export type RuleConfig = NonNullable<ValidatedConfig['rules']>[number];

/** What one rule applies to. Every listed kind must match (AND); see policy/rules.ts. */
export type Match = NonNullable<RuleConfig['allow']>;

/** Criteria on who is calling. Each kind is an OR over its values (except `claims`). */
export type PrincipalMatch = NonNullable<Match['principals']>;

/** The ai-proxy (`ai`). */
export type AiConfig = NonNullable<ValidatedConfig['ai']>;

/** One `ai.targets` entry. */
export type AiTargetConfig = AiConfig['targets'][string];

export type AiProvider = AiTargetConfig['provider'];

/** `audit`: the audit trail. */
export type AuditConfig = ValidatedConfig['audit'];

/** `telemetry.tracing`: OpenTelemetry tracing (see tracing/). */
export type TracingConfig = NonNullable<ValidatedConfig['telemetry']['tracing']>;

/** `admin`: the admin API and where runtime-registered backends persist. */
export type AdminConfig = NonNullable<ValidatedConfig['admin']>;

/** The validated configuration, defaults applied. */
export type GatehouseConfig = Omit<ValidatedConfig, 'backends' | 'policies'> & {
  backends: BackendConfig[];
  policies: PolicyEntryConfig[];
  /** Not from the file: the directory of the config file, against which relative spec paths resolve. */
  baseDir: string;
  /** Not from the file: the file the configuration came from (for messages). */
  file: string;
};

/** Identifies the schema: the generated config validators name the one they were made from (schema-validator.ts). */
export function schemaFingerprint(): string {
  return createHash('sha256').update(JSON.stringify(configSchema)).digest('hex').slice(0, 16);
}
