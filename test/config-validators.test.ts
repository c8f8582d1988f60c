import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { interpolateEnv } from '../src/config/interpolate.js';
import { schemaFingerprint } from '../src/config/schema.js';
import { compileConfigValidators, type ConfigValidators } from '../src/config/schema-validator.js';

/**
 * `npm run build` writes the config validators as standalone code
 * (dist/config/generated/validators.js) so that no command compiles the schema at
 * start. They must behave as the compiled ones do (tests run from src/ use those):
 * same verdict, same errors, same defaults and coercions written into the config.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GENERATED = join(ROOT, 'dist', 'config', 'generated', 'validators.js');

const ENV = {
  GATEHOUSE_PORT: '8080',
  GATEHOUSE_API_KEY_SHA256: 'ab'.repeat(32),
  GATEHOUSE_POSTGRES_URL: 'postgres://127.0.0.1:5432/test',
  GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:6379',
};
const shipped = (file: string) => interpolateEnv(parse(readFileSync(join(ROOT, file), 'utf8')), ENV);
const configs: Record<string, unknown> = {
  'examples/gatehouse.yaml': shipped('examples/gatehouse.yaml'),
  'examples/fleet/gatehouse.yaml': shipped('examples/fleet/gatehouse.yaml'),
  'docker/gatehouse.yaml': shipped('docker/gatehouse.yaml'),
  empty: {},
  'port as a string (coerced)': { server: { port: '8080' } },
  'unknown field': { server: { port: 1, colour: 'red' } },
  'wrong types in several places': { server: { port: 'eighty' }, log: { level: 'loud' }, backends: 'none' },
  'backend without a spec': { backends: [{ name: 'petstore' }] },
  'backend with a bad name and a bad base URL': { backends: [{ name: '9lives', spec: 'a.yaml', baseUrl: 'not a url' }] },
  'ai route and target': { ai: { targets: { local: { provider: 'ollama', baseUrl: 'http://127.0.0.1:11434' } }, routes: [{ model: 'small', targets: ['local'] }] } },
  'ai target with an unknown provider': { ai: { targets: { x: { provider: 'skynet' } }, routes: [] } },
  'audit on postgres': { audit: { store: 'postgres', postgres: { url: 'postgres://127.0.0.1/test' }, queue: { batchSize: '100' } } },
};
const backends: Record<string, unknown> = {
  valid: { name: 'petstore', spec: 'https://example.test/openapi.json', rateLimit: { rpm: '60' } },
  invalid: { name: '', spec: 3, circuitBreaker: 'sometimes' },
};

function outcome(validate: ConfigValidators['config'], input: unknown) {
  const data = structuredClone(input);
  const valid = validate(data);
  const errors = (validate.errors ?? []).map((e) => ({ instancePath: e.instancePath, keyword: e.keyword, message: e.message, params: e.params }));
  return { valid, errors, data };
}

describe('the generated config validators', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('were made from the current schema', async () => {
    const generated = (await import(pathToFileURL(GENERATED).href)) as { fingerprint: string };
    expect(generated.fingerprint).toBe(schemaFingerprint());
  });

  it('give the compiled validators’ verdict, errors, defaults and coercions', async () => {
    const generated = (await import(pathToFileURL(GENERATED).href)) as ConfigValidators;
    const compiled = compileConfigValidators();
    const verdicts: boolean[] = [];
    for (const [name, input] of Object.entries(configs)) {
      const g = outcome(generated.config, input);
      expect(g, name).toEqual(outcome(compiled.config, input));
      verdicts.push(g.valid);
    }
    // Both kinds are covered: the examples pass, the broken ones fail.
    expect(verdicts.filter(Boolean).length).toBeGreaterThanOrEqual(5);
    expect(verdicts.filter((v) => !v).length).toBeGreaterThanOrEqual(5);
    for (const [name, input] of Object.entries(backends)) expect(outcome(generated.backend, input), name).toEqual(outcome(compiled.backend, input));
    expect(outcome(generated.config, configs['port as a string (coerced)']).data).toMatchObject({ server: { port: 8080, host: '127.0.0.1' } });
  });

  it('are used only while they match the schema: a stale module is ignored and the schema compiled', () => {
    // A copy of the build whose generated validator refuses everything, found from
    // the copy through a node_modules link.
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-validators-'));
    dirs.push(dir);
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(config, 'server: { port: 0 }\nbackends: []\n');
    const copy = join(dir, 'dist', 'config', 'generated', 'validators.js');
    const refuseAll = (fingerprint: string) =>
      writeFileSync(
        copy,
        `export const fingerprint = ${JSON.stringify(fingerprint)};\n` +
          `const no = (d) => { no.errors = [{ instancePath: '/server', keyword: 'sabotage', params: {}, message: 'refused by the generated validator' }]; return false; };\n` +
          `export const config = no;\nexport const backend = no;\n`,
      );
    const validate = () => spawnSync(process.execPath, [join(dir, 'dist', 'cli', 'main.js'), 'validate', '--config', config], { encoding: 'utf8' });

    refuseAll(schemaFingerprint());
    const current = validate();
    expect(current.status).toBe(2);
    expect(current.stderr + current.stdout).toContain('refused by the generated validator');

    refuseAll('0000000000000000');
    const stale = validate();
    expect(stale.stderr).toBe('');
    expect(stale.status).toBe(0);
  });

  it('keep a command that reads a config from compiling the schema', () => {
    // A module hook in the CLI process reports which validators it loads: the generated module, not the compiling one.
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-validators-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `export async function load(url, context, next) {\n  if (/\\/schema-validator\\.js|\\/generated\\/validators\\.js/.test(url)) process.stderr.write('LOADED ' + url + '\\n');\n  return next(url, context);\n}\n`,
    );
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`);
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(config, 'server: { port: 0 }\nbackends: []\n');
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, join(ROOT, 'dist', 'cli', 'main.js'), 'validate', '--config', config], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const loaded = run.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(l.indexOf('/dist/') + 1));
    expect(loaded).toEqual(['dist/config/generated/validators.js']);
  });
});
