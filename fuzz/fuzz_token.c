/* libFuzzer target: any bytes as a bearer token through decode, verify (every alg allowed) and the claim checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "agw_crypt.h"
#include "agw_jwk.h"
#include "agw_jws.h"
#include "agw_jwt.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#endif

/* The published keys of RFC 7515 A.2 (RSA), A.3 (P-256) and RFC 8037 A.2 (Ed25519), so that
 * fuzz/make_seeds.py can sign seeds that really verify; HS256 uses RFC 7515 A.1's secret. */
static const char fuzz_jwks[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\",\"alg\":\"RS256\",\"e\":\"AQAB\",\"n\":"
    "\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0"
    "Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5"
    "z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aG"
    "hyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"},"
    "{\"kty\":\"RSA\",\"kid\":\"rsa2\",\"e\":\"AQAB\",\"n\":"
    "\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0"
    "Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5"
    "z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aG"
    "hyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"},"
    "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    "{\"kty\":\"OKP\",\"kid\":\"ed1\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
    "]}";

static const unsigned char fuzz_secret[64] = {
    3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40, 230, 240,
    84, 201, 40, 169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239, 150,
    138, 180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192, 205, 154, 245, 103, 208,
    128, 163
};

static apr_pool_t *root;
static agw_jwks_t *published, *shared;
static apr_array_header_t *audiences;

/* A reason goes into WWW-Authenticate and logs: short printable ASCII, no quote, no backslash. */
static void check_reason(const agw_err_t *err)
{
    const char *c;

    if (!err->reason || !*err->reason || strlen(err->reason) > 120)
        abort();
    for (c = err->reason; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            abort();
}

/* Each key builds its verify context for an algorithm on first use and keeps it for its
 * lifetime; build them all now, while leak checking is off, like the key sets themselves. */
static void prewarm(void)
{
    static unsigned char sig[1024], data[1] = { 'x' };
    agw_err_t err = { 0 };
    int i, a;

    memset(sig, 1, sizeof(sig));    /* r, s = 0x0101.. are in range for every curve */
    for (i = 0; i < published->keys->nelts; i++) {
        const agw_jwk_t *k = APR_ARRAY_IDX(published->keys, i, agw_jwk_t *);
        apr_size_t len = k->kty == AGW_KTY_RSA ? (apr_size_t)k->bits / 8
                       : k->kty == AGW_KTY_EC ? 2 * (((apr_size_t)k->bits + 7) / 8) : 64;
        if (!k->pkey || len > sizeof(sig))
            continue;
        for (a = AGW_ALG_NONE + 1; a < AGW_ALG_COUNT; a++)
            if (agw_alg_kty((agw_alg_e)a) == k->kty)
                agw_crypt_verify((agw_alg_e)a, k->pkey, NULL, 0, data, 1, sig, len, &err);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    agw_err_t err = { 0 };

    /* The fixed key sets live for the whole run in APR pool memory, which APR maps with mmap
     * where LeakSanitizer does not look for pointers: allocations made here would be reported
     * as leaks. Per-input state is created in and freed with a pool of its own. */
#ifdef HAVE_LSAN
    __lsan_disable();
#endif
    apr_initialize();
    apr_pool_create(&root, NULL);
    if (agw_jwks_parse(&published, root, fuzz_jwks, sizeof(fuzz_jwks) - 1, &err) != APR_SUCCESS
        || published->keys->nelts != 4)
        abort();
    shared = agw_jwks_from_secret(root, fuzz_secret, sizeof(fuzz_secret));
    prewarm();
    audiences = apr_array_make(root, 1, sizeof(const char *));
    APR_ARRAY_PUSH(audiences, const char *) = "https://api.example";
#ifdef HAVE_LSAN
    __lsan_enable();
#endif
    return 0;
}

static void verify_against(agw_jws_t *jws, const agw_jwks_t *set)
{
    agw_alg_set_t all = 0;
    agw_err_t err = { 0 };
    apr_status_t rv;
    int a;

    for (a = AGW_ALG_NONE + 1; a < AGW_ALG_COUNT; a++)
        all |= AGW_ALG_BIT(a);
    rv = agw_jws_verify(jws, set, all, &err);
    if (rv == APR_SUCCESS) {
        /* A key that verified must be one the set holds and one that fits the alg. */
        if (!jws->key || jws->key->kty != agw_alg_kty(jws->alg))
            abort();
    }
    else {
        if ((rv != APR_EINVAL && rv != APR_NOTFOUND) || jws->key)
            abort();
        check_reason(&err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    apr_pool_create(&p, root);
    rv = agw_jws_decode(&jws, p, (const char *)data, size, 0, &err);
    if (rv != APR_SUCCESS) {
        if (rv != APR_EINVAL || jws)
            abort();
        check_reason(&err);
    }
    else {
        if (!jws || jws->alg <= AGW_ALG_NONE || jws->alg >= AGW_ALG_COUNT
            || !json_is_object(jws->header) || !json_is_object(jws->payload)
            || jws->signing_input != (const char *)data || jws->signing_input_len >= size
            || jws->sig_len == 0 || !jws->sig)
            abort();
        verify_against(jws, published);
        verify_against(jws, shared);
        /* The claims of any decodable token, verified or not: the checks must hold up. */
        rv = agw_jwt_check_claims(jws->payload, "https://issuer.example/", audiences,
                                  1700000000, 30, &err);
        if (rv != APR_SUCCESS) {
            if (rv != APR_EINVAL)
                abort();
            check_reason(&err);
        }
    }
    apr_pool_destroy(p);
    return 0;
}
