// The DPoP case of `make bench`: one DPoP-bound access token (RFC 9449, cnf.jkt) signed with the issuer fixture's RS256 key, and a file of fresh proofs, one per request.
//
// Usage: node bench/dpop.js token  --state ISSUER_STATEDIR --out DIR [--audience AUD] [--ttl S]
//        node bench/dpop.js proofs --out DIR --url URL --count N [--method GET]
// token:  makes (once) the client's P-256 key DIR/dpop-client.pem and writes DIR/dpop-token.txt,
//         an RS256 token from the issuer's current RS256 key (as bench/mint.js reads it from
//         STATEDIR) whose cnf.jkt is that key's RFC 7638 thumbprint.
// proofs: writes DIR/dpop.txt, N lines "TOKEN PROOF" (bench/tokens.lua sends such a line as
//         `Authorization: DPoP TOKEN` and `DPoP: PROOF`), and DIR/dpop-probe.txt, one more
//         line for the check before the case; every proof an ES256 JWS with its own jti,
//         iat = now, htm METHOD, htu URL and ath of the token, signed in worker threads (one a
//         core). The gate takes a proof for 60 s plus Auth0Leeway and only once: make the file
//         right before the run that sends it. Prints "N proofs in S s".
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const b64u = (buf) => Buffer.from(buf).toString('base64url');

function die(msg) {
  process.stderr.write(`dpop.js: ${msg}\n`);
  process.exit(2);
}

function thumbprint(jwk) {
  const canon = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`;
  return b64u(crypto.createHash('sha256').update(canon).digest());
}

// Proofs [from, to) for one token; the jti carries the proof's number, so no two repeat.
function makeProofs({ pem, token, method, url, iat, from, to }) {
  const key = crypto.createPrivateKey(pem);
  const jwk = crypto.createPublicKey(key).export({ format: 'jwk' });
  const head = b64u(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } }));
  const ath = b64u(crypto.createHash('sha256').update(token).digest());
  const salt = b64u(crypto.randomBytes(9));
  const out = [];
  for (let i = from; i < to; i++) {
    const claims = { jti: `${salt}-${i}`, htm: method, htu: url, iat, ath };
    const input = `${head}.${b64u(JSON.stringify(claims))}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    out.push(`${token} ${input}.${b64u(sig)}`);
  }
  return out;
}

if (!isMainThread) {
  parentPort.postMessage(makeProofs(workerData));
} else {
  main().catch((e) => die(e.stack || e.message));
}

function parseArgs(argv) {
  const o = { cmd: argv[0], state: null, out: null, url: null, count: null, method: 'GET',
    audience: 'https://api.agw.test/', ttl: 6 * 3600 };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    if (a === '--state') o.state = v();
    else if (a === '--out') o.out = v();
    else if (a === '--url') o.url = v();
    else if (a === '--count') o.count = Number(v());
    else if (a === '--method') o.method = v();
    else if (a === '--audience') o.audience = v();
    else if (a === '--ttl') o.ttl = Number(v());
    else die(`unknown argument ${a}`);
  }
  if (!o.out) die('--out is required');
  if (o.cmd === 'token' && !o.state) die('token needs --state');
  if (o.cmd === 'proofs' && (!o.url || !Number.isInteger(o.count) || o.count < 1)) die('proofs needs --url and --count N');
  if (o.cmd !== 'token' && o.cmd !== 'proofs') die('the first argument is token or proofs');
  return o;
}

function clientKey(dir) {
  const file = path.join(dir, 'dpop-client.pem');
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    fs.writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8');
}

function mintToken(o) {
  const info = JSON.parse(fs.readFileSync(path.join(o.state, 'issuer.json'), 'utf8'));
  const keys = JSON.parse(fs.readFileSync(path.join(o.state, 'issuer-keys', '_default.json'), 'utf8'));
  // t/fixtures/issuer.js's current key: the first published RS256 key without JWK overrides
  const rs = keys.find((e) => e.alg === 'RS256' && e.published !== false && Object.keys(e.publish || {}).length === 0);
  if (!rs) die('no current RS256 key in the issuer\'s state: mint one RS256 token through admin/mint first');
  fs.mkdirSync(o.out, { recursive: true });
  const jwk = crypto.createPublicKey(clientKey(o.out)).export({ format: 'jwk' });
  const iat = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: rs.kid };
  const claims = { iss: info.issuer, aud: o.audience, sub: 'bench-dpop-client@clients', iat, exp: iat + o.ttl,
    azp: 'bench-dpop-client', scope: 'read:orders', gty: 'client-credentials', cnf: { jkt: thumbprint(jwk) } };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), crypto.createPrivateKey({ key: rs.jwk, format: 'jwk' }));
  fs.writeFileSync(path.join(o.out, 'dpop-token.txt'), `${input}.${b64u(sig)}\n`);
}

async function writeProofs(o) {
  const t0 = process.hrtime.bigint();
  const pem = clientKey(o.out);
  const token = fs.readFileSync(path.join(o.out, 'dpop-token.txt'), 'utf8').trim();
  const job = { pem, token, method: o.method, url: o.url, iat: Math.floor(Date.now() / 1000) };
  const total = o.count + 1;
  const nworkers = Math.max(1, Math.min(os.cpus().length, Math.ceil(total / 5000)));
  const per = Math.ceil(total / nworkers);
  const parts = [];
  for (let w = 0; w < nworkers && w * per < total; w++) {
    parts.push(new Promise((resolve, reject) => {
      const worker = new Worker(__filename, { workerData: { ...job, from: w * per, to: Math.min(total, (w + 1) * per) } });
      worker.once('message', resolve);
      worker.once('error', reject);
    }));
  }
  const lines = (await Promise.all(parts)).flat();
  fs.writeFileSync(path.join(o.out, 'dpop-probe.txt'), `${lines.pop()}\n`);
  const fd = fs.openSync(path.join(o.out, 'dpop.txt'), 'w');
  for (let i = 0; i < lines.length; i += 10000) fs.writeSync(fd, `${lines.slice(i, i + 10000).join('\n')}\n`);
  fs.closeSync(fd);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${o.count} proofs in ${secs.toFixed(1)} s\n`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.cmd === 'token') mintToken(o);
  else await writeProofs(o);
}
