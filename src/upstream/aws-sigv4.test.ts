import { describe, expect, it } from 'vitest';
import { parseBackendEntry } from '../config/load-config.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { AwsSigV4Config } from './aws-sigv4.js';
import type { BuiltRequest } from './build-request.js';
import { createCredentials } from './credentials.js';

const CONFIG: AwsSigV4Config = { type: 'aws-sigv4', service: 'es', region: 'eu-west-1', accessKeyId: 'AKID', secretAccessKey: 'secret' };
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);

function request(extra: Partial<BuiltRequest> = {}): BuiltRequest {
  return { method: 'GET', url: 'https://es.eu-west-1.amazonaws.com:8443/2015-01-01/tags/?arn=a%3Ab', headers: { accept: 'application/json' }, ...extra };
}

function configError(config: unknown): string {
  try {
    createCredentials(config as AwsSigV4Config);
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_CONFIG_INVALID');
    return (err as GatehouseError).message;
  }
  throw new Error('expected a config error');
}

describe('aws-sigv4 credentials', () => {
  it('signs host, date and payload hash, leaving the request it was given alone', async () => {
    const req = request();
    const out = await createCredentials(CONFIG, { now: () => T0 }).apply(req, {});
    expect(req.headers).toEqual({ accept: 'application/json' });
    expect(out.url).toBe(req.url);
    expect(out.headers).toMatchObject({
      host: 'es.eu-west-1.amazonaws.com:8443',
      'x-amz-date': '20260102T030405Z',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
    expect(out.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKID\/20260102\/eu-west-1\/es\/aws4_request, SignedHeaders=accept;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
  });

  it('signs again on every apply, with the time of that attempt', async () => {
    let now = T0;
    const creds = createCredentials(CONFIG, { now: () => now });
    const first = await creds.apply(request(), {});
    now += 61_000;
    const second = await creds.apply(request(), {});
    expect(second.headers['x-amz-date']).toBe('20260102T030506Z');
    expect(second.headers.authorization).not.toBe(first.headers.authorization);
  });

  it('drops SigV4 headers and presigning query parameters that arguments set', async () => {
    const req = request({
      url: 'https://h.example/x?X-Amz-Signature=forged&a=1&x-amz-credential=forged',
      headers: { 'x-amz-date': '20000101T000000Z', 'x-amz-security-token': 'forged', host: 'evil.example', authorization: 'Bearer caller', 'x-amz-target': 'Svc.Op' },
    });
    const out = await createCredentials({ ...CONFIG, sessionToken: 'tok' }, { now: () => T0 }).apply(req, {});
    expect(out.url).toBe('https://h.example/x?a=1');
    expect(out.headers).toMatchObject({ host: 'h.example', 'x-amz-date': '20260102T030405Z', 'x-amz-security-token': 'tok', 'x-amz-target': 'Svc.Op' });
    expect(out.headers.authorization).toContain('SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target,');
  });

  it('hashes the exact body bytes, string or binary', async () => {
    const creds = createCredentials(CONFIG, { now: () => T0 });
    const text = await creds.apply(request({ method: 'POST', body: 'é' }), {});
    const bytes = await creds.apply(request({ method: 'POST', body: new Uint8Array([0xc3, 0xa9]) }), {});
    expect(text.headers['x-amz-content-sha256']).toBe(bytes.headers['x-amz-content-sha256']);
    // sha256 of the UTF-8 bytes C3 A9.
    expect(text.headers['x-amz-content-sha256']).toBe('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('refuses a query that is not UTF-8 when decoded, naming the problem', async () => {
    const creds = createCredentials(CONFIG, { now: () => T0 });
    await expect(creds.apply(request({ url: 'https://h.example/x?a=%FF' }), {})).rejects.toMatchObject({ code: 'GH_REQUEST_BUILD_FAILED' });
  });

  it('names the field of a bad config', () => {
    expect(configError({ ...CONFIG, region: undefined })).toContain('`region`');
    expect(configError({ ...CONFIG, service: 'EC2' })).toContain('`service`');
    expect(configError({ ...CONFIG, secretAccessKey: undefined })).toContain('`accessKeyId` and `secretAccessKey`');
    expect(configError({ type: 'aws-sigv4', service: 'ec2', region: 'us-east-1', sessionToken: 't' })).toContain('`sessionToken`');
    expect(configError({ ...CONFIG, profile: 'p' })).toContain('`profile`');
    expect(configError({ ...CONFIG, accessKeyId: 'AK/ID' })).toContain('`accessKeyId`');
    expect(configError({ ...CONFIG, secretAccessKey: 'a\nb' })).toContain('`secretAccessKey`');
  });

  it('cannot be combined with passthrough: both would set Authorization', () => {
    expect(() => createCredentials(CONFIG, {}, { passthrough: true })).toThrow(/passthrough/);
  });

  it('is refused the credential chain for a backend registered at runtime: it must name its keys', () => {
    const entry = { name: 'aws', spec: 'https://specs.example/ec2.json', credentials: { type: 'aws-sigv4', service: 'ec2', region: 'us-east-1' } };
    expect(() => parseBackendEntry(entry, {})).toThrow(/credentials\.accessKeyId: is required for a runtime backend/);
    const keyed = { ...entry, credentials: { ...entry.credentials, accessKeyId: 'AKID', secretAccessKey: '${GATEHOUSE_BACKEND_AWS_SECRET}' } };
    expect(parseBackendEntry(keyed, { GATEHOUSE_BACKEND_AWS_SECRET: 's' }).credentials).toMatchObject({ type: 'aws-sigv4', secretAccessKey: 's' });
  });
});
