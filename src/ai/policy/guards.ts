/**
 * Guards on ai-proxy traffic: a request guard (how many messages, how much text, which
 * patterns are refused) and a response redactor (patterns replaced in answers, including
 * in streams where a secret arrives split across chunks).
 */
import { GatehouseError } from '../../errors/catalogue.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ContentPart, TextContentPart } from '../openai-types.js';

/** Too many messages in one request. */
export const GH_AI_GUARD_MESSAGES = 'GH_AI_GUARD_MESSAGES';
/** Too many characters of message text in one request. */
export const GH_AI_GUARD_SIZE = 'GH_AI_GUARD_SIZE';
/** A message matches a blocked pattern. */
export const GH_AI_GUARD_BLOCKED = 'GH_AI_GUARD_BLOCKED';

export type AiGuardCode = typeof GH_AI_GUARD_MESSAGES | typeof GH_AI_GUARD_SIZE | typeof GH_AI_GUARD_BLOCKED;

/** A refused request: a GatehouseError with one of the guard codes, and details naming the limit. */
export class AiGuardError extends GatehouseError {
  declare readonly code: AiGuardCode;

  constructor(code: AiGuardCode, message: string, details: Record<string, unknown>) {
    super(code, message, { details });
    this.name = 'AiGuardError';
  }
}

// ---------------------------------------------------------------------------
// Request guard
// ---------------------------------------------------------------------------

export interface RequestGuardOptions {
  /** Most messages a request may carry. */
  maxMessages?: number;
  /** Most characters of message text (all messages, string content or text parts) a request may carry. */
  maxChars?: number;
  /** Regular-expression sources; a message whose text matches any is refused. Compiled once, with `flags`. */
  blockedPatterns?: readonly string[];
  /** Flags for blockedPatterns. Default "iu": a blocklist is usually meant case-insensitively. */
  flags?: string;
  /** Config path named in errors. Default "ai.guards". */
  configPath?: string;
}

export type RequestGuard = (req: ChatCompletionRequest) => void;

/**
 * Builds the guard; options are checked here, once. The guard throws AiGuardError naming
 * the limit and the message index. Error messages never quote the matched text: it may be
 * the very secret the pattern is there to stop, and errors end up in logs.
 */
export function createRequestGuard(options: RequestGuardOptions = {}): RequestGuard {
  const path = options.configPath ?? 'ai.guards';
  const { maxMessages, maxChars } = options;
  checkLimit(maxMessages, `${path}.maxMessages`);
  checkLimit(maxChars, `${path}.maxChars`);
  const blocked = compileAll(options.blockedPatterns ?? [], options.flags ?? 'iu', `${path}.blockedPatterns`);

  return function requestGuard(req) {
    const messages = req.messages;
    if (maxMessages !== undefined && messages.length > maxMessages) {
      throw new AiGuardError(GH_AI_GUARD_MESSAGES, `The request has ${messages.length} messages; at most ${maxMessages} are allowed.`, {
        limit: 'maxMessages',
        max: maxMessages,
        actual: messages.length,
        messageIndex: maxMessages,
      });
    }
    let total = 0;
    for (const [i, m] of messages.entries()) {
      const texts = textsOf(m.content);
      for (const t of texts) total += t.length;
      if (maxChars !== undefined && total > maxChars) {
        throw new AiGuardError(GH_AI_GUARD_SIZE, `The messages carry more than ${maxChars} characters of text (limit reached at message ${i}).`, {
          limit: 'maxChars',
          max: maxChars,
          messageIndex: i,
        });
      }
      for (const t of texts) {
        const p = blocked.findIndex((re) => re.test(t));
        if (p !== -1) {
          throw new AiGuardError(GH_AI_GUARD_BLOCKED, `Message ${i} matches blocked pattern ${p}.`, {
            limit: 'blockedPatterns',
            patternIndex: p,
            messageIndex: i,
          });
        }
      }
    }
  };
}

function textsOf(content: string | ContentPart[] | TextContentPart[] | null | undefined): string[] {
  if (content == null) return [];
  if (typeof content === 'string') return [content];
  return (content as ContentPart[]).filter((p): p is TextContentPart => p.type === 'text').map((p) => p.text);
}

function checkLimit(value: number | undefined, field: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${field} must be an integer ≥ 0, got ${String(value)}`);
  }
}

function compileAll(sources: readonly string[], flags: string, field: string): RegExp[] {
  return sources.map((source, i) => {
    try {
      // No "g": test() on a global regex is stateful (lastIndex).
      return new RegExp(source, flags.replace('g', ''));
    } catch (err) {
      throw new GatehouseError('GH_CONFIG_INVALID', `${field}[${i}] is not a valid regular expression: ${(err as Error).message}`, { cause: err });
    }
  });
}

// ---------------------------------------------------------------------------
// Redactor
// ---------------------------------------------------------------------------

export interface RedactorOptions {
  /** Regular-expression sources; every match is replaced. */
  patterns: readonly string[];
  /** Default "[REDACTED]". Inserted literally (no `$&` expansion). */
  replacement?: string;
  /**
   * Longest match the stream form guarantees to catch across chunk boundaries, and so the
   * most characters it ever holds back. Default 256.
   */
  maxMatchLength?: number;
  /** Flags for the patterns (besides "g", added here). Default "u". */
  flags?: string;
  /** Config path named in errors. Default "ai.redact". */
  configPath?: string;
  /** Config path of the patterns list, named in errors about one of them. Default `<configPath>.patterns`. */
  patternsPath?: string;
}

export interface RedactorStream {
  /** Feed the next delta; returns the text now safe to send (possibly ""). */
  push(delta: string): string;
  /** End of stream: returns everything still held, redacted. */
  flush(): string;
}

export interface Redactor {
  text(s: string): string;
  stream(): RedactorStream;
}

/**
 * Builds a redactor; patterns are compiled once and joined into one alternation, so
 * overlapping patterns resolve like a single regex (leftmost match, first alternative).
 *
 * Streams. A secret may arrive as "sk-ab" + "c123". The stream form keeps a buffer and, on
 * each push, releases the longest head that cannot take part in a match, redacted:
 * - from each pattern we derive a second regex, its *prefix language* (every string that
 *   can be extended into a match), by rewriting the pattern's syntax tree: `ab` → `a?`…,
 *   `x{2,5}` → `x{0,4}x?`, and so on;
 * - the earliest position p (within the last maxMatchLength characters) whose whole suffix
 *   is in a prefix language is where the hold-back starts; matches wholly before p are final
 *   and are redacted, and the text before p is released;
 * - the derivation only ever over-approximates (lookarounds, `\b`, `^`, `$` become "always
 *   true", back-references "any text"), so it may hold a little too much, never too little;
 *   a pattern it cannot parse is treated as "anything may start here" and holds back the
 *   full maxMatchLength.
 * So text that cannot begin a match goes out on the push that brought it ("hello " with
 * pattern `sk-\w+` is released whole), and text that might ("…sk-") waits.
 *
 * Limits: a match longer than maxMatchLength that spans a boundary is not caught (its head
 * was released); lookbehind, `\b` and `^` see only the text since the last release, so
 * context-dependent patterns can differ at boundaries from `text()` on the whole string;
 * the `m` and `y` flags are not supported.
 */
export function createRedactor(options: RedactorOptions): Redactor {
  const path = options.configPath ?? 'ai.redact';
  const replacement = options.replacement ?? '[REDACTED]';
  const maxMatchLength = options.maxMatchLength ?? 256;
  const flags = (options.flags ?? 'u').replace(/[gmy]/g, '');
  if (!Number.isInteger(maxMatchLength) || maxMatchLength < 1) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${path}.maxMatchLength must be an integer ≥ 1, got ${String(maxMatchLength)}`);
  }
  const patternsPath = options.patternsPath ?? `${path}.patterns`;
  const compiled = compileAll(options.patterns, flags, patternsPath);
  compiled.forEach((re, i) => {
    // A pattern matching "" would insert the replacement between every character.
    if (re.test('')) throw new GatehouseError('GH_CONFIG_INVALID', `${patternsPath}[${i}] matches the empty string`);
  });

  if (compiled.length === 0) {
    return { text: (s) => s, stream: () => ({ push: (d) => d, flush: () => '' }) };
  }

  // Each pattern in its own group, so its flags apply the same and its `|` stays inside.
  const all = new RegExp(compiled.map((re) => `(?:${re.source})`).join('|'), `${flags}g`);
  // A pattern we cannot analyse may start anywhere: its prefix language is "any text".
  const prefixes = compiled.map((re) => prefixSource(re.source, flags) ?? '[\\s\\S]*');
  // `$` without "m" is end of input: a search finds the leftmost p whose suffix is a viable prefix.
  const viableTail = new RegExp(`(?:${prefixes.join('|')})$`, flags);

  const text = (s: string): string => s.replace(all, () => replacement);

  const stream = (): RedactorStream => {
    let pending = '';
    return {
      push(delta) {
        pending += delta;
        // Hold back from the earliest p in the window whose suffix could still grow into a match.
        const windowStart = Math.max(0, pending.length - maxMatchLength);
        const tail = viableTail.exec(pending.slice(windowStart));
        const hold = tail === null ? pending.length : windowStart + tail.index;
        // Matches starting before `hold` are final (see the doc comment); redact and release them.
        let out = '';
        let last = 0;
        all.lastIndex = 0;
        for (let m = all.exec(pending); m !== null && m.index < hold; m = all.exec(pending)) {
          if (m[0].length === 0) {
            all.lastIndex++;
            continue;
          }
          out += pending.slice(last, m.index) + replacement;
          last = m.index + m[0].length;
        }
        const release = Math.max(hold, last);
        out += pending.slice(last, release);
        pending = pending.slice(release);
        return out;
      },
      flush() {
        const out = text(pending);
        pending = '';
        return out;
      },
    };
  };

  return { text, stream };
}

/**
 * Redacts the assistant's text in a ChatCompletion: message content, refusal, and every
 * string inside tool-call arguments (parsed, so the arguments stay valid JSON; arguments
 * that are not JSON are redacted as text). Returns a copy.
 */
export function redactJson(value: ChatCompletion, redactor: Redactor): ChatCompletion {
  return {
    ...value,
    choices: value.choices.map((c) => ({
      ...c,
      message: {
        ...c.message,
        content: c.message.content === null ? null : redactor.text(c.message.content),
        refusal: c.message.refusal === null ? null : redactor.text(c.message.refusal),
        ...(c.message.tool_calls
          ? { tool_calls: c.message.tool_calls.map((tc) => ({ ...tc, function: { ...tc.function, arguments: redactArguments(tc.function.arguments, redactor) } })) }
          : {}),
      },
    })),
  };
}

/**
 * A streamed answer through the redactor: content deltas and each tool call's
 * argument deltas, each through a stream of its own (a secret split across
 * chunks is held back until it can be judged). `chunk` returns what may go out
 * now for one upstream chunk (held text first, when it ends a choice); `end`
 * what is still held when the stream ends without a finish, as chunks like `last`.
 */
export function redactStream(redactor: Redactor): { chunk(c: ChatCompletionChunk): ChatCompletionChunk[]; end(last: Pick<ChatCompletionChunk, 'id' | 'object' | 'created' | 'model'>): ChatCompletionChunk[] } {
  const content = redactor.stream();
  const args = new Map<number, RedactorStream>();
  /** What is held, as delta chunks shaped like `base`; the held streams are emptied. */
  const flushed = (base: Pick<ChatCompletionChunk, 'id' | 'object' | 'created' | 'model'>): ChatCompletionChunk[] => {
    const out: ChatCompletionChunk[] = [];
    const rest = content.flush();
    if (rest !== '') out.push({ ...base, choices: [{ index: 0, delta: { content: rest }, finish_reason: null }] });
    for (const [index, held] of args) {
      const tail = held.flush();
      if (tail !== '') out.push({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: tail } }] }, finish_reason: null }] });
    }
    args.clear();
    return out;
  };
  return {
    chunk(c) {
      const choice = c.choices[0];
      if (choice === undefined) return [c];
      const out = choice.finish_reason ? flushed(c) : [];
      let delta = choice.delta;
      if (typeof delta.content === 'string' && delta.content !== '') delta = { ...delta, content: content.push(delta.content) };
      if (delta.tool_calls !== undefined) {
        delta = {
          ...delta,
          tool_calls: delta.tool_calls.map((tc) => {
            const text = tc.function?.arguments;
            if (typeof text !== 'string' || text === '') return tc;
            let held = args.get(tc.index);
            if (held === undefined) args.set(tc.index, (held = redactor.stream()));
            return { ...tc, function: { ...tc.function, arguments: held.push(text) } };
          }),
        };
      }
      // A delta left with nothing to say (its text all held back) is not sent.
      const empty = delta.content === '' && delta.tool_calls === undefined && delta.role === undefined && !choice.finish_reason;
      if (!empty) out.push(delta === choice.delta ? c : { ...c, choices: [{ ...choice, delta }] });
      return out;
    },
    end: flushed,
  };
}

function redactArguments(args: string, redactor: Redactor): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    return redactor.text(args);
  }
  return JSON.stringify(redactStrings(parsed, redactor, 0));
}

/** Every string in a JSON value (keys included: a secret can be a key), redacted. */
export function redactStrings(value: unknown, redactor: Redactor, depth = 0): unknown {
  if (typeof value === 'string') return redactor.text(value);
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redactor, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[redactor.text(k)] = redactStrings(v, redactor, depth + 1);
  return out;
}

// ---------------------------------------------------------------------------
// Prefix language of a regular expression
// ---------------------------------------------------------------------------

/**
 * A regex source whose language contains every prefix of every match of `source` (and,
 * harmlessly, some more), or undefined if the syntax is beyond this small parser.
 * Exported for tests.
 */
export function prefixSource(source: string, flags: string): string | undefined {
  try {
    const parser = new RegexParser(source, flags.includes('u'));
    const node = parser.parseAlternation();
    if (parser.i !== source.length) return undefined;
    const prefix = prefixOf(node);
    new RegExp(prefix, flags); // the rewrite must itself compile
    return prefix;
  } catch {
    return undefined;
  }
}

type Node =
  | { kind: 'atom'; src: string }
  | { kind: 'empty' }
  | { kind: 'any' }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; node: Node; min: number; max: number };

/** Over-approximated full language. */
function fullOf(n: Node): string {
  switch (n.kind) {
    case 'atom':
      return n.src;
    case 'empty':
      return '';
    case 'any':
      return '[\\s\\S]*';
    case 'seq':
      return n.items.map(fullOf).join('');
    case 'alt':
      return `(?:${n.options.map(fullOf).join('|')})`;
    case 'repeat':
      return `(?:${fullOf(n.node)}){${n.min},${n.max === Infinity ? '' : n.max}}`;
  }
}

/** Prefix language: always contains "". */
function prefixOf(n: Node): string {
  switch (n.kind) {
    case 'atom':
      return `(?:${n.src})?`;
    case 'empty':
      return '';
    case 'any':
      return '[\\s\\S]*';
    case 'seq': {
      // P(x1 x2 … xn) = P(x1) | F(x1) P(x2 … xn)
      let p = '';
      for (let k = n.items.length - 1; k >= 0; k--) {
        const item = n.items[k] as Node;
        p = k === n.items.length - 1 ? prefixOf(item) : `(?:${prefixOf(item)}|${fullOf(item)}${p})`;
      }
      return p;
    }
    case 'alt':
      return `(?:${n.options.map(prefixOf).join('|')})`;
    case 'repeat': {
      if (n.max === 0) return '';
      // Some whole repetitions, then a prefix of one more.
      const whole = n.max === Infinity ? '*' : `{0,${n.max - 1}}`;
      return `(?:${fullOf(n.node)})${whole}${prefixOf(n.node)}`;
    }
  }
}

class RegexParser {
  i = 0;
  constructor(
    private readonly s: string,
    private readonly unicode: boolean,
  ) {}

  parseAlternation(): Node {
    const options = [this.parseSequence()];
    while (this.s[this.i] === '|') {
      this.i++;
      options.push(this.parseSequence());
    }
    return options.length === 1 ? (options[0] as Node) : { kind: 'alt', options };
  }

  private parseSequence(): Node {
    const items: Node[] = [];
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const atom = this.parseAtom();
      items.push(this.parseQuantifier(atom));
    }
    return { kind: 'seq', items };
  }

  private parseAtom(): Node {
    const s = this.s;
    const c = s[this.i] as string;
    if (c === '(') {
      let zeroWidth = false;
      if (s.startsWith('(?:', this.i)) this.i += 3;
      else if (s.startsWith('(?=', this.i) || s.startsWith('(?!', this.i)) {
        this.i += 3;
        zeroWidth = true;
      } else if (s.startsWith('(?<=', this.i) || s.startsWith('(?<!', this.i)) {
        this.i += 4;
        zeroWidth = true;
      } else if (s.startsWith('(?<', this.i)) {
        const end = s.indexOf('>', this.i);
        if (end === -1) throw new Error('bad group name');
        this.i = end + 1;
      } else if (s.startsWith('(?', this.i)) throw new Error('unsupported group');
      else this.i++;
      const inner = this.parseAlternation();
      if (s[this.i] !== ')') throw new Error('unclosed group');
      this.i++;
      // Lookarounds restrict matches; ignoring them only widens the language (safe).
      return zeroWidth ? { kind: 'empty' } : inner;
    }
    if (c === '[') {
      const start = this.i;
      this.i++;
      if (s[this.i] === '^') this.i++;
      if (s[this.i] === ']') this.i++; // "[]]" outside u-mode: a literal "]"
      while (this.i < s.length && s[this.i] !== ']') this.i += s[this.i] === '\\' ? 2 : 1;
      if (this.i >= s.length) throw new Error('unclosed class');
      this.i++;
      return { kind: 'atom', src: s.slice(start, this.i) };
    }
    if (c === '^' || c === '$') {
      this.i++;
      return { kind: 'empty' };
    }
    if (c === '\\') return this.parseEscape();
    if (c === '*' || c === '+' || c === '?') throw new Error('nothing to repeat');
    // One character; in u-mode a surrogate pair is one character.
    const cp = this.unicode ? (s.codePointAt(this.i) as number) : s.charCodeAt(this.i);
    const len = cp > 0xffff ? 2 : 1;
    const src = s.slice(this.i, this.i + len);
    this.i += len;
    return { kind: 'atom', src };
  }

  private parseEscape(): Node {
    const s = this.s;
    const start = this.i;
    const e = s[this.i + 1];
    if (e === undefined) throw new Error('trailing backslash');
    this.i += 2;
    if (e === 'b' || e === 'B') return { kind: 'empty' };
    if (/[1-9]/.test(e)) {
      while (/[0-9]/.test(s[this.i] ?? '')) this.i++;
      return { kind: 'any' };
    }
    if (e === 'k' && s[this.i] === '<') {
      const end = s.indexOf('>', this.i);
      if (end === -1) throw new Error('bad backreference');
      this.i = end + 1;
      return { kind: 'any' };
    }
    if (e === 'x') this.i += 2;
    else if (e === 'c') this.i += 1;
    else if (e === 'u') {
      if (s[this.i] === '{') this.i = s.indexOf('}', this.i) + 1;
      else this.i += 4;
    } else if ((e === 'p' || e === 'P') && s[this.i] === '{') this.i = s.indexOf('}', this.i) + 1;
    if (this.i <= start) throw new Error('bad escape');
    return { kind: 'atom', src: s.slice(start, this.i) };
  }

  private parseQuantifier(node: Node): Node {
    const s = this.s;
    let min: number;
    let max: number;
    const c = s[this.i];
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.i));
      if (m === null) {
        if (this.unicode) throw new Error('bad quantifier');
        return node; // a literal "{" outside u-mode is parsed as the next atom
      }
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.i += m[0].length - 1;
    } else return node;
    this.i++;
    if (s[this.i] === '?') this.i++; // lazy: same language
    if (node.kind === 'empty') return node;
    return { kind: 'repeat', node, min, max };
  }
}
