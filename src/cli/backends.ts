/**
 * `gatehouse backends list|add|remove|reload|tools`: the admin API of a
 * running gateway (`--url`, `--token`), for people and scripts.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../errors/catalogue.js';
import { BACKENDS_HELP } from './help.js';
import { printTable } from './table.js';

const HELP = `Usage: gatehouse backends <subcommand> [options]

Subcommands:
  list                        Every backend: source (config or admin), state, tools
  add NAME --spec URL|FILE [--base-url URL] [--set KEY=JSON]... [--replace]
  add --file ENTRY.yaml [--replace]
                              Register a backend. A spec FILE is read here and
                              sent inline; --set sets any backends[] field
                              (e.g. --set 'include={"tags":["pets"]}');
                              --replace replaces a registered one (else 409)
  remove NAME                 Remove a backend registered at runtime
  reload [NAME...]            Import backends again (default: every backend)
  tools [NAME]                The tools served (of one backend)

Options:
  --url URL       The gateway (default: $GATEHOUSE_URL or http://127.0.0.1:8080)
  --token TOKEN   Admin credential, sent as a bearer token (default: $GATEHOUSE_TOKEN)
  --json          Print the API's JSON answer
  -h, --help      Show this help; \`gatehouse backends SUBCOMMAND --help\` for one

Examples:
  gatehouse backends list
  gatehouse backends add petstore --spec ./petstore.yaml --base-url http://127.0.0.1:9000
  gatehouse backends reload petstore
`;

/** A failure worth one line and exit code 1 (no stack). */
export class CliError extends Error {
  override name = 'CliError';
}

export interface BackendsCliOptions {
  /** Parses options the way the rest of the CLI does (a UsageError on bad ones). */
  parse: (args: string[], options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>) => { values: Record<string, unknown>; positionals: string[] };
  usage: (message: string) => Error;
  out?: NodeJS.WritableStream;
}

interface BackendView {
  name: string;
  source: string;
  state: string;
  tools: number;
  spec?: string;
  revision?: number;
  error?: { code: string; message: string };
  reloadError?: { code: string; message: string };
}

export async function backendsCommand(args: string[], cli: BackendsCliOptions): Promise<number> {
  const out = cli.out ?? process.stdout;
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    out.write(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    const page = BACKENDS_HELP[sub];
    if (page === undefined) throw cli.usage(`unknown backends subcommand "${sub}"`);
    out.write(page);
    return 0;
  }
  const { values, positionals } = cli.parse(rest, {
    url: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' },
    spec: { type: 'string' },
    'base-url': { type: 'string' },
    set: { type: 'string', multiple: true },
    file: { type: 'string' },
    replace: { type: 'boolean' },
  });
  const api = client(String(values['url'] ?? process.env['GATEHOUSE_URL'] ?? 'http://127.0.0.1:8080'), (values['token'] as string | undefined) ?? process.env['GATEHOUSE_TOKEN']);
  const json = values['json'] === true;
  const print = (value: unknown) => out.write(`${JSON.stringify(value, null, 2)}\n`);

  switch (sub) {
    case 'list': {
      const { backends } = (await api('GET', '/admin/backends')) as { backends: BackendView[] };
      if (json) print({ backends });
      else printTable(['NAME', 'SOURCE', 'STATE', 'TOOLS', 'REVISION', 'SPEC', 'PROBLEM'], backends.map(row), out);
      return 0;
    }
    case 'add': {
      const body = await addBody(positionals, values, cli);
      const replace = values['replace'] === true;
      const backend = (await api(replace ? 'PUT' : 'POST', replace ? `/admin/backends/${encodeURIComponent(String(body['name']))}` : '/admin/backends', body)) as BackendView;
      if (json) print(backend);
      else out.write(`${backend.name}: ${backend.state}, ${backend.tools} tools (revision ${backend.revision ?? '-'})\n`);
      return 0;
    }
    case 'remove': {
      if (positionals.length !== 1) throw cli.usage('backends remove takes one backend name');
      await api('DELETE', `/admin/backends/${encodeURIComponent(positionals[0]!)}`);
      if (!json) out.write(`${positionals[0]}: removed\n`);
      return 0;
    }
    case 'reload': {
      const names = positionals.length > 0 ? positionals : ((await api('GET', '/admin/backends')) as { backends: BackendView[] }).backends.filter((b) => b.state !== 'shadowed').map((b) => b.name);
      let failed = 0;
      const results: unknown[] = [];
      for (const name of names) {
        try {
          const backend = (await api('POST', `/admin/backends/${encodeURIComponent(name)}/reimport`)) as BackendView;
          results.push(backend);
          if (!json) out.write(`${name}: ${backend.state}, ${backend.tools} tools\n`);
        } catch (err) {
          if (!isGatehouseError(err) || err.code !== 'GH_ADMIN_IMPORT_FAILED') throw err;
          failed++;
          results.push({ name, error: { code: err.code, message: err.message } });
          if (!json) out.write(`${name}: ${err.code}: ${err.message}\n`);
        }
      }
      if (json) print(results);
      return failed > 0 ? 1 : 0;
    }
    case 'tools': {
      if (positionals.length > 1) throw cli.usage('backends tools takes at most one backend name');
      const query = positionals[0] !== undefined ? `?backend=${encodeURIComponent(positionals[0])}` : '';
      const { tools } = (await api('GET', `/admin/tools${query}`)) as { tools: Array<{ name: string; backend: string; method: string; path: string }> };
      if (json) print({ tools });
      else printTable(['TOOL', 'BACKEND', 'METHOD', 'PATH'], tools.map((t) => [t.name, t.backend, t.method, t.path]), out);
      return 0;
    }
    default:
      throw cli.usage(`unknown backends subcommand "${sub}"`);
  }
}

function row(b: BackendView): string[] {
  const problem = b.error ?? b.reloadError;
  return [b.name, b.source, b.state, String(b.tools), b.revision === undefined ? '-' : String(b.revision), b.spec ?? '-', problem ? `${problem.code}: ${problem.message.split('\n')[0]}` : ''];
}

/** The request body of `add`: from --file, or from NAME and the options. A spec file is read here and sent inline. */
async function addBody(positionals: string[], values: Record<string, unknown>, cli: BackendsCliOptions): Promise<Record<string, unknown>> {
  let body: Record<string, unknown>;
  let baseDir = process.cwd();
  if (values['file'] !== undefined) {
    if (positionals.length > 0 || values['spec'] !== undefined) throw cli.usage('backends add: give either --file or NAME --spec, not both');
    const file = resolve(String(values['file']));
    body = asObject(parseYaml(await readFile(file, 'utf8')), `${values['file']}`, cli);
    baseDir = dirname(file);
  } else {
    if (positionals.length !== 1) throw cli.usage('backends add takes one backend name (or --file)');
    if (values['spec'] === undefined) throw cli.usage('backends add: --spec URL|FILE is required');
    body = { name: positionals[0], spec: values['spec'] };
  }
  if (values['base-url'] !== undefined) body['baseUrl'] = values['base-url'];
  for (const pair of (values['set'] as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw cli.usage(`--set ${pair}: expected KEY=VALUE`);
    const raw = pair.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw; // a bare word is a string
    }
    body[pair.slice(0, eq)] = value;
  }
  const spec = body['spec'];
  if (typeof spec === 'string' && !/^https?:\/\//i.test(spec)) {
    const path = resolve(baseDir, spec);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw cli.usage(`--spec ${spec}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    body['spec'] = asObject(parseYaml(text), spec, cli);
  }
  return body;
}

function asObject(value: unknown, what: string, cli: BackendsCliOptions): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw cli.usage(`${what}: expected a YAML or JSON object`);
  return value as Record<string, unknown>;
}

/** Calls the admin API; an error answer becomes the GatehouseError it describes. */
function client(base: string, token: string | undefined) {
  const root = base.replace(/\/+$/, '');
  return async (method: string, path: string, body?: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${root}${path}`, {
        method,
        // Every write is JSON, bodiless ones too: the admin API refuses other types (no HTML form can send this one).
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined || method !== 'GET' ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the gateway at ${root} (${cause?.code ?? cause?.message ?? String(err)}): give --url or set GATEHOUSE_URL`);
    }
    const text = await res.text();
    if (res.ok) return text === '' ? undefined : JSON.parse(text);
    let answer: { code?: string; message?: string; error_description?: string } = {};
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      // not JSON: the status says enough
    }
    const code = (answer.code ?? (res.status === 401 ? 'GH_AUTH_REQUIRED' : res.status === 403 ? 'GH_AUTH_FORBIDDEN' : 'GH_INTERNAL')) as ErrorCode;
    throw new GatehouseError(code, answer.message ?? answer.error_description ?? `${method} ${path}: HTTP ${res.status}`);
  };
}
