/**
 * An on-disk cache of imported backends, so a restart with unchanged specs
 * skips parsing, validation and schema work (GitHub's 5.7 MB spec: ~0.4 s of a
 * ~1 s start). Opt-in (`importCache.dir` in the config).
 *
 * The key is a SHA-256 of everything the result depends on: Gatehouse's
 * version, the import options and the spec's bytes. A changed spec, option or
 * release is a different key, so an entry is never stale; entries are plain JSON
 * (ToolDefinitions are plain data by design). Specs that pull in other files or
 * URLs (`allowExternalRefs`) and specs fetched over HTTP are not cached: their
 * bytes are not known without loading them.
 *
 * A cache that cannot be read or written never fails an import: it is skipped.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VERSION } from '../version.js';
import type { ImportedBackend } from './import-backend.js';

export interface ImportCache {
  /** The cached import for a spec file and options, if any. */
  get(specBytes: Buffer, options: unknown): Promise<ImportedBackend | undefined>;
  set(specBytes: Buffer, options: unknown, value: ImportedBackend): Promise<void>;
}

/** Bumped whenever ImportedBackend changes shape, so older cache entries are not read. */
const CACHE_FORMAT = '2';

export function importCacheKey(specBytes: Buffer, options: unknown): string {
  return createHash('sha256').update(VERSION).update('\0').update(CACHE_FORMAT).update('\0').update(JSON.stringify(options)).update('\0').update(specBytes).digest('hex');
}

/** A cache in `dir` (created with mode 0700: entries become tools, so only this user may write them). */
export function fileImportCache(dir: string): ImportCache {
  const file = (key: string) => join(dir, `${key}.json`);
  return {
    async get(specBytes, options) {
      try {
        return JSON.parse(await readFile(file(importCacheKey(specBytes, options)), 'utf8')) as ImportedBackend;
      } catch {
        return undefined;
      }
    },
    async set(specBytes, options, value) {
      const target = file(importCacheKey(specBytes, options));
      const temp = `${target}.${process.pid}.tmp`;
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await writeFile(temp, JSON.stringify(value), { mode: 0o600 });
        await rename(temp, target); // atomic: a reader never sees half an entry
      } catch {
        // A read-only or full disk only costs the next start its speed.
      }
    },
  };
}
