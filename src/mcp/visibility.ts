import type { Tool } from '@modelcontextprotocol/server';
import type { Principal } from '../call/context.js';
import { toolTarget, type Authorizer } from '../policy/rules.js';
import { metaTools, type MetaAction } from '../registry/meta-tools.js';
import type { RegisteredTool, ToolRegistry } from '../registry/registry.js';
import { SearchCatalogue } from '../registry/search-catalogue.js';

/**
 * What `tools/list` shows a caller: the listed tools the rules let it call
 * (an agent only sees what it may call). A search-mode backend's meta-tools are
 * shown when the caller may call at least one of that backend's operations,
 * and are then described from those operations only (their count, tags and
 * destructiveHint), so the listing reveals nothing of the others;
 * `call_operation` is still authorised per operation. Lists are remembered per
 * registry snapshot and per principal (every field rules can match).
 */
export function createVisibility(authorizer: Authorizer | undefined): (registry: ToolRegistry, principal: Principal) => readonly Tool[] {
  if (authorizer === undefined) return (registry) => registry.listed;
  const cache = new WeakMap<ToolRegistry, Map<string, readonly Tool[]>>();
  return (registry, principal) => {
    let perPrincipal = cache.get(registry);
    if (perPrincipal === undefined) cache.set(registry, (perPrincipal = new Map()));
    const key = JSON.stringify(principal);
    let list = perPrincipal.get(key);
    if (list === undefined) {
      const allowed = new Set<string>();
      const allowedOf = new Map<string, RegisteredTool[]>();
      for (const t of registry.tools) {
        if (!mayCallWith(authorizer, principal, t)) continue;
        allowed.add(t.definition.name);
        const ops = allowedOf.get(t.definition.backend);
        if (ops === undefined) allowedOf.set(t.definition.backend, [t]);
        else ops.push(t);
      }
      const described = new Map<SearchCatalogue, Map<MetaAction, Tool>>();
      list = registry.listed.flatMap((tool): Tool[] => {
        const served = registry.get(tool.name);
        if (served === undefined) return [];
        if (served.kind !== 'meta') return allowed.has(tool.name) ? [tool] : [];
        const { catalogue } = served;
        const ops = allowedOf.get(catalogue.backend);
        if (ops === undefined) return [];
        if (ops.length === catalogue.operations.length) return [tool];
        let mine = described.get(catalogue);
        if (mine === undefined) {
          const narrowed = new SearchCatalogue({ backend: catalogue.backend, title: catalogue.title, operations: ops, prefix: catalogue.prefix, names: catalogue.names });
          described.set(catalogue, (mine = new Map(metaTools(narrowed).map((m) => [m.action, m.tool]))));
        }
        return [mine.get(served.action) ?? tool];
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
