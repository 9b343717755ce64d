/* Unit tests of the OpenSSL layer: algorithm table, key import limits, every verify path and its refusals. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include "tests.h"
#include "testkit.h"
#include "agw_crypt.h"
#include "agw_sha.h"

static const unsigned char hmac_secret[64] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc,
    0xfe, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
    0xff, 0x00, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3,
    0xd2, 0xe1, 0xf0, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42,
};

static const char *const data_text = "eyJhbGciOiJ0ZXN0In0.eyJzdWIiOiJ1c2VyIn0";

/* ---- helpers ------------------------------------------------------------------------------ */

static agw_pkey_t *import_rsa(EVP_PKEY *k)
{
    size_t nl, el;
    unsigned char *n = tk_bn_param(agw_test_pool, k, OSSL_PKEY_PARAM_RSA_N, 0, &nl);
    unsigned char *e = tk_bn_param(agw_test_pool, k, OSSL_PKEY_PARAM_RSA_E, 0, &el);
    agw_pkey_t *pk = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_pkey_rsa(&pk, agw_test_pool, n, nl, e, el, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(pk);
    return pk;
}

static void ec_coords(EVP_PKEY *k, unsigned char **x, unsigned char **y, size_t *len)
{
    int fb = tk_ec_field_bytes(k);
    size_t yl;

    *x = tk_bn_param(agw_test_pool, k, OSSL_PKEY_PARAM_EC_PUB_X, fb, len);
    *y = tk_bn_param(agw_test_pool, k, OSSL_PKEY_PARAM_EC_PUB_Y, fb, &yl);
}

static agw_pkey_t *import_ec(EVP_PKEY *k)
{
    unsigned char *x, *y;
    size_t len;
    agw_pkey_t *pk = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ec_coords(k, &x, &y, &len);
    ck_assert_int_eq(agw_pkey_ec(&pk, agw_test_pool, tk_ec_crv(k), x, len, y, len, &err),
                     APR_SUCCESS);
    return pk;
}

static agw_pkey_t *import_ed(EVP_PKEY *k)
{
    unsigned char x[32];
    size_t xl = sizeof(x);
    agw_pkey_t *pk = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert(EVP_PKEY_get_raw_public_key(k, x, &xl));
    ck_assert_int_eq(agw_pkey_okp(&pk, agw_test_pool, "Ed25519", x, xl, &err), APR_SUCCESS);
    return pk;
}

static void assert_err(apr_status_t rv, const agw_err_t *err, const char *reason)
{
    ck_assert_int_eq(rv, APR_EINVAL);
    ck_assert_str_eq(err->code, AGW_E_INVALID_TOKEN);
    ck_assert_str_eq(err->reason, reason);
}

/* Verifies sig over data_text with the given key or secret, returning the status and err. */
static apr_status_t verify(agw_alg_e alg, const agw_pkey_t *pk, const unsigned char *secret,
                           apr_size_t secretlen, const unsigned char *sig, apr_size_t siglen,
                           agw_err_t *err)
{
    err->code = err->reason = NULL;
    return agw_crypt_verify(alg, pk, secret, secretlen, (const unsigned char *)data_text,
                            strlen(data_text), sig, siglen, err);
}

static unsigned char *sign(const char *alg, EVP_PKEY *k, size_t *siglen)
{
    return tk_sign(agw_test_pool, siglen, alg, k, hmac_secret, sizeof(hmac_secret), data_text,
                   strlen(data_text));
}

/* A PSS signature with chosen salt length and MGF1 hash, to prove verify is strict. */
static unsigned char *sign_pss(EVP_PKEY *k, const char *md, int saltlen, const char *mgf1,
                               size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig;

    ck_assert_int_eq(EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL), 1);
    ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen), 1);
    ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mgf1, NULL), 1);
    ck_assert_int_eq(EVP_DigestSign(ctx, NULL, siglen, (const unsigned char *)data_text,
                                    strlen(data_text)), 1);
    sig = apr_palloc(agw_test_pool, *siglen);
    ck_assert_int_eq(EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)data_text,
                                    strlen(data_text)), 1);
    EVP_MD_CTX_free(ctx);
    return sig;
}

/* The group order n of an OpenSSL curve, big-endian in len bytes. */
static unsigned char *curve_order(const char *sn, size_t len)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(OBJ_sn2nid(sn));
    unsigned char *out = apr_palloc(agw_test_pool, len);

    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(BN_bn2binpad(EC_GROUP_get0_order(g), out, (int)len), (int)len);
    EC_GROUP_free(g);
    return out;
}

/* out = n - v for big-endian numbers of len bytes (v < n). */
static void order_minus(unsigned char *out, const unsigned char *n, const unsigned char *v,
                        size_t len)
{
    int borrow = 0;
    size_t i;

    for (i = len; i-- > 0;) {
        int d = n[i] - v[i] - borrow;
        borrow = d < 0;
        out[i] = (unsigned char)(d + (borrow ? 256 : 0));
    }
}

/* ---- algorithm table ------------------------------------------------------------------------ */

START_TEST(alg_names_exact)
{
    static const char *const names[] = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                         "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384",
                                         "HS512" };
    int a;

    for (a = AGW_ALG_RS256; a < AGW_ALG_COUNT; a++) {
        ck_assert_str_eq(agw_alg_name((agw_alg_e)a), names[a - 1]);
        ck_assert_int_eq(agw_alg_from_name(names[a - 1], (apr_size_t)-1), a);
        ck_assert_int_eq(agw_alg_from_name(names[a - 1], 5), a);
    }
    ck_assert_int_eq(agw_alg_from_name("RS256xyz", 5), AGW_ALG_RS256);
    ck_assert_int_eq(agw_alg_from_name("RS256xyz", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("RS256", 4), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("RS256 ", 6), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("RS25\0", 5), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("none", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("None", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("NONE", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("rs256", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("EDDSA", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("Ed25519", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name("", (apr_size_t)-1), AGW_ALG_NONE);
    ck_assert_int_eq(agw_alg_from_name(NULL, 5), AGW_ALG_NONE);
    ck_assert_ptr_null(agw_alg_name(AGW_ALG_NONE));
    ck_assert_ptr_null(agw_alg_name(AGW_ALG_COUNT));
    ck_assert_ptr_null(agw_alg_name((agw_alg_e)-1));
}
END_TEST

START_TEST(alg_key_requirements)
{
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_RS256), AGW_KTY_RSA);
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_PS512), AGW_KTY_RSA);
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_ES384), AGW_KTY_EC);
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_EDDSA), AGW_KTY_OKP);
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_HS256), AGW_KTY_OCT);
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_NONE), AGW_KTY_NONE);
    ck_assert_int_eq(agw_alg_kty(AGW_ALG_COUNT), AGW_KTY_NONE);
    ck_assert_str_eq(agw_alg_curve(AGW_ALG_ES256), "P-256");
    ck_assert_str_eq(agw_alg_curve(AGW_ALG_ES384), "P-384");
    ck_assert_str_eq(agw_alg_curve(AGW_ALG_ES512), "P-521");
    ck_assert_ptr_null(agw_alg_curve(AGW_ALG_RS256));
    ck_assert_ptr_null(agw_alg_curve(AGW_ALG_EDDSA));
    ck_assert_ptr_null(agw_alg_curve(AGW_ALG_NONE));
}
END_TEST

/* ---- key import ----------------------------------------------------------------------------- */

START_TEST(rsa_import)
{
    agw_pkey_t *pk = import_rsa(tk_rsa);
    size_t nl, el;
    unsigned char *n = tk_bn_param(agw_test_pool, tk_rsa, OSSL_PKEY_PARAM_RSA_N, 0, &nl);
    unsigned char *e = tk_bn_param(agw_test_pool, tk_rsa, OSSL_PKEY_PARAM_RSA_E, 0, &el);
    unsigned char *n0 = apr_palloc(agw_test_pool, nl + 1), e0[8] = { 0, 0, 0, 0, 0 };
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_pkey_kty(pk), AGW_KTY_RSA);
    ck_assert_int_eq(agw_pkey_bits(pk), 2048);
    ck_assert_ptr_null(agw_pkey_curve(pk));

    /* RFC 7518 6.3.1.1: a leading zero octet is tolerated and does not count. */
    n0[0] = 0;
    memcpy(n0 + 1, n, nl);
    memcpy(e0 + 5, e, el);
    ck_assert_uint_eq(el, 3);
    pk = NULL;
    ck_assert_int_eq(agw_pkey_rsa(&pk, agw_test_pool, n0, nl + 1, e0, 8, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_pkey_bits(pk), 2048);

    /* e = 3 is a legal exponent. */
    ck_assert_int_eq(agw_pkey_rsa(&pk, agw_test_pool, n, nl, (const unsigned char *)"\x03", 1,
                                  &err), APR_SUCCESS);
}
END_TEST

START_TEST(rsa_import_refusals)
{
    size_t nl, el;
    unsigned char *n = tk_bn_param(agw_test_pool, tk_rsa, OSSL_PKEY_PARAM_RSA_N, 0, &nl);
    unsigned char *e = tk_bn_param(agw_test_pool, tk_rsa, OSSL_PKEY_PARAM_RSA_E, 0, &el);
    unsigned char *m = apr_pmemdup(agw_test_pool, n, nl);
    unsigned char *big = apr_palloc(agw_test_pool, 2049);
    agw_pkey_t *pk = (agw_pkey_t *)"sentinel";
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    /* 1024 bits: the low half of a real modulus (still odd). */
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n + nl / 2, nl / 2, e, el, &err), &err,
               "RSA key under 2048 bits");
    ck_assert_ptr_null(pk);
    /* 2047 bits. */
    m[0] = 0x7f;
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, m, nl, e, el, &err), &err,
               "RSA key under 2048 bits");
    /* An even modulus. */
    m[0] = n[0];
    m[nl - 1] &= 0xfe;
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, m, nl, e, el, &err), &err,
               "RSA modulus invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, (const unsigned char *)"\0\0\0", 3, e, el,
                            &err), &err, "RSA modulus invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, 0, e, el, &err), &err,
               "RSA modulus invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, NULL, 0, e, el, &err), &err,
               "RSA modulus invalid");
    /* Beyond 16384 bits. */
    memset(big, 0xff, 2049);
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, big, 2049, e, el, &err), &err,
               "RSA key too large");
    /* Exponents: 1, even, zero, empty, more than 64 bits. */
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, nl, (const unsigned char *)"\x01", 1, &err),
               &err, "RSA exponent invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, nl, (const unsigned char *)"\x00\x01", 2,
                            &err), &err, "RSA exponent invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, nl, (const unsigned char *)"\x01\x00\x00",
                            3, &err), &err, "RSA exponent invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, nl, (const unsigned char *)"\x00", 1, &err),
               &err, "RSA exponent invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, nl, e, 0, &err), &err,
               "RSA exponent invalid");
    assert_err(agw_pkey_rsa(&pk, agw_test_pool, n, nl,
                            (const unsigned char *)"\x01\x00\x00\x00\x00\x00\x00\x00\x01", 9,
                            &err), &err, "RSA exponent invalid");
    ck_assert_ptr_null(pk);
}
END_TEST

START_TEST(rsa_import_largest)
{
    unsigned char *big = apr_palloc(agw_test_pool, 2048);
    agw_pkey_t *pk = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    memset(big, 0xff, 2048);
    ck_assert_int_eq(agw_pkey_rsa(&pk, agw_test_pool, big, 2048,
                                  (const unsigned char *)"\x01\x00\x01", 3, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_pkey_bits(pk), 16384);
}
END_TEST

START_TEST(ec_import)
{
    agw_pkey_t *a = import_ec(tk_p256), *b = import_ec(tk_p384), *c = import_ec(tk_p521);

    ck_assert_int_eq(agw_pkey_kty(a), AGW_KTY_EC);
    ck_assert_str_eq(agw_pkey_curve(a), "P-256");
    ck_assert_str_eq(agw_pkey_curve(b), "P-384");
    ck_assert_str_eq(agw_pkey_curve(c), "P-521");
    ck_assert_int_eq(agw_pkey_bits(a), 256);
    ck_assert_int_eq(agw_pkey_bits(b), 384);
    ck_assert_int_eq(agw_pkey_bits(c), 521);
}
END_TEST

START_TEST(ec_import_refusals)
{
    unsigned char *x, *y, *x3, *y3, zero[66], ff[66];
    size_t len, len3;
    agw_pkey_t *pk = (agw_pkey_t *)"sentinel";
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ec_coords(tk_p256, &x, &y, &len);
    ec_coords(tk_p384, &x3, &y3, &len3);
    memset(zero, 0, sizeof(zero));
    memset(ff, 0xff, sizeof(ff));

    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-256", x, len - 1, y, len, &err), &err,
               "EC coordinate length invalid");
    ck_assert_ptr_null(pk);
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-256", x, len, y, len + 1, &err), &err,
               "EC coordinate length invalid");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-384", x, len, y, len, &err), &err,
               "EC coordinate length invalid");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-256", x3, len3, y3, len3, &err), &err,
               "EC coordinate length invalid");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-256", NULL, 0, y, len, &err), &err,
               "EC coordinate length invalid");
    /* Off the curve: y + 1 in the last byte, (0, 0), and coordinates not below p. */
    y[len - 1] ^= 0x01;
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-256", x, len, y, len, &err), &err,
               "EC point not on curve");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-256", zero, 32, zero, 32, &err), &err,
               "EC point not on curve");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-384", ff, 48, ff, 48, &err), &err,
               "EC point not on curve");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-521", zero, 66, ff, 66, &err), &err,
               "EC point not on curve");
    /* Curves we do not do, and spellings that are not JOSE's. */
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "P-192", x, len, y, len, &err), &err,
               "EC curve not supported");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "secp256k1", x, len, y, len, &err), &err,
               "EC curve not supported");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "prime256v1", x, len, y, len, &err), &err,
               "EC curve not supported");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, "p-256", x, len, y, len, &err), &err,
               "EC curve not supported");
    assert_err(agw_pkey_ec(&pk, agw_test_pool, NULL, x, len, y, len, &err), &err,
               "EC curve not supported");
    ck_assert_ptr_null(pk);
}
END_TEST

START_TEST(okp_import)
{
    agw_pkey_t *pk = import_ed(tk_ed);
    unsigned char x[33] = { 0 };
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_pkey_kty(pk), AGW_KTY_OKP);
    ck_assert_str_eq(agw_pkey_curve(pk), "Ed25519");
    ck_assert_int_eq(agw_pkey_bits(pk), 256);
    assert_err(agw_pkey_okp(&pk, agw_test_pool, "Ed25519", x, 31, &err), &err,
               "Ed25519 key length invalid");
    ck_assert_ptr_null(pk);
    assert_err(agw_pkey_okp(&pk, agw_test_pool, "Ed25519", x, 33, &err), &err,
               "Ed25519 key length invalid");
    assert_err(agw_pkey_okp(&pk, agw_test_pool, "X25519", x, 32, &err), &err,
               "OKP curve not supported");
    assert_err(agw_pkey_okp(&pk, agw_test_pool, "Ed448", x, 32, &err), &err,
               "OKP curve not supported");
    assert_err(agw_pkey_okp(&pk, agw_test_pool, "ed25519", x, 32, &err), &err,
               "OKP curve not supported");
    assert_err(agw_pkey_okp(&pk, agw_test_pool, NULL, x, 32, &err), &err,
               "OKP curve not supported");
}
END_TEST

START_TEST(pkey_accessors_null)
{
    ck_assert_int_eq(agw_pkey_kty(NULL), AGW_KTY_NONE);
    ck_assert_int_eq(agw_pkey_bits(NULL), 0);
    ck_assert_ptr_null(agw_pkey_curve(NULL));
}
END_TEST

/* Keys live in a sub-pool and go with it (unit-asan's leak check sees a missing cleanup). */
START_TEST(pkey_released_with_pool)
{
    apr_pool_t *sub, *saved = agw_test_pool;
    int i;

    for (i = 0; i < 3; i++) {
        apr_pool_create(&sub, saved);
        agw_test_pool = sub;
        import_rsa(tk_rsa);
        import_ec(tk_p521);
        import_ed(tk_ed);
        agw_test_pool = saved;
        apr_pool_destroy(sub);
    }
}
END_TEST

/* ---- verification --------------------------------------------------------------------------- */

static const struct {
    agw_alg_e alg;
    const char *name;
} sign_algs[] = {
    { AGW_ALG_RS256, "RS256" }, { AGW_ALG_RS384, "RS384" }, { AGW_ALG_RS512, "RS512" },
    { AGW_ALG_PS256, "PS256" }, { AGW_ALG_PS384, "PS384" }, { AGW_ALG_PS512, "PS512" },
    { AGW_ALG_ES256, "ES256" }, { AGW_ALG_ES384, "ES384" }, { AGW_ALG_ES512, "ES512" },
    { AGW_ALG_EDDSA, "EdDSA" }, { AGW_ALG_HS256, "HS256" }, { AGW_ALG_HS384, "HS384" },
    { AGW_ALG_HS512, "HS512" },
};

static EVP_PKEY *signer_for(agw_alg_e alg)
{
    switch (agw_alg_kty(alg)) {
    case AGW_KTY_RSA: return tk_rsa;
    case AGW_KTY_OKP: return tk_ed;
    case AGW_KTY_EC:
        return alg == AGW_ALG_ES256 ? tk_p256 : alg == AGW_ALG_ES384 ? tk_p384 : tk_p521;
    default: return NULL;
    }
}

static agw_pkey_t *verifier_for(agw_alg_e alg)
{
    EVP_PKEY *k = signer_for(alg);

    switch (agw_alg_kty(alg)) {
    case AGW_KTY_RSA: return import_rsa(k);
    case AGW_KTY_OKP: return import_ed(k);
    case AGW_KTY_EC: return import_ec(k);
    default: return NULL;
    }
}

START_TEST(verify_each_alg)
{
    agw_alg_e alg = sign_algs[_i].alg;
    int hs = agw_alg_kty(alg) == AGW_KTY_OCT;
    agw_pkey_t *pk = verifier_for(alg);
    const unsigned char *secret = hs ? hmac_secret : NULL;
    apr_size_t secretlen = hs ? sizeof(hmac_secret) : 0;
    size_t siglen;
    unsigned char *sig = sign(sign_algs[_i].name, signer_for(alg), &siglen);
    unsigned char *data = (unsigned char *)apr_pstrdup(agw_test_pool, data_text);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    size_t i;

    ck_assert_int_eq(verify(alg, pk, secret, secretlen, sig, siglen, &err), APR_SUCCESS);
    /* Any flipped bit, in the signature or in the data, fails. */
    for (i = 0; i < siglen; i += siglen / 7 + 1) {
        sig[i] ^= 0x10;
        assert_err(verify(alg, pk, secret, secretlen, sig, siglen, &err), &err,
                   "signature invalid");
        sig[i] ^= 0x10;
    }
    sig[siglen - 1] ^= 0x01;
    assert_err(verify(alg, pk, secret, secretlen, sig, siglen, &err), &err, "signature invalid");
    sig[siglen - 1] ^= 0x01;
    data[strlen(data_text) - 1] ^= 0x01;
    assert_err(agw_crypt_verify(alg, pk, secret, secretlen, data, strlen(data_text), sig, siglen,
                                &err), &err, "signature invalid");
    /* Empty data is data too: the signature does not cover it. */
    assert_err(agw_crypt_verify(alg, pk, secret, secretlen, (const unsigned char *)"", 0, sig,
                                siglen, &err), &err, "signature invalid");
    /* An empty signature. */
    assert_err(verify(alg, pk, secret, secretlen, sig, 0, &err), &err, "signature invalid");
    assert_err(verify(alg, pk, secret, secretlen, NULL, 0, &err), &err, "signature invalid");
    /* And the original still verifies. */
    ck_assert_int_eq(verify(alg, pk, secret, secretlen, sig, siglen, &err), APR_SUCCESS);
}
END_TEST

START_TEST(verify_wrong_key_same_type)
{
    agw_pkey_t *other = import_rsa(tk_rsa2);
    size_t siglen;
    unsigned char *sig = sign("RS256", tk_rsa, &siglen);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    assert_err(verify(AGW_ALG_RS256, other, NULL, 0, sig, siglen, &err), &err,
               "signature invalid");
    sig = sign("ES256", tk_p256, &siglen);
    {
        EVP_PKEY *k = tk_keygen_ec("P-256");
        agw_pkey_t *pk = import_ec(k);
        assert_err(verify(AGW_ALG_ES256, pk, NULL, 0, sig, siglen, &err), &err,
                   "signature invalid");
        EVP_PKEY_free(k);
    }
}
END_TEST

START_TEST(rsa_signature_length_exact)
{
    agw_pkey_t *pk = import_rsa(tk_rsa);
    size_t siglen;
    unsigned char *sig = sign("RS256", tk_rsa, &siglen);
    unsigned char *longer = apr_palloc(agw_test_pool, siglen + 1);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_uint_eq(siglen, 256);
    longer[0] = 0;
    memcpy(longer + 1, sig, siglen);
    assert_err(verify(AGW_ALG_RS256, pk, NULL, 0, longer, siglen + 1, &err), &err,
               "signature invalid");
    assert_err(verify(AGW_ALG_RS256, pk, NULL, 0, sig, siglen - 1, &err), &err,
               "signature invalid");
    assert_err(verify(AGW_ALG_RS256, pk, NULL, 0, sig + 1, siglen - 1, &err), &err,
               "signature invalid");
}
END_TEST

/* A PSS signature whose first byte is zero, sent without it, is the same number: OpenSSL
 * would accept it, we do not (one signature, one spelling). PSS is randomised, so sign until
 * such a signature comes up (1 in 256). */
START_TEST(pss_short_signature_refused)
{
    agw_pkey_t *pk = import_rsa(tk_rsa);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    int i;

    for (i = 0; i < 5000; i++) {
        sig = sign_pss(tk_rsa, "SHA256", 32, "SHA256", &siglen);
        if (sig[0] == 0)
            break;
    }
    ck_assert_int_eq(sig[0], 0);
    ck_assert_int_eq(verify(AGW_ALG_PS256, pk, NULL, 0, sig, siglen, &err), APR_SUCCESS);
    assert_err(verify(AGW_ALG_PS256, pk, NULL, 0, sig + 1, siglen - 1, &err), &err,
               "signature invalid");
}
END_TEST

/* RS and PS with one key are different algorithms, and the hash is part of the alg. */
START_TEST(rsa_algs_not_interchangeable)
{
    agw_pkey_t *pk = import_rsa(tk_rsa);
    size_t rl, pl;
    unsigned char *rs = sign("RS256", tk_rsa, &rl), *ps = sign("PS256", tk_rsa, &pl);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    assert_err(verify(AGW_ALG_PS256, pk, NULL, 0, rs, rl, &err), &err, "signature invalid");
    assert_err(verify(AGW_ALG_RS256, pk, NULL, 0, ps, pl, &err), &err, "signature invalid");
    assert_err(verify(AGW_ALG_RS384, pk, NULL, 0, rs, rl, &err), &err, "signature invalid");
    assert_err(verify(AGW_ALG_RS512, pk, NULL, 0, rs, rl, &err), &err, "signature invalid");
    assert_err(verify(AGW_ALG_PS384, pk, NULL, 0, ps, pl, &err), &err, "signature invalid");
}
END_TEST

/* RFC 7518 3.5: salt as long as the hash, MGF1 with the same hash; nothing else verifies. */
START_TEST(pss_parameters_strict)
{
    agw_pkey_t *pk = import_rsa(tk_rsa);
    size_t siglen;
    unsigned char *sig;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    sig = sign_pss(tk_rsa, "SHA256", 32, "SHA256", &siglen);
    ck_assert_int_eq(verify(AGW_ALG_PS256, pk, NULL, 0, sig, siglen, &err), APR_SUCCESS);
    sig = sign_pss(tk_rsa, "SHA256", 0, "SHA256", &siglen);
    assert_err(verify(AGW_ALG_PS256, pk, NULL, 0, sig, siglen, &err), &err, "signature invalid");
    sig = sign_pss(tk_rsa, "SHA256", 20, "SHA256", &siglen);
    assert_err(verify(AGW_ALG_PS256, pk, NULL, 0, sig, siglen, &err), &err, "signature invalid");
    sig = sign_pss(tk_rsa, "SHA256", RSA_PSS_SALTLEN_MAX, "SHA256", &siglen);
    assert_err(verify(AGW_ALG_PS256, pk, NULL, 0, sig, siglen, &err), &err, "signature invalid");
    sig = sign_pss(tk_rsa, "SHA256", 32, "SHA1", &siglen);
    assert_err(verify(AGW_ALG_PS256, pk, NULL, 0, sig, siglen, &err), &err, "signature invalid");
    sig = sign_pss(tk_rsa, "SHA512", 64, "SHA256", &siglen);
    assert_err(verify(AGW_ALG_PS512, pk, NULL, 0, sig, siglen, &err), &err, "signature invalid");
    sig = sign_pss(tk_rsa, "SHA512", 64, "SHA512", &siglen);
    ck_assert_int_eq(verify(AGW_ALG_PS512, pk, NULL, 0, sig, siglen, &err), APR_SUCCESS);
}
END_TEST

START_TEST(ecdsa_raw_length_exact)
{
    agw_pkey_t *pk = import_ec(tk_p256);
    size_t siglen, derlen;
    unsigned char *sig = sign("ES256", tk_p256, &siglen);
    unsigned char *der = tk_ecdsa_raw_to_der(agw_test_pool, &derlen, sig, siglen);
    unsigned char *longer = apr_palloc(agw_test_pool, siglen + 2);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_uint_eq(siglen, 64);
    /* DER, as a non-JOSE signer would send it, is not accepted. */
    assert_err(verify(AGW_ALG_ES256, pk, NULL, 0, der, derlen, &err), &err,
               "bad ECDSA signature length");
    assert_err(verify(AGW_ALG_ES256, pk, NULL, 0, sig, 63, &err), &err,
               "bad ECDSA signature length");
    /* r and s each zero-extended to 33 bytes. */
    longer[0] = 0;
    memcpy(longer + 1, sig, 32);
    longer[33] = 0;
    memcpy(longer + 34, sig + 32, 32);
    assert_err(verify(AGW_ALG_ES256, pk, NULL, 0, longer, 66, &err), &err,
               "bad ECDSA signature length");
    /* A P-521 signature is 132 bytes, not 2 * 65 or 2 * 64. */
    pk = import_ec(tk_p521);
    sig = sign("ES512", tk_p521, &siglen);
    ck_assert_uint_eq(siglen, 132);
    ck_assert_int_eq(verify(AGW_ALG_ES512, pk, NULL, 0, sig, siglen, &err), APR_SUCCESS);
    assert_err(verify(AGW_ALG_ES512, pk, NULL, 0, sig, 130, &err), &err,
               "bad ECDSA signature length");
    assert_err(verify(AGW_ALG_ES512, pk, NULL, 0, sig, 128, &err), &err,
               "bad ECDSA signature length");
}
END_TEST

/* r and s must lie in [1, n-1]. n - s is the other valid s (ECDSA's malleability): it verifies,
 * which shows values close to n are not refused by mistake. */
START_TEST(ecdsa_scalar_range)
{
    static const struct { agw_alg_e alg; const char *name, *sn; size_t half; } curves[] = {
        { AGW_ALG_ES256, "ES256", "prime256v1", 32 },
        { AGW_ALG_ES384, "ES384", "secp384r1", 48 },
        { AGW_ALG_ES512, "ES512", "secp521r1", 66 },
    };
    int c;

    for (c = 0; c < 3; c++) {
        agw_alg_e alg = curves[c].alg;
        size_t half = curves[c].half, siglen;
        agw_pkey_t *pk = verifier_for(alg);
        unsigned char *sig = sign(curves[c].name, signer_for(alg), &siglen);
        unsigned char *n = curve_order(curves[c].sn, half);
        unsigned char *t = apr_palloc(agw_test_pool, siglen);
        agw_err_t err = { NULL, NULL, AGW_R_NONE };

        ck_assert_uint_eq(siglen, 2 * half);
        memcpy(t, sig, siglen);
        order_minus(t + half, n, sig + half, half);
        ck_assert_msg(verify(alg, pk, NULL, 0, t, siglen, &err) == APR_SUCCESS, "%s n-s: %s",
                      curves[c].name, err.reason);

        memset(t, 0, half);                      /* r = 0 */
        memcpy(t + half, sig + half, half);
        assert_err(verify(alg, pk, NULL, 0, t, siglen, &err), &err, "signature invalid");
        memcpy(t, sig, half);                    /* s = 0 */
        memset(t + half, 0, half);
        assert_err(verify(alg, pk, NULL, 0, t, siglen, &err), &err, "signature invalid");
        memcpy(t, n, half);                      /* r = n */
        memcpy(t + half, sig + half, half);
        assert_err(verify(alg, pk, NULL, 0, t, siglen, &err), &err, "signature invalid");
        memcpy(t, sig, half);                    /* s = n */
        memcpy(t + half, n, half);
        assert_err(verify(alg, pk, NULL, 0, t, siglen, &err), &err, "signature invalid");
        memset(t, 0xff, siglen);                 /* both far above n */
        assert_err(verify(alg, pk, NULL, 0, t, siglen, &err), &err, "signature invalid");
        /* r + n wraps to r modulo n in a lax verifier: must not verify. Only representable
         * when r + n still fits, so try s = s + n on P-521 where the top byte leaves room. */
        if (half == 66 && sig[half] == 0) {
            int carry = 0;
            size_t i;

            for (i = half; i-- > 0;) {
                int d = sig[half + i] + n[i] + carry;
                t[half + i] = (unsigned char)d;
                carry = d >> 8;
            }
            memcpy(t, sig, half);
            if (!carry)
                assert_err(verify(alg, pk, NULL, 0, t, siglen, &err), &err, "signature invalid");
        }
    }
}
END_TEST

/* Our DER encoding must handle a high bit (a 0x00 pad) and leading zero bytes (stripped);
 * sign until each case has come up and check each verifies. */
START_TEST(ecdsa_der_edge_values)
{
    agw_pkey_t *pk = import_ec(tk_p256);
    int seen_r_zero = 0, seen_s_zero = 0, seen_high = 0, seen_low = 0, i;

    for (i = 0; i < 8000 && !(seen_r_zero && seen_s_zero && seen_high && seen_low); i++) {
        size_t siglen;
        unsigned char *sig = sign("ES256", tk_p256, &siglen);
        int interesting = 0;
        agw_err_t err = { NULL, NULL, AGW_R_NONE };

        if (sig[0] == 0) interesting = seen_r_zero = 1;
        if (sig[32] == 0) interesting = seen_s_zero = 1;
        if ((sig[0] & 0x80) && (sig[32] & 0x80)) interesting = seen_high = 1;
        if (!(sig[0] & 0x80) && !(sig[32] & 0x80)) interesting = seen_low = 1;
        if (interesting || i < 20)
            ck_assert_msg(verify(AGW_ALG_ES256, pk, NULL, 0, sig, siglen, &err) == APR_SUCCESS,
                          "ES256 r[0]=%02x s[0]=%02x: %s", sig[0], sig[32], err.reason);
    }
    ck_assert(seen_r_zero && seen_s_zero && seen_high && seen_low);
}
END_TEST

START_TEST(curve_must_match_alg)
{
    agw_pkey_t *a = import_ec(tk_p256), *b = import_ec(tk_p384), *c = import_ec(tk_p521);
    size_t siglen;
    unsigned char *sig = sign("ES256", tk_p256, &siglen);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    assert_err(verify(AGW_ALG_ES256, b, NULL, 0, sig, siglen, &err), &err,
               "key curve does not match alg");
    assert_err(verify(AGW_ALG_ES256, c, NULL, 0, sig, siglen, &err), &err,
               "key curve does not match alg");
    assert_err(verify(AGW_ALG_ES384, a, NULL, 0, sig, siglen, &err), &err,
               "key curve does not match alg");
    assert_err(verify(AGW_ALG_ES512, a, NULL, 0, sig, siglen, &err), &err,
               "key curve does not match alg");
}
END_TEST

START_TEST(key_type_must_match_alg)
{
    agw_pkey_t *rsa = import_rsa(tk_rsa), *ec = import_ec(tk_p256), *ed = import_ed(tk_ed);
    size_t siglen;
    unsigned char *sig = sign("RS256", tk_rsa, &siglen);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    assert_err(verify(AGW_ALG_RS256, ec, NULL, 0, sig, siglen, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_PS256, ed, NULL, 0, sig, siglen, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_ES256, rsa, NULL, 0, sig, 64, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_EDDSA, ec, NULL, 0, sig, 64, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_EDDSA, rsa, NULL, 0, sig, 64, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_RS256, NULL, NULL, 0, sig, siglen, &err), &err,
               "key type does not match alg");
    /* A secret is no RSA key. */
    assert_err(verify(AGW_ALG_RS256, NULL, hmac_secret, 64, sig, siglen, &err), &err,
               "key type does not match alg");
}
END_TEST

/* The classic confusion: an HS256 MAC keyed with the RSA public key's bytes. A public key is
 * never an HMAC key, whatever bytes a caller offers alongside. */
START_TEST(hmac_never_keyed_by_public_key)
{
    agw_pkey_t *rsa = import_rsa(tk_rsa);
    size_t derlen, siglen;
    unsigned char *der = tk_pubkey_der(agw_test_pool, tk_rsa, &derlen);
    char *pem = tk_pubkey_pem(agw_test_pool, tk_rsa);
    unsigned char *sig;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    sig = tk_sign(agw_test_pool, &siglen, "HS256", NULL, (const unsigned char *)pem,
                  strlen(pem), data_text, strlen(data_text));
    assert_err(verify(AGW_ALG_HS256, rsa, NULL, 0, sig, siglen, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_HS256, rsa, (const unsigned char *)pem, strlen(pem), sig, siglen,
                      &err), &err, "key type does not match alg");
    sig = tk_sign(agw_test_pool, &siglen, "HS256", NULL, der, derlen, data_text,
                  strlen(data_text));
    assert_err(verify(AGW_ALG_HS256, rsa, der, derlen, sig, siglen, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_HS512, rsa, NULL, 0, sig, siglen, &err), &err,
               "key type does not match alg");
}
END_TEST

START_TEST(hmac_key_and_mac_lengths)
{
    size_t siglen;
    unsigned char *sig;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    /* RFC 7518 3.2: at least the hash size. */
    sig = tk_sign(agw_test_pool, &siglen, "HS256", NULL, hmac_secret, 31, data_text,
                  strlen(data_text));
    assert_err(verify(AGW_ALG_HS256, NULL, hmac_secret, 31, sig, siglen, &err), &err,
               "HMAC key too short for alg");
    sig = tk_sign(agw_test_pool, &siglen, "HS256", NULL, hmac_secret, 32, data_text,
                  strlen(data_text));
    ck_assert_int_eq(verify(AGW_ALG_HS256, NULL, hmac_secret, 32, sig, siglen, &err),
                     APR_SUCCESS);
    sig = tk_sign(agw_test_pool, &siglen, "HS384", NULL, hmac_secret, 47, data_text,
                  strlen(data_text));
    assert_err(verify(AGW_ALG_HS384, NULL, hmac_secret, 47, sig, siglen, &err), &err,
               "HMAC key too short for alg");
    sig = tk_sign(agw_test_pool, &siglen, "HS512", NULL, hmac_secret, 63, data_text,
                  strlen(data_text));
    assert_err(verify(AGW_ALG_HS512, NULL, hmac_secret, 63, sig, siglen, &err), &err,
               "HMAC key too short for alg");
    assert_err(verify(AGW_ALG_HS256, NULL, NULL, 0, sig, siglen, &err), &err,
               "key type does not match alg");
    assert_err(verify(AGW_ALG_HS256, NULL, hmac_secret, 0, sig, siglen, &err), &err,
               "key type does not match alg");

    /* A truncated MAC is no MAC, nor is a longer one. */
    sig = sign("HS256", NULL, &siglen);
    ck_assert_uint_eq(siglen, 32);
    assert_err(verify(AGW_ALG_HS256, NULL, hmac_secret, 64, sig, 16, &err), &err,
               "signature invalid");
    assert_err(verify(AGW_ALG_HS256, NULL, hmac_secret, 64, sig, 31, &err), &err,
               "signature invalid");
    sig = sign("HS512", NULL, &siglen);
    assert_err(verify(AGW_ALG_HS256, NULL, hmac_secret, 64, sig, siglen, &err), &err,
               "signature invalid");
    assert_err(verify(AGW_ALG_HS256, NULL, hmac_secret, 64, sig, 32, &err), &err,
               "signature invalid");
    /* Another secret of the same length. */
    sig = sign("HS256", NULL, &siglen);
    {
        unsigned char other[64];
        memcpy(other, hmac_secret, 64);
        other[63] ^= 1;
        assert_err(verify(AGW_ALG_HS256, NULL, other, 64, sig, siglen, &err), &err,
                   "signature invalid");
    }
}
END_TEST

START_TEST(eddsa_length_exact)
{
    agw_pkey_t *pk = import_ed(tk_ed);
    size_t siglen;
    unsigned char *sig = sign("EdDSA", tk_ed, &siglen);
    unsigned char longer[65];
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_uint_eq(siglen, 64);
    memcpy(longer, sig, 64);
    longer[64] = 0;
    assert_err(verify(AGW_ALG_EDDSA, pk, NULL, 0, sig, 63, &err), &err, "signature invalid");
    assert_err(verify(AGW_ALG_EDDSA, pk, NULL, 0, longer, 65, &err), &err, "signature invalid");
    ck_assert_int_eq(verify(AGW_ALG_EDDSA, pk, NULL, 0, longer, 64, &err), APR_SUCCESS);
}
END_TEST

START_TEST(unknown_alg_refused)
{
    agw_pkey_t *pk = import_rsa(tk_rsa);
    size_t siglen;
    unsigned char *sig = sign("RS256", tk_rsa, &siglen);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    assert_err(verify(AGW_ALG_NONE, pk, NULL, 0, sig, siglen, &err), &err, "alg not supported");
    assert_err(verify(AGW_ALG_COUNT, pk, NULL, 0, sig, siglen, &err), &err, "alg not supported");
    assert_err(verify((agw_alg_e)-1, pk, NULL, 0, sig, siglen, &err), &err, "alg not supported");
    assert_err(verify((agw_alg_e)99, NULL, hmac_secret, 64, sig, siglen, &err), &err,
               "alg not supported");
    /* err may be NULL. */
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_NONE, pk, NULL, 0, sig, 1, sig, siglen, NULL),
                     APR_EINVAL);
}
END_TEST

/* Keys are shared by the threads of a process (mpm_event): verify from many at once, with
 * the per-key context templates built while they race. */
typedef struct {
    agw_alg_e alg;
    const agw_pkey_t *pk;
    const unsigned char *sig;
    size_t siglen;
    int good, bad;
} race_t;

static void *race_thread(void *arg)
{
    race_t *r = arg;
    unsigned char *wrong = malloc(r->siglen);
    int i;

    memcpy(wrong, r->sig, r->siglen);
    wrong[r->siglen / 2] ^= 0x04;
    for (i = 0; i < 150; i++) {
        agw_err_t err = { NULL, NULL, AGW_R_NONE };

        if (agw_crypt_verify(r->alg, r->pk, NULL, 0, (const unsigned char *)data_text,
                             strlen(data_text), r->sig, r->siglen, &err) == APR_SUCCESS)
            r->good++;
        if (agw_crypt_verify(r->alg, r->pk, NULL, 0, (const unsigned char *)data_text,
                             strlen(data_text), wrong, r->siglen, &err) == APR_EINVAL
            && !strcmp(err.reason, "signature invalid"))
            r->bad++;
    }
    free(wrong);
    return NULL;
}

START_TEST(concurrent_verify)
{
    static const agw_alg_e algs[] = { AGW_ALG_RS256, AGW_ALG_PS256, AGW_ALG_ES256,
                                      AGW_ALG_EDDSA, AGW_ALG_PS384, AGW_ALG_ES512 };
    agw_pkey_t *rsa = import_rsa(tk_rsa), *p256 = import_ec(tk_p256);
    agw_pkey_t *p521 = import_ec(tk_p521), *ed = import_ed(tk_ed);
    race_t races[12];
    pthread_t th[12];
    int i;

    for (i = 0; i < 12; i++) {
        agw_alg_e alg = algs[i % 6];

        races[i].alg = alg;
        races[i].pk = agw_alg_kty(alg) == AGW_KTY_RSA ? rsa : agw_alg_kty(alg) == AGW_KTY_OKP
                      ? ed : alg == AGW_ALG_ES256 ? p256 : p521;
        races[i].sig = sign(agw_alg_name(alg), signer_for(alg), &races[i].siglen);
        races[i].good = races[i].bad = 0;
    }
    for (i = 0; i < 12; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &races[i]), 0);
    for (i = 0; i < 12; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(races[i].good == 150 && races[i].bad == 150, "%s: %d good, %d bad",
                      agw_alg_name(races[i].alg), races[i].good, races[i].bad);
    }
}
END_TEST

/* ---- hashes --------------------------------------------------------------------------------- */

START_TEST(sha256_and_fingerprint)
{
    static const unsigned char abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
        0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
        0xf2, 0x00, 0x15, 0xad,
    };
    unsigned char out[32];

    ck_assert_int_eq(agw_crypt_sha256(out, "abc", 3), APR_SUCCESS);
    ck_assert_int_eq(memcmp(out, abc, 32), 0);
    ck_assert_int_eq(agw_crypt_sha256(out, "", 0), APR_SUCCESS);
    ck_assert_int_eq(out[0], 0xe3);
    ck_assert_int_eq(out[31], 0x55);
    ck_assert_str_eq(agw_crypt_fingerprint(agw_test_pool, "abc", 3), "ba7816bf8f01");
    ck_assert_str_eq(agw_crypt_fingerprint(agw_test_pool, "", 0), "e3b0c44298fc");
}
END_TEST

/* The module's own SHA-256 (agw_sha.c, the CPU's SHA extensions) against OpenSSL's: the FIPS
 * 180-4 examples, every length from 0 to 1,100 bytes (each padding case: a rest of 0-55 bytes
 * in one last block, 56-63 in two, tokens' lengths), a misaligned input, and random lengths up
 * to 64 KiB. On a CPU without the extensions it declines and agw_crypt_sha256 takes OpenSSL's. */
START_TEST(sha256_own_matches_openssl)
{
    static const unsigned char two_blocks[32] = {     /* "abcdbcde...nopq", 56 bytes */
        0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e,
        0x60, 0x39, 0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4,
        0x19, 0xdb, 0x06, 0xc1,
    };
    static const char *const msg2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char *buf = apr_palloc(agw_test_pool, 65536 + 1), own[32], ref[32];
    unsigned int reflen, seed = 12345;
    size_t len, i;

    if (!agw_sha256_ni_available()) {
        ck_assert_int_eq(agw_sha256_ni(own, "abc", 3), 0);
        return;
    }
    ck_assert_int_eq(agw_sha256_ni(own, msg2, strlen(msg2)), 1);
    ck_assert_int_eq(memcmp(own, two_blocks, 32), 0);
    for (i = 0; i <= 65536; i++)
        buf[i] = (unsigned char)(rand_r(&seed) >> 7);
    for (len = 0; len <= 1100; len++) {
        ck_assert_int_eq(agw_sha256_ni(own, buf, len), 1);
        ck_assert_int_eq(EVP_Digest(buf, len, ref, &reflen, EVP_sha256(), NULL), 1);
        ck_assert_msg(memcmp(own, ref, 32) == 0, "length %zu differs from OpenSSL", len);
        /* one byte later: loads that are not 16-byte aligned */
        ck_assert_int_eq(agw_sha256_ni(own, buf + 1, len), 1);
        ck_assert_int_eq(EVP_Digest(buf + 1, len, ref, &reflen, EVP_sha256(), NULL), 1);
        ck_assert_msg(memcmp(own, ref, 32) == 0, "length %zu at +1 differs from OpenSSL", len);
    }
    for (i = 0; i < 200; i++) {
        len = (size_t)rand_r(&seed) % 65537;
        ck_assert_int_eq(agw_sha256_ni(own, buf, len), 1);
        ck_assert_int_eq(EVP_Digest(buf, len, ref, &reflen, EVP_sha256(), NULL), 1);
        ck_assert_msg(memcmp(own, ref, 32) == 0, "length %zu differs from OpenSSL", len);
    }
    /* and agw_crypt_sha256, which the caches key on, is the same function */
    ck_assert_int_eq(agw_crypt_sha256(own, buf, 1000), APR_SUCCESS);
    ck_assert_int_eq(EVP_Digest(buf, 1000, ref, &reflen, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(memcmp(own, ref, 32), 0);
}
END_TEST

/* What httpd's configuration pool cleanup calls before the module is unloaded: the fetched
 * digests and MAC go, and the next use (a reloaded configuration) fetches them again. */
/* The parent's warm-up: all five throwaway keys imported, nothing left in OpenSSL's error
 * queue, and every algorithm verifies as before (twice: it may run at every restart). */
START_TEST(warm_then_verify)
{
    static const char *const names[] = { "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA",
                                         "HS256" };
    apr_pool_t *p;
    size_t i, siglen;
    int round;

    for (round = 0; round < 2; round++) {
        ck_assert_int_eq(apr_pool_create(&p, agw_test_pool), APR_SUCCESS);
        ck_assert_int_eq(agw_crypt_warm(p), 5);
        ck_assert_uint_eq(ERR_peek_error(), 0);
        apr_pool_destroy(p);    /* its keys go with it */
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        agw_alg_e alg = agw_alg_from_name(names[i], strlen(names[i]));
        int hs = agw_alg_kty(alg) == AGW_KTY_OCT;
        agw_pkey_t *pk = verifier_for(alg);
        unsigned char *sig = sign(names[i], signer_for(alg), &siglen);
        agw_err_t err = { NULL, NULL, AGW_R_NONE };

        ck_assert_int_eq(verify(alg, pk, hs ? hmac_secret : NULL, hs ? sizeof(hmac_secret) : 0,
                                sig, siglen, &err), APR_SUCCESS);
        sig[siglen / 2] ^= 0x04;
        assert_err(verify(alg, pk, hs ? hmac_secret : NULL, hs ? sizeof(hmac_secret) : 0, sig,
                          siglen, &err), &err, "signature invalid");
    }
}
END_TEST

START_TEST(release_and_reuse)
{
    unsigned char out[32];
    size_t siglen;
    unsigned char *sig;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_crypt_sha256(out, "abc", 3), APR_SUCCESS);
    agw_crypt_release();
    agw_crypt_release();        /* twice: nothing left to free, nothing freed twice */
    ck_assert_str_eq(agw_crypt_fingerprint(agw_test_pool, "abc", 3), "ba7816bf8f01");
    sig = tk_sign(agw_test_pool, &siglen, "HS256", NULL, hmac_secret, 32, data_text,
                  strlen(data_text));
    agw_crypt_release();
    ck_assert_int_eq(verify(AGW_ALG_HS256, NULL, hmac_secret, 32, sig, siglen, &err),
                     APR_SUCCESS);
    sig[0] ^= 1;
    ck_assert_int_eq(verify(AGW_ALG_HS256, NULL, hmac_secret, 32, sig, siglen, &err),
                     APR_EINVAL);
}
END_TEST

/* A failed hash says so, and leaves no stale or shared bytes a caller could use as a key. */
START_TEST(sha256_failure)
{
    static const unsigned char zero[32] = { 0 };
    unsigned char out[32];

    memset(out, 0xa5, sizeof(out));
    agw_crypt_test_fail_sha256(1);
    ck_assert_int_eq(agw_crypt_sha256(out, "abc", 3), APR_EGENERAL);
    ck_assert_int_eq(memcmp(out, zero, 32), 0);
    /* only as many failures as asked for */
    ck_assert_int_eq(agw_crypt_sha256(out, "abc", 3), APR_SUCCESS);
    ck_assert_int_eq(out[0], 0xba);
    agw_crypt_test_fail_sha256(1);
    ck_assert_str_eq(agw_crypt_fingerprint(agw_test_pool, "abc", 3), "-");
    ck_assert_str_eq(agw_crypt_fingerprint(agw_test_pool, "abc", 3), "ba7816bf8f01");
    agw_crypt_test_fail_sha256(0);
}
END_TEST

START_TEST(memeq)
{
    ck_assert_int_eq(agw_crypt_memeq("abcd", "abcd", 4), 1);
    ck_assert_int_eq(agw_crypt_memeq("abcd", "abce", 4), 0);
    ck_assert_int_eq(agw_crypt_memeq("xbcd", "abcd", 4), 0);
    ck_assert_int_eq(agw_crypt_memeq("abcd", "abce", 3), 1);
    ck_assert_int_eq(agw_crypt_memeq("", "", 0), 1);
}
END_TEST

static const char *hex_of(const unsigned char *b, apr_size_t n)
{
    char *out = apr_palloc(agw_test_pool, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++)
        apr_snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = '\0';
    return out;
}

/* RFC 4231 test case 2 and RFC 5869 test case 3 (SHA-256, empty salt and info) */
START_TEST(hmac_and_hkdf_vectors)
{
    unsigned char mac[32], okm[42], ikm[22];
    static const char data[] = "what do ya want for nothing?";

    ck_assert_int_eq(agw_crypt_hmac_sha256(mac, (const unsigned char *)"Jefe", 4, data,
                                           strlen(data)), APR_SUCCESS);
    ck_assert_str_eq(hex_of(mac, 32),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(ikm, 0x0b, sizeof(ikm));
    ck_assert_int_eq(agw_crypt_hkdf_sha256(okm, sizeof(okm), ikm, sizeof(ikm), "", ""),
                     APR_SUCCESS);
    ck_assert_str_eq(hex_of(okm, sizeof(okm)), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879e"
                     "c3454e5f3c738d2d9d201395faa4b61a96c8");
}
END_TEST

Suite *agw_suite_crypt(void)
{
    Suite *s = suite_create("crypt");
    TCase *tc = tcase_create("crypt");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, alg_names_exact);
    tcase_add_test(tc, alg_key_requirements);
    tcase_add_test(tc, rsa_import);
    tcase_add_test(tc, rsa_import_refusals);
    tcase_add_test(tc, rsa_import_largest);
    tcase_add_test(tc, ec_import);
    tcase_add_test(tc, ec_import_refusals);
    tcase_add_test(tc, okp_import);
    tcase_add_test(tc, pkey_accessors_null);
    tcase_add_test(tc, pkey_released_with_pool);
    tcase_add_loop_test(tc, verify_each_alg, 0, (int)(sizeof(sign_algs) / sizeof(sign_algs[0])));
    tcase_add_test(tc, verify_wrong_key_same_type);
    tcase_add_test(tc, rsa_signature_length_exact);
    tcase_add_test(tc, pss_short_signature_refused);
    tcase_add_test(tc, rsa_algs_not_interchangeable);
    tcase_add_test(tc, pss_parameters_strict);
    tcase_add_test(tc, ecdsa_raw_length_exact);
    tcase_add_test(tc, ecdsa_scalar_range);
    tcase_add_test(tc, ecdsa_der_edge_values);
    tcase_add_test(tc, curve_must_match_alg);
    tcase_add_test(tc, key_type_must_match_alg);
    tcase_add_test(tc, hmac_never_keyed_by_public_key);
    tcase_add_test(tc, hmac_key_and_mac_lengths);
    tcase_add_test(tc, eddsa_length_exact);
    tcase_add_test(tc, unknown_alg_refused);
    tcase_add_test(tc, concurrent_verify);
    tcase_add_test(tc, sha256_and_fingerprint);
    tcase_add_test(tc, sha256_own_matches_openssl);
    tcase_add_test(tc, sha256_failure);
    tcase_add_test(tc, release_and_reuse);
    tcase_add_test(tc, warm_then_verify);
    tcase_add_test(tc, memeq);
    tcase_add_test(tc, hmac_and_hkdf_vectors);
    suite_add_tcase(s, tc);
    return s;
}
