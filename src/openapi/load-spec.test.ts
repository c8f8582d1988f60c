import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../errors/catalogue.js';
import { importBackend } from './import-backend.js';
import { loadSpec } from './load-spec.js';

const SPECS = new URL('../../specs/', import.meta.url);
const specPath = (p: string) => new URL(p, SPECS).pathname;

async function failure(p: Promise<unknown>): Promise<GatehouseError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    return err as GatehouseError;
  }
  throw new Error('expected a GatehouseError');
}

const minimal = (paths: unknown) => JSON.stringify({ openapi: '3.0.3', info: { title: 't', version: '1' }, paths });

describe('loadSpec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-load-spec-'));
  let server: Server;
  let origin = '';
  const hits: string[] = [];
  const served: Record<string, string> = {
    '/specs/petstore.json': readFileSync(specPath('edge/swagger2-petstore.json'), 'utf8'),
    '/pet.json': JSON.stringify({ type: 'object', properties: { fetched: { type: 'string' } } }),
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/hang.json') return; // never answers
      if (req.url === '/endless.json') {
        // No content-length: the size limit must hold while streaming.
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
        return;
      }
      const body = served[req.url ?? ''];
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(body ?? '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads JSON relative to baseDir and reports version and file location', async () => {
    const spec = await loadSpec('edge/oas30-circular.json', { baseDir: specPath('') });
    expect(spec.version).toBe('3.0');
    expect(spec.location).toBe(pathToFileURL(specPath('edge/oas30-circular.json')).href);
    expect(spec.document.paths?.['/anything']).toBeDefined();
  });

  it('reads YAML and Swagger 2.0', async () => {
    expect((await loadSpec(specPath('edge/oas31-petstore.yaml'))).version).toBe('3.1');
    expect((await loadSpec(specPath('edge/swagger2-petstore.json'))).version).toBe('2.0');
  });

  it('fetches an http(s) URL and reports that URL as the location', async () => {
    const spec = await loadSpec(`${origin}/specs/petstore.json`);
    expect(spec.location).toBe(`${origin}/specs/petstore.json`);
    expect(spec.version).toBe('2.0');
  });

  it('stops reading a spec URL at the size limit, declared or streamed', async () => {
    const declared = await failure(loadSpec(`${origin}/specs/petstore.json`, { maxBytes: 1024 }));
    expect(declared.code).toBe('GH_SPEC_LOAD_FAILED');
    expect(declared.message).toMatch(/petstore\.json.*larger than 1024 bytes/);
    const streamed = await failure(loadSpec(`${origin}/endless.json`, { maxBytes: 256 * 1024 }));
    expect(streamed.message).toMatch(/endless\.json.*larger than 262144 bytes/);
  });

  it('gives up on a spec URL that does not answer within the timeout', async () => {
    // The URL never answers: only the 300 ms timeout ends the load (the default, 30 s, would outlast the test).
    const hung = await failure(loadSpec(`${origin}/hang.json`, { timeoutMs: 300 }));
    expect(hung.code).toBe('GH_SPEC_LOAD_FAILED');
    expect(hung.message).toMatch(/hang\.json.*could not be fetched/);
  });

  it('reads only http(s) URLs and files', async () => {
    for (const url of ['ftp://127.0.0.1/spec.json', 'gopher://127.0.0.1/spec', 'data://text/plain,{}']) {
      const err = await failure(loadSpec(url));
      expect(err.code).toBe('GH_SPEC_LOAD_FAILED');
      expect(err.message).toMatch(/only http\(s\) URLs and files/);
    }
  });

  it('fails with GH_SPEC_LOAD_FAILED naming the source when it cannot be read or parsed', async () => {
    const missing = await failure(loadSpec('nope.json', { baseDir: dir }));
    expect(missing.code).toBe('GH_SPEC_LOAD_FAILED');
    expect(missing.message).toContain('"nope.json"');
    const http404 = await failure(loadSpec(`${origin}/missing.json`));
    expect(http404.message).toMatch(/HTTP 404/);
    writeFileSync(join(dir, 'bad.json'), '{"openapi": "3.0.3",');
    const badJson = await failure(loadSpec(join(dir, 'bad.json')));
    expect(badJson.code).toBe('GH_SPEC_LOAD_FAILED');
    expect(badJson.message).toMatch(/bad\.json.*not valid JSON/);
    writeFileSync(join(dir, 'bad.yaml'), 'openapi: 3.0.3\npaths: [a, b\ninfo: x\n');
    const badYaml = await failure(loadSpec(join(dir, 'bad.yaml')));
    expect(badYaml.message).toMatch(/bad\.yaml.*not valid YAML.*line 3/);
    expect(badYaml.message).not.toContain('\n');
  });

  it('rejects a document that is not OpenAPI 3.0/3.1 or Swagger 2.0', async () => {
    writeFileSync(join(dir, 'v32.json'), JSON.stringify({ openapi: '4.0.0', paths: {} }));
    const err = await failure(loadSpec(join(dir, 'v32.json')));
    expect(err.code).toBe('GH_SPEC_INVALID');
    expect(err.message).toContain('#/openapi');
  });

  it('names the JSON pointer of a validation error, without a stack dump', async () => {
    writeFileSync(join(dir, 'invalid.json'), minimal({ '/pets': { get: { summary: 'no responses' } } }));
    const err = await failure(loadSpec(join(dir, 'invalid.json')));
    expect(err.code).toBe('GH_SPEC_INVALID');
    expect(err.message).toContain('invalid.json');
    expect(err.message).toContain('#/paths/~1pets/get/responses is required');
    expect(err.details?.['pointer']).toBe('#/paths/~1pets/get/responses');
    expect(err.message).not.toMatch(/\n\s+at /);
  });

  it('names the operation of a Swagger 2.0 spec-rule violation', async () => {
    const doc = JSON.parse(readFileSync(specPath('edge/swagger2-petstore.json'), 'utf8')) as { paths: Record<string, Record<string, { parameters: { required?: boolean }[] }>> };
    const param = doc.paths['/pet/{petId}']?.['get']?.parameters[0];
    if (param) param.required = false;
    writeFileSync(join(dir, 'sw2-invalid.json'), JSON.stringify(doc));
    const err = await failure(loadSpec(join(dir, 'sw2-invalid.json')));
    expect(err.code).toBe('GH_SPEC_INVALID');
    expect(err.message).toContain('#/paths/~1pet~1{petId}/get');
  });

  it('tolerates schema-level mistakes with a warning naming the pointer (api.video has `pattern: 0`)', async () => {
    // Keywords inside Schema Objects are the converter's to check (spec-schema.ts).
    const imported = await importBackend({ name: 'v', spec: specPath('real/api.video.json'), baseUrl: 'http://127.0.0.1:9' });
    expect(imported.warnings.join('\n')).toContain('#/components/schemas/video-thumbnail-pick-payload/properties/timecode/pattern');
    writeFileSync(join(dir, 'schema-string.json'), minimal({ '/pets': { get: { parameters: [{ name: 'q', in: 'query', schema: 'string' }], responses: { '204': { description: 'ok' } } } } }));
    const spec = await loadSpec(join(dir, 'schema-string.json'));
    expect(spec.warnings.join('\n')).toContain('#/paths/~1pets/get/parameters/0/schema: must be object');
  });

  it('checks Reference Objects wherever one may stand, naming the pointer', async () => {
    writeFileSync(join(dir, 'bad-ref.json'), minimal({ '/pets': { get: { parameters: [{ $ref: 5 }], responses: { '204': { description: 'ok' } } } } }));
    const err = await failure(loadSpec(join(dir, 'bad-ref.json')));
    expect(err.code).toBe('GH_SPEC_INVALID');
    expect(err.message).toContain('#/paths/~1pets/get/parameters/0/$ref must be string');
    // A parameter without `$ref` is checked as a Parameter, and only as one.
    writeFileSync(join(dir, 'bad-param.json'), minimal({ '/pets': { get: { parameters: [{ name: 'q', in: 'body' }], responses: { '204': { description: 'ok' } } } } }));
    const bad = await failure(loadSpec(join(dir, 'bad-param.json')));
    expect(bad.message).toContain('#/paths/~1pets/get/parameters/0/in must be one of');
    expect(bad.message).not.toContain('$ref');
  });

  it('never fetches an external $ref unless allowed', async () => {
    writeFileSync(join(dir, 'local-pet.json'), JSON.stringify({ type: 'object', properties: { local: { type: 'string' } } }));
    writeFileSync(
      join(dir, 'external.json'),
      minimal({
        '/remote': { post: { requestBody: { content: { 'application/json': { schema: { $ref: `${origin}/pet.json` } } } }, responses: { '204': { description: 'ok' } } } },
        '/file': { post: { requestBody: { content: { 'application/json': { schema: { $ref: './local-pet.json' } } } }, responses: { '204': { description: 'ok' } } } },
      }).replace('"paths"', '"servers":[{"url":"https://api.example.com"}],"paths"'),
    );
    hits.length = 0;
    await loadSpec(join(dir, 'external.json'));
    const err = await failure(importBackend({ name: 'ext', spec: join(dir, 'external.json') }));
    expect(hits).toEqual([]);
    expect(err.code).toBe('GH_SPEC_LOAD_FAILED');
    expect(err.message).toContain('allowExternalRefs');
    expect(err.message).toMatch(/#\/paths\/~1(remote|file)\/post\/requestBody\/content\/application~1json\/schema/);

    const allowed = await importBackend({ name: 'ext', spec: join(dir, 'external.json'), allowExternalRefs: true });
    expect(hits).toEqual(['/pet.json']);
    const props = allowed.tools.map((t) => Object.keys(t.inputSchema.properties ?? {}));
    expect(props).toEqual([['fetched'], ['local']]);
  });
});
