import { resolve } from 'node:path';
import type { McpServerFactory } from '@modelcontextprotocol/server';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { createToolCaller } from '../mcp/call-tool.js';
import type { FastPlan, FastRequest } from '../mcp/fast-path.js';
import type { ServerFactoryOptions } from '../mcp/server-factory.js';
import { createMayCall, createVisibility } from '../mcp/visibility.js';
import { createAuthenticator, type Authenticator } from '../policy/authenticate.js';
import type { Authorizer } from '../policy/rules.js';
import type { AiProxy } from '../ai/engine/proxy.js';
import { createCallServices } from './call-services.js';
import type { Chain } from '../policy/chain.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { AuditTrail } from '../audit/open-trail.js';
import { loadConfig } from '../config/load-config.js';
import { loadBackendSet, prepareBackend, reloadBackendSet, sectionsNeedingRestart, type BackendSet, type ReloadOptions, type ReloadResult } from './backend-set.js';
import type { BackendAdmin } from '../admin/backend-admin.js';
import { fileImportCache } from '../openapi/import-cache.js';
import { importWorker } from '../openapi/import-worker-client.js';
import type { ToolRegistry } from '../registry/registry.js';
import { createForwarder } from '../upstream/forward.js';
import type { Credentials } from '../upstream/credentials.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';

export type { ReloadResult } from './backend-set.js';

/** Everything both serving modes (HTTP and stdio) share. */
export interface Runtime {
  /** The current registry snapshot: read it per request (a reload swaps it). */
  registry: () => ToolRegistry;
  /**
   * Reads the config file again and applies its `backends` (see server/backend-set.ts):
   * changed backends are re-imported, the rest reused, and the new registry swapped in.
   * An invalid file changes nothing. Other sections need a restart (reported, not applied).
   */
  reload: () => Promise<ReloadResult>;
  /** What the last change to the backends did: a reload, an admin change, one from the fleet (undefined before the first). */
  lastReload: () => ReloadResult | undefined;
  /** Backends registered at runtime, when `admin` is configured. */
  admin: BackendAdmin | undefined;
  /** Called after every swap that changed the tools (for notifications/tools/list_changed); returns the unsubscribe. */
  onToolsChanged: (listener: () => void) => () => void;
  /**
   * The MCP surface. The MCP SDK (about 30 MB of memory) is loaded with the first
   * call, so a gateway that only proxies LLM calls never loads it.
   */
  mcp: () => Promise<McpSurface>;
  /** Verifies a request's credentials; undefined when every call is anonymous. */
  authenticate: Authenticator | undefined;
  /** The call chain every tool call and model call runs (policy/chain.ts). */
  chain: Chain;
  metrics: GatewayMetrics | undefined;
  /** The audit trail: its store (for queries), its writer. */
  audit: AuditTrail;
  /** The compiled rules (absent: everything allowed); tools and models alike. */
  authorizer: Authorizer | undefined;
  /** The ai-proxy engine, when `ai` is configured. */
  ai: AiProxy | undefined;
  close: () => Promise<void>;
}

/** What serves MCP: the SDK's server factory and Gatehouse's fast path. */
export interface McpSurface {
  factory: McpServerFactory;
  /** The same MCP surface with other change-notification settings (stdio: see cli/main.ts). */
  createFactory: (options: Pick<ServerFactoryOptions, 'listChanged' | 'onServer'>) => McpServerFactory;
  /** The hot path for plain tools/call and tools/list (see mcp/fast-path.ts). */
  fastPath: (plan: FastPlan, request: FastRequest) => Promise<string | undefined>;
}

export async function createRuntime(config: GatehouseConfig, log: Logger): Promise<Runtime> {
  const cache = config.importCache ? fileImportCache(resolve(config.baseDir, config.importCache.dir)) : undefined;
  let backends = await loadBackendSet(config, log, cache);
  // The snapshot every request reads; a reload replaces it in one assignment.
  let snapshot = backends.registry;
  const registry = () => snapshot;
  const forwarder = createForwarder({
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    timeoutMs: config.upstream.timeoutMs,
    maxResponseBytes: config.upstream.maxResponseBytes,
    connections: config.upstream.connections,
  });
  // Per-backend state the tool caller reads as each call starts; refilled by a reload together with the snapshot.
  const backendTimeouts = new Map<string, number>();
  const credentials = new Map<string, Credentials>();
  const fillBackendState = (set: BackendSet): void => {
    backendTimeouts.clear();
    credentials.clear();
    for (const s of set.backends) {
      if (s.config.timeoutMs !== undefined) backendTimeouts.set(s.config.name, s.config.timeoutMs);
      if (s.credentials !== undefined) credentials.set(s.config.name, s.credentials);
    }
  };
  fillBackendState(backends);
  const services = await createCallServices(config, log);
  const { chain, authorizer, metrics } = services;
  // Authorisation: the same rules decide calls (the chain's authorize stage) and what tools/list shows.
  const visibleTools = authorizer === undefined ? undefined : createVisibility(authorizer);
  const mayCall = createMayCall(authorizer);
  const callTool = createToolCaller({
    forwarder,
    chain,
    log,
    backendTimeouts,
    credentials,
    ...(mayCall ? { mayCall } : {}),
    maxHeaderValueBytes: config.upstream.maxHeaderValueBytes,
    argumentLimits: config.mcp.arguments,
  });
  const pageSize = config.mcp.pageSize;
  const factoryOptions: ServerFactoryOptions = { registry, callTool, pageSize, ...(visibleTools ? { visibleTools } : {}) };
  let mcp: Promise<McpSurface> | undefined;
  const loadMcp = async (): Promise<McpSurface> => {
    const [{ createServerFactory, SERVER_INFO }, { createFastPath }] = await Promise.all([import('../mcp/server-factory.js'), import('../mcp/fast-path.js')]);
    return {
      factory: createServerFactory(factoryOptions),
      createFactory: (options) => createServerFactory({ ...factoryOptions, ...options }),
      fastPath: createFastPath({ registry, callTool, pageSize, serverInfo: SERVER_INFO, ...(visibleTools ? { visibleTools } : {}) }),
    };
  };
  // The ai-proxy engine is loaded only when configured.
  const ai = config.ai === undefined ? undefined : (await import('../ai/engine/proxy.js')).createAiProxy(config.ai, { log });

  let lastReload: ReloadResult | undefined;
  // The configuration file as last read successfully: its backends come first and win a name clash.
  let fileConfig = config;
  let admin: BackendAdmin | undefined;
  const toolsChanged = new Set<() => void>();
  const emptyChanges = { added: [], removed: [], reimported: [], unchanged: [], failed: [], restartRequired: [] };

  /**
   * Swaps in the backends configured now: the file's, then those registered at
   * runtime. Only unchanged backends are reused (see backend-set.ts). Runs only
   * inside `serialize`.
   */
  const applyChange = async (source: 'file' | 'admin' | 'fleet', options: ReloadOptions & { restartRequired?: string[] } = {}): Promise<ReloadResult> => {
    const started = performance.now();
    const next = { ...fileConfig, backends: [...fileConfig.backends, ...(admin?.backends() ?? [])] };
    const { set, changes } = await reloadBackendSet(backends, next, log, cache, options);
    swap(set);
    for (const f of changes.failed) metrics?.backendImportFailed(f.backend, source);
    const result = record(started, { result: changes.failed.length > 0 ? 'partial' : 'ok', source, ...changes, restartRequired: options.restartRequired ?? [] });
    if (source === 'file') metrics?.configReload(result.result);
    log.info(
      { source, ...changes, unchanged: changes.unchanged.length, failed: changes.failed.map((f) => f.backend), tools: result.tools, ms: result.ms },
      `backends updated (${source}): ${changes.added.length} added, ${changes.reimported.length} re-imported, ${changes.removed.length} removed, ${changes.unchanged.length} unchanged, ${changes.failed.length} failed`,
    );
    if (changes.added.length + changes.removed.length + changes.reimported.length > 0) {
      for (const listener of toolsChanged) {
        try {
          listener();
        } catch (err) {
          log.warn({ err }, 'tools-changed listener failed');
        }
      }
    }
    return result;
  };
  // The swap: synchronous, so no request sees half of it. Calls in flight keep the tool and backend state they started with.
  const swap = (set: BackendSet): void => {
    backends = set;
    fillBackendState(set);
    services.backendGuards.update(set.backends.map((s) => s.config));
    snapshot = set.registry;
  };
  const record = (started: number, r: Omit<ReloadResult, 'at' | 'ms' | 'tools'>): ReloadResult => {
    lastReload = { ...r, at: new Date().toISOString(), ms: Math.round(performance.now() - started), tools: snapshot.tools.length };
    return lastReload;
  };

  const reloadOnce = async (): Promise<ReloadResult> => {
    const started = performance.now();
    let next: GatehouseConfig;
    try {
      next = loadConfig(config.file);
    } catch (err) {
      const e = isGatehouseError(err) ? err : new GatehouseError('GH_CONFIG_INVALID', String(err), { cause: err });
      log.error({ code: e.code }, `config reload refused, still serving the previous configuration: ${e.message}`);
      metrics?.configReload('invalid');
      return record(started, { result: 'invalid', source: 'file', error: { code: e.code, message: e.message }, ...emptyChanges });
    }
    // Compared with the configuration the process started with: the warning repeats until a restart applies it.
    const restartRequired = sectionsNeedingRestart(config, next);
    if (restartRequired.length > 0) log.warn({ sections: restartRequired }, `config reload: changes to ${restartRequired.join(', ')} take effect only after a restart`);
    fileConfig = next;
    return applyChange('file', { restartRequired });
  };
  // One change at a time, in the order asked: file reloads, admin changes and fleet syncs share this queue.
  let queue: Promise<unknown> = Promise.resolve();
  const serialize = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };
  const reload = (): Promise<ReloadResult> => serialize(reloadOnce);

  if (config.admin !== undefined) {
    const { openBackendAdmin } = await import('../admin/open.js');
    admin = await openBackendAdmin(config, log, {
      log,
      fileBackends: () => new Set(fileConfig.backends.map((b) => b.name)),
      registry,
      served: (name) => backends.backends.find((s) => s.config.name === name),
      prepare: (b) => prepareBackend(b, fileConfig, log, cache),
      serialize,
      apply: (source, options) => applyChange(source, options),
      refused: (failed) => {
        record(performance.now(), { result: 'invalid', source: 'admin', error: { code: failed.code, message: failed.message }, ...emptyChanges, failed: [failed] });
        metrics?.backendImportFailed(failed.backend, 'admin');
      },
    });
    // The backends registered before this start: imported now, before the first request.
    if (admin.backends().length > 0) {
      swap((await reloadBackendSet(backends, { ...config, backends: [...config.backends, ...admin.backends()] }, log, cache)).set);
    }
  }

  return {
    registry,
    reload,
    lastReload: () => lastReload,
    admin,
    onToolsChanged(listener) {
      toolsChanged.add(listener);
      return () => toolsChanged.delete(listener);
    },
    mcp: () => (mcp ??= loadMcp()),
    authenticate: createAuthentication(config),
    chain,
    metrics,
    audit: services.audit,
    authorizer,
    ai,
    close: async () => {
      await admin?.close();
      await ai?.close();
      await services.close();
      await forwarder.close();
      await importWorker.close();
    },
  };
}

/**
 * The inbound authenticator from `auth`, or undefined when no credential mode is
 * configured (every call is anonymous). The JWT audience defaults to the
 * gateway's own MCP URL (RFC 8707 canonical resource).
 */
function createAuthentication(config: GatehouseConfig): Authenticator | undefined {
  const auth = config.auth;
  if (auth === undefined || (auth.jwt === undefined && (auth.apiKeys ?? []).length === 0)) return undefined;
  const jwt = auth.jwt;
  return createAuthenticator({
    ...(jwt !== undefined ? { jwt: { ...jwt, audience: jwt.audience ?? resourceUrl(config) } } : {}),
    ...(auth.apiKeys !== undefined && auth.apiKeys.length > 0 ? { apiKeys: auth.apiKeys } : {}),
    ...(auth.apiKeyHeader !== undefined ? { apiKeyHeader: auth.apiKeyHeader } : {}),
    ...(auth.allowAnonymous !== undefined ? { allowAnonymous: auth.allowAnonymous } : {}),
  });
}

/** The canonical URL of the MCP endpoint (RFC 8707 resource; RFC 9728 `resource`). */
export function resourceUrl(config: GatehouseConfig, requestHost?: string): string {
  if (config.server.publicUrl !== undefined) return `${config.server.publicUrl.replace(/\/+$/, '')}/mcp`;
  return `http://${requestHost ?? `${config.server.host}:${config.server.port}`}/mcp`;
}
