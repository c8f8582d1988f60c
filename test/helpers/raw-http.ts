import { request } from 'node:http';

/** An answer read whole: JSON parsed when it is JSON, else the text (an SSE stream, a plain body). */
export interface RawAnswer {
  status: number;
  // The answers are JSON of several shapes (admin, JSON-RPC, OpenAI, plain); tests read them field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/**
 * One request with exactly these headers, `Host` included (fetch would set its
 * own), as a browser or a rebound page would send it, to the server at `base`.
 */
export function sendRaw(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // a stream or text: kept as text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
