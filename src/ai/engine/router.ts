/**
 * Which targets serve a requested model (ai.routes), and which targets are benched after
 * repeated failures (ai.cooldown). Plain data and a clock; no I/O.
 *
 * Routing by caller: a route with `when` (a CEL condition, conditions/cel.ts) serves only the
 * callers for whom it holds. The candidates for a model are the routes naming it (model or
 * alias), then the glob routes matching it, each group in config order; the first whose
 * condition holds serves, and a route without `when` always holds (so the routes after it
 * for the same name are never reached). Without a caller, only routes without `when`
 * serve: a caller the router is not told about is not one a condition was written for.
 */
import { RE2JS } from 're2js';
import { GatehouseError } from '../../errors/catalogue.js';
import type { AiConfig, AiProvider } from '../../config/schema.js';
import { compileCondition, type Condition, type ConditionInput } from '../../conditions/cel.js';
import type { Principal } from '../../call/context.js';
import type { ResolvedTarget } from '../providers/adapters.js';

export type { ResolvedTarget };

/** One upstream a route may use, with the model it will be asked for. */

/** Shared between calls for exact names: read it, never change it. */
export interface ResolvedRoute {
  /** The route's `model` as configured (a name or a glob): what audit and metrics group by. */
  readonly route: string;
  readonly targets: readonly ResolvedTarget[];
}

/** Where each provider listens unless the target says otherwise. openai-compatible has no default. */
const DEFAULT_BASE_URL: Partial<Record<AiProvider, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
};

export interface Router {
  /** The route serving `model` to `caller` (see the module comment); without a caller, only routes without `when` serve. */
  resolve(model: string, caller?: Principal): ResolvedRoute | undefined;
  /**
   * Exact names and aliases, then glob routes' patterns, in config order. With a caller,
   * only those it may request: a name `resolve` serves it, a pattern whose route's `when`
   * holds for it. Without one, every name and pattern of every route (what metrics label by).
   */
  models(caller?: Principal): string[];
}

/**
 * Build the route table once. Throws GH_CONFIG_INVALID naming the field when a route names
 * an unknown target or an openai-compatible target has no baseUrl (the schema cannot say
 * either).
 */
export function createRouter(config: AiConfig): Router {
  const baseUrls = new Map<string, string>();
  for (const [name, target] of Object.entries(config.targets)) {
    const base = target.baseUrl ?? DEFAULT_BASE_URL[target.provider];
    if (base === undefined) {
      throw new GatehouseError('GH_CONFIG_INVALID', `ai.targets.${name}.baseUrl is required for provider "${target.provider}" (there is no default server).`);
    }
    baseUrls.set(name, base.replace(/\/+$/, ''));
  }
  config.routes.forEach((route, i) => {
    route.targets.forEach((t, j) => {
      if (!baseUrls.has(t)) {
        throw new GatehouseError('GH_CONFIG_INVALID', `ai.routes[${i}].targets[${j}] names "${t}", which is not a key of ai.targets (known: ${[...baseUrls.keys()].join(', ')}).`);
      }
    });
  });

  type Route = AiConfig['routes'][number];
  // Compiled once; a bad expression is a config error naming ai.routes[i].when.
  const conditions = config.routes.map((route, i) => (route.when === undefined ? undefined : compileCondition(route.when, `ai.routes[${i}].when`)));

  const targetsOf = (route: Route, requested: string): ResolvedTarget[] =>
    route.targets.map((name) => {
      const t = config.targets[name];
      // Both checked above; the guard only satisfies noUncheckedIndexedAccess.
      if (t === undefined) throw new Error(`unreachable: unknown target ${name}`);
      return { name, provider: t.provider, model: t.model ?? requested, baseUrl: baseUrls.get(name) as string };
    });

  // Exact names resolve the same way every time: built once (a glob's targets depend on the
  // name asked for). Each name keeps its routes in config order, up to the first without
  // `when` (the ones after it can never serve that name).
  interface Candidate {
    route: Route;
    when: Condition | undefined;
    resolved: ResolvedRoute;
  }
  const exact = new Map<string, Candidate[]>();
  const globs: Array<{ re: { test(model: string): boolean }; route: Route; when: Condition | undefined }> = [];
  config.routes.forEach((route, i) => {
    const when = conditions[i];
    // Aliases are names, never patterns.
    for (const name of [route.model, ...route.aliases]) {
      if (name === route.model && isGlob(name)) continue;
      const list = exact.get(name) ?? [];
      if (list.length > 0 && list[list.length - 1]!.when === undefined) continue;
      list.push({ route, when, resolved: { route: route.model, targets: targetsOf(route, name) } });
      exact.set(name, list);
    }
    if (isGlob(route.model)) globs.push({ re: globToRegExp(route.model), route, when });
  });

  /** Whether a route's condition holds for a model call by `caller` (evaluated only for routes that have one). */
  const holds = (when: Condition | undefined, route: Route, model: string, caller: Principal | undefined): boolean =>
    when === undefined || (caller !== undefined && when(conditionInput(caller, route.model, model)));

  function resolve(model: string, caller?: Principal): ResolvedRoute | undefined {
    const named = exact.get(model);
    if (named !== undefined) {
      for (const c of named) if (holds(c.when, c.route, model, caller)) return c.resolved;
    }
    for (const g of globs) {
      if (g.re.test(model) && holds(g.when, g.route, model, caller)) return { route: g.route.model, targets: targetsOf(g.route, model) };
    }
    return undefined;
  }

  const allNames = [...new Set([...exact.keys(), ...globs.map((g) => g.route.model)])];

  return {
    resolve,
    // GET /v1/models: every exact name and alias, then each glob route's pattern as it is
    // written (e.g. `gpt-*`). The names a glob serves are whatever its upstreams know;
    // listing them would mean asking every upstream, with its credentials, on each
    // listing, and a list that changes with their health. The pattern is what the
    // gateway itself promises: every name it matches is routed.
    models(caller) {
      if (caller === undefined) return [...allNames];
      const names = new Set<string>();
      for (const name of exact.keys()) if (resolve(name, caller) !== undefined) names.add(name);
      for (const g of globs) if (holds(g.when, g.route, g.route.model, caller)) names.add(g.route.model);
      return [...names];
    },
  };
}

/** What a route's condition sees: the caller, and a model call for `model` on the route `route`. */
function conditionInput(p: Principal, route: string, model: string): ConditionInput {
  return {
    principal: { id: p.id, kind: p.kind, scopes: p.scopes ?? [], groups: p.groups ?? [], client: p.client ?? '', claims: p.claims ?? {} },
    call: { kind: 'model', target: model, backend: route, tool: '', model, method: '', readOnly: false },
  };
}

function isGlob(s: string): boolean {
  return s.includes('*');
}

/**
 * `*` is any run of characters (including `/` and none); everything else is literal.
 * Matched on RE2: the model name comes from the request, and a backtracking
 * `^.*a.*b.*$` costs time polynomial in its length.
 */
export function globToRegExp(glob: string): { test(model: string): boolean } {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = RE2JS.compile(`^${body}$`, RE2JS.DOTALL);
  return { test: (model) => re.test(model) };
}

// ---------------------------------------------------------------------------
// Cooldown
// ---------------------------------------------------------------------------

export interface Cooldown {
  /** True while the target is benched. */
  cooling(target: string): boolean;
  /** A failed attempt that is the upstream's fault (not the client's). */
  failure(target: string): void;
  success(target: string): void;
}

/**
 * After `failures` consecutive failed attempts a target is benched for `ms`. The count is
 * kept when the bench ends, so the first attempt after it is a probe: one more failure
 * benches the target again at once (half-open), a success clears the count.
 */
export function createCooldown(options: { failures: number; ms: number; now: () => number }): Cooldown {
  const state = new Map<string, { failures: number; until: number }>();
  return {
    cooling(target) {
      const s = state.get(target);
      return s !== undefined && s.until > options.now();
    },
    failure(target) {
      const s = state.get(target) ?? { failures: 0, until: 0 };
      s.failures++;
      if (s.failures >= options.failures) s.until = options.now() + options.ms;
      state.set(target, s);
    },
    success(target) {
      state.delete(target);
    },
  };
}
