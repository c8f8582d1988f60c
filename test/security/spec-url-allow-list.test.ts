import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { silentLogger } from '../../src/log/logger.js';
import { compileSpecUrlRules } from '../../src/openapi/spec-url-policy.js';
import { checkedLookup, SpecUrlRefused } from '../../src/openapi/guarded-fetch.js';
import type { Gateway } from '../../src/server/gateway.js';
import { FIXTURES, rawToolsList, startGatewayFrom, testConfig } from '../helpers/gateway.js';

/**
 * Spec URLs given to the admin API cannot make the gateway request internal
 * services: loopback, private, link-local (metadata) and other special
 * addresses are refused unless `admin.specUrls` lists them, redirects are
 * checked hop by hop, and external refs go through the same check. The config
 * file's own spec URLs stay trusted. Every spec server here records what
 * reached it, so "refused" means nothing was sent to it.
 */

const STUB_SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as Record<string, unknown>;

interface SpecServer {
  port: number;
  /** Paths requested, in order. */
  received: string[];
  close(): Promise<void>;
}

/** A server on 127.0.0.1:0 answering each path from `routes` (a body, or a redirect). */
async function specServer(routes: Record<string, { json: unknown } | { redirect: string }>): Promise<SpecServer> {
  const received: string[] = [];
  const server: Server = createServer((req, res) => {
    received.push(req.url ?? '');
    const route = routes[req.url ?? ''];
    if (route === undefined) {
      res.writeHead(404).end();
    } else if ('redirect' in route) {
      res.writeHead(302, { location: route.redirect }).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(route.json));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let spec: SpecServer;
beforeAll(async () => {
  spec = await specServer({ '/spec.json': { json: STUB_SPEC } });
});
afterAll(async () => {
  await spec?.close();
});

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const g of open.splice(0).reverse()) await g.close();
});

async function start(admin: string, extra = ''): Promise<Gateway> {
  const g = await startGatewayFrom(testConfig(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: ${admin}\n${extra}`), silentLogger());
  open.push({ close: () => g.close(0) });
  return g;
}

// The admin API's answers are JSON of several shapes; tests read them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function register(g: Gateway, entry: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${g.url}/admin/backends`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ baseUrl: 'http://127.0.0.1:9/api', ...entry }) });
  return { status: res.status, body: await res.json() };
}

const backends = async (g: Gateway): Promise<string[]> => ((await (await fetch(`${g.url}/admin/backends`)).json()) as { backends: Array<{ name: string }> }).backends.map((b) => b.name);

describe('admin spec URLs: refused by default when they lead inside', () => {
  it.each([
    ['the loopback address', (p: number) => `http://127.0.0.1:${p}/spec.json`],
    ['a name that resolves to loopback', (p: number) => `http://localhost:${p}/spec.json`],
    ['loopback in decimal', (p: number) => `http://2130706433:${p}/spec.json`],
    ['loopback in hex', (p: number) => `http://0x7f.0.0.1:${p}/spec.json`],
    ['loopback as IPv4-mapped IPv6', (p: number) => `http://[::ffff:127.0.0.1]:${p}/spec.json`],
  ])('refuses %s: 403 GH_SPEC_URL_REFUSED, nothing fetched, nothing registered', async (_what, url) => {
    const g = await start('{}');
    const before = spec.received.length;
    const r = await register(g, { name: 'inside', spec: url(spec.port) });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 'GH_SPEC_URL_REFUSED', details: { field: 'spec' } });
    expect(r.body.message).toMatch(/^spec: OpenAPI spec .* was not fetched: .*(127\.0\.0\.1|::1) is a loopback address, which admin\.specUrls does not list/);
    expect(spec.received.length).toBe(before);
    expect(await backends(g)).toEqual([]);
  });

  it.each([
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['the unspecified address', 'http://0.0.0.0:1/spec.json', 'unspecified'],
    ['[::]', 'http://[::]:1/spec.json', 'unspecified'],
    ['a private address', 'http://10.0.0.1/spec.json', 'private'],
    ['CGNAT', 'http://100.64.0.1/spec.json', 'carrier-grade NAT'],
    ['unique-local IPv6', 'http://[fd00::1]/spec.json', 'unique-local'],
  ])('refuses %s before connecting', async (_what, url, kind) => {
    const g = await start('{}');
    const r = await register(g, { name: 'inside', spec: url });
    expect(r.status).toBe(403);
    expect(r.body.message).toContain(kind);
  });

  it('fetches from a listed address, and from a listed name', async () => {
    const byAddress = await start('{ specUrls: [127.0.0.1] }');
    const before = spec.received.length;
    expect((await register(byAddress, { name: 'listed', spec: `http://127.0.0.1:${spec.port}/spec.json` })).status).toBe(201);
    expect(spec.received.length).toBe(before + 1);
    expect((await rawToolsList(byAddress.url, 'legacy')).result.tools.map((t) => t.name)).toContain('listed_getItem');

    const byName = await start('{ specUrls: [localhost] }');
    expect((await register(byName, { name: 'named', spec: `http://localhost:${spec.port}/spec.json` })).status).toBe(201);
    // A listed name is not a listed address: the literal is still judged as one.
    expect((await register(byName, { name: 'literal', spec: `http://127.0.0.1:${spec.port}/spec.json` })).status).toBe(403);
  });

  it('fetches from a listed CIDR block', async () => {
    const g = await start('{ specUrls: ["127.0.0.0/8"] }');
    expect((await register(g, { name: 'block', spec: `http://localhost:${spec.port}/spec.json` })).status).toBe(201);
  });

  it('names the bad entry of admin.specUrls at start', () => {
    expect(() => testConfig('server: { port: 0 }\nadmin: { specUrls: [localhost, "*"] }\n')).toThrow(/admin\.specUrls\[1\]: "\*" is not a host name/);
    expect(() => testConfig('server: { port: 0 }\nadmin: { specUrls: ["10.0.0.0/40"] }\n')).toThrow(/admin\.specUrls\[0\]: "10\.0\.0\.0\/40" is not a CIDR block/);
  });
});

describe('admin spec URLs: redirects and external refs are checked again', () => {
  it('refuses a redirect from an allowed host to an unlisted loopback one; nothing reaches the target', async () => {
    const hop = await specServer({ '/spec.json': { redirect: `http://127.0.0.1:${spec.port}/spec.json` }, '/meta': { redirect: 'http://169.254.169.254/latest/meta-data/' } });
    open.push(hop);
    const g = await start('{ specUrls: [localhost] }');
    const before = spec.received.length;
    const r = await register(g, { name: 'hop', spec: `http://localhost:${hop.port}/spec.json` });
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(new RegExp(`it redirected to http://127\\.0\\.0\\.1:${spec.port}/spec\\.json: 127\\.0\\.0\\.1 is a loopback address`));
    expect(hop.received).toEqual(['/spec.json']);
    expect(spec.received.length).toBe(before);
    const meta = await register(g, { name: 'meta', spec: `http://localhost:${hop.port}/meta` });
    expect(meta.status).toBe(403);
    expect(meta.body.message).toContain('169.254.169.254 is a link-local');
    expect(await backends(g)).toEqual([]);
  });

  it('follows a redirect whose target is allowed too (relative Location included)', async () => {
    const hop = await specServer({ '/a': { redirect: '/b' }, '/b': { redirect: `http://127.0.0.1:${spec.port}/spec.json` } });
    open.push(hop);
    const g = await start('{ specUrls: [localhost, 127.0.0.1] }');
    expect((await register(g, { name: 'followed', spec: `http://localhost:${hop.port}/a` })).status).toBe(201);
    expect(hop.received).toEqual(['/a', '/b']);
  });

  it('refuses an external $ref to an unlisted host, and never reads files', async () => {
    const withRef = structuredClone(STUB_SPEC) as { components?: { schemas?: Record<string, unknown> } };
    withRef.components = { ...withRef.components, schemas: { ...withRef.components?.schemas, Remote: { $ref: `http://127.0.0.1:${spec.port}/remote.json` } } };
    const withFileRef = structuredClone(STUB_SPEC) as typeof withRef;
    withFileRef.components = { ...withFileRef.components, schemas: { ...withFileRef.components?.schemas, Local: { $ref: 'file:///etc/hostname' } } };
    const host = await specServer({ '/spec.json': { json: withRef }, '/file.json': { json: withFileRef } });
    open.push(host);
    const g = await start('{ specUrls: [localhost] }');
    const before = spec.received.length;
    const r = await register(g, { name: 'refs', spec: `http://localhost:${host.port}/spec.json`, allowExternalRefs: true });
    expect(r.status).toBe(403);
    expect(r.body.message).toContain('127.0.0.1 is a loopback address');
    expect(spec.received.length).toBe(before);
    const file = await register(g, { name: 'fileref', spec: `http://localhost:${host.port}/file.json`, allowExternalRefs: true });
    expect(file.status).toBe(422);
    expect(file.body.details.cause.message).toContain('file:///etc/hostname');
    expect(await backends(g)).toEqual([]);
  });
});

describe("the config file's own spec URLs stay trusted", () => {
  it('imports a loopback spec URL from the file, and re-imports it through the admin API', async () => {
    const before = spec.received.length;
    const g = await start('{}', `backends:\n  - { name: file, spec: "http://127.0.0.1:${spec.port}/spec.json", baseUrl: "http://127.0.0.1:9/api" }\n`);
    expect(spec.received.length).toBe(before + 1);
    expect((await rawToolsList(g.url, 'legacy')).result.tools.map((t) => t.name)).toContain('file_getItem');
    const re = await fetch(`${g.url}/admin/backends/file/reimport`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(re.status).toBe(200);
    expect(spec.received.length).toBe(before + 2);
  });
});

describe('the connection uses the addresses that were checked', () => {
  it('refuses a name in the lookup itself when any address it resolves to is refused', async () => {
    const lookup = checkedLookup(compileSpecUrlRules([]));
    const err = await new Promise<unknown>((resolve) => lookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err).toBeInstanceOf(SpecUrlRefused);
    expect(String((err as Error).message)).toMatch(/^localhost: (127\.0\.0\.1|::1) is a loopback address/);
  });

  it('hands the socket the addresses it checked (all, or the first)', async () => {
    const lookup = checkedLookup(compileSpecUrlRules(['127.0.0.0/8', '::1']));
    const all = await new Promise<unknown>((resolve) => lookup('localhost', { all: true }, (_e, a) => resolve(a)));
    expect(all).toEqual(expect.arrayContaining([expect.objectContaining({ address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) })]));
    const one = await new Promise<unknown[]>((resolve) => lookup('localhost', { family: 4 }, (_e, a, f) => resolve([a, f])));
    expect(one).toEqual(['127.0.0.1', 4]);
  });
});
