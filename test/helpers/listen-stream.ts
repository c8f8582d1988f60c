/**
 * A `fetch` for StreamableHTTPClientTransport that watches the client's
 * `subscriptions/listen` stream (MCP 2026-07-28) as it crosses the wire:
 * `opened` resolves when its answer's headers arrive (the gateway holds the
 * subscription from then on), `ended` when its body ends or is cut. Tests wait
 * on these instead of sleeping.
 */
export interface ListenWatch {
  fetch: (input: string | URL, init?: RequestInit) => Promise<Response>;
  opened: Promise<void>;
  ended: Promise<void>;
}

export function watchListenStream(): ListenWatch {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const watching = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    if (new Headers(init?.headers).get('mcp-method') !== 'subscriptions/listen' || res.body === null) return res;
    open();
    const [mine, theirs] = res.body.tee();
    void (async () => {
      const reader = mine.getReader();
      try {
        while (!(await reader.read()).done);
      } catch {
        // a reset is an end too
      }
      end();
    })();
    return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { fetch: watching, opened, ended };
}
