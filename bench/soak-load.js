// The load of `make soak`: a few concurrent keep-alive clients sending a paced mix of valid, new, expired, forged, token-less, removed-key and proxied requests to one httpd, each response checked against what its kind must get; counts and failures written as JSON.
//
// Usage: node bench/soak-load.js --url http://127.0.0.1:PORT --admin http://127.0.0.1:HTTPPORT
//          --out RESULTS.json --retire FILE --seconds S [--clients 4] [--rate 60]
//          [--just 25] [--grace 30] [--exp-after S]
// Keys: the issuer's published RS256 keys (admin/keys of the default tenant, polled every
// second); for each new one it mints a pool of valid and expired tokens (admin/mint with that
// kid). A kid listed in the --retire file (one a line, written by bench/soak.sh a few seconds
// before it removes the key) is no longer sent as valid; its tokens become "removed".
// Checks: valid and new tokens 200 (a 401 within --just seconds of the kid becoming current is
// counted as just_rotated_401, not a failure; any other status fails); expired, forged and
// token-less 401; proxied 200 with a Bearer token at the backend, or 503 with Retry-After while
// the soak tenant's token endpoint is down or within --grace seconds after; removed-key tokens
// are only counted (a 5xx fails). A request that fails on the network is retried once.
// SIGTERM or --seconds ends it; the results file is also rewritten every 5 s.
'use strict';

const http = require('node:http');
const fs = require('node:fs');

function die(msg) {
  process.stderr.write(`soak-load.js: ${msg}\n`);
  process.exit(2);
}

const o = { clients: 4, rate: 60, just: 25, grace: 30, seconds: 0, url: null, admin: null, out: null, retire: null, expAfter: 3600 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = () => (i + 1 < process.argv.length ? process.argv[++i] : die(`${a} needs a value`));
  if (a === '--url') o.url = v();
  else if (a === '--admin') o.admin = v();
  else if (a === '--out') o.out = v();
  else if (a === '--retire') o.retire = v();
  else if (a === '--seconds') o.seconds = Number(v());
  else if (a === '--clients') o.clients = Number(v());
  else if (a === '--rate') o.rate = Number(v());
  else if (a === '--just') o.just = Number(v());
  else if (a === '--grace') o.grace = Number(v());
  else if (a === '--exp-after') o.expAfter = Number(v());
  else die(`unknown argument ${a}`);
}
if (!o.url || !o.admin || !o.out || !o.retire || !(o.seconds > 0)) die('--url, --admin, --out, --retire and --seconds are required');

const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
const now = () => Date.now() / 1000;
const t0 = now();
const POOL_VALID = 8;
const POOL_EXPIRED = 4;

const counts = {};          // kind -> status -> n
const failures = [];        // the first 50
let failureCount = 0;
let justRotated401 = 0;
let flap503 = 0;
let retries = 0;
const keys = new Map();     // kid -> {since, valid: [], expired: [], state: 'published'|'retired'}
let currentKid = null;
let tokenDown = false;
let tokenUpAt = 0;
let stopping = false;

function count(kind, status) {
  counts[kind] = counts[kind] || {};
  counts[kind][status] = (counts[kind][status] || 0) + 1;
}
function fail(kind, status, why, kid) {
  failureCount++;
  if (failures.length < 50) failures.push({ t: Math.round(now() - t0), kind, status, kid: kid || null, why });
}

// One request to the admin API (plain HTTP on loopback); resolves to parsed JSON.
function admin(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : null;
    const req = http.request(`${o.admin}${path}`, {
      method, timeout: 10000, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {},
    }, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { s += c; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`admin ${path}: ${res.statusCode} ${s}`));
        try { resolve(JSON.parse(s)); } catch (e) { reject(e); }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`admin ${path}: timeout`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function mintFor(kid, expired) {
  const iat = Math.floor(now());
  const claims = expired ? { iat: iat - 900, exp: iat - 300 } : { iat, exp: iat + o.expAfter };
  return (await admin('POST', '/admin/mint', { kid, claims: { ...claims, sub: `auth0|soak-${kid}-${Math.random().toString(36).slice(2)}` } })).token;
}

function retiredKids() {
  try {
    return new Set(fs.readFileSync(o.retire, 'utf8').split('\n').filter(Boolean));
  } catch (e) {
    return new Set();
  }
}

let firstPoll = true;
async function pollKeys() {
  const list = (await admin('GET', '/admin/keys')).keys.filter((k) => k.alg === 'RS256' && k.published !== false);
  const retired = retiredKids();
  const published = new Set(list.map((k) => k.kid));
  if (list.length) currentKid = list[0].kid;
  for (const k of list) {
    if (keys.has(k.kid)) continue;
    const e = { since: firstPoll ? t0 - 3600 : now(), valid: [], expired: [], state: 'minting' };
    keys.set(k.kid, e);
    for (let i = 0; i < POOL_VALID; i++) e.valid.push(await mintFor(k.kid, false));
    for (let i = 0; i < POOL_EXPIRED; i++) e.expired.push(await mintFor(k.kid, true));
    e.state = 'published';
  }
  for (const [kid, e] of keys) {
    if (e.state === 'published' && (retired.has(kid) || !published.has(kid))) e.state = 'retired';
  }
  const st = await admin('GET', '/t/soak/admin/stats');
  const down = st.mode && st.mode.token !== 'up';
  if (tokenDown && !down) tokenUpAt = now();
  tokenDown = down;
  firstPoll = false;
}

const pick = (a) => a[Math.floor(Math.random() * a.length)];
const usable = () => [...keys.entries()].filter(([, e]) => e.state === 'published');
const removed = () => [...keys.entries()].filter(([, e]) => e.state === 'retired');

function forge(token) {
  const i = token.length - 12;
  const c = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + c + token.slice(i + 1);
}

// One GET (through the keep-alive pool, or with via === false on a connection of its own);
// resolves to {status, headers, body} or rejects on a network error.
function get(path, token, via = agent) {
  return new Promise((resolve, reject) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const req = http.get(`${o.url}${path}`, { agent: via, headers, timeout: 15000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { if (body.length < 65536) body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function send(path, token) {
  try {
    return await get(path, token);
  } catch (e) {
    // A graceful restart closes the idle keep-alive connections of the exiting processes, and
    // the pool may hand out another of them: the one retry (the request is idempotent, RFC
    // 9112 9.3.1) goes on a new connection, which only a serving process can accept.
    retries++;
    return get(path, token, false);
  }
}

const KINDS = [['valid', 40], ['new', 8], ['expired', 10], ['forged', 10], ['none', 10], ['proxied', 16], ['removed', 6]];
const TOTAL = KINDS.reduce((s, [, w]) => s + w, 0);
function chooseKind() {
  let r = Math.random() * TOTAL;
  for (const [k, w] of KINDS) {
    if ((r -= w) < 0) return k;
  }
  return 'valid';
}

async function one() {
  let kind = chooseKind();
  const pub = usable();
  if (!pub.length) return;
  if (kind === 'removed' && !removed().length) kind = 'valid';
  let token = null;
  let kid = null;
  let path = '/api/data.json';
  if (kind === 'valid' || kind === 'forged' || kind === 'expired') {
    const [k, e] = pick(pub);
    kid = k;
    token = kind === 'expired' ? pick(e.expired) : pick(e.valid);
    if (kind === 'forged') token = forge(token);
  } else if (kind === 'removed') {
    const [k, e] = pick(removed());
    kid = k;
    token = pick(e.valid);
  } else if (kind === 'new') {
    const m = await admin('POST', '/admin/mint', { claims: { sub: `auth0|soak-new-${Math.random().toString(36).slice(2)}` } });
    token = m.token;
    kid = m.kid;
    if (!keys.has(kid)) return;   // a key rotated in this very second: its pool comes first
  } else if (kind === 'proxied') {
    path = `/px/item-${Math.floor(Math.random() * 100)}`;
  }
  let r;
  try {
    r = await send(path, token);
  } catch (e) {
    count(kind, 'neterr');
    fail(kind, 'neterr', `network error twice: ${e.message}`, kid);
    return;
  }
  count(kind, r.status);
  const s = r.status;
  switch (kind) {
    case 'valid':
    case 'new':
      if (s === 200) break;
      if (s === 401 && now() - keys.get(kid).since < o.just) justRotated401++;
      else fail(kind, s, s >= 500 ? '5xx for a published key with fresh keys' : 'not 200 for a published, settled key', kid);
      break;
    case 'expired':
    case 'forged':
    case 'none':
      if (s !== 401) fail(kind, s, 'must be 401', kid);
      break;
    case 'removed':
      if (s >= 500) fail(kind, s, '5xx for a removed key', kid);
      break;
    case 'proxied':
      if (s === 200) {
        let seen = false;
        try {
          seen = JSON.parse(r.body).headers.some(([n, v]) => n.toLowerCase() === 'authorization' && /^Bearer \S+$/.test(v));
        } catch (e) { /* not JSON: seen stays false */ }
        if (!seen) fail(kind, s, 'backend got no Bearer token');
      } else if (s === 503 && r.headers['retry-after'] && (tokenDown || now() - tokenUpAt < o.grace)) {
        flap503++;
      } else {
        fail(kind, s, s === 503 ? '503 outside a token-endpoint flap or without Retry-After' : 'not 200', null);
      }
      break;
    default:
      break;
  }
}

function write() {
  const out = {
    seconds: Math.round(now() - t0), counts, failure_count: failureCount, failures,
    just_rotated_401: justRotated401, proxied_flap_503: flap503, network_retries: retries,
    keys_seen: keys.size,
  };
  fs.writeFileSync(`${o.out}.tmp`, JSON.stringify(out, null, 1));
  fs.renameSync(`${o.out}.tmp`, o.out);
}

async function client(n) {
  const interval = (1000 * o.clients) / o.rate;
  await new Promise((r) => setTimeout(r, (interval * n) / o.clients));
  while (!stopping) {
    const start = Date.now();
    try {
      await one();
    } catch (e) {
      count('admin', 'error');
      fail('admin', 'error', `issuer admin call failed: ${e.message}`);
    }
    const left = interval - (Date.now() - start);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
}

async function main() {
  await pollKeys();
  let polling = false;
  const poller = setInterval(() => {
    if (polling) return;
    polling = true;
    pollKeys().catch((e) => fail('admin', 'error', `key poll failed: ${e.message}`)).finally(() => { polling = false; });
  }, 1000);
  const writer = setInterval(write, 5000);
  const done = new Promise((resolve) => {
    const stop = () => { stopping = true; resolve(); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    setTimeout(stop, o.seconds * 1000);
  });
  const loops = [];
  for (let i = 0; i < o.clients; i++) loops.push(client(i));
  await done;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 20000))]);
  clearInterval(poller);
  clearInterval(writer);
  write();
  agent.destroy();
  process.exit(0);
}

main().catch((e) => die(e.stack || e.message));
