import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Ollama on 127.0.0.1:0 speaking the native API as documented in ollama/ollama
 * docs/api.md and docs/api/{streaming,errors}.mdx: `POST /api/chat` answers one JSON object
 * (`stream: false`) or NDJSON (`application/x-ndjson`, the default), `POST /api/embed`
 * answers `{model, embeddings, prompt_eval_count}`, errors are `{"error": "..."}`.
 * Streams are written in several TCP writes that split lines mid-way, so clients must
 * reassemble lines.
 */

export interface FakeOllamaReceived {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (undefined when it did not parse). */
  body: unknown;
  raw: string;
}

/** What the next calls answer (until changed). */
export interface FakeOllamaScript {
  /** Content pieces: one NDJSON line each when streaming; joined when not. Default ["Hel", "lo", "!"]. */
  content?: string[];
  /** Tool calls as Ollama writes them (arguments are objects). Streamed on their own line. */
  toolCalls?: Array<{ id?: string; function: { index?: number; name: string; arguments: Record<string, unknown> } }>;
  /** `done_reason` on the final object. Default "stop"; null omits it (older Ollama). */
  doneReason?: string | null;
  promptEvalCount?: number;
  evalCount?: number;
  /** Answer this status and `{"error": message}` instead. */
  error?: { status: number; message: string };
  /** Streaming: after the content, send `{"error": ...}` and end (docs/api/errors.mdx). */
  midStreamError?: string;
  /** Streaming: stop before the done line — "end" finishes the HTTP body cleanly, "destroy" kills the socket. */
  cut?: 'end' | 'destroy';
  /** /api/embed vectors; default one 3-float vector per input. */
  embeddings?: number[][];
}

export interface FakeOllama {
  url: string;
  received: FakeOllamaReceived[];
  script(s: FakeOllamaScript): void;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startFakeOllama(): Promise<FakeOllama> {
  let script: FakeOllamaScript = {};
  const fake: FakeOllama = {
    url: '',
    received: [],
    script(s) {
      script = s;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const handle = async (req: FakeOllamaReceived, res: ServerResponse): Promise<void> => {
    const s = script;
    const body = (req.body ?? {}) as { model?: string; stream?: boolean; input?: string | string[] };
    const model = body.model ?? 'unknown';
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(value));
    };
    if (req.method !== 'POST' || (req.url !== '/api/chat' && req.url !== '/api/embed')) return json(404, { error: '404 page not found' });
    if (req.body === undefined) return json(400, { error: 'invalid character in request body' });
    if (s.error) return json(s.error.status, { error: s.error.message });

    if (req.url === '/api/embed') {
      const inputs = typeof body.input === 'string' ? [body.input] : (body.input ?? []);
      const embeddings = s.embeddings ?? inputs.map((_, i) => [0.1 * (i + 1), 0.2, -0.3]);
      return json(200, { model, embeddings, total_duration: 1_000_000, load_duration: 10_000, prompt_eval_count: s.promptEvalCount ?? 7 });
    }

    const content = s.content ?? ['Hel', 'lo', '!'];
    const createdAt = '2026-11-24T10:00:00.000000Z';
    const final = {
      model,
      created_at: createdAt,
      message: { role: 'assistant', content: '' },
      ...(s.doneReason === null ? {} : { done_reason: s.doneReason ?? 'stop' }),
      done: true,
      total_duration: 4_883_583_458,
      load_duration: 1_334_875,
      prompt_eval_count: s.promptEvalCount ?? 26,
      prompt_eval_duration: 342_546_000,
      eval_count: s.evalCount ?? 282,
      eval_duration: 4_535_599_000,
    };

    if (body.stream === false) {
      return json(200, {
        ...final,
        message: { role: 'assistant', content: content.join(''), ...(s.toolCalls ? { tool_calls: s.toolCalls } : {}) },
      });
    }

    // Streaming is Ollama's default when `stream` is absent.
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const lines = content.map((c) => JSON.stringify({ model, created_at: createdAt, message: { role: 'assistant', content: c }, done: false }));
    if (s.toolCalls) lines.push(JSON.stringify({ model, created_at: createdAt, message: { role: 'assistant', content: '', tool_calls: s.toolCalls }, done: false }));
    if (s.midStreamError !== undefined) lines.push(JSON.stringify({ error: s.midStreamError }));
    else if (s.cut === undefined) lines.push(JSON.stringify(final));
    const text = lines.map((l) => `${l}\n`).join('');
    // Several writes that cut lines anywhere, with a pause so they leave as separate segments.
    const pieces = [5, 17, 40, 3, 61];
    let at = 0;
    for (let k = 0; at < text.length; k++) {
      const size = pieces[k % pieces.length] as number;
      res.write(text.slice(at, at + size));
      at += size;
      await sleep(2);
    }
    if (s.cut === 'destroy') res.socket?.destroy();
    else res.end();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const received: FakeOllamaReceived = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, raw };
      fake.received.push(received);
      handle(received, res).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
