/**
 * How the served backends change while the gateway runs: config-file reloads
 * (the watch, SIGHUP), admin API changes and changes another replica made.
 *
 * Every change runs in one queue, one at a time, in the order asked. A change
 * builds the next backend set from the current one (only what changed is
 * imported: see backend-set.ts) and swaps it in synchronously, so no request
 * sees half of it; calls in flight keep the tools and backend state they
 * started with. What each change did is kept for /readyz (`lastReload`) and
 * counted in the metrics.
 */
import { resolve } from 'node:path';
import type { BackendConfig, GatehouseConfig } from '../config/schema.js';
import { loadConfig } from '../config/load-config.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { fileImportCache, type ImportCache } from '../openapi/import-cache.js';
import { importWorker } from '../openapi/import-worker-client.js';
import { loadBackendSet, prepareBackend, reloadBackendSet, sectionsNeedingRestart, type BackendSet, type ReloadOptions, type ReloadResult, type ServedBackend } from './backend-set.js';
import type { ToolRegistry } from './registry.js';

/** What a change to the backends was asked by. */
export type ChangeSource = 'file' | 'admin' | 'fleet';

/** The counters a change updates. */
export type ReloadMetrics = Pick<GatewayMetrics, 'configReload' | 'backendImportFailed'>;

/** Backends registered at runtime, served after the file's (the admin API's BackendAdmin). */
export interface RegisteredBackends {
  backends(): BackendConfig[];
}

export interface Reloader {
  /** The current registry snapshot: read it per request (a change swaps it). */
  registry: () => ToolRegistry;
  /** The backend set served now. */
  current: () => BackendSet;
  /**
   * Reads the config file again and applies its `backends`: changed backends are
   * re-imported, the rest reused, and the new registry swapped in. An invalid file
   * changes nothing. Other sections need a restart (reported, not applied).
   */
  reload: () => Promise<ReloadResult>;
  /** What the last change did (undefined before the first). */
  lastReload: () => ReloadResult | undefined;
  /** Called after every swap that changed the tools (for notifications/tools/list_changed); returns the unsubscribe. */
  onToolsChanged: (listener: () => void) => () => void;
  /** Called inside every swap, before the new registry is visible: for state kept per backend beside the registry. */
  onSwap: (listener: (set: BackendSet) => void) => void;
  /** Counts reloads and failed imports here from now on. */
  countIn: (metrics: ReloadMetrics | undefined) => void;

  // What the admin API needs (admin/backend-admin.ts AdminHost).
  /** Names the config file defines now (they win). */
  fileBackends: () => ReadonlySet<string>;
  /** The backend as served now. */
  served: (name: string) => ServedBackend | undefined;
  /** Imports a backend without serving it (the trial before a change is stored). */
  prepare: (b: BackendConfig) => Promise<ServedBackend>;
  /** Runs `work` in the change queue. */
  serialize: <T>(work: () => Promise<T>) => Promise<T>;
  /** Swaps in the backends configured now: the file's, then the registered ones. Only inside `serialize`. */
  apply: (source: ChangeSource, options?: ReloadOptions & { restartRequired?: string[] }) => Promise<ReloadResult>;
  /** Records a change whose trial import failed, so nothing was stored or applied. */
  refused: (failed: ReloadResult['failed'][number]) => void;
  /** Serves `registered`'s backends after the file's from now on; those registered already are imported now. */
  addRegistered: (registered: RegisteredBackends) => Promise<void>;
  close: () => Promise<void>;
}

const NO_CHANGES = { added: [], removed: [], reimported: [], unchanged: [], failed: [], restartRequired: [] };

/** What the changes share: the configuration the process started with, and what is served now. */
interface State {
  readonly config: GatehouseConfig;
  readonly log: Logger;
  readonly cache: ImportCache | undefined;
  backends: BackendSet;
  /** The snapshot every request reads; a change replaces it in one assignment. */
  snapshot: ToolRegistry;
  lastReload: ReloadResult | undefined;
  /** The configuration file as last read successfully: its backends come first and win a name clash. */
  fileConfig: GatehouseConfig;
  registered: RegisteredBackends | undefined;
  metrics: ReloadMetrics | undefined;
  readonly swapListeners: Array<(set: BackendSet) => void>;
  readonly toolsChanged: Set<() => void>;
}

/** Imports the configured backends (start-up), and returns what changes them from then on. */
export async function createReloader(config: GatehouseConfig, log: Logger): Promise<Reloader> {
  const cache = config.importCache ? fileImportCache(resolve(config.baseDir, config.importCache.dir)) : undefined;
  const backends = await loadBackendSet(config, log, cache);
  const state: State = { config, log, cache, backends, snapshot: backends.registry, lastReload: undefined, fileConfig: config, registered: undefined, metrics: undefined, swapListeners: [], toolsChanged: new Set() };
  // One change at a time, in the order asked: file reloads, admin changes and fleet syncs share this queue.
  let queue: Promise<unknown> = Promise.resolve();
  const serialize = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };
  return {
    registry: () => state.snapshot,
    current: () => state.backends,
    reload: () => serialize(() => reloadOnce(state)),
    lastReload: () => state.lastReload,
    onToolsChanged(listener) {
      state.toolsChanged.add(listener);
      return () => state.toolsChanged.delete(listener);
    },
    onSwap(listener) {
      state.swapListeners.push(listener);
    },
    countIn(metrics) {
      state.metrics = metrics;
    },
    fileBackends: () => new Set(state.fileConfig.backends.map((b) => b.name)),
    served: (name) => state.backends.backends.find((s) => s.config.name === name),
    prepare: (b) => prepareBackend(b, state.fileConfig, log, cache),
    serialize,
    apply: (source, options) => apply(state, source, options),
    refused(failed) {
      record(state, performance.now(), { result: 'invalid', source: 'admin', error: { code: failed.code, message: failed.message }, ...NO_CHANGES, failed: [failed] });
      state.metrics?.backendImportFailed(failed.backend, 'admin');
    },
    async addRegistered(registered) {
      state.registered = registered;
      // The backends registered before this start: imported now, before the first request.
      if (registered.backends().length > 0) {
        swap(state, (await reloadBackendSet(state.backends, { ...config, backends: [...config.backends, ...registered.backends()] }, log, cache)).set);
      }
    },
    close: () => importWorker.close(),
  };
}

/** The swap: synchronous, so no request sees half of it. */
function swap(state: State, set: BackendSet): void {
  state.backends = set;
  for (const listener of state.swapListeners) listener(set);
  state.snapshot = set.registry;
}

function record(state: State, started: number, r: Omit<ReloadResult, 'at' | 'ms' | 'tools'>): ReloadResult {
  state.lastReload = { ...r, at: new Date().toISOString(), ms: Math.round(performance.now() - started), tools: state.snapshot.tools.length };
  return state.lastReload;
}

/** Swaps in the file's backends, then the registered ones. Only unchanged backends are reused. Runs only inside the queue. */
async function apply(state: State, source: ChangeSource, options: ReloadOptions & { restartRequired?: string[] } = {}): Promise<ReloadResult> {
  const { log, fileConfig } = state;
  const started = performance.now();
  const next = { ...fileConfig, backends: [...fileConfig.backends, ...(state.registered?.backends() ?? [])] };
  const { set, changes } = await reloadBackendSet(state.backends, next, log, state.cache, options);
  swap(state, set);
  for (const f of changes.failed) state.metrics?.backendImportFailed(f.backend, source);
  const result = record(state, started, { result: changes.failed.length > 0 ? 'partial' : 'ok', source, ...changes, restartRequired: options.restartRequired ?? [] });
  if (source === 'file') state.metrics?.configReload(result.result);
  log.info(
    { source, ...changes, unchanged: changes.unchanged.length, failed: changes.failed.map((f) => f.backend), tools: result.tools, ms: result.ms },
    `backends updated (${source}): ${changes.added.length} added, ${changes.reimported.length} re-imported, ${changes.removed.length} removed, ${changes.unchanged.length} unchanged, ${changes.failed.length} failed`,
  );
  if (changes.added.length + changes.removed.length + changes.reimported.length > 0) {
    for (const listener of state.toolsChanged) {
      try {
        listener();
      } catch (err) {
        log.warn({ err }, 'tools-changed listener failed');
      }
    }
  }
  return result;
}

/** Reads the config file again; an invalid one changes nothing. Runs only inside the queue. */
async function reloadOnce(state: State): Promise<ReloadResult> {
  const { config, log } = state;
  const started = performance.now();
  let next: GatehouseConfig;
  try {
    next = loadConfig(config.file);
  } catch (err) {
    const e = isGatehouseError(err) ? err : new GatehouseError('GH_CONFIG_INVALID', String(err), { cause: err });
    log.error({ code: e.code }, `config reload refused, still serving the previous configuration: ${e.message}`);
    state.metrics?.configReload('invalid');
    return record(state, started, { result: 'invalid', source: 'file', error: { code: e.code, message: e.message }, ...NO_CHANGES });
  }
  // Compared with the configuration the process started with: the warning repeats until a restart applies it.
  const restartRequired = sectionsNeedingRestart(config, next);
  if (restartRequired.length > 0) log.warn({ sections: restartRequired }, `config reload: changes to ${restartRequired.join(', ')} take effect only after a restart`);
  state.fileConfig = next;
  return apply(state, 'file', { restartRequired });
}
