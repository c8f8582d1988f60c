import { resolve } from 'node:path';
import type { GatehouseConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { createBackendAdmin, type AdminHost, type BackendAdmin } from './backend-admin.js';
import { createSqliteBackendStore, type BackendStore } from './backend-store.js';

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
      throw new GatehouseError('GH_CONFIG_INVALID', `${config.file}: admin.sqlite.file: cannot open ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return createBackendAdmin({ store, host, resyncMs: admin.resyncSeconds * 1000, specUrls: admin.specUrls });
}
