import { resolve } from 'node:path';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { createBackendAdmin, type AdminHost, type BackendAdmin } from './backend-admin.js';
import { createSqliteBackendStore, storeUnavailable, type BackendStore } from './backend-store.js';

/** The admin module with the store `admin` configures (loaded only when it is). */
export async function openBackendAdmin(config: GatehouseConfig, log: Logger, host: AdminHost): Promise<BackendAdmin> {
  const admin = config.admin!;
  let store: BackendStore;
  if (admin.store === 'postgres') {
    const { createPostgresBackendStore } = await import('./postgres-backend-store.js');
    store = createPostgresBackendStore({ url: admin.postgres!.url, table: admin.postgres!.table, log });
  } else {
    const file = resolve(config.baseDir, config.dataDir, admin.sqlite.file);
    try {
      store = createSqliteBackendStore(file);
    } catch (err) {
      // Not fatal: the file's backends are served all the same; only admin changes need the store.
      log.error(
        { err, file },
        `admin.sqlite.file: cannot open ${file}: ${messageOf(err)}. Serving the config file's backends; admin changes are refused (GH_ADMIN_STORE_UNAVAILABLE) until it opens`,
      );
      store = reopeningStore(() => createSqliteBackendStore(file), file, err);
    }
  }
  return createBackendAdmin({ store, host, resyncMs: admin.resyncSeconds * 1000, specUrls: admin.specUrls });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message.replace(/\s+/g, ' ').trim() : String(err);
}

/**
 * A store that could not be opened: every call tries to open it again (the
 * admin API's periodic resync makes that happen on its own), and fails with
 * GH_ADMIN_STORE_UNAVAILABLE until it does; from then on it is the store.
 */
function reopeningStore(open: () => BackendStore, file: string, first: unknown): BackendStore {
  const describe = (err: unknown) => `cannot open ${file}: ${messageOf(err)}`;
  let store: BackendStore | undefined;
  let problem = describe(first);
  let onChange: (() => void) | undefined;
  const get = (): BackendStore => {
    if (store !== undefined) return store;
    try {
      store = open();
    } catch (err) {
      problem = describe(err);
      throw storeUnavailable(new Error(problem, { cause: err }));
    }
    if (onChange !== undefined) store.watch(onChange);
    return store;
  };
  const call = <T>(f: (s: BackendStore) => Promise<T>): Promise<T> => {
    try {
      return f(get());
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return {
    kind: 'sqlite',
    list: () => call((s) => s.list()),
    put: (input, mode) => call((s) => s.put(input, mode)),
    remove: (name) => call((s) => s.remove(name)),
    touch: (name, by) => call((s) => s.touch(name, by)),
    fillDocument: (name, document, revision) => call((s) => s.fillDocument(name, document, revision)),
    watch(listener) {
      onChange = listener;
    },
    close: async () => store?.close(),
    problem: () => (store === undefined ? problem : undefined),
  };
}
