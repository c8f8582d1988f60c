import { createHash } from 'node:crypto';
import aws4 from 'aws4';
import type { Received } from './stub-backend.js';

/**
 * Checks an AWS Signature Version 4 the way a service does, from the request
 * as received, with an implementation independent of the gateway's signer
 * (`aws4`, not `@smithy/signature-v4`): it recomputes the signature over the
 * signed headers, the request target and the body hash, and checks the body
 * hash against the bytes that arrived.
 */
export interface SigV4Verdict {
  ok: boolean;
  /** Why the signature was refused. */
  reason?: string;
  accessKeyId?: string;
  /** Names in the SignedHeaders field. */
  signedHeaders: string[];
  /** `<date>/<region>/<service>/aws4_request`. */
  scope?: string;
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

export function verifySigV4(req: Received, secrets: Readonly<Record<string, string>>): SigV4Verdict {
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const m = AUTH.exec(header('authorization') ?? '');
  if (m === null) return { ok: false, reason: 'no SigV4 Authorization header', signedHeaders: [] };
  const [, accessKeyId, date, region, service, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  const signedHeaders = signedList.split(';');
  const verdict = (ok: boolean, reason?: string): SigV4Verdict => ({ ok, ...(reason === undefined ? {} : { reason }), accessKeyId, signedHeaders, scope: `${date}/${region}/${service}/aws4_request` });

  const secret = secrets[accessKeyId];
  if (secret === undefined) return verdict(false, `unknown access key ${accessKeyId}`);
  const amzDate = header('x-amz-date');
  if (amzDate === undefined || !amzDate.startsWith(date)) return verdict(false, 'x-amz-date missing or not the credential date');
  for (const required of ['host', 'x-amz-date']) if (!signedHeaders.includes(required)) return verdict(false, `${required} is not signed`);
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  if (header('x-amz-content-sha256') !== bodyHash) return verdict(false, 'x-amz-content-sha256 is not the hash of the body received');

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(name);
    if (value === undefined) return verdict(false, `signed header ${name} was not received`);
    headers[name] = value;
  }
  const signer = new aws4.RequestSigner(
    { method: req.method, host: headers['host'], path: req.url, headers, body: req.body, service, region, doNotModifyHeaders: true },
    { accessKeyId, secretAccessKey: secret },
  );
  // With doNotModifyHeaders aws4 does not read x-amz-date itself.
  signer.datetime = amzDate;
  if (signer.signedHeaders() !== signedList) return verdict(false, 'SignedHeaders differ');
  return signer.signature() === signature ? verdict(true) : verdict(false, 'SignatureDoesNotMatch');
}
