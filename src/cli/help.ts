/**
 * The CLI's help texts: the overview (`gatehouse --help`) and one page per
 * command (`gatehouse COMMAND --help`), each a synopsis, the options and
 * examples. Plain strings, so `--help` loads nothing else.
 */

export const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve [--config FILE | --spec SPEC [--base-url URL]] [--port N]
                              Run the gateway (MCP over Streamable HTTP at /mcp)
  stdio [--config FILE | --spec SPEC [--base-url URL]]
                              Serve the same tools over MCP stdio (logs go to stderr)
  init [FILE] [--spec SPEC] [--force]
                              Write a commented starter config (default gatehouse.yaml)
  tools SPEC [--json] [--base-url URL] [--prefix NAME]
             [--listed [--mode auto|search|all] [--budget N]]
                              Print the tools an OpenAPI document yields; with
                              --listed, what tools/list serves (search mode)
  validate [--config FILE]    Check a config and its specs; exit 2 on errors
  audit [--config FILE] [--since 1h] [--until T] [--principal ID] [--backend NAME]
        [--tool NAME] [--outcome OUTCOME] [--limit N] [--cursor C] [--json]
                              Query the audit trail (newest first); T is a
                              duration ago (30m, 1h, 7d) or an ISO-8601 time
  backends list|add|remove|reload|tools [--url URL] [--token TOKEN] [--json]
                              Manage a running gateway's backends (admin API)

Options:
  -c, --config FILE   Configuration file (default: gatehouse.yaml)
  -h, --help          Show this help; \`gatehouse COMMAND --help\` for one command
  -v, --version       Show the version

Examples:
  gatehouse serve --spec ./petstore.yaml --base-url http://127.0.0.1:9000
  gatehouse init && gatehouse validate && gatehouse serve
`;

const LOG_OPTIONS = `  --log-format F      pretty, json or auto (a terminal gets pretty lines); also
                      $GATEHOUSE_LOG_FORMAT; default: the config's log.format (auto)`;

const SPEC_OPTIONS = `  --spec SPEC         Serve one OpenAPI document (file or http(s) URL) without a
                      config file: loopback only, no auth, no audit trail
  --base-url URL      With --spec: the backend's URL (overrides the spec's servers)
  --name NAME         With --spec: the backend name, the tools' prefix (default:
                      from the spec's file name)`;

/** One page per command, printed by `gatehouse COMMAND --help`. */
export const COMMAND_HELP: Record<string, string> = {
  serve: `Usage: gatehouse serve [--config FILE] [--port N] [--host ADDR] [--log-format F]
       gatehouse serve --spec SPEC [--base-url URL] [--name NAME] [--port N]

Runs the gateway: the configured backends as MCP tools over Streamable HTTP at
/mcp, the ai-proxy at /v1 when configured, /healthz, /readyz and /metrics.
The config file is watched: a change to its backends applies live (also on SIGHUP).

Options:
  -c, --config FILE   Configuration file (default: gatehouse.yaml)
${SPEC_OPTIONS}
  --port N            Port to listen on (overrides server.port; 0 picks a free port)
  --host ADDR         Address to bind (overrides server.host)
${LOG_OPTIONS}

Examples:
  gatehouse serve
  gatehouse serve --config /etc/gatehouse/gatehouse.yaml --port 9090
  gatehouse serve --spec ./petstore.yaml --base-url http://127.0.0.1:9000
  gatehouse serve --spec https://petstore3.swagger.io/api/v3/openapi.json
`,
  stdio: `Usage: gatehouse stdio [--config FILE] [--log-format F]
       gatehouse stdio --spec SPEC [--base-url URL] [--name NAME]

Serves the same tools over MCP stdio, for clients that launch the gateway
themselves (Claude Desktop, Claude Code, the MCP Inspector). stdout carries MCP
messages only; logs go to stderr.

Options:
  -c, --config FILE   Configuration file (default: gatehouse.yaml)
${SPEC_OPTIONS}
${LOG_OPTIONS}

Examples:
  gatehouse stdio --config ./gatehouse.yaml
  claude mcp add gatehouse -- gatehouse stdio --spec ./petstore.yaml --base-url http://127.0.0.1:9000
`,
  init: `Usage: gatehouse init [FILE] [--spec SPEC] [--base-url URL] [--force]

Writes a commented starter configuration (default: ./gatehouse.yaml): the
server, logs, audit trail and one backend, with the settings most people change
next shown as comments. It refuses to overwrite a file unless --force is given.

Options:
  --spec SPEC         The first backend's OpenAPI document (file or http(s) URL);
                      without it the backend is left as a commented example
  --base-url URL      The first backend's URL (overrides the spec's servers)
  --force             Overwrite FILE if it exists

Examples:
  gatehouse init
  gatehouse init --spec ./petstore.yaml --base-url http://127.0.0.1:9000
  gatehouse init config/gatehouse.yaml --force && gatehouse validate -c config/gatehouse.yaml
`,
  tools: `Usage: gatehouse tools SPEC [--json] [--base-url URL] [--prefix NAME]
                       [--listed [--mode auto|search|all] [--budget N]]

Prints the tools an OpenAPI document (a file or an http(s) URL) yields, one a
line (name, method and path, description), or with --json as the MCP Tool
objects tools/list returns. Nothing is served.

Options:
  --json              Print a JSON array of MCP Tool objects
  --base-url URL      The backend's URL (overrides the spec's servers)
  --prefix NAME       Prefix the names as backend NAME would
  --listed            Print what tools/list serves instead of every tool
  --mode MODE         With --listed: the backend's tools mode (auto, search, all; default auto)
  --budget N          With --listed: the backend's toolBudget (default 128)

Examples:
  gatehouse tools ./petstore.yaml
  gatehouse tools https://petstore3.swagger.io/api/v3/openapi.json --json --prefix petstore
  gatehouse tools ./github.json --listed --budget 50
`,
  validate: `Usage: gatehouse validate [--config FILE]

Checks a configuration file and imports every spec it names, printing each
backend's tools and warnings. Exit 0 when everything loads, 2 on any error.

Options:
  -c, --config FILE   Configuration file (default: gatehouse.yaml)

Examples:
  gatehouse validate
  gatehouse validate --config /etc/gatehouse/gatehouse.yaml
`,
  audit: `Usage: gatehouse audit [--config FILE] [--since T] [--until T] [--principal ID]
                       [--backend NAME] [--tool NAME] [--outcome OUTCOME]
                       [--limit N] [--cursor C] [--json]

Queries the audit trail the config names (SQLite or PostgreSQL), newest first.
It works while the gateway runs.

Options:
  -c, --config FILE   Configuration file (default: gatehouse.yaml)
  --since T, --until T
                      A duration ago (30m, 1h, 7d) or an ISO-8601 time
  --principal ID      Calls by this principal
  --backend NAME      Calls to this backend
  --tool NAME         Calls of this tool
  --outcome OUTCOME   ok, error, unauthenticated, denied, limited, invalid,
                      unavailable or cancelled
  --limit N           Records per page
  --cursor C          The next page (printed after a full page)
  --json              Print {records, nextCursor} as JSON

Examples:
  gatehouse audit --since 1h
  gatehouse audit --outcome error --backend inventory --json
`,
};

/** The pages of `gatehouse backends SUB --help`. */
export const BACKENDS_HELP: Record<string, string> = {
  list: `Usage: gatehouse backends list [--url URL] [--token TOKEN] [--json]

Every backend of a running gateway: its source (config or admin), state, tools,
revision, spec and any problem.

Examples:
  gatehouse backends list
  gatehouse backends list --url http://gatehouse.internal:8080 --token "$TOKEN" --json
`,
  add: `Usage: gatehouse backends add NAME --spec URL|FILE [--base-url URL] [--set KEY=JSON]... [--replace]
       gatehouse backends add --file ENTRY.yaml [--replace]

Registers a backend with a running gateway. A spec FILE is read here and sent
inline; --set sets any backends[] field; --replace replaces a registered one
(without it, an existing name is refused).

Examples:
  gatehouse backends add petstore --spec ./petstore.yaml --base-url http://127.0.0.1:9000
  gatehouse backends add petstore --spec https://specs.internal/petstore.json --set 'include={"tags":["pets"]}' --replace
  gatehouse backends add --file petstore-entry.yaml
`,
  remove: `Usage: gatehouse backends remove NAME [--url URL] [--token TOKEN]

Removes a backend registered at runtime (those of the config file stay).

Examples:
  gatehouse backends remove petstore
`,
  reload: `Usage: gatehouse backends reload [NAME...] [--url URL] [--token TOKEN] [--json]

Imports backends again (default: every backend), e.g. after their specs changed.

Examples:
  gatehouse backends reload
  gatehouse backends reload petstore inventory
`,
  tools: `Usage: gatehouse backends tools [NAME] [--url URL] [--token TOKEN] [--json]

The tools a running gateway serves (of one backend): tool, backend, method, path.

Examples:
  gatehouse backends tools
  gatehouse backends tools petstore --json
`,
};
