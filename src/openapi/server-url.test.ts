import { describe, expect, it } from 'vitest';
import { normaliseBaseUrl, pickServers, resolveServerUrl } from './server-url.js';

describe('server URLs', () => {
  it('prefers operation, then path item, then document servers; an empty list counts as absent', () => {
    const op = [{ url: 'https://op.example' }];
    const path = [{ url: 'https://path.example' }];
    const doc = [{ url: 'https://doc.example' }];
    expect(pickServers(op, path, doc)).toBe(op);
    expect(pickServers(undefined, path, doc)).toBe(path);
    expect(pickServers([], [], doc)).toBe(doc);
    expect(pickServers(undefined, undefined, undefined)).toBeUndefined();
  });

  it('fills variables with their defaults and keeps the base path without a trailing slash', () => {
    const servers = [{ url: 'https://{name}.example.com:{port}/{basePath}/', variables: { name: { default: 'demo' }, port: { default: '8443' }, basePath: { default: 'v2' } } }];
    expect(resolveServerUrl(servers, 'file:///specs/a.json')).toEqual({ url: 'https://demo.example.com:8443/v2' });
    expect(resolveServerUrl([{ url: 'https://api.example.com/' }], 'file:///a.json')).toEqual({ url: 'https://api.example.com' });
  });

  it('resolves relative URLs against the location the spec was fetched from', () => {
    expect(resolveServerUrl([{ url: '/v2' }], 'http://127.0.0.1:8080/docs/openapi.json')).toEqual({ url: 'http://127.0.0.1:8080/v2' });
    expect(resolveServerUrl([{ url: 'v2' }], 'https://h.example/docs/openapi.json')).toEqual({ url: 'https://h.example/docs/v2' });
    expect(resolveServerUrl([{ url: '//cdn.example/api' }], 'https://h.example/openapi.json')).toEqual({ url: 'https://cdn.example/api' });
    // No servers at all: the OAS default `/`, i.e. the origin of the document.
    expect(resolveServerUrl(undefined, 'http://127.0.0.1:8080/openapi.json')).toEqual({ url: 'http://127.0.0.1:8080' });
  });

  it('explains why a relative URL from a file, or a variable with no default, is unusable', () => {
    expect(resolveServerUrl([{ url: '/v2' }], 'file:///specs/a.json')).toEqual({ problem: 'server URL "/v2" is relative and the spec was read from a file' });
    expect(resolveServerUrl(undefined, 'file:///specs/a.json')).toMatchObject({ problem: expect.stringContaining('relative') });
    expect(resolveServerUrl([{ url: 'https://{tenant}.example' }], 'file:///a.json')).toEqual({ problem: 'server URL "https://{tenant}.example" uses variable {tenant} with no default' });
  });

  it('takes the first usable server', () => {
    expect(resolveServerUrl([{ url: '/rel' }, { url: 'https://abs.example/api' }], 'file:///a.json')).toEqual({ url: 'https://abs.example/api' });
  });

  it('checks a configured base URL', () => {
    expect(normaliseBaseUrl('https://api.example.com/v1/')).toEqual({ url: 'https://api.example.com/v1' });
    expect(normaliseBaseUrl('/v1')).toMatchObject({ problem: expect.stringContaining('not an absolute URL') });
    expect(normaliseBaseUrl('ftp://x.example')).toMatchObject({ problem: expect.stringContaining('http(s)') });
  });
});
