/**
 * JSON Schema of gatehouse.yaml. The single source of truth for the
 * configuration: defaults live here (ajv `useDefaults`), and docs/configuration.md
 * documents the same fields.
 */
export const BACKEND_NAME_PATTERN = '^[a-zA-Z][a-zA-Z0-9-]{0,31}$';

export const configSchema = {
  $id: 'https://gatehouse.dev/schemas/config.json',
  type: 'object',
  additionalProperties: false,
  required: ['backends'],
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
          description: 'Extra Origin values accepted on /mcp (browser clients).',
        },
        maxRequestBytes: { type: 'integer', minimum: 1024, default: 4_194_304 },
        publicUrl: { type: 'string', format: 'uri', description: 'External URL of the gateway (behind a proxy).' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
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
      },
    },
    mcp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        pageSize: { type: 'integer', minimum: 1, default: 500, description: 'tools/list page size.' },
      },
    },
    backends: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'spec'],
        properties: {
          name: { type: 'string', pattern: BACKEND_NAME_PATTERN, description: 'Tool name prefix.' },
          spec: { type: 'string', minLength: 1, description: 'File path (relative to the config file) or http(s) URL.' },
          baseUrl: { type: 'string', pattern: '^https?://', description: "Overrides the spec's server URL." },
          timeoutMs: { type: 'integer', minimum: 1 },
          allowExternalRefs: { type: 'boolean', default: false },
        },
      },
    },
  },
} as const;

/** A backend as configured. */
export interface BackendConfig {
  name: string;
  spec: string;
  baseUrl?: string;
  timeoutMs?: number;
  allowExternalRefs: boolean;
}

/** The validated configuration, defaults applied. */
export interface GatehouseConfig {
  server: {
    host: string;
    port: number;
    allowedHosts: string[];
    allowedOrigins: string[];
    maxRequestBytes: number;
    publicUrl?: string;
  };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  upstream: { connectTimeoutMs: number; timeoutMs: number; maxResponseBytes: number; connections: number };
  mcp: { pageSize: number };
  backends: BackendConfig[];
  /** Directory of the config file: relative spec paths resolve against it. */
  baseDir: string;
  /** The file the configuration came from (for messages). */
  file: string;
}
