import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../../errors/catalogue.js';
import { costUsd, loadPriceTable, priceFor, type Price } from './prices.js';
import prices from './prices.json' with { type: 'json' };

describe('prices.json', () => {
  it('names a source and date for every provider and gives four non-negative numbers per model', () => {
    for (const [name, provider] of Object.entries(prices.providers)) {
      expect(provider.source, name).toMatch(/\S/);
      expect(provider.asOf, name).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      for (const [model, price] of Object.entries(provider.models as Record<string, Price>)) {
        for (const f of ['input', 'output', 'cache_read', 'cache_write'] as const) {
          expect(price[f] >= 0 && Number.isFinite(price[f]), `${model}.${f}`).toBe(true);
        }
      }
    }
  });
});

describe('priceFor', () => {
  const table = loadPriceTable();

  it('prefers the exact name, then the longest prefix', () => {
    expect(priceFor(table, 'gpt-4o')?.input).toBe(2.5);
    expect(priceFor(table, 'gpt-4o-2024-05-13')?.input).toBe(5); // exact beats "gpt-4o-*"
    expect(priceFor(table, 'gpt-4o-2024-11-20')?.input).toBe(2.5); // "gpt-4o-*"
    expect(priceFor(table, 'gpt-4o-mini-2024-07-18')?.input).toBe(0.15); // "gpt-4o-mini*" is longer than "gpt-4o-*"
    expect(priceFor(table, 'gpt-4.1-nano-2025-04-14')?.output).toBe(0.4);
    expect(priceFor(table, 'claude-opus-4-5-20251101')?.input).toBe(5);
    expect(priceFor(table, 'claude-opus-4-1-20250805')?.input).toBe(15);
    expect(priceFor(table, 'claude-sonnet-4-5-20250929')?.cache_write).toBe(3.75);
    expect(priceFor(table, 'llama3.2:3b')?.output).toBe(0);
  });

  it('is undefined for an unknown model', () => {
    expect(priceFor(table, 'some-new-model')).toBeUndefined();
    expect(priceFor(table, 'o3-pro')).toBeUndefined(); // "o3" is exact, not a prefix
  });

  it('applies overrides: partial for a known key, complete for a new one', () => {
    const t = loadPriceTable({ 'gpt-4o': { input: 1 }, 'acme-*': { input: 1, output: 2, cache_read: 0.5, cache_write: 1 }, 'acme-large': { input: 9, output: 9, cache_read: 9, cache_write: 9 } });
    expect(priceFor(t, 'gpt-4o')).toEqual({ input: 1, output: 10, cache_read: 1.25, cache_write: 2.5 });
    expect(priceFor(t, 'acme-small')?.output).toBe(2);
    expect(priceFor(t, 'acme-large')?.output).toBe(9);
  });

  it('rejects bad overrides, naming key and field', () => {
    const err = (o: Record<string, Partial<Price>>): string => {
      try {
        loadPriceTable(o);
      } catch (e) {
        expect(e).toBeInstanceOf(GatehouseError);
        return (e as GatehouseError).message;
      }
      throw new Error('expected a throw');
    };
    expect(err({ 'new-model': { input: 1 } })).toContain('ai.prices["new-model"].output is missing');
    expect(err({ 'gpt-4o': { output: -1 } })).toContain('ai.prices["gpt-4o"].output must be a number');
    expect(err({ 'a*b': { input: 1, output: 1, cache_read: 1, cache_write: 1 } })).toContain('"*" is only allowed at the end');
  });
});

describe('costUsd', () => {
  const price: Price = { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 };

  it('bills input and output per million tokens', () => {
    expect(costUsd(price, { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(18);
    expect(costUsd(price, { promptTokens: 1000, completionTokens: 500 })).toBe(0.0105);
  });

  it('bills cached tokens at cache_read instead of input, and cache writes at cache_write', () => {
    // 10,000 prompt tokens of which 8,000 cached and 1,000 written: 1,000 uncached.
    const cost = costUsd(price, { promptTokens: 10_000, completionTokens: 200, cachedTokens: 8_000, cacheWriteTokens: 1_000 });
    expect(cost).toBe((1_000 * 3 + 8_000 * 0.3 + 1_000 * 3.75 + 200 * 15) / 1e6);
    expect(cost).toBe(0.01215);
    // Cached beyond the prompt count (a provider inconsistency) never makes input negative.
    expect(costUsd(price, { promptTokens: 10, completionTokens: 0, cachedTokens: 20 })).toBe(0.000006);
  });

  it('rounds away float noise', () => {
    const p: Price = { input: 0.1, output: 0.2, cache_read: 0, cache_write: 0 };
    expect(costUsd(p, { promptTokens: 1, completionTokens: 1 })).toBe(0.0000003);
    expect(costUsd({ input: 0, output: 0, cache_read: 0, cache_write: 0 }, { promptTokens: 5, completionTokens: 5 })).toBe(0);
  });
});
