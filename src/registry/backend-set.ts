/**
 * The backends a runtime serves, and how a configuration reload changes them.
 *
 * Each served backend remembers what it was imported from: a SHA-256 over its
 * configuration entry (keys sorted) and its spec file's bytes. A reload
 * re-imports only the backends whose fingerprint changed (and retries those
 * that had failed); the others keep their imported tools, so the new registry
 * reuses their RegisteredTool objects (and the validators they compiled).
 *
 * A backend whose new version cannot be imported keeps its previous version
 * serving, marked with `reloadError` for /readyz. Specs fetched over http(s)
 * and the files a spec's external `$ref`s read are not fingerprinted: such a
 * backend is re-imported only when its configuration entry changes.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BackendConfig, GatehouseConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { ImportCache } from '../openapi/import-cache.js';
import { importWorker } from '../openapi/import-worker-client.js';
import { buildRegistry, importOne, type LoadedBackend } from './load-backends.js';
import type { ToolRegistry } from './registry.js';
import { createCredentials, placeApiKey, type Credentials } from '../upstream/credentials.js';

/** One configured backend as served: its configuration, what it was imported from, its tools and credentials. */
export interface ServedBackend {
  config: BackendConfig;
  /** SHA-256 of the configuration entry and the spec file's bytes (see backendFingerprint). */
  fingerprint: string;
  loaded: LoadedBackend;
  credentials: Credentials | undefined;
}

/** An immutable set of served backends and the registry built from them. */
export interface BackendSet {
  registry: ToolRegistry;
  /** In configuration order. */
  backends: readonly ServedBackend[];
}

/** What one reload did (also `/readyz`'s `lastReload`). */
export interface ReloadResult {
  /** `ok`: applied; `invalid`: the file was refused and nothing changed; `partial`: applied, but some backends failed. */
  result: 'ok' | 'invalid' | 'partial';
  /** What asked for it: the config file (watch, SIGHUP), the admin API, or a change another replica made. */
  source?: 'file' | 'admin' | 'fleet';
  /** When the reload finished (ISO 8601). */
  at: string;
  ms: number;
  /** The refusal of an invalid file (naming the file and field). */
  error?: { code: string; message: string };
  added: string[];
  removed: string[];
  /** Backends whose entry or spec changed (or that had failed) and were imported again successfully. */
  reimported: string[];
  unchanged: string[];
  /** Backends that could not be imported; `kept`: the previous version is still served. */
  failed: Array<{ backend: string; code: string; message: string; kept: boolean }>;
  /** Top-level sections that changed but apply only after a restart. */
  restartRequired: string[];
  /** Tools in the registry now being served. */
  tools: number;
}

/** Sections a reload applies; every other top-level change needs a restart. */
const LIVE_SECTIONS: ReadonlySet<string> = new Set(['backends', 'file', 'baseDir']);

/** Imports every backend (start-up). A credential that cannot be built is a config error, as before reloads existed. */
export async function loadBackendSet(config: GatehouseConfig, log: Logger, cache: ImportCache | undefined): Promise<BackendSet> {
  const options = cache ? { cache } : {};
  const backends = await Promise.all(
    config.backends.map(async (b): Promise<ServedBackend> => {
      const [fingerprint, loaded] = await Promise.all([backendFingerprint(b, config.baseDir), importOne(b, config.baseDir, log, options)]);
      let credentials: Credentials | undefined;
      try {
        credentials = credentialsFor(b, loaded);
      } catch (err) {
        throw credentialError(config, b, err);
      }
      return { config: b, fingerprint, loaded, credentials };
    }),
  );
  return { registry: buildRegistry(backends, log), backends };
}

/** What a reload may be told besides the new configuration. */
export interface ReloadOptions {
  /** Import these backends again even if their fingerprint is unchanged (a re-import request; a spec URL whose content changed). */
  force?: ReadonlySet<string>;
  /** Backends imported already (the admin API's trial import), used when their fingerprint still matches. */
  preloaded?: ReadonlyMap<string, ServedBackend>;
}

/**
 * One backend imported from its configuration: fingerprint, tools and
 * credentials. Never throws: an import or credential failure is a `failed` status.
 */
export async function prepareBackend(b: BackendConfig, config: Pick<GatehouseConfig, 'baseDir' | 'file'>, log: Logger, cache: ImportCache | undefined): Promise<ServedBackend> {
  // On the import thread: a running gateway keeps serving calls while a spec is imported.
  const [fingerprint, imported] = await Promise.all([backendFingerprint(b, config.baseDir), importOne(b, config.baseDir, log, { ...(cache ? { cache } : {}), worker: importWorker })]);
  let loaded = imported;
  let credentials: Credentials | undefined;
  try {
    credentials = credentialsFor(b, loaded);
  } catch (err) {
    const e = credentialError(config, b, err);
    loaded = { status: { name: b.name, state: 'failed', error: { code: e.code, message: e.message } }, tools: [] };
  }
  return { config: b, fingerprint, loaded, credentials };
}

/**
 * The backend set `next` configures, built from `current`: unchanged backends
 * are carried over, changed and new ones imported (concurrently), removed ones
 * dropped. Never throws for a backend's failure; `current` is not modified.
 */
export async function reloadBackendSet(
  current: BackendSet,
  next: Pick<GatehouseConfig, 'backends' | 'baseDir' | 'file'>,
  log: Logger,
  cache: ImportCache | undefined,
  options: ReloadOptions = {},
): Promise<{ set: BackendSet; changes: Pick<ReloadResult, 'added' | 'removed' | 'reimported' | 'unchanged' | 'failed'> }> {
  const served = new Map(current.backends.map((s) => [s.config.name, s]));
  const changes: Pick<ReloadResult, 'added' | 'removed' | 'reimported' | 'unchanged' | 'failed'> = { added: [], removed: [], reimported: [], unchanged: [], failed: [] };
  const announce = new Set<string>();
  const backends = await Promise.all(
    next.backends.map(async (b): Promise<ServedBackend> => {
      const fingerprint = await backendFingerprint(b, next.baseDir);
      const previous = served.get(b.name);
      const previousReady = previous?.loaded.status.state === 'ready' ? previous : undefined;
      if (previousReady !== undefined && previousReady.fingerprint === fingerprint && options.force?.has(b.name) !== true) {
        changes.unchanged.push(b.name);
        return withoutReloadError(previousReady);
      }
      const preloaded = options.preloaded?.get(b.name);
      const fresh = preloaded !== undefined && preloaded.fingerprint === fingerprint ? preloaded : await prepareBackend(b, next, log, cache);
      const status = fresh.loaded.status;
      if (status.state === 'ready') {
        (previous === undefined ? changes.added : changes.reimported).push(b.name);
        announce.add(b.name);
        return fresh;
      }
      changes.failed.push({ backend: b.name, code: status.error.code, message: status.error.message, kept: previousReady !== undefined });
      if (previousReady === undefined) {
        if (previous === undefined) changes.added.push(b.name);
        return fresh;
      }
      log.error({ backend: b.name, code: status.error.code }, `backend ${b.name}: its new version was not loaded; still serving the previous one`);
      // The previous version stays whole: its configuration, fingerprint (so the next reload tries again), tools and credentials.
      const kept = previousReady.loaded.status;
      return kept.state === 'ready' ? { ...previousReady, loaded: { ...previousReady.loaded, status: { ...kept, reloadError: status.error } } } : previousReady;
    }),
  );
  const names = new Set(next.backends.map((b) => b.name));
  for (const name of served.keys()) if (!names.has(name)) changes.removed.push(name);
  // Promise.all settles in any order: report in configuration order.
  const order = new Map(next.backends.map((b, i) => [b.name, i]));
  for (const list of [changes.added, changes.reimported, changes.unchanged]) list.sort((a, b) => order.get(a)! - order.get(b)!);
  changes.failed.sort((a, b) => order.get(a.backend)! - order.get(b.backend)!);
  return { set: { registry: buildRegistry(backends, log, { previous: current.registry, announce }), backends }, changes };
}

/** The top-level sections that differ between two configurations, other than the backends. */
export function sectionsNeedingRestart(running: GatehouseConfig, next: GatehouseConfig): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  const a = running as unknown as Record<string, unknown>;
  const b = next as unknown as Record<string, unknown>;
  return [...keys].filter((k) => !LIVE_SECTIONS.has(k) && stableJson(a[k]) !== stableJson(b[k])).sort();
}

/**
 * What a backend was imported from: its configuration entry and, for a spec
 * file, the file's bytes. Hashed, so the entry's interpolated secrets are not
 * kept a second time in memory.
 */
export async function backendFingerprint(b: BackendConfig, baseDir: string): Promise<string> {
  // A stored document is part of the entry (stableJson hashes its text): no file to read.
  const hash = createHash('sha256').update(stableJson(b)).update('\0');
  if (b.specDocument === undefined && !/^https?:\/\//i.test(b.spec)) {
    try {
      hash.update(await readFile(resolve(baseDir, b.spec)));
    } catch (err) {
      // Unreadable now: the import reports why; a later reload sees the file once it is back.
      hash.update(`unreadable:${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return hash.digest('hex');
}

/** JSON with object keys sorted, so equal values give equal text whatever the key order in the file. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  ) ?? 'undefined';
}

function withoutReloadError(s: ServedBackend): ServedBackend {
  const status = s.loaded.status;
  if (status.state !== 'ready' || status.reloadError === undefined) return s;
  const { reloadError: _cleared, ...rest } = status;
  return { ...s, loaded: { ...s.loaded, status: rest } };
}

/** The backend's outbound credentials (apiKey placement from its spec); undefined for none or a failed import. */
function credentialsFor(b: BackendConfig, loaded: LoadedBackend): Credentials | undefined {
  if (b.credentials === undefined && !b.passthrough) return undefined;
  if (loaded.status.state !== 'ready') return undefined; // a backend that failed to load has no tools to call
  const config = placeApiKey(b.credentials ?? { type: 'none' }, loaded.status.apiKeySchemes);
  return createCredentials(config, {}, { passthrough: b.passthrough === true });
}

function credentialError(config: Pick<GatehouseConfig, 'file'>, b: BackendConfig, err: unknown): GatehouseError {
  const message = err instanceof Error ? err.message : String(err);
  return new GatehouseError('GH_CONFIG_INVALID', `${config.file}: backends "${b.name}" credentials: ${message}`, { cause: err });
}
