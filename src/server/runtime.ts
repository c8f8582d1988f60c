import { resolve } from 'node:path';
import type { McpServerFactory } from '@modelcontextprotocol/server';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { createToolCaller } from '../mcp/call-tool.js';
import { createFastPath, type FastPlan, type FastRequest } from '../mcp/fast-path.js';
import { createServerFactory, SERVER_INFO } from '../mcp/server-factory.js';
import { createVisibility } from '../mcp/visibility.js';
import { createAuthenticator, type Authenticator } from '../policy/authenticate.js';
import { compileRules, type Authorizer } from '../policy/rules.js';
import type { AiProxy } from '../ai/proxy.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { loadConfig } from '../config/load-config.js';
import { loadBackendSet, reloadBackendSet, sectionsNeedingRestart, type BackendSet, type ReloadResult } from './backend-set.js';
import { fileImportCache } from '../openapi/import-cache.js';
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
  /** What the last reload did (undefined before the first). */
  lastReload: () => ReloadResult | undefined;
  factory: McpServerFactory;
  /** The hot path for plain tools/call and tools/list (see mcp/fast-path.ts). */
  fastPath: (plan: FastPlan, request: FastRequest) => Promise<string | undefined>;
  /** Verifies a request's credentials; undefined when every call is anonymous. */
  authenticate: Authenticator | undefined;
  /** Rate limits, audit, metrics (see server/pipeline.ts). */
  pipeline: Pipeline;
  /** The compiled rules (absent: everything allowed); tools and models alike. */
  authorizer: Authorizer | undefined;
  /** The ai-proxy engine, when `ai` is configured. */
  ai: AiProxy | undefined;
  close: () => Promise<void>;
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
  // Authorisation: the same rules decide calls (a policy in the pipeline) and what tools/list shows.
  const authorizer = config.rules !== undefined && config.rules.length > 0 ? compileRules(config.rules) : undefined;
  const visibleTools = authorizer === undefined ? undefined : createVisibility(authorizer);
  const pipeline = await createPipeline({ config, log, registry, authorizer });
  const callTool = createToolCaller({
    forwarder,
    policies: pipeline.policies,
    log,
    backendTimeouts,
    credentials,
    guards: pipeline.guards,
    observe: pipeline.observe,
  });
  const pageSize = config.mcp.pageSize;
  const factory = createServerFactory({ registry, callTool, pageSize, ...(visibleTools ? { visibleTools } : {}) });
  const fastPath = createFastPath({ registry, callTool, pageSize, serverInfo: SERVER_INFO, ...(visibleTools ? { visibleTools } : {}) });
  // The ai-proxy engine is loaded only when configured.
  const ai = config.ai === undefined ? undefined : (await import('../ai/proxy.js')).createAiProxy(config.ai, { log });

  let lastReload: ReloadResult | undefined;
  const reloadOnce = async (): Promise<ReloadResult> => {
    const started = performance.now();
    const finish = (r: Omit<ReloadResult, 'at' | 'ms' | 'tools'>): ReloadResult => {
      lastReload = { ...r, at: new Date().toISOString(), ms: Math.round(performance.now() - started), tools: snapshot.tools.length };
      pipeline.metrics?.configReload(lastReload.result);
      return lastReload;
    };
    let next: GatehouseConfig;
    try {
      next = loadConfig(config.file);
    } catch (err) {
      const e = isGatehouseError(err) ? err : new GatehouseError('GH_CONFIG_INVALID', String(err), { cause: err });
      log.error({ code: e.code }, `config reload refused, still serving the previous configuration: ${e.message}`);
      return finish({ result: 'invalid', error: { code: e.code, message: e.message }, added: [], removed: [], reimported: [], unchanged: [], failed: [], restartRequired: [] });
    }
    // Compared with the configuration the process started with: the warning repeats until a restart applies it.
    const restartRequired = sectionsNeedingRestart(config, next);
    if (restartRequired.length > 0) log.warn({ sections: restartRequired }, `config reload: changes to ${restartRequired.join(', ')} take effect only after a restart`);
    const { set, changes } = await reloadBackendSet(backends, next, log, cache);
    // The swap: synchronous, so no request sees half of it. Calls in flight keep the tool and backend state they started with.
    backends = set;
    fillBackendState(set);
    pipeline.updateBackends(set.backends.map((s) => s.config));
    snapshot = set.registry;
    const result = finish({ result: changes.failed.length > 0 ? 'partial' : 'ok', ...changes, restartRequired });
    log.info(
      { ...changes, unchanged: changes.unchanged.length, failed: changes.failed.map((f) => f.backend), tools: result.tools, ms: result.ms },
      `config reloaded: ${changes.added.length} added, ${changes.reimported.length} re-imported, ${changes.removed.length} removed, ${changes.unchanged.length} unchanged, ${changes.failed.length} failed`,
    );
    return result;
  };
  // One reload at a time, in the order asked: a reload reads the file when its turn comes.
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<ReloadResult> => {
    const run = reloading.then(reloadOnce);
    reloading = run.catch(() => undefined);
    return run;
  };

  return {
    registry,
    reload,
    lastReload: () => lastReload,
    factory,
    fastPath,
    authenticate: createAuthentication(config),
    pipeline,
    authorizer,
    ai,
    close: async () => {
      await ai?.close();
      await pipeline.close();
      await forwarder.close();
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
