import { ANONYMOUS, NEVER_CANCELLED, type CallContext } from '../../src/call/context.js';
import { silentLogger } from '../../src/log/logger.js';

/** A call's context for in-process tests of the chain and its stages: a tool call unless `over` says otherwise. */
export function callContext(over: Partial<CallContext> = {}): CallContext {
  return {
    kind: 'tool',
    target: 'shop_list',
    backend: 'shop',
    method: 'GET',
    readOnly: true,
    principal: ANONYMOUS,
    args: {},
    requestId: 'r1',
    log: silentLogger(),
    signal: NEVER_CANCELLED,
    startedAt: Date.now(),
    started: performance.now(),
    outcome: {},
    ...over,
  };
}

/** A model call's context for `model`, routed to `route`. */
export function modelContext(model: string, over: Partial<CallContext> = {}): CallContext {
  return callContext({ kind: 'model', target: model, backend: 'main', method: '', readOnly: false, ...over });
}
