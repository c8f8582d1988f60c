import { GatehouseError } from '../../errors/catalogue.js';
import type { CallContext, Middleware } from '../../call/context.js';
import { createRequestGuard, type RequestGuard } from '../../ai/policy/guards.js';
import type { ChatCompletionRequest } from '../../ai/openai-types.js';
import type { Condition } from '../../conditions/cel.js';
import { conditionInputOf } from '../../conditions/input.js';

export interface GuardOptions {
  maxMessages?: number;
  maxChars?: number;
  blockedPatterns?: readonly string[];
  /** The instance's condition; absent: every call. */
  when?: Condition;
  /** Only model calls (`ai.guards`, which has always guarded prompts alone). */
  modelsOnly?: boolean;
  /** Config path named in errors, e.g. `policies[3].guard`. */
  configPath: string;
}

/**
 * `guard`: content checks on a call's input. A model call's messages (how
 * many, how much text, blocked patterns: ai/policy/guards.ts); a tool call's
 * string arguments, at any depth (how much text, blocked patterns — the same
 * patterns, so one guard keeps a secret out of prompts and tool calls alike).
 * Messages never quote what matched: it may be the secret the pattern stops.
 */
export function guardStage(options: GuardOptions): Middleware {
  const model: RequestGuard = createRequestGuard({
    ...(options.maxMessages !== undefined ? { maxMessages: options.maxMessages } : {}),
    ...(options.maxChars !== undefined ? { maxChars: options.maxChars } : {}),
    ...(options.blockedPatterns !== undefined ? { blockedPatterns: options.blockedPatterns } : {}),
    configPath: options.configPath,
  });
  // The same sources and flags as the request guard (case-insensitive), compiled once.
  const blocked = (options.blockedPatterns ?? []).map((source) => new RegExp(source, 'iu'));
  const { maxChars, when, modelsOnly } = options;
  const tool = (ctx: CallContext): void => {
    let chars = 0;
    forEachString(ctx.args, '', (value, path) => {
      chars += value.length;
      if (maxChars !== undefined && chars > maxChars) {
        throw new GatehouseError('GH_TOOL_GUARD_SIZE', `The arguments of ${ctx.target} carry more than ${maxChars} characters of text (limit reached at ${path}).`, {
          details: { limit: 'maxChars', max: maxChars, path },
        });
      }
      const p = blocked.findIndex((re) => re.test(value));
      if (p !== -1) {
        throw new GatehouseError('GH_TOOL_GUARD_BLOCKED', `Argument ${path} of ${ctx.target} matches blocked pattern ${p}.`, { details: { limit: 'blockedPatterns', patternIndex: p, path } });
      }
    });
  };
  return async function guard(ctx, next) {
    if ((modelsOnly !== true || ctx.kind === 'model') && (when === undefined || when(conditionInputOf(ctx)))) {
      if (ctx.kind === 'model') model(ctx.request as ChatCompletionRequest);
      else tool(ctx);
    }
    return next();
  };
}

/**
 * Every string in a tool's arguments with its path (`query`, `items[2].name`).
 * The arguments are bounded before the chain runs (mcp.arguments), so the
 * walk is too.
 */
function forEachString(value: unknown, path: string, visit: (value: string, path: string) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => forEachString(v, `${path}[${i}]`, visit));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) forEachString(v, path === '' ? k : `${path}.${k}`, visit);
}
