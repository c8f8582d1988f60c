/**
 * Bounds a JSON-RPC request body before it is parsed.
 *
 * Why before: `JSON.parse` itself is the costliest step for a hostile body.
 * 450,000 argument names in 4 MB take it 0.1–1 s (each name is a new
 * property of a dictionary-mode object, and a new internalised string), and
 * the SDK's zod parse that follows costs as much again. A single pass over
 * the bytes (a few ms for 4 MB) finds what parsing would build: how deep,
 * how many members, how long each array.
 *
 * What it does:
 * - `params.arguments` of a request (or of each request of a batch) is held
 *   to `mcp.arguments`; arguments past a limit are replaced, in the bytes, by
 *   `{ [REFUSED_ARGUMENTS_KEY]: message }`, which the tool caller turns into
 *   the GH_TOOL_ARGS_TOO_LARGE tool error (the agent learns which limit, and
 *   where), on the fast path and the SDK path alike;
 * - everything else in the body (params, `_meta`, a batch) is held to the
 *   same limits, counted apart; past one, the whole request is refused.
 *
 * Malformed JSON is left as it is: the parser that follows reports it.
 */
import { formatPath, limitMessage, REFUSED_ARGUMENTS_KEY, type ArgumentLimits } from './argument-limits.js';

export type BoundedRequest =
  /** The body to parse: `raw` itself, or a copy with over-limit arguments replaced. */
  | { body: Buffer; refused?: undefined }
  /** The body, arguments aside, passes a limit: refuse the request, parse nothing. */
  | { refused: string; body?: undefined };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/** Keys above this many bytes are not read back for paths in messages. */
const MAX_KEY_BYTES = 256;

/** Counts for one region: the arguments of a call, or the rest of the body. */
interface Region {
  members: number;
  /** Depth of the region's outermost container (1 for the body itself). */
  base: number;
}

export function boundRequest(raw: Buffer, limits: Readonly<ArgumentLimits>): BoundedRequest {
  // Per open container, by depth (1 = the body's outermost value).
  const isArray: boolean[] = [false];
  const items: number[] = [0];
  const keyStart: number[] = [-1];
  const keyEnd: number[] = [-1];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let stringIsKey = false;
  let expectKey = false;
  let awaitingValue = true;

  const envelope: Region = { members: 0, base: 1 };
  let args: (Region & { start: number; refused?: string }) | undefined;
  const splices: Array<{ start: number; end: number; refused: string }> = [];

  const key = (d: number): string | undefined => {
    const start = keyStart[d] ?? -1;
    const end = keyEnd[d] ?? -1;
    if (start < 0 || end - start > MAX_KEY_BYTES) return undefined;
    try {
      const k: unknown = JSON.parse(raw.toString('utf8', start, end));
      return typeof k === 'string' ? k : undefined;
    } catch {
      return undefined;
    }
  };
  /** The path from the region's base to the current container, for messages. */
  const pathHere = (region: Region): (string | number)[] => {
    const path: (string | number)[] = [];
    for (let d = region.base + 1; d <= depth; d++) path.push(isArray[d - 1] ? (items[d - 1] ?? 1) - 1 : (key(d - 1) ?? '?'));
    return path;
  };
  /** The arguments of a request: `params.arguments` of the body, or of a batch member. */
  const atArguments = (): boolean => {
    if (isArray[depth] || depth < 2 || key(depth) !== 'arguments' || isArray[depth - 1] || key(depth - 1) !== 'params') return false;
    return depth === 2 ? true : depth === 3 && isArray[1] === true;
  };
  const exceeded = (limit: keyof ArgumentLimits, region: Region, root: string): string => limitMessage(limit, formatPath(pathHere(region), root), limits);
  /** Marks the current arguments refused, or returns the whole request's refusal. */
  const over = (limit: keyof ArgumentLimits): string | undefined => {
    if (args !== undefined) {
      args.refused ??= exceeded(limit, args, '(arguments)');
      return undefined;
    }
    return exceeded(limit, envelope, '(request)');
  };

  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) {
        inString = false;
        if (stringIsKey) keyEnd[depth] = i + 1;
      }
      continue;
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    // Once refused, the rest of the arguments are skipped, counting only where they end.
    const counting = args?.refused === undefined;
    if (c === COLON) {
      awaitingValue = true;
      if (counting) {
        const region = args ?? envelope;
        if (++region.members > limits.maxKeys) {
          const refused = over('maxKeys');
          if (refused !== undefined) return { refused };
        }
      }
      continue;
    }
    if (c === COMMA) {
      if (isArray[depth]) awaitingValue = true;
      else expectKey = true;
      continue;
    }
    if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (args !== undefined && depth === args.base) {
        if (args.refused === undefined && i + 1 - args.start > limits.maxBytes) args.refused = limitMessage('maxBytes', '(arguments)', limits);
        if (args.refused !== undefined) splices.push({ start: args.start, end: i + 1, refused: args.refused });
        args = undefined;
      }
      depth--;
      if (depth < 0) return { body: raw }; // malformed: the parser says so
      expectKey = false;
      awaitingValue = false;
      continue;
    }
    if (c === QUOTE && expectKey && !isArray[depth]) {
      // A member name: its bytes are kept (not decoded) for paths in messages.
      expectKey = false;
      inString = true;
      stringIsKey = true;
      keyStart[depth] = i;
      keyEnd[depth] = -1;
      continue;
    }
    // The start of a value.
    if (awaitingValue) {
      awaitingValue = false;
      if (isArray[depth]) {
        items[depth] = (items[depth] ?? 0) + 1;
        if (counting && (items[depth] as number) > limits.maxArrayLength) {
          const refused = over('maxArrayLength');
          if (refused !== undefined) return { refused };
        }
      }
      if (c === OPEN_OBJECT && args === undefined && atArguments()) args = { members: 0, base: depth + 1, start: i };
    }
    if (args !== undefined && counting && i + 1 - args.start > limits.maxBytes) args.refused = limitMessage('maxBytes', '(arguments)', limits);
    if (c === QUOTE) {
      inString = true;
      stringIsKey = false;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      const region = args ?? envelope;
      // The arguments object is depth 1 of the arguments; the body is depth 1 of the request.
      if (args?.refused === undefined && depth - region.base + 1 > limits.maxDepth) {
        const refused = over('maxDepth');
        if (refused !== undefined) return { refused };
      }
      isArray[depth] = c === OPEN_ARRAY;
      items[depth] = 0;
      keyStart[depth] = -1;
      expectKey = c === OPEN_OBJECT;
      awaitingValue = c === OPEN_ARRAY;
    }
  }
  if (splices.length === 0) return { body: raw };
  const parts: Buffer[] = [];
  let at = 0;
  for (const s of splices) {
    parts.push(raw.subarray(at, s.start), Buffer.from(JSON.stringify({ [REFUSED_ARGUMENTS_KEY]: s.refused })));
    at = s.end;
  }
  parts.push(raw.subarray(at));
  return { body: Buffer.concat(parts) };
}
