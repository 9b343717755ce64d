/* Unit tests of compact JWS: strict decoding, key selection, and the hostile tokens each check exists for. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "testkit.h"
#include "agw_b64.h"
#include "agw_json.h"
#include "agw_jws.h"

static const unsigned char secret[48] = "0123456789abcdef0123456789ABCDEF-shared-secret!";

#define PAYLOAD "{\"iss\":\"https://issuer.example/\",\"sub\":\"u1\",\"exp\":1900000000}"
#define ALL_ALGS 0x3ffeu

/* ---- helpers ------------------------------------------------------------------------------ */

static EVP_PKEY *signer_for(const char *alg)
{
    if (alg[0] == 'R' || alg[0] == 'P')
        return tk_rsa;
    if (!strcmp(alg, "ES256"))
        return tk_p256;
    if (!strcmp(alg, "ES384"))
        return tk_p384;
    if (!strcmp(alg, "ES512"))
        return tk_p521;
    if (!strcmp(alg, "EdDSA"))
        return tk_ed;
    return NULL;
}

/* A token over the exact header and payload texts, signed as alg says with our keys. */
static char *token(const char *alg, const char *header, const char *payload)
{
    return tk_token(agw_test_pool, alg, signer_for(alg), secret, sizeof(secret), header,
                    payload);
}

static char *token_kid(const char *alg, const char *kid)
{
    const char *h = kid ? apr_psprintf(agw_test_pool, "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid)
                        : apr_psprintf(agw_test_pool, "{\"alg\":\"%s\"}", alg);

    return token(alg, h, PAYLOAD);
}

/* A token whose segments are given as they go on the wire (already base64url). */
static char *raw_token(const char *h64, const char *p64, const char *s64)
{
    return apr_pstrcat(agw_test_pool, h64, ".", p64, ".", s64, NULL);
}

static const char *b64s(const char *s)
{
    return tk_b64url_str(agw_test_pool, s);
}

/* The three wire segments of a token, split by hand. */
static void segments(const char *tok, char **h, char **p, char **s)
{
    char *t = apr_pstrdup(agw_test_pool, tok), *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');

    *d1 = *d2 = '\0';
    *h = t;
    *p = d1 + 1;
    *s = d2 + 1;
}

static agw_jws_t *decode_ok(const char *tok)
{
    agw_jws_t *jws = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = agw_jws_decode(&jws, agw_test_pool, tok, strlen(tok), 0, &err);

    ck_assert_msg(rv == APR_SUCCESS, "decode refused: %s", err.reason);
    ck_assert_ptr_nonnull(jws);
    return jws;
}

static void decode_refused_len(const char *tok, apr_size_t len, apr_size_t max,
                               const char *reason)
{
    agw_jws_t *jws = (agw_jws_t *)"sentinel";
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, tok, len, max, &err), APR_EINVAL);
    ck_assert_ptr_null(jws);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_msg(!strcmp(err.reason, reason), "got \"%s\", want \"%s\"", err.reason, reason);
}

static void decode_refused(const char *tok, const char *reason)
{
    decode_refused_len(tok, strlen(tok), 0, reason);
}

static agw_jwks_t *set_of(const char *jwk1, const char *jwk2, const char *jwk3)
{
    const char *doc = apr_pstrcat(agw_test_pool, "{\"keys\":[", jwk1 ? jwk1 : "",
                                  jwk2 ? "," : "", jwk2 ? jwk2 : "", jwk3 ? "," : "",
                                  jwk3 ? jwk3 : "", "]}", NULL);
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err), APR_SUCCESS);
    return jwks;
}

static const char *jwk(EVP_PKEY *k, const char *kid, const char *alg, const char *use)
{
    return tk_jwk(agw_test_pool, k, kid, alg, use);
}

/* Every kind of key we have, each with a kid naming it. */
static agw_jwks_t *all_keys(void)
{
    const char *doc = apr_psprintf(agw_test_pool, "{\"keys\":[%s,%s,%s,%s,%s]}",
                                   jwk(tk_rsa, "rsa", NULL, "sig"), jwk(tk_p256, "p256", NULL, NULL),
                                   jwk(tk_p384, "p384", NULL, NULL), jwk(tk_p521, "p521", NULL, NULL),
                                   jwk(tk_ed, "ed", "EdDSA", "sig"));
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(jwks->keys->nelts, 5);
    return jwks;
}

static const agw_jwk_t *key_at(const agw_jwks_t *jwks, int i)
{
    return APR_ARRAY_IDX(jwks->keys, i, const agw_jwk_t *);
}

static void verify_ok(agw_jws_t *jws, const agw_jwks_t *keys, agw_alg_set_t allowed)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = agw_jws_verify(jws, keys, allowed, &err);

    ck_assert_msg(rv == APR_SUCCESS, "verify refused: %s", err.reason);
    ck_assert_ptr_nonnull(jws->key);
}

static void verify_refused(agw_jws_t *jws, const agw_jwks_t *keys, agw_alg_set_t allowed,
                           apr_status_t want, const char *reason)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = agw_jws_verify(jws, keys, allowed, &err);

    ck_assert_msg(rv == want, "status %d, want %d (%s)", rv, want, err.reason);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_msg(!strcmp(err.reason, reason), "got \"%s\", want \"%s\"", err.reason, reason);
    ck_assert_ptr_null(jws->key);
}

/* ---- decoding ------------------------------------------------------------------------------- */

START_TEST(decode_fields)
{
    char *tok = token("RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\",\"x5t\":\"t1\"}",
                      PAYLOAD);
    agw_jws_t *jws = decode_ok(tok);

    ck_assert_int_eq(jws->alg, AGW_ALG_RS256);
    ck_assert_str_eq(jws->kid, "k1");
    ck_assert_str_eq(jws->x5t, "t1");
    ck_assert_str_eq(jws->typ, "JWT");
    ck_assert_ptr_eq(jws->signing_input, tok);
    ck_assert_uint_eq(jws->signing_input_len, (apr_size_t)(strrchr(tok, '.') - tok));
    ck_assert_uint_eq(jws->sig_len, 256);
    ck_assert(json_is_object(jws->header));
    ck_assert_str_eq(agw_json_str(jws->payload, "sub"), "u1");
    ck_assert_int_eq(json_integer_value(json_object_get(jws->payload, "exp")), 1900000000);
    ck_assert_ptr_null(jws->key);

    jws = decode_ok(token_kid("ES256", NULL));
    ck_assert_ptr_null(jws->kid);
    ck_assert_ptr_null(jws->x5t);
    ck_assert_ptr_null(jws->typ);
    ck_assert_uint_eq(jws->sig_len, 64);
}
END_TEST

/* Embedded keys and key URLs in the header are never used, and do not stop decoding. */
START_TEST(decode_ignores_embedded_keys)
{
    const char *h = apr_psprintf(agw_test_pool,
                                 "{\"alg\":\"RS256\",\"jwk\":%s,\"jku\":\"https://evil.example/k\","
                                 "\"x5u\":\"https://evil.example/c\",\"x5c\":[\"MIIB\"]}",
                                 jwk(tk_rsa2, NULL, NULL, NULL));
    /* Signed with tk_rsa2, whose public key the header carries: must not verify. */
    char *tok = tk_token(agw_test_pool, "RS256", tk_rsa2, NULL, 0, h, PAYLOAD);
    agw_jws_t *jws = decode_ok(tok);

    verify_refused(jws, set_of(jwk(tk_rsa, NULL, NULL, NULL), NULL, NULL), ALL_ALGS,
                   APR_EINVAL, "signature invalid");
}
END_TEST

START_TEST(alg_none_refused)
{
    static const char *const nones[] = { "none", "None", "NONE", "nOnE" };
    int i;

    for (i = 0; i < 4; i++) {
        const char *h = apr_psprintf(agw_test_pool, "{\"alg\":\"%s\"}", nones[i]);

        /* With a signature segment, and with the empty one an unsecured JWS has. */
        decode_refused(raw_token(b64s(h), b64s(PAYLOAD), "c2ln"), "alg none refused");
        decode_refused(raw_token(b64s(h), b64s(PAYLOAD), ""), "signature missing");
    }
}
END_TEST

START_TEST(alg_header_refusals)
{
    static const struct { const char *header, *reason; } cases[] = {
        { "{\"typ\":\"JWT\"}", "alg missing" },
        { "{\"alg\":256}", "alg is not a string" },
        { "{\"alg\":null}", "alg is not a string" },
        { "{\"alg\":[\"RS256\"]}", "alg is not a string" },
        { "{\"alg\":\"\"}", "alg unknown" },
        { "{\"alg\":\"rs256\"}", "alg unknown" },
        { "{\"alg\":\"RS256 \"}", "alg unknown" },
        { "{\"alg\":\"RSA-OAEP\"}", "alg unknown" },
        { "{\"alg\":\"none \"}", "alg unknown" },
        { "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", "crit not supported" },
        { "{\"alg\":\"RS256\",\"crit\":[]}", "crit not supported" },
        { "{\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false}", "crit not supported" },
        { "{\"alg\":\"RS256\",\"kid\":1}", "kid is not a string" },
        { "{\"alg\":\"RS256\",\"kid\":null}", "kid is not a string" },
        { "{\"alg\":\"RS256\",\"x5t\":{}}", "x5t is not a string" },
        { "{\"alg\":\"RS256\",\"typ\":true}", "typ is not a string" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        decode_refused(token("RS256", cases[i].header, PAYLOAD), cases[i].reason);
}
END_TEST

START_TEST(segment_count_refusals)
{
    char *tok = token_kid("RS256", "k"), *h, *p, *s;

    segments(tok, &h, &p, &s);
    decode_refused(apr_pstrcat(agw_test_pool, h, ".", p, NULL), "token is not three segments");
    decode_refused(apr_pstrcat(agw_test_pool, h, p, s, NULL), "token is not three segments");
    decode_refused(apr_pstrcat(agw_test_pool, tok, ".", s, NULL), "token is not three segments");
    decode_refused(apr_pstrcat(agw_test_pool, tok, ".", NULL), "token is not three segments");
    decode_refused(apr_pstrcat(agw_test_pool, h, ".", p, ".", s, "..", NULL),
                   "token is not three segments");
    decode_refused(apr_pstrcat(agw_test_pool, h, "..", p, ".", s, NULL),
                   "token is not three segments");
    decode_refused("...", "token is not three segments");
    decode_refused(apr_pstrcat(agw_test_pool, h, ".", p, ".", NULL), "signature missing");
    decode_refused("..", "signature missing");
    decode_refused(apr_pstrcat(agw_test_pool, ".", p, ".", s, NULL), "header JSON: empty");
    decode_refused(apr_pstrcat(agw_test_pool, h, "..", s, NULL), "payload JSON: empty");
    decode_refused("", "token empty");
    decode_refused_len(NULL, 0, 0, "token empty");
    /* The length given is the token: a NUL-terminated prefix is not cut short. */
    decode_refused_len(tok, strlen(h) + 1 + strlen(p), 0, "token is not three segments");
}
END_TEST

START_TEST(size_limit)
{
    char *tok = token_kid("RS256", "k");
    apr_size_t len = strlen(tok);
    agw_jws_t *jws;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    char *pad, *big;
    int n;

    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, tok, len, len, &err), APR_SUCCESS);
    decode_refused_len(tok, len, len - 1, "token too large");

    /* Around the 16 KiB default: the largest token under it decodes, one over does not. */
    for (n = 11900;; n++) {
        pad = apr_palloc(agw_test_pool, (apr_size_t)n + 1);
        memset(pad, 'x', (apr_size_t)n);
        pad[n] = '\0';
        big = token("RS256", "{\"alg\":\"RS256\"}",
                    apr_psprintf(agw_test_pool, "{\"sub\":\"u\",\"pad\":\"%s\"}", pad));
        if (strlen(big) > AGW_TOKEN_MAX_BYTES)
            break;
        tok = big;
    }
    ck_assert_uint_le(strlen(tok), AGW_TOKEN_MAX_BYTES);
    ck_assert_uint_ge(strlen(tok), AGW_TOKEN_MAX_BYTES - 2);
    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, tok, strlen(tok), 0, &err), APR_SUCCESS);
    decode_refused(big, "token too large");
    /* A caller may allow more. */
    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, big, strlen(big), 2 * AGW_TOKEN_MAX_BYTES,
                                    &err), APR_SUCCESS);
}
END_TEST

START_TEST(base64url_refusals)
{
    char *tok = token_kid("RS256", "k"), *h, *p, *s, *odd;

    segments(tok, &h, &p, &s);
    /* Padding, wherever. */
    decode_refused(raw_token(apr_pstrcat(agw_test_pool, h, "=", NULL), p, s),
                   "header is not base64url");
    decode_refused(raw_token(h, apr_pstrcat(agw_test_pool, p, "==", NULL), s),
                   "payload is not base64url");
    decode_refused(raw_token(h, p, apr_pstrcat(agw_test_pool, s, "==", NULL)),
                   "signature is not base64url");
    /* Whitespace. */
    decode_refused(raw_token(apr_pstrcat(agw_test_pool, " ", h, NULL), p, s),
                   "header is not base64url");
    decode_refused(raw_token(h, apr_psprintf(agw_test_pool, "%.8s\n%s", p, p + 8), s),
                   "payload is not base64url");
    decode_refused(raw_token(h, p, apr_pstrcat(agw_test_pool, s, "\r\n", NULL)),
                   "signature is not base64url");
    decode_refused(raw_token(h, p, apr_psprintf(agw_test_pool, "%.10s %s", s, s + 10)),
                   "signature is not base64url");
    /* The standard alphabet and other junk. */
    odd = apr_pstrdup(agw_test_pool, s);
    odd[5] = '+';
    decode_refused(raw_token(h, p, odd), "signature is not base64url");
    odd[5] = '/';
    decode_refused(raw_token(h, p, odd), "signature is not base64url");
    odd = apr_pstrdup(agw_test_pool, p);
    odd[3] = '%';
    decode_refused(raw_token(h, odd, s), "payload is not base64url");
    /* A 256-byte signature is 342 characters with 4 unused bits in the last: set one. */
    ck_assert_uint_eq(strlen(s), 342);
    odd = apr_pstrdup(agw_test_pool, s);
    odd[341] = odd[341] == 'A' ? 'B' : (char)(odd[341] + 1);
    decode_refused(raw_token(h, p, odd), "signature is not base64url");
    /* A length no base64 can have. */
    decode_refused(raw_token(h, p, apr_pstrcat(agw_test_pool, s, "AAA", NULL)),
                   "signature is not base64url");
    /* A NUL inside the token's length. */
    odd = raw_token(h, p, s);
    odd[3] = '\0';
    decode_refused_len(odd, strlen(tok), 0, "header is not base64url");
}
END_TEST

START_TEST(json_refusals)
{
    static const struct { const char *header, *payload, *reason; } cases[] = {
        { "{\"alg\":\"RS256\",\"alg\":\"none\"}", PAYLOAD, "header JSON: duplicate member name" },
        { "{\"alg\":\"none\",\"alg\":\"RS256\"}", PAYLOAD, "header JSON: duplicate member name" },
        { "{\"alg\":\"RS256\"}", "{\"sub\":\"a\",\"sub\":\"admin\"}",
          "payload JSON: duplicate member name" },
        { "{\"alg\":\"RS256\",\"x\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", PAYLOAD,
          "header JSON: nesting too deep" },
        /* 17 objects deep. */
        { "{\"alg\":\"RS256\"}", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":"
          "{\"j\":{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":{\"q\":1}}}}}}}}}}}}}}}}}",
          "payload JSON: nesting too deep" },
        /* 16 deep is still fine, so this one fails later, on its missing alg. */
        { "{\"x\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}", PAYLOAD, "alg missing" },
        { "[\"RS256\"]", PAYLOAD, "header is not a JSON object" },
        { "\"RS256\"", PAYLOAD, "header is not a JSON object" },
        { "null", PAYLOAD, "header is not a JSON object" },
        { "{\"alg\":\"RS256\"}", "[1]", "payload is not a JSON object" },
        { "{\"alg\":\"RS256\"}", "\"sub\"", "payload is not a JSON object" },
        { "{\"alg\":\"RS256\"}", "42", "payload is not a JSON object" },
        { "{\"alg\":\"RS256\"}", "", "payload JSON: empty" },
        { "{\"alg\":\"RS256\"} x", PAYLOAD, "header JSON: trailing data" },
        { "{\"alg\":\"RS256\"}", "{\"sub\":\"a\\u0000b\"}", "payload JSON: embedded NUL" },
        { "{\"alg\":\"RS256\"}", "{\"sub\":\"\xff\"}", "payload JSON: invalid UTF-8" },
        { "{\"alg\":\"RS256\"", PAYLOAD, "header JSON: truncated" },
        { "{alg:RS256}", PAYLOAD, "header JSON: syntax error" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        decode_refused(token("RS256", cases[i].header, cases[i].payload), cases[i].reason);
}
END_TEST

/* The gate's order: header and signature first, the payload's JSON only once the signature
 * holds. Junk JSON under a forged signature is then refused for the signature. */
START_TEST(payload_parsed_after_verify)
{
    agw_jwks_t *keys = all_keys();
    char *tok = token_kid("RS256", "rsa"), *h, *p, *s;
    agw_jws_t *jws = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *junk;

    ck_assert_int_eq(agw_jws_decode_header(&jws, agw_test_pool, tok, strlen(tok), 0, &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(jws->payload);
    ck_assert_uint_gt(jws->payload_raw_len, 0);
    verify_ok(jws, keys, ALL_ALGS);
    ck_assert_int_eq(agw_jws_claims(jws, agw_test_pool, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(json_object_get(jws->payload, "sub"));
    ck_assert_int_eq(agw_jws_claims(jws, agw_test_pool, &err), APR_SUCCESS);

    segments(tok, &h, &p, &s);
    junk = raw_token(h, b64s("{\"sub\":\"a\",\"sub\":\"admin\"}"), s);
    ck_assert_int_eq(agw_jws_decode_header(&jws, agw_test_pool, junk, strlen(junk), 0, &err),
                     APR_SUCCESS);
    verify_refused(jws, keys, ALL_ALGS, APR_EINVAL, "signature invalid");
    ck_assert_ptr_null(jws->payload);
    ck_assert_int_eq(agw_jws_claims(jws, agw_test_pool, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "payload JSON: duplicate member name");
    /* a payload that is JSON but no object stays unparsed, however often it is asked for */
    junk = raw_token(h, b64s("[1]"), s);
    ck_assert_int_eq(agw_jws_decode_header(&jws, agw_test_pool, junk, strlen(junk), 0, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(agw_jws_claims(jws, agw_test_pool, &err), APR_EINVAL);
    ck_assert_ptr_null(jws->payload);
    ck_assert_int_eq(agw_jws_claims(jws, agw_test_pool, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "payload is not a JSON object");
    /* the payload's base64url is still checked up front */
    junk = apr_pstrcat(agw_test_pool, h, ".", p, "+.", s, NULL);
    jws = (agw_jws_t *)"sentinel";
    ck_assert_int_eq(agw_jws_decode_header(&jws, agw_test_pool, junk, strlen(junk), 0, &err),
                     APR_EINVAL);
    ck_assert_ptr_null(jws);
    ck_assert_str_eq(err.reason, "payload is not base64url");
}
END_TEST

/* ---- verification --------------------------------------------------------------------------- */

static const struct { const char *alg, *kid; } alg_kids[] = {
    { "RS256", "rsa" }, { "RS384", "rsa" }, { "RS512", "rsa" }, { "PS256", "rsa" },
    { "PS384", "rsa" }, { "PS512", "rsa" }, { "ES256", "p256" }, { "ES384", "p384" },
    { "ES512", "p521" }, { "EdDSA", "ed" },
};

START_TEST(verify_each_alg)
{
    agw_jwks_t *keys = all_keys();
    agw_jws_t *jws = decode_ok(token_kid(alg_kids[_i].alg, alg_kids[_i].kid));

    verify_ok(jws, keys, ALL_ALGS);
    ck_assert_str_eq(jws->key->kid, alg_kids[_i].kid);
    verify_ok(jws, keys, AGW_ALG_BIT(jws->alg));
    /* Without a kid every key is a candidate; the kty and curve pick the right one. */
    jws = decode_ok(token_kid(alg_kids[_i].alg, NULL));
    verify_ok(jws, keys, ALL_ALGS);
    ck_assert_str_eq(jws->key->kid, alg_kids[_i].kid);
}
END_TEST

START_TEST(verify_hmac_secret)
{
    agw_jwks_t *keys = agw_jwks_from_secret(agw_test_pool, secret, sizeof(secret));
    agw_alg_set_t hs = AGW_ALG_BIT(AGW_ALG_HS256) | AGW_ALG_BIT(AGW_ALG_HS384)
                       | AGW_ALG_BIT(AGW_ALG_HS512);
    agw_jws_t *jws;

    jws = decode_ok(token_kid("HS256", NULL));
    verify_ok(jws, keys, hs);
    ck_assert_ptr_eq(jws->key, key_at(keys, 0));
    verify_ok(decode_ok(token_kid("HS384", NULL)), keys, hs);
    /* 48 bytes are too short for HS512 (RFC 7518 3.2). */
    verify_refused(decode_ok(token_kid("HS512", NULL)), keys, hs, APR_EINVAL,
                   "HMAC key too short for alg");
    /* The configured secret has no kid: it still answers a token that names one. */
    verify_ok(decode_ok(token_kid("HS256", "some-kid")), keys, hs);
    /* Another secret. */
    verify_refused(decode_ok(token_kid("HS256", NULL)),
                   agw_jwks_from_secret(agw_test_pool, (const unsigned char *)
                                        "another secret, just as long as the first one!!", 48),
                   hs, APR_EINVAL, "signature invalid");
    /* An RS256 token against the secret. */
    verify_refused(decode_ok(token_kid("RS256", NULL)), keys, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
}
END_TEST

START_TEST(alg_not_allowed)
{
    agw_jwks_t *keys = all_keys();
    agw_jws_t *jws = decode_ok(token_kid("RS384", "rsa"));

    verify_refused(jws, keys, AGW_ALG_BIT(AGW_ALG_RS256), APR_EINVAL, "alg not allowed");
    verify_refused(jws, keys, 0, APR_EINVAL, "alg not allowed");
    verify_refused(jws, keys, ALL_ALGS & ~AGW_ALG_BIT(AGW_ALG_RS384), APR_EINVAL,
                   "alg not allowed");
    jws->alg = AGW_ALG_NONE;
    verify_refused(jws, keys, 0xffffffffu, APR_EINVAL, "alg not allowed");
    jws->alg = AGW_ALG_COUNT;
    verify_refused(jws, keys, 0xffffffffu, APR_EINVAL, "alg not allowed");
}
END_TEST

/* An attacker takes the RSA public key (PEM, DER or raw modulus), uses its bytes as an HMAC
 * secret, and labels the token HS256. The RSA key must never key an HMAC. */
START_TEST(hs256_with_rsa_public_key_refused)
{
    agw_jwks_t *keys = set_of(jwk(tk_rsa, "rsa", NULL, "sig"), NULL, NULL);
    agw_alg_set_t both = AGW_ALG_BIT(AGW_ALG_RS256) | AGW_ALG_BIT(AGW_ALG_HS256);
    size_t derlen, nlen;
    const unsigned char *der = tk_pubkey_der(agw_test_pool, tk_rsa, &derlen);
    const char *pem = tk_pubkey_pem(agw_test_pool, tk_rsa);
    const unsigned char *n = tk_bn_param(agw_test_pool, tk_rsa, OSSL_PKEY_PARAM_RSA_N, 0, &nlen);
    const char *jwk_text = jwk(tk_rsa, "rsa", NULL, "sig");
    const struct { const unsigned char *k; size_t len; } forged[] = {
        { (const unsigned char *)pem, strlen(pem) }, { der, derlen }, { n, nlen },
        { (const unsigned char *)jwk_text, strlen(jwk_text) },
    };
    size_t i;

    for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        char *with_kid = tk_token(agw_test_pool, "HS256", NULL, forged[i].k, forged[i].len,
                                  "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", PAYLOAD);
        char *no_kid = tk_token(agw_test_pool, "HS256", NULL, forged[i].k, forged[i].len,
                                "{\"alg\":\"HS256\"}", PAYLOAD);

        verify_refused(decode_ok(with_kid), keys, both, APR_EINVAL,
                       "key type does not match alg");
        verify_refused(decode_ok(no_kid), keys, both, APR_EINVAL, "key type does not match alg");
        verify_refused(decode_ok(no_kid), keys, ALL_ALGS, APR_EINVAL,
                       "key type does not match alg");
    }
}
END_TEST

START_TEST(key_curve_and_type_mismatch)
{
    agw_jwks_t *keys = all_keys();
    agw_jwks_t *only384 = set_of(jwk(tk_p384, "p384", NULL, NULL), NULL, NULL);
    agw_jwks_t *only_ec = set_of(jwk(tk_p256, "p256", NULL, NULL), NULL, NULL);
    agw_jwks_t *only_rsa = set_of(jwk(tk_rsa, "rsa", NULL, NULL), NULL, NULL);

    /* ES256 with the kid of a P-384 key, or against a set holding only P-384. */
    verify_refused(decode_ok(token_kid("ES256", "p384")), keys, ALL_ALGS, APR_EINVAL,
                   "key curve does not match alg");
    verify_refused(decode_ok(token_kid("ES256", NULL)), only384, ALL_ALGS, APR_EINVAL,
                   "key curve does not match alg");
    verify_refused(decode_ok(token_kid("ES512", "p256")), keys, ALL_ALGS, APR_EINVAL,
                   "key curve does not match alg");
    /* EdDSA against an EC key; ES256 against RSA; RS256 against EC and Ed25519. */
    verify_refused(decode_ok(token_kid("EdDSA", "p256")), keys, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
    verify_refused(decode_ok(token_kid("EdDSA", NULL)), only_ec, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
    verify_refused(decode_ok(token_kid("ES256", "rsa")), keys, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
    verify_refused(decode_ok(token_kid("ES256", NULL)), only_rsa, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
    verify_refused(decode_ok(token_kid("RS256", "ed")), keys, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
    verify_refused(decode_ok(token_kid("PS256", "p521")), keys, ALL_ALGS, APR_EINVAL,
                   "key type does not match alg");
}
END_TEST

START_TEST(jwk_alg_must_equal_header_alg)
{
    agw_jwks_t *keys = set_of(jwk(tk_rsa, "r", "RS384", "sig"), NULL, NULL);

    verify_refused(decode_ok(token_kid("RS256", "r")), keys, ALL_ALGS, APR_EINVAL,
                   "key alg does not match token alg");
    verify_refused(decode_ok(token_kid("PS384", "r")), keys, ALL_ALGS, APR_EINVAL,
                   "key alg does not match token alg");
    verify_refused(decode_ok(token_kid("RS256", NULL)), keys, ALL_ALGS, APR_EINVAL,
                   "key alg does not match token alg");
    verify_ok(decode_ok(token("RS384", "{\"alg\":\"RS384\",\"kid\":\"r\"}", PAYLOAD)), keys,
              ALL_ALGS);
}
END_TEST

START_TEST(unknown_key)
{
    agw_jwks_t *keys = all_keys();
    agw_jwks_t *enc_only = set_of(jwk(tk_rsa, "r", NULL, "enc"), NULL, NULL);
    agw_jwks_t *empty = set_of(NULL, NULL, NULL);

    verify_refused(decode_ok(token_kid("RS256", "nobody")), keys, ALL_ALGS, APR_NOTFOUND,
                   "unknown key");
    /* kid comparison is exact. */
    verify_refused(decode_ok(token_kid("RS256", "RSA")), keys, ALL_ALGS, APR_NOTFOUND,
                   "unknown key");
    verify_refused(decode_ok(token_kid("RS256", "")), keys, ALL_ALGS, APR_NOTFOUND,
                   "unknown key");
    /* A key published for encryption is skipped at parse time: its kid is unknown. */
    ck_assert_int_eq(enc_only->keys->nelts, 0);
    verify_refused(decode_ok(token_kid("RS256", "r")), enc_only, ALL_ALGS, APR_NOTFOUND,
                   "unknown key");
    verify_refused(decode_ok(token_kid("RS256", NULL)), empty, ALL_ALGS, APR_NOTFOUND,
                   "unknown key");
    verify_refused(decode_ok(token_kid("RS256", "rsa")), NULL, ALL_ALGS, APR_NOTFOUND,
                   "unknown key");
}
END_TEST

/* When no key has the token's kid, keys without a kid are still candidates. */
START_TEST(kidless_keys_answer_unknown_kid)
{
    agw_jwks_t *kidless = set_of(jwk(tk_rsa, NULL, NULL, NULL), NULL, NULL);
    agw_jwks_t *wrong = set_of(jwk(tk_rsa2, NULL, NULL, NULL), NULL, NULL);
    agw_jwks_t *mixed = set_of(jwk(tk_rsa2, "r2", NULL, NULL), jwk(tk_rsa, NULL, NULL, NULL),
                               NULL);
    agw_jws_t *jws;

    verify_ok(decode_ok(token_kid("RS256", "fresh")), kidless, ALL_ALGS);
    verify_refused(decode_ok(token_kid("RS256", "fresh")), wrong, ALL_ALGS, APR_EINVAL,
                   "signature invalid");
    jws = decode_ok(token_kid("RS256", "fresh"));
    verify_ok(jws, mixed, ALL_ALGS);
    ck_assert_ptr_eq(jws->key, key_at(mixed, 1));
    /* A token naming r2 is held to r2 (signed by the other key: refused). */
    verify_refused(decode_ok(token_kid("RS256", "r2")), mixed, ALL_ALGS, APR_EINVAL,
                   "signature invalid");
}
END_TEST

START_TEST(x5t_must_match_when_both_have_one)
{
    const char *k = jwk(tk_rsa, "r", NULL, NULL);
    size_t n = strlen(k);
    agw_jwks_t *with_abc = set_of(apr_psprintf(agw_test_pool, "%.*s,\"x5t\":\"abc\"}",
                                               (int)n - 1, k), NULL, NULL);
    agw_jwks_t *without = set_of(k, NULL, NULL);
    const char *h_abc = "{\"alg\":\"RS256\",\"kid\":\"r\",\"x5t\":\"abc\"}";
    const char *h_xyz = "{\"alg\":\"RS256\",\"kid\":\"r\",\"x5t\":\"xyz\"}";

    verify_ok(decode_ok(token("RS256", h_abc, PAYLOAD)), with_abc, ALL_ALGS);
    verify_refused(decode_ok(token("RS256", h_xyz, PAYLOAD)), with_abc, ALL_ALGS, APR_EINVAL,
                   "x5t does not match key");
    verify_ok(decode_ok(token("RS256", h_xyz, PAYLOAD)), without, ALL_ALGS);
    verify_ok(decode_ok(token_kid("RS256", "r")), with_abc, ALL_ALGS);
}
END_TEST

/* Two RSA keys under one kid are ambiguous: neither is used (each is listed as skipped), and
 * a token naming that kid finds no key. Keys without kids are tried in order. */
START_TEST(candidates_tried_in_order)
{
    agw_jwks_t *same_kid = set_of(jwk(tk_rsa2, "r", NULL, NULL), jwk(tk_rsa, "r", NULL, NULL),
                                  NULL);
    agw_jwks_t *no_kids = set_of(jwk(tk_p256, NULL, "ES256", NULL), jwk(tk_rsa2, NULL, NULL, NULL),
                                 jwk(tk_rsa, NULL, NULL, NULL));
    agw_jwks_t *same_twice = set_of(jwk(tk_rsa, "r", "RS256", NULL), jwk(tk_rsa, "r", "PS256", NULL),
                                    NULL);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_jws_t *jws;

    ck_assert_int_eq(same_kid->keys->nelts, 0);
    ck_assert_int_eq(same_kid->skipped->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(same_kid->skipped, 0, const char *),
                     "kid r: another key of the same type has the same kid: none of them is used");
    jws = decode_ok(token_kid("RS256", "r"));
    ck_assert_int_eq(agw_jws_verify(jws, same_kid, ALL_ALGS, &err), APR_NOTFOUND);
    /* the same key listed for two algs is not ambiguous */
    ck_assert_int_eq(same_twice->keys->nelts, 2);
    jws = decode_ok(token_kid("RS256", "r"));
    verify_ok(jws, same_twice, ALL_ALGS);
    jws = decode_ok(token_kid("RS256", NULL));
    verify_ok(jws, no_kids, ALL_ALGS);
    ck_assert_ptr_eq(jws->key, key_at(no_kids, 2));
}
END_TEST

START_TEST(bad_signatures)
{
    agw_jwks_t *keys = all_keys();
    char *tok = token_kid("ES256", "p256"), *h, *p, *s, *t;
    unsigned char *sig, *der;
    apr_size_t siglen;
    size_t derlen;
    agw_jws_t *jws;

    segments(tok, &h, &p, &s);
    /* Another payload under the same signature. */
    verify_refused(decode_ok(raw_token(h, b64s("{\"sub\":\"admin\",\"exp\":1900000000}"), s)),
                   keys, ALL_ALGS, APR_EINVAL, "signature invalid");
    /* The DER form of the same ECDSA signature. */
    ck_assert_int_eq(agw_b64url_decode(&sig, &siglen, agw_test_pool, s, strlen(s)), APR_SUCCESS);
    der = tk_ecdsa_raw_to_der(agw_test_pool, &derlen, sig, siglen);
    verify_refused(decode_ok(raw_token(h, p, tk_b64url(agw_test_pool, der, derlen))), keys,
                   ALL_ALGS, APR_EINVAL, "bad ECDSA signature length");
    /* A valid token's key field is reset by a failed verify. */
    jws = decode_ok(tok);
    verify_ok(jws, keys, ALL_ALGS);
    t = raw_token(h, p, tk_b64url(agw_test_pool, sig, 63));
    jws = decode_ok(t);
    verify_refused(jws, keys, ALL_ALGS, APR_EINVAL, "bad ECDSA signature length");
    jws = decode_ok(token_kid("RS256", "rsa"));
    jws->sig[0] ^= 1;
    verify_refused(jws, keys, ALL_ALGS, APR_EINVAL, "signature invalid");
    jws->sig[0] ^= 1;
    verify_ok(jws, keys, ALL_ALGS);
    jws->sig[0] ^= 1;
    verify_refused(jws, keys, ALL_ALGS, APR_EINVAL, "signature invalid");
    /* Signed by another key of the same type. */
    verify_refused(decode_ok(tk_token(agw_test_pool, "RS256", tk_rsa2, NULL, 0,
                                      "{\"alg\":\"RS256\",\"kid\":\"rsa\"}", PAYLOAD)),
                   keys, ALL_ALGS, APR_EINVAL, "signature invalid");
}
END_TEST

/* A header that says one alg, a signature made with another: the header's alg rules. */
START_TEST(alg_substitution_refused)
{
    agw_jwks_t *keys = all_keys();
    const char *si = apr_pstrcat(agw_test_pool, b64s("{\"alg\":\"PS256\",\"kid\":\"rsa\"}"), ".",
                                 b64s(PAYLOAD), NULL);
    size_t siglen;
    unsigned char *sig = tk_sign(agw_test_pool, &siglen, "RS256", tk_rsa, NULL, 0, si,
                                 strlen(si));
    char *tok = apr_pstrcat(agw_test_pool, si, ".", tk_b64url(agw_test_pool, sig, siglen), NULL);

    verify_refused(decode_ok(tok), keys, ALL_ALGS, APR_EINVAL, "signature invalid");
}
END_TEST

Suite *agw_suite_jws(void)
{
    Suite *s = suite_create("jws");
    TCase *tc = tcase_create("jws");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, decode_fields);
    tcase_add_test(tc, decode_ignores_embedded_keys);
    tcase_add_test(tc, alg_none_refused);
    tcase_add_test(tc, alg_header_refusals);
    tcase_add_test(tc, segment_count_refusals);
    tcase_add_test(tc, size_limit);
    tcase_add_test(tc, base64url_refusals);
    tcase_add_test(tc, json_refusals);
    tcase_add_test(tc, payload_parsed_after_verify);
    tcase_add_loop_test(tc, verify_each_alg, 0, (int)(sizeof(alg_kids) / sizeof(alg_kids[0])));
    tcase_add_test(tc, verify_hmac_secret);
    tcase_add_test(tc, alg_not_allowed);
    tcase_add_test(tc, hs256_with_rsa_public_key_refused);
    tcase_add_test(tc, key_curve_and_type_mismatch);
    tcase_add_test(tc, jwk_alg_must_equal_header_alg);
    tcase_add_test(tc, unknown_key);
    tcase_add_test(tc, kidless_keys_answer_unknown_kid);
    tcase_add_test(tc, x5t_must_match_when_both_have_one);
    tcase_add_test(tc, candidates_tried_in_order);
    tcase_add_test(tc, bad_signatures);
    tcase_add_test(tc, alg_substitution_refused);
    suite_add_tcase(s, tc);
    return s;
}
