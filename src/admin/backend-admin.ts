/**
 * Backends registered at runtime: the admin API's operations (list, add,
 * replace, remove, re-import) and keeping this gateway in step with the store
 * other replicas write to.
 *
 * Precedence: the config file wins. A name the file defines cannot be
 * created, replaced or removed here (GH_ADMIN_CONFLICT); a runtime backend
 * whose name the file takes later is kept in the store but not served
 * (`shadowed`) until one of the two goes.
 *
 * Every change is imported first and refused if the import fails (nothing is
 * stored, the previous version keeps serving), then stored, then applied
 * through the runtime's one change queue, so the registry swap is atomic and
 * in order with config-file reloads. Other replicas learn of the change from
 * the store (PostgreSQL NOTIFY, and the periodic resync) and import it
 * themselves.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendConfig } from '../config/schema.js';
import { parseBackendEntry } from '../config/load-config.js';
import { BACKEND_NAME_PATTERN } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import type { BackendStatus, ToolRegistry } from '../registry/registry.js';
import type { ReloadOptions, ReloadResult, ServedBackend } from '../server/backend-set.js';
import { conflict, storeUnavailable, type BackendStore, type StoredBackend } from './backend-store.js';

/** What the admin module needs from the runtime. */
export interface AdminHost {
  log: Logger;
  /** Names the config file defines now (they win). */
  fileBackends(): ReadonlySet<string>;
  registry(): ToolRegistry;
  /** The backend as served now. */
  served(name: string): ServedBackend | undefined;
  /** Imports a backend without serving it (the trial before a change is stored). */
  prepare(b: BackendConfig): Promise<ServedBackend>;
  /** Runs `work` in the runtime's change queue: one registry change at a time, in order. */
  serialize<T>(work: () => Promise<T>): Promise<T>;
  /** Swaps in the backends now configured (the file's and `backends()`); only inside `serialize`. */
  apply(source: 'admin' | 'fleet', options?: ReloadOptions): Promise<ReloadResult>;
  /** A change whose trial import failed, so nothing was stored or applied (for /readyz and the metric). */
  refused(failed: ReloadResult['failed'][number]): void;
}

/** One backend as the admin API shows it. */
export interface BackendView {
  name: string;
  source: 'config' | 'admin';
  state: 'ready' | 'failed' | 'shadowed';
  tools: number;
  listing?: 'all' | 'search';
  warnings?: string[];
  error?: { code: string; message: string };
  reloadError?: { code: string; message: string };
  /** Runtime backends: the spec URL, or "inline". */
  spec?: string;
  revision?: number;
  updatedAt?: string;
  updatedBy?: string;
  /** Runtime backends: the settings as stored, credential secrets redacted. */
  settings?: Record<string, unknown>;
}

export interface BackendAdmin {
  /** Runtime backends to serve after the file's (names the file defines are left out). */
  backends(): BackendConfig[];
  /** Re-reads the store and applies what changed elsewhere; a no-op when nothing did. */
  sync(): Promise<void>;
  list(): BackendView[];
  get(name: string): BackendView;
  /** Adds (`create`) or adds-or-replaces (`replace`) a runtime backend from an admin request body. */
  register(body: unknown, mode: 'create' | 'replace', principal: string | undefined, pathName?: string): Promise<{ created: boolean; backend: BackendView }>;
  remove(name: string, principal: string | undefined): Promise<void>;
  /** Imports a backend again (a runtime backend on every replica; a config-file backend on this gateway). */
  reimport(name: string, principal: string | undefined): Promise<BackendView>;
  /** Why the store cannot be used now (it could not be opened), or undefined (/readyz shows it). */
  storeProblem(): string | undefined;
  close(): Promise<void>;
}

export interface BackendAdminOptions {
  store: BackendStore;
  host: AdminHost;
  /** Where inline specs are written for the importer (`<dataDir>/backends`). */
  specDir: string;
  resyncMs: number;
  env?: NodeJS.ProcessEnv;
}

/** A stored row resolved on this gateway: its configuration, or why it cannot be served here. */
interface Registration {
  row: StoredBackend;
  config?: BackendConfig;
  error?: { code: string; message: string };
}

/** Settings keys of a credential that are not secrets. */
const PUBLIC_CREDENTIAL_KEYS = new Set(['type', 'in', 'name', 'scheme', 'tokenUrl', 'scope', 'scopes', 'audience', 'resource', 'header', 'prefix', 'username']);
const ENV_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

export async function createBackendAdmin(options: BackendAdminOptions): Promise<BackendAdmin> {
  const { store, host, specDir } = options;
  // Undefined: the config module reads the process environment (it alone does).
  const env = options.env;
  const log = host.log;
  let registrations = new Map<string, Registration>();

  const resolveRow = (row: StoredBackend): Registration => {
    try {
      const spec = row.document !== undefined ? materialise(specDir, row.name, row.document) : row.entry['spec'];
      return { row, config: parseBackendEntry({ ...row.entry, name: row.name, spec }, env) };
    } catch (err) {
      const e = isGatehouseError(err) ? err : new GatehouseError('GH_ADMIN_INVALID', String(err), { cause: err });
      log.error({ backend: row.name, code: e.code }, `registered backend ${row.name} cannot be served on this gateway: ${e.message}`);
      return { row, error: { code: e.code, message: e.message } };
    }
  };
  /** Names whose stored row differs from what this gateway holds (added, changed, removed). */
  const diff = (rows: StoredBackend[]): Set<string> => {
    const changed = new Set<string>();
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.name);
      const had = registrations.get(row.name)?.row;
      if (had === undefined || had.revision !== row.revision || had.updatedAt !== row.updatedAt) changed.add(row.name);
    }
    for (const name of registrations.keys()) if (!seen.has(name)) changed.add(name);
    return changed;
  };
  /** Takes the store's rows as this gateway's registrations; returns the names that changed. */
  const adopt = (rows: StoredBackend[]): Set<string> => {
    const changed = diff(rows);
    const next = new Map<string, Registration>();
    for (const row of rows) next.set(row.name, changed.has(row.name) ? resolveRow(row) : registrations.get(row.name)!);
    registrations = next;
    if (changed.size > 0) pruneSpecs(specDir, new Set([...next.values()].map((r) => r.config?.spec).filter((f) => f !== undefined)));
    return changed;
  };
  /** Re-reads the store and applies the changes (inside the queue). */
  const syncNow = async (source: 'admin' | 'fleet', applyOptions: ReloadOptions = {}): Promise<ReloadResult | undefined> => {
    const rows = await store.list();
    const changed = adopt(rows);
    const force = new Set([...(applyOptions.force ?? []), ...changed]);
    if (changed.size === 0 && (applyOptions.force?.size ?? 0) === 0) return undefined;
    const result = await host.apply(source, { ...applyOptions, force });
    if (source === 'fleet') {
      log.info({ changed: [...changed] }, `registered backends changed elsewhere: ${[...changed].join(', ')}`);
    }
    return result;
  };

  // Start: what the store holds now. An unreachable store is not fatal: the resync tries again.
  try {
    adopt(await store.list());
  } catch (err) {
    log.error({ err: (err as Error).message }, 'backend store unreachable at start: serving the config file backends; retrying');
  }
  const sync = (): Promise<void> =>
    host
      .serialize(() => syncNow('fleet'))
      .then(
        () => undefined,
        (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'backend store: resync failed; serving the backends as they were'),
      );
  // Notifications come in bursts (one per change): one sync at a time, and one more if asked meanwhile.
  let pending: Promise<void> | undefined;
  let again = false;
  let closed = false;
  const requestSync = (): void => {
    if (closed) return; // a notification racing the shutdown
    if (pending !== undefined) {
      again = true;
      return;
    }
    pending = sync().finally(() => {
      pending = undefined;
      if (again) {
        again = false;
        requestSync();
      }
    });
  };
  store.watch(requestSync);
  const timer = setInterval(requestSync, options.resyncMs);
  timer.unref();

  /**
   * A store that could not be opened (`problem`) is tried once more before a change
   * does anything (an inline spec is written to dataDir first): a 503 naming the
   * store, not a failure of whatever came first.
   */
  const storeUsable = async (): Promise<void> => {
    if (store.problem?.() !== undefined) await store.list();
  };
  const view = (name: string): BackendView | undefined => {
    const fileOwned = host.fileBackends().has(name);
    const reg = registrations.get(name);
    const status = host.registry().backends.find((b) => b.name === name);
    if (fileOwned) return status === undefined ? undefined : { name, source: 'config', ...statusView(status) };
    return reg === undefined ? undefined : registeredView(reg, status);
  };
  /** A registered backend as shown: its status when served, `shadowed` when the file took its name. */
  const registeredView = (reg: Registration, status: BackendStatus | undefined): BackendView => {
    const name = reg.row.name;
    const stored = {
      spec: reg.row.document !== undefined ? 'inline' : String(reg.row.entry['spec']),
      revision: reg.row.revision,
      updatedAt: reg.row.updatedAt,
      ...(reg.row.updatedBy !== undefined ? { updatedBy: reg.row.updatedBy } : {}),
      settings: redactSettings(reg.row.entry),
    };
    if (isShadowed(host.fileBackends(), name)) return { name, source: 'admin', state: 'shadowed', tools: 0, ...stored };
    if (reg.error !== undefined) return { name, source: 'admin', state: 'failed', tools: 0, error: reg.error, ...stored };
    if (status === undefined) return { name, source: 'admin', state: 'failed', tools: 0, error: { code: 'GH_ADMIN_NOT_FOUND', message: 'not served yet' }, ...stored };
    return { name, source: 'admin', ...statusView(status), ...stored };
  };
  const notFound = (name: string) => new GatehouseError('GH_ADMIN_NOT_FOUND', `no backend named "${name}"`);
  const fileOwned = (name: string) =>
    new GatehouseError('GH_ADMIN_CONFLICT', `backend "${name}" is defined in the config file: change it there (the file wins over the admin API)`);
  /** The answer to a change whose import failed (the import itself logged why; the metric and /readyz have it). */
  const importFailed = ({ backend, code, message, kept }: ReloadResult['failed'][number]): GatehouseError =>
    new GatehouseError('GH_ADMIN_IMPORT_FAILED', `backend "${backend}" could not be imported (${code}): ${message}`, {
      details: { cause: { code, message }, kept },
    });

  return {
    backends() {
      const file = host.fileBackends();
      return [...registrations.values()].filter((r) => r.config !== undefined && !isShadowed(file, r.row.name)).map((r) => r.config!);
    },
    sync,
    list() {
      const served = host.registry().backends.map((b) => view(b.name)).filter((v) => v !== undefined);
      // Registered but not served: failed here, or shadowed by a file backend of the same name.
      const listed = new Set(served.map((v) => `${v.source}:${v.name}`));
      const unserved = [...registrations.values()].filter((r) => !listed.has(`admin:${r.row.name}`)).map((r) => registeredView(r, undefined));
      return [...served, ...unserved];
    },
    get(name) {
      const v = view(name);
      if (v === undefined) throw notFound(name);
      return v;
    },
    async register(body, mode, principal, pathName) {
      const { name, entry, document } = parseBody(body, pathName);
      await storeUsable();
      if (isShadowed(host.fileBackends(), name)) throw fileOwned(name);
      const twin = [...registrations.keys()].find((n) => n !== name && n.toLowerCase() === name.toLowerCase());
      if (twin !== undefined) throw new GatehouseError('GH_ADMIN_CONFLICT', `backend "${twin}" is registered already: names must differ in more than case`);
      if (mode === 'create' && registrations.has(name)) throw conflict(name);
      const config = parseBackendEntry({ ...entry, name, spec: document !== undefined ? materialise(specDir, name, document) : entry['spec'] }, env);
      // The trial: a change whose spec does not import is refused before anything is stored.
      const trial = await host.prepare(config);
      if (trial.loaded.status.state === 'failed') {
        const failed = { backend: name, ...trial.loaded.status.error, kept: host.served(name) !== undefined };
        host.refused(failed);
        throw importFailed(failed);
      }
      const existed = registrations.has(name);
      let stored: StoredBackend;
      try {
        stored = await store.put({ name, entry, ...(document !== undefined ? { document } : {}), ...(principal !== undefined ? { updatedBy: principal } : {}) }, mode);
      } catch (err) {
        throw storeUnavailable(err);
      }
      await host.serialize(() => syncNow('admin', { force: new Set([name]), preloaded: new Map([[name, trial]]) }));
      log.info({ backend: name, revision: stored.revision, by: principal }, `admin: backend ${name} ${existed ? 'replaced' : 'added'}`);
      return { created: !existed, backend: view(name)! };
    },
    async remove(name, principal) {
      if (host.fileBackends().has(name)) throw fileOwned(name);
      let removed: boolean;
      try {
        removed = await store.remove(name);
      } catch (err) {
        throw storeUnavailable(err);
      }
      if (!removed) throw notFound(name);
      await host.serialize(() => syncNow('admin'));
      log.info({ backend: name, by: principal }, `admin: backend ${name} removed`);
    },
    async reimport(name, principal) {
      if (host.fileBackends().has(name)) {
        const result = await host.serialize(() => host.apply('admin', { force: new Set([name]) }));
        const failed = result.failed.find((f) => f.backend === name);
        if (failed !== undefined) throw importFailed(failed);
        return view(name)!;
      }
      if (!registrations.has(name)) throw notFound(name);
      let touched: StoredBackend | undefined;
      try {
        touched = await store.touch(name, principal);
      } catch (err) {
        throw storeUnavailable(err);
      }
      if (touched === undefined) throw notFound(name);
      const result = await host.serialize(() => syncNow('admin', { force: new Set([name]) }));
      const failed = result?.failed.find((f) => f.backend === name);
      if (failed !== undefined) throw importFailed(failed);
      log.info({ backend: name, by: principal }, `admin: backend ${name} re-imported`);
      return view(name)!;
    },
    storeProblem: () => store.problem?.(),
    async close() {
      closed = true;
      clearInterval(timer);
      await pending;
      await store.close();
    },
  };
}

function isShadowed(file: ReadonlySet<string>, name: string): boolean {
  const lower = name.toLowerCase();
  for (const f of file) if (f.toLowerCase() === lower) return true;
  return false;
}

function statusView(s: BackendStatus): Pick<BackendView, 'state' | 'tools' | 'listing' | 'warnings' | 'error' | 'reloadError'> {
  if (s.state === 'failed') return { state: 'failed', tools: 0, error: s.error };
  return {
    state: 'ready',
    tools: s.tools,
    ...(s.listing !== undefined ? { listing: s.listing } : {}),
    warnings: s.warnings,
    ...(s.reloadError !== undefined ? { reloadError: s.reloadError } : {}),
  };
}

/**
 * An admin request body: a `backends[]` entry whose `spec` is an http(s) URL
 * or the OpenAPI document itself. Local file paths are refused: they would
 * read the gateway's own files, and mean something else on each replica.
 */
function parseBody(body: unknown, pathName: string | undefined): { name: string; entry: Record<string, unknown>; document?: string } {
  const invalid = (problem: string) => new GatehouseError('GH_ADMIN_INVALID', `invalid backend:\n  - ${problem}`);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('(root): must be a JSON object (a backends[] entry)');
  const { spec, ...rest } = body as Record<string, unknown>;
  const bodyName = rest['name'];
  if (pathName !== undefined && bodyName !== undefined && bodyName !== pathName) throw invalid(`name: "${String(bodyName)}" differs from the name in the URL ("${pathName}")`);
  const name = pathName ?? bodyName;
  if (typeof name !== 'string') throw invalid('name: is required');
  if (!new RegExp(BACKEND_NAME_PATTERN).test(name)) throw invalid(`name: must match ${BACKEND_NAME_PATTERN}`);
  delete rest['name'];
  if (typeof spec === 'string') {
    if (!/^https?:\/\//i.test(spec)) throw invalid('spec: must be an http(s) URL or the OpenAPI document itself (files are not read through the admin API)');
    return { name, entry: { ...rest, spec } };
  }
  if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
    if (rest['allowExternalRefs'] === true) throw invalid('allowExternalRefs: an inline spec cannot read other files; give a spec URL instead');
    return { name, entry: rest, document: JSON.stringify(spec) };
  }
  throw invalid('spec: is required: an http(s) URL or the OpenAPI document (a JSON object)');
}

/** Writes an inline spec where the importer reads it: content-addressed, so an unchanged spec keeps its fingerprint. */
function materialise(dir: string, name: string, document: string): string {
  const file = join(dir, `${name}.${createHash('sha256').update(document).digest('hex').slice(0, 16)}.json`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, document);
  }
  return file;
}

/** Deletes the inline spec files no registered backend uses any more (replaced or removed). */
function pruneSpecs(dir: string, keep: ReadonlySet<string>): void {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return; // no inline spec written yet
  }
  for (const f of files) {
    const path = join(dir, f);
    if (f.endsWith('.json') && !keep.has(path)) rmSync(path, { force: true });
  }
}

function redactSettings(entry: Record<string, unknown>): Record<string, unknown> {
  const creds = entry['credentials'];
  if (creds === null || typeof creds !== 'object') return entry;
  const shown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(creds)) {
    shown[k] = PUBLIC_CREDENTIAL_KEYS.has(k) || (typeof v === 'string' && ENV_REFERENCE.test(v)) ? v : '[redacted]';
  }
  return { ...entry, credentials: shown };
}
