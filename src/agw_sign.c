/* Signing with our own private keys (private_key_jwt client assertions), separate from the verification keys of peers. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/rand.h>
#include <openssl/ec.h>
#include <openssl/core_names.h>
#include <openssl/bn.h>
#include <apr_strings.h>

#include "agw_sign.h"
#include "agw_b64.h"

struct agw_privkey_t {
    EVP_PKEY *pkey;
    agw_kty_e kty;
    const char *curve;          /* EC: "P-256" ...; OKP: "Ed25519" */
    int field_bytes;            /* EC: coordinate size */
};

static apr_status_t free_pkey(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

apr_status_t agw_privkey_load(agw_privkey_t **pkey, apr_pool_t *p, const char *pem,
                              apr_size_t len, agw_err_t *err)
{
    agw_privkey_t *k;
    EVP_PKEY *ev;
    BIO *bio;
    char group[32];
    size_t glen = 0;

    *pkey = NULL;
    if (!(bio = BIO_new_mem_buf(pem, (int)len)))
        return APR_ENOMEM;
    /* no passphrase callback: an encrypted key fails instead of prompting on a terminal */
    ev = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    if (!ev) {
        agw_err_set(err, NULL, "not an unencrypted PEM private key");
        return APR_EINVAL;
    }
    apr_pool_cleanup_register(p, ev, free_pkey, apr_pool_cleanup_null);
    k = apr_pcalloc(p, sizeof(*k));
    k->pkey = ev;
    switch (EVP_PKEY_get_base_id(ev)) {
    case EVP_PKEY_RSA:
        k->kty = AGW_KTY_RSA;
        if (EVP_PKEY_get_bits(ev) < 2048) {
            agw_err_set(err, NULL, "RSA key shorter than 2048 bits");
            return APR_EINVAL;
        }
        break;
    case EVP_PKEY_EC:
        k->kty = AGW_KTY_EC;
        if (!EVP_PKEY_get_utf8_string_param(ev, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), &glen)) {
            agw_err_set(err, NULL, "EC key without a named curve");
            return APR_EINVAL;
        }
        if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256")) {
            k->curve = "P-256";
            k->field_bytes = 32;
        }
        else if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384")) {
            k->curve = "P-384";
            k->field_bytes = 48;
        }
        else if (!strcmp(group, "secp521r1") || !strcmp(group, "P-521")) {
            k->curve = "P-521";
            k->field_bytes = 66;
        }
        else {
            agw_err_set(err, NULL, "EC curve not one of P-256, P-384, P-521");
            return APR_EINVAL;
        }
        break;
    case EVP_PKEY_ED25519:
        k->kty = AGW_KTY_OKP;
        k->curve = "Ed25519";
        break;
    default:
        agw_err_set(err, NULL, "key type not RSA, EC or Ed25519");
        return APR_EINVAL;
    }
    *pkey = k;
    return APR_SUCCESS;
}

agw_alg_e agw_privkey_default_alg(const agw_privkey_t *key)
{
    switch (key->kty) {
    case AGW_KTY_RSA:
        return AGW_ALG_RS256;
    case AGW_KTY_EC:
        return key->field_bytes == 32 ? AGW_ALG_ES256
             : key->field_bytes == 48 ? AGW_ALG_ES384 : AGW_ALG_ES512;
    case AGW_KTY_OKP:
        return AGW_ALG_EDDSA;
    default:
        return AGW_ALG_NONE;
    }
}

static const EVP_MD *digest_of(agw_alg_e alg)
{
    switch (alg) {
    case AGW_ALG_RS256: case AGW_ALG_PS256: case AGW_ALG_ES256:
        return EVP_sha256();
    case AGW_ALG_RS384: case AGW_ALG_PS384: case AGW_ALG_ES384:
        return EVP_sha384();
    case AGW_ALG_RS512: case AGW_ALG_PS512: case AGW_ALG_ES512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

/* DER ECDSA-Sig-Value to JOSE's fixed-length r||s (RFC 7518 3.4). */
static apr_status_t der_to_raw(unsigned char **praw, apr_pool_t *p, const unsigned char *der,
                               size_t derlen, int field)
{
    const unsigned char *q = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)derlen);
    const BIGNUM *r, *s;
    unsigned char *raw;
    apr_status_t rv = APR_EGENERAL;

    if (!sig)
        return rv;
    ECDSA_SIG_get0(sig, &r, &s);
    raw = apr_palloc(p, (apr_size_t)field * 2);
    if (BN_bn2binpad(r, raw, field) == field && BN_bn2binpad(s, raw + field, field) == field) {
        *praw = raw;
        rv = APR_SUCCESS;
    }
    ECDSA_SIG_free(sig);
    return rv;
}

apr_status_t agw_sign(unsigned char **psig, apr_size_t *psiglen, apr_pool_t *p, agw_alg_e alg,
                      const agw_privkey_t *key, const unsigned char *data, apr_size_t datalen,
                      agw_err_t *err)
{
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = digest_of(alg);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    apr_status_t rv = APR_EGENERAL;

    if (agw_alg_kty(alg) != key->kty
        || (key->kty == AGW_KTY_EC && agw_privkey_default_alg(key) != alg)) {
        agw_err_set(err, NULL, "the signing key does not fit the algorithm");
        return APR_EINVAL;
    }
    if (!(ctx = EVP_MD_CTX_new()))
        return APR_ENOMEM;
    if (EVP_DigestSignInit(ctx, &pctx, key->kty == AGW_KTY_OKP ? NULL : md, NULL, key->pkey)
        != 1)
        goto leave;
    if (alg == AGW_ALG_PS256 || alg == AGW_ALG_PS384 || alg == AGW_ALG_PS512) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            goto leave;
    }
    if (EVP_DigestSign(ctx, NULL, &siglen, data, datalen) != 1)
        goto leave;
    sig = apr_palloc(p, siglen);
    if (EVP_DigestSign(ctx, sig, &siglen, data, datalen) != 1)
        goto leave;
    if (key->kty == AGW_KTY_EC) {
        if (der_to_raw(psig, p, sig, siglen, key->field_bytes) != APR_SUCCESS)
            goto leave;
        *psiglen = (apr_size_t)key->field_bytes * 2;
    }
    else {
        *psig = sig;
        *psiglen = siglen;
    }
    rv = APR_SUCCESS;
leave:
    if (rv != APR_SUCCESS)
        agw_err_set(err, NULL, "signing failed");
    EVP_MD_CTX_free(ctx);
    return rv;
}

apr_status_t agw_sign_random(unsigned char *buf, apr_size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? APR_SUCCESS : APR_EGENERAL;
}

/* A big number as unsigned big-endian, padded to width bytes (0: minimal), base64url. */
static const char *bn_b64(apr_pool_t *p, const BIGNUM *bn, int width)
{
    int n = width ? width : BN_num_bytes(bn);
    unsigned char *buf = apr_palloc(p, (apr_size_t)(n ? n : 1));

    if (BN_bn2binpad(bn, buf, n) != n)
        return NULL;
    return agw_b64url_encode(p, buf, (apr_size_t)n);
}

static const char *bn_param_b64(apr_pool_t *p, const EVP_PKEY *pk, const char *name, int width)
{
    BIGNUM *bn = NULL;
    const char *out;

    if (!EVP_PKEY_get_bn_param(pk, name, &bn))
        return NULL;
    out = bn_b64(p, bn, width);
    BN_free(bn);
    return out;
}

const char *agw_privkey_public_jwk(apr_pool_t *p, const agw_privkey_t *key)
{
    const char *a, *b;
    unsigned char raw[32];
    size_t rawlen = sizeof(raw);

    switch (key->kty) {
    case AGW_KTY_RSA:
        a = bn_param_b64(p, key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        b = bn_param_b64(p, key->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        return a && b ? apr_psprintf(p, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b)
                      : NULL;
    case AGW_KTY_EC:
        a = bn_param_b64(p, key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, key->field_bytes);
        b = bn_param_b64(p, key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, key->field_bytes);
        return a && b ? apr_psprintf(p, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                                     key->curve, a, b)
                      : NULL;
    case AGW_KTY_OKP:
        if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &rawlen) != 1 || rawlen != 32)
            return NULL;
        return apr_psprintf(p, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}",
                            agw_b64url_encode(p, raw, rawlen));
    default:
        return NULL;
    }
}
