// What authentication and authorisation add to one call, in-process:
// verifying an RS256 JWT against a cached JWKS (served on port 0) and deciding
// the call against a small rule set, versus an unauthenticated call.
//
//   npm run build && node bench/auth-overhead.mjs [--calls 20000]
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createAuthenticator } from '../dist/policy/authenticate.js';
import { compileRules } from '../dist/policy/rules.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '20000' } } });
const CALLS = Number(values.calls);

const { publicKey, privateKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const idp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ keys: [jwk] }));
});
await new Promise((r) => idp.listen(0, '127.0.0.1', r));
const issuer = 'https://idp.bench/';
const audience = 'https://gatehouse.bench/mcp';
const authenticate = createAuthenticator({ jwt: { jwksUrl: `http://127.0.0.1:${idp.address().port}/jwks.json`, issuer, audience } });
const token = await new SignJWT({ scope: 'tools:read tools:write', groups: ['eng'] })
  .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
  .setIssuer(issuer)
  .setAudience(audience)
  .setSubject('user-1')
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(privateKey);
const headers = { authorization: `Bearer ${token}` };
const authorizer = compileRules([
  { allow: { principals: { scopes: ['tools:read'] }, readOnly: true } },
  { allow: { principals: { scopes: ['tools:write'] }, backends: ['inventory', 'billing*'] } },
  { deny: { tools: ['*_delete*'] } },
]);
const target = { kind: 'tool', name: 'inventory_createItem', backend: 'inventory', method: 'POST', readOnly: false };

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * xs.length)];
async function measure(fn) {
  for (let i = 0; i < 2000; i++) await fn();
  const ts = [];
  for (let i = 0; i < CALLS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  return { p50: pct(ts, 50).toFixed(1), p99: pct(ts, 99).toFixed(1) };
}

const jwtAndPolicy = await measure(async () => {
  const principal = await authenticate(headers);
  if (!authorizer.decide(principal, target).allowed) throw new Error('denied');
});
const policyOnly = await measure(async () => {
  if (!authorizer.decide({ id: 'u', kind: 'jwt', scopes: ['tools:write'] }, target).allowed) throw new Error('denied');
});
console.log(JSON.stringify({ calls: CALLS, microsecondsPerCall: { jwtAndPolicy, policyOnly }, node: process.version }, null, 2));
idp.close();
