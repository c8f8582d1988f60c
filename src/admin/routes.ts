/**
 * The admin API (`/admin/audit`, `/admin/backends`, `/admin/tools`), on the
 * express app that serves everything but /mcp, /v1 and the probes. Every
 * route needs the admin scope or the admin API key (checked by `authorize`,
 * admin-auth.ts); with no `admin` section the backend and tool routes answer
 * 404, while the audit trail is there whenever the audit store is.
 */
import type { Express, NextFunction, Request, Response } from 'express';
import { AUDIT_FILTERS, parseAuditFilters, queryAudit, type AuditFilterName } from '../audit/filters.js';
import type { AuditStore } from '../audit/index.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { Principal } from '../call/context.js';
import type { ToolRegistry } from '../registry/registry.js';
import type { BackendAdmin } from './backend-admin.js';

/** What the admin routes read of the gateway (the server's runtime provides it). */
export interface AdminSurface {
  /** Backends registered at runtime; undefined when `admin` is not configured. */
  admin: BackendAdmin | undefined;
  /** The registry served now. */
  registry(): ToolRegistry;
  /** The audit trail's store (undefined with `audit.store: none`). */
  auditStore(): AuditStore | undefined;
}

export interface AdminRouteOptions {
  runtime: AdminSurface;
  /** The caller, if allowed to use the admin API; rejects with the error to answer otherwise. */
  authorize: (req: Request) => Promise<Principal>;
  /** Answers an error in the admin API's shape (`{ code, message, details }`). */
  sendError: (req: Request, res: Response, err: unknown) => void;
  /** Largest request body: an inline spec can be large. */
  maxBodyBytes: number;
}

export function mountAdminRoutes(app: Express, json: (limit: number) => (req: Request, res: Response, next: NextFunction) => void, options: AdminRouteOptions): void {
  const { runtime, authorize, sendError } = options;
  const route =
    (handler: (req: Request, res: Response, principal: Principal) => Promise<void> | void) =>
    (req: Request, res: Response): void => {
      authorize(req)
        .then(async (principal) => {
          if (runtime.admin === undefined) throw new GatehouseError('GH_ADMIN_NOT_FOUND', 'the admin API is off: add an `admin` section to the configuration');
          await handler(req, res, principal);
        })
        .catch((err: unknown) => sendError(req, res, err));
    };
  const name = (req: Request): string => String(req.params['name']);
  const by = (p: Principal): string | undefined => (p.kind === 'anonymous' ? undefined : p.id);
  // Body parsing errors (bad JSON, too large) reach the error handler below.
  const body = json(options.maxBodyBytes);

  mountAuditRoute(app, options);

  app.get(
    '/admin/backends',
    route((_req, res) => {
      res.json({ backends: runtime.admin!.list() });
    }),
  );
  app.get(
    '/admin/backends/:name',
    route((req, res) => {
      res.json(runtime.admin!.get(name(req)));
    }),
  );
  app.post(
    '/admin/backends',
    body,
    route(async (req, res, principal) => {
      const { backend } = await runtime.admin!.register(req.body, 'create', by(principal));
      res.status(201).location(`/admin/backends/${backend.name}`).json(backend);
    }),
  );
  app.put(
    '/admin/backends/:name',
    body,
    route(async (req, res, principal) => {
      const { created, backend } = await runtime.admin!.register(req.body, 'replace', by(principal), name(req));
      res.status(created ? 201 : 200).json(backend);
    }),
  );
  app.delete(
    '/admin/backends/:name',
    route(async (req, res, principal) => {
      await runtime.admin!.remove(name(req), by(principal));
      res.status(204).end();
    }),
  );
  app.post(
    '/admin/backends/:name/reimport',
    route(async (req, res, principal) => {
      res.json(await runtime.admin!.reimport(name(req), by(principal)));
    }),
  );
  app.get(
    '/admin/tools',
    route((req, res) => {
      const backend = typeof req.query['backend'] === 'string' ? req.query['backend'] : undefined;
      const registry = runtime.registry();
      if (backend !== undefined && !registry.backends.some((b) => b.name === backend)) throw new GatehouseError('GH_ADMIN_NOT_FOUND', `no backend named "${backend}"`);
      const tools = registry.tools
        .filter((t) => backend === undefined || t.definition.backend === backend)
        .map((t) => ({
          name: t.tool.name,
          backend: t.definition.backend,
          method: t.definition.source.method.toUpperCase(),
          path: t.definition.source.path,
          ...(t.tool.title !== undefined ? { title: t.tool.title } : {}),
          ...(t.tool.description !== undefined ? { description: t.tool.description } : {}),
        }));
      res.json({ tools });
    }),
  );
  // express.json's errors (malformed JSON, body too large) in the same shape as the rest.
  app.use('/admin', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      sendError(req, res, new GatehouseError('GH_ADMIN_INVALID', `the request body is larger than ${options.maxBodyBytes} bytes`));
      return;
    }
    if (e.type === 'entity.parse.failed') {
      sendError(req, res, new GatehouseError('GH_ADMIN_INVALID', `the request body is not valid JSON: ${e.message ?? ''}`));
      return;
    }
    next(err);
  });
}

/** The audit trail, for holders of the admin scope (loopback callers when there is no auth); there with or without `admin`. */
function mountAuditRoute(app: Express, { runtime, authorize, sendError }: AdminRouteOptions): void {
  app.get('/admin/audit', (req, res) => {
    authorize(req)
      .then(async () => {
        const filters: Partial<Record<AuditFilterName, string>> = {};
        for (const name of AUDIT_FILTERS) {
          const v = req.query[name];
          if (typeof v === 'string') filters[name] = v;
        }
        res.json(await queryAudit(runtime.auditStore(), parseAuditFilters(filters)));
      })
      .catch((err: unknown) => sendError(req, res, err));
  });
}
