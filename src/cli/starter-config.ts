/**
 * The file `gatehouse init` writes: a configuration that validates as written,
 * with the settings people change next shown as comments (README.md,
 * "Configuration", has every field).
 */

export interface StarterOptions {
  /** The first backend's spec, as the config file should name it (relative to the file, or a URL). */
  spec?: string;
  baseUrl?: string;
  /** The first backend's name. */
  name?: string;
}

export function starterConfig(options: StarterOptions = {}): string {
  const quote = (v: string) => JSON.stringify(v);
  const backend =
    options.spec === undefined
      ? `# Each backend is an OpenAPI document (Swagger 2.0, OpenAPI 3.0 or 3.1); every
# operation becomes an MCP tool named <name>_<operationId>. For example:
# backends:
#   - name: petstore
#     spec: ./petstore.yaml           # a file (relative to this file) or an http(s) URL
#     baseUrl: http://127.0.0.1:9000  # overrides the spec's servers
#     include: { tags: [pets] }       # serve only some operations
#     credentials: { type: bearer, token: "\${PETSTORE_TOKEN}" }
backends: []`
      : `backends:
  # Every operation of the spec becomes an MCP tool named <name>_<operationId>.
  - name: ${options.name ?? 'api'}
    # A file (relative to this file) or an http(s) URL.
    spec: ${quote(options.spec)}
${options.baseUrl !== undefined ? `    # Overrides the spec's servers.\n    baseUrl: ${quote(options.baseUrl)}` : `    # baseUrl: http://127.0.0.1:9000   # overrides the spec's servers`}
    # include: { tags: [pets] }        # serve only some operations
    # credentials: { type: bearer, token: "\${API_TOKEN}" }   # how Gatehouse authenticates to it`;
  return `# Gatehouse configuration (written by \`gatehouse init\`).
# Check it with \`gatehouse validate\`, run it with \`gatehouse serve\`.
# \${VAR} and \${VAR:-default} are replaced from the environment when it is loaded.

server:
  # Loopback only: without auth, only this machine can call the tools.
  # To serve others, bind 0.0.0.0 and configure auth below.
  host: 127.0.0.1
  port: 8080

log:
  level: info
  # pretty (human lines), json, or auto: pretty on a terminal, JSON otherwise.
  format: auto
  # One line per tool or model call: tool, principal, outcome, status, ms.
  calls: true

# Who may call /mcp (absent: anonymous callers, loopback only).
# auth:
#   apiKeys:
#     - id: ci
#       sha256: <sha256 of the key, hex>   # printf %s "$KEY" | sha256sum
#       scopes: [tools]

# Every call is recorded here (SQLite under dataDir); \`gatehouse audit\` reads it.
dataDir: ./data
audit:
  store: sqlite

# Runtime backends (\`gatehouse backends add …\`), for callers on this machine.
# admin: {}

${backend}
`;
}
