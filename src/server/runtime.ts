import { resolve } from 'node:path';
import type { McpServerFactory } from '@modelcontextprotocol/server';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { createToolCaller } from '../mcp/call-tool.js';
import { createFastPath, type FastPlan } from '../mcp/fast-path.js';
import { createServerFactory, SERVER_INFO } from '../mcp/server-factory.js';
import type { CancelSignal, Principal } from '../policy/compose.js';
import { loadBackends } from '../registry/load-backends.js';
import { fileImportCache } from '../openapi/import-cache.js';
import type { ToolRegistry } from '../registry/registry.js';
import { createForwarder } from '../upstream/forward.js';

/** Everything both serving modes (HTTP and stdio) share. */
export interface Runtime {
  registry: () => ToolRegistry;
  factory: McpServerFactory;
  /** The hot path for plain tools/call and tools/list (see mcp/fast-path.ts). */
  fastPath: (plan: FastPlan, principal: Principal, signal: CancelSignal) => Promise<string | undefined>;
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
  const callTool = createToolCaller({ forwarder, policies: [], log, backendTimeouts });
  const factory = createServerFactory({ registry, callTool, pageSize: config.mcp.pageSize });
  const fastPath = createFastPath({ registry, callTool, pageSize: config.mcp.pageSize, serverInfo: SERVER_INFO });
  return { registry, factory, fastPath, close: () => forwarder.close() };
}
