import type { McpServerFactory } from '@modelcontextprotocol/server';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import { createToolCaller } from '../mcp/call-tool.js';
import type { FastPlan, FastRequest } from '../mcp/fast-path.js';
import type { ServerFactoryOptions } from '../mcp/server-factory.js';
import { createMayCall, createVisibility } from '../mcp/visibility.js';
import { createAuthenticator, loadJose, type Authenticator } from '../policy/authenticate.js';
import type { Authorizer } from '../policy/rules.js';
import type { AiProxy } from '../ai/engine/proxy.js';
import { createCallServices } from './call-services.js';
import type { Chain } from '../policy/chain.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { AuditTrail } from '../audit/open-trail.js';
import type { BackendSet, ReloadResult } from '../registry/backend-set.js';
import { createReloader, type Reloader } from '../registry/reloader.js';
import type { BackendAdmin } from '../admin/backend-admin.js';
import type { ToolRegistry } from '../registry/registry.js';
import { createForwarder } from '../upstream/forward.js';
import type { Credentials } from '../upstream/credentials.js';
import { resourceUrl } from './resource-metadata.js';
import { warmArgsValidation } from '../registry/validate-args.js';

export type { ReloadResult } from '../registry/backend-set.js';

/** Everything both serving modes (HTTP and stdio) share. */
export interface Runtime {
  /** The current registry snapshot: read it per request (a reload swaps it). */
  registry: () => ToolRegistry;
  /**
   * Reads the config file again and applies its `backends` (see registry/reloader.ts):
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
  /** Loads, once the gateway serves, what start-up left for later that the first calls need (the HTTP client of the forwarder). */
  warm: () => void;
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
  // With tools to serve, the MCP surface is needed before the first request (see
  // server/mcp-route.ts): its modules (the MCP SDK) start loading now, while the
  // backends import on their thread, instead of after. Errors surface where they are imported again.
  if (config.backends.length > 0 || config.admin !== undefined) void Promise.all([import('../mcp/server-factory.js'), import('../mcp/fast-path.js')]).catch(() => {});
  // The backends and how they change while the gateway runs (registry/reloader.ts).
  const backends = await createReloader(config, log);
  const registry = backends.registry;
  const forwarder = createForwarder({
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    timeoutMs: config.upstream.timeoutMs,
    maxResponseBytes: config.upstream.maxResponseBytes,
    connections: config.upstream.connections,
  });
  // Per-backend state the tool caller reads as each call starts; refilled in every swap, together with the snapshot.
  const { backendTimeouts, credentials, fill: fillBackendState } = perBackendState();
  fillBackendState(backends.current());
  // The chain, what it is built on and who observes its calls (server/call-services.ts).
  const services = await namingFile(config.file, () => createCallServices(config, log));
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
  backends.onSwap((set) => {
    fillBackendState(set);
    services.backendGuards.update(set.backends.map((s) => s.config));
  });
  backends.countIn(metrics);
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
  const ai = config.ai === undefined ? undefined : await namingFile(config.file, () => openAi(config.ai!, log));
  const admin = config.admin === undefined ? undefined : await openAdmin(config, log, backends);
  // jose loads only for a JWT verifier (see policy/authenticate.ts), before it is built so a bad key set fails the start.
  if (config.auth?.jwt !== undefined) await loadJose();

  return {
    registry,
    reload: backends.reload,
    lastReload: backends.lastReload,
    admin,
    onToolsChanged: backends.onToolsChanged,
    mcp: () => (mcp ??= loadMcp()),
    authenticate: createAuthentication(config),
    chain,
    metrics,
    audit: services.audit,
    authorizer,
    ai,
    warm: () => {
      forwarder.warm();
      // ajv, for the first tools/call's argument check (registry/validate-args.ts). Its load blocks the
      // event loop ~50 ms, so it waits a moment: the initialize and tools/list a client sends as it
      // connects are answered first, and its first tools/call comes after the model has read the list.
      if (config.backends.length > 0 || config.admin !== undefined) setTimeout(warmArgsValidation, ARGS_WARM_DELAY_MS).unref();
    },
    close: async () => {
      await admin?.close();
      await ai?.close();
      await services.close();
      await forwarder.close();
      await backends.close();
    },
  };
}

/**
 * The ai-proxy engine (loaded only when configured), its routes' conditions
 * compiled; the price overrides are checked now too, not when the ai endpoint
 * first loads, so a bad one is a config error at start.
 */
async function openAi(config: NonNullable<GatehouseConfig['ai']>, log: Logger): Promise<AiProxy> {
  const [{ createAiProxy }, { loadPriceTable }] = await Promise.all([import('../ai/engine/proxy.js'), import('../ai/policy/prices.js')]);
  loadPriceTable(config.prices ?? {});
  return createAiProxy(config, { log });
}

/** A config error met while building from the config (a when: condition, a pattern, a policies[] entry) names the file, as the loader's do. */
async function namingFile<T>(file: string, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (err) {
    if (isGatehouseError(err) && err.code === 'GH_CONFIG_INVALID' && !err.message.startsWith(file)) {
      throw new GatehouseError('GH_CONFIG_INVALID', `${file}: ${err.message}`, { ...(err.details !== undefined ? { details: err.details } : {}), cause: err });
    }
    throw err;
  }
}

/** How long after the gateway starts serving the argument validator's modules load (see `warm`). */
const ARGS_WARM_DELAY_MS = 250;

/** The admin API's backends (runtime registrations), served after the file's through the reloader's queue. */
async function openAdmin(config: GatehouseConfig, log: Logger, backends: Reloader): Promise<BackendAdmin> {
  const { openBackendAdmin } = await import('../admin/open.js');
  const admin = await openBackendAdmin(config, log, {
    log,
    fileBackends: backends.fileBackends,
    registry: backends.registry,
    served: backends.served,
    prepare: backends.prepare,
    serialize: backends.serialize,
    apply: backends.apply,
    refused: backends.refused,
  });
  await backends.addRegistered(admin);
  return admin;
}

/** Timeouts and outbound credentials by backend name, as the tool caller reads them; `fill` replaces them all. */
function perBackendState(): { backendTimeouts: Map<string, number>; credentials: Map<string, Credentials>; fill: (set: BackendSet) => void } {
  const backendTimeouts = new Map<string, number>();
  const credentials = new Map<string, Credentials>();
  const fill = (set: BackendSet): void => {
    backendTimeouts.clear();
    credentials.clear();
    for (const s of set.backends) {
      if (s.config.timeoutMs !== undefined) backendTimeouts.set(s.config.name, s.config.timeoutMs);
      if (s.credentials !== undefined) credentials.set(s.config.name, s.credentials);
    }
  };
  return { backendTimeouts, credentials, fill };
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
