import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

/** The hot-path series must read exactly as prom-client's own Counter and Histogram would. */
describe('metrics exposition', () => {
  it('counts calls and renders cumulative histogram buckets, _sum and _count', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.call({ kind: 'tool', backend: 'b', target: 'b_get', outcome: 'ok', seconds: 0.002 });
    m.call({ kind: 'tool', backend: 'b', target: 'b_get', outcome: 'ok', seconds: 0.02 });
    m.call({ kind: 'tool', backend: 'b', target: 'b_get', outcome: 'ok', seconds: 60 });
    m.call({ kind: 'tool', backend: 'b', target: 'b_put', outcome: 'denied', seconds: 0.0001 });
    m.backendResponse('b', 200, 0.001);
    const { body, contentType } = await m.render();
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toContain('# TYPE gatehouse_calls_total counter');
    expect(body).toContain('gatehouse_calls_total{kind="tool",backend="b",target="b_get",outcome="ok"} 3');
    expect(body).toContain('gatehouse_calls_total{kind="tool",backend="b",target="b_put",outcome="denied"} 1');
    expect(body).toContain('# TYPE gatehouse_call_duration_seconds histogram');
    const ok = '{le="%",kind="tool",backend="b",outcome="ok"}';
    expect(body).toContain(`gatehouse_call_duration_seconds_bucket${ok.replace('%', '0.001')} 0`);
    expect(body).toContain(`gatehouse_call_duration_seconds_bucket${ok.replace('%', '0.0025')} 1`);
    expect(body).toContain(`gatehouse_call_duration_seconds_bucket${ok.replace('%', '0.025')} 2`);
    expect(body).toContain(`gatehouse_call_duration_seconds_bucket${ok.replace('%', '30')} 2`);
    expect(body).toContain(`gatehouse_call_duration_seconds_bucket${ok.replace('%', '+Inf')} 3`);
    expect(body).toContain('gatehouse_call_duration_seconds_sum{kind="tool",backend="b",outcome="ok"} 60.022');
    expect(body).toContain('gatehouse_call_duration_seconds_count{kind="tool",backend="b",outcome="ok"} 3');
    expect(body).toContain('gatehouse_backend_responses_total{backend="b",status="200"} 1');
    expect(body).toContain('gatehouse_backend_request_duration_seconds_count{backend="b"} 1');
  });

  it('adds LLM tokens and cost per model, a cached or cost series only once it is non-zero', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.llm({ model: 'gpt-4o', promptTokens: 12, completionTokens: 6, cachedTokens: 0, costUsd: 0 });
    let { body } = await m.render();
    expect(body).toContain('gatehouse_llm_tokens_total{model="gpt-4o",type="prompt"} 12');
    expect(body).not.toContain('type="cached"');
    expect(body).not.toContain('gatehouse_llm_cost_usd_total{');
    m.llm({ model: 'gpt-4o', promptTokens: 10, completionTokens: 4, cachedTokens: 3, costUsd: 0.0015 });
    ({ body } = await m.render());
    expect(body).toContain('# TYPE gatehouse_llm_tokens_total counter');
    expect(body).toContain('gatehouse_llm_tokens_total{model="gpt-4o",type="prompt"} 22');
    expect(body).toContain('gatehouse_llm_tokens_total{model="gpt-4o",type="completion"} 10');
    expect(body).toContain('gatehouse_llm_tokens_total{model="gpt-4o",type="cached"} 3');
    expect(body).toContain('gatehouse_llm_cost_usd_total{model="gpt-4o"} 0.0015');
  });
});
