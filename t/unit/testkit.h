/* A test-only JOSE signer over OpenSSL (key generation, JWK export, compact JWS signing) for tests and the bench. */
#ifndef AGW_TESTKIT_H
#define AGW_TESTKIT_H

/* Everything here is static inline so that each test file, the bench and the fuzzers can
 * include it without a separate object; it never touches the code under test, so a bug in
 * src/ cannot hide behind a matching bug in the signer. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static inline void tk_die(const char *what)
{
    fprintf(stderr, "testkit: %s failed\n", what);
    abort();
}

static inline char *tk_b64url(apr_pool_t *p, const unsigned char *in, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8) | in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
    }
    else if (len - i == 2) {
        unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8);
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

static inline char *tk_b64url_str(apr_pool_t *p, const char *s)
{
    return tk_b64url(p, (const unsigned char *)s, strlen(s));
}

/* Independent decoder (lenient: the tests only feed it their own output). */
static inline unsigned char *tk_unb64url(apr_pool_t *p, const char *in, size_t *plen)
{
    size_t n = strlen(in), i, o = 0;
    unsigned acc = 0;
    int bits = 0;
    unsigned char *out = apr_palloc(p, n * 3 / 4 + 1);

    for (i = 0; i < n; i++) {
        int c = (unsigned char)in[i], v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-') v = 62;
        else if (c == '_') v = 63;
        else tk_die("tk_unb64url input");
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    *plen = o;
    return out;
}

static inline EVP_PKEY *tk_keygen_rsa(size_t bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
    if (!k) tk_die("RSA keygen");
    return k;
}

/* curve: OpenSSL group name, "P-256" "P-384" "P-521" are accepted by OpenSSL 3 too. */
static inline EVP_PKEY *tk_keygen_ec(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    if (!k) tk_die("EC keygen");
    return k;
}

static inline EVP_PKEY *tk_keygen_ed25519(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k) tk_die("Ed25519 keygen");
    return k;
}

/* The keys the crypt, jwk, jws and hostile suites sign and import with. Key generation is
 * slow, so a test case makes them once, before Check forks its tests:
 * tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown). Each suite has its own. */
static EVP_PKEY *tk_rsa, *tk_rsa2, *tk_rsa1024, *tk_p256, *tk_p384, *tk_p521, *tk_ed
    __attribute__((unused));

static inline void tk_keys_setup(void)
{
    tk_rsa = tk_keygen_rsa(2048);
    tk_rsa2 = tk_keygen_rsa(2048);
    tk_rsa1024 = tk_keygen_rsa(1024);
    tk_p256 = tk_keygen_ec("P-256");
    tk_p384 = tk_keygen_ec("P-384");
    tk_p521 = tk_keygen_ec("P-521");
    tk_ed = tk_keygen_ed25519();
}

static inline void tk_keys_teardown(void)
{
    EVP_PKEY_free(tk_rsa);
    EVP_PKEY_free(tk_rsa2);
    EVP_PKEY_free(tk_rsa1024);
    EVP_PKEY_free(tk_p256);
    EVP_PKEY_free(tk_p384);
    EVP_PKEY_free(tk_p521);
    EVP_PKEY_free(tk_ed);
}

static inline unsigned char *tk_bn_param(apr_pool_t *p, const EVP_PKEY *k, const char *name,
                                         int pad, size_t *plen)
{
    BIGNUM *bn = NULL;
    unsigned char *out;
    int n;

    if (!EVP_PKEY_get_bn_param(k, name, &bn)) tk_die(name);
    n = pad > 0 ? pad : BN_num_bytes(bn);
    out = apr_palloc(p, (size_t)n + 1);
    if (BN_bn2binpad(bn, out, n) != n) tk_die("BN_bn2binpad");
    BN_free(bn);
    *plen = (size_t)n;
    return out;
}

static inline int tk_ec_field_bytes(const EVP_PKEY *k)
{
    int bits = EVP_PKEY_get_bits(k);
    return (bits + 7) / 8;
}

/* "P-256" etc. for an EC key. */
static inline const char *tk_ec_crv(const EVP_PKEY *k)
{
    switch (EVP_PKEY_get_bits(k)) {
    case 256: return "P-256";
    case 384: return "P-384";
    case 521: return "P-521";
    }
    tk_die("tk_ec_crv");
    return NULL;
}

/* The public JWK of k as JSON text, with optional kid, alg and use members. */
static inline char *tk_jwk(apr_pool_t *p, const EVP_PKEY *k, const char *kid,
                           const char *alg, const char *use)
{
    char *extra = "";
    size_t l1, l2;

    if (kid) extra = apr_psprintf(p, "%s,\"kid\":\"%s\"", extra, kid);
    if (alg) extra = apr_psprintf(p, "%s,\"alg\":\"%s\"", extra, alg);
    if (use) extra = apr_psprintf(p, "%s,\"use\":\"%s\"", extra, use);
    if (EVP_PKEY_is_a(k, "RSA")) {
        unsigned char *n = tk_bn_param(p, k, OSSL_PKEY_PARAM_RSA_N, 0, &l1);
        unsigned char *e = tk_bn_param(p, k, OSSL_PKEY_PARAM_RSA_E, 0, &l2);
        return apr_psprintf(p, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}",
                            tk_b64url(p, n, l1), tk_b64url(p, e, l2), extra);
    }
    if (EVP_PKEY_is_a(k, "EC")) {
        int fb = tk_ec_field_bytes(k);
        unsigned char *x = tk_bn_param(p, k, OSSL_PKEY_PARAM_EC_PUB_X, fb, &l1);
        unsigned char *y = tk_bn_param(p, k, OSSL_PKEY_PARAM_EC_PUB_Y, fb, &l2);
        return apr_psprintf(p, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
                            tk_ec_crv(k), tk_b64url(p, x, l1), tk_b64url(p, y, l2), extra);
    }
    if (EVP_PKEY_is_a(k, "ED25519")) {
        unsigned char x[32];
        size_t xl = sizeof(x);
        if (!EVP_PKEY_get_raw_public_key(k, x, &xl)) tk_die("raw public key");
        return apr_psprintf(p, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s}",
                            tk_b64url(p, x, xl), extra);
    }
    tk_die("tk_jwk key type");
    return NULL;
}

static inline const char *tk_md_for(const char *alg)
{
    const char *bits = alg + 2;
    if (!strcmp(alg, "EdDSA")) return NULL;
    if (!strcmp(bits, "256")) return "SHA256";
    if (!strcmp(bits, "384")) return "SHA384";
    if (!strcmp(bits, "512")) return "SHA512";
    tk_die("tk_md_for");
    return NULL;
}

/* Signs data per JWA alg: RS*, PS* (salt = hash length), ES* (raw r||s), EdDSA with k;
 * HS* with secret. Returns the JWS signature bytes from p. */
static inline unsigned char *tk_sign(apr_pool_t *p, size_t *psiglen, const char *alg,
                                     EVP_PKEY *k, const unsigned char *secret, size_t secretlen,
                                     const void *data, size_t len)
{
    const char *md = tk_md_for(alg);
    unsigned char *sig;
    size_t siglen = 0;

    if (alg[0] == 'H') {
        sig = apr_palloc(p, 64);
        if (!EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, secret, secretlen, data, len,
                       sig, 64, &siglen))
            tk_die("EVP_Q_mac");
        *psiglen = siglen;
        return sig;
    }
    {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        if (!ctx || EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL) != 1)
            tk_die("EVP_DigestSignInit_ex");
        if (alg[0] == 'P') {
            if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
                tk_die("PSS params");
        }
        if (EVP_DigestSign(ctx, NULL, &siglen, data, len) != 1) tk_die("EVP_DigestSign size");
        sig = apr_palloc(p, siglen);
        if (EVP_DigestSign(ctx, sig, &siglen, data, len) != 1) tk_die("EVP_DigestSign");
        EVP_MD_CTX_free(ctx);
    }
    if (alg[0] == 'E' && alg[1] == 'S') {
        int fb = tk_ec_field_bytes(k);
        const unsigned char *der = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &der, (long)siglen);
        unsigned char *raw = apr_palloc(p, (size_t)fb * 2);
        if (!es) tk_die("d2i_ECDSA_SIG");
        if (BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, fb) != fb
            || BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + fb, fb) != fb)
            tk_die("ECDSA raw");
        ECDSA_SIG_free(es);
        *psiglen = (size_t)fb * 2;
        return raw;
    }
    *psiglen = siglen;
    return sig;
}

/* The DER ECDSA-Sig-Value of a raw r||s signature (what a confused signer would send). */
static inline unsigned char *tk_ecdsa_raw_to_der(apr_pool_t *p, size_t *pderlen,
                                                 const unsigned char *raw, size_t rawlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
    unsigned char *der = NULL, *out;
    int n;

    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) tk_die("ECDSA_SIG_set0");
    n = i2d_ECDSA_SIG(es, &der);
    if (n <= 0) tk_die("i2d_ECDSA_SIG");
    out = apr_pmemdup(p, der, (apr_size_t)n);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    *pderlen = (size_t)n;
    return out;
}

/* A compact JWS over the exact header and payload texts given (they need not be valid). */
static inline char *tk_token(apr_pool_t *p, const char *alg, EVP_PKEY *k,
                             const unsigned char *secret, size_t secretlen,
                             const char *header, const char *payload)
{
    char *si = apr_pstrcat(p, tk_b64url_str(p, header), ".", tk_b64url_str(p, payload), NULL);
    size_t siglen;
    unsigned char *sig = tk_sign(p, &siglen, alg, k, secret, secretlen, si, strlen(si));
    return apr_pstrcat(p, si, ".", tk_b64url(p, sig, siglen), NULL);
}

/* The SubjectPublicKeyInfo of k as PEM text and as DER bytes. */
static inline char *tk_pubkey_pem(apr_pool_t *p, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    char *out;

    if (!b || PEM_write_bio_PUBKEY(b, k) != 1) tk_die("PEM_write_bio_PUBKEY");
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(b);
    return out;
}

static inline unsigned char *tk_pubkey_der(apr_pool_t *p, EVP_PKEY *k, size_t *plen)
{
    unsigned char *der = NULL, *out;
    int n = i2d_PUBKEY(k, &der);

    if (n <= 0) tk_die("i2d_PUBKEY");
    out = apr_pmemdup(p, der, (apr_size_t)n);
    OPENSSL_free(der);
    *plen = (size_t)n;
    return out;
}

#endif
