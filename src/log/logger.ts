import { createRequire } from 'node:module';
import { pino, destination, type Logger, type DestinationStream } from 'pino';
import type { PrettyOptions } from 'pino-pretty';

export type { Logger };

/** Paths pino must never print (DESIGN.md decision 10). */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.password',
  '*.clientSecret',
  '*.token',
  '*.secretAccessKey',
  '*.sessionToken',
];

/** `pretty`: human lines (pino-pretty); `json`: one JSON object a line; `auto`: pretty on a terminal, else JSON. */
export type LogFormat = 'pretty' | 'json' | 'auto';
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json', 'auto'];

export interface LoggerOptions {
  level?: string;
  /** Where lines go: default stdout; stdio mode passes stderr so that stdout carries only MCP messages. */
  stream?: DestinationStream | NodeJS.WriteStream;
  /** Default `json` when a stream is given (tests, pipes), else `auto`. */
  format?: LogFormat;
}

/**
 * The one root logger. JSON is written by pino itself with nothing in between;
 * pretty output goes through pino-pretty, loaded only then (it is not on the
 * JSON path at all, so a gateway logging JSON pays nothing for it).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stdout;
  const format = options.format ?? (options.stream === undefined ? 'auto' : 'json');
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const pretty = format === 'pretty' || (format === 'auto' && tty);
  const fd = stream === process.stdout ? 1 : stream === process.stderr ? 2 : undefined;
  let out: DestinationStream;
  if (pretty) {
    // pino-pretty is CommonJS: required synchronously, so createLogger stays synchronous.
    const prettyStream = createRequire(import.meta.url)('pino-pretty') as (options: PrettyOptions) => DestinationStream;
    out = prettyStream({
      destination: fd ?? (stream as DestinationStream),
      colorize: tty,
      translateTime: 'SYS:HH:MM:ss.l',
      // The fields the message itself says (import and per-call lines); the rest, and errors, are printed below it.
      ignore: 'pid,hostname,name,backend,source,bytes,operations,tools,ms,waitingMs,requestId,kind,tool,model,principal,outcome,status,code,url',
      // A process exit must not lose the last lines (the CLI exits right after a fatal error).
      sync: true,
    });
  } else {
    out = fd !== undefined ? destination({ fd, sync: false }) : (stream as DestinationStream);
  }
  return pino(
    {
      name: 'gatehouse',
      level: options.level ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: undefined,
    },
    out,
  );
}

/** A logger that drops everything (tests, `gatehouse tools`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
