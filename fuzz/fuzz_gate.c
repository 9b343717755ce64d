/* libFuzzer target: agw_gate_check, the one-call token check, with tokens built from the input and signed with keys the gate's file: JWKS serves, under a policy chosen by the input; two gates with caches (sharing one host table, like two processes) must answer as a gate without caches, and an ACCEPT must satisfy the policy. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include "agw_b64.h"
#include "agw_crypt.h"
#include "agw_gate.h"
#include "agw_json.h"
#include "agw_jwt.h"

/* Input: a policy byte, a mode byte, then header JSON, a NUL byte, payload JSON (without a
 * NUL: the payload under a default ES256 header naming the EC key's kid).
 * Policy byte: bits 0-1 algs (ES256 / RS256 / both / both + HS256), bit 2 token types
 * (at+jwt, JWT, secevent+jwt), bits 3-4 issuers (ISS1 / ISS2 / trust ISS1+ISS2 / trust ISS1 + ISS3 whose
 * key source is missing), bits 5-6 DPoP mode (off / allowed / required / allowed), bit 7
 * audiences (any / AUD + "other").
 * Mode byte: bit 0 the signature is corrupted, bit 1 the rest of the input is the token as
 * is, bit 2 the DPoP scheme without a DPoP header, bit 3 log_payload, bits 4-7 (when not
 * zero) a second policy, the first byte XOR these bits and their low nibble, that the token
 * meets after the first (the caches filled under one section, read under another). */
#define NOW 1700000000
#define LEEWAY 30
#define ISS1 "https://issuer.example/"
#define ISS2 "https://second.example/"
#define ISS3 "https://third.example/"
#define AUD "https://api.example"
#define DEFAULT_HEADER "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"ec1\"}"

static const unsigned char secret[32] = "fuzz-gate-secret-0123456789abcd";
static unsigned char hmac_id[32];
static apr_pool_t *root;
static EVP_PKEY *eckey, *rsakey;
static char jwks_path[64];
static const char *jwks_src;
static agw_gate_t *capped, *uncapped, *bare;    /* two caching processes, one without */
static apr_array_header_t *types, *auds, *trust12, *trust13;
static const agw_jwks_t *hmac_jwks;

static char *b64bn(apr_pool_t *p, EVP_PKEY *k, const char *name, int pad)
{
    unsigned char buf[512];
    BIGNUM *bn = NULL;
    int n;

    if (!EVP_PKEY_get_bn_param(k, name, &bn))
        abort();
    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    if (n <= 0)
        abort();
    return agw_b64url_encode(p, buf, (apr_size_t)n);
}

static void write_jwks(void)
{
    FILE *f;

    snprintf(jwks_path, sizeof(jwks_path), "/tmp/agw-fuzz-gate-%ld.json", (long)getpid());
    if (!(f = fopen(jwks_path, "w")))
        abort();
    fprintf(f, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec1\",\"x\":\"%s\","
            "\"y\":\"%s\"},{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"n\":\"%s\",\"e\":\"%s\"}]}",
            b64bn(root, eckey, "qx", 32), b64bn(root, eckey, "qy", 32),
            b64bn(root, rsakey, "n", 0), b64bn(root, rsakey, "e", 0));
    fclose(f);
    jwks_src = apr_pstrcat(root, "file:", jwks_path, NULL);
}

/* Everything the gates keep freed before LeakSanitizer's check at exit: what an input leaked
 * is still there. (The check after each input is off: LeakSanitizer does not see the key sets
 * and cached claims that live in the gates' pools and reports them.) */
static void at_exit(void)
{
    unlink(jwks_path);
    apr_pool_destroy(root);
    EVP_PKEY_free(eckey);
    EVP_PKEY_free(rsakey);
}

static agw_gate_t *make_gate(int caches, int front_capped, agw_hcache_t *host)
{
    agw_gate_t *g = apr_pcalloc(root, sizeof(*g));

    if (agw_keystore_create(&g->keys, root, NULL, NULL) != APR_SUCCESS)
        abort();
    if (caches) {
        g->front = agw_tcache_create(root, 16, 16 * 4096, AGW_TCACHE_ADMIT_SECOND);
        g->negative = agw_tcache_create(root, 16, 16 * 1536, AGW_TCACHE_ADMIT_SECOND);
        g->front_capped = front_capped;
        g->host = host;
        if (!g->front || !g->negative)
            abort();
    }
    g->proofkeys = agw_pkcache_create(root, 8);
    return g;
}

static apr_array_header_t *trust_of(const char *iss_b, const char *jwks_b)
{
    apr_array_header_t *t = apr_array_make(root, 2, sizeof(agw_trust_t));
    agw_trust_t *e = apr_array_push(t);

    e->issuer = ISS1;
    e->jwks = jwks_src;
    e = apr_array_push(t);
    e->issuer = iss_b;
    e->jwks = jwks_b;
    return t;
}

static void warm_up(agw_gate_t *g);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char *args[64], no_leak_check[] = "-detect_leaks=0";
    apr_size_t n = agw_hcache_bytes(256);
    agw_hcache_t *host;
    int i;

    /* libFuzzer reads its flags after this: the leak check after each input off (at_exit) */
    for (i = 0; i < *argc && i < 62; i++)
        args[i] = (*argv)[i];
    args[i++] = no_leak_check;
    args[i] = NULL;
    *argc = i;
    *argv = args;

    apr_initialize();
    apr_pool_create(&root, NULL);
    if (!(eckey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))
        || !(rsakey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)))
        abort();
    write_jwks();
    atexit(at_exit);
    hmac_jwks = agw_jwks_from_secret(root, secret, sizeof(secret));
    if (!hmac_jwks || agw_crypt_sha256(hmac_id, secret, sizeof(secret)) != APR_SUCCESS)
        abort();
    if (!(host = agw_hcache_init(apr_pcalloc(root, n), n, 256)))
        abort();
    capped = make_gate(1, 1, host);
    uncapped = make_gate(1, 0, host);
    bare = make_gate(0, 0, NULL);
    types = apr_array_make(root, 3, sizeof(const char *));
    APR_ARRAY_PUSH(types, const char *) = "at+jwt";
    APR_ARRAY_PUSH(types, const char *) = "JWT";
    APR_ARRAY_PUSH(types, const char *) = "secevent+jwt";  /* not an access token's */
    auds = apr_array_make(root, 2, sizeof(const char *));
    APR_ARRAY_PUSH(auds, const char *) = AUD;
    APR_ARRAY_PUSH(auds, const char *) = "other";
    trust12 = trust_of(ISS2, jwks_src);
    trust13 = trust_of(ISS3, "file:/nonexistent/agw-fuzz-gate.json");
    warm_up(capped);
    warm_up(uncapped);
    warm_up(bare);
    return 0;
}

static void policy_of(agw_gate_policy_t *pol, unsigned char b);
static const char *make_token(apr_pool_t *p, const char *in, apr_size_t size, int corrupt);

/* Each gate's key sources loaded, and the one unknown-kid refetch at NOW spent, before the
 * first input: every input then meets the same key sets whatever came before it. */
static void warm_up(agw_gate_t *g)
{
    static const char *const tokens[] = {
        "{\"alg\":\"ES256\",\"kid\":\"warm-up\"}", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
        "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{\"alg\":\"HS256\"}"
    };
    static const unsigned char issuers[3] = { 0x03, 0x0b, 0x1b };
    agw_gate_policy_t pol;
    agw_gate_in_t in;
    agw_gate_out_t out;
    apr_pool_t *p;
    unsigned int i, j;

    apr_pool_create(&p, root);
    for (i = 0; i < sizeof(issuers); i++) {
        policy_of(&pol, issuers[i]);
        for (j = 0; j < sizeof(tokens) / sizeof(tokens[0]); j++) {
            const char *payload = apr_psprintf(p, "{\"iss\":\"%s\",\"exp\":%d}",
                                               i == 1 ? ISS2 : i == 2 ? ISS3 : ISS1, NOW + 60);
            apr_size_t hlen = strlen(tokens[j]), plen = strlen(payload);
            char *text = apr_palloc(p, hlen + 1 + plen);

            memcpy(text, tokens[j], hlen);
            text[hlen] = '\0';
            memcpy(text + hlen + 1, payload, plen);
            memset(&in, 0, sizeof(in));
            in.token = make_token(p, text, hlen + 1 + plen, 0);
            in.len = strlen(in.token);
            agw_gate_check(&out, g, &pol, &in, NOW, p);
        }
    }
    apr_pool_destroy(p);
}

static void policy_of(agw_gate_policy_t *pol, unsigned char b)
{
    static const agw_alg_set_t algs[4] = {
        AGW_ALG_BIT(AGW_ALG_ES256), AGW_ALG_BIT(AGW_ALG_RS256),
        AGW_ALG_BIT(AGW_ALG_ES256) | AGW_ALG_BIT(AGW_ALG_RS256),
        AGW_ALG_BIT(AGW_ALG_ES256) | AGW_ALG_BIT(AGW_ALG_RS256) | AGW_ALG_BIT(AGW_ALG_HS256)
    };
    static const agw_dpop_mode_e modes[4] = { AGW_DPOP_OFF, AGW_DPOP_ALLOWED,
                                              AGW_DPOP_REQUIRED, AGW_DPOP_ALLOWED };
    int iss = (b >> 3) & 3;

    memset(pol, 0, sizeof(*pol));
    pol->algs = algs[b & 3];
    pol->leeway = LEEWAY;
    pol->token_types = (b & 4) ? types : NULL;
    pol->keys.jwks = jwks_src;
    pol->keys.issuer = iss == 1 ? ISS2 : ISS1;
    pol->keys.refresh = 900;
    pol->keys.cooldown = 30;
    pol->keys.max_stale = 86400;
    pol->trust = iss == 2 ? trust12 : iss == 3 ? trust13 : NULL;
    if ((b & 3) == 3) {
        pol->hmac_jwks = hmac_jwks;
        pol->hmac_id = hmac_id;
    }
    pol->dpop = modes[(b >> 5) & 3];
    pol->audiences = (b & 0x80) ? auds : NULL;
    pol->user_default = 1;
}

/* A signature of si by the key the header's alg names (a cheap look, not the parser under
 * test): ES256 raw r||s, RS256/384/512, HS256/384/512 with the secret. */
static char *sign(apr_pool_t *p, const char *header, apr_size_t hlen, const char *si)
{
    int rs = memmem(header, hlen, "\"RS", 3) != NULL, hs = memmem(header, hlen, "\"HS", 3) != NULL;
    const EVP_MD *md = memmem(header, hlen, "384", 3) ? EVP_sha384()
                       : memmem(header, hlen, "512", 3) ? EVP_sha512() : EVP_sha256();
    unsigned char sig[512], raw[64];
    size_t slen = sizeof(sig);
    unsigned int mlen = 0;
    EVP_MD_CTX *ctx;

    if (hs) {
        if (!HMAC(md, secret, sizeof(secret), (const unsigned char *)si, strlen(si), sig, &mlen))
            abort();
        return agw_b64url_encode(p, sig, mlen);
    }
    if (!rs)
        md = EVP_sha256();
    if (!(ctx = EVP_MD_CTX_new())
        || EVP_DigestSignInit(ctx, NULL, md, NULL, rs ? rsakey : eckey) != 1
        || EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)si, strlen(si)) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (!rs) {
        const unsigned char *d = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)slen);
        if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32
            || BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
            abort();
        ECDSA_SIG_free(es);
        return agw_b64url_encode(p, raw, sizeof(raw));
    }
    return agw_b64url_encode(p, sig, slen);
}

static const char *make_token(apr_pool_t *p, const char *in, apr_size_t size, int corrupt)
{
    const char *nul = memchr(in, '\0', size), *header = DEFAULT_HEADER, *payload = in;
    apr_size_t hlen = sizeof(DEFAULT_HEADER) - 1, plen = size;
    char *si, *sig;

    if (nul) {
        header = in;
        hlen = (apr_size_t)(nul - in);
        payload = nul + 1;
        plen = size - hlen - 1;
    }
    si = apr_pstrcat(p, agw_b64url_encode(p, (const unsigned char *)header, hlen), ".",
                     agw_b64url_encode(p, (const unsigned char *)payload, plen), NULL);
    sig = sign(p, header, hlen, si);
    if (corrupt && *sig)
        sig[strlen(sig) / 2] = sig[strlen(sig) / 2] == 'A' ? 'B' : 'A';
    return apr_pstrcat(p, si, ".", sig, NULL);
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* What a cache may not change: everything but served (and a refusal's logged payload). */
static void same_answer(const agw_gate_out_t *c, const agw_gate_out_t *u)
{
    if (getenv("FUZZ_GATE_DEBUG"))
        fprintf(stderr, "cached: %d %d %s %s served %d; uncached: %d %d %s %s\n", c->outcome,
                c->err.kind, c->err.code ? c->err.code : "-", c->err.reason ? c->err.reason : "-",
                c->served, u->outcome, u->err.kind, u->err.code ? u->err.code : "-",
                u->err.reason ? u->err.reason : "-");
    if (c->outcome != u->outcome || c->err.kind != u->err.kind
        || !same_str(c->err.code, u->err.code) || !same_str(c->fp, u->fp)
        || c->dpop_challenge != u->dpop_challenge || c->proof_alg != u->proof_alg
        || (c->nonce != NULL) != (u->nonce != NULL))
        abort();
    /* the negative cache says "signature invalid" for whichever bad signature it saw */
    if (c->outcome == AGW_GATE_REFUSE && !same_str(c->err.reason, u->err.reason)
        && !(c->err.kind == AGW_R_SIGNATURE && c->served == AGW_GATE_SERVED_NONE
             && !strcmp(c->err.reason, "signature invalid")))
        abort();
    if (c->outcome == AGW_GATE_UNAVAILABLE && !same_str(c->source, u->source))
        abort();
    if (c->outcome == AGW_GATE_ACCEPT
        && (c->alg != u->alg || !same_str(c->kid && *c->kid ? c->kid : NULL,
                                          u->kid && *u->kid ? u->kid : NULL)
            || c->jkt_bound != u->jkt_bound || c->cert_bound != u->cert_bound
            || !json_equal(c->claims, u->claims)))
        abort();
}

static int aud_ok(const agw_gate_policy_t *pol, const json_t *aud)
{
    size_t i;
    int j;

    if (!pol->audiences)
        return 1;
    for (j = 0; j < pol->audiences->nelts; j++) {
        const char *want = APR_ARRAY_IDX(pol->audiences, j, const char *);
        if (json_is_string(aud) && !strcmp(json_string_value(aud), want))
            return 1;
        for (i = 0; json_is_array(aud) && i < json_array_size(aud); i++)
            if (json_is_string(json_array_get(aud, i))
                && !strcmp(json_string_value(json_array_get(aud, i)), want))
                return 1;
    }
    return 0;
}

static int iss_ok(const agw_gate_policy_t *pol, const char *iss)
{
    int i;

    if (!iss)
        return 0;
    if (!pol->trust)
        return !strcmp(iss, pol->keys.issuer);
    for (i = 0; i < pol->trust->nelts; i++)
        if (!strcmp(iss, APR_ARRAY_IDX(pol->trust, i, agw_trust_t).issuer))
            return 1;
    return 0;
}

/* An ACCEPT is of a token the policy lets in. */
static void accept_ok(const agw_gate_policy_t *pol, const agw_gate_in_t *in,
                      const agw_gate_out_t *o)
{
    apr_int64_t exp;

    if (o->outcome != AGW_GATE_ACCEPT)
        return;
    if (!json_is_object(o->claims) || !(pol->algs & AGW_ALG_BIT(o->alg))
        || agw_jwt_time(&exp, json_object_get(o->claims, "exp")) != APR_SUCCESS
        || exp + LEEWAY <= NOW || !iss_ok(pol, agw_json_str(o->claims, "iss"))
        || !aud_ok(pol, json_object_get(o->claims, "aud"))
        || pol->dpop == AGW_DPOP_REQUIRED || in->dpop_scheme || o->jkt_bound)
        abort();
}

static void run(agw_gate_out_t *o, agw_gate_t *g, const agw_gate_policy_t *pol,
                const agw_gate_in_t *in, apr_pool_t *p)
{
    if (agw_gate_check(o, g, pol, in, NOW, p) != APR_SUCCESS || !o->fp || strlen(o->fp) != 12
        || o->outcome == AGW_GATE_ERROR)
        abort();
    if (o->outcome != AGW_GATE_ACCEPT && (!o->err.reason || !*o->err.reason))
        abort();
    /* accepted from the host table's brief: the claims parse, and the brief's user is the
     * one the rule finds in them */
    if (o->outcome == AGW_GATE_ACCEPT && !o->claims) {
        agw_err_t err = { NULL, NULL, AGW_R_NONE };
        if (!o->lazy || agw_jws_claims(o->lazy, p, &err) != APR_SUCCESS)
            abort();
        o->claims = o->lazy->payload;
        if (!same_str(o->user, agw_jwt_user(p, o->claims, NULL)))
            abort();
    }
    accept_ok(pol, in, o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agw_gate_out_t c1, c2, c3, u;
    agw_gate_policy_t pol;
    agw_gate_in_t in;
    apr_pool_t *p;
    unsigned char mode;

    if (size < 2 || size > 12000)
        return 0;
    policy_of(&pol, data[0]);
    mode = data[1];
    apr_pool_create(&p, root);
    memset(&in, 0, sizeof(in));
    if (mode & 2) {
        in.token = apr_pstrmemdup(p, (const char *)data + 2, size - 2);
        in.len = size - 2;
    }
    else {
        in.token = make_token(p, (const char *)data + 2, size - 2, mode & 1);
        in.len = strlen(in.token);
    }
    in.dpop_scheme = (mode & 4) != 0;
    in.log_payload = (mode & 8) != 0;
    run(&c1, capped, &pol, &in, p);
    run(&c2, capped, &pol, &in, p);
    run(&c3, uncapped, &pol, &in, p);
    run(&u, bare, &pol, &in, p);
    if (u.served == AGW_GATE_SERVED_FRONT || u.served == AGW_GATE_SERVED_HOST)
        abort();
    same_answer(&c1, &u);
    same_answer(&c2, &u);
    same_answer(&c3, &u);
    if (mode & 0xf0) {
        policy_of(&pol, (unsigned char)(data[0] ^ (mode & 0xf0) ^ (mode >> 4)));
        run(&c1, capped, &pol, &in, p);
        run(&c3, uncapped, &pol, &in, p);
        run(&u, bare, &pol, &in, p);
        same_answer(&c1, &u);
        same_answer(&c3, &u);
    }
    apr_pool_destroy(p);
    return 0;
}
