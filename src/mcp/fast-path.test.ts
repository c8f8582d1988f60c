import { describe, expect, it } from 'vitest';
import { planFastPath } from './fast-path.js';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 't' };
const GOOD = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
const body = (meta: Record<string, unknown>) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't', arguments: {}, _meta: meta } });

describe('planFastPath: the envelope verdicts it remembers', () => {
  it('gives each envelope its own verdict, whatever envelope came before it', () => {
    const bad = [
      { ...GOOD, 'io.modelcontextprotocol/clientInfo': 5 },
      { ...GOOD, 'io.modelcontextprotocol/clientInfo': { name: 'c' } },
      { ...GOOD, 'io.modelcontextprotocol/protocolVersion': '2025-11-25' },
      { ...GOOD, 'io.modelcontextprotocol/clientCapabilities': [] },
    ];
    const verdicts = () => [GOOD, ...bad, GOOD, { ...GOOD }].map((meta) => planFastPath(HEADERS, body(structuredClone(meta)))?.era);
    const expected = ['modern', undefined, undefined, undefined, undefined, 'modern', 'modern'];
    expect(verdicts()).toEqual(expected);
    expect(verdicts()).toEqual(expected);
  });

  it('is not misled by a remembered request object changed after its call', () => {
    // An envelope not seen before, so that this request's is the one remembered.
    const meta = { ...structuredClone(GOOD), 'io.modelcontextprotocol/clientInfo': { name: 'another', version: '2' } } as Record<string, unknown>;
    expect(planFastPath(HEADERS, body(meta))?.era).toBe('modern');
    meta['io.modelcontextprotocol/clientInfo'] = 5;
    expect(planFastPath(HEADERS, body(structuredClone(meta)))).toBeUndefined();
  });
});
