import { describe, expect, it } from 'vitest';
import { adminBrowserRefusal } from './browser-check.js';

const json = { 'content-type': 'application/json' };

describe('adminBrowserRefusal', () => {
  it('lets programs through: no Origin, no Sec-Fetch-Site, JSON writes', () => {
    expect(adminBrowserRefusal('GET', { host: '127.0.0.1:8080' }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('POST', { host: '127.0.0.1:8080', ...json }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('PUT', { host: '127.0.0.1:8080', 'content-type': 'Application/JSON; charset=utf-8' }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('DELETE', { host: '127.0.0.1:8080' }, undefined)).toBeUndefined();
  });

  it("accepts the gateway's own origin: the request's Host over http or https, or server.publicUrl's", () => {
    expect(adminBrowserRefusal('POST', { host: 'localhost:8080', origin: 'http://localhost:8080', ...json }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('POST', { host: 'gw.example.com', origin: 'https://gw.example.com', ...json }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('POST', { host: 'gw.example.com:443', origin: 'https://gw.example.com', ...json }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('POST', { host: '10.0.0.5:8080', origin: 'https://gw.example.com', ...json }, { publicOrigin: 'https://gw.example.com', hostChecked: false })).toBeUndefined();
    expect(adminBrowserRefusal('GET', { host: 'localhost:8080', 'sec-fetch-site': 'same-origin' }, undefined)).toBeUndefined();
    expect(adminBrowserRefusal('GET', { host: 'localhost:8080', 'sec-fetch-site': 'none' }, undefined)).toBeUndefined();
  });

  it.each([
    ['another port', { origin: 'http://localhost:3000' }],
    ['another scheme and port', { origin: 'https://localhost:8443' }],
    ['another host', { origin: 'http://evil.example' }],
    ['null', { origin: 'null' }],
    ['not a URL', { origin: '::::' }],
    ['Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }],
  ])('refuses %s as cross-site', (_what, headers) => {
    expect(adminBrowserRefusal('GET', { host: 'localhost:8080', ...headers }, undefined)?.code).toBe('GH_ADMIN_CROSS_SITE');
  });

  it.each([undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx'])(
    'refuses a write sent as %s',
    (type) => {
      const headers = { host: 'localhost:8080', ...(type === undefined ? {} : { 'content-type': type }) };
      for (const method of ['POST', 'PUT', 'PATCH']) expect(adminBrowserRefusal(method, headers, undefined)?.code).toBe('GH_ADMIN_CONTENT_TYPE');
    },
  );
});
