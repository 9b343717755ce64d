/* DPoP proof verification (RFC 9449) and cnf binding checks (RFC 9449 section 6, RFC 8705), with a hostile-input corpus. */
#include <string.h>
#include <openssl/x509.h>
#include <check.h>
#include <apr_atomic.h>
#include <apr_thread_proc.h>
#include "tests.h"
#include "testkit.h"
#include "agw_b64.h"
#include "agw_crypt.h"
#include "agw_dpop.h"
#include "agw_nonce.h"
#include "agw_jws.h"
#include "agw_pkcache.h"

#define NOW 1700000000
#define URL "https://api.example.com/orders/1"
#define TOKEN "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"

/* base64url(SHA-256(TOKEN)) computed by OpenSSL, not by the code under test */
static const char *ath_of(const char *token)
{
    unsigned char h[32];
    unsigned int n = 0;

    if (!EVP_Digest(token, strlen(token), h, &n, EVP_sha256(), NULL)) tk_die("EVP_Digest");
    return tk_b64url(agw_test_pool, h, n);
}

static const char *header_for(const char *alg, EVP_PKEY *k)
{
    return apr_psprintf(agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"%s\",\"jwk\":%s}", alg,
                        tk_jwk(agw_test_pool, k, NULL, NULL, NULL));
}

static const char *payload_at(const char *htm, const char *htu, long iat, const char *extra)
{
    return apr_psprintf(agw_test_pool, "{\"htm\":\"%s\",\"htu\":\"%s\",\"iat\":%ld,"
                        "\"jti\":\"j-1\",\"ath\":\"%s\"%s}", htm, htu, iat, ath_of(TOKEN),
                        extra ? extra : "");
}

static const char *proof(const char *alg, EVP_PKEY *k, const char *header, const char *payload)
{
    return tk_token(agw_test_pool, alg, k, NULL, 0, header ? header : header_for(alg, k),
                    payload ? payload : payload_at("GET", URL, NOW, NULL));
}

static apr_status_t verify(const char *jwt, agw_dpop_t **out, agw_err_t *err)
{
    agw_dpop_req_t req = { "GET", URL, TOKEN, strlen(TOKEN), NOW, 0, 5, NULL };
    agw_dpop_t *ignored;

    return agw_dpop_verify(out ? out : &ignored, agw_test_pool, jwt, strlen(jwt), &req, err);
}

/* The RFC 7638 thumbprint of k, computed here from the canonical member order. */
static const char *jkt_of(EVP_PKEY *k)
{
    const char *jwk = tk_jwk(agw_test_pool, k, NULL, NULL, NULL);
    unsigned char h[32];
    unsigned int n = 0;

    /* tk_jwk writes EC members as crv, kty? no: kty, crv, x, y: rebuild canonically */
    if (EVP_PKEY_is_a(k, "EC")) {
        char crv[16], x[128], y[128];
        if (sscanf(jwk, "{\"kty\":\"EC\",\"crv\":\"%15[^\"]\",\"x\":\"%127[^\"]\",\"y\":\"%127[^\"]\"",
                   crv, x, y) != 3) tk_die("jwk scan");
        jwk = apr_psprintf(agw_test_pool, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                           crv, x, y);
    }
    else if (EVP_PKEY_is_a(k, "ED25519")) {
        char x[128];
        if (sscanf(jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%127[^\"]\"", x) != 1)
            tk_die("jwk scan");
        jwk = apr_psprintf(agw_test_pool, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    }
    else {
        char nn[1200], e[32];
        if (sscanf(jwk, "{\"kty\":\"RSA\",\"n\":\"%1199[^\"]\",\"e\":\"%31[^\"]\"", nn, e) != 2)
            tk_die("jwk scan");
        jwk = apr_psprintf(agw_test_pool, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, nn);
    }
    if (!EVP_Digest(jwk, strlen(jwk), h, &n, EVP_sha256(), NULL)) tk_die("EVP_Digest");
    return tk_b64url(agw_test_pool, h, n);
}

#define REFUSED(jwt, why) do {                                                                 \
        agw_err_t e_ = { NULL, NULL, AGW_R_NONE };                                             \
        ck_assert_int_eq(verify((jwt), NULL, &e_), APR_EINVAL);                                \
        ck_assert_int_eq(e_.kind, AGW_R_DPOP);                                                 \
        ck_assert_str_eq(e_.code, AGW_E_INVALID_DPOP_PROOF);                                   \
        ck_assert_msg(strstr(e_.reason, (why)) != NULL, "reason '%s' lacks '%s'", e_.reason,   \
                      (why));                                                                  \
    } while (0)

START_TEST(valid_proofs_of_each_key_type)
{
    static const char *algs[] = { "ES256", "ES384", "ES512", "RS256", "PS384", "EdDSA" };
    EVP_PKEY *keys[] = { tk_p256, tk_p384, tk_p521, tk_rsa, tk_rsa, tk_ed };
    size_t i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        agw_err_t err = { NULL, NULL, AGW_R_NONE };
        agw_dpop_t *d = NULL;
        ck_assert_msg(verify(proof(algs[i], keys[i], NULL, NULL), &d, &err) == APR_SUCCESS,
                      "%s: %s", algs[i], err.reason);
        ck_assert_str_eq(d->jti, "j-1");
        ck_assert_int_eq(d->iat, NOW);
        ck_assert_int_eq(d->replay_until, NOW + AGW_DPOP_WINDOW + 5 + 1);
        ck_assert_int_eq(agw_cnf_jkt_check(jkt_of(keys[i]), d, &err), APR_SUCCESS);
    }
}
END_TEST

START_TEST(cnf_jkt_of_another_key_refused)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_dpop_t *d = NULL;

    ck_assert_int_eq(verify(proof("ES256", tk_p256, NULL, NULL), &d, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_cnf_jkt_check(jkt_of(tk_ed), d, &err), APR_EINVAL);
    ck_assert_int_eq(err.kind, AGW_R_BINDING);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_int_eq(agw_cnf_jkt_check("not base64url!", d, &err), APR_EINVAL);
    ck_assert_int_eq(agw_cnf_jkt_check("", d, &err), APR_EINVAL);
}
END_TEST

START_TEST(header_refusals)
{
    const char *jwk = tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL);
    const char *priv_jwk = apr_psprintf(agw_test_pool, "%.*s,\"d\":\"AAAA\"}",
                                        (int)strlen(jwk) - 1, jwk);

    REFUSED(proof("ES256", tk_p256, apr_psprintf(agw_test_pool,
            "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"jwk\":%s}", jwk), NULL), "typ is not dpop+jwt");
    REFUSED(proof("ES256", tk_p256, apr_psprintf(agw_test_pool,
            "{\"typ\":\"DPoP+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwk), NULL), "typ is not dpop+jwt");
    REFUSED(proof("ES256", tk_p256, apr_psprintf(agw_test_pool,
            "{\"alg\":\"ES256\",\"jwk\":%s}", jwk), NULL), "typ is not dpop+jwt");
    REFUSED(proof("ES256", tk_p256, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\"}", NULL),
            "jwk missing");
    REFUSED(proof("ES256", tk_p256, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":\"x\"}",
                  NULL), "jwk is not an object");
    REFUSED(proof("ES256", tk_p256, apr_psprintf(agw_test_pool,
            "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", priv_jwk), NULL),
            "private key");
    /* a jwk that does not match the signature: signed by another P-256 key */
    {
        EVP_PKEY *other = tk_keygen_ec("P-256");
        REFUSED(proof("ES256", other, header_for("ES256", tk_p256), NULL), "signature invalid");
        EVP_PKEY_free(other);
    }
    /* alg and kty do not fit: an RSA key under ES256, a P-256 key under ES384 */
    REFUSED(proof("RS256", tk_rsa, header_for("ES256", tk_rsa), NULL), "key type does not match");
    REFUSED(proof("ES256", tk_p256, header_for("ES384", tk_p256), NULL), "curve does not match");
    /* a header member duplicated */
    REFUSED(proof("ES256", tk_p256, apr_psprintf(agw_test_pool,
            "{\"typ\":\"dpop+jwt\",\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwk), NULL),
            "duplicate member");
}
END_TEST

START_TEST(symmetric_and_none_refused)
{
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    const char *oct = "{\"typ\":\"dpop+jwt\",\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\","
                      "\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}}";
    const char *pay = payload_at("GET", URL, NOW, NULL);
    const char *none = apr_pstrcat(agw_test_pool,
        tk_b64url_str(agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"none\"}"), ".",
        tk_b64url_str(agw_test_pool, pay), ".", NULL);

    REFUSED(tk_token(agw_test_pool, "HS256", NULL, secret, 32, oct, pay), "alg not allowed");
    REFUSED(none, "DPoP proof");
    REFUSED(tk_token(agw_test_pool, "HS256", NULL, secret, 32, apr_psprintf(agw_test_pool,
            "{\"typ\":\"dpop+jwt\",\"alg\":\"HS256\",\"jwk\":%s}",
            tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL)), pay), "alg not allowed");
}
END_TEST

START_TEST(payload_refusals)
{
    EVP_PKEY *k = tk_p256;

    REFUSED(proof("ES256", k, NULL, payload_at("POST", URL, NOW, NULL)), "htm does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("get", URL, NOW, NULL)), "htm does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", "https://api.example.com/orders/2", NOW,
                                               NULL)), "htu does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", "https://evil.example.com/orders/1", NOW,
                                               NULL)), "htu does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", "http://api.example.com/orders/1", NOW,
                                               NULL)), "htu does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", URL "?a=1", NOW, NULL)),
            "htu does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", URL "#f", NOW, NULL)), "htu does not match");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", URL, NOW - AGW_DPOP_WINDOW - 6, NULL)),
            "too old");
    REFUSED(proof("ES256", k, NULL, payload_at("GET", URL, NOW + 6, NULL)), "in the future");
    REFUSED(proof("ES256", k, NULL, "{\"htm\":\"GET\",\"htu\":\"" URL "\",\"jti\":\"x\"}"),
            "iat missing");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"ath\":\"%s\"}", NOW, ath_of(TOKEN))), "jti missing");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"jti\":\"\",\"ath\":\"%s\"}", NOW, ath_of(TOKEN))), "jti missing");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"jti\":7,\"ath\":\"%s\"}", NOW, ath_of(TOKEN))), "jti missing");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"jti\":\"%0300d\",\"ath\":\"%s\"}", NOW, 0, ath_of(TOKEN))),
            "jti too long");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"jti\":\"x\"}", NOW)), "ath missing");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"jti\":\"x\",\"ath\":\"%s\"}", NOW, ath_of(TOKEN "x"))),
            "ath does not match");
    REFUSED(proof("ES256", k, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htm\":\"GET\","
            "\"htu\":\"" URL "\",\"iat\":%d,\"jti\":\"x\",\"ath\":\"%s\"}", NOW, ath_of(TOKEN))),
            "duplicate member");
    /* within the leeway on both sides: accepted */
    ck_assert_int_eq(verify(proof("ES256", k, NULL, payload_at("GET", URL, NOW + 5, NULL)),
                            NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(verify(proof("ES256", k, NULL, payload_at("GET", URL,
                                  NOW - AGW_DPOP_WINDOW - 5, NULL)), NULL, NULL), APR_SUCCESS);
}
END_TEST

START_TEST(size_and_shape_refusals)
{
    char *big = apr_palloc(agw_test_pool, AGW_DPOP_MAX_BYTES + 2);
    const char *good = proof("ES256", tk_p256, NULL, NULL);

    memset(big, 'A', AGW_DPOP_MAX_BYTES + 1);
    big[AGW_DPOP_MAX_BYTES + 1] = '\0';
    REFUSED(big, "too large");
    REFUSED(proof("ES256", tk_p256, NULL, apr_psprintf(agw_test_pool, "{\"htm\":\"GET\",\"htu\":\""
            URL "\",\"iat\":%d,\"jti\":\"x\",\"ath\":\"%s\",\"pad\":\"%08000d\"}", NOW,
            ath_of(TOKEN), 0)), "too large");
    REFUSED("", "empty");
    REFUSED("a.b", "three segments");
    REFUSED(apr_pstrcat(agw_test_pool, good, "x", NULL), "DPoP proof");
    /* the token is the proof: not a dpop+jwt */
    REFUSED(TOKEN, "DPoP proof");
}
END_TEST

START_TEST(htu_normalization)
{
    ck_assert(agw_dpop_htu_match("HTTPS://API.Example.COM/orders/1", URL));
    ck_assert(agw_dpop_htu_match("https://api.example.com:443/orders/1", URL));
    ck_assert(agw_dpop_htu_match("http://h:80", "http://h/"));
    ck_assert(agw_dpop_htu_match("http://h:8080/a", "http://H:8080/a"));
    ck_assert(agw_dpop_htu_match("https://[::1]:8443/a", "https://[::1]:8443/a"));
    ck_assert(!agw_dpop_htu_match("https://[::1]/a", "https://[::1]:8443/a"));
    ck_assert(!agw_dpop_htu_match("https://api.example.com/Orders/1", URL));
    ck_assert(!agw_dpop_htu_match("https://api.example.com:8443/orders/1", URL));
    ck_assert(!agw_dpop_htu_match("https://u@api.example.com/orders/1", URL));
    ck_assert(!agw_dpop_htu_match("https://api.example.com:/orders/1", URL));
    ck_assert(!agw_dpop_htu_match("https://api.example.com:99999/orders/1", URL));
    ck_assert(!agw_dpop_htu_match("ftp://api.example.com/orders/1", "ftp://api.example.com/orders/1"));
    ck_assert(!agw_dpop_htu_match("/orders/1", "/orders/1"));
    ck_assert(!agw_dpop_htu_match(NULL, URL));
}
END_TEST

START_TEST(replay_key)
{
    agw_dpop_t a, b;
    const char *ka, *kb;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.jti = b.jti = "same";
    b.jkt[0] = 1;
    ka = agw_dpop_replay_key(agw_test_pool, &a);
    kb = agw_dpop_replay_key(agw_test_pool, &b);
    ck_assert_str_eq(apr_pstrndup(agw_test_pool, ka, 9), "dpop-jti:");
    ck_assert_uint_eq(strlen(ka), 9 + 64);
    ck_assert_str_ne(ka, kb);
    ck_assert_str_eq(ka, agw_dpop_replay_key(agw_test_pool, &a));
    ck_assert_str_eq(agw_dpop_alg_names(agw_test_pool),
                     "ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA");
    ck_assert(!(agw_dpop_algs() & AGW_ALG_BIT(AGW_ALG_HS256)));
}
END_TEST

START_TEST(cnf_read)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_cnf_t cnf;
    json_t *c = json_loads("{\"cnf\":{\"jkt\":\"abc\",\"x5t#S256\":\"def\"}}", 0, NULL);

    ck_assert_int_eq(agw_cnf_read(&cnf, c, &err), APR_SUCCESS);
    ck_assert_str_eq(cnf.jkt, "abc");
    ck_assert_str_eq(cnf.x5t_s256, "def");
    json_decref(c);
    c = json_loads("{\"sub\":\"x\"}", 0, NULL);
    ck_assert_int_eq(agw_cnf_read(&cnf, c, &err), APR_SUCCESS);
    ck_assert_ptr_null(cnf.jkt);
    ck_assert_ptr_null(cnf.x5t_s256);
    json_decref(c);
    c = json_loads("{\"cnf\":\"x\"}", 0, NULL);
    ck_assert_int_eq(agw_cnf_read(&cnf, c, &err), APR_EINVAL);
    ck_assert_int_eq(err.kind, AGW_R_BINDING);
    json_decref(c);
    c = json_loads("{\"cnf\":{\"jkt\":1}}", 0, NULL);
    ck_assert_int_eq(agw_cnf_read(&cnf, c, &err), APR_EINVAL);
    json_decref(c);
}
END_TEST

/* A self-signed certificate for k as PEM, and its DER's SHA-256 thumbprint. */
static const char *cert_pem(EVP_PKEY *k, const char **x5t)
{
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    unsigned char h[32];
    unsigned int n = 0;
    char *data;
    long len;
    const char *pem;

    if (!x || !b) tk_die("X509_new");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"client", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (!X509_sign(x, k, EVP_sha256())) tk_die("X509_sign");
    if (!X509_digest(x, EVP_sha256(), h, &n)) tk_die("X509_digest");
    *x5t = tk_b64url(agw_test_pool, h, n);
    PEM_write_bio_X509(b, x);
    len = BIO_get_mem_data(b, &data);
    pem = apr_pstrmemdup(agw_test_pool, data, (apr_size_t)len);
    BIO_free(b);
    X509_free(x);
    return pem;
}

START_TEST(cnf_x5t)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *x5t, *other_x5t;
    const char *pem = cert_pem(tk_p256, &x5t), *other = cert_pem(tk_p384, &other_x5t);

    ck_assert_int_eq(agw_cnf_x5t_check(x5t, pem, agw_test_pool, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_cnf_x5t_check(x5t, other, agw_test_pool, &err), APR_EINVAL);
    ck_assert_int_eq(err.kind, AGW_R_BINDING);
    ck_assert_str_eq(err.reason, "token is bound to another client certificate");
    ck_assert_int_eq(agw_cnf_x5t_check(x5t, NULL, agw_test_pool, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "token is bound to a client certificate and none was presented");
    ck_assert_int_eq(agw_cnf_x5t_check(x5t, "-----BEGIN CERTIFICATE-----\n!!\n"
                                       "-----END CERTIFICATE-----\n", agw_test_pool, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.reason, "client certificate unreadable");
    ck_assert_int_eq(agw_cnf_x5t_check("short", pem, agw_test_pool, &err), APR_EINVAL);
}
END_TEST

/* ---- server-provided nonces (agw_nonce) ----------------------------------------------------- */

#define SLOT0 ((apr_int64_t)NOW / AGW_NONCE_SLOT * AGW_NONCE_SLOT)   /* a slot's first second */

static const unsigned char secret_a[] = "0123456789abcdef0123456789abcdef";
static const unsigned char secret_b[] = "fedcba9876543210fedcba9876543210";

static agw_nonce_t *maker(const unsigned char *secret, const unsigned char *old)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_nonce_t *n = NULL;

    ck_assert_int_eq(agw_nonce_create(&n, agw_test_pool, secret, 32, &err), APR_SUCCESS);
    if (old)
        ck_assert_int_eq(agw_nonce_add_old(n, old, 32, &err), APR_SUCCESS);
    return n;
}

/* The reason agw_nonce_check gives, or "ok". */
static const char *nonce_says(const agw_nonce_t *n, const char *nonce, apr_int64_t now,
                              apr_int64_t skew)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (agw_nonce_check(n, agw_test_pool, nonce, now, skew, &err) == APR_SUCCESS)
        return "ok";
    ck_assert_str_eq(err.code, AGW_E_USE_DPOP_NONCE);
    ck_assert_int_eq(err.kind, AGW_R_DPOP);
    return err.reason;
}

START_TEST(nonce_slots)
{
    agw_nonce_t *n = maker(secret_a, NULL);
    const char *v = agw_nonce_make(agw_test_pool, n, SLOT0);

    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(strlen(v), AGW_NONCE_CHARS);
    /* the same nonce for the whole slot, another one in the next */
    ck_assert_str_eq(agw_nonce_make(agw_test_pool, n, SLOT0 + AGW_NONCE_SLOT - 1), v);
    ck_assert_str_ne(agw_nonce_make(agw_test_pool, n, SLOT0 + AGW_NONCE_SLOT), v);
    /* the current slot and the previous one are accepted, an older one is not */
    ck_assert_str_eq(nonce_says(n, v, SLOT0, 0), "ok");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 + AGW_NONCE_SLOT - 1, 0), "ok");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 + 2 * AGW_NONCE_SLOT - 1, 0), "ok");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 + 2 * AGW_NONCE_SLOT, 0), "DPoP proof nonce expired");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 + 100 * AGW_NONCE_SLOT, 0),
                     "DPoP proof nonce expired");
    /* the next slot only when it begins within the skew (another host's clock is ahead) */
    ck_assert_str_eq(nonce_says(n, v, SLOT0 - 3, 5), "ok");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 - 3, 0), "DPoP proof nonce expired");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 - 10, 5), "DPoP proof nonce expired");
    ck_assert_str_eq(nonce_says(n, v, SLOT0 - 2 * AGW_NONCE_SLOT, 5), "DPoP proof nonce expired");
}
END_TEST

START_TEST(nonce_forged_refused)
{
    agw_nonce_t *n = maker(secret_a, NULL);
    const char *v = agw_nonce_make(agw_test_pool, n, NOW);
    char *flip = apr_pstrdup(agw_test_pool, v), *slot = apr_pstrdup(agw_test_pool, v);
    const char *other_slot = agw_nonce_make(agw_test_pool, n, NOW + AGW_NONCE_SLOT);

    flip[20] = flip[20] == 'A' ? 'B' : 'A';
    /* the slot of the next nonce with this one's MAC: a MAC is only good for its own slot */
    memcpy(slot, other_slot, 11);
    ck_assert_str_eq(nonce_says(n, NULL, NOW, 0), "DPoP proof nonce missing");
    ck_assert_str_eq(nonce_says(n, "", NOW, 0), "DPoP proof nonce missing");
    ck_assert_str_eq(nonce_says(n, flip, NOW, 0), "DPoP proof nonce was not issued here");
    ck_assert_str_eq(nonce_says(n, slot, NOW, 0), "DPoP proof nonce was not issued here");
    ck_assert_str_eq(nonce_says(n, apr_pstrndup(agw_test_pool, v, 31), NOW, 0),
                     "DPoP proof nonce malformed");
    ck_assert_str_eq(nonce_says(n, apr_pstrcat(agw_test_pool, v, "A", NULL), NOW, 0),
                     "DPoP proof nonce malformed");
    ck_assert_str_eq(nonce_says(n, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", NOW, 0),
                     "DPoP proof nonce malformed");
    ck_assert_str_eq(nonce_says(n, apr_pstrcat(agw_test_pool, apr_pstrndup(agw_test_pool, v, 30),
                                               "==", NULL), NOW, 0),
                     "DPoP proof nonce malformed");
    ck_assert_str_eq(nonce_says(n, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NOW, 0),
                     "DPoP proof nonce was not issued here");
    ck_assert_str_eq(nonce_says(n, "________________________________", NOW, 0),
                     "DPoP proof nonce was not issued here");
    ck_assert_str_eq(nonce_says(NULL, v, NOW, 0), "DPoP proof nonce was not issued here");
}
END_TEST

START_TEST(nonce_keys)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_nonce_t *a = maker(secret_a, NULL), *a2 = maker(secret_a, NULL);
    agw_nonce_t *b = maker(secret_b, NULL), *rotated = maker(secret_b, secret_a), *n = NULL;
    const char *va = agw_nonce_make(agw_test_pool, a, NOW);

    /* the same secret on another host issues and accepts the same nonces */
    ck_assert_str_eq(agw_nonce_make(agw_test_pool, a2, NOW), va);
    ck_assert_str_eq(nonce_says(a2, va, NOW, 0), "ok");
    /* another key's nonce is refused */
    ck_assert_str_ne(agw_nonce_make(agw_test_pool, b, NOW), va);
    ck_assert_str_eq(nonce_says(b, va, NOW, 0), "DPoP proof nonce was not issued here");
    ck_assert_str_eq(nonce_says(a, agw_nonce_make(agw_test_pool, b, NOW), NOW, 0),
                     "DPoP proof nonce was not issued here");
    /* rotation: the new key issues, the old key's nonces are still accepted */
    ck_assert_str_eq(agw_nonce_make(agw_test_pool, rotated, NOW),
                     agw_nonce_make(agw_test_pool, b, NOW));
    ck_assert_str_eq(nonce_says(rotated, va, NOW, 0), "ok");
    /* a short secret, a third key */
    ck_assert_int_eq(agw_nonce_create(&n, agw_test_pool, secret_a, 31, &err), APR_EINVAL);
    ck_assert_ptr_null(n);
    ck_assert_int_eq(agw_nonce_add_old(rotated, secret_a, 32, &err), APR_EINVAL);
}
END_TEST

START_TEST(proof_nonce_claim)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_dpop_t *p = NULL;

    ck_assert_int_eq(verify(proof("ES256", tk_p256, NULL, payload_at("GET", URL, NOW,
                                  ",\"nonce\":\"n-1\"")), &p, &err), APR_SUCCESS);
    ck_assert_str_eq(p->nonce, "n-1");
    ck_assert_int_eq(verify(proof("ES256", tk_p256, NULL, payload_at("GET", URL, NOW,
                                  ",\"nonce\":5")), &p, &err), APR_SUCCESS);
    ck_assert_ptr_null(p->nonce);
    ck_assert_int_eq(verify(proof("ES256", tk_p256, NULL, NULL), &p, &err), APR_SUCCESS);
    ck_assert_ptr_null(p->nonce);
}
END_TEST

/* ---- proof keys imported once (agw_pkcache) -------------------------------------------------- */

/* verify() through the key cache pc (NULL: none), in pool p. */
static apr_status_t verify_pc(agw_pkcache_t *pc, apr_pool_t *p, const char *jwt, agw_dpop_t **out,
                              agw_err_t *err)
{
    agw_dpop_req_t req = { "GET", URL, TOKEN, strlen(TOKEN), NOW, 0, 5, pc };
    agw_dpop_t *ignored;

    return agw_dpop_verify(out ? out : &ignored, p, jwt, strlen(jwt), &req, err);
}

static agw_pkcache_stats_t pc_stats(agw_pkcache_t *pc)
{
    agw_pkcache_stats_t st;
    agw_pkcache_stats(pc, &st);
    return st;
}

#define PC_OK(pc, k, alg) do {                                                                 \
        agw_err_t e_ = { NULL, NULL, AGW_R_NONE };                                             \
        ck_assert_msg(verify_pc((pc), agw_test_pool, proof((alg), (k), NULL, NULL), NULL, &e_) \
                      == APR_SUCCESS, "%s: %s", (alg), e_.reason);                              \
    } while (0)

START_TEST(pkcache_hit_and_miss)
{
    agw_pkcache_t *pc = agw_pkcache_create(agw_test_pool, 8);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_dpop_t *cold = NULL, *warm = NULL;
    const char *a = proof("ES256", tk_p256, NULL, NULL);
    agw_pkcache_stats_t st;

    ck_assert_ptr_null(agw_pkcache_create(agw_test_pool, 0));
    ck_assert_int_eq(verify_pc(pc, agw_test_pool, a, &cold, &err), APR_SUCCESS);
    st = pc_stats(pc);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.hits, 0);
    ck_assert_uint_eq(st.entries, 1);
    /* another proof of the same key: no import, the same thumbprint */
    ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, NULL,
                     payload_at("GET", URL, NOW - 3, NULL)), &warm, &err), APR_SUCCESS);
    st = pc_stats(pc);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_int_eq(warm->iat, NOW - 3);
    ck_assert_mem_eq(cold->jkt, warm->jkt, 32);
    ck_assert_int_eq(agw_cnf_jkt_check(jkt_of(tk_p256), warm, &err), APR_SUCCESS);
    /* members in another order: the same key */
    {
        const char *j = tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL);
        char crv[16], x[128], y[128];
        ck_assert_int_eq(sscanf(j, "{\"kty\":\"EC\",\"crv\":\"%15[^\"]\",\"x\":\"%127[^\"]\","
                                "\"y\":\"%127[^\"]\"", crv, x, y), 3);
        PC_OK(pc, tk_p256, "ES256");
        ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, apr_psprintf(
            agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"y\":\"%s\","
            "\"x\":\"%s\",\"crv\":\"%s\",\"kty\":\"EC\"}}", y, x, crv), NULL), NULL, &err),
            APR_SUCCESS);
        ck_assert_uint_eq(pc_stats(pc).hits, 3);
    }
    /* other keys miss, each once */
    PC_OK(pc, tk_ed, "EdDSA");
    PC_OK(pc, tk_rsa, "PS256");
    PC_OK(pc, tk_rsa, "RS256");     /* the same RSA key under another alg: a hit */
    st = pc_stats(pc);
    ck_assert_uint_eq(st.misses, 3);
    ck_assert_uint_eq(st.hits, 4);
    ck_assert_uint_eq(st.entries, 3);
    /* a warm key still verifies signatures: another key's signature under its jwk fails */
    {
        EVP_PKEY *forger = tk_keygen_ec("P-256");
        const char *jwt = tk_token(agw_test_pool, "ES256", forger, NULL, 0,
                                   header_for("ES256", tk_p256), payload_at("GET", URL, NOW, NULL));
        EVP_PKEY_free(forger);
        ck_assert_int_eq(verify_pc(pc, agw_test_pool, jwt, NULL, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "DPoP proof signature invalid");
    }
}
END_TEST

/* The cache never changes a result: each jwk below gives the same answer (status, reason,
 * kind) with the cache warm as without a cache, and none but the good key is remembered. */
START_TEST(pkcache_hostile_jwk_same_answer)
{
    agw_pkcache_t *pc = agw_pkcache_create(agw_test_pool, 8);
    const char *j = tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL), *x2, *y2;
    char crv[16], x[128], y[128];
    const char *jwks[32];
    size_t n = 0, i, xl;

    ck_assert_int_eq(sscanf(j, "{\"kty\":\"EC\",\"crv\":\"%15[^\"]\",\"x\":\"%127[^\"]\","
                            "\"y\":\"%127[^\"]\"", crv, x, y), 3);
    xl = strlen(x);
    /* the last character of x with its unused low bits set: other text, same bytes if lax */
    x2 = apr_psprintf(agw_test_pool, "%.*s%c", (int)xl - 1, x, x[xl - 1] == 'A' ? 'B' : 'A');
    y2 = apr_psprintf(agw_test_pool, "%c%s", y[0] == 'A' ? 'B' : 'A', y + 1);
#define JWK(...) (jwks[n++] = apr_psprintf(agw_test_pool, __VA_ARGS__))
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"AAAA\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"alg\":\"ES384\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"alg\":\"ES256\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"alg\":\"none\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"use\":\"enc\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"key_ops\":[\"sign\"]}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"kid\":5}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"kid\":\"k1\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"p-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":1,\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"RSA\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"OKP\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"ec\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x2, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s=\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\\u0000\",\"y\":\"%s\"}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", x, y2);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", y, x);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", x);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":[\"%s\"]}", x, y);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x\":\"%s\"}", y, y, x);
    JWK("{\"kty\":\"oct\",\"k\":\"%s\"}", x);
    JWK("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"e\":\"AQAB\"}", x, y);
#undef JWK
    PC_OK(pc, tk_p256, "ES256");                        /* warm */
    for (i = 0; i < n; i++) {
        const char *jwt = proof("ES256", tk_p256, apr_psprintf(agw_test_pool,
                                "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwks[i]),
                                NULL);
        agw_err_t cold = { NULL, NULL, AGW_R_NONE }, warm = { NULL, NULL, AGW_R_NONE };
        apr_status_t rc = verify_pc(NULL, agw_test_pool, jwt, NULL, &cold);
        apr_status_t rw = verify_pc(pc, agw_test_pool, jwt, NULL, &warm);

        ck_assert_msg(rc == rw, "jwk #%u: %d without the cache, %d with it (%s)", (unsigned)i,
                      rc, rw, rw ? warm.reason : cold.reason);
        ck_assert_int_eq(cold.kind, warm.kind);
        if (rc != APR_SUCCESS)
            ck_assert_str_eq(cold.reason, warm.reason);
    }
    ck_assert_uint_eq(pc_stats(pc).entries, 1);
    /* and the answers are the refusals they should be */
    {
        agw_err_t e = { NULL, NULL, AGW_R_NONE };
        ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, apr_psprintf(
            agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwks[1]),
            NULL), NULL, &e), APR_EINVAL);
        ck_assert_str_eq(e.reason, "DPoP proof jwk holds a private key");
        ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, apr_psprintf(
            agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwks[2]),
            NULL), NULL, &e), APR_EINVAL);
        ck_assert_str_eq(e.reason, "DPoP proof jwk: alg does not fit crv");
        ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, apr_psprintf(
            agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwks[5]),
            NULL), NULL, &e), APR_EINVAL);
        ck_assert_str_eq(e.reason, "DPoP proof jwk: use is not sig");
        ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, apr_psprintf(
            agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}", jwks[18]),
            NULL), NULL, &e), APR_EINVAL);
        ck_assert_str_eq(e.reason, "DPoP proof jwk: EC point not on curve");
    }
}
END_TEST

START_TEST(pkcache_changed_member_misses)
{
    agw_pkcache_t *pc = agw_pkcache_create(agw_test_pool, 8);
    EVP_PKEY *other = tk_keygen_ec("P-256");
    const char *j = tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL);
    char crv[16], x[128], y[128], ox[128], oy[128];
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(sscanf(j, "{\"kty\":\"EC\",\"crv\":\"%15[^\"]\",\"x\":\"%127[^\"]\","
                            "\"y\":\"%127[^\"]\"", crv, x, y), 3);
    j = tk_jwk(agw_test_pool, other, NULL, NULL, NULL);
    ck_assert_int_eq(sscanf(j, "{\"kty\":\"EC\",\"crv\":\"%15[^\"]\",\"x\":\"%127[^\"]\","
                            "\"y\":\"%127[^\"]\"", crv, ox, oy), 3);
    PC_OK(pc, tk_p256, "ES256");
    PC_OK(pc, other, "ES256");
    ck_assert_uint_eq(pc_stats(pc).misses, 2);
    /* x of one key and y of the other: neither key, a miss, refused by the import */
    ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256, apr_psprintf(
        agw_test_pool, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\","
        "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}}", x, oy), NULL), NULL, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "DPoP proof jwk: EC point not on curve");
    ck_assert_uint_eq(pc_stats(pc).misses, 3);
    ck_assert_uint_eq(pc_stats(pc).hits, 0);
    ck_assert_uint_eq(pc_stats(pc).entries, 2);
    /* a proof signed by one key naming the other: the other's cached key, which refuses it */
    ck_assert_int_eq(verify_pc(pc, agw_test_pool, proof("ES256", tk_p256,
                     header_for("ES256", other), NULL), NULL, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "DPoP proof signature invalid");
    ck_assert_uint_eq(pc_stats(pc).hits, 1);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(pkcache_eviction_bound)
{
    agw_pkcache_t *pc = agw_pkcache_create(agw_test_pool, 2);
    agw_pkcache_stats_t st;

    PC_OK(pc, tk_p256, "ES256");
    PC_OK(pc, tk_p384, "ES384");
    PC_OK(pc, tk_p256, "ES256");       /* hit: p384 is now the least recently used */
    PC_OK(pc, tk_ed, "EdDSA");         /* evicts p384 */
    st = pc_stats(pc);
    ck_assert_uint_eq(st.entries, 2);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 3);
    PC_OK(pc, tk_p256, "ES256");       /* still there */
    ck_assert_uint_eq(pc_stats(pc).hits, 2);
    PC_OK(pc, tk_p384, "ES384");       /* gone: imported again, evicting ed */
    st = pc_stats(pc);
    ck_assert_uint_eq(st.misses, 4);
    ck_assert_uint_eq(st.evictions, 2);
    ck_assert_uint_eq(st.entries, 2);
    PC_OK(pc, tk_p256, "ES256");
    PC_OK(pc, tk_ed, "EdDSA");
    st = pc_stats(pc);
    ck_assert_uint_eq(st.hits, 3);
    ck_assert_uint_eq(st.misses, 5);
    ck_assert_uint_eq(st.entries, 2);
}
END_TEST

/* A key a request holds outlives its eviction: the request's pool lets go of it last. */
START_TEST(pkcache_held_key_outlives_eviction)
{
    agw_pkcache_t *pc = agw_pkcache_create(agw_test_pool, 1);
    apr_pool_t *held, *other;
    agw_jwk_t *jwk = NULL, *k2 = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_jws_t *jws = NULL;
    agw_jwks_t set;
    const char *tok = tk_token(agw_test_pool, "ES256", tk_p256, NULL, 0, "{\"alg\":\"ES256\"}",
                               "{\"sub\":\"x\"}");
    json_t *obj = json_loads(tk_jwk(agw_test_pool, tk_p256, "kid-1", NULL, NULL), 0, NULL);
    json_t *obj2 = json_loads(tk_jwk(agw_test_pool, tk_ed, NULL, NULL, NULL), 0, NULL);

    /* imported by one request, which ends; held by a second one, through a hit */
    apr_pool_create(&other, agw_test_pool);
    ck_assert_int_eq(agw_pkcache_jwk(&jwk, pc, other, obj, &err), APR_SUCCESS);
    apr_pool_destroy(other);
    apr_pool_create(&held, agw_test_pool);
    apr_pool_create(&other, agw_test_pool);
    ck_assert_int_eq(agw_pkcache_jwk(&jwk, pc, held, obj, &err), APR_SUCCESS);
    ck_assert_uint_eq(pc_stats(pc).hits, 1);
    ck_assert_str_eq(jwk->kid, "kid-1");
    ck_assert_int_eq(agw_pkcache_jwk(&k2, pc, other, obj2, &err), APR_SUCCESS);
    ck_assert_uint_eq(pc_stats(pc).evictions, 1);
    apr_pool_destroy(other);            /* ed: its request and the table both let go */
    json_decref(obj2);
    ck_assert_int_eq(agw_jws_decode(&jws, held, tok, strlen(tok), 0, &err), APR_SUCCESS);
    set.keys = apr_array_make(held, 1, sizeof(agw_jwk_t *));
    set.skipped = NULL;
    APR_ARRAY_PUSH(set.keys, agw_jwk_t *) = jwk;
    ck_assert_msg(agw_jws_verify(jws, &set, AGW_ALG_BIT(AGW_ALG_ES256), &err) == APR_SUCCESS,
                  "%s", err.reason);
    apr_pool_destroy(held);
    json_decref(obj);
}
END_TEST

START_TEST(pkcache_thumbprint_of)
{
    EVP_PKEY *keys[] = { tk_p256, tk_p521, tk_rsa, tk_ed };
    unsigned char tp[32];
    json_t *o;
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        o = json_loads(tk_jwk(agw_test_pool, keys[i], "k", "", "sig"), 0, NULL);
        ck_assert_int_eq(agw_jwk_thumbprint_of(tp, agw_test_pool, o), APR_SUCCESS);
        ck_assert_str_eq(tk_b64url(agw_test_pool, tp, 32), jkt_of(keys[i]));
        json_decref(o);
    }
    {
        static const char *const none[] = {
            "{\"kty\":\"oct\",\"k\":\"AAAA\"}", "{\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA=\",\"y\":\"AA\"}",
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"A\\\"A\",\"y\":\"AA\"}",
            "{\"kty\":\"EC\",\"crv\":\"P 256\",\"x\":\"AA\",\"y\":\"AA\"}",
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\",\"y\":\"AA\"}",
            "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\"}",
            "{\"kty\":\"RSA\",\"n\":\"AA\",\"e\":1}",
            "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\\u0000\"}",
        };
        for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
            o = json_loads(none[i], JSON_ALLOW_NUL, NULL);
            ck_assert_ptr_nonnull(o);
            ck_assert_msg(agw_jwk_thumbprint_of(tp, agw_test_pool, o) == APR_EINVAL, "%s",
                          none[i]);
            json_decref(o);
        }
    }
}
END_TEST

/* Threads verify proofs of more keys than the cache holds, so keys are evicted while other
 * threads verify with them; each thread keeps the previous request's pool (and key) alive
 * across the next one. Under make unit-asan a key freed too early is a use-after-free. */
#define PK_THREADS 4
#define PK_KEYS 6
#define PK_ROUNDS 120
static const char *pk_proofs[PK_KEYS];
static agw_pkcache_t *pk_cache;
static volatile apr_uint32_t pk_failed;

static void *APR_THREAD_FUNC pk_worker(apr_thread_t *th, void *data)
{
    unsigned int id = (unsigned int)(apr_uintptr_t)data, i;
    apr_pool_t *pools[2];

    apr_pool_create_unmanaged(&pools[0]);
    apr_pool_create_unmanaged(&pools[1]);
    for (i = 0; i < PK_ROUNDS; i++) {
        agw_err_t err = { NULL, NULL, AGW_R_NONE };
        apr_pool_t *p = pools[i & 1];
        const char *jwt = pk_proofs[(i * 5 + id * 3) % PK_KEYS];

        apr_pool_clear(p);
        if (verify_pc(pk_cache, p, jwt, NULL, &err) != APR_SUCCESS)
            apr_atomic_inc32(&pk_failed);
    }
    apr_pool_destroy(pools[0]);
    apr_pool_destroy(pools[1]);
    /* a plain return: apr_thread_exit's pthread_exit unwinds past ASan's stack poisoning */
    return NULL;
}

START_TEST(pkcache_threads_evict_while_verifying)
{
    EVP_PKEY *k[PK_KEYS];
    apr_thread_t *th[PK_THREADS];
    apr_status_t rv;
    agw_pkcache_stats_t st;
    unsigned int i;

    pk_cache = agw_pkcache_create(agw_test_pool, 3);
    pk_failed = 0;
    for (i = 0; i < PK_KEYS; i++) {
        k[i] = i % 2 ? tk_keygen_ed25519() : tk_keygen_ec("P-256");
        pk_proofs[i] = proof(i % 2 ? "EdDSA" : "ES256", k[i], NULL, NULL);
    }
    for (i = 0; i < PK_THREADS; i++)
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, pk_worker, (void *)(apr_uintptr_t)i,
                                           agw_test_pool), APR_SUCCESS);
    for (i = 0; i < PK_THREADS; i++)
        apr_thread_join(&rv, th[i]);
    st = pc_stats(pk_cache);
    ck_assert_uint_eq(pk_failed, 0);
    ck_assert_uint_eq(st.hits + st.misses, PK_THREADS * PK_ROUNDS);
    ck_assert_uint_le(st.entries, 3);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_gt(st.hits, 0);
    for (i = 0; i < PK_KEYS; i++)
        EVP_PKEY_free(k[i]);
}
END_TEST

Suite *agw_suite_dpop(void)
{
    Suite *s = suite_create("dpop");
    TCase *tc = tcase_create("dpop");

    tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, valid_proofs_of_each_key_type);
    tcase_add_test(tc, cnf_jkt_of_another_key_refused);
    tcase_add_test(tc, header_refusals);
    tcase_add_test(tc, symmetric_and_none_refused);
    tcase_add_test(tc, payload_refusals);
    tcase_add_test(tc, size_and_shape_refusals);
    tcase_add_test(tc, htu_normalization);
    tcase_add_test(tc, replay_key);
    tcase_add_test(tc, cnf_read);
    tcase_add_test(tc, cnf_x5t);
    tcase_add_test(tc, proof_nonce_claim);
    suite_add_tcase(s, tc);
    tc = tcase_create("nonce");
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, nonce_slots);
    tcase_add_test(tc, nonce_forged_refused);
    tcase_add_test(tc, nonce_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("proofkeys");
    tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pkcache_hit_and_miss);
    tcase_add_test(tc, pkcache_hostile_jwk_same_answer);
    tcase_add_test(tc, pkcache_changed_member_misses);
    tcase_add_test(tc, pkcache_eviction_bound);
    tcase_add_test(tc, pkcache_held_key_outlives_eviction);
    tcase_add_test(tc, pkcache_thumbprint_of);
    tcase_add_test(tc, pkcache_threads_evict_while_verifying);
    suite_add_tcase(s, tc);
    return s;
}
