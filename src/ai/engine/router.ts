/**
 * Which targets serve a requested model (ai.routes), and which targets are benched after
 * repeated failures (ai.cooldown). Plain data and a clock; no I/O.
 */
import { RE2JS } from 're2js';
import { GatehouseError } from '../../errors/catalogue.js';
import type { AiConfig, AiProvider } from '../../config/schema.js';
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
  resolve(model: string): ResolvedRoute | undefined;
  /** Exact names and aliases, then glob routes' patterns, in config order. */
  models(): string[];
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
  const exact = new Map<string, Route>();
  const globs: Array<{ re: { test(model: string): boolean }; route: Route }> = [];
  for (const route of config.routes) {
    // Aliases are names, never patterns. The first route to claim a name wins (config order).
    for (const name of [route.model, ...route.aliases]) {
      if (name === route.model && isGlob(name)) continue;
      if (!exact.has(name)) exact.set(name, route);
    }
    if (isGlob(route.model)) globs.push({ re: globToRegExp(route.model), route });
  }

  const targetsOf = (route: Route, requested: string): ResolvedTarget[] =>
    route.targets.map((name) => {
      const t = config.targets[name];
      // Both checked above; the guard only satisfies noUncheckedIndexedAccess.
      if (t === undefined) throw new Error(`unreachable: unknown target ${name}`);
      return { name, provider: t.provider, model: t.model ?? requested, baseUrl: baseUrls.get(name) as string };
    });

  // Exact names resolve the same way every time: built once (a glob's targets depend on the name asked for).
  const exactResolved = new Map<string, ResolvedRoute>();
  for (const [name, route] of exact) exactResolved.set(name, { route: route.model, targets: targetsOf(route, name) });

  return {
    resolve(model) {
      const known = exactResolved.get(model);
      if (known !== undefined) return known;
      const route = globs.find((g) => g.re.test(model))?.route;
      return route === undefined ? undefined : { route: route.model, targets: targetsOf(route, model) };
    },
    // GET /v1/models: every exact name and alias, then each glob route's pattern as it is
    // written (e.g. `gpt-*`). The names a glob serves are whatever its upstreams know;
    // listing them would mean asking every upstream, with its credentials, on each
    // listing, and a list that changes with their health. The pattern is what the
    // gateway itself promises: every name it matches is routed.
    models: () => [...exact.keys(), ...globs.map((g) => g.route.model).filter((m) => !exact.has(m))],
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
