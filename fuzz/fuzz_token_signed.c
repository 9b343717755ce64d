/* libFuzzer target: header and payload JSON from the input, signed with a fixed HMAC secret, so that what follows the signature check (claims, typ, Require's claim look-ups, the verified-token cache) meets mutated input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "agw_b64.h"
#include "agw_crypt.h"
#include "agw_json.h"
#include "agw_jwk.h"
#include "agw_jws.h"
#include "agw_jwt.h"
#include "agw_tcache.h"

/* Input: header JSON, a NUL byte, payload JSON. Without a NUL the whole input is the payload
 * under DEFAULT_HEADER. The token is signed with HS256/384/512 as the header's alg names
 * (any other alg gets an HS256 signature, which must then fail). */
#define DEFAULT_HEADER "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}"
#define ISSUER "https://issuer.example/"
#define NOW 1700000000
#define LEEWAY 30

static const unsigned char secret[32] = "fuzz-secret-0123456789abcdefghi";
static apr_pool_t *root;
static agw_jwks_t *keys;
static apr_array_header_t *audiences, *typs;
static agw_claim_path_t *paths[8];
static const char *wants[] = { "read:all", "admin", "1", "true", "x y", "", "team-a", "42.5" };

static void check_reason(const agw_err_t *err)
{
    const char *c;

    if (!err->reason || !*err->reason || strlen(err->reason) > 120)
        abort();
    for (c = err->reason; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *texts[] = { "scope", "roles", "sub", "https://example.com/roles",
                                   "org.team.name", "/groups/0", "/a~1b/~0c", "permissions" };
    const char *perr;
    unsigned int i;

    apr_initialize();
    apr_pool_create(&root, NULL);
    keys = agw_jwks_from_secret(root, secret, sizeof(secret));
    audiences = apr_array_make(root, 2, sizeof(const char *));
    APR_ARRAY_PUSH(audiences, const char *) = "https://api.example";
    APR_ARRAY_PUSH(audiences, const char *) = "other";
    typs = apr_array_make(root, 2, sizeof(const char *));
    APR_ARRAY_PUSH(typs, const char *) = "at+jwt";
    APR_ARRAY_PUSH(typs, const char *) = "application/JWT";
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (!(paths[i] = agw_claim_path_compile(root, texts[i], &perr)))
            abort();
    return 0;
}

static void expect_reason(apr_status_t rv, const agw_err_t *err)
{
    if (rv != APR_SUCCESS)
        check_reason(err);
}

/* What Require auth0-scope / auth0-role / auth0-claim and the claim headers look at. */
static void require_lookups(const json_t *claims, apr_pool_t *p)
{
    unsigned int i, w;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const json_t *v = agw_claim_path_get(paths[i], claims);
        if (!v)
            continue;
        for (w = 0; w < sizeof(wants) / sizeof(wants[0]); w++) {
            int has = agw_claim_has_word(v, wants[w]), eq = agw_claim_equals(v, wants[w]);
            if ((has != 0 && has != 1) || (eq != 0 && eq != 1))
                abort();
            /* a string that equals a single word contains that word */
            if (json_is_string(v) && *wants[w] && !strchr(wants[w], ' ') && eq && !has)
                abort();
        }
        (void)agw_json_text(p, v);
    }
}

static void through_cache(agw_jws_t *jws, apr_size_t len, apr_pool_t *p)
{
    unsigned char digest[32], source[32], other[32];
    agw_tcache_t *tc = agw_tcache_create(p, AGW_TCACHE_SHARDS, AGW_TCACHE_SHARDS * 32768,
                                         AGW_TCACHE_ADMIT_SECOND);
    agw_tcache_hit_t hit;
    apr_int64_t exp;

    if (agw_jwt_time(&exp, json_object_get(jws->payload, "exp")) != APR_SUCCESS)
        return;
    if (!tc || agw_crypt_sha256(digest, jws->signing_input, len) != APR_SUCCESS)
        abort();
    memset(source, 7, sizeof(source));
    memset(other, 8, sizeof(other));
    agw_tcache_put(tc, digest, source, jws->payload, jws->alg, jws->kid, jws->key->thumbprint,
                   1, exp, len);
    agw_tcache_put(tc, digest, source, jws->payload, jws->alg, jws->kid, jws->key->thumbprint,
                   1, exp, len);
    if (agw_tcache_get(tc, digest, other, NOW, LEEWAY, p, &hit))
        abort();    /* another key source never hits */
    if (agw_tcache_get(tc, digest, source, NOW, LEEWAY, p, &hit)) {
        if (hit.claims != jws->payload || hit.alg != jws->alg || hit.version != 1
            || strlen(hit.kid) > AGW_TCACHE_KID_MAX || NOW >= exp + LEEWAY)
            abort();
        agw_tcache_touch_version(tc, digest, 2);
        if (exp < AGW_JWT_TIME_MAX - LEEWAY
            && agw_tcache_get(tc, digest, source, exp + LEEWAY, LEEWAY, p, &hit))
            abort();    /* expired entries never hit */
    }
    else if (len <= 32768 && NOW < exp + LEEWAY && (!jws->kid || strlen(jws->kid) <= AGW_TCACHE_KID_MAX)) {
        abort();        /* put twice, in bounds, not expired: must be there */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size), *header, *payload, *name;
    apr_size_t hlen, plen, siglen = 0, len;
    unsigned char sig[EVP_MAX_MD_SIZE];
    const EVP_MD *md = EVP_sha256();
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;
    apr_pool_t *p;
    char *input, *token;
    unsigned int mdlen = 0;

    if (size > 12000)
        return 0;
    if (nul) {
        header = (const char *)data;
        hlen = (apr_size_t)(nul - header);
        payload = nul + 1;
        plen = size - hlen - 1;
    }
    else {
        header = DEFAULT_HEADER;
        hlen = sizeof(DEFAULT_HEADER) - 1;
        payload = (const char *)data;
        plen = size;
    }
    apr_pool_create(&p, root);
    input = apr_pstrcat(p, agw_b64url_encode(p, (const unsigned char *)header, hlen), ".",
                        agw_b64url_encode(p, (const unsigned char *)payload, plen), NULL);
    len = strlen(input);
    /* the digest the header's alg asks for (a cheap look, not the parser under test) */
    name = memmem(header, hlen, "HS384", 5) ? "HS384" : memmem(header, hlen, "HS512", 5) ? "HS512" : "HS256";
    md = !strcmp(name, "HS384") ? EVP_sha384() : !strcmp(name, "HS512") ? EVP_sha512() : EVP_sha256();
    if (!HMAC(md, secret, sizeof(secret), (const unsigned char *)input, len, sig, &mdlen))
        abort();
    siglen = mdlen;
    token = apr_pstrcat(p, input, ".", agw_b64url_encode(p, sig, siglen), NULL);

    rv = agw_jws_decode_header(&jws, p, token, strlen(token), 0, &err);
    if (rv != APR_SUCCESS) {
        check_reason(&err);
        goto leave;
    }
    rv = agw_jws_verify(jws, keys, AGW_ALG_BIT(AGW_ALG_HS256) | AGW_ALG_BIT(AGW_ALG_HS384)
                                   | AGW_ALG_BIT(AGW_ALG_HS512), &err);
    if (rv != APR_SUCCESS) {
        check_reason(&err);
        goto leave;
    }
    expect_reason(agw_jwt_check_typ(jws->typ, NULL, &err), &err);
    expect_reason(agw_jwt_check_typ(jws->typ, typs, &err), &err);
    rv = agw_jws_claims(jws, p, &err);
    if (rv != APR_SUCCESS) {
        check_reason(&err);
        goto leave;
    }
    if (!json_is_object(jws->payload))
        abort();
    rv = agw_jwt_check_claims(jws->payload, ISSUER, audiences, NOW, LEEWAY, &err);
    expect_reason(rv, &err);
    expect_reason(agw_jwt_check_claims(jws->payload, NULL, NULL, NOW, 0, &err), &err);
    require_lookups(jws->payload, p);
    through_cache(jws, len, p);
leave:
    apr_pool_destroy(p);
    return 0;
}
