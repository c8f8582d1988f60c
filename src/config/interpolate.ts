import { GatehouseError } from '../errors/catalogue.js';

// `${VAR}`, `${VAR:-default}`; `$${` escapes a literal `${`.
const PATTERN = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed config
 * tree. Done after YAML parsing, so a secret containing YAML syntax (`: `, `#`)
 * can never change the document's structure.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path);
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}

function interpolateString(s: string, env: NodeJS.ProcessEnv, path: string): string {
  if (!s.includes('${')) return s;
  return s.replace(PATTERN, (whole, escaped: string | undefined, name: string, fallback: string | undefined) => {
    if (escaped) return whole.slice(1);
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    throw new GatehouseError('GH_CONFIG_ENV_MISSING', `${path}: environment variable ${name} is not set and has no default (use \${${name}:-default})`);
  });
}
