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
import type { BackendConfig, CredentialConfig } from '../config/schema.js';
import { parseBackendEntry } from '../config/load-config.js';
import { BACKEND_NAME_PATTERN } from '../config/schema.js';
import { GatehouseError, isGatehouseError } from '../errors/catalogue.js';
import type { Logger } from '../log/logger.js';
import { readSpecText } from '../openapi/load-spec.js';
import type { BackendStatus, ToolRegistry } from '../registry/registry.js';
import type { ReloadOptions, ReloadResult, ServedBackend } from '../registry/backend-set.js';
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
  resyncMs: number;
  /** `admin.specUrls`: the non-public hosts a registered spec URL may name (see openapi/spec-url-policy.ts). */
  specUrls: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** A stored row resolved on this gateway: its configuration, or why it cannot be served here. */
interface Registration {
  row: StoredBackend;
  config?: BackendConfig;
  error?: { code: string; message: string };
}

/**
 * The settings of each credential kind that are not secrets, shown as given; every other
 * value is `[redacted]` unless it is a `${VAR}` reference. Typed per kind, so a new kind
 * (or field) must be placed here to be shown. An OAuth2 client id is not a secret
 * (RFC 6749 §2.2); an AWS access key id stays hidden: it names the account it belongs to
 * (`profile` is listed for completeness: a runtime aws-sigv4 backend must carry its keys).
 */
const PUBLIC_CREDENTIAL_KEYS: { readonly [K in CredentialConfig['type']]: ReadonlySet<keyof Extract<CredentialConfig, { type: K }>> } = {
  none: new Set(['type']),
  apiKey: new Set(['type', 'in', 'name', 'scheme']),
  bearer: new Set(['type']),
  basic: new Set(['type', 'username']),
  oauth2: new Set(['type', 'tokenUrl', 'clientId', 'scopes', 'audience']),
  tokenExchange: new Set(['type', 'tokenUrl', 'clientId', 'scopes', 'audience']),
  'aws-sigv4': new Set(['type', 'service', 'region', 'profile']),
};
/** An unknown kind (a row stored by another version): only its type is shown. */
const TYPE_ONLY: ReadonlySet<string> = new Set(['type']);
const ENV_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

export async function createBackendAdmin(options: BackendAdminOptions): Promise<BackendAdmin> {
  const { store, host } = options;
  // Undefined: the config module reads the process environment (it alone does).
  const env = options.env;
  const log = host.log;
  let registrations = new Map<string, Registration>();
  // Whoever reaches the admin API chooses these URLs: they are fetched only from hosts admin.specUrls allows,
  // on every replica that imports them (rows other replicas stored included).
  const asRegistered = (b: BackendConfig): BackendConfig => ({ ...b, adminSpecUrls: options.specUrls });

  /**
   * Rows stored before documents were kept hold only their spec URL: the text
   * it serves now is fetched once and stored with a new revision (so every
   * replica then imports those bytes); afterwards only an explicit re-import
   * fetches the URL again. What could not be fetched is given by name: such a
   * row cannot be served here.
   */
  const backfill = async (rows: StoredBackend[]): Promise<{ rows: StoredBackend[]; unfetched: Map<string, GatehouseError> }> => {
    const unfetched = new Map<string, GatehouseError>();
    const out = await Promise.all(
      rows.map(async (row) => {
        const url = row.entry['spec'];
        if (row.document !== undefined || typeof url !== 'string') return row;
        let text: string;
        try {
          text = await readSpecText(url, { specUrls: options.specUrls });
        } catch (err) {
          unfetched.set(row.name, isGatehouseError(err) ? err : new GatehouseError('GH_SPEC_LOAD_FAILED', String(err), { cause: err }));
          return row;
        }
        try {
          // Conditional on the revision read: if another replica stored its copy first, that one is kept.
          const stored = await store.fillDocument(row.name, text, row.revision);
          if (stored === undefined) return undefined; // removed meanwhile
          log.info({ backend: row.name, revision: stored.revision }, `registered backend ${row.name}: stored the document ${url} serves, so every replica imports the same bytes`);
          return stored;
        } catch (err) {
          log.warn({ backend: row.name, err: err instanceof Error ? err.message : String(err) }, `registered backend ${row.name}: could not store its document; serving what ${url} served, the next sync tries again`);
          return { ...row, document: text };
        }
      }),
    );
    return { rows: out.filter((r) => r !== undefined), unfetched };
  };
  const resolveRow = (row: StoredBackend, unfetched?: GatehouseError): Registration => {
    try {
      if (unfetched !== undefined) throw unfetched;
      return { row, config: asRegistered(toConfig(row.name, row.entry, row.document, env)) };
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
  const adopt = async (listed: StoredBackend[]): Promise<Set<string>> => {
    const { rows, unfetched } = await backfill(listed);
    const changed = diff(rows);
    // A row whose document could not be fetched is tried again at the next sync.
    for (const name of unfetched.keys()) changed.add(name);
    const next = new Map<string, Registration>();
    for (const row of rows) next.set(row.name, changed.has(row.name) ? resolveRow(row, unfetched.get(row.name)) : registrations.get(row.name)!);
    registrations = next;
    return changed;
  };
  /** Re-reads the store and applies the changes (inside the queue). */
  const syncNow = async (source: 'admin' | 'fleet', applyOptions: ReloadOptions = {}): Promise<ReloadResult | undefined> => {
    const rows = await store.list();
    const changed = await adopt(rows);
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
    await adopt(await store.list());
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
      spec: typeof reg.row.entry['spec'] === 'string' ? reg.row.entry['spec'] : 'inline',
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
  /** A refused change: counted and shown like a failed trial import, nothing stored. */
  const refuse = (failed: ReloadResult['failed'][number]): GatehouseError => {
    host.refused(failed);
    // A refused URL is the request's fault, not the spec's: answered as itself, naming the field.
    if (failed.code === 'GH_SPEC_URL_REFUSED') return new GatehouseError('GH_SPEC_URL_REFUSED', `spec: ${failed.message}`, { details: { field: 'spec' } });
    return importFailed(failed);
  };
  /** The text a spec URL serves now; a failure refuses the change. */
  const fetchDocument = async (name: string, url: unknown): Promise<string> => {
    try {
      return await readSpecText(String(url), { specUrls: options.specUrls });
    } catch (err) {
      const e = isGatehouseError(err) ? err : new GatehouseError('GH_SPEC_LOAD_FAILED', String(err), { cause: err });
      throw refuse({ backend: name, code: e.code, message: e.message, kept: host.served(name) !== undefined });
    }
  };
  /** The trial: a change whose spec does not import is refused before anything is stored. */
  const tryImport = async (config: BackendConfig): Promise<ServedBackend> => {
    const trial = await host.prepare(config);
    if (trial.loaded.status.state === 'failed') throw refuse({ backend: config.name, ...trial.loaded.status.error, kept: host.served(config.name) !== undefined });
    return trial;
  };

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
      // The entry is checked before its spec URL is read.
      const checked = asRegistered(toConfig(name, entry, document, env));
      // A spec URL is read once, here (only from hosts admin.specUrls allows): its bytes are
      // stored with the revision and every replica imports them.
      const text = document ?? (await fetchDocument(name, entry['spec']));
      const trial = await tryImport(document !== undefined ? checked : asRegistered(toConfig(name, entry, text, env)));
      const existed = registrations.has(name);
      let stored: StoredBackend;
      try {
        stored = await store.put({ name, entry, document: text, ...(principal !== undefined ? { updatedBy: principal } : {}) }, mode);
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
      const reg = registrations.get(name);
      if (reg === undefined) throw notFound(name);
      const url = reg.row.entry['spec'];
      let preloaded: Map<string, ServedBackend> | undefined;
      try {
        if (typeof url === 'string') {
          // The explicit re-import: the URL is fetched again, and what it serves now is a new revision.
          const text = await fetchDocument(name, url);
          const trial = await tryImport(toConfig(name, reg.row.entry, text, env));
          await store.put({ name, entry: reg.row.entry, document: text, ...(principal !== undefined ? { updatedBy: principal } : {}) }, 'replace');
          preloaded = new Map([[name, trial]]);
        } else if ((await store.touch(name, principal)) === undefined) {
          throw notFound(name);
        }
      } catch (err) {
        throw isGatehouseError(err) ? err : storeUnavailable(err);
      }
      const result = await host.serialize(() => syncNow('admin', { force: new Set([name]), ...(preloaded !== undefined ? { preloaded } : {}) }));
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

/**
 * A stored row as a backend to import: the importer reads the stored text
 * itself (no file is written: with a PostgreSQL store nothing goes under
 * dataDir), named in messages as `inline spec of backend NAME` or by its URL.
 * A row without text (stored before documents were kept) is its URL alone.
 */
function toConfig(name: string, entry: Record<string, unknown>, text: string | undefined, env: NodeJS.ProcessEnv | undefined): BackendConfig {
  const url = entry['spec'];
  const config = parseBackendEntry({ ...entry, name, spec: typeof url === 'string' ? url : 'inline' }, env);
  if (text === undefined) return config;
  const label = typeof url === 'string' ? `${url}, as stored when imported` : `inline spec of backend ${name}`;
  return { ...config, specDocument: { text, label } };
}

function redactSettings(entry: Record<string, unknown>): Record<string, unknown> {
  const creds = entry['credentials'];
  if (creds === null || typeof creds !== 'object') return entry;
  const type = (creds as { type?: unknown }).type;
  const visible: ReadonlySet<string> = typeof type === 'string' && Object.hasOwn(PUBLIC_CREDENTIAL_KEYS, type) ? PUBLIC_CREDENTIAL_KEYS[type as CredentialConfig['type']] : TYPE_ONLY;
  const shown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(creds)) {
    shown[k] = visible.has(k) || (typeof v === 'string' && ENV_REFERENCE.test(v)) ? v : '[redacted]';
  }
  return { ...entry, credentials: shown };
}
