// A DPoP client (RFC 9449) written with panva's `jose`, independent of the module: gets a DPoP-bound client-credentials token from oidc-provider and makes proofs for a request to the gate, for t/interop/03-dpop-gate.t.
//
// Usage: AGW_INTEROP_DPOP_SECRET=... node dpop-client.js ISSUER CLIENT_ID RESOURCE URL
// Asks ISSUER's token endpoint (ISSUER/oauth/token) for a client-credentials token with the
// RFC 8707 `resource` (oidc-provider's own parameter; Auth0 calls it `audience`), client
// secret in the body, and a DPoP proof of a fresh P-256 key (A), retrying once with the
// server's nonce if asked (`use_dpop_nonce`, RFC 9449 section 8). Prints one JSON object:
//   status, token_response (the endpoint's JSON), jkt (A's RFC 7638 thumbprint, by jose),
//   proofs: [two proofs of A for GET URL with the token's ath], other_key_proof (a proof of
//   another fresh key B for the same request and token)
import { randomUUID } from 'node:crypto';

import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';

const [issuer, clientId, resource, url] = process.argv.slice(2);
const secret = process.env.AGW_INTEROP_DPOP_SECRET;
if (!issuer || !clientId || !resource || !url || !secret) {
  process.stderr.write('usage: AGW_INTEROP_DPOP_SECRET=... node dpop-client.js ISSUER CLIENT_ID RESOURCE URL\n');
  process.exit(2);
}

async function holder() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: await exportJWK(publicKey) };
}

async function ath(token) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return Buffer.from(digest).toString('base64url');
}

// One proof: a new jti, iat now.
async function proof(key, htm, htu, extra = {}) {
  return new SignJWT({ htm, htu, ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .setIssuedAt()
    .setJti(randomUUID())
    .sign(key.privateKey);
}

async function tokenRequest(key, nonce) {
  const endpoint = `${issuer}oauth/token`;
  const body = new URLSearchParams({ grant_type: 'client_credentials', resource, client_id: clientId, client_secret: secret });
  return fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, 'POST', endpoint, nonce ? { nonce } : {}) },
    body,
  });
}

async function main() {
  const a = await holder();
  const b = await holder();
  let res = await tokenRequest(a);
  let json = await res.json();
  if (res.status === 400 && json.error === 'use_dpop_nonce' && res.headers.get('dpop-nonce')) {
    res = await tokenRequest(a, res.headers.get('dpop-nonce'));
    json = await res.json();
  }
  const out = { status: res.status, token_response: json, jkt: await calculateJwkThumbprint(a.jwk, 'sha256') };
  if (res.status === 200 && json.access_token) {
    const bound = { ath: await ath(json.access_token) };
    out.proofs = [await proof(a, 'GET', url, bound), await proof(a, 'GET', url, bound)];
    out.other_key_proof = await proof(b, 'GET', url, bound);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  process.stderr.write(`dpop-client.js: ${e.stack || e}\n`);
  process.exit(1);
});
