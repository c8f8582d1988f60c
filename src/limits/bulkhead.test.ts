import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import { createBulkhead } from './bulkhead.js';

/** A promise and its resolve/reject, to hold a call in flight. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof GatehouseError ? err.code : `not a GatehouseError: ${String(err)}`;
  }
}

describe('createBulkhead', () => {
  it('never runs more than maxConcurrent at once', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 3, maxQueued: 100, queueTimeoutMs: 5_000 });
    let running = 0;
    let peak = 0;
    let done = 0;
    const call = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      running--;
      done++;
    };
    await Promise.all(Array.from({ length: 40 }, () => bulkhead.run(call)));
    expect(done).toBe(40);
    expect(peak).toBe(3);
    expect(bulkhead.inFlight).toBe(0);
    expect(bulkhead.queued).toBe(0);
  });

  it('refuses at once over the limit when there is no queue, naming the limit', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, name: 'petstore' });
    const hold = deferred();
    const first = bulkhead.run(() => hold.promise);
    let called = false;
    const second = bulkhead.run(async () => {
      called = true;
    });
    await expect(second).rejects.toMatchObject({ code: 'GH_BACKEND_BUSY', message: expect.stringMatching(/petstore.*maxConcurrent 1/) });
    expect(called).toBe(false);
    hold.resolve();
    await first;
    expect(bulkhead.inFlight).toBe(0);
  });

  it('queues up to maxQueued, FIFO, and refuses beyond', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, maxQueued: 2, queueTimeoutMs: 5_000 });
    const hold = deferred();
    const order: string[] = [];
    const first = bulkhead.run(() => hold.promise);
    const a = bulkhead.run(async () => void order.push('a'));
    const b = bulkhead.run(async () => void order.push('b'));
    expect(bulkhead.queued).toBe(2);
    expect(await codeOf(bulkhead.run(async () => void order.push('c')))).toBe('GH_BACKEND_BUSY');
    hold.resolve();
    await Promise.all([first, a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(bulkhead.inFlight).toBe(0);
  });

  it('refuses a queued call that waited longer than queueTimeoutMs, and it leaves the queue', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 30 });
    const hold = deferred();
    const first = bulkhead.run(() => hold.promise);
    let called = false;
    const waiting = bulkhead.run(async () => {
      called = true;
    });
    // Refused while the slot is still held: only the queue timeout can have ended the wait.
    expect(await codeOf(waiting)).toBe('GH_BACKEND_BUSY');
    expect(called).toBe(false);
    expect(bulkhead.queued).toBe(0);
    hold.resolve();
    await first;
    expect(called).toBe(false);
    expect(bulkhead.inFlight).toBe(0);
  });

  it('a queued call whose signal aborts leaves the queue and is never run', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 5_000 });
    const hold = deferred();
    const first = bulkhead.run(() => hold.promise);
    const controller = new AbortController();
    let called = false;
    const waiting = bulkhead.run(async () => {
      called = true;
    }, controller.signal);
    const next = bulkhead.run(async () => 'next');
    expect(bulkhead.queued).toBe(2);
    controller.abort();
    expect(await codeOf(waiting)).toBe('GH_UPSTREAM_ABORTED');
    expect(bulkhead.queued).toBe(1);
    hold.resolve();
    await first;
    expect(await next).toBe('next');
    expect(called).toBe(false);
  });

  it('an already aborted signal is refused without taking a slot', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1 });
    const controller = new AbortController();
    controller.abort();
    expect(await codeOf(bulkhead.run(async () => 1, controller.signal))).toBe('GH_UPSTREAM_ABORTED');
    expect(bulkhead.inFlight).toBe(0);
  });

  it('releases the slot when fn rejects or throws synchronously', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1 });
    await expect(bulkhead.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(bulkhead.inFlight).toBe(0);
    await expect(
      bulkhead.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(bulkhead.inFlight).toBe(0);
    // And the slot is really usable again.
    expect(await bulkhead.run(async () => 42)).toBe(42);
  });

  it('hands a released slot to the next waiter even when fn fails', async () => {
    const bulkhead = createBulkhead({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 5_000 });
    const hold = deferred();
    const first = bulkhead.run(() => hold.promise);
    const second = bulkhead.run(async () => 'second');
    await tick();
    hold.reject(new Error('backend down'));
    await expect(first).rejects.toThrow('backend down');
    expect(await second).toBe('second');
    expect(bulkhead.inFlight).toBe(0);
  });

  it('rejects invalid options', () => {
    expect(() => createBulkhead({ maxConcurrent: 0 })).toThrow(/maxConcurrent must be a positive integer/);
    expect(() => createBulkhead({ maxConcurrent: 1, maxQueued: -1 })).toThrow(/maxQueued/);
  });
});
