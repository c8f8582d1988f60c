// Placeholder until the CEL module lands (same API); replaced on merge.
import { GatehouseError } from '../errors/catalogue.js';

export interface ConditionInput {
  principal: { id: string; kind: string; scopes: readonly string[]; groups: readonly string[]; client: string; claims: Readonly<Record<string, unknown>> };
  call: { kind: 'tool' | 'model'; target: string; backend: string; tool: string; model: string; method: string; readOnly: boolean };
}
export type Condition = (input: ConditionInput) => boolean;
export function compileCondition(source: string, field: string, _options?: { onError?: 'match' | 'no-match' }): Condition {
  if (source === 'true') return () => true;
  if (source === 'false') return () => false;
  const m = /^'([^']*)' in principal\.groups$/.exec(source);
  if (m) return (i) => i.principal.groups.includes(m[1]!);
  const k = /^call\.kind == '(tool|model)'$/.exec(source);
  if (k) return (i) => i.call.kind === k[1];
  throw new GatehouseError('GH_CONFIG_INVALID', `${field}: unsupported`);
}
