#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { boundHeap } from '../server/heap.js';
import { configSchema, type GatehouseConfig } from '../config/schema.js';
import { isGatehouseError } from '../errors/catalogue.js';
import { createLogger, silentLogger } from '../log/logger.js';
import type { BackendListing } from '../registry/registry.js';
import { VERSION } from '../version.js';

// Each command imports what it needs when it runs: start-up time is a feature
// (`serve` must not pay for stdio, `tools` not for the HTTP stack).

// Exit codes fit for scripts: 0 ok, 1 runtime error, 2 usage or config error.
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;
/** The config schema's default `backends[].toolBudget`. */
const DEFAULT_TOOL_BUDGET = configSchema.properties.backends.items.properties.toolBudget.default;

/**
 * Reads and checks a config file. The loader is imported here, not at the top: it
 * compiles the config schema when it loads, and serve and stdio bound the heap first.
 */
async function loadConfig(file: string): Promise<GatehouseConfig> {
  return (await import('../config/load-config.js')).loadConfig(file);
}

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve [--config FILE]       Run the gateway (MCP over Streamable HTTP at /mcp)
  stdio [--config FILE]       Serve the same tools over MCP stdio (logs go to stderr)
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
                              Manage a running gateway's backends (admin API);
                              \`gatehouse backends --help\` for more

Options:
  -c, --config FILE   Configuration file (default: gatehouse.yaml)
  -h, --help          Show this help
  -v, --version       Show the version
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? EXIT_USAGE : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  switch (command) {
    case 'serve':
      return serve(configPath(rest));
    case 'stdio':
      return stdio(configPath(rest));
    case 'tools':
      return tools(rest);
    case 'validate':
      return validate(configPath(rest));
    case 'audit':
      return audit(rest);
    case 'backends': {
      const { backendsCommand } = await import('./backends.js');
      return backendsCommand(rest, {
        parse: (args, options) => parse({ args, options, strict: true, allowPositionals: true }) as { values: Record<string, unknown>; positionals: string[] },
        usage: (message) => new UsageError(message),
      });
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function configPath(args: string[]): string {
  const { values } = parse({ args, options: { config: { type: 'string', short: 'c' } }, strict: true });
  return values.config ?? 'gatehouse.yaml';
}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function serve(file: string): Promise<number> {
  const heap = boundHeap();
  const config = await loadConfig(file);
  const log = createLogger({ level: config.log.level });
  const [{ startGateway }, { startConfigWatch }] = await Promise.all([import('../server/gateway.js'), import('../server/config-watch.js')]);
  const gateway = await startGateway(config, log);
  heap.serving();
  log.info({ url: `${gateway.url}/mcp`, tools: gateway.runtime.registry().tools.length }, `Gatehouse ${VERSION} serving MCP at ${gateway.url}/mcp`);
  // Backends reload live: when the file changes, and on SIGHUP (the conventional "re-read your config").
  const watch = startConfigWatch(gateway.runtime, config.file, log);
  const onHangup = () => {
    log.info('SIGHUP: reloading the configuration');
    gateway.runtime.reload().catch((err: unknown) => log.error({ err }, 'config reload failed unexpectedly'));
  };
  process.on('SIGHUP', onHangup);
  await waitForSignal();
  log.info('shutting down');
  process.off('SIGHUP', onHangup);
  watch.close();
  await gateway.close();
  log.flush();
  return 0;
}

async function stdio(file: string): Promise<number> {
  const heap = boundHeap();
  const config = await loadConfig(file);
  if (config.audit.stream === 'stdout') throw new UsageError(`${config.file}: audit.stream cannot be "stdout" in stdio mode: stdout carries MCP messages`);
  // stdout carries MCP messages only: every log line goes to stderr.
  const log = createLogger({ level: config.log.level, stream: process.stderr });
  const [{ createRuntime }, { serveStdio }] = await Promise.all([import('../server/runtime.js'), import('@modelcontextprotocol/server/stdio')]);
  const runtime = await createRuntime(config, log);
  // Over stdio the connection outlives a change: both eras are told when the tools change.
  const servers = new Set<{ sendToolListChanged(): Promise<void> }>();
  const factory = (await runtime.mcp()).createFactory({ listChanged: () => true, onServer: (server) => servers.add(server) });
  runtime.onToolsChanged(() => {
    for (const server of servers) server.sendToolListChanged().catch(() => servers.delete(server));
  });
  const handle = serveStdio(factory, { onerror: (err) => log.error({ err }, 'stdio error') });
  heap.serving();
  log.info({ tools: runtime.registry().tools.length }, `Gatehouse ${VERSION} serving MCP over stdio`);
  await Promise.race([waitForSignal(), new Promise<void>((resolve) => process.stdin.once('close', resolve))]);
  await handle.close();
  await runtime.close();
  return 0;
}

async function tools(args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    options: {
      json: { type: 'boolean' },
      'base-url': { type: 'string' },
      prefix: { type: 'string' },
      listed: { type: 'boolean' },
      mode: { type: 'string' },
      budget: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const spec = positionals[0];
  if (spec === undefined || positionals.length > 1) throw new UsageError('tools needs exactly one SPEC (a file path or an http(s) URL)');
  const listing = listingOptions(values);
  const prefix = values.prefix;
  const baseUrl = values['base-url'];
  const name = prefix ?? 'spec';
  const [{ importBackend }, { ToolRegistry }] = await Promise.all([import('../openapi/import-backend.js'), import('../registry/registry.js')]);
  const imported = await importBackend({
    name,
    spec,
    baseDir: process.cwd(),
    prefix: prefix !== undefined,
    requireBaseUrl: false,
    ...(baseUrl !== undefined ? { baseUrl } : {}),
  });
  // Without --listed: every tool, whatever a backend's mode. With it: what tools/list returns.
  const registry = ToolRegistry.build(
    imported.tools,
    [],
    listing === undefined ? new Map() : new Map([[name, { ...listing, title: imported.title, prefixed: prefix !== undefined }]]),
  );
  const list = listing === undefined ? registry.tools.map((t) => t.tool) : registry.listed;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  } else {
    for (const tool of list) {
      const served = registry.get(tool.name);
      const firstLine = tool.description?.split('\n')[0] ?? '';
      const what = served?.kind === 'operation' ? `${served.definition.source.method.toUpperCase()} ${served.definition.source.path}` : 'search mode';
      process.stdout.write(`${tool.name}  ${what}${firstLine ? `  ${firstLine.slice(0, 100)}` : ''}\n`);
    }
    const searching = list.length < registry.tools.length;
    process.stdout.write(searching ? `${list.length} tools listed (search mode over ${registry.tools.length} tools)\n` : `${list.length} tools\n`);
  }
  for (const w of imported.warnings) process.stderr.write(`warning: ${w}\n`);
  return 0;
}

/** `--listed [--mode all|search|auto] [--budget N]`: the listing to show, or undefined for every tool. */
function listingOptions(values: { listed?: boolean; mode?: string; budget?: string }): BackendListing | undefined {
  if (!values.listed) {
    if (values.mode !== undefined || values.budget !== undefined) throw new UsageError('--mode and --budget apply to --listed');
    return undefined;
  }
  const mode = values.mode ?? 'auto';
  if (mode !== 'all' && mode !== 'search' && mode !== 'auto') throw new UsageError(`--mode must be all, search or auto (got "${mode}")`);
  const toolBudget = values.budget === undefined ? DEFAULT_TOOL_BUDGET : Number(values.budget);
  if (!Number.isInteger(toolBudget) || toolBudget < 1) throw new UsageError(`--budget must be a positive integer (got "${values.budget}")`);
  return { mode, toolBudget };
}

async function validate(file: string): Promise<number> {
  const config: GatehouseConfig = await loadConfig(file);
  const { loadBackends } = await import('../registry/load-backends.js');
  const registry = await loadBackends(config.backends, config.baseDir, silentLogger());
  let failed = 0;
  for (const b of registry.backends) {
    if (b.state === 'ready') {
      process.stdout.write(`ok    ${b.name}: ${b.tools} tools${b.warnings.length ? `, ${b.warnings.length} warnings` : ''}\n`);
      for (const w of b.warnings) process.stdout.write(`      warning: ${w}\n`);
    } else {
      failed++;
      process.stdout.write(`error ${b.name}: ${b.error.code}: ${b.error.message}\n`);
    }
  }
  process.stdout.write(failed ? `${file}: ${failed} backend(s) failed\n` : `${file}: valid (${registry.tools.length} tools)\n`);
  return failed ? EXIT_USAGE : 0;
}

async function audit(args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      principal: { type: 'string' },
      backend: { type: 'string' },
      tool: { type: 'string' },
      outcome: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    },
    strict: true,
  });
  const config = await loadConfig(values.config ?? 'gatehouse.yaml');
  const [{ resolve }, { parseAuditFilters, queryAudit, createSqliteStore }] = await Promise.all([import('node:path'), import('../audit/index.js')]);
  let query;
  try {
    query = parseAuditFilters(values);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const a = config.audit;
  if (a.store === 'none') throw new UsageError(`${config.file}: audit.store is "none": there is no audit trail to query`);
  const file = resolve(config.baseDir, config.dataDir, a.sqlite.file);
  if (a.store === 'sqlite' && !existsSync(file)) {
    process.stderr.write(`gatehouse: no audit trail yet at ${file} (the gateway creates it on start)\n`);
    return EXIT_RUNTIME;
  }
  const store = a.store === 'postgres' ? (await import('../audit/postgres-store.js')).createPostgresStore({ url: a.postgres!.url, table: a.postgres!.table }) : createSqliteStore({ file });
  try {
    const page = await queryAudit(store, query);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(page)}\n`);
      return 0;
    }
    const rows = page.records.map((r) => [
      new Date(r.time).toISOString(),
      r.outcome,
      r.principalId ?? '-',
      r.tool ?? '-',
      r.status === undefined ? '-' : String(r.status),
      `${r.latencyMs} ms`,
      r.errorCode ?? '',
      r.requestId,
    ]);
    const { printTable } = await import('./table.js');
    printTable(['TIME', 'OUTCOME', 'PRINCIPAL', 'TOOL', 'STATUS', 'LATENCY', 'CODE', 'REQUEST ID'], rows);
    if (page.nextCursor !== undefined) process.stdout.write(`more: --cursor ${page.nextCursor}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`gatehouse: ${err.message}\n\n${USAGE}`);
      process.exitCode = EXIT_USAGE;
    } else if (err instanceof Error && err.name === 'CliError') {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      process.exitCode = EXIT_RUNTIME;
    } else if (isGatehouseError(err)) {
      process.stderr.write(`gatehouse: ${err.code}: ${err.message}\n`);
      process.exitCode = err.code.startsWith('GH_CONFIG') || err.code.startsWith('GH_SPEC') ? EXIT_USAGE : EXIT_RUNTIME;
    } else {
      process.stderr.write(`gatehouse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = EXIT_RUNTIME;
    }
  },
);
