import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importBackend } from './import-backend.js';
import { fileImportCache } from './import-cache.js';

const SPEC = fileURLToPath(new URL('../../specs/edge/swagger2-petstore.json', import.meta.url));

describe('import cache', () => {
  it('serves an unchanged spec from the cache, and re-imports when the spec changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cache-'));
    const spec = join(dir, 'petstore.json');
    copyFileSync(SPEC, spec);
    const cache = fileImportCache(join(dir, 'cache'));
    const options = { name: 'pets', spec, baseUrl: 'http://127.0.0.1:9', cache };

    const first = await importBackend(options);
    const entries = readdirSync(join(dir, 'cache'));
    expect(entries).toHaveLength(1);

    // Mark the cached entry: a cache hit returns the mark.
    const entry = join(dir, 'cache', entries[0]!);
    const cached = JSON.parse(readFileSync(entry, 'utf8'));
    cached.tools[0].description = 'from the cache';
    writeFileSync(entry, JSON.stringify(cached));
    const second = await importBackend(options);
    expect(second.tools[0]!.description).toBe('from the cache');
    expect(second.tools.map((t) => t.name)).toEqual(first.tools.map((t) => t.name));

    // Other options or other bytes are other keys.
    expect((await importBackend({ ...options, baseUrl: 'http://127.0.0.1:8' })).tools[0]!.description).not.toBe('from the cache');
    writeFileSync(spec, readFileSync(SPEC, 'utf8').replace('"Swagger Petstore"', '"Petstore v2"'));
    const changed = await importBackend(options);
    expect(changed.title).toBe('Petstore v2');
    expect(changed.tools[0]!.description).not.toBe('from the cache');
  });

  it('never fails an import when the cache cannot be written', async () => {
    // A directory below a regular file cannot be created, whoever runs the test.
    const file = join(mkdtempSync(join(tmpdir(), 'gatehouse-cache-bad-')), 'not-a-dir');
    writeFileSync(file, '');
    const cache = fileImportCache(join(file, 'cache'));
    const result = await importBackend({ name: 'pets', spec: SPEC, baseUrl: 'http://127.0.0.1:9', cache });
    expect(result.tools.length).toBeGreaterThan(0);
  });
});
