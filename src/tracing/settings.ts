/**
 * Whether tracing is on, and how it exports: read from `telemetry.tracing`
 * and the standard OTEL_* variables. No OpenTelemetry module is loaded here:
 * with tracing off, none is ever loaded (see server/call-services.ts).
 */
import type { TracingConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];

export interface TracingSettings {
  protocol: OtlpProtocol;
  /** The exporter's URL (http: the traces URL); absent: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT. */
  url?: string;
  /** Absent: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS. */
  headers?: Record<string, string>;
  /** Absent: the provider reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. */
  sampleRatio?: number;
  /** Absent: OTEL_SERVICE_NAME (read with OTEL_RESOURCE_ATTRIBUTES), else `gatehouse`. */
  serviceName?: string;
}

/**
 * The tracing settings, or undefined when tracing is off: it is on with a
 * `telemetry.tracing` section, or with none when OTEL_TRACES_EXPORTER names
 * `otlp` (the variables alone, as every OpenTelemetry SDK takes them).
 * OTEL_SDK_DISABLED=true turns it off either way, as the spec says.
 */
export function tracingSettings(config: TracingConfig | undefined, env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((e) => e.trim().toLowerCase());
  if (config === undefined && !exporters.includes('otlp')) return undefined;
  const protocol = config?.protocol ?? envProtocol(env);
  const settings: TracingSettings = { protocol };
  if (config?.endpoint !== undefined) settings.url = protocol === 'grpc' ? config.endpoint : `${config.endpoint.replace(/\/+$/, '')}/v1/traces`;
  if (config?.headers !== undefined) settings.headers = config.headers;
  if (config?.sampleRatio !== undefined) settings.sampleRatio = config.sampleRatio;
  if (config?.serviceName !== undefined) settings.serviceName = config.serviceName;
  return settings;
}

function envProtocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const) {
    const value = env[name]?.trim();
    if (value === undefined || value === '') continue;
    if (!(PROTOCOLS as readonly string[]).includes(value)) {
      throw new GatehouseError('GH_CONFIG_INVALID', `${name}: "${value}" is not an OTLP protocol; use one of ${PROTOCOLS.join(', ')}`, { details: { field: name } });
    }
    return value as OtlpProtocol;
  }
  return 'http/protobuf';
}
