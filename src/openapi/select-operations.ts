/**
 * Which operations of a spec become tools, and under which name and
 * description. Plain data in, plain data out; the importer calls it once per
 * backend, before any schema work, so an operation that is not served costs
 * nothing.
 *
 * An operation is served when all of these hold:
 * - it matches `include` (when given): every criterion kind listed there
 *   (`tags`, `operations`, `methods`, `paths`) matches, each kind being an OR
 *   over its values — `{ tags: [a, b], methods: [GET] }` is "(tag a or b) and GET";
 * - it matches no criterion of `exclude` (any one value of any kind drops it);
 * - it is not deprecated, or `deprecated` is `include` (the default; its
 *   description then starts with "Deprecated.");
 * - it is not hidden (`hidden: true` in a config override, else in the
 *   operation's `x-gatehouse`, else in its path item's `x-gatehouse`).
 *
 * Names: every operation of the spec is named first, all together, exactly as
 * without any selection ({@link assignToolNames}); the served ones keep that
 * name unless an override renames them. So filters never change the name of a
 * tool that stays, and an override changes only the name of the operation it
 * is about (operations that clash keep their hashed names even when an
 * override renames one of them away).
 */
import { compileLinear, type LinearRegExp } from './linear-regexp.js';
import { GatehouseError, type ErrorCode } from '../errors/catalogue.js';
import { shorten } from './json-schema.js';
import { isObj, str, type Obj } from './oas.js';
import { MAX_TOOL_DESCRIPTION } from './operation-to-tool.js';
import { assignToolNames, sanitizeName, TOOL_NAME_PATTERN } from './tool-name.js';

/**
 * Criteria over operations. Each kind is an OR over its values; an empty or
 * missing list is no criterion. Matching is case-sensitive except for methods.
 */
export interface OperationFilter {
  /** Tag names (exact). An operation without tags matches none. */
  tags?: readonly string[];
  /**
   * operationId globs: `*` matches any characters (`/` included). An operation
   * without an operationId matches none.
   */
  operations?: readonly string[];
  /** HTTP methods, any case (`GET`, `get`). */
  methods?: readonly string[];
  /**
   * Path template globs, matched against the path as written in the spec
   * (`/repos/{owner}/{repo}`): `*` matches within one segment, `**` across
   * segments, and a trailing `/**` (or a `/**` before `/`) also matches no
   * segment at all (`/repos/**` matches `/repos`).
   */
  paths?: readonly string[];
}

/** What to do with operations marked `deprecated: true`. Default `include`. */
export type DeprecatedMode = 'include' | 'exclude';

/** Per-operation changes, from config `overrides` or the spec's `x-gatehouse`. */
export interface OperationOverride {
  /** Tool name without the backend prefix (sanitised like an operationId). */
  name?: string;
  /** Replaces the description made from `summary` and `description`. */
  description?: string;
  /** `true`: the operation is not served. `false` in config cancels a spec's `hidden: true`. */
  hidden?: boolean;
}

export interface SelectOptions {
  include?: OperationFilter | undefined;
  exclude?: OperationFilter | undefined;
  deprecated?: DeprecatedMode | undefined;
  /** Keyed by operationId or by `"METHOD /path"` (method in any case, path as in the spec). */
  overrides?: Readonly<Record<string, OperationOverride>> | undefined;
  /** Tool-name prefix (the backend name); none when undefined. */
  prefix?: string | undefined;
  /** Backend name, for messages. */
  backend: string;
  /** Names the spec in messages. */
  source: string;
}

/** The parts of an operation that selection reads. */
export interface CandidateOperation {
  /** HTTP method (any case). */
  method: string;
  /** Path template as in the spec. */
  path: string;
  operation: Obj;
  pathItem: Obj;
  /** JSON pointer of the operation (`#/paths/~1items/get`). */
  pointer: string;
}

export interface SelectedOperation<T> {
  operation: T;
  /** Final tool name, prefix included. */
  name: string;
  /** Set when an override replaces the description made by the importer. */
  description?: string;
}

export interface Selection<T> {
  /** Served operations, in spec order. */
  selected: SelectedOperation<T>[];
  warnings: string[];
}

type Origin = { kind: 'config'; key: string } | { kind: 'spec'; pointer: string };

interface Resolved {
  name?: { value: string; from: Origin };
  description?: string;
  hidden: boolean;
}

const MAX_NAME = 64;

export function selectOperations<T extends CandidateOperation>(ops: readonly T[], options: SelectOptions): Selection<T> {
  const warnings: string[] = [];
  const include = options.include ? compileFilter(options.include) : undefined;
  const exclude = options.exclude ? compileFilter(options.exclude) : undefined;
  const configOverrides = matchOverrides(ops, options, warnings);
  const pathItemHidden = new Map<Obj, boolean | undefined>();

  const served: number[] = [];
  const resolved: Resolved[] = ops.map((op, i) => {
    const fromConfig = configOverrides.get(i);
    const fromSpec = readExtension(op.operation['x-gatehouse'], `${op.pointer}/x-gatehouse`, ['name', 'description', 'hidden'], options.source, warnings);
    let itemHidden = pathItemHidden.get(op.pathItem);
    if (!pathItemHidden.has(op.pathItem)) {
      const itemPointer = op.pointer.slice(0, op.pointer.lastIndexOf('/'));
      itemHidden = readExtension(op.pathItem['x-gatehouse'], `${itemPointer}/x-gatehouse`, ['hidden'], options.source, warnings).hidden;
      pathItemHidden.set(op.pathItem, itemHidden);
    }
    const r: Resolved = { hidden: fromConfig?.override.hidden ?? fromSpec.hidden ?? itemHidden ?? false };
    if (fromConfig?.override.name !== undefined) r.name = { value: fromConfig.override.name, from: { kind: 'config', key: fromConfig.key } };
    else if (fromSpec.name !== undefined) r.name = { value: fromSpec.name, from: { kind: 'spec', pointer: `${op.pointer}/x-gatehouse` } };
    const description = fromConfig?.override.description ?? fromSpec.description;
    if (description !== undefined) r.description = description;

    const keep =
      !r.hidden &&
      (include === undefined || matchesAll(op, include)) &&
      (exclude === undefined || !matchesAny(op, exclude)) &&
      !(options.deprecated === 'exclude' && op.operation['deprecated'] === true);
    if (keep) served.push(i);
    return r;
  });

  if (ops.length > 0 && served.length === 0) {
    warnings.push(`Backend "${options.backend}": include, exclude, deprecated and hidden leave none of the ${ops.length} operations of ${options.source}`);
  }

  // Named over every operation of the spec, served or not (see the module comment).
  const autoNames = assignToolNames(
    ops.map((o) => ({ method: o.method, path: o.path, operationId: str(o.operation['operationId']) })),
    options.prefix,
  );
  const head = options.prefix ? sanitizeName(options.prefix) + '_' : '';
  const owners = new Map<string, number>();
  const selected = served.map((i): SelectedOperation<T> => {
    const op = ops[i] as T;
    const r = resolved[i] as Resolved;
    let name = autoNames[i] as string;
    if (r.name) {
      const wanted = r.name.value.trim();
      name = head + sanitizeName(wanted);
      if (wanted === '') {
        throw nameError(r.name.from, `Backend "${options.backend}": ${describeOrigin(r.name.from, options.source)} gives ${describeOperation(op)} a blank name`);
      }
      if (!TOOL_NAME_PATTERN.test(name)) {
        throw nameError(
          r.name.from,
          `Backend "${options.backend}": ${describeOrigin(r.name.from, options.source)} names ${describeOperation(op)} "${r.name.value}", which makes the tool name "${name}" ` +
            `${name.length} characters long; tool names, prefix included, are at most ${MAX_NAME} (${MAX_NAME - head.length} without the prefix "${head}")`,
        );
      }
    }
    const other = owners.get(name);
    if (other !== undefined) {
      const how = (j: number) => {
        const rj = resolved[j] as Resolved;
        const what = describeOperation(ops[j] as T);
        return rj.name ? `${what} (renamed by ${describeOrigin(rj.name.from, options.source)})` : what;
      };
      // Only a renamed operation can meet another name (automatic names are unique).
      const origins = [r.name?.from, (resolved[other] as Resolved).name?.from].filter((o): o is Origin => o !== undefined);
      throw nameError(
        origins.find((o) => o.kind === 'config') ?? origins[0] ?? { kind: 'spec', pointer: op.pointer },
        `Backend "${options.backend}": tool name "${name}" is given to both ${how(other)} and ${how(i)}; tool names must be unique — rename one of them`,
      );
    }
    owners.set(name, i);

    const out: SelectedOperation<T> = { operation: op, name };
    const text = r.description?.trim();
    if (text) out.description = shorten(op.operation['deprecated'] === true ? `Deprecated. ${text}` : text, MAX_TOOL_DESCRIPTION) ?? text;
    return out;
  });
  return { selected, warnings };
}

// A dozen lines instead of picomatch/minimatch: those are only transitive dev
// dependencies here (absent from a production install), and their extra syntax
// (`{a,b}`, `?`, `[...]`, `!`, extglobs) would give meaning to characters that
// path templates and operationIds contain. Filters need only `*` and `**`.
/** Compiles a glob of a filter (see {@link OperationFilter} for the two syntaxes). */
export function globToRegExp(glob: string, kind: 'path' | 'operationId'): LinearRegExp {
  let re = '';
  for (let i = 0; i < glob.length; ) {
    if (kind === 'path' && glob.startsWith('/**', i) && (i + 3 === glob.length || glob[i + 3] === '/')) {
      re += '(?:/.*)?';
      i += 3;
    } else if (glob.startsWith('**', i)) {
      re += '.*';
      i += 2;
    } else if (glob[i] === '*') {
      re += kind === 'path' ? '[^/]*' : '.*';
      i += 1;
    } else {
      re += (glob[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i += 1;
    }
  }
  // Matched against what requests carry (model names, principals, in rules and
  // rate limits): a backtracking `^.*a.*b.*$` is polynomial in the input; RE2 is linear.
  const compiled = compileLinear(`^${re}$`, { dotAll: true });
  if (compiled instanceof Error) throw compiled; // only literals and `.*`, `[^/]*`: cannot happen
  return compiled;
}

interface CompiledFilter {
  tags?: Set<string>;
  operations?: LinearRegExp[];
  methods?: Set<string>;
  paths?: LinearRegExp[];
}

function compileFilter(f: OperationFilter): CompiledFilter {
  const out: CompiledFilter = {};
  if (f.tags?.length) out.tags = new Set(f.tags);
  if (f.operations?.length) out.operations = f.operations.map((g) => globToRegExp(g, 'operationId'));
  if (f.methods?.length) out.methods = new Set(f.methods.map((m) => m.toUpperCase()));
  if (f.paths?.length) out.paths = f.paths.map((g) => globToRegExp(g, 'path'));
  return out;
}

/** One result per criterion kind the filter lists. */
function criteria(op: CandidateOperation, f: CompiledFilter): boolean[] {
  const out: boolean[] = [];
  if (f.tags) {
    const tags = Array.isArray(op.operation['tags']) ? op.operation['tags'] : [];
    out.push(tags.some((t) => typeof t === 'string' && f.tags!.has(t)));
  }
  if (f.operations) {
    const id = str(op.operation['operationId']);
    out.push(id !== undefined && f.operations.some((re) => re.test(id)));
  }
  if (f.methods) out.push(f.methods.has(op.method.toUpperCase()));
  if (f.paths) out.push(f.paths.some((re) => re.test(op.path)));
  return out;
}

function matchesAll(op: CandidateOperation, f: CompiledFilter): boolean {
  return criteria(op, f).every(Boolean);
}

function matchesAny(op: CandidateOperation, f: CompiledFilter): boolean {
  return criteria(op, f).some(Boolean);
}

/**
 * Config overrides by operation index. A key is an operationId (every operation
 * with that id) or `"METHOD /path"`. A key that matches nothing is a warning;
 * two keys for one operation are a config error.
 */
function matchOverrides(
  ops: readonly CandidateOperation[],
  options: SelectOptions,
  warnings: string[],
): Map<number, { key: string; override: OperationOverride }> {
  const out = new Map<number, { key: string; override: OperationOverride }>();
  if (!options.overrides) return out;
  const byId = new Map<string, number[]>();
  const byRoute = new Map<string, number>();
  ops.forEach((o, i) => {
    const id = str(o.operation['operationId']);
    if (id !== undefined) byId.set(id, [...(byId.get(id) ?? []), i]);
    byRoute.set(`${o.method.toUpperCase()} ${o.path}`, i);
  });
  for (const [key, override] of Object.entries(options.overrides)) {
    const route = /^([A-Za-z]+) +(\/.*)$/.exec(key.trim());
    const routeIndex = route ? byRoute.get(`${(route[1] as string).toUpperCase()} ${route[2] as string}`) : undefined;
    const targets = new Set([...(byId.get(key) ?? []), ...(routeIndex === undefined ? [] : [routeIndex])]);
    if (targets.size === 0) {
      warnings.push(`Backend "${options.backend}": override "${key}" matches no operation of ${options.source} (a key is an operationId or "METHOD /path")`);
      continue;
    }
    for (const i of targets) {
      const previous = out.get(i);
      if (previous) {
        throw new GatehouseError(
          'GH_CONFIG_INVALID',
          `Backend "${options.backend}": overrides "${previous.key}" and "${key}" both apply to ${describeOperation(ops[i] as CandidateOperation)}; keep one`,
        );
      }
      out.set(i, { key, override });
    }
  }
  return out;
}

/** Reads an `x-gatehouse` object; fields of the wrong type or unknown are warned about and ignored. */
function readExtension(value: unknown, pointer: string, fields: readonly string[], source: string, warnings: string[]): OperationOverride {
  const out: OperationOverride = {};
  if (value === undefined) return out;
  const where = `${source} ${pointer}`;
  if (!isObj(value)) {
    warnings.push(`${where}: must be an object; ignored`);
    return out;
  }
  for (const [k, v] of Object.entries(value)) {
    if (!fields.includes(k)) {
      warnings.push(`${where}: unknown field "${k}" ignored (expected ${fields.join(', ')})`);
    } else if (k === 'hidden') {
      if (typeof v === 'boolean') out.hidden = v;
      else warnings.push(`${where}/hidden: must be true or false; ignored`);
    } else if (typeof v === 'string' && v.trim() !== '') {
      out[k as 'name' | 'description'] = v;
    } else {
      warnings.push(`${where}/${k}: must be a non-empty string; ignored`);
    }
  }
  return out;
}

function describeOperation(op: CandidateOperation): string {
  const id = str(op.operation['operationId']);
  return `${op.method.toUpperCase()} ${op.path}${id !== undefined ? ` (operationId "${id}")` : ''}`;
}

function describeOrigin(o: Origin, source: string): string {
  return o.kind === 'config' ? `config override "${o.key}"` : `x-gatehouse at ${source} ${o.pointer}`;
}

/** A name problem is the config's fault when a config override is involved, else the spec's. */
function nameError(o: Origin, message: string): GatehouseError {
  const code: ErrorCode = o.kind === 'config' ? 'GH_CONFIG_INVALID' : 'GH_SPEC_INVALID';
  return new GatehouseError(code, message, o.kind === 'spec' ? { details: { pointer: o.pointer } } : undefined);
}
