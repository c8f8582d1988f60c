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
import { JSON_BYTES, stringEnd } from '../http/json-bytes.js';

export type BoundedRequest =
  /** The body to parse: `raw` itself, or a copy with over-limit arguments replaced. */
  | { body: Buffer; refused?: undefined }
  /** The body, arguments aside, passes a limit: refuse the request, parse nothing. */
  | { refused: string; body?: undefined };

const { CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE } = JSON_BYTES;

/** Keys above this many bytes are not read back for paths in messages. */
const MAX_KEY_BYTES = 256;

/** The index of the byte that closes the `levels` containers open before `from` (a value's first byte, or between values), or -1. */
function containerEnd(raw: Buffer, from: number, levels: number): number {
  for (let i = from; i < raw.length; i++) {
    const c = raw[i];
    if (c === QUOTE) {
      i = stringEnd(raw, i);
      if (i < 0) return -1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) levels++;
    else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --levels === 0) return i;
  }
  return -1;
}

/**
 * The per-depth arrays, kept from call to call: four typed arrays allocated
 * for every request were about 0.8% of the gateway's CPU time under load (a
 * profile of `bench/tools-call.mjs`). Reuse is safe: the scan is synchronous,
 * and it writes each depth's entries as it opens a container there, before it
 * reads them; only depth 0 is read without being opened, and is reset here.
 */
let scratch: { cap: number; isArray: Uint8Array; items: Int32Array; keyStart: Int32Array; keyEnd: Int32Array } | undefined;
function scratchFor(cap: number) {
  if (scratch === undefined || scratch.cap !== cap) {
    scratch = { cap, isArray: new Uint8Array(cap + 1), items: new Int32Array(cap + 1), keyStart: new Int32Array(cap + 1), keyEnd: new Int32Array(cap + 1) };
  }
  scratch.isArray[0] = 0;
  scratch.items[0] = 0;
  scratch.keyStart[0] = -1;
  scratch.keyEnd[0] = 0;
  return scratch;
}

export function boundRequest(raw: Buffer, limits: Readonly<ArgumentLimits>): BoundedRequest {
  const { maxBytes, maxDepth, maxKeys, maxArrayLength } = limits;
  // Per open container, by depth (1 = the body's outermost value). The body
  // is refused past maxDepth, arguments past maxDepth of their own: no deeper.
  const { isArray, items, keyStart, keyEnd } = scratchFor(2 * maxDepth + 2);
  let depth = 0;
  let expectKey = false;
  let awaitingValue = true;
  let members = 0;
  // The arguments being scanned, if any: where they start, their depth, their members.
  let inArgs = false;
  let argsStart = 0;
  let argsBase = 0;
  let argsMembers = 0;
  let argsBytesEnd = Infinity;
  const splices: Array<{ start: number; end: number; refused: string }> = [];

  const key = (d: number): string | undefined => {
    const start = keyStart[d]!;
    const end = keyEnd[d]!;
    if (start < 0 || end - start > MAX_KEY_BYTES) return undefined;
    try {
      const k: unknown = JSON.parse(raw.toString('utf8', start, end));
      return typeof k === 'string' ? k : undefined;
    } catch {
      return undefined;
    }
  };
  /** Where the container at `to` is, from the one at `base`, as argument errors name it. */
  const pathTo = (base: number, to: number, root: string): string => {
    const path: (string | number)[] = [];
    for (let d = base + 1; d <= to; d++) path.push(isArray[d - 1] === 1 ? items[d - 1]! - 1 : (key(d - 1) ?? '?'));
    return formatPath(path, root);
  };
  /** `params.arguments` of the body, or of a member of a batch, opens at the value starting now. */
  const atArguments = (): boolean =>
    isArray[depth] === 0 && (depth === 2 || (depth === 3 && isArray[1] === 1)) && isArray[depth - 1] === 0 && key(depth) === 'arguments' && key(depth - 1) === 'params';

  let i = 0;
  /**
   * Refuses the arguments being scanned: skips to their end, and marks them
   * for replacement. False when the body is malformed (left to the parser).
   */
  const refuseArgs = (limit: keyof ArgumentLimits, at: string): boolean => {
    const end = containerEnd(raw, i, depth - argsBase + 1);
    if (end < 0) return false;
    splices.push({ start: argsStart, end: end + 1, refused: limitMessage(limit, at, limits) });
    inArgs = false;
    argsBytesEnd = Infinity;
    depth = argsBase - 1;
    expectKey = false;
    awaitingValue = false;
    i = end;
    return true;
  };

  for (; i < raw.length; i++) {
    if (i >= argsBytesEnd) {
      if (!refuseArgs('maxBytes', '(arguments)')) return { body: raw };
      continue;
    }
    const c = raw[i]!;
    if (c === QUOTE) {
      const end = stringEnd(raw, i);
      if (end < 0) return { body: raw };
      if (expectKey && isArray[depth] === 0) {
        // A member name: its bytes are kept, not decoded, for paths in messages.
        keyStart[depth] = i;
        keyEnd[depth] = end + 1;
        expectKey = false;
      } else if (awaitingValue) {
        awaitingValue = false;
        if (isArray[depth] === 1 && ++items[depth]! > maxArrayLength) {
          if (!inArgs) return { refused: limitMessage('maxArrayLength', pathTo(1, depth, '(request)'), limits) };
          if (!refuseArgs('maxArrayLength', pathTo(argsBase, depth, '(arguments)'))) return { body: raw };
          continue;
        }
      }
      i = end;
      continue;
    }
    if (c === COLON) {
      awaitingValue = true;
      if (inArgs ? ++argsMembers > maxKeys : ++members > maxKeys) {
        if (!inArgs) return { refused: limitMessage('maxKeys', pathTo(1, depth, '(request)'), limits) };
        if (!refuseArgs('maxKeys', pathTo(argsBase, depth, '(arguments)'))) return { body: raw };
      }
      continue;
    }
    if (c === COMMA) {
      if (isArray[depth] === 1) awaitingValue = true;
      else expectKey = true;
      continue;
    }
    if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (inArgs && depth === argsBase) {
        inArgs = false;
        argsBytesEnd = Infinity;
      }
      if (--depth < 0) return { body: raw };
      expectKey = false;
      awaitingValue = false;
      continue;
    }
    if (c <= 0x20) continue; // whitespace (RFC 8259 §2), or bytes the parser refuses
    // The first byte of a value.
    if (awaitingValue) {
      awaitingValue = false;
      if (isArray[depth] === 1 && ++items[depth]! > maxArrayLength) {
        if (!inArgs) return { refused: limitMessage('maxArrayLength', pathTo(1, depth, '(request)'), limits) };
        if (!refuseArgs('maxArrayLength', pathTo(argsBase, depth, '(arguments)'))) return { body: raw };
        continue;
      }
      if (c === OPEN_OBJECT && !inArgs && atArguments()) {
        inArgs = true;
        argsStart = i;
        argsBase = depth + 1;
        argsMembers = 0;
        argsBytesEnd = i + maxBytes;
      }
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      // The arguments object is depth 1 of the arguments; the body, depth 1 of the request.
      if (inArgs ? depth - argsBase + 1 > maxDepth : depth > maxDepth) {
        if (!inArgs) return { refused: limitMessage('maxDepth', pathTo(1, depth, '(request)'), limits) };
        depth--;
        if (!refuseArgs('maxDepth', pathTo(argsBase, depth + 1, '(arguments)'))) return { body: raw };
        continue;
      }
      isArray[depth] = c === OPEN_ARRAY ? 1 : 0;
      items[depth] = 0;
      keyStart[depth] = -1;
      expectKey = c === OPEN_OBJECT;
      awaitingValue = c === OPEN_ARRAY;
    }
  }
  if (splices.length === 0) return { body: raw };
  const parts: Buffer[] = [];
  let at = 0;
  for (const sp of splices) {
    parts.push(raw.subarray(at, sp.start), Buffer.from(JSON.stringify({ [REFUSED_ARGUMENTS_KEY]: sp.refused })));
    at = sp.end;
  }
  parts.push(raw.subarray(at));
  return { body: Buffer.concat(parts) };
}
