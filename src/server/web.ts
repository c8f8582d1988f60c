/**
 * The express app: everything but /mcp, /v1 and the probes, that is the RFC
 * 9728 metadata and the admin API. Loaded on the first such request, not at
 * start: about 70 modules that the first tools/list does not need.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { mountAdminRoutes } from '../admin/routes.js';
import type { GatehouseConfig } from '../config/schema.js';
import { plainErrorAnswer } from '../errors/http.js';
import type { Principal } from '../call/context.js';
import { RESOURCE_METADATA_PATHS, resourceMetadata } from './resource-metadata.js';
import type { Runtime } from './runtime.js';

/** Largest admin request body, at least: an inline spec. */
const ADMIN_MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface WebAppOptions {
  config: GatehouseConfig;
  runtime: Runtime;
  /** The caller of an /admin endpoint (admin/admin-auth.ts). */
  authorize: (req: IncomingMessage) => Promise<Principal>;
  /** Answers an /admin endpoint's error. */
  sendAdminError: (req: IncomingMessage, res: ServerResponse, err: unknown) => void;
}

export async function loadWebApp({ config, runtime, authorize, sendAdminError }: WebAppOptions): Promise<Express> {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (runtime.authenticate !== undefined) {
    app.get(RESOURCE_METADATA_PATHS, (req, res) => {
      res.json(resourceMetadata(config, req.headers.host));
    });
  }
  mountAdminRoutes(app, (limit) => express.json({ limit }), {
    runtime: { admin: runtime.admin, registry: runtime.registry, auditStore: () => runtime.audit.store },
    authorize,
    sendError: sendAdminError,
    // An inline spec can be much larger than an MCP request (the GitHub API's is over 10 MB).
    maxBodyBytes: Math.max(config.server.maxRequestBytes, ADMIN_MAX_BODY_BYTES),
  });
  // Anything else: a JSON 404 (clients probing for OAuth endpoints read it too), not express's HTML page.
  app.use((req, res) => {
    const answer = plainErrorAnswer(404, 'not_found', `no such endpoint: ${req.method} ${req.path}`);
    res.status(answer.status).set(answer.headers).send(answer.body);
  });
  return app;
}
