#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { boundHeap } from './heap.js';
import { configSchema, type GatehouseConfig } from '../config/schema.js';
import { isGatehouseError } from '../errors/catalogue.js';
import { createLogger, LOG_FORMATS, silentLogger, type LogFormat } from '../log/logger.js';
import type { BackendListing } from '../registry/registry.js';
import { VERSION } from '../version.js';
import { COMMAND_HELP, USAGE } from './help.js';

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

/** A mistake on the command line: the message, then the command's help. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A failure worth one line and exit code 1 (the top-level handler knows it by name). */
class CliFailure extends Error {
  override name = 'CliError';
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    process.stdout.write(USAGE);
    return command === undefined ? EXIT_USAGE : 0;
  }
  if (command === 'help') {
    // `gatehouse help serve` = `gatehouse serve --help`.
    if (rest[0] === undefined) process.stdout.write(USAGE);
    else if (rest[0] === 'backends') return main(['backends', ...rest.slice(1), '--help']);
    else process.stdout.write(COMMAND_HELP[rest[0]] ?? USAGE);
    return 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const page = COMMAND_HELP[command];
  if (page !== undefined && (rest.includes('-h') || rest.includes('--help'))) {
    process.stdout.write(page);
    return 0;
  }
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'stdio':
      return stdio(rest);
    case 'init':
      return init(rest);
    case 'tools':
      return tools(rest);
    case 'validate':
      return validate(configPath(rest, command));
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

function configPath(args: string[], command: string): string {
  const { values } = parse({ args, options: { config: { type: 'string', short: 'c' } }, strict: true }, command);
  return values.config ?? 'gatehouse.yaml';
}

function parse<T extends ParseArgsConfig>(config: T, command?: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message, command);
  }
}

/** The options `serve` and `stdio` share: where the configuration comes from, and the logs. */
const SOURCE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  spec: { type: 'string' },
  'base-url': { type: 'string' },
  name: { type: 'string' },
  'log-format': { type: 'string' },
} as const;

interface SourceValues {
  config?: string;
  spec?: string;
  'base-url'?: string;
  name?: string;
  port?: string;
  host?: string;
}

/** The configuration: the file (--config), or one spec with no file (--spec); --port and --host override the file's. */
async function configFor(values: SourceValues, command: string): Promise<GatehouseConfig> {
  let config: GatehouseConfig;
  if (values.spec !== undefined) {
    if (values.config !== undefined) throw new UsageError('--spec and --config cannot be combined: --spec serves one spec without a config file', command);
    const spec = values.spec;
    const { configForSpec } = await import('../config/load-config.js');
    config = configForSpec({ spec, ...(values['base-url'] !== undefined ? { baseUrl: values['base-url'] } : {}), ...(values.name !== undefined ? { name: values.name } : {}) });
  } else {
    if (values['base-url'] !== undefined || values.name !== undefined) throw new UsageError('--base-url and --name apply to --spec', command);
    config = await loadConfig(values.config ?? 'gatehouse.yaml');
  }
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535 (got "${values.port}")`, command);
    config.server.port = port;
  }
  if (values.host !== undefined) config.server.host = values.host;
  return config;
}

/** --log-format, else $GATEHOUSE_LOG_FORMAT, else the config's log.format. */
function logFormat(flag: string | undefined, config: GatehouseConfig, command: string): LogFormat {
  const env = process.env['GATEHOUSE_LOG_FORMAT'];
  const [value, where] = flag !== undefined ? [flag, '--log-format'] : env !== undefined && env !== '' ? [env, 'GATEHOUSE_LOG_FORMAT'] : [config.log.format, 'log.format'];
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new UsageError(`${where} must be one of ${LOG_FORMATS.join(', ')} (got "${value}")`, command);
  return value as LogFormat;
}

/**
 * Starts the spec import thread before the gateway's own modules load, so that the
 * thread's start and its module loading (the spec parser, ajv) run alongside them
 * rather than after them. Without backends there is nothing to import at start.
 */
async function warmImportThread(config: GatehouseConfig): Promise<void> {
  if (config.backends.length === 0) return;
  (await import('../openapi/import-worker-client.js')).importWorker.warm();
}

async function serve(args: string[]): Promise<number> {
  const heap = boundHeap();
  const { values } = parse({ args, options: { ...SOURCE_OPTIONS, port: { type: 'string' }, host: { type: 'string' } }, strict: true }, 'serve');
  const config = await configFor(values, 'serve');
  const log = createLogger({ level: config.log.level, format: logFormat(values['log-format'], config, 'serve') });
  await warmImportThread(config);
  const [{ startGateway }, { startConfigWatch }] = await Promise.all([import('../server/gateway.js'), import('../registry/config-watch.js')]);
  const gateway = await startGateway(config, log);
  heap.serving();
  log.info({ url: `${gateway.url}/mcp`, tools: gateway.runtime.registry().tools.length }, `Gatehouse ${VERSION} serving MCP at ${gateway.url}/mcp`);
  // A parent that launched us with an IPC channel (`npm start`'s demo) learns we listen, and where.
  process.send?.({ gatehouse: 'listening', url: gateway.url });
  // Backends reload live: when the file changes, and on SIGHUP (the conventional "re-read your config").
  // With --spec there is no file to read again.
  const fromFile = values.spec === undefined;
  const watch = fromFile ? startConfigWatch(gateway.runtime, config.file, log) : undefined;
  const onHangup = () => {
    log.info('SIGHUP: reloading the configuration');
    gateway.runtime.reload().catch((err: unknown) => log.error({ err }, 'config reload failed unexpectedly'));
  };
  if (fromFile) process.on('SIGHUP', onHangup);
  await waitForSignal();
  log.info('shutting down');
  process.off('SIGHUP', onHangup);
  watch?.close();
  await gateway.close();
  log.flush();
  return 0;
}

async function stdio(args: string[]): Promise<number> {
  const heap = boundHeap();
  const { values } = parse({ args, options: SOURCE_OPTIONS, strict: true }, 'stdio');
  const config = await configFor(values, 'stdio');
  if (config.audit.stream === 'stdout') throw new UsageError(`${config.file}: audit.stream cannot be "stdout" in stdio mode: stdout carries MCP messages`, 'stdio');
  // stdout carries MCP messages only: every log line goes to stderr.
  const log = createLogger({ level: config.log.level, stream: process.stderr, format: logFormat(values['log-format'], config, 'stdio') });
  await warmImportThread(config);
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
  runtime.warm();
  log.info({ tools: runtime.registry().tools.length }, `Gatehouse ${VERSION} serving MCP over stdio`);
  await Promise.race([waitForSignal(), new Promise<void>((resolve) => process.stdin.once('close', resolve))]);
  await handle.close();
  await runtime.close();
  return 0;
}

async function init(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    { args, options: { spec: { type: 'string' }, 'base-url': { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' } }, allowPositionals: true, strict: true },
    'init',
  );
  if (positionals.length > 1) throw new UsageError('init takes at most one FILE', 'init');
  if (values.spec === undefined && (values['base-url'] !== undefined || values.name !== undefined)) throw new UsageError('--base-url and --name apply to --spec', 'init');
  const file = positionals[0] ?? 'gatehouse.yaml';
  const [{ writeFileSync }, { dirname, isAbsolute, relative, resolve }, { starterConfig }, { backendNameFor }] = await Promise.all([
    import('node:fs'),
    import('node:path'),
    import('./starter-config.js'),
    import('../config/load-config.js'),
  ]);
  let spec = values.spec;
  // A relative spec path is given from here; the file names it from its own directory.
  if (spec !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(spec)) {
    const fromFile = relative(dirname(resolve(file)), resolve(spec));
    spec = isAbsolute(fromFile) || fromFile.startsWith('..') ? fromFile : `./${fromFile}`;
  }
  const text = starterConfig({
    ...(spec !== undefined ? { spec, name: values.name ?? backendNameFor(spec) } : {}),
    ...(values['base-url'] !== undefined ? { baseUrl: values['base-url'] } : {}),
  });
  try {
    writeFileSync(file, text, { flag: values.force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliFailure(`${file} exists; --force overwrites it`);
    throw new CliFailure(`cannot write ${file}: ${code ?? String(err)}`);
  }
  const flag = file === 'gatehouse.yaml' ? '' : ` --config ${file}`;
  process.stdout.write(`wrote ${file}\nnext: gatehouse validate${flag} && gatehouse serve${flag}\n`);
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
  }, 'tools');
  const spec = positionals[0];
  if (spec === undefined || positionals.length > 1) throw new UsageError('tools needs exactly one SPEC (a file path or an http(s) URL)', 'tools');
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
  // The call chain and the ai routes as the gateway builds them at start: rules, policies[], every when: condition and pattern.
  const [{ checkChainConfig }, router] = await Promise.all([import('../policy/chain.js'), config.ai === undefined ? undefined : import('../ai/engine/router.js')]);
  const stages = checkChainConfig(config, silentLogger());
  if (config.ai !== undefined) {
    router!.createRouter(config.ai);
    (await import('../ai/policy/prices.js')).loadPriceTable(config.ai.prices ?? {});
  }
  process.stdout.write(`chain ${stages.join(' → ')}\n`);
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
  }, 'audit');
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
      process.stderr.write(`gatehouse: ${err.message}\n\n${(err.command !== undefined ? COMMAND_HELP[err.command] : undefined) ?? USAGE}`);
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
