// Runs panva's oidc-provider on loopback as an independent, certified authorization server that issues Auth0-style client-credentials JWT access tokens for mod_auth0gw's interoperability test.
//
// Usage: node provider.js --port PORT [--watch-pid PID]
// PORT 0 picks a free port; with --watch-pid it ends by itself once PID is gone, so a
// harness killed with SIGKILL leaves no provider behind.
// Prints "ready ISSUER" on stdout once it accepts connections, ISSUER being
// http://127.0.0.1:PORT/ (so the module needs Auth0InsecureHTTP On for it).
// Ends on SIGTERM/SIGINT. Everything it knows is fixed below and mirrored in
// t/lib/AGW/Interop.pm; there is no admin interface on purpose: what is tested is
// the provider's own behaviour, not ours.

import http from 'node:http';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';

// Resource servers (Auth0 "APIs"): the `audience` a client asks for. Unknown ones are
// refused with invalid_target, as Auth0 refuses an unknown audience.
const RESOURCE_SERVERS = {
  'https://api.interop.test/': { scope: 'read:messages write:messages' },
  'https://other.interop.test/': { scope: 'read:other' },
};

// One client per token-endpoint authentication method the module implements.
const CLIENTS = [
  {
    client_id: 'interop-basic',
    client_secret: 'interop-basic-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'interop-post',
    client_secret: 'interop-post-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_post',
  },
  // DPoP (RFC 9449): tokens bound to the proof's key; the second also demands a nonce
  {
    client_id: 'interop-dpop',
    client_secret: 'interop-dpop-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_post',
    dpop_bound_access_tokens: true,
  },
  {
    client_id: 'interop-dpop-nonce',
    client_secret: 'interop-dpop-nonce-secret-0123456789ab',
    token_endpoint_auth_method: 'client_secret_post',
    dpop_bound_access_tokens: true,
  },
].map((c) => ({
  ...c,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
}));

const TOKEN_TTL = 600;

function usage(why) {
  process.stderr.write(`provider.js: ${why}\nusage: node provider.js --port PORT [--watch-pid PID]  (PORT 0 = any free port)\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: undefined, watchPid: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined || !/^\d{1,7}$/.test(value)) usage(`${argv[i]} needs a number`);
    if (argv[i] === '--port') opts.port = Number(value);
    else if (argv[i] === '--watch-pid') opts.watchPid = Number(value);
    else usage(`unknown option ${argv[i]}`);
  }
  if (opts.port === undefined || opts.port > 65535) usage('--port 0..65535 is required');
  return opts;
}

function parentAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// A fresh RS256 key per run: the module must learn it from the JWKS, never from us.
function signingJwks() {
  // PEM out of the generation job, then imported: exporting a key that a key-generation job
  // still owns can deadlock Node 20 when the job is collected meanwhile (see issuer.js).
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { format: 'pem', type: 'pkcs8' },
    publicKeyEncoding: { format: 'pem', type: 'spki' },
  });
  const jwk = createPrivateKey(privateKey).export({ format: 'jwk' });
  return {
    keys: [{ ...jwk, kid: `interop-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' }],
  };
}

function providerConfiguration() {
  return {
    clients: CLIENTS,
    jwks: signingJwks(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    routes: {
      token: '/oauth/token',
      jwks: '/.well-known/jwks.json',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: randomBytes(32),
        requireNonce: (ctx) => ctx.oidc?.client?.clientId === 'interop-dpop-nonce',
      },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // No audience -> no resource -> an opaque token, as Auth0 without a default API.
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          const rs = RESOURCE_SERVERS[resourceIndicator];
          if (!rs) throw new errors.InvalidTarget();
          return {
            scope: rs.scope,
            audience: resourceIndicator,
            accessTokenTTL: TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };
}

// Auth0's token endpoint takes `audience`, in a form or a JSON body; RFC 8707 (and so
// oidc-provider) takes `resource`, in a form only. Rewrite the request before the provider
// parses it, so that a client written for Auth0 (our module) talks to it unchanged. The
// provider then reads the body we parsed (req.body) instead of the stream.
const BODY_LIMIT = 16 * 1024;

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function formToObject(text) {
  const form = new URLSearchParams(text);
  const body = {};
  for (const key of new Set(form.keys())) {
    const values = form.getAll(key);
    body[key] = values.length === 1 ? values[0] : values;
  }
  return body;
}

function jsonToObject(text) {
  const value = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('not a JSON object');
  }
  const body = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new Error(`${key} is not a string`);
    body[key] = v;
  }
  return body;
}

function audienceToResource() {
  return async (ctx, next) => {
    const isForm = ctx.is('application/x-www-form-urlencoded');
    const isJson = ctx.is('application/json');
    if (ctx.method === 'POST' && ctx.path === '/oauth/token' && (isForm || isJson)) {
      let body;
      try {
        const text = await readBody(ctx.req);
        body = isForm ? formToObject(text) : jsonToObject(text);
      } catch (err) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: err.message };
        return;
      }
      if (body.audience !== undefined && body.resource === undefined) {
        body.resource = body.audience;
      }
      delete body.audience;
      ctx.req.body = body;
      ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    await next();
  };
}

function main() {
  const { port, watchPid } = parseArgs(process.argv.slice(2));
  const server = http.createServer();

  server.on('error', (err) => {
    process.stderr.write(`provider.js: cannot listen on ${HOST}:${port}: ${err.message}\n`);
    process.exit(1);
  });

  // The issuer names the port, so it is known only once the socket is bound.
  server.listen(port, HOST, () => {
    const issuer = `http://${HOST}:${server.address().port}/`;
    const provider = new Provider(issuer, providerConfiguration());
    provider.use(audienceToResource());
    provider.on('server_error', (ctx, err) => {
      process.stderr.write(`provider.js: server_error: ${err.stack || err}\n`);
    });
    server.on('request', provider.callback());
    process.stdout.write(`ready ${issuer}\n`);
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (watchPid !== undefined) {
    setInterval(() => { if (!parentAlive(watchPid)) stop(); }, 1000).unref();
  }
}

main();
