/**
 * How big V8 lets the gateway's heap grow. Both generations are sized for programs
 * with large live heaps; a gateway's live heap is small (about 20 MB) and nearly all
 * it allocates is request state that dies within the request, so V8's headroom is
 * resident memory full of garbage. `gatehouse serve` and `stdio` call boundHeap() at
 * start; a node flag for the same setting (on the command line or in NODE_OPTIONS)
 * always wins. Figures: docs/benchmarks.md, "Memory under load".
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

/**
 * The young generation's ceiling: both semi-spaces together, in bytes. V8's default on
 * 64-bit is 32 MiB. Scavenges cost what survives them, not the space's size, and what
 * survives is the requests in flight, so a smaller space means more scavenges of the
 * same cost each: in bench/ai-proxy.mjs, 24–27 MiB less resident memory under load
 * for 5–6 % fewer requests/s.
 */
const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

/** The old generation grows this far past what survived the last full collection (V8: up to 4×). */
const OLD_GENERATION_GROWING_PERCENT = 30;

export interface HeapBound {
  /** Start-up is over: let the young generation grow, up to the cap. */
  serving(): void;
}

/**
 * Bounds both generations (see above) unless node was given a flag for the same setting.
 * Until serving() the young generation is held at its initial size: start-up is long
 * stretches of synchronous work (module evaluation, spec imports) during which nothing
 * could stop it doubling past the cap, and V8 seldom shrinks it again.
 */
export function boundHeap(nodeOptions: readonly string[] = nodeFlags()): HeapBound {
  // V8 reads this at each full collection, so setting it now takes effect.
  if (!nodeOptions.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWING_PERCENT}`);
  if (nodeOptions.some((a) => /^--(max|min)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor|^--max[-_]heap[-_]size/.test(a))) return { serving() {} };
  return capYoungGeneration(YOUNG_GENERATION_CAP);
}

/**
 * Node has no way to set the young generation's maximum once the process runs
 * (`--max-semi-space-size` is read when the heap is created). What V8 does read each
 * time it grows the young generation is the growth factor: the space doubles from
 * 2 MiB as scavenges see enough survivors. So after each collection the factor is set
 * to what keeps the next growth within the cap: 2 while doubling fits, 1 (no growth)
 * once it would not. If V8 shrinks the space when traffic stops, it may grow back to
 * the cap, and no further.
 *
 * V8 puts a factor below 2 back to 2 whenever an isolate is created, so the factor is
 * set again when a worker thread comes online, and after every collection while it
 * must be 1 (3 µs each). A collection between the worker's isolate being made and its
 * coming online may still double the space once: a worker's start can leave it at
 * twice the cap.
 */
export function capYoungGeneration(cap: number): HeapBound {
  let started = false;
  let factor = 2;
  const adjust = () => {
    const size = youngGenerationSize();
    const want = !started || size * 2 > cap ? 1 : 2;
    if (want === 2 && factor === 2) return;
    factor = want;
    setFlagsFromString(`--semi-space-growth-factor=${want}`);
  };
  adjust();
  // For the process's life: the gateway runs until it exits.
  new PerformanceObserver(adjust).observe({ entryTypes: ['gc'] });
  process.on('worker', (worker: Worker) => worker.once('online', adjust));
  return {
    serving() {
      started = true;
      adjust();
    },
  };
}

export function youngGenerationSize(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Node's own flags: the command line's and NODE_OPTIONS'. */
function nodeFlags(): string[] {
  return [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/).filter(Boolean)];
}
