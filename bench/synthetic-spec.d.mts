/** Options of {@link syntheticSpec}. */
export interface SyntheticSpecOptions {
  /** How many operations (default 10,000). */
  operations?: number;
  /** Distinct tags, at most one per resource (default 48). */
  tags?: number;
  /** `info.title` (default "Synthetic Operations API"). */
  title?: string;
  /** `servers[0].url` (default http://127.0.0.1:9). */
  serverUrl?: string;
}

/** A deterministic OpenAPI 3.0.3 document with `operations` CRUD operations over generated resources. */
export function syntheticSpec(options?: SyntheticSpecOptions): Record<string, unknown>;
