/**
 * What the importer produces: one ToolDefinition per OpenAPI operation. Plain
 * data (JSON-serialisable), computed once at import; a call only reads it.
 */

/** A JSON Schema (draft 2020-12) as plain data. */
export type JsonSchema = { [key: string]: unknown };

/** A JSON Schema whose root is `type: "object"` (what MCP requires for inputSchema/outputSchema). */
export type ObjectSchema = JsonSchema & { type: 'object'; properties?: Record<string, JsonSchema>; required?: string[] };

/** MCP tool annotations (MCP 2025-06-18 server/tools#tool-annotations). */
export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie';

/** OpenAPI 3.x parameter styles (OAS 3.1 §4.8.12.4 "Style Values"). */
export type ParameterStyle = 'matrix' | 'label' | 'simple' | 'form' | 'spaceDelimited' | 'pipeDelimited' | 'deepObject';

/** How one tool argument becomes one HTTP parameter. */
export interface ParameterBinding {
  /** Property name in the tool's inputSchema (may differ from `name` after a clash). */
  arg: string;
  /** Parameter name on the wire. */
  name: string;
  in: ParameterLocation;
  style: ParameterStyle;
  explode: boolean;
  /** Query only: reserved characters (RFC 3986 :/?#[]@!$&'()*+,;=) are sent unencoded. */
  allowReserved: boolean;
  /**
   * Set when the parameter uses `content` instead of `schema`: the value is
   * serialised with this media type (JSON for `application/json`) and then
   * percent-encoded as one value.
   */
  contentType?: string;
}

/** Per-property encoding for form and multipart bodies (OAS 3.1 §4.8.15 Encoding Object). */
export interface BodyPropertyEncoding {
  contentType?: string;
  style?: ParameterStyle;
  explode?: boolean;
  allowReserved?: boolean;
}

/** How the tool arguments become the request body. */
export interface BodyBinding {
  /** The media type sent as Content-Type (e.g. `application/json`, `multipart/form-data`). */
  contentType: string;
  required: boolean;
  /**
   * `properties`: the body is an object whose properties are top-level tool
   * arguments (`args` maps argument name → body property name).
   * `wrapped`: one argument (`arg`) holds the whole body (non-object bodies,
   * or object bodies without declared properties).
   */
  mode: 'properties' | 'wrapped';
  /** mode `properties`: tool argument name → body property name. */
  args?: Record<string, string>;
  /** mode `wrapped`: the tool argument holding the body. */
  arg?: string;
  /** Form/multipart: per body property encoding. Keyed by body property name. */
  encoding?: Record<string, BodyPropertyEncoding>;
}

/** Everything needed to turn validated arguments into an HTTP request. */
export interface HttpBinding {
  /** Upper-case HTTP method. */
  method: string;
  /** Path template as in the spec, e.g. `/items/{id}`. */
  path: string;
  /** Absolute base URL (scheme, host, base path); the path is appended to it. */
  baseUrl: string;
  parameters: ParameterBinding[];
  body?: BodyBinding;
}

/** One MCP tool, compiled from one OpenAPI operation. */
export interface ToolDefinition {
  /** `^[a-zA-Z0-9_-]{1,64}$`, unique, stable across re-imports. */
  name: string;
  title?: string;
  description: string;
  inputSchema: ObjectSchema;
  outputSchema?: ObjectSchema;
  annotations: ToolAnnotations;
  /** Backend (config `backends[].name`) this tool belongs to. */
  backend: string;
  /** The operation's OpenAPI tags (search mode filters and ranks by them). Not sent in tools/list. */
  tags?: string[];
  /** Where the operation comes from, for errors, logs and docs. */
  source: { method: string; path: string; operationId?: string; pointer: string };
  binding: HttpBinding;
}
