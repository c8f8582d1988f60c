/**
 * The config's validators: the whole file, and one backend entry (the admin API).
 * Compiling the schema takes about 100 ms and leaves Ajv's compiler resident, and
 * every `gatehouse` command that reads a config would pay for it; so `npm run build`
 * writes them once as standalone Ajv code (scripts/build-validators.mjs →
 * dist/config/generated/validators.js), and load-config imports that. The module
 * carries a fingerprint of the schema it was made from: after a change to the schema
 * without that step (tsc alone), or running from src/ (tests), load-config compiles
 * here instead. Both paths use the same Ajv options.
 */
import { _, Ajv, type ValidateFunction } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import addFormatsModule from 'ajv-formats';
import { configSchema, schemaFingerprint } from './schema.js';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export interface ConfigValidators {
  config: ValidateFunction;
  backend: ValidateFunction;
}

export function compileConfigValidators(): ConfigValidators {
  const ajv = createAjv(false);
  return { config: ajv.getSchema('config')!, backend: ajv.getSchema('backend')! };
}

/** The validators as the source of an ES module exporting `config`, `backend` and `fingerprint`. */
export function configValidatorsModule(): string {
  const code = standalone.default(createAjv(true), { config: 'config', backend: 'backend' });
  // Ajv's ESM output still loads its runtime helpers (and here the formats) with require().
  return `import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\nexport const fingerprint = ${JSON.stringify(schemaFingerprint())};\n${code}\n`;
}

function createAjv(source: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    coerceTypes: true,
    // backends[].credentials: the `type` picks the one oneOf branch that is checked (schema.ts).
    discriminator: true,
    strict: false,
    ...(source ? { code: { source: true, esm: true, formats: _`require("ajv-formats/dist/formats").fullFormats` } } : {}),
  });
  addFormats(ajv);
  ajv.addSchema(configSchema, 'config');
  ajv.addSchema(configSchema.properties.backends.items, 'backend');
  return ajv;
}
