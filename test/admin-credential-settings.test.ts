import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Gateway } from '../src/server/gateway.js';
import { FIXTURES, startTestGateway } from './helpers/gateway.js';

/**
 * What the admin API shows of a registered backend's credentials: each kind's
 * non-secret settings as given (an operator checks them there), every secret
 * `[redacted]` — asked over HTTP of a real gateway on port 0.
 */

const STUB_SPEC = parseYaml(readFileSync(`${FIXTURES}stub-api.yaml`, 'utf8')) as Record<string, unknown>;
const ADMIN_KEY = 'admin-key-0123456789abcdef';
const SECRETS = ['k-secret-value', 'tok-secret-value', 'pw-secret-value', 'cs-secret-value', 'AKIAEXAMPLESECRETID', 'sak-secret-value', 'st-secret-value'];

let gateway: Gateway;
beforeAll(async () => {
  gateway = await startTestGateway(`server: { host: 127.0.0.1, port: 0 }\naudit: { store: none }\nadmin: { apiKey: ${ADMIN_KEY} }\n`);
});
afterAll(async () => {
  await gateway?.close();
});

// The admin API answers JSON; tests read it field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

const KINDS: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
  ['none', { type: 'none' }, { type: 'none' }],
  ['apiKey', { type: 'apiKey', in: 'header', name: 'X-Key', value: 'k-secret-value' }, { type: 'apiKey', in: 'header', name: 'X-Key', value: '[redacted]' }],
  ['bearer', { type: 'bearer', token: 'tok-secret-value' }, { type: 'bearer', token: '[redacted]' }],
  ['basic', { type: 'basic', username: 'svc', password: 'pw-secret-value' }, { type: 'basic', username: 'svc', password: '[redacted]' }],
  [
    'oauth2',
    { type: 'oauth2', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'gatehouse', clientSecret: 'cs-secret-value', scopes: ['read'], audience: 'https://api.example' },
    { type: 'oauth2', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'gatehouse', clientSecret: '[redacted]', scopes: ['read'], audience: 'https://api.example' },
  ],
  [
    'tokenExchange',
    { type: 'tokenExchange', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'gatehouse', clientSecret: 'cs-secret-value', audience: 'https://api.example', scopes: ['read'] },
    { type: 'tokenExchange', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'gatehouse', clientSecret: '[redacted]', audience: 'https://api.example', scopes: ['read'] },
  ],
  [
    'aws-sigv4 with keys',
    { type: 'aws-sigv4', service: 'execute-api', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLESECRETID', secretAccessKey: 'sak-secret-value', sessionToken: 'st-secret-value' },
    { type: 'aws-sigv4', service: 'execute-api', region: 'eu-west-1', accessKeyId: '[redacted]', secretAccessKey: '[redacted]', sessionToken: '[redacted]' },
  ],
];

describe('admin API: credential settings', () => {
  it.each(KINDS)('%s: non-secret settings shown as given, secrets [redacted]', async (kind, credentials, shown) => {
    const name = `c${KINDS.findIndex(([k]) => k === kind)}`;
    const created = await admin('POST', '/admin/backends', { name, spec: STUB_SPEC, baseUrl: 'http://127.0.0.1:9/api', credentials });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.settings.credentials).toEqual(shown);
    expect((await admin('GET', `/admin/backends/${name}`)).body.settings.credentials).toEqual(shown);
  });

  it('never shows a secret anywhere in the list', async () => {
    const list = JSON.stringify((await admin('GET', '/admin/backends')).body);
    for (const secret of SECRETS) expect(list).not.toContain(secret);
    expect(list).toContain('eu-west-1');
  });
});
