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
import { loadBackends } from '../registry/load-backends.js';
import { fileImportCache } from '../openapi/import-cache.js';
import type { ToolRegistry } from '../registry/registry.js';
import { createForwarder } from '../upstream/forward.js';
import { createCredentials, placeApiKey, type Credentials } from '../upstream/credentials.js';
import { GatehouseError } from '../errors/catalogue.js';

/** Everything both serving modes (HTTP and stdio) share. */
export interface Runtime {
  registry: () => ToolRegistry;
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
  const snapshot = await loadBackends(config.backends, config.baseDir, log, cache ? { cache } : {});
  const registry = () => snapshot;
  const forwarder = createForwarder({
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    timeoutMs: config.upstream.timeoutMs,
    maxResponseBytes: config.upstream.maxResponseBytes,
    connections: config.upstream.connections,
  });
  const backendTimeouts = new Map(config.backends.flatMap((b) => (b.timeoutMs === undefined ? [] : [[b.name, b.timeoutMs] as const])));
  // Authorisation: the same rules decide calls (a policy in the pipeline) and what tools/list shows.
  const authorizer = config.rules !== undefined && config.rules.length > 0 ? compileRules(config.rules) : undefined;
  const visibleTools = authorizer === undefined ? undefined : createVisibility(authorizer);
  const credentials = new Map<string, Credentials>();
  for (const b of config.backends) {
    if (b.credentials === undefined && !b.passthrough) continue;
    try {
      const status = snapshot.backends.find((s) => s.name === b.name);
      if (status?.state !== 'ready') continue; // a backend that failed to load has no tools to call
      const config = placeApiKey(b.credentials ?? { type: 'none' }, status.apiKeySchemes);
      credentials.set(b.name, createCredentials(config, {}, { passthrough: b.passthrough === true }));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new GatehouseError('GH_CONFIG_INVALID', `${config.file}: backends "${b.name}" credentials: ${message}`, { cause: err });
    }
  }
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
  return {
    registry,
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
