/**
 * Prometheus metrics (prom-client), on a registry of the gateway's own so two
 * gateways in one process (tests) never share counters.
 *
 * Names and labels follow the Prometheus conventions: `gatehouse_` prefix,
 * base units (seconds, bytes), `_total` for counters, enum states as a label
 * with 0/1 values. Cardinality is bounded by construction: `backend` and
 * `tool` come from the configuration and the imported specs (never from what
 * a caller sends: an unknown tool is refused before it is counted), a model
 * `target` and `model` from `ai.routes` (ai/endpoint.ts maps any other
 * requested model to one value), `rule` from the configuration, `outcome` and
 * `code` from fixed sets, and `status` is the backend's HTTP status code
 * (three digits).
 * Latency histograms carry no `tool` label (buckets × thousands of tools would
 * not be bounded in practice); the per-tool view is the counter.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** Seconds: 1 ms … 30 s, for calls through the gateway and to backends. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type CircuitState = 'closed' | 'half-open' | 'open';
const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'half-open', 'open'];

export interface CallObservation {
  kind: 'tool' | 'model';
  backend: string;
  /** Tool or model name; '' when the call never named one (refused at the edge). */
  target: string;
  outcome: string;
  seconds: number;
}

export interface AuditQueueStats {
  queued: number;
  dropped: number;
  written: number;
  failures: number;
  storeHealthy: boolean;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** One finished call (allowed or refused). */
  call(o: CallObservation): void;
  /** One backend response (`status` 0: no response — connect error, timeout). */
  backendResponse(backend: string, status: number, seconds: number): void;
  rateLimited(rule: string): void;
  circuit(backend: string, state: CircuitState): void;
  /** A store (redis, audit) failed an operation. */
  storeError(store: 'redis' | 'audit'): void;
  /** A request refused by authentication, by error code. */
  authFailure(code: string): void;
  /** One LLM call's tokens, cost and time to first token (ai-proxy). */
  llm(o: { model: string; promptTokens: number; completionTokens: number; cachedTokens: number; costUsd: number; ttftSeconds?: number }): void;
  /** Where the audit queue's depth and health come from (read at scrape time). */
  auditStats(source: () => AuditQueueStats): void;
  auditWritten(records: number): void;
  auditDropped(records: number): void;
  auditFailure(): void;
  /** Calls in flight per backend, read at scrape time. */
  inFlight(source: () => ReadonlyMap<string, number>): void;
  /** One configuration reload: applied (`ok`), refused (`invalid`), or applied but some backends kept their previous version (`partial`). */
  configReload(result: 'ok' | 'invalid' | 'partial'): void;
  /** A backend whose import failed (`source`: file reload, admin API, a change from the fleet); its previous version, if any, still serves. */
  backendImportFailed(backend: string, source: 'file' | 'admin' | 'fleet'): void;
  /** A reload removed this backend: its per-backend gauges go (its counters stay, as counters do). */
  forgetBackend(backend: string): void;
  /** The text exposition format. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  // The four metrics every call updates are hot-path series (see HotSeries below).
  const calls = new HotMetric(
    registry,
    'gatehouse_calls_total',
    'Tool and model calls by backend, target and outcome (ok, error, denied, limited, invalid, unavailable, cancelled, unauthenticated).',
    'counter',
  );
  const callSeconds = new HotMetric(
    registry,
    'gatehouse_call_duration_seconds',
    'Time from a call reaching the pipeline to its result, gateway work and backend included.',
    'histogram',
  );
  const backendSeconds = new HotMetric(
    registry,
    'gatehouse_backend_request_duration_seconds',
    'Time a backend took to answer (headers and body), as seen by the gateway.',
    'histogram',
  );
  const backendResponses = new HotMetric(
    registry,
    'gatehouse_backend_responses_total',
    'Backend responses by HTTP status code (0: no response — connection error or timeout).',
    'counter',
  );
  // Updated by every LLM call: hot-path series too, kept per model.
  const tokens = new HotMetric(
    registry,
    'gatehouse_llm_tokens_total',
    'Tokens of LLM calls through the ai-proxy, by requested model and type (prompt, completion, cached: the part of prompt read from a cache).',
    'counter',
  );
  const cost = new HotMetric(registry, 'gatehouse_llm_cost_usd_total', 'What LLM calls cost, in USD, by requested model (from the price table).', 'counter');
  const llmSeries = new Map<string, { prompt: HotSeries; completion: HotSeries; cached: HotSeries | undefined; cost: HotSeries | undefined }>();
  const ttft = new HotMetric(registry, 'gatehouse_llm_time_to_first_token_seconds', 'Streams: time from the request to the first content sent to the client.', 'histogram');
  const ttftSeries = new Map<string, HotSeries>();
  const limited = new Counter({
    name: 'gatehouse_rate_limited_total',
    help: 'Calls refused by a rate-limit rule.',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const circuitState = new Gauge({
    name: 'gatehouse_circuit_breaker_state',
    help: 'Circuit breaker state per backend: 1 for the current state (closed, half-open, open), 0 for the others.',
    labelNames: ['backend', 'state'] as const,
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'gatehouse_store_errors_total',
    help: 'Failed operations against an external store (redis: rate limits; audit: the audit store).',
    labelNames: ['store'] as const,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'gatehouse_auth_failures_total',
    help: 'Requests refused by authentication, by error code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });

  let audit: (() => AuditQueueStats) | undefined;
  const auditGauge = (name: string, help: string, read: (s: AuditQueueStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (audit !== undefined) this.set(read(audit()));
      },
    });
  auditGauge('gatehouse_audit_queue_depth', 'Audit records waiting to be written.', (s) => s.queued);
  auditGauge('gatehouse_audit_store_up', '1 while the audit store accepts writes, 0 during an outage.', (s) => (s.storeHealthy ? 1 : 0));
  const auditWritten = new Counter({ name: 'gatehouse_audit_records_written_total', help: 'Audit records written to the store.', registers: [registry] });
  const auditDropped = new Counter({
    name: 'gatehouse_audit_records_dropped_total',
    help: 'Audit records lost because the queue was full or shutdown timed out. Should stay 0.',
    registers: [registry],
  });
  const auditFailures = new Counter({ name: 'gatehouse_audit_write_failures_total', help: 'Failed batch writes to the audit store (each retried).', registers: [registry] });

  let inFlightSource: (() => ReadonlyMap<string, number>) | undefined;
  new Gauge({
    name: 'gatehouse_backend_in_flight',
    help: 'Calls in flight per backend (the bulkhead limits it to backends[].maxConcurrent).',
    labelNames: ['backend'] as const,
    registers: [registry],
    collect() {
      if (inFlightSource === undefined) return;
      this.reset(); // a backend removed by a reload leaves no stale series
      for (const [backend, n] of inFlightSource()) this.set({ backend }, n);
    },
  });

  const reloads = new Counter({
    name: 'gatehouse_config_reloads_total',
    help: 'Configuration reloads by result: ok, invalid (the file was refused; nothing changed), partial (some backends kept their previous version).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const importFailures = new Counter({
    name: 'gatehouse_backend_import_failures_total',
    help: 'Backend imports that failed, by backend and what asked for them (file, admin, fleet); the previous version, if any, kept serving.',
    labelNames: ['backend', 'source'] as const,
    registers: [registry],
  });

  // One lookup per call for the series of its label set (their number is bounded, see above).
  const callSeries = new Map<string, { count: HotSeries; seconds: HotSeries }>();
  const backendSeries = new Map<string, { count: HotSeries; seconds: HotSeries }>();

  return {
    registry,
    call(o) {
      const key = `${o.kind}\0${o.backend}\0${o.target}\0${o.outcome}`;
      let series = callSeries.get(key);
      if (series === undefined) {
        series = {
          count: calls.series({ kind: o.kind, backend: o.backend, target: o.target, outcome: o.outcome }),
          seconds: callSeconds.series({ kind: o.kind, backend: o.backend, outcome: o.outcome }),
        };
        callSeries.set(key, series);
      }
      series.count.count++;
      series.seconds.observe(o.seconds);
    },
    backendResponse(backend, status, seconds) {
      const key = `${backend}\0${status}`;
      let series = backendSeries.get(key);
      if (series === undefined) {
        series = { count: backendResponses.series({ backend, status: String(status) }), seconds: backendSeconds.series({ backend }) };
        backendSeries.set(key, series);
      }
      series.count.count++;
      series.seconds.observe(seconds);
    },
    llm(o) {
      let s = llmSeries.get(o.model);
      if (s === undefined) {
        s = { prompt: tokens.series({ model: o.model, type: 'prompt' }), completion: tokens.series({ model: o.model, type: 'completion' }), cached: undefined, cost: undefined };
        llmSeries.set(o.model, s);
      }
      s.prompt.count += o.promptTokens;
      s.completion.count += o.completionTokens;
      // Series that only some models have appear with their first non-zero value (as prom-client's inc() did).
      if (o.cachedTokens > 0) (s.cached ??= tokens.series({ model: o.model, type: 'cached' })).count += o.cachedTokens;
      if (o.costUsd > 0) (s.cost ??= cost.series({ model: o.model })).count += o.costUsd;
      if (o.ttftSeconds !== undefined) {
        let series = ttftSeries.get(o.model);
        if (series === undefined) ttftSeries.set(o.model, (series = ttft.series({ model: o.model })));
        series.observe(o.ttftSeconds);
      }
    },
    rateLimited: (rule) => limited.inc({ rule }),
    circuit(backend, state) {
      for (const s of CIRCUIT_STATES) circuitState.set({ backend, state: s }, s === state ? 1 : 0);
    },
    storeError: (store) => storeErrors.inc({ store }),
    authFailure: (code) => authFailures.inc({ code }),
    auditStats(source) {
      audit = source;
    },
    auditWritten: (n) => auditWritten.inc(n),
    auditDropped: (n) => auditDropped.inc(n),
    auditFailure: () => auditFailures.inc(),
    inFlight(source) {
      inFlightSource = source;
    },
    configReload: (result) => reloads.inc({ result }),
    backendImportFailed: (backend, source) => importFailures.inc({ backend, source }),
    forgetBackend(backend) {
      for (const state of CIRCUIT_STATES) circuitState.remove({ backend, state });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** One sample as prom-client's registry formats it. */
interface ExportedValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * One series (label set) of a hot-path counter or histogram: updating it is a
 * few field increments.
 */
export class HotSeries {
  /** Observations of a histogram; a counter's value (added to directly). */
  count = 0;
  sum = 0;
  /** Per-bucket (not cumulative) counts; the last one is +Inf. */
  readonly buckets: Float64Array;

  constructor(readonly labels: Readonly<Record<string, string>>) {
    this.buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  }

  observe(value: number): void {
    this.count++;
    this.sum += value;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && value > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]!++;
  }
}

/**
 * A counter or histogram for the metrics every call updates, registered with
 * prom-client as a custom metric (its `get()` gives the registry the same
 * values a prom-client Counter or Histogram would; the registry formats them).
 *
 * Why not prom-client's own: its `inc`/`observe` validate and hash the label
 * set on every call, about 1 µs each — four of them per call were a measurable
 * share of a forwarded call (docs/benchmarks.md, the policy pipeline). Here the
 * caller keeps the series of a label set and only increments fields.
 */
class HotMetric {
  readonly aggregator = 'sum' as const;
  private readonly all = new Map<string, HotSeries>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of a label set, created on first use. */
  series(labels: Record<string, string>): HotSeries {
    const key = JSON.stringify(labels);
    let s = this.all.get(key);
    if (s === undefined) {
      s = new HotSeries(labels);
      this.all.set(key, s);
    }
    return s;
  }

  get(): { name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const s of this.all.values()) {
      if (this.type === 'counter') {
        values.push({ labels: { ...s.labels }, value: s.count });
        continue;
      }
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}
