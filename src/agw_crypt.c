/* OpenSSL for verification: algorithms, public-key import, signature verify, hashes (signing with our own keys is agw_sign.c). */
#include <string.h>
#include <pthread.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include "agw_crypt.h"
#include "agw_hot.h"
#include "agw_sha.h"
#include "agw_util.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384          /* OpenSSL's own ceiling; bounds the cost of one verify */
#define RSA_MAX_EXPONENT_BYTES 8    /* a huge public exponent would make each verify slow */
#define EC_MAX_FIELD_BYTES 66       /* P-521 */

typedef enum { MD_SHA256, MD_SHA384, MD_SHA512, MD_COUNT } md_e;

static const char *const md_names[MD_COUNT] = { "SHA2-256", "SHA2-384", "SHA2-512" };
static const apr_size_t md_sizes[MD_COUNT] = { 32, 48, 64 };

typedef struct {
    const char *jose;           /* JWK "crv" */
    const char *ossl;           /* OpenSSL group name */
    apr_size_t field_bytes;
    int field_bits;
    const unsigned char *order; /* the group order n, big-endian, field_bytes long */
} ec_curve_t;

static const unsigned char p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
    0xfc, 0x63, 0x25, 0x51
};
static const unsigned char p384_order[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81,
    0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec,
    0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73
};
static const unsigned char p521_order[66] = {
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b,
    0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c,
    0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09
};

static const ec_curve_t ec_curves[] = {
    { "P-256", "prime256v1", 32, 256, p256_order },
    { "P-384", "secp384r1", 48, 384, p384_order },
    { "P-521", "secp521r1", 66, 521, p521_order },
};
#define EC_P256 (&ec_curves[0])
#define EC_P384 (&ec_curves[1])
#define EC_P521 (&ec_curves[2])

typedef struct {
    const char *name;
    agw_kty_e kty;
    md_e md;
    const ec_curve_t *curve;    /* ES* only */
    int pss;
} alg_info_t;

static const alg_info_t alg_table[AGW_ALG_COUNT] = {
    [AGW_ALG_NONE]  = { NULL,    AGW_KTY_NONE, MD_SHA256, NULL,    0 },
    [AGW_ALG_RS256] = { "RS256", AGW_KTY_RSA,  MD_SHA256, NULL,    0 },
    [AGW_ALG_RS384] = { "RS384", AGW_KTY_RSA,  MD_SHA384, NULL,    0 },
    [AGW_ALG_RS512] = { "RS512", AGW_KTY_RSA,  MD_SHA512, NULL,    0 },
    [AGW_ALG_PS256] = { "PS256", AGW_KTY_RSA,  MD_SHA256, NULL,    1 },
    [AGW_ALG_PS384] = { "PS384", AGW_KTY_RSA,  MD_SHA384, NULL,    1 },
    [AGW_ALG_PS512] = { "PS512", AGW_KTY_RSA,  MD_SHA512, NULL,    1 },
    [AGW_ALG_ES256] = { "ES256", AGW_KTY_EC,   MD_SHA256, EC_P256, 0 },
    [AGW_ALG_ES384] = { "ES384", AGW_KTY_EC,   MD_SHA384, EC_P384, 0 },
    [AGW_ALG_ES512] = { "ES512", AGW_KTY_EC,   MD_SHA512, EC_P521, 0 },
    [AGW_ALG_EDDSA] = { "EdDSA", AGW_KTY_OKP,  MD_SHA512, NULL,    0 },
    [AGW_ALG_HS256] = { "HS256", AGW_KTY_OCT,  MD_SHA256, NULL,    0 },
    [AGW_ALG_HS384] = { "HS384", AGW_KTY_OCT,  MD_SHA384, NULL,    0 },
    [AGW_ALG_HS512] = { "HS512", AGW_KTY_OCT,  MD_SHA512, NULL,    0 },
};

struct agw_pkey_t {
    EVP_PKEY *pkey;
    agw_kty_e kty;
    int bits;
    const ec_curve_t *ec;       /* EC only */
    /* EVP_DigestVerifyInit costs 2-4 us in OpenSSL 3 (method fetches, and for PS* the
     * padding parameters), about 10-20% of an RSA verify; copying an initialised context
     * costs 0.2 us. So each key keeps one initialised context per algorithm, built on first
     * use, and each verify works on a private copy. The lock makes sure no two threads
     * touch a template at once (OpenSSL does not promise that for contexts). */
    pthread_mutex_t lock;
    EVP_MD_CTX *tmpl[AGW_ALG_COUNT];
};

/* Fetching an algorithm by name costs a provider lookup per call in OpenSSL 3; fetch each
 * once per process and keep it (it is read-only and safe to share between threads). */
static pthread_once_t crypt_once = PTHREAD_ONCE_INIT;
static const EVP_MD *md_cache[MD_COUNT];
static EVP_MAC *hmac_cache;

static void crypt_init(void)
{
    static const EVP_MD *(*const legacy[MD_COUNT])(void) = { EVP_sha256, EVP_sha384, EVP_sha512 };
    int i;

    for (i = 0; i < MD_COUNT; i++) {
        md_cache[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
        if (!md_cache[i])
            md_cache[i] = legacy[i]();
    }
    hmac_cache = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ERR_clear_error();
}

static const EVP_MD *md_get(md_e md)
{
    pthread_once(&crypt_once, crypt_init);
    return md_cache[md];
}

void agw_crypt_init_no_atexit(void)
{
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

void agw_crypt_release(void)
{
    static const pthread_once_t once_init = PTHREAD_ONCE_INIT;
    int i;

    for (i = 0; i < MD_COUNT; i++) {
        EVP_MD_free((EVP_MD *)md_cache[i]);     /* a no-op on the built-in legacy ones */
        md_cache[i] = NULL;
    }
    EVP_MAC_free(hmac_cache);
    hmac_cache = NULL;
    crypt_once = once_init;
}

/* ---- algorithm names ------------------------------------------------------------------ */

agw_alg_e agw_alg_from_name(const char *name, apr_size_t len)
{
    int i;

    if (!name)
        return AGW_ALG_NONE;
    if (len == (apr_size_t)-1)
        len = strlen(name);
    for (i = AGW_ALG_NONE + 1; i < AGW_ALG_COUNT; i++) {
        if (strlen(alg_table[i].name) == len && memcmp(alg_table[i].name, name, len) == 0)
            return (agw_alg_e)i;
    }
    return AGW_ALG_NONE;
}

static const alg_info_t *alg_info(agw_alg_e alg)
{
    return (alg > AGW_ALG_NONE && alg < AGW_ALG_COUNT) ? &alg_table[alg] : NULL;
}

const char *agw_alg_name(agw_alg_e alg)
{
    const alg_info_t *ai = alg_info(alg);

    return ai ? ai->name : NULL;
}

AGW_HOT agw_kty_e agw_alg_kty(agw_alg_e alg)
{
    const alg_info_t *ai = alg_info(alg);

    return ai ? ai->kty : AGW_KTY_NONE;
}

const char *agw_alg_curve(agw_alg_e alg)
{
    const alg_info_t *ai = alg_info(alg);

    return (ai && ai->curve) ? ai->curve->jose : NULL;
}

/* ---- key import -------------------------------------------------------------------------- */

static apr_status_t pkey_cleanup(void *data)
{
    agw_pkey_t *pk = data;
    int i;

    for (i = 0; i < AGW_ALG_COUNT; i++)
        EVP_MD_CTX_free(pk->tmpl[i]);
    pthread_mutex_destroy(&pk->lock);
    EVP_PKEY_free(pk->pkey);
    return APR_SUCCESS;
}

static agw_pkey_t *pkey_wrap(apr_pool_t *p, EVP_PKEY *k, agw_kty_e kty, int bits,
                             const ec_curve_t *ec)
{
    agw_pkey_t *pk = apr_pcalloc(p, sizeof(*pk));

    pk->pkey = k;
    pk->kty = kty;
    pk->bits = bits;
    pk->ec = ec;
    pthread_mutex_init(&pk->lock, NULL);
    apr_pool_cleanup_register(p, pk, pkey_cleanup, apr_pool_cleanup_null);
    return pk;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;

    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static void strip_leading_zeros(const unsigned char **v, apr_size_t *len)
{
    while (*len > 0 && (*v)[0] == 0) {
        (*v)++;
        (*len)--;
    }
}

static int bitlen_of_byte(unsigned char b)
{
    int n = 0;

    while (b) {
        n++;
        b >>= 1;
    }
    return n;
}

apr_status_t agw_pkey_rsa(agw_pkey_t **pkey, apr_pool_t *p,
                          const unsigned char *n, apr_size_t nlen,
                          const unsigned char *e, apr_size_t elen, agw_err_t *err)
{
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *k = NULL;
    apr_status_t rv = APR_EINVAL;
    int bits;

    *pkey = NULL;
    if (!n || !e)
        return agw_err_refuse(err, AGW_R_KEY, "RSA modulus invalid");
    /* RFC 7518 6.3.1.1 warns that some libraries emit a leading zero octet; tolerate it. */
    strip_leading_zeros(&n, &nlen);
    strip_leading_zeros(&e, &elen);
    if (nlen == 0 || !(n[nlen - 1] & 1))
        return agw_err_refuse(err, AGW_R_KEY, "RSA modulus invalid");
    if (nlen > RSA_MAX_BITS / 8)
        return agw_err_refuse(err, AGW_R_KEY, "RSA key too large");
    bits = (int)(nlen - 1) * 8 + bitlen_of_byte(n[0]);
    if (bits < RSA_MIN_BITS)
        return agw_err_refuse(err, AGW_R_KEY, "RSA key under 2048 bits");
    /* e = 1 makes every message its own signature; even e is not an RSA key. */
    if (elen == 0 || elen > RSA_MAX_EXPONENT_BYTES || !(e[elen - 1] & 1)
        || (elen == 1 && e[0] < 3))
        return agw_err_refuse(err, AGW_R_KEY, "RSA exponent invalid");

    if (!(bn_n = BN_bin2bn(n, (int)nlen, NULL)) || !(bn_e = BN_bin2bn(e, (int)elen, NULL))
        || !(bld = OSSL_PARAM_BLD_new())
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)
        || !(params = OSSL_PARAM_BLD_to_param(bld))
        || !(k = pkey_fromdata("RSA", params))) {
        agw_err_refuse(err, AGW_R_KEY, "RSA key rejected");
        goto leave;
    }
    *pkey = pkey_wrap(p, k, AGW_KTY_RSA, bits, NULL);
    rv = APR_SUCCESS;
leave:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    ERR_clear_error();
    return rv;
}

static const ec_curve_t *ec_curve_by_name(const char *crv)
{
    size_t i;

    for (i = 0; crv && i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
        if (strcmp(ec_curves[i].jose, crv) == 0)
            return &ec_curves[i];
    return NULL;
}

apr_status_t agw_pkey_ec(agw_pkey_t **pkey, apr_pool_t *p, const char *crv,
                         const unsigned char *x, apr_size_t xlen,
                         const unsigned char *y, apr_size_t ylen, agw_err_t *err)
{
    const ec_curve_t *ec = ec_curve_by_name(crv);
    unsigned char point[1 + 2 * EC_MAX_FIELD_BYTES];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k;
    int on_curve;

    *pkey = NULL;
    if (!ec)
        return agw_err_refuse(err, AGW_R_KEY, "EC curve not supported");
    if (!x || !y || xlen != ec->field_bytes || ylen != ec->field_bytes)
        return agw_err_refuse(err, AGW_R_KEY, "EC coordinate length invalid");
    point[0] = 0x04; /* uncompressed: x || y follow */
    memcpy(point + 1, x, xlen);
    memcpy(point + 1 + xlen, y, ylen);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)ec->ossl, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
                                                  1 + xlen + ylen);
    params[2] = OSSL_PARAM_construct_end();

    /* Import already refuses most bad points; the public check states the rule outright
     * (on the curve, not infinity, coordinates in range) so that no invalid-curve point can
     * be used to probe anything. The quick check leaves out the order test (n * Q = O), a
     * full scalar multiplication that proves nothing on P-256/384/521: their cofactor is 1,
     * so every finite point on the curve has order n. It was a fifth of a DPoP proof's cost
     * (the proof brings its key in every request). */
    k = pkey_fromdata("EC", params);
    on_curve = k && (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) != NULL
               && EVP_PKEY_public_check_quick(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (!on_curve) {
        EVP_PKEY_free(k);
        return agw_err_refuse(err, AGW_R_KEY, "EC point not on curve");
    }
    *pkey = pkey_wrap(p, k, AGW_KTY_EC, ec->field_bits, ec);
    return APR_SUCCESS;
}

apr_status_t agw_pkey_okp(agw_pkey_t **pkey, apr_pool_t *p, const char *crv,
                          const unsigned char *x, apr_size_t xlen, agw_err_t *err)
{
    EVP_PKEY *k;

    *pkey = NULL;
    if (!crv || strcmp(crv, "Ed25519") != 0)
        return agw_err_refuse(err, AGW_R_KEY, "OKP curve not supported");
    if (!x || xlen != 32)
        return agw_err_refuse(err, AGW_R_KEY, "Ed25519 key length invalid");
    k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
    if (!k) {
        ERR_clear_error();
        return agw_err_refuse(err, AGW_R_KEY, "Ed25519 key rejected");
    }
    *pkey = pkey_wrap(p, k, AGW_KTY_OKP, 256, NULL);
    return APR_SUCCESS;
}

agw_kty_e agw_pkey_kty(const agw_pkey_t *pkey)
{
    return pkey ? pkey->kty : AGW_KTY_NONE;
}

int agw_pkey_bits(const agw_pkey_t *pkey)
{
    return pkey ? pkey->bits : 0;
}

const char *agw_pkey_curve(const agw_pkey_t *pkey)
{
    if (!pkey)
        return NULL;
    if (pkey->kty == AGW_KTY_EC)
        return pkey->ec->jose;
    if (pkey->kty == AGW_KTY_OKP)
        return "Ed25519";
    return NULL;
}

/* ---- verification ------------------------------------------------------------------------ */

/* A context ready for EVP_DigestVerify with alg's digest and padding. */
static EVP_MD_CTX *verify_ctx_new(EVP_PKEY *k, const alg_info_t *ai)
{
    const EVP_MD *md = ai->kty == AGW_KTY_OKP ? NULL : md_get(ai->md);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    /* RSA's default padding is PKCS #1 v1.5 (RS*). PS*: RFC 7518 3.5 fixes MGF1 with the
     * same hash and a salt as long as the hash; RSA_PSS_SALTLEN_DIGEST demands exactly that
     * (the "auto" setting would accept any salt length). Ed25519 hashes internally. */
    if (mctx && EVP_DigestVerifyInit(mctx, &pctx, md, NULL, k) == 1
        && (!ai->pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
                         && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0
                         && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0)))
        return mctx;
    EVP_MD_CTX_free(mctx);
    return NULL;
}

/* A private copy of the key's template for alg (built on first use); a fresh context when
 * copying is not possible. */
static EVP_MD_CTX *verify_ctx_get(const agw_pkey_t *key, agw_alg_e alg, const alg_info_t *ai)
{
    agw_pkey_t *pk = (agw_pkey_t *)key; /* the template cache is not part of the key's value */
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int copied = 0;

    if (!mctx)
        return NULL;
    pthread_mutex_lock(&pk->lock);
    if (!pk->tmpl[alg])
        pk->tmpl[alg] = verify_ctx_new(pk->pkey, ai);
    copied = pk->tmpl[alg] && EVP_MD_CTX_copy_ex(mctx, pk->tmpl[alg]) == 1;
    pthread_mutex_unlock(&pk->lock);
    if (copied)
        return mctx;
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return verify_ctx_new(pk->pkey, ai);
}

static apr_status_t evp_verify(const agw_pkey_t *key, agw_alg_e alg, const alg_info_t *ai,
                               const unsigned char *data, apr_size_t datalen,
                               const unsigned char *sig, apr_size_t siglen, agw_err_t *err)
{
    EVP_MD_CTX *mctx = verify_ctx_get(key, alg, ai);
    int ok = mctx && EVP_DigestVerify(mctx, sig, siglen, data, datalen) == 1;

    EVP_MD_CTX_free(mctx);
    if (!ok) {
        ERR_clear_error();
        return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
    }
    return APR_SUCCESS;
}

/* 1 when the big-endian scalar v (field_bytes long) is in [1, n-1]. */
static int ec_scalar_in_range(const unsigned char *v, const ec_curve_t *ec)
{
    unsigned char any = 0;
    apr_size_t i;

    for (i = 0; i < ec->field_bytes; i++)
        any |= v[i];
    return any != 0 && memcmp(v, ec->order, ec->field_bytes) < 0;
}

/* Writes the DER INTEGER of the non-zero unsigned big-endian v; returns its length.
 * Lengths stay below 128 (at most 66 + 1 content bytes), so the short length form holds. */
static apr_size_t der_uint(unsigned char *out, const unsigned char *v, apr_size_t len)
{
    apr_size_t o = 0;
    int pad;

    while (len > 1 && v[0] == 0) {
        v++;
        len--;
    }
    pad = (v[0] & 0x80) != 0; /* a set high bit would read as negative */
    out[o++] = 0x02;
    out[o++] = (unsigned char)(len + pad);
    if (pad)
        out[o++] = 0x00;
    memcpy(out + o, v, len);
    return o + len;
}

/* JWS carries ECDSA as raw r || s (RFC 7518 3.4); OpenSSL wants DER ECDSA-Sig-Value.
 * Encoded by hand into a stack buffer: no BIGNUM or ECDSA_SIG allocations per request. */
static apr_size_t ecdsa_raw_to_der(unsigned char *der, const unsigned char *sig,
                                   apr_size_t half)
{
    unsigned char body[2 * (3 + EC_MAX_FIELD_BYTES)];
    apr_size_t blen = 0, o = 0;

    blen += der_uint(body + blen, sig, half);
    blen += der_uint(body + blen, sig + half, half);
    der[o++] = 0x30;
    if (blen >= 0x80)
        der[o++] = 0x81;
    der[o++] = (unsigned char)blen;
    memcpy(der + o, body, blen);
    return o + blen;
}

static apr_status_t hmac_verify(md_e md, const unsigned char *secret, apr_size_t secretlen,
                                const unsigned char *data, apr_size_t datalen,
                                const unsigned char *sig, apr_size_t siglen, agw_err_t *err)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    apr_size_t need = md_sizes[md], maclen = 0;
    OSSL_PARAM params[2];
    EVP_MAC_CTX *ctx;
    int ok;

    md_get(md); /* runs crypt_init once */
    /* RFC 7518 3.2: the key MUST be at least as long as the hash output. */
    if (secretlen < need)
        return agw_err_refuse(err, AGW_R_ALG, "HMAC key too short for alg");
    if (siglen != need)
        return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
    if (!hmac_cache || !(ctx = EVP_MAC_CTX_new(hmac_cache)))
        return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)md_names[md], 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = EVP_MAC_init(ctx, secret, secretlen, params) == 1
         && EVP_MAC_update(ctx, data, datalen) == 1
         && EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1
         && maclen == need
         && CRYPTO_memcmp(mac, sig, need) == 0;
    EVP_MAC_CTX_free(ctx);
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!ok) {
        ERR_clear_error();
        return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
    }
    return APR_SUCCESS;
}

apr_status_t agw_crypt_verify(agw_alg_e alg, const agw_pkey_t *key,
                              const unsigned char *secret, apr_size_t secretlen,
                              const unsigned char *data, apr_size_t datalen,
                              const unsigned char *sig, apr_size_t siglen, agw_err_t *err)
{
    const alg_info_t *ai = alg_info(alg);
    unsigned char der[8 + 2 * (3 + EC_MAX_FIELD_BYTES)];
    apr_size_t derlen;

    if (!ai)
        return agw_err_refuse(err, AGW_R_ALG, "alg not supported");
    if (!data && datalen)
        return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
    if (!sig || siglen == 0)
        return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");

    if (ai->kty == AGW_KTY_OCT) {
        /* Only a shared secret keys HMAC: a public key's bytes never do (key confusion). */
        if (!secret || secretlen == 0 || key)
            return agw_err_refuse(err, AGW_R_ALG, "key type does not match alg");
        return hmac_verify(ai->md, secret, secretlen, data, datalen, sig, siglen, err);
    }
    if (!key || key->kty != ai->kty)
        return agw_err_refuse(err, AGW_R_ALG, "key type does not match alg");

    switch (ai->kty) {
    case AGW_KTY_RSA:
        /* The signature is exactly the modulus length (RFC 8017 8.1.2 / 8.2.2 step 1). */
        if (siglen != (apr_size_t)(key->bits + 7) / 8)
            return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
        return evp_verify(key, alg, ai, data, datalen, sig, siglen, err);
    case AGW_KTY_EC:
        if (key->ec != ai->curve)
            return agw_err_refuse(err, AGW_R_ALG, "key curve does not match alg");
        if (siglen != 2 * ai->curve->field_bytes)
            return agw_err_refuse(err, AGW_R_SIGNATURE, "bad ECDSA signature length");
        if (!ec_scalar_in_range(sig, ai->curve)
            || !ec_scalar_in_range(sig + ai->curve->field_bytes, ai->curve))
            return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
        derlen = ecdsa_raw_to_der(der, sig, ai->curve->field_bytes);
        return evp_verify(key, alg, ai, data, datalen, der, derlen, err);
    case AGW_KTY_OKP:
        if (siglen != 64)
            return agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
        return evp_verify(key, alg, ai, data, datalen, sig, siglen, err);
    default:
        return agw_err_refuse(err, AGW_R_ALG, "key type does not match alg");
    }
}

/* ---- warming up ---------------------------------------------------------------------------- */

/* One EC key of curve ec: its generator as the public point. 1 when it was imported. */
static int warm_ec(apr_pool_t *p, const ec_curve_t *ec, agw_alg_e alg, const unsigned char *msg)
{
    unsigned char pt[1 + 2 * EC_MAX_FIELD_BYTES], sig[2 * EC_MAX_FIELD_BYTES];
    EC_GROUP *g = EC_GROUP_new_by_curve_name(OBJ_sn2nid(ec->ossl));
    agw_pkey_t *k;
    agw_err_t err;
    size_t len;
    int ok;

    len = g ? EC_POINT_point2oct(g, EC_GROUP_get0_generator(g), POINT_CONVERSION_UNCOMPRESSED,
                                 pt, sizeof(pt), NULL) : 0;
    /* r and s of 0x01 octets: in range, so that the verify reaches OpenSSL */
    memset(sig, 1, sizeof(sig));
    ok = len == 1 + 2 * ec->field_bytes
         && agw_pkey_ec(&k, p, ec->jose, pt + 1, ec->field_bytes, pt + 1 + ec->field_bytes,
                        ec->field_bytes, &err) == APR_SUCCESS;
    if (ok)
        agw_crypt_verify(alg, k, NULL, 0, msg, 16, sig, 2 * ec->field_bytes, &err);
    EC_GROUP_free(g);
    return ok;
}

/* OpenSSL 3 builds its lookup tables per process, at the first use of each algorithm: the
 * names, the method store's cache of fetched implementations, the EC groups, the legacy
 * engine tables. A forked child inherits what its parent built. Without this, each new child
 * built them at its first request (a key set taken from the shared cache: unsealed, its keys
 * imported; a proof checked). Measured after a graceful restart of 32 prefork children:
 * about 19 fewer page faults per new child and less CPU in the first second. Here, in the
 * parent before the children fork: an import and a verify (of a signature that fails) per
 * key type and algorithm family, an HMAC, an HKDF and an AES-256-GCM decryption, all with
 * throwaway values; nothing is kept but OpenSSL's tables. */
int agw_crypt_warm(apr_pool_t *p)
{
    static const unsigned char e[3] = { 1, 0, 1 };
    unsigned char n[256], sig[256], msg[16] = { 0 }, okp[32], key[32] = { 0 }, out[32];
    EVP_CIPHER_CTX *ctx;
    agw_pkey_t *k;
    agw_err_t err;
    int len, keys = 0;

    pthread_once(&crypt_once, crypt_init);
    memset(n, 0xc5, sizeof(n));         /* 2048 bits, odd: an RSA modulus to OpenSSL */
    memset(sig, 1, sizeof(sig));
    if (agw_pkey_rsa(&k, p, n, sizeof(n), e, sizeof(e), &err) == APR_SUCCESS) {
        keys++;
        agw_crypt_verify(AGW_ALG_RS256, k, NULL, 0, msg, sizeof(msg), sig, sizeof(sig), &err);
        agw_crypt_verify(AGW_ALG_PS256, k, NULL, 0, msg, sizeof(msg), sig, sizeof(sig), &err);
    }
    keys += warm_ec(p, EC_P256, AGW_ALG_ES256, msg);
    keys += warm_ec(p, EC_P384, AGW_ALG_ES384, msg);
    keys += warm_ec(p, EC_P521, AGW_ALG_ES512, msg);
    memset(okp, 0x66, sizeof(okp));
    okp[0] = 0x58;                      /* Ed25519's base point, encoded */
    if (agw_pkey_okp(&k, p, "Ed25519", okp, sizeof(okp), &err) == APR_SUCCESS) {
        keys++;
        agw_crypt_verify(AGW_ALG_EDDSA, k, NULL, 0, msg, sizeof(msg), sig, 64, &err);
    }
    agw_crypt_verify(AGW_ALG_HS256, NULL, key, sizeof(key), msg, sizeof(msg), sig, 32, &err);
    if (agw_crypt_hkdf_sha256(out, sizeof(out), key, sizeof(key), "warm", "warm") != APR_SUCCESS)
        ERR_clear_error();
    if ((ctx = EVP_CIPHER_CTX_new()) != NULL) {
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, msg) == 1)
            EVP_DecryptUpdate(ctx, out, &len, msg, sizeof(msg));
        EVP_CIPHER_CTX_free(ctx);
    }
    OPENSSL_cleanse(out, sizeof(out));
    ERR_clear_error();
    return keys;
}

/* ---- hashes ------------------------------------------------------------------------------ */

int agw_crypt_memeq(const void *a, const void *b, apr_size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

apr_status_t agw_crypt_hmac_sha256(unsigned char out[32], const unsigned char *key,
                                   apr_size_t keylen, const void *data, apr_size_t len)
{
    OSSL_PARAM params[2];
    EVP_MAC_CTX *ctx;
    size_t outlen = 0;
    int ok;

    md_get(MD_SHA256); /* runs crypt_init once */
    if (!hmac_cache || !(ctx = EVP_MAC_CTX_new(hmac_cache))) {
        memset(out, 0, 32);
        ERR_clear_error();
        return APR_EGENERAL;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)md_names[MD_SHA256], 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = EVP_MAC_init(ctx, key, keylen, params) == 1 && EVP_MAC_update(ctx, data, len) == 1
         && EVP_MAC_final(ctx, out, &outlen, 32) == 1 && outlen == 32;
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        memset(out, 0, 32);
        ERR_clear_error();
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t agw_crypt_hkdf_sha256(unsigned char *out, apr_size_t outlen,
                                   const unsigned char *secret, apr_size_t len,
                                   const char *salt, const char *info)
{
    OSSL_PARAM params[5], *q = params;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    apr_status_t rv = APR_EGENERAL;

    if (!ctx)
        goto leave;
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, strlen(salt));
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    *q = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
        rv = APR_SUCCESS;
leave:
    if (rv != APR_SUCCESS)
        OPENSSL_cleanse(out, outlen);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    ERR_clear_error();
    return rv;
}

/* Failures injected by agw_crypt_test_fail_sha256; always 0 outside the unit tests. */
static volatile apr_uint32_t sha256_fail_injected;

void agw_crypt_test_fail_sha256(unsigned int n)
{
    apr_atomic_set32(&sha256_fail_injected, n);
}

/* SHA-256 in one call. The gate hashes every request's token with it (the caches' key), and
 * EVP_Digest's per-call context (two allocations, a provider context made, cleansed and
 * freed) was about 60% of that call's samples in a prefork child, whose caches are cold at
 * every request. OpenSSL 3 marks the SHA256_* functions deprecated but keeps them, on the
 * same assembly; a build without them (OPENSSL_NO_DEPRECATED_3_0) takes EVP. 1 on success. */
AGW_HOT static int sha256_once(unsigned char out[32], const void *data, apr_size_t len)
{
    /* on a CPU with the SHA extensions, our own code in the module's hot pages (agw_sha.c) */
    if (agw_sha256_ni(out, data, len))
        return 1;
#ifndef OPENSSL_NO_DEPRECATED_3_0
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX c;
    int ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, data, len) == 1
             && SHA256_Final(out, &c) == 1;

    OPENSSL_cleanse(&c, sizeof(c));     /* it held the end of the input (a token) */
    return ok;
#pragma GCC diagnostic pop
#else
    unsigned int outlen = 0;

    return EVP_Digest(data, len, out, &outlen, md_get(MD_SHA256), NULL) == 1 && outlen == 32;
#endif
}

AGW_HOT apr_status_t agw_crypt_sha256(unsigned char out[32], const void *data, apr_size_t len)
{
    if (__atomic_load_n(&sha256_fail_injected, __ATOMIC_RELAXED) != 0) {
        apr_atomic_dec32(&sha256_fail_injected);
        memset(out, 0, 32);
        return APR_EGENERAL;
    }
    if (!sha256_once(out, data, len)) {
        /* Cannot happen with a working libcrypto; never hand back stale bytes. */
        memset(out, 0, 32);
        ERR_clear_error();
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

char *agw_crypt_fingerprint(apr_pool_t *p, const void *data, apr_size_t len)
{
    unsigned char digest[32];

    if (agw_crypt_sha256(digest, data, len) != APR_SUCCESS)
        return apr_pstrdup(p, "-");
    return agw_hex(p, digest, 6);
}
