/**
 * The gateway as an OAuth protected resource: its canonical URL (RFC 8707,
 * the JWT audience by default) and its RFC 9728 metadata, which a 401's
 * `WWW-Authenticate` points clients to (MCP 2025-11-25 basic/authorization).
 */
import type { GatehouseConfig } from '../config/schema.js';

/** RFC 9728 §3: the metadata is served at the path-suffixed and at the root well-known URL. */
export const RESOURCE_METADATA_PATHS = ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource'];

/** The canonical URL of the MCP endpoint (RFC 8707 resource; RFC 9728 `resource`). */
export function resourceUrl(config: GatehouseConfig, requestHost?: string): string {
  if (config.server.publicUrl !== undefined) return `${config.server.publicUrl.replace(/\/+$/, '')}/mcp`;
  return `http://${requestHost ?? `${config.server.host}:${config.server.port}`}/mcp`;
}

/** Where a challenge's `resource_metadata` points (RFC 9728 §5.1). */
export function resourceMetadataUrl(config: GatehouseConfig, requestHost: string | undefined): string {
  return `${resourceUrl(config, requestHost).replace(/\/mcp$/, '')}${RESOURCE_METADATA_PATHS[0]}`;
}

/** The RFC 9728 metadata document, for a request that reached the gateway as `requestHost`. */
export function resourceMetadata(config: GatehouseConfig, requestHost: string | undefined): Record<string, unknown> {
  return {
    resource: resourceUrl(config, requestHost),
    ...(config.auth?.jwt ? { authorization_servers: [config.auth.jwt.issuer] } : {}),
    ...(config.auth?.scopesSupported ? { scopes_supported: config.auth.scopesSupported } : {}),
    bearer_methods_supported: ['header'],
    resource_name: 'Gatehouse',
  };
}
