import { pino, destination, type Logger, type DestinationStream } from 'pino';

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

/**
 * The one root logger. `stream` defaults to stdout; stdio mode passes stderr
 * so that stdout carries only MCP messages.
 */
export function createLogger(options: { level?: string; stream?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: 'gatehouse',
      level: options.level ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: undefined,
    },
    options.stream ?? destination({ fd: 1, sync: false }),
  );
}

/** A logger that drops everything (tests, `gatehouse tools`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
