import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import type { AuditRecord } from './record.js';
import type { AuditSink } from './writer.js';

/**
 * Audit records as JSON lines, for log shippers. `stdout` must not be used in
 * stdio mode, where stdout carries MCP messages. A file is appended to and its
 * directory created.
 */
export function createJsonlSink(target: 'stdout' | string): AuditSink {
  const toStdout = target === 'stdout';
  let stream: Writable;
  if (toStdout) {
    stream = process.stdout;
  } else {
    mkdirSync(dirname(target), { recursive: true });
    stream = createWriteStream(target, { flags: 'a' });
  }
  let failure: Error | undefined;
  // Without a listener a write error (disk full, EPIPE) would crash the process.
  const onError = (err: Error) => {
    failure = err;
  };
  stream.on('error', onError);

  return {
    write(records) {
      if (failure) return Promise.reject(failure);
      if (records.length === 0) return undefined;
      const text = records.map((r: AuditRecord) => `${JSON.stringify(r)}\n`).join('');
      // Honour back-pressure: the writer waits, and its bounded queue absorbs the rest.
      if (stream.write(text)) return undefined;
      return new Promise<void>((resolve) => stream.once('drain', resolve));
    },
    async close() {
      if (toStdout) {
        stream.off('error', onError);
        return;
      }
      await new Promise<void>((resolve) => stream.end(resolve));
    },
  };
}
