import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type addFormatsModule from 'ajv-formats';
import type { fullFormats as FullFormats } from 'ajv-formats/dist/formats.js';
import { linearRegExpEngine } from '../openapi/linear-regexp.js';
import type { ObjectSchema } from '../openapi/tool-definition.js';

interface AjvModules {
  Ajv2020: typeof Ajv2020;
  addFormats: typeof addFormatsModule.default;
  fullFormats: typeof FullFormats;
}
let ajvModules: AjvModules | undefined;
/**
 * ajv and ajv-formats (both CommonJS), loaded with the first validator rather
 * than with this module: the registry imports this module on the way to the
 * first tools/list, which validates nothing, and loading them costs tens of
 * milliseconds of start-up. `require` keeps validation synchronous.
 */
function loadAjv(): AjvModules {
  if (ajvModules === undefined) {
    const require = createRequire(import.meta.url);
    ajvModules = {
      Ajv2020: (require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020,
      // ajv-formats' module object is its plugin function (module.exports = formatsPlugin).
      addFormats: require('ajv-formats') as typeof addFormatsModule.default,
      fullFormats: (require('ajv-formats/dist/formats.js') as { fullFormats: typeof FullFormats }).fullFormats,
    };
  }
  return ajvModules;
}

/** Loads what validation needs now (see loadAjv), so that the first tools/call does not wait for it. */
export function warmArgsValidation(): void {
  loadAjv();
}

/**
 * One ajv instance for all tool schemas. `strict: false` because specs carry
 * vendor keywords and formats ajv does not know; unknown formats are accepted.
 * Patterns come from specs: they run on RE2, in linear time (linear-regexp.ts).
 */
export function createArgsAjv(): Ajv2020 {
  const { Ajv2020, addFormats, fullFormats } = loadAjv();
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true, unicodeRegExp: false, code: { regExp: linearRegExpEngine() } });
  addFormats(ajv);
  // `format: regex` compiles the argument with RegExp: ~130 ms for 1 MiB. A
  // regular expression longer than this is not one an API means to take.
  const regex = fullFormats.regex as (s: string) => boolean;
  ajv.addFormat('regex', (s: string) => s.length <= MAX_REGEX_ARGUMENT && regex(s));
  return ajv;
}

/** Longest argument `format: regex` accepts, in characters. */
export const MAX_REGEX_ARGUMENT = 4096;

/** A compiled validator returning the list of problems (empty = valid). */
export type ArgsValidator = (args: unknown) => string[];

export function compileArgsValidator(ajv: Ajv2020, schema: ObjectSchema): ArgsValidator {
  const validate: ValidateFunction = ajv.compile(schema);
  return (args) => (validate(args) ? [] : describeArgErrors(validate.errors ?? []));
}

/**
 * At most this many lines: an array of 10,000 wrong elements would otherwise
 * come back as 10,000 lines (with `allErrors`), for the model to read.
 */
export const MAX_ARG_ERRORS = 20;

/** Turns ajv errors into one line per wrong field, named as the agent wrote it (`items[1].qty`). */
export function describeArgErrors(errors: readonly ErrorObject[]): string[] {
  const out = new Set<string>();
  // The anyOf summaries, found once: looking them up per error is quadratic in the errors.
  const anyOfAt = new Set<string>();
  for (const e of errors) if (e.keyword === 'anyOf') anyOfAt.add(e.instancePath);
  let more = 0;
  for (const e of errors) {
    if (out.size >= MAX_ARG_ERRORS) {
      more++;
      continue;
    }
    // anyOf reports every branch plus a summary; the summary alone is clearer.
    if (e.schemaPath.includes('/anyOf/') && anyOfAt.has(e.instancePath)) continue;
    const field = argPath(e.instancePath);
    switch (e.keyword) {
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        out.add(`${field ? `${field}.` : ''}${missing}: is required`);
        break;
      }
      case 'additionalProperties':
        out.add(`${field ? `${field}.` : ''}${(e.params as { additionalProperty: string }).additionalProperty}: is not an allowed field`);
        break;
      case 'enum':
        out.add(`${field || '(arguments)'}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`);
        break;
      case 'anyOf':
        out.add(`${field || '(arguments)'}: does not match any allowed shape`);
        break;
      default:
        out.add(`${field || '(arguments)'}: ${e.message ?? 'is invalid'}`);
    }
  }
  return more > 0 ? [...out, `and ${more} more errors`] : [...out];
}

function argPath(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  }
  return out;
}
