import type { Middleware, Redactor } from '../../call/context.js';
import { createRedactor } from '../../ai/policy/guards.js';
import type { Condition } from '../../conditions/cel.js';
import { conditionInputOf } from '../../conditions/input.js';

export interface RedactInstance {
  patterns: readonly string[];
  when?: Condition;
  /** Only model calls (`ai.guards.redactPatterns`, which has always applied to answers alone). */
  modelsOnly?: boolean;
  /** The config path of the patterns list, named in errors: `policies[3].redact.patterns`, `ai.guards.redactPatterns`. */
  configPath: string;
}

/**
 * `redact`: hands the protocol a redactor for the call's answer — model
 * answers, streams included (a secret split across chunks is held back until
 * it can be judged), and tool results' text and structured content. The
 * protocol applies it where it writes the answer; this stage only decides
 * which patterns apply to this call. Several instances that apply at once
 * become one redactor over all their patterns, made once per combination.
 */
export function redactStage(instances: readonly RedactInstance[]): Middleware {
  const compiled = instances.map((r) => ({ ...r, redactor: createRedactor({ patterns: r.patterns, patternsPath: r.configPath }) }));
  const combined = new Map<string, Redactor>();
  return async function redact(ctx, next) {
    const applying = compiled.filter((r) => (r.modelsOnly !== true || ctx.kind === 'model') && (r.when === undefined || r.when(conditionInputOf(ctx))));
    if (applying.length === 1) ctx.redactor = applying[0]!.redactor;
    else if (applying.length > 1) {
      const key = applying.map((r) => r.configPath).join('\n');
      let r = combined.get(key);
      if (r === undefined) {
        r = createRedactor({ patterns: applying.flatMap((a) => a.patterns), patternsPath: applying[0]!.configPath });
        combined.set(key, r);
      }
      ctx.redactor = r;
    }
    return next();
  };
}
