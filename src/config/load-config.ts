import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { GatehouseError } from '../errors/catalogue.js';
import { describeErrors } from './describe-errors.js';
import { interpolateEnv } from './interpolate.js';
import { originAllowList } from './origins.js';
import { configSchema, schemaFingerprint, type BackendConfig, type GatehouseConfig } from './schema.js';
import type { ConfigValidators } from './schema-validator.js';
import { specUrlEntryProblem } from './spec-url-entries.js';

const { config: validate, backend: validateBackend } = await configValidators();

/** The validators `npm run build` generated from this schema, else compiled now (see schema-validator.ts). */
async function configValidators(): Promise<ConfigValidators> {
  const built = new URL('./generated/validators.js', import.meta.url);
  if (existsSync(built)) {
    const generated = (await import(built.href)) as ConfigValidators & { fingerprint: string };
    if (generated.fingerprint === schemaFingerprint()) return generated;
  }
  return (await import('./schema-validator.js')).compileConfigValidators();
}

/** Reads, interpolates and validates a config file. Throws GatehouseError naming the file and field. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_NOT_FOUND', `${file}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  return parseConfig(text, path, env);
}

/** Parses config text as if it came from `file` (used by tests and by loadConfig). */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
    // The yaml library's message ends with its own "at line L, column C:" and a code frame: the position is given once, before.
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new GatehouseError('GH_CONFIG_INVALID', `${file}${where}: YAML syntax error: ${message}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = interpolateEnv(doc.toJS() ?? {}, env);
  } catch (err) {
    if (err instanceof GatehouseError) throw new GatehouseError(err.code, `${file}: ${err.message}`, { cause: err });
    throw err;
  }
  // A config that names no dataDir keeps its state where GATEHOUSE_DATA_DIR says, else in
  // ./data beside the file. The container image sets it to its writable volume: a config
  // mounted on its own into the image's root-owned /etc/gatehouse could not write there.
  const dataDirFromEnv = env.GATEHOUSE_DATA_DIR;
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && (raw as { dataDir?: unknown }).dataDir === undefined && dataDirFromEnv !== undefined && dataDirFromEnv !== '') {
    (raw as { dataDir?: unknown }).dataDir = dataDirFromEnv;
  }
  return checkConfig(raw, file, dirname(file));
}

/**
 * The configuration of `gatehouse serve --spec SPEC` (no file): one backend, the
 * defaults otherwise (loopback bind, no auth), and no audit trail, so that trying
 * a spec leaves no files behind. Relative paths resolve against `cwd`.
 */
export function configForSpec(options: { spec: string; baseUrl?: string; name?: string }, cwd: string = process.cwd()): GatehouseConfig {
  const backend = { name: options.name ?? backendNameFor(options.spec), spec: options.spec, ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}) };
  return checkConfig({ audit: { store: 'none' }, backends: [backend] }, '--spec', cwd);
}

/** A backend name (the tools' prefix) from a spec's file name: `./specs/petstore.yaml` → `petstore`. */
export function backendNameFor(spec: string): string {
  const base = spec.replace(/[?#].*$/, '').split(/[\\/]/).filter((p) => p !== '').pop() ?? '';
  const stem = base
    .replace(/\.(ya?ml|json)$/i, '')
    .replace(/[^a-zA-Z0-9-]+/g, '-')
    .replace(/^[^a-zA-Z]+/, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  return stem === '' ? 'api' : stem;
}

/** Validates a config object; `file` names it in messages, relative paths resolve against `baseDir`. */
function checkConfig(raw: unknown, file: string, baseDir: string): GatehouseConfig {
  if (!validate(raw)) {
    const messages = describeErrors(validate.errors ?? [], raw, configSchema);
    throw new GatehouseError('GH_CONFIG_INVALID', `${file}: invalid configuration:\n  - ${messages.join('\n  - ')}`, {
      details: { errors: messages },
    });
  }
  const config = raw as unknown as Omit<GatehouseConfig, 'baseDir' | 'file'>;
  const invalid = (problem: string) => new GatehouseError('GH_CONFIG_INVALID', `${file}: invalid configuration:\n  - ${problem}`);
  if (config.rateLimits.store === 'redis' && config.redis === undefined) throw invalid('rateLimits.store: redis needs redis.url');
  if (config.audit.store === 'postgres' && config.audit.postgres === undefined) throw invalid('audit.store: postgres needs audit.postgres.url');
  if (config.ai?.budgetStore === 'redis' && config.redis === undefined) throw invalid('ai.budgetStore: redis needs redis.url');
  if (config.admin?.store === 'postgres' && config.admin.postgres === undefined) throw invalid('admin.store: postgres needs admin.postgres.url');
  config.admin?.specUrls.forEach((entry, i) => {
    const problem = specUrlEntryProblem(entry);
    if (problem !== undefined) throw invalid(`admin.specUrls[${i}]: ${problem}`);
  });
  try {
    originAllowList(config.server.allowedOrigins);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const ruleNames = new Set<string>();
  config.rateLimits.rules.forEach((r, i) => {
    if (ruleNames.has(r.name)) throw invalid(`rateLimits.rules[${i}].name: "${r.name}" is used by another rule; names must be unique`);
    ruleNames.add(r.name);
  });
  for (const b of config.backends) fillBackendDefaults(b);
  if (config.ai !== undefined) {
    config.ai.routes.forEach((r, i) => {
      r.targets.forEach((t, j) => {
        if (config.ai!.targets[t] === undefined) throw invalid(`ai.routes[${i}].targets[${j}]: "${t}" is not a target in ai.targets`);
      });
    });
  }
  const seen = new Set<string>();
  config.backends.forEach((b, i) => {
    const key = b.name.toLowerCase();
    if (seen.has(key)) throw new GatehouseError('GH_CONFIG_INVALID', `${file}: invalid configuration:\n  - backends[${i}].name: "${b.name}" is used by another backend; names must be unique`);
    seen.add(key);
  });
  return { ...config, baseDir, file };
}

/** Environment variables a backend registered at runtime may reference: no others, so the admin API cannot read the gateway's own secrets. */
export const RUNTIME_ENV_PREFIX = 'GATEHOUSE_BACKEND_';

/**
 * Checks one backend entry on its own (a backend registered through the admin
 * API): the same schema as a `backends[]` entry of the file, defaults applied.
 * `${VAR}` references resolve from `env`, and only names starting with
 * RUNTIME_ENV_PREFIX may be referenced. The input is not modified. Throws
 * GH_ADMIN_INVALID naming each wrong field.
 */
export function parseBackendEntry(entry: unknown, env: NodeJS.ProcessEnv = process.env): BackendConfig {
  const foreign = [...JSON.stringify(entry ?? null).matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!).filter((n) => !n.startsWith(RUNTIME_ENV_PREFIX));
  if (foreign.length > 0) {
    throw new GatehouseError('GH_ADMIN_INVALID', `invalid backend: \${${foreign[0]}}: a runtime backend may reference only environment variables named ${RUNTIME_ENV_PREFIX}*`);
  }
  let raw: unknown;
  try {
    raw = interpolateEnv(entry, env);
  } catch (err) {
    if (err instanceof GatehouseError) throw new GatehouseError('GH_ADMIN_INVALID', `invalid backend: ${err.message}`, { cause: err });
    throw err;
  }
  if (!validateBackend(raw)) {
    const messages = describeErrors(validateBackend.errors ?? [], raw, configSchema.properties.backends.items);
    throw new GatehouseError('GH_ADMIN_INVALID', `invalid backend:\n  - ${messages.join('\n  - ')}`, { details: { errors: messages } });
  }
  const b = raw as BackendConfig;
  // The AWS credential chain finds the gateway's own keys (its environment,
  // files, instance role): like its environment variables, they are not for
  // a backend registered at runtime, which must name keys of its own.
  if (b.credentials?.type === 'aws-sigv4' && b.credentials.accessKeyId === undefined) {
    throw new GatehouseError(
      'GH_ADMIN_INVALID',
      'invalid backend:\n  - credentials.accessKeyId: is required for a runtime backend (without keys, aws-sigv4 would sign with the gateway\'s own AWS credentials)',
    );
  }
  fillBackendDefaults(b);
  return b;
}

function fillBackendDefaults(b: BackendConfig): void {
  // Defaults inside oneOf are not applied by ajv: filled here.
  const cb = (b as { circuitBreaker?: false | Partial<{ failureThreshold: number; cooldownMs: number }> }).circuitBreaker;
  b.circuitBreaker = cb === false ? false : { failureThreshold: cb?.failureThreshold ?? 5, cooldownMs: cb?.cooldownMs ?? 30_000 };
}
