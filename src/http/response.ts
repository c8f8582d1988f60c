/** Writing a whole answer at once: status, headers and a body whose length is known. */
import type { ServerResponse } from 'node:http';
import type { HttpAnswer } from '../errors/http.js';

/** Writes `answer` with its Content-Length; `connection` adds what the transport says about the connection (`close`). */
export function sendAnswer(res: ServerResponse, answer: HttpAnswer, connection?: Record<string, string>): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body), ...connection });
  res.end(answer.body);
}

/** A JSON answer. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendAnswer(res, { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
}
