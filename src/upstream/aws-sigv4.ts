/**
 * AWS Signature Version 4 for backends that are AWS services (the `aws-sigv4`
 * credential, applied by credentials.ts). The request is signed as it will be
 * sent: after buildRequest and everything else, on every attempt, over the
 * exact path, query, headers and body bytes that forward() puts on the wire.
 *
 * Signed with `@smithy/signature-v4`, the signer of the AWS SDK for
 * JavaScript v3 (maintained by AWS, so it keeps up with the services' rules:
 * double URI-encoding of the path everywhere but S3, the payload hash header,
 * session tokens), with SHA-256 from node:crypto through `@smithy/core`. Keys
 * not given in config come from the standard AWS credential chain
 * (`@aws-sdk/credential-provider-node`). Both are imported on a backend's
 * first signed call (loading the signer costs ~170 ms and ~3 MB of heap,
 * which a gateway without AWS backends should not pay at start).
 */
import type { SignatureV4 } from '@smithy/signature-v4';
import type { CredentialConfig } from '../config/schema.js';
import { GatehouseError } from '../errors/catalogue.js';
import type { BuiltRequest } from './build-request.js';
import { splitUrl } from './forward.js';
import { HEADER_VALUE_INVALID } from './http-fields.js';

/**
 * AWS Signature Version 4 request signing. With `accessKeyId` and
 * `secretAccessKey` (and `sessionToken` for temporary keys) those keys sign;
 * without them the standard AWS credential chain finds them: the
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` environment
 * variables, then SSO, web identity, the shared credentials and config files
 * (`profile`, else `AWS_PROFILE`, else `default`), the ECS and EC2 metadata
 * services. The fields are described in the config schema (config/schema.ts).
 */
export type AwsSigV4Config = Extract<CredentialConfig, { type: 'aws-sigv4' }>;

/**
 * Headers SigV4 sets, and the names of its presigned-URL form: an argument
 * (AWS documents declare them all as header parameters) can neither replace
 * the signature nor add a second one. `host` is signed, so it is set here too.
 */
export const SIGV4_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'host',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-signature',
  'x-amz-signedheaders',
  'x-amz-expires',
]);

/** Query parameters of a presigned request (SigV4 "authenticating requests: query parameters"); a header-signed request carries none. */
const SIGV4_QUERY: ReadonlySet<string> = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);

/** Region and service names: lower-case letters, digits and dashes (they become part of the credential scope). */
const AWS_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Checks `config` once and returns the function that signs a request in
 * place. Throws GatehouseError GH_CONFIG_INVALID naming the field that is
 * wrong; the signing function throws GH_UPSTREAM_AUTH when no keys can be had.
 */
export function createAwsSigner(config: AwsSigV4Config, now: () => number): (req: BuiltRequest) => Promise<void> {
  if (typeof config.service !== 'string' || !AWS_NAME.test(config.service)) {
    throw configError('aws-sigv4 `service` must be the service signing name, e.g. "ec2" or "execute-api" (lower-case letters, digits, dashes).');
  }
  if (typeof config.region !== 'string' || !AWS_NAME.test(config.region)) {
    throw configError('aws-sigv4 `region` must be an AWS region name, e.g. "us-east-1".');
  }
  const hasId = config.accessKeyId !== undefined;
  if (hasId !== (config.secretAccessKey !== undefined)) {
    throw configError('aws-sigv4 needs both `accessKeyId` and `secretAccessKey`, or neither (then the AWS credential chain finds them).');
  }
  if (!hasId && config.sessionToken !== undefined) throw configError('aws-sigv4 `sessionToken` needs `accessKeyId` and `secretAccessKey`.');
  if (hasId && config.profile !== undefined) throw configError('aws-sigv4 `profile` picks keys from the AWS credential chain; leave it out when `accessKeyId` is set.');

  let credentials: AwsKeys | (() => Promise<AwsKeys>);
  if (hasId) {
    const keys: AwsKeys = {
      accessKeyId: checkValue(config.accessKeyId!, 'accessKeyId'),
      secretAccessKey: checkValue(config.secretAccessKey!, 'secretAccessKey'),
    };
    // The key id is written into `Credential=<id>/<scope>` of the Authorization header.
    if (/[/,\s=]/.test(keys.accessKeyId)) throw configError('aws-sigv4 `accessKeyId` must not contain "/", ",", "=" or spaces.');
    if (config.sessionToken !== undefined) keys.sessionToken = checkValue(config.sessionToken, 'sessionToken');
    credentials = keys;
  } else {
    if (config.profile !== undefined && config.profile === '') throw configError('aws-sigv4 `profile` must not be empty.');
    credentials = credentialChain(config.profile);
  }

  const { service, region } = config;
  let signer: Promise<SignatureV4> | undefined;
  const makeSigner = async (): Promise<SignatureV4> => {
    const [{ SignatureV4 }, { Hash }] = await Promise.all([import('@smithy/signature-v4'), import('@smithy/core/serde')]);
    return new SignatureV4({
      service,
      region,
      credentials,
      sha256: Hash.bind(null, 'sha256'),
      // Canonical URI: each segment URI-encoded twice, except for S3, which
      // signs the path as sent (AWS IAM guide, "Create a canonical request").
      uriEscapePath: service !== 's3',
      // x-amz-content-sha256 on every request: S3 requires it, the other
      // services accept it, and it names the body bytes the signature covers.
      applyChecksum: true,
    });
  };

  return async function signAws(req: BuiltRequest): Promise<void> {
    const target = signingTarget(req);
    let signed;
    try {
      signed = await (await (signer ??= makeSigner())).sign(target, { signingDate: new Date(now()) });
    } catch (err) {
      throw new GatehouseError('GH_UPSTREAM_AUTH', `Could not sign the request with AWS SigV4: ${describe(err)}.`, { cause: err });
    }
    req.url = target.url;
    for (const [name, value] of Object.entries(signed.headers)) req.headers[name.toLowerCase()] = value;
  };
}

/** The standard AWS credential chain, imported on first use; it caches keys until shortly before they expire. */
function credentialChain(profile: string | undefined): () => Promise<AwsKeys> {
  let provider: Promise<() => Promise<AwsKeys>> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-provider-node').then((m) => m.defaultProvider(profile === undefined ? {} : { profile }));
    return (await provider)();
  };
}

/** A provider's message says what it tried (it never holds a key); one line. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, ' ').replace(/\.$/, '').slice(0, 300);
}

/**
 * The request as @smithy/signature-v4 reads it: the path as sent (already
 * percent-encoded; the signer encodes it once more for the canonical URI),
 * the query decoded into names and values (the signer re-encodes them, as the
 * service does with what it receives), the exact body, and `host` as undici
 * sends it (the authority of the URL). Presigning query parameters an
 * argument may have set are dropped; `url` is the URL to send.
 */
function signingTarget(req: BuiltRequest) {
  // Split as forward() splits it: no URL parse that could re-encode the path.
  const { origin, path: requestTarget } = splitUrl(req.url);
  let authority: URL;
  try {
    authority = new URL(origin);
  } catch (err) {
    throw new GatehouseError('GH_REQUEST_BUILD_FAILED', 'The request URL cannot be signed: it is not an absolute URL.', { cause: err });
  }
  const q = requestTarget.indexOf('?');
  const path = q === -1 ? requestTarget : requestTarget.slice(0, q);
  const all = q === -1 ? [] : requestTarget.slice(q + 1).split('&').filter((part) => part !== '');
  const kept: string[] = [];
  const query: Record<string, string | string[]> = {};
  for (const part of all) {
    const eq = part.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
      value = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1));
    } catch (err) {
      throw new GatehouseError('GH_REQUEST_BUILD_FAILED', 'The query string holds a percent-encoded sequence that is not UTF-8, which AWS SigV4 cannot sign.', {
        cause: err,
      });
    }
    if (SIGV4_QUERY.has(name.toLowerCase())) continue;
    kept.push(part);
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return {
    method: req.method,
    protocol: authority.protocol,
    hostname: authority.hostname,
    ...(authority.port === '' ? {} : { port: Number(authority.port) }),
    path,
    query,
    headers: { ...req.headers, host: authority.host },
    body: req.body,
    url: kept.length === all.length ? req.url : `${origin}${path}${kept.length === 0 ? '' : '?' + kept.join('&')}`,
  };
}

function checkValue(value: string, field: string): string {
  if (typeof value !== 'string' || value === '') throw configError(`aws-sigv4 \`${field}\` must not be empty.`);
  if (HEADER_VALUE_INVALID.test(value)) throw configError(`aws-sigv4 \`${field}\` contains characters that cannot be sent in an HTTP header.`);
  return value;
}

function configError(message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `Backend credentials: ${message}`);
}
