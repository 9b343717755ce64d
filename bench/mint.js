// Mints the benchmark's tokens in bulk with the issuer fixture's own signing keys (read from its state directory), in parallel, instead of thousands of admin/mint calls.
//
// Usage: node bench/mint.js --state ISSUER_STATEDIR --out DIR --count N --flood M [--es256 E]
//                           [--ttl S] [--audience AUD] [--reuse] [--zipf T --zipf-requests R]
// Reads STATEDIR/issuer.json (the issuer URL) and STATEDIR/issuer-keys/_default.json (the
// default tenant's keys, as t/fixtures/issuer.js saves them); the current RS256 and ES256
// keys must exist (an admin/mint call for each alg makes them). Writes, one token a line:
//   same.txt    1 RS256 token
//   rs256.txt   N distinct RS256 tokens        es256.txt  E (default N) distinct ES256 tokens
//   flood.txt   M tokens with good-looking claims and wrong signatures (random, under the
//               modulus): 9 in 10 name the current RS256 kid, 1 in 10 a kid never published
// and meta.json {issuer, audience, rs256_kid, es256_kid, exp, counts}. With --reuse, the files
// of an earlier run are kept (and "reused" printed) when they still fit (tokensStillGood).
// With --zipf T, also (always new, as they expire in an hour; see mintZipf):
//   zipf.txt    T distinct Auth0-shaped RS256 tokens (realistic claims, about 900 bytes)
//   zipf.order  R line numbers of zipf.txt (1-based), the request order: line i comes with
//               probability ~ 1/i^s, s chosen so that the top 20% of the tokens carry 80% of
//               the requests; the same seed every time, so the same sequence every run
//   zipf.json   {tokens, requests, s, top20_share (of the sequence), bytes_min, bytes_max}
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const b64u = (buf) => Buffer.from(buf).toString('base64url');
// Bumped when the tokens change in kind, so that --reuse does not keep older ones.
const FORMAT = 2;

function die(msg) {
  process.stderr.write(`mint.js: ${msg}\n`);
  process.exit(2);
}

// Signs tokens [from, to) of one kind; the claims differ per token (sub, jti), so every
// token is distinct and none is a prefix of another.
function mintRange({ kind, from, to, jwk, kid, issuer, audience, iat, exp }) {
  const key = jwk ? crypto.createPrivateKey({ key: jwk, format: 'jwk' }) : null;
  const alg = kind === 'es256' ? 'ES256' : 'RS256';
  const out = [];
  for (let i = from; i < to; i++) {
    const header = { alg, typ: 'JWT', kid: kind === 'flood' && i % 10 === 9 ? `bench-unknown-${i}` : kid };
    const claims = kind === 'zipf' ? auth0Claims(i, issuer, audience, iat) : {
      iss: issuer, aud: audience, sub: `auth0|bench-${kind}-${i}`, iat, exp,
      azp: 'bench-client', scope: 'read:orders', jti: crypto.randomBytes(8).toString('hex'),
    };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    let sig;
    if (kind === 'flood') {
      // Below any 2048-bit modulus, so that the verifier has to do the whole RSA operation:
      // a value at or over the modulus is refused before it (OpenSSL's "data too large").
      sig = crypto.randomBytes(256);
      sig[0] &= 0x3f;
    }
    else if (kind === 'es256') sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    else sig = crypto.sign('sha256', Buffer.from(input), key);
    out.push(`${input}.${b64u(sig)}`);
  }
  return out;
}

// What an Auth0 access token for a user of a SPA carries (RBAC on, a roles claim added by an
// Action under a namespace), valid for one hour; user i differs in sub, roles and permissions.
function auth0Claims(i, issuer, audience, iat) {
  const roles = [['orders-reader'], ['orders-reader', 'invoices-reader'], ['orders-admin', 'orders-reader', 'support']][i % 3];
  const perms = ['read:orders', 'read:invoices', 'write:orders', 'read:customers'].slice(0, 2 + (i % 3));
  return {
    [`${audience}roles`]: roles,
    iss: issuer,
    sub: `auth0|${crypto.createHash('sha256').update(`user-${i}`).digest('hex').slice(0, 24)}`,
    aud: [audience, `${issuer}userinfo`],
    iat,
    exp: iat + 3600,
    scope: `openid profile email ${perms.join(' ')}`,
    azp: 'Xk4bLp2QzR9vT7wN1mYc8sHd3fJ6gA0e',
    permissions: perms,
  };
}

if (!isMainThread) {
  parentPort.postMessage(mintRange(workerData));
} else {
  main().catch((e) => die(e.stack || e.message));
}

function parseArgs(argv) {
  const o = { state: null, out: null, count: null, flood: null, es256: null, ttl: 6 * 3600, audience: 'https://api.agw.test/', reuse: false,
    zipf: 0, zipfRequests: 500000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    if (a === '--state') o.state = v();
    else if (a === '--out') o.out = v();
    else if (a === '--count') o.count = Number(v());
    else if (a === '--flood') o.flood = Number(v());
    else if (a === '--es256') o.es256 = Number(v());
    else if (a === '--ttl') o.ttl = Number(v());
    else if (a === '--audience') o.audience = v();
    else if (a === '--reuse') o.reuse = true;
    else if (a === '--zipf') o.zipf = Number(v());
    else if (a === '--zipf-requests') o.zipfRequests = Number(v());
    else die(`unknown argument ${a}`);
  }
  if (!o.state || !o.out) die('--state and --out are required');
  if (!Number.isInteger(o.zipf) || o.zipf < 0) die('--zipf must be a number of tokens (0: none)');
  if (o.es256 === null) o.es256 = o.count;
  for (const k of ['count', 'flood', 'es256', 'ttl', 'zipfRequests']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) die(`--${k} must be a positive integer`);
  }
  return o;
}

// The key t/fixtures/issuer.js signs with for alg: the first published key of that alg
// without JWK overrides (its Tenant.currentKey rule).
function currentKey(keys, alg) {
  const k = keys.find((e) => e.alg === alg && e.published !== false && Object.keys(e.publish || {}).length === 0);
  if (!k) die(`no current ${alg} key in the issuer's state: mint one ${alg} token through admin/mint first`);
  return k;
}

// The tokens of an earlier run serve again when they were made for the same issuer URL,
// keys, audience and counts and stay valid for two more hours.
function tokensStillGood(o, info, rs, es, now) {
  let meta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(o.out, 'meta.json'), 'utf8'));
  } catch (e) {
    return false;
  }
  return meta.format === FORMAT && meta.issuer === info.issuer && meta.audience === o.audience &&
    meta.rs256_kid === rs.kid && meta.es256_kid === es.kid && meta.exp > now + 7200 && meta.counts &&
    meta.counts.rs256 === o.count && meta.counts.es256 === o.es256 && meta.counts.flood === o.flood &&
    ['same.txt', 'rs256.txt', 'es256.txt', 'flood.txt'].every((f) => fs.existsSync(path.join(o.out, f)));
}

// Tiny seeded PRNG (mulberry32): the same request order on every run and machine.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The exponent s for which the first 20% of n ranks carry 80% of the weight 1/rank^s.
function zipfExponent(n) {
  const share = (s) => {
    let top = 0, all = 0;
    for (let r = 1; r <= n; r++) {
      const w = r ** -s;
      all += w;
      if (r <= Math.ceil(n / 5)) top += w;
    }
    return top / all;
  };
  let lo = 0, hi = 3;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (share(mid) < 0.8) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

// zipf.txt, zipf.order and zipf.json (see the header).
async function mintZipf(o, job, nworkers, write) {
  const tokens = await inWorkers(job, o.zipf, nworkers);
  const s = zipfExponent(o.zipf);
  const cdf = [];
  let acc = 0;
  for (let r = 1; r <= o.zipf; r++) cdf.push((acc += r ** -s));
  const rand = mulberry32(11);
  const order = [];
  let top = 0;
  for (let k = 0; k < o.zipfRequests; k++) {
    const x = rand() * acc;
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1; else hi = mid;
    }
    order.push(lo + 1);
    if (lo < Math.ceil(o.zipf / 5)) top++;
  }
  write('zipf.txt', tokens);
  write('zipf.order', order);
  const lens = tokens.map((t) => t.length);
  fs.writeFileSync(path.join(o.out, 'zipf.json'), JSON.stringify({
    tokens: o.zipf, requests: o.zipfRequests, s: Number(s.toFixed(4)), top20_share: top / o.zipfRequests,
    bytes_min: Math.min(...lens), bytes_max: Math.max(...lens), exp: job.iat + 3600,
  }));
}

function inWorkers(job, count, nworkers) {
  const per = Math.ceil(count / nworkers);
  const parts = [];
  for (let w = 0; w < nworkers && w * per < count; w++) {
    const data = { ...job, from: w * per, to: Math.min(count, (w + 1) * per) };
    parts.push(new Promise((resolve, reject) => {
      const worker = new Worker(__filename, { workerData: data });
      worker.once('message', resolve);
      worker.once('error', reject);
    }));
  }
  return Promise.all(parts).then((lists) => lists.flat());
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const info = JSON.parse(fs.readFileSync(path.join(o.state, 'issuer.json'), 'utf8'));
  const keys = JSON.parse(fs.readFileSync(path.join(o.state, 'issuer-keys', '_default.json'), 'utf8'));
  const rs = currentKey(keys, 'RS256');
  const es = currentKey(keys, 'ES256');
  const iat = Math.floor(Date.now() / 1000);
  const common = { issuer: info.issuer, audience: o.audience, iat, exp: iat + o.ttl };
  const nworkers = Math.max(1, os.cpus().length);
  fs.mkdirSync(o.out, { recursive: true });

  // In slices: a million tokens joined would pass V8's longest string (about 512 MiB).
  const write = (name, list) => {
    const fd = fs.openSync(path.join(o.out, name), 'w');
    for (let i = 0; i < list.length; i += 10000) fs.writeSync(fd, `${list.slice(i, i + 10000).join('\n')}\n`);
    fs.closeSync(fd);
  };
  if (o.zipf > 0) await mintZipf(o, { ...common, kind: 'zipf', jwk: rs.jwk, kid: rs.kid }, nworkers, write);
  if (o.reuse && tokensStillGood(o, info, rs, es, iat)) {
    process.stdout.write('reused\n');
    return;
  }
  write('same.txt', mintRange({ ...common, kind: 'same', from: 0, to: 1, jwk: rs.jwk, kid: rs.kid }));
  write('rs256.txt', await inWorkers({ ...common, kind: 'rs256', jwk: rs.jwk, kid: rs.kid }, o.count, nworkers));
  write('es256.txt', await inWorkers({ ...common, kind: 'es256', jwk: es.jwk, kid: es.kid }, o.es256, nworkers));
  write('flood.txt', mintRange({ ...common, kind: 'flood', from: 0, to: o.flood, jwk: null, kid: rs.kid }));
  fs.writeFileSync(path.join(o.out, 'meta.json'), JSON.stringify({
    format: FORMAT, issuer: info.issuer, audience: o.audience, rs256_kid: rs.kid, es256_kid: es.kid,
    exp: common.exp, counts: { rs256: o.count, es256: o.es256, flood: o.flood },
  }));
}
