import type { BackendConfig } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { importBackend } from '../openapi/import-backend.js';
import type { ToolDefinition } from '../openapi/tool-definition.js';
import { ToolRegistry, type BackendStatus } from './registry.js';

/**
 * Imports every backend concurrently. A backend whose spec fails to load is
 * reported (status `failed`, logged with its code) and skipped: it never takes
 * the gateway or the other backends down.
 */
export async function loadBackends(backends: readonly BackendConfig[], baseDir: string, log: Logger): Promise<ToolRegistry> {
  const results = await Promise.all(
    backends.map(async (b): Promise<{ status: BackendStatus; tools: ToolDefinition[] }> => {
      const started = performance.now();
      try {
        const imported = await importBackend({
          name: b.name,
          spec: b.spec,
          baseDir,
          allowExternalRefs: b.allowExternalRefs,
          ...(b.baseUrl !== undefined ? { baseUrl: b.baseUrl } : {}),
        });
        const ms = Math.round(performance.now() - started);
        log.info({ backend: b.name, tools: imported.tools.length, ms }, `backend ${b.name}: ${imported.tools.length} tools`);
        for (const w of imported.warnings) log.warn({ backend: b.name }, w);
        return { status: { name: b.name, state: 'ready', tools: imported.tools.length, warnings: imported.warnings }, tools: imported.tools };
      } catch (err) {
        const e = isGatehouseError(err) ? err : new GatehouseError('GH_SPEC_LOAD_FAILED', String(err), { cause: err });
        log.error({ backend: b.name, code: e.code }, `backend ${b.name} not loaded: ${e.message}`);
        return { status: { name: b.name, state: 'failed', error: { code: e.code, message: e.message } }, tools: [] };
      }
    }),
  );
  return ToolRegistry.build(
    results.flatMap((r) => r.tools),
    results.map((r) => r.status),
  );
}
