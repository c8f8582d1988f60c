import type { BackendConfig } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { importBackend, type ImportBackendOptions } from '../openapi/import-backend.js';
import type { ImportCache } from '../openapi/import-cache.js';
import type { ImportWorker } from '../openapi/import-worker-client.js';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { ToolRegistry, type BackendListing, type BackendStatus } from './registry.js';

/** One backend as imported: its status and, when ready, its tools. */
export interface LoadedBackend {
  status: BackendStatus;
  tools: ToolDefinition[];
  title?: string;
}

/**
 * Imports every backend concurrently. A backend whose spec fails to load is
 * reported (status `failed`, logged with its code) and skipped: it never takes
 * the gateway or the other backends down. Each backend's `tools` mode and
 * `toolBudget` decide whether it lists its operations or three search meta-tools.
 */
export async function loadBackends(
  backends: readonly BackendConfig[],
  baseDir: string,
  log: Logger,
  options: { cache?: ImportCache } = {},
): Promise<ToolRegistry> {
  const loaded = await Promise.all(backends.map((b) => importOne(b, baseDir, log, options)));
  return buildRegistry(
    backends.map((config, i) => ({ config, loaded: loaded[i]! })),
    log,
  );
}

/** Where and how importOne imports. */
export interface ImportOneOptions {
  cache?: ImportCache;
  /**
   * Import on this worker thread instead of the event loop (reloads: calls in
   * flight keep being served). If the thread fails, the import runs in-process
   * and a warning is logged.
   */
  worker?: ImportWorker;
}

/** Imports one backend; never throws (a failure is a `failed` status, logged). */
export async function importOne(b: BackendConfig, baseDir: string, log: Logger, options: ImportOneOptions = {}): Promise<LoadedBackend> {
  const started = performance.now();
  const request: ImportBackendOptions = {
    name: b.name,
    spec: b.spec,
    ...(b.specDocument !== undefined ? { specText: b.specDocument.text, specLabel: b.specDocument.label } : {}),
    baseDir,
    allowExternalRefs: b.allowExternalRefs,
    include: b.include,
    exclude: b.exclude,
    deprecated: b.deprecated,
    overrides: b.overrides,
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    ...(b.baseUrl !== undefined ? { baseUrl: b.baseUrl } : {}),
    ...(b.adminSpecUrls !== undefined ? { specUrls: b.adminSpecUrls } : {}),
  };
  const worker = options.worker;
  const onFallback = (reason: Error) => log.warn({ backend: b.name, err: reason.message }, `backend ${b.name}: importing in-process: ${reason.message}`);
  // A spec served slowly must not mean silence (the port opens only after the imports):
  // a line as the import starts, one every few seconds while it waits, one as it ends.
  const source = b.spec;
  log.info({ backend: b.name, source }, `backend ${b.name}: importing ${source}`);
  const waiting = setInterval(() => {
    const s = Math.round((performance.now() - started) / 1000);
    log.info({ backend: b.name, source, waitingMs: Math.round(performance.now() - started) }, `backend ${b.name}: still importing ${source} (${s} s)`);
  }, IMPORT_PROGRESS_MS);
  waiting.unref();
  try {
    const imported = await (worker === undefined ? importBackend(request) : importBackend(request, (opts) => worker.run(opts, onFallback)));
    const ms = Math.round(performance.now() - started);
    const operations = imported.operations ?? imported.tools.length;
    const size = imported.specBytes === undefined ? '' : `, ${formatBytes(imported.specBytes)}`;
    log.info(
      { backend: b.name, source, bytes: imported.specBytes, operations, tools: imported.tools.length, ms },
      `backend ${b.name}: ${imported.tools.length} tools from ${operations} operations in ${ms} ms (${source}${size})`,
    );
    for (const w of imported.warnings) log.warn({ backend: b.name }, w);
    return {
      status: {
        name: b.name,
        state: 'ready',
        tools: imported.tools.length,
        warnings: imported.warnings,
        ...(imported.apiKeySchemes !== undefined ? { apiKeySchemes: imported.apiKeySchemes } : {}),
      },
      tools: imported.tools,
      ...(imported.title !== undefined ? { title: imported.title } : {}),
    };
  } catch (err) {
    const e = isGatehouseError(err) ? err : new GatehouseError('GH_SPEC_LOAD_FAILED', String(err), { cause: err });
    log.error({ backend: b.name, code: e.code, ms: Math.round(performance.now() - started) }, `backend ${b.name} not loaded: ${e.message}`);
    return { status: { name: b.name, state: 'failed', error: { code: e.code, message: e.message } }, tools: [] };
  } finally {
    clearInterval(waiting);
  }
}

/** How often a running import says it is still running. */
const IMPORT_PROGRESS_MS = 2_000;

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The registry of imported backends, in configuration order. `previous` (a
 * reload) lends its RegisteredTools to the definitions it already served;
 * `announce` limits the listing logs to the backends that are new or changed.
 */
export function buildRegistry(
  entries: ReadonlyArray<{ config: BackendConfig; loaded: LoadedBackend }>,
  log: Logger,
  options: { previous?: ToolRegistry; announce?: ReadonlySet<string> } = {},
): ToolRegistry {
  const listings = new Map<string, BackendListing>(entries.map(({ config: b, loaded }) => [b.name, { mode: b.tools, toolBudget: b.toolBudget, title: loaded.title }]));
  const registry = ToolRegistry.build(
    entries.flatMap((e) => e.loaded.tools),
    entries.map((e) => e.loaded.status),
    listings,
    options.previous,
  );
  registry.backends.forEach((s, i) => {
    const entry = entries[i];
    if (s.state !== 'ready' || entry === undefined) return;
    if (options.announce !== undefined && !options.announce.has(s.name)) return;
    const b = entry.config;
    // Warnings the registry added (a meta-tool name taken by an operation).
    const before = entry.loaded.status.state === 'ready' ? entry.loaded.status.warnings.length : 0;
    for (const w of s.warnings.slice(before)) log.warn({ backend: s.name }, w);
    if (s.listing === 'search') {
      const why = b.tools === 'search' ? 'tools: search' : `${s.tools} tools > toolBudget ${b.toolBudget}`;
      log.info({ backend: s.name, tools: s.tools, listing: 'search' }, `backend ${s.name}: search mode (${why}): 3 meta-tools listed instead of its tools`);
    }
  });
  return registry;
}
