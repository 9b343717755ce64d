/* libFuzzer target: any bytes as a JWK Set document, then a fixed token verified against what it yields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "agw_crypt.h"
#include "agw_jwk.h"
#include "agw_jws.h"

/* RFC 7515 A.3 (ES256, no kid): checked against every parsed set, so that key selection and
 * import results meet a real signature; it verifies only under A.3's own public key. */
static const char a3_token[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8IS"
    "lSApmWQxfKTUJqPP3-Kg6NU1Q";

static apr_pool_t *root;

static void check_printable(const char *s, size_t max)
{
    const char *c;

    if (!s || !*s || strlen(s) > max)
        abort();
    for (c = s; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_key(const agw_jwk_t *k)
{
    const char *crv;

    if (!k || !k->pkey || k->secret || agw_pkey_kty(k->pkey) != k->kty
        || agw_pkey_bits(k->pkey) != k->bits)
        abort();
    crv = agw_pkey_curve(k->pkey);
    switch (k->kty) {
    case AGW_KTY_RSA:
        if (k->bits < 2048 || k->bits > 16384 || k->crv)
            abort();
        break;
    case AGW_KTY_EC:
        if (!crv || !k->crv || strcmp(crv, k->crv)
            || (k->bits != 256 && k->bits != 384 && k->bits != 521))
            abort();
        break;
    case AGW_KTY_OKP:
        if (!k->crv || strcmp(k->crv, "Ed25519") || k->bits != 256)
            abort();
        break;
    default:
        abort(); /* oct keys never come from a published set */
    }
    if (k->alg != AGW_ALG_NONE && agw_alg_kty(k->alg) != k->kty)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;
    int i;

    apr_pool_create(&p, root);
    rv = agw_jwks_parse(&jwks, p, (const char *)data, size, &err);
    if (rv != APR_SUCCESS) {
        if (rv != APR_EINVAL || jwks)
            abort();
        check_printable(err.reason, 120);
    }
    else {
        agw_jws_t *jws = NULL;

        if (!jwks || jwks->keys->nelts > AGW_JWKS_MAX_KEYS)
            abort();
        for (i = 0; i < jwks->keys->nelts; i++)
            check_key(APR_ARRAY_IDX(jwks->keys, i, const agw_jwk_t *));
        for (i = 0; i < jwks->skipped->nelts; i++)
            check_printable(APR_ARRAY_IDX(jwks->skipped, i, const char *), 200);
        if (agw_jws_decode(&jws, p, a3_token, sizeof(a3_token) - 1, 0, &err) != APR_SUCCESS)
            abort();
        rv = agw_jws_verify(jws, jwks, AGW_ALG_BIT(AGW_ALG_ES256), &err);
        if (rv == APR_SUCCESS) {
            if (!jws->key || jws->key->kty != AGW_KTY_EC || strcmp(jws->key->crv, "P-256"))
                abort();
        }
        else {
            check_printable(err.reason, 120);
        }
    }
    apr_pool_destroy(p);
    return 0;
}
