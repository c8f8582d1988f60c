import type { BackendConfig } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { importBackend } from '../openapi/import-backend.js';
import type { ImportCache } from '../openapi/import-cache.js';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { ToolRegistry, type BackendListing, type BackendStatus } from './registry.js';

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
  const results = await Promise.all(
    backends.map(async (b): Promise<{ status: BackendStatus; tools: ToolDefinition[]; title?: string }> => {
      const started = performance.now();
      try {
        const imported = await importBackend({
          name: b.name,
          spec: b.spec,
          baseDir,
          allowExternalRefs: b.allowExternalRefs,
          include: b.include,
          exclude: b.exclude,
          deprecated: b.deprecated,
          overrides: b.overrides,
          ...(options.cache !== undefined ? { cache: options.cache } : {}),
          ...(b.baseUrl !== undefined ? { baseUrl: b.baseUrl } : {}),
        });
        const ms = Math.round(performance.now() - started);
        log.info({ backend: b.name, tools: imported.tools.length, ms }, `backend ${b.name}: ${imported.tools.length} tools`);
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
        log.error({ backend: b.name, code: e.code }, `backend ${b.name} not loaded: ${e.message}`);
        return { status: { name: b.name, state: 'failed', error: { code: e.code, message: e.message } }, tools: [] };
      }
    }),
  );
  const listings = new Map<string, BackendListing>(
    backends.map((b, i) => [b.name, { mode: b.tools, toolBudget: b.toolBudget, title: results[i]?.title }]),
  );
  const registry = ToolRegistry.build(
    results.flatMap((r) => r.tools),
    results.map((r) => r.status),
    listings,
  );
  registry.backends.forEach((s, i) => {
    const b = backends[i];
    if (s.state !== 'ready' || b === undefined) return;
    // Warnings the registry added (a meta-tool name taken by an operation).
    const before = results[i]?.status.state === 'ready' ? results[i].status.warnings.length : 0;
    for (const w of s.warnings.slice(before)) log.warn({ backend: s.name }, w);
    if (s.listing === 'search') {
      const why = b.tools === 'search' ? 'tools: search' : `${s.tools} tools > toolBudget ${b.toolBudget}`;
      log.info({ backend: s.name, tools: s.tools, listing: 'search' }, `backend ${s.name}: search mode (${why}): 3 meta-tools listed instead of its tools`);
    }
  });
  return registry;
}
