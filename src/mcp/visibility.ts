import type { Tool } from '@modelcontextprotocol/server';
import type { Principal } from '../policy/compose.js';
import { toolTarget, type Authorizer } from '../policy/rules.js';
import type { RegisteredTool, ToolRegistry } from '../registry/registry.js';

/**
 * What `tools/list` shows a caller: the listed tools the rules let it call
 * (an agent only sees what it may call). A search-mode backend's meta-tools are
 * shown when the caller may call at least one of that backend's operations;
 * `call_operation` is still authorised per operation. Lists are remembered per
 * registry snapshot and per principal (identity, scopes, groups, client).
 */
export function createVisibility(authorizer: Authorizer | undefined): (registry: ToolRegistry, principal: Principal) => readonly Tool[] {
  if (authorizer === undefined) return (registry) => registry.listed;
  const cache = new WeakMap<ToolRegistry, Map<string, readonly Tool[]>>();
  return (registry, principal) => {
    let perPrincipal = cache.get(registry);
    if (perPrincipal === undefined) cache.set(registry, (perPrincipal = new Map()));
    const key = JSON.stringify([principal.kind, principal.id, principal.client, principal.scopes, principal.groups]);
    let list = perPrincipal.get(key);
    if (list === undefined) {
      const allowedBackends = new Set<string>();
      const allowed = new Set<string>();
      for (const t of registry.tools) {
        if (mayCallWith(authorizer, principal, t)) {
          allowed.add(t.definition.name);
          allowedBackends.add(t.definition.backend);
        }
      }
      list = registry.listed.filter((tool) => {
        const served = registry.get(tool.name);
        if (served === undefined) return false;
        return served.kind === 'meta' ? allowedBackends.has(served.catalogue.backend) : allowed.has(tool.name);
      });
      if (perPrincipal.size >= 1024) perPrincipal.clear();
      perPrincipal.set(key, list);
    }
    return list;
  };
}

/**
 * The one rule every listing surface applies — tools/list, and a search-mode
 * backend's `search_operations` and `describe_operation` — so that none shows
 * an operation the caller may not call.
 */
export function createMayCall(authorizer: Authorizer | undefined): ((principal: Principal, operation: RegisteredTool) => boolean) | undefined {
  return authorizer === undefined ? undefined : (principal, operation) => mayCallWith(authorizer, principal, operation);
}

function mayCallWith(authorizer: Authorizer, principal: Principal, operation: RegisteredTool): boolean {
  return authorizer.decide(principal, toolTarget(operation.definition)).allowed;
}
