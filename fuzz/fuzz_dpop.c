/* libFuzzer target: DPoP proofs (RFC 9449) whose header and payload JSON come from the input, signed with a fixed P-256 key, so that the jwk, htm/htu/iat/jti/ath checks and the cnf binding meet mutated input past the signature; each proof is also verified through a proof key cache (cold, then warm, beside the signing key), which must not change the answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include "agw_b64.h"
#include "agw_dpop.h"

/* Input: header JSON, a NUL byte, payload JSON; without a NUL the whole input is the payload
 * under a header carrying the signing key's jwk (so the signature verifies). A header from the
 * input verifies only when its jwk is that key: it exercises the refusals before. The second
 * half of the input after a second NUL, when present, is an htu compared with the URL. */
#define URL "https://api.example.com/orders"
#define TOKEN "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
#define NOW 1700000000

static apr_pool_t *root;
static EVP_PKEY *key;
static const char *header_default;

static void check_reason(const agw_err_t *err)
{
    const char *c;

    if (!err->reason || !*err->reason || strlen(err->reason) > 160 || !err->code)
        abort();
    for (c = err->reason; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            abort();
}

static char *coord(apr_pool_t *p, const char *name)
{
    unsigned char buf[32];
    BIGNUM *bn = NULL;

    if (!EVP_PKEY_get_bn_param(key, name, &bn) || BN_bn2binpad(bn, buf, 32) != 32)
        abort();
    BN_free(bn);
    return agw_b64url_encode(p, buf, 32);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")))
        abort();
    header_default = apr_psprintf(root, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{"
                                  "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}}",
                                  coord(root, "qx"), coord(root, "qy"));
    return 0;
}

/* A raw r||s ES256 signature of data. */
static char *sign(apr_pool_t *p, const char *data)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[80], raw[64];
    const unsigned char *d = der;
    size_t dlen = sizeof(der);
    ECDSA_SIG *es;

    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)data, strlen(data)) != 1
        || !(es = d2i_ECDSA_SIG(NULL, &d, (long)dlen))
        || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) != 32
        || BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    return agw_b64url_encode(p, raw, sizeof(raw));
}

/* The proof through a small key cache of this input's own, warmed with the signing key and
 * then asked twice (a miss, then a hit, for a key that imports): every answer as without. */
static void cached_same(apr_pool_t *p, const char *jwt, apr_status_t rv, const agw_err_t *err,
                        const agw_dpop_t *proof)
{
    agw_dpop_req_t req = { "GET", URL, TOKEN, sizeof(TOKEN) - 1, NOW, 0, 30, NULL };
    const char *warm = apr_pstrcat(p, agw_b64url_encode(p, (const unsigned char *)header_default,
                                                        strlen(header_default)), ".e30", NULL);
    int i;

    req.keys = agw_pkcache_create(p, 4);
    warm = apr_pstrcat(p, warm, ".", sign(p, warm), NULL);
    if (!req.keys)
        abort();
    for (i = 0; i < 3; i++) {
        agw_err_t cerr = { NULL, NULL, AGW_R_NONE };
        agw_dpop_t *cproof = NULL;
        apr_status_t crv = agw_dpop_verify(&cproof, p, i ? jwt : warm, strlen(i ? jwt : warm),
                                           &req, &cerr);
        if (i && (crv != rv || cerr.kind != err->kind
                  || (rv != APR_SUCCESS && strcmp(cerr.reason, err->reason) != 0)
                  || (rv == APR_SUCCESS && memcmp(cproof->jkt, proof->jkt, 32) != 0)))
            abort();    /* the key cache changed an answer */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *nul = memchr(in, '\0', size), *nul2 = NULL;
    const char *header = header_default, *payload = in;
    apr_size_t hlen = strlen(header_default), plen = size;
    agw_dpop_req_t req = { "GET", URL, TOKEN, sizeof(TOKEN) - 1, NOW, 0, 30, NULL };
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_dpop_t *proof = NULL;
    apr_status_t rv;
    agw_cnf_t cnf;
    apr_pool_t *p;
    char *si, *jwt;

    if (size > 12000)
        return 0;
    if (nul) {
        header = in;
        hlen = (apr_size_t)(nul - in);
        payload = nul + 1;
        plen = size - hlen - 1;
        nul2 = memchr(payload, '\0', plen);
    }
    apr_pool_create(&p, root);
    if (nul2) {
        const char *htu = apr_pstrmemdup(p, nul2 + 1, size - (apr_size_t)(nul2 + 1 - in));
        int same = agw_dpop_htu_match(htu, URL);
        if (same != agw_dpop_htu_match(URL, htu) && strpbrk(htu, "?#") == NULL)
            abort();    /* matching is symmetric for URLs without query or fragment */
        plen = (apr_size_t)(nul2 - payload);
    }
    si = apr_pstrcat(p, agw_b64url_encode(p, (const unsigned char *)header, hlen), ".",
                     agw_b64url_encode(p, (const unsigned char *)payload, plen), NULL);
    jwt = apr_pstrcat(p, si, ".", sign(p, si), NULL);
    rv = agw_dpop_verify(&proof, p, jwt, strlen(jwt), &req, &err);
    cached_same(p, jwt, rv, &err, proof);
    if (rv != APR_SUCCESS) {
        check_reason(&err);
        if (err.kind != AGW_R_DPOP || proof)
            abort();
    }
    else {
        json_t *claims = json_pack("{s:{s:s}}", "cnf", "jkt", "AAAA");
        if (!proof->jti || !*proof->jti || strlen(proof->jti) > AGW_DPOP_JTI_MAX
            || proof->iat > NOW + 30 || proof->iat < NOW - AGW_DPOP_WINDOW - 30
            || !agw_dpop_replay_key(p, proof))
            abort();
        if (agw_cnf_read(&cnf, claims, &err) != APR_SUCCESS
            || agw_cnf_jkt_check(cnf.jkt, proof, &err) == APR_SUCCESS)
            abort();    /* a thumbprint of another length never matches */
        json_decref(claims);
    }
    apr_pool_destroy(p);
    return 0;
}
