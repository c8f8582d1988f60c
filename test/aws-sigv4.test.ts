import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import type { Gateway } from '../src/server/gateway.js';
import { connectClient, startTestGateway } from './helpers/gateway.js';
import { verifySigV4, type SigV4Verdict } from './helpers/sigv4-verifier.js';
import { startStubBackend, type Received, type StubBackend } from './helpers/stub-backend.js';

/**
 * `aws-sigv4` backend credentials through the whole gateway, against a local
 * server that verifies each signature with an independent implementation
 * (test/helpers/sigv4-verifier.ts, on `aws4`) from the request as received:
 * static keys with a session token, the AWS credential chain from environment
 * variables and from a shared credentials file profile, and a wrong secret.
 */

const KEYS = {
  AKIDSTATIC: 'static-secret/with+chars',
  AKIDENV: 'env-secret',
  AKIDPROFILE: 'profile-secret',
};

type TextItem = { type: 'text'; text: string };
const text = (r: { content?: unknown }) => ((r.content ?? []) as TextItem[]).map((c) => c.text).join('\n');

let verifier: StubBackend;
let gateway: Gateway;
let client: Client;
const verdicts = new Map<Received, SigV4Verdict>();
const savedEnv: Record<string, string | undefined> = {};

/** The standard chain reads these; they are set only for this file's process. */
function setEnv(values: Record<string, string>): void {
  for (const [k, v] of Object.entries(values)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
}

beforeAll(async () => {
  verifier = await startStubBackend();
  verifier.handle((req, res) => {
    const verdict = verifySigV4(req, KEYS);
    verdicts.set(req, verdict);
    res.writeHead(verdict.ok ? 200 : 403, { 'content-type': 'application/json' });
    res.end(JSON.stringify(verdict.ok ? { verified: true } : { __type: 'SignatureDoesNotMatch', message: verdict.reason }));
  });
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-aws-'));
  writeFileSync(join(dir, 'credentials'), `[gh-test]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = ${KEYS.AKIDPROFILE}\n`);
  writeFileSync(join(dir, 'config'), '');
  setEnv({
    AWS_ACCESS_KEY_ID: 'AKIDENV',
    AWS_SECRET_ACCESS_KEY: KEYS.AKIDENV,
    AWS_SESSION_TOKEN: 'env-session-token',
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
    AWS_CONFIG_FILE: join(dir, 'config'),
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  const sigv4 = 'type: aws-sigv4, service: ec2, region: eu-west-1';
  gateway = await startTestGateway(
    `
server: { host: 127.0.0.1, port: 0 }
backends:
  - name: aws
    spec: ./aws-query-api.yaml
    baseUrl: \${AWS_URL}
    credentials: { ${sigv4}, accessKeyId: AKIDSTATIC, secretAccessKey: "\${AWS_SECRET}", sessionToken: "\${AWS_TOKEN}" }
  - name: es
    spec: ../../specs/real/amazonaws.com_es.json
    baseUrl: \${AWS_URL}
    credentials: { type: aws-sigv4, service: es, region: us-east-1, accessKeyId: AKIDSTATIC, secretAccessKey: "\${AWS_SECRET}" }
  - name: wrong
    spec: ./aws-query-api.yaml
    baseUrl: \${AWS_URL}
    credentials: { ${sigv4}, accessKeyId: AKIDSTATIC, secretAccessKey: not-the-secret }
  - name: fromenv
    spec: ./aws-query-api.yaml
    baseUrl: \${AWS_URL}
    credentials: { ${sigv4} }
  - name: fromprofile
    spec: ./aws-query-api.yaml
    baseUrl: \${AWS_URL}
    credentials: { ${sigv4}, profile: gh-test }
`,
    { AWS_URL: verifier.url, AWS_SECRET: KEYS.AKIDSTATIC, AWS_TOKEN: 'static-session-token' },
  );
  client = await connectClient(gateway.url, 'legacy');
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await verifier?.close();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function call(name: string, args: Record<string, unknown>): Promise<{ received: Received; verdict: SigV4Verdict; isError: boolean; text: string }> {
  const before = verifier.received.length;
  const result = await client.callTool({ name, arguments: args });
  expect(verifier.received.length).toBe(before + 1);
  const received = verifier.received[before]!;
  return { received, verdict: verdicts.get(received)!, isError: result.isError === true, text: text(result) };
}

const DESCRIBE = { Action: 'DescribeInstances', Version: '2016-11-15' };

describe('aws-sigv4 backend credentials', () => {
  it('signs a query-protocol GET: the verifier recomputes the same signature over what it received', async () => {
    const r = await call('aws_GET_DescribeInstances', { ...DESCRIBE, InstanceId: ['i-1', 'i 2'] });
    expect(r.verdict).toEqual({
      ok: true,
      accessKeyId: 'AKIDSTATIC',
      signedHeaders: ['accept', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token'],
      scope: expect.stringMatching(/^\d{8}\/eu-west-1\/ec2\/aws4_request$/),
    });
    expect(r.isError).toBe(false);
    expect(`${r.received.method} ${r.received.url}`).toBe('GET /?InstanceId=i-1&InstanceId=i%202&Action=DescribeInstances&Version=2016-11-15');
    expect(r.received.headers['x-amz-security-token']).toBe('static-session-token');
    expect(r.received.headers.host).toBe(new URL(verifier.url).host);
  });

  it('covers the exact body bytes of a form POST', async () => {
    const r = await call('aws_POST_DescribeInstances', { ...DESCRIBE, MaxResults: 5 });
    expect(r.verdict.ok).toBe(true);
    expect(r.received.body.toString()).toBe('MaxResults=5');
    expect(r.received.headers['x-amz-content-sha256']).toBe(createHash('sha256').update('MaxResults=5').digest('hex'));
    expect(r.verdict.signedHeaders).toContain('content-type');
  });

  it('signs a percent-encoded path (canonical URI encoded twice) after the fragment is dropped', async () => {
    const r = await call('aws_UntagResource', { resourceArn: 'arn:aws:ec2:eu-west-1:1:instance/i-1', tagKeys: ['a b', 'c'] });
    expect(r.verdict.ok).toBe(true);
    expect(`${r.received.method} ${r.received.url}`).toBe('DELETE /tags/arn%3Aaws%3Aec2%3Aeu-west-1%3A1%3Ainstance%2Fi-1?tagKeys=a%20b&tagKeys=c');
  });

  it('signs the calls of the corpus document amazonaws.com_es.json (REST-JSON): a query and a JSON body', async () => {
    const list = await call('es_ListTags', { arn: 'arn:aws:es:us-east-1:1:domain/logs' });
    expect(list.verdict).toMatchObject({ ok: true, scope: expect.stringMatching(/\/us-east-1\/es\/aws4_request$/) });
    expect(`${list.received.method} ${list.received.url}`).toBe('GET /2015-01-01/tags/?arn=arn%3Aaws%3Aes%3Aus-east-1%3A1%3Adomain%2Flogs');
    const add = await call('es_AddTags', { ARN: 'arn:aws:es:us-east-1:1:domain/logs', TagList: [{ Key: 'team', Value: 'search' }] });
    expect(add.verdict.ok).toBe(true);
    expect(JSON.parse(add.received.body.toString())).toEqual({ ARN: 'arn:aws:es:us-east-1:1:domain/logs', TagList: [{ Key: 'team', Value: 'search' }] });
  });

  it('ignores the SigV4 headers an agent passes as arguments: the signature is the gateway’s own', async () => {
    const r = await call('aws_GET_DescribeInstances', { ...DESCRIBE, 'X-Amz-Date': '20000101T000000Z', 'X-Amz-Signature': 'forged', 'X-Amz-Security-Token': 'forged' });
    expect(r.verdict.ok).toBe(true);
    expect(r.received.headers['x-amz-date']).not.toBe('20000101T000000Z');
    expect(r.received.headers['x-amz-signature']).toBeUndefined();
    expect(r.received.headers['x-amz-security-token']).toBe('static-session-token');
  });

  it('is refused by the verifier when the secret differs', async () => {
    const r = await call('wrong_GET_DescribeInstances', DESCRIBE);
    expect(r.verdict).toMatchObject({ ok: false, reason: 'SignatureDoesNotMatch', accessKeyId: 'AKIDSTATIC' });
    expect(r.isError).toBe(true);
    expect(r.text).toContain('403');
  });

  it('finds keys through the AWS credential chain: environment variables, with their session token', async () => {
    const r = await call('fromenv_GET_DescribeInstances', DESCRIBE);
    expect(r.verdict).toMatchObject({ ok: true, accessKeyId: 'AKIDENV' });
    expect(r.received.headers['x-amz-security-token']).toBe('env-session-token');
  });

  it('finds keys through the AWS credential chain: a shared credentials file profile', async () => {
    const r = await call('fromprofile_GET_DescribeInstances', DESCRIBE);
    expect(r.verdict).toMatchObject({ ok: true, accessKeyId: 'AKIDPROFILE' });
    expect(r.received.headers['x-amz-security-token']).toBeUndefined();
  });
});
