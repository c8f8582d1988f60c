/**
 * What `when:` conditions read (conditions/cel.ts): the principal and the call,
 * as plain values. Built once per call, on the first condition that asks
 * (most calls meet none), and kept on the call's context.
 */
import type { CallContext, Principal } from '../call/context.js';
import type { ConditionInput } from './cel.js';

const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});

/** The principal as conditions see it: every field present (lists empty, strings '' when unknown). */
export function principalInput(p: Principal): ConditionInput['principal'] {
  return { id: p.id, kind: p.kind, scopes: p.scopes ?? NO_STRINGS, groups: p.groups ?? NO_STRINGS, client: p.client ?? '', claims: p.claims ?? NO_CLAIMS };
}

/** What a call is about, as conditions and authorisation rules see it. */
export interface CallFacts {
  kind: 'tool' | 'model';
  name: string;
  backend?: string;
  method?: string;
  readOnly?: boolean;
}

export function conditionInputFor(principal: Principal, call: CallFacts): ConditionInput {
  const tool = call.kind === 'tool';
  return {
    principal: principalInput(principal),
    call: { kind: call.kind, target: call.name, backend: call.backend ?? '', tool: tool ? call.name : '', model: tool ? '' : call.name, method: call.method ?? '', readOnly: call.readOnly ?? false },
  };
}

/** The condition input of a call, made once and kept on its context. */
export function conditionInputOf(ctx: CallContext): ConditionInput {
  return (ctx.conditionInput ??= conditionInputFor(ctx.principal, { kind: ctx.kind, name: ctx.target, backend: ctx.backend, method: ctx.method, readOnly: ctx.readOnly })) as ConditionInput;
}
