/**
 * Model prices and the cost of a call. The table ships as data (prices.json, with the
 * source page and date per provider) and is overridable from config, because prices change
 * more often than releases and negotiated rates differ from list prices.
 */
import { GatehouseError } from '../../errors/catalogue.js';
import builtIn from './prices.json' with { type: 'json' };

/** USD per million tokens. */
export interface Price {
  /** Prompt tokens not served from or written to a cache. */
  input: number;
  output: number;
  /** Prompt tokens read from the provider's prompt cache. */
  cache_read: number;
  /** Prompt tokens written to the provider's prompt cache (Anthropic bills these above input). */
  cache_write: number;
}

export interface PriceTable {
  /** Exact model names. */
  readonly exact: ReadonlyMap<string, Price>;
  /** `prefix*` patterns, longest prefix first. */
  readonly prefixes: ReadonlyArray<{ prefix: string; price: Price }>;
}

const FIELDS = ['input', 'output', 'cache_read', 'cache_write'] as const;

interface PriceFile {
  providers: Record<string, { source: string; asOf: string; models: Record<string, Price> }>;
}

/**
 * The built-in table with `overrides` applied. An override for a known key changes only
 * the fields it gives; a new key must give all four. Keys are exact model names or a
 * prefix ending in `*` (the only wildcard). Bad overrides throw GH_CONFIG_INVALID naming
 * the key and field.
 */
export function loadPriceTable(overrides: Record<string, Partial<Price>> = {}): PriceTable {
  const merged = new Map<string, Price>();
  for (const provider of Object.values((builtIn as PriceFile).providers)) {
    for (const [key, price] of Object.entries(provider.models)) merged.set(key, price);
  }
  for (const [key, partial] of Object.entries(overrides)) {
    const base = merged.get(key);
    const price = { ...base, ...partial } as Partial<Price>;
    for (const f of FIELDS) {
      const v = price[f];
      if (v === undefined) {
        throw new GatehouseError('GH_CONFIG_INVALID', `ai.prices["${key}"].${f} is missing: a model not in the built-in table needs input, output, cache_read and cache_write`);
      }
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new GatehouseError('GH_CONFIG_INVALID', `ai.prices["${key}"].${f} must be a number ≥ 0 (USD per million tokens), got ${JSON.stringify(v)}`);
      }
    }
    merged.set(key, price as Price);
  }

  const exact = new Map<string, Price>();
  const prefixes: Array<{ prefix: string; price: Price }> = [];
  for (const [key, price] of merged) {
    const star = key.indexOf('*');
    if (star === -1) exact.set(key, price);
    else if (star === key.length - 1) prefixes.push({ prefix: key.slice(0, -1), price });
    else throw new GatehouseError('GH_CONFIG_INVALID', `ai.prices["${key}"]: "*" is only allowed at the end of a model name`);
  }
  prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  return { exact, prefixes };
}

/** Exact name first, then the longest matching `prefix*`; undefined for an unknown model. */
export function priceFor(table: PriceTable, model: string): Price | undefined {
  return table.exact.get(model) ?? table.prefixes.find((p) => model.startsWith(p.prefix))?.price;
}

export interface TokenCounts {
  /** All prompt tokens, cached and cache-written ones included (OpenAI's `prompt_tokens`). */
  promptTokens: number;
  completionTokens: number;
  /** Of promptTokens, those read from the cache (`prompt_tokens_details.cached_tokens`). */
  cachedTokens?: number;
  /** Of promptTokens, those written to the cache (Anthropic `cache_creation_input_tokens`). */
  cacheWriteTokens?: number;
}

/**
 * USD for one call. promptTokens includes cached and cache-write tokens (OpenAI's
 * convention, which the Anthropic translation keeps), so they are taken out of the input
 * count and billed at their own rates: a cached token costs cache_read, not input plus
 * cache_read. Rounded to 1e-9 USD, which removes float noise (0.1 + 0.2) and keeps
 * precision far below any per-call price.
 */
export function costUsd(price: Price, usage: TokenCounts): number {
  const cached = Math.max(0, usage.cachedTokens ?? 0);
  const written = Math.max(0, usage.cacheWriteTokens ?? 0);
  const uncached = Math.max(0, usage.promptTokens - cached - written);
  const micro = uncached * price.input + cached * price.cache_read + written * price.cache_write + Math.max(0, usage.completionTokens) * price.output;
  return Math.round(micro * 1e3) / 1e9;
}
