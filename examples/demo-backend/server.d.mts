// Types for server.mjs, so TypeScript tests can import the demo backend.
import type { Express } from 'express';

/** A running demo backend. */
export interface DemoBackend {
  /** Base URL, e.g. `http://127.0.0.1:4010` (no trailing slash). */
  url: string;
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** Options for {@link startDemoBackend}. */
export interface DemoBackendOptions {
  /** Port to listen on; `0` picks a free one. Default 4010. */
  port?: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
}

/** Builds the express app over a fresh in-memory store (seed items only). */
export function createDemoApp(): Express;

/** Starts the demo inventory backend with fresh seed data. */
export function startDemoBackend(options?: DemoBackendOptions): Promise<DemoBackend>;
