/* Unit tests of the gateway's DPoP proofs: keys accepted and refused, and proofs that OpenSSL verifies against their own public key, with the claims RFC 9449 wants. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "testkit.h"
#include "agw_dpopsign.h"
#include "agw_json.h"
#include "agw_jwk.h"
#include "agw_client.h"

static EVP_PKEY *k_rsa, *k_p256, *k_p384, *k_ed;

static EVP_PKEY *key_rsa(void)  { return k_rsa ? k_rsa : (k_rsa = tk_keygen_rsa(2048)); }
static EVP_PKEY *key_p256(void) { return k_p256 ? k_p256 : (k_p256 = tk_keygen_ec("P-256")); }
static EVP_PKEY *key_p384(void) { return k_p384 ? k_p384 : (k_p384 = tk_keygen_ec("P-384")); }
static EVP_PKEY *key_ed(void)   { return k_ed ? k_ed : (k_ed = tk_keygen_ed25519()); }

static char *pem_of(EVP_PKEY *k, apr_size_t *plen)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    if (!b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
        tk_die("PEM write");
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(agw_test_pool, data, (apr_size_t)n);
    BIO_free(b);
    *plen = (apr_size_t)n;
    return out;
}

static agw_dpopsign_key_t *load(EVP_PKEY *k, agw_alg_e alg)
{
    agw_dpopsign_key_t *dk = NULL;
    agw_err_t err = { 0 };
    apr_size_t len;
    char *pem = pem_of(k, &len);

    ck_assert_msg(agw_dpopsign_load(&dk, agw_test_pool, pem, len, alg, &err) == APR_SUCCESS,
                  "load: %s", err.reason ? err.reason : "(null)");
    return dk;
}

static json_t *segment_json(const char *b64, apr_size_t n)
{
    size_t len;
    unsigned char *raw = tk_unb64url(agw_test_pool, apr_pstrmemdup(agw_test_pool, b64, n), &len);
    json_t *j = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, (char *)raw, len, 0, &err), APR_SUCCESS);
    ck_assert(json_is_object(j));
    return j;
}

/* OpenSSL's own verify with the original key (whose public half the header must carry). */
static int openssl_verifies(EVP_PKEY *k, const char *alg, const char *input,
                            const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const char *md = tk_md_for(alg);
    int ok;

    if (alg[0] == 'E' && alg[1] == 'S')
        sig = tk_ecdsa_raw_to_der(agw_test_pool, &siglen, sig, siglen);
    ok = EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL) == 1;
    if (ok && alg[0] == 'P')
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input,
                                strlen(input)) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

typedef struct { json_t *hdr, *claims; } proof_t;

/* Checks the proof's form, header and signature; returns its parts. */
static proof_t check_proof(EVP_PKEY *k, agw_dpopsign_key_t *dk, const char *proof)
{
    const char *d1 = strchr(proof, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    proof_t out;
    json_t *jwk, *expect = NULL;
    size_t siglen;
    unsigned char *sig;
    agw_err_t err = { 0 };
    const char *alg = agw_alg_name(agw_dpopsign_alg(dk)), *name, *text;
    json_t *v;

    ck_assert(d1 && d2 && !strchr(d2 + 1, '.'));
    out.hdr = segment_json(proof, (apr_size_t)(d1 - proof));
    out.claims = segment_json(d1 + 1, (apr_size_t)(d2 - d1 - 1));
    ck_assert_str_eq(agw_json_str(out.hdr, "typ"), "dpop+jwt");
    ck_assert_str_eq(agw_json_str(out.hdr, "alg"), alg);
    ck_assert_uint_eq(json_object_size(out.hdr), 3);
    jwk = json_object_get(out.hdr, "jwk");
    ck_assert(json_is_object(jwk));
    /* exactly the public members, equal to an independent export of the key */
    text = tk_jwk(agw_test_pool, k, NULL, NULL, NULL);
    ck_assert_int_eq(agw_json_parse(&expect, agw_test_pool, text, strlen(text), 0, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(json_object_size(jwk), json_object_size(expect));
    json_object_foreach(expect, name, v)
        ck_assert_msg(json_equal(v, json_object_get(jwk, name)), "jwk member %s differs", name);
    ck_assert_ptr_null(json_object_get(jwk, "d"));
    sig = tk_unb64url(agw_test_pool, d2 + 1, &siglen);
    ck_assert_msg(openssl_verifies(k, alg, apr_pstrmemdup(agw_test_pool, proof, d2 - proof),
                                   sig, siglen), "%s proof does not verify", alg);
    return out;
}

static void proof_of_alg(EVP_PKEY *k, agw_alg_e alg)
{
    agw_dpopsign_key_t *dk = load(k, alg);
    const char *proof = NULL;
    agw_err_t err = { 0 };
    proof_t pr;

    ck_assert_int_eq(agw_dpopsign_proof(&proof, agw_test_pool, dk, "GET",
                                        "https://api.example/orders/1?x=1#f", NULL, NULL,
                                        1700000000, &err), APR_SUCCESS);
    pr = check_proof(k, dk, proof);
    ck_assert_str_eq(agw_json_str(pr.claims, "htm"), "GET");
    ck_assert_str_eq(agw_json_str(pr.claims, "htu"), "https://api.example/orders/1");
    ck_assert_int_eq(json_integer_value(json_object_get(pr.claims, "iat")), 1700000000);
    ck_assert_ptr_null(json_object_get(pr.claims, "ath"));
    ck_assert_ptr_null(json_object_get(pr.claims, "nonce"));
}

START_TEST(proof_es256) { proof_of_alg(key_p256(), AGW_ALG_NONE); }
END_TEST
START_TEST(proof_eddsa) { proof_of_alg(key_ed(), AGW_ALG_NONE); }
END_TEST
START_TEST(proof_rs256) { proof_of_alg(key_rsa(), AGW_ALG_NONE); }
END_TEST
START_TEST(proof_ps256) { proof_of_alg(key_rsa(), AGW_ALG_PS256); }
END_TEST

START_TEST(default_algs)
{
    ck_assert_int_eq(agw_dpopsign_alg(load(key_p256(), AGW_ALG_NONE)), AGW_ALG_ES256);
    ck_assert_int_eq(agw_dpopsign_alg(load(key_ed(), AGW_ALG_NONE)), AGW_ALG_EDDSA);
    ck_assert_int_eq(agw_dpopsign_alg(load(key_rsa(), AGW_ALG_NONE)), AGW_ALG_RS256);
}
END_TEST

START_TEST(ath_nonce_and_fresh_jti)
{
    agw_dpopsign_key_t *dk = load(key_p256(), AGW_ALG_NONE);
    const char *p1 = NULL, *p2 = NULL, *tok = "eyJ0eXAiOiJhdCtqd3QifQ.e30.sig";
    agw_err_t err = { 0 };
    unsigned char md[32];
    proof_t a, b;

    ck_assert_int_eq(agw_dpopsign_proof(&p1, agw_test_pool, dk, "POST", "http://b:8080/x", tok,
                                        "n-1_x", 5, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_dpopsign_proof(&p2, agw_test_pool, dk, "POST", "http://b:8080/x", tok,
                                        NULL, 5, &err), APR_SUCCESS);
    a = check_proof(key_p256(), dk, p1);
    b = check_proof(key_p256(), dk, p2);
    SHA256((const unsigned char *)tok, strlen(tok), md);
    ck_assert_str_eq(agw_json_str(a.claims, "ath"), tk_b64url(agw_test_pool, md, 32));
    ck_assert_str_eq(agw_json_str(a.claims, "nonce"), "n-1_x");
    ck_assert_ptr_null(json_object_get(b.claims, "nonce"));
    ck_assert_uint_eq(strlen(agw_json_str(a.claims, "jti")), 22);  /* 128 bits */
    ck_assert_str_ne(agw_json_str(a.claims, "jti"), agw_json_str(b.claims, "jti"));
}
END_TEST

START_TEST(thumbprint_rfc7638)
{
    /* the thumbprint is SHA-256 over the JWK's required members, as the JWK parser has it */
    agw_dpopsign_key_t *dk = load(key_ed(), AGW_ALG_NONE);
    const char *text = tk_jwk(agw_test_pool, key_ed(), "kid-1", NULL, NULL);
    json_t *j = NULL;
    agw_jwk_t *jwk = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text), 0, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jwk_parse(&jwk, agw_test_pool, j, &err), APR_SUCCESS);
    ck_assert_str_eq(agw_dpopsign_jkt(dk), tk_b64url(agw_test_pool, jwk->thumbprint, 32));
}
END_TEST

START_TEST(refuses_keys_and_inputs)
{
    agw_dpopsign_key_t *dk = NULL;
    agw_err_t err = { 0 };
    apr_size_t len;
    char *pem = pem_of(key_p384(), &len);
    const char *proof = NULL;

    ck_assert_int_eq(agw_dpopsign_load(&dk, agw_test_pool, pem, len, AGW_ALG_NONE, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err.reason, "EC key not on P-256 (DPoP proofs use ES256)");
    pem = pem_of(key_p256(), &len);
    ck_assert_int_eq(agw_dpopsign_load(&dk, agw_test_pool, pem, len, AGW_ALG_RS256, &err),
                     APR_EINVAL);
    ck_assert_int_eq(agw_dpopsign_load(&dk, agw_test_pool, "junk", 4, AGW_ALG_NONE, &err),
                     APR_EINVAL);
    dk = load(key_p256(), AGW_ALG_NONE);
    ck_assert_int_eq(agw_dpopsign_proof(&proof, agw_test_pool, dk, "GET", "https://a/", NULL,
                                        "bad nonce", 1, &err), APR_EINVAL);
    ck_assert_int_eq(agw_dpopsign_proof(&proof, agw_test_pool, dk, "GET", "https://a/", NULL,
                                        "q\"", 1, &err), APR_EINVAL);
    ck_assert_ptr_null(proof);
    ck_assert(!agw_dpopsign_nonce_ok(""));
    ck_assert(agw_dpopsign_nonce_ok("abc!~"));
    ck_assert_str_eq(agw_dpopsign_htu(agw_test_pool, "http://h:1/p#q?r"), "http://h:1/p");
}
END_TEST

/* ---- the client side: token responses, records, cache keys ---------------------------------- */

static apr_status_t parse_as(agw_cc_token_t *tok, const char *body, int dpop, agw_err_t *err)
{
    memset(tok, 0, sizeof(*tok));
    return agw_client_parse_as(tok, agw_test_pool, 200, body, strlen(body), 1000, dpop, err);
}

START_TEST(client_token_type)
{
    agw_cc_token_t tok;
    agw_err_t err = { 0 };

    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60,"
                                    "\"token_type\":\"DPoP\"}", 1, &err), APR_SUCCESS);
    ck_assert_int_eq(tok.dpop, 1);
    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60,"
                                    "\"token_type\":\"dpop\"}", 1, &err), APR_SUCCESS);
    /* a key was configured: an unbound token is not used */
    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60,"
                                    "\"token_type\":\"Bearer\"}", 1, &err), APR_EGENERAL);
    ck_assert_ptr_nonnull(strstr(err.reason, "did not bind the token"));
    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60}", 1, &err),
                     APR_EGENERAL);
    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60,"
                                    "\"token_type\":\"mac\"}", 1, &err), APR_EGENERAL);
    ck_assert_str_eq(err.reason, "token response has a token_type other than DPoP");
    /* and without a key, a DPoP token is refused as before */
    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60,"
                                    "\"token_type\":\"DPoP\"}", 0, &err), APR_EGENERAL);
    ck_assert_int_eq(parse_as(&tok, "{\"access_token\":\"t\",\"expires_in\":60,"
                                    "\"token_type\":\"Bearer\"}", 0, &err), APR_SUCCESS);
    ck_assert_int_eq(tok.dpop, 0);
}
END_TEST

START_TEST(client_records)
{
    agw_cc_token_t tok = { "abc.def", 100, 200, 1 }, back;
    apr_size_t len;
    char *rec = agw_cc_token_encode(agw_test_pool, &tok, &len);

    ck_assert_str_eq(rec, "2 100 200 DPoP abc.def");
    memset(&back, 0, sizeof(back));
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, rec, len, 150), APR_SUCCESS);
    ck_assert_int_eq(back.dpop, 1);
    ck_assert_str_eq(back.access_token, "abc.def");
    /* version 1, as earlier versions wrote it: Bearer */
    back.dpop = 1;
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, "1 100 200 abc", 13, 150),
                     APR_SUCCESS);
    ck_assert_int_eq(back.dpop, 0);
    tok.dpop = 0;
    ck_assert_str_eq(agw_cc_token_encode(agw_test_pool, &tok, &len), "1 100 200 abc.def");
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, "2 100 200 abc", 13, 150),
                     APR_EINVAL);
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, "2 100 200 Bearer abc", 20, 150),
                     APR_EINVAL);
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, "2 100 200 DPoP ", 15, 150),
                     APR_EINVAL);
}
END_TEST

START_TEST(client_cache_key_has_the_key)
{
    agw_client_t a = { 0 }, b, c;
    const char *why;

    a.name = "orders";
    a.token_url = "https://issuer.example/oauth/token";
    a.client_id = "id";
    a.secret = "s3cret";
    b = a;
    c = a;
    ck_assert_ptr_null(why = agw_client_finish(&a, agw_test_pool));
    b.dpop_key = load(key_p256(), AGW_ALG_NONE);
    ck_assert_ptr_null(why = agw_client_finish(&b, agw_test_pool));
    c.dpop_key = load(key_ed(), AGW_ALG_NONE);
    ck_assert_ptr_null(why = agw_client_finish(&c, agw_test_pool));
    ck_assert_str_ne(a.cache_key, b.cache_key);
    ck_assert_str_ne(b.cache_key, c.cache_key);
}
END_TEST

Suite *agw_suite_dpopsign(void)
{
    Suite *s = suite_create("dpopsign");
    TCase *tc = tcase_create("proofs");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, proof_es256);
    tcase_add_test(tc, proof_eddsa);
    tcase_add_test(tc, proof_rs256);
    tcase_add_test(tc, proof_ps256);
    tcase_add_test(tc, default_algs);
    tcase_add_test(tc, ath_nonce_and_fresh_jti);
    tcase_add_test(tc, thumbprint_rfc7638);
    tcase_add_test(tc, refuses_keys_and_inputs);
    tcase_add_test(tc, client_token_type);
    tcase_add_test(tc, client_records);
    tcase_add_test(tc, client_cache_key_has_the_key);
    suite_add_tcase(s, tc);
    return s;
}
