/* Unit tests of JWK and JWK Set parsing: every key type, every refusal reason, skip lines and set limits. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "testkit.h"
#include "agw_json.h"
#include "agw_jwk.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* text with ",member" added before its closing brace. */
static char *with(const char *text, const char *member)
{
    size_t n = strlen(text);

    ck_assert_int_eq(text[n - 1], '}');
    return apr_psprintf(agw_test_pool, "%.*s,%s}", (int)(n - 1), text, member);
}

static apr_status_t parse(const char *text, agw_jwk_t **jwk, agw_err_t *err)
{
    json_t *j = NULL;

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text), 0, err),
                     APR_SUCCESS);
    *jwk = (agw_jwk_t *)"sentinel";
    return agw_jwk_parse(jwk, agw_test_pool, j, err);
}

static agw_jwk_t *parse_ok(const char *text)
{
    agw_jwk_t *jwk;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = parse(text, &jwk, &err);

    ck_assert_msg(rv == APR_SUCCESS, "%s refused: %s", text, err.reason);
    ck_assert_ptr_nonnull(jwk);
    return jwk;
}

static void parse_refused(const char *text, const char *reason)
{
    agw_jwk_t *jwk;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_msg(parse(text, &jwk, &err) == APR_EINVAL, "accepted %s", text);
    ck_assert_ptr_null(jwk);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_msg(!strcmp(err.reason, reason), "%s: got \"%s\", want \"%s\"", text, err.reason,
                  reason);
}

static char *b64(const unsigned char *bytes, size_t len)
{
    return tk_b64url(agw_test_pool, bytes, len);
}

static const char *rsa_n(void)
{
    size_t nl;
    unsigned char *n = tk_bn_param(agw_test_pool, tk_rsa, OSSL_PKEY_PARAM_RSA_N, 0, &nl);

    return b64(n, nl);
}

static agw_jwks_t *jwks_ok(const char *doc)
{
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err);

    ck_assert_msg(rv == APR_SUCCESS, "JWKS refused: %s", err.reason);
    ck_assert_ptr_nonnull(jwks);
    ck_assert_ptr_nonnull(jwks->keys);
    ck_assert_ptr_nonnull(jwks->skipped);
    return jwks;
}

static void jwks_refused_len(const char *doc, apr_size_t len, const char *reason)
{
    agw_jwks_t *jwks = (agw_jwks_t *)"sentinel";
    agw_err_t err = { "sentinel", NULL, AGW_R_OTHER };

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, len, &err), APR_EINVAL);
    ck_assert_ptr_null(jwks);
    ck_assert_ptr_null(err.code); /* a key document is no token: no RFC 6750 code */
    ck_assert_int_eq(err.kind, AGW_R_NONE); /* nor a token refusal */
    ck_assert_str_eq(err.reason, reason);
}

static void jwks_refused(const char *doc, const char *reason)
{
    jwks_refused_len(doc, strlen(doc), reason);
}

static const char *skipped(const agw_jwks_t *jwks, int i)
{
    ck_assert_int_gt(jwks->skipped->nelts, i);
    return APR_ARRAY_IDX(jwks->skipped, i, const char *);
}

static const agw_jwk_t *key_at(const agw_jwks_t *jwks, int i)
{
    ck_assert_int_gt(jwks->keys->nelts, i);
    return APR_ARRAY_IDX(jwks->keys, i, const agw_jwk_t *);
}

/* ---- one JWK -------------------------------------------------------------------------------- */

START_TEST(rsa_jwk)
{
    agw_jwk_t *jwk = parse_ok(tk_jwk(agw_test_pool, tk_rsa, "k1", "RS256", "sig"));

    ck_assert_int_eq(jwk->kty, AGW_KTY_RSA);
    ck_assert_str_eq(jwk->kid, "k1");
    ck_assert_int_eq(jwk->alg, AGW_ALG_RS256);
    ck_assert_int_eq(jwk->bits, 2048);
    ck_assert_ptr_null(jwk->crv);
    ck_assert_ptr_null(jwk->x5t);
    ck_assert_ptr_nonnull(jwk->pkey);
    ck_assert_int_eq(agw_pkey_kty(jwk->pkey), AGW_KTY_RSA);
    ck_assert_ptr_null(jwk->secret);
    ck_assert_uint_eq(jwk->secret_len, 0);

    /* Without the optional members. */
    jwk = parse_ok(tk_jwk(agw_test_pool, tk_rsa, NULL, NULL, NULL));
    ck_assert_ptr_null(jwk->kid);
    ck_assert_int_eq(jwk->alg, AGW_ALG_NONE);
    /* Every RSA alg fits an RSA key. */
    ck_assert_int_eq(parse_ok(tk_jwk(agw_test_pool, tk_rsa, NULL, "PS512", NULL))->alg,
                     AGW_ALG_PS512);
    ck_assert_int_eq(parse_ok(tk_jwk(agw_test_pool, tk_rsa, NULL, "RS384", NULL))->alg,
                     AGW_ALG_RS384);
}
END_TEST

START_TEST(ec_jwk)
{
    agw_jwk_t *a = parse_ok(tk_jwk(agw_test_pool, tk_p256, "e1", "ES256", "sig"));
    agw_jwk_t *b = parse_ok(tk_jwk(agw_test_pool, tk_p384, NULL, "ES384", NULL));
    agw_jwk_t *c = parse_ok(tk_jwk(agw_test_pool, tk_p521, NULL, "ES512", NULL));

    ck_assert_int_eq(a->kty, AGW_KTY_EC);
    ck_assert_str_eq(a->crv, "P-256");
    ck_assert_int_eq(a->bits, 256);
    ck_assert_int_eq(a->alg, AGW_ALG_ES256);
    ck_assert_str_eq(b->crv, "P-384");
    ck_assert_int_eq(b->bits, 384);
    ck_assert_str_eq(c->crv, "P-521");
    ck_assert_int_eq(c->bits, 521);
    ck_assert_str_eq(agw_pkey_curve(c->pkey), "P-521");
    ck_assert_ptr_null(c->secret);
}
END_TEST

START_TEST(okp_jwk)
{
    agw_jwk_t *jwk = parse_ok(tk_jwk(agw_test_pool, tk_ed, "ed", "EdDSA", "sig"));

    ck_assert_int_eq(jwk->kty, AGW_KTY_OKP);
    ck_assert_str_eq(jwk->crv, "Ed25519");
    ck_assert_int_eq(jwk->bits, 256);
    ck_assert_int_eq(jwk->alg, AGW_ALG_EDDSA);
    ck_assert_int_eq(agw_pkey_kty(jwk->pkey), AGW_KTY_OKP);
}
END_TEST

START_TEST(oct_jwk)
{
    unsigned char k[48];
    agw_jwk_t *jwk;
    size_t i;

    for (i = 0; i < sizeof(k); i++)
        k[i] = (unsigned char)(i * 7);
    jwk = parse_ok(apr_psprintf(agw_test_pool, "{\"kty\":\"oct\",\"k\":\"%s\",\"alg\":\"HS384\"}",
                                b64(k, sizeof(k))));
    ck_assert_int_eq(jwk->kty, AGW_KTY_OCT);
    ck_assert_int_eq(jwk->alg, AGW_ALG_HS384);
    ck_assert_int_eq(jwk->bits, 384);
    ck_assert_uint_eq(jwk->secret_len, sizeof(k));
    ck_assert_int_eq(memcmp(jwk->secret, k, sizeof(k)), 0);
    ck_assert_ptr_null(jwk->pkey);
    ck_assert_ptr_null(jwk->crv);
}
END_TEST

/* Private members and unknown members are ignored, never required. */
START_TEST(extra_members_ignored)
{
    const char *rsa = tk_jwk(agw_test_pool, tk_rsa, "k", NULL, NULL);
    const char *ec = tk_jwk(agw_test_pool, tk_p256, "k", NULL, NULL);
    agw_jwk_t *jwk;

    jwk = parse_ok(with(with(with(rsa, "\"d\":\"AAAA\""), "\"p\":\"AQ\""),
                        "\"x5c\":[\"MIIB\"],\"x5t\":\"thumb\",\"crv\":\"P-256\",\"ext\":true"));
    ck_assert_str_eq(jwk->x5t, "thumb");
    ck_assert_ptr_null(jwk->crv); /* crv means nothing for RSA */
    parse_ok(with(ec, "\"d\":\"not even base64url!\""));
    parse_ok(with(rsa, "\"key_ops\":[\"verify\"]"));
    parse_ok(with(rsa, "\"key_ops\":[\"sign\",\"verify\"]"));
    parse_ok(with(rsa, "\"use\":\"sig\""));
    ck_assert_str_eq(parse_ok(with(tk_jwk(agw_test_pool, tk_p256, "", NULL, NULL), "\"zz\":{}"))->kid,
                     "");
}
END_TEST

START_TEST(common_member_refusals)
{
    const char *rsa = tk_jwk(agw_test_pool, tk_rsa, NULL, NULL, NULL);

    parse_refused("[]", "JWK is not an object");
    parse_refused("\"RSA\"", "JWK is not an object");
    parse_refused("{}", "kty missing");
    parse_refused("{\"kty\":1}", "kty is not a string");
    parse_refused("{\"kty\":null}", "kty is not a string");
    parse_refused("{\"kty\":\"rsa\"}", "kty not supported");
    parse_refused("{\"kty\":\"RSA-PSS\"}", "kty not supported");
    parse_refused("{\"kty\":\"\"}", "kty not supported");
    parse_refused(with(rsa, "\"kid\":7"), "kid is not a string");
    parse_refused(with(rsa, "\"kid\":null"), "kid is not a string");
    parse_refused(with(rsa, "\"x5t\":[]"), "x5t is not a string");
    parse_refused(with(rsa, "\"use\":\"enc\""), "use is not sig");
    parse_refused(with(rsa, "\"use\":\"SIG\""), "use is not sig");
    parse_refused(with(rsa, "\"use\":\"\""), "use is not sig");
    parse_refused(with(rsa, "\"use\":1"), "use is not a string");
    parse_refused(with(rsa, "\"key_ops\":[\"encrypt\"]"), "key_ops lacks verify");
    parse_refused(with(rsa, "\"key_ops\":[]"), "key_ops lacks verify");
    parse_refused(with(rsa, "\"key_ops\":[\"Verify\"]"), "key_ops lacks verify");
    parse_refused(with(rsa, "\"key_ops\":\"verify\""), "key_ops is not an array");
    parse_refused(with(rsa, "\"key_ops\":[\"verify\",1]"), "key_ops is not an array of strings");
    parse_refused(with(rsa, "\"alg\":7"), "alg is not a string");
}
END_TEST

START_TEST(alg_refusals)
{
    const char *rsa = tk_jwk(agw_test_pool, tk_rsa, NULL, NULL, NULL);
    const char *ec = tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL);
    const char *ed = tk_jwk(agw_test_pool, tk_ed, NULL, NULL, NULL);

    parse_refused(with(rsa, "\"alg\":\"none\""), "alg unknown");
    parse_refused(with(rsa, "\"alg\":\"None\""), "alg unknown");
    parse_refused(with(rsa, "\"alg\":\"NONE\""), "alg unknown");
    parse_refused(with(rsa, "\"alg\":\"rs256\""), "alg unknown");
    parse_refused(with(rsa, "\"alg\":\"RSA-OAEP\""), "alg unknown");
    parse_refused(with(rsa, "\"alg\":\"\""), "alg unknown");
    parse_refused(with(rsa, "\"alg\":\"HS256\""), "alg does not fit kty");
    parse_refused(with(rsa, "\"alg\":\"ES256\""), "alg does not fit kty");
    parse_refused(with(rsa, "\"alg\":\"EdDSA\""), "alg does not fit kty");
    parse_refused(with(ec, "\"alg\":\"RS256\""), "alg does not fit kty");
    parse_refused(with(ec, "\"alg\":\"EdDSA\""), "alg does not fit kty");
    parse_refused(with(ec, "\"alg\":\"HS256\""), "alg does not fit kty");
    parse_refused(with(ec, "\"alg\":\"ES384\""), "alg does not fit crv");
    parse_refused(with(ec, "\"alg\":\"ES512\""), "alg does not fit crv");
    parse_refused(with(ed, "\"alg\":\"ES256\""), "alg does not fit kty");
    parse_refused(with(ed, "\"alg\":\"HS512\""), "alg does not fit kty");
    parse_refused("{\"kty\":\"oct\",\"k\":\"AAAA\",\"alg\":\"RS256\"}", "alg does not fit kty");
    /* ES256 on an EC JWK without crv: the alg cannot fit. */
    parse_refused("{\"kty\":\"EC\",\"alg\":\"ES256\",\"x\":\"AA\",\"y\":\"AA\"}",
                  "alg does not fit crv");
}
END_TEST

START_TEST(rsa_parameter_refusals)
{
    const char *n = rsa_n();
    size_t sl;
    unsigned char *small = tk_bn_param(agw_test_pool, tk_rsa1024, OSSL_PKEY_PARAM_RSA_N, 0, &sl);

    parse_refused("{\"kty\":\"RSA\",\"e\":\"AQAB\"}", "RSA n missing or not base64url");
    parse_refused("{\"kty\":\"RSA\",\"n\":7,\"e\":\"AQAB\"}", "RSA n missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s=\",\"e\":\"AQAB\"}", n),
                  "RSA n missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\" %s\",\"e\":\"AQAB\"}", n),
                  "RSA n missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s\"}", n),
                  "RSA e missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB=\"}",
                               n), "RSA e missing or not base64url");
    /* "AQAB" is 65537; "AQAC" is 65538 (even); "AQ" is 1; "" is nothing. */
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAC\"}",
                               n), "RSA exponent invalid");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ\"}", n),
                  "RSA exponent invalid");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"\"}", n),
                  "RSA exponent invalid");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}",
                               b64(small, sl)), "RSA key under 2048 bits");
    parse_refused(tk_jwk(agw_test_pool, tk_rsa1024, "small", "RS256", "sig"),
                  "RSA key under 2048 bits");
    parse_refused("{\"kty\":\"RSA\",\"n\":\"\",\"e\":\"AQAB\"}", "RSA modulus invalid");
}
END_TEST

START_TEST(ec_parameter_refusals)
{
    size_t xl, yl;
    unsigned char *x = tk_bn_param(agw_test_pool, tk_p256, OSSL_PKEY_PARAM_EC_PUB_X, 32, &xl);
    unsigned char *y = tk_bn_param(agw_test_pool, tk_p256, OSSL_PKEY_PARAM_EC_PUB_Y, 32, &yl);
    const char *bx = b64(x, 32), *by = b64(y, 32), *bx31 = b64(x + 1, 31);

    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", bx,
                               by), "EC crv missing");
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":256,\"x\":\"%s\",\"y\":\"%s\"}", bx, by),
                  "crv is not a string");
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"%s\",\"y\":\"%s\"}",
                               bx, by), "EC curve not supported");
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"%s\",\"y\":\"%s\"}",
                               bx, by), "EC curve not supported");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"y\":\"%s\"}",
                               by), "EC x missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}",
                               bx), "EC y missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s+\"}",
                               bx, by), "EC y missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                               bx31, by), "EC coordinate length invalid");
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}",
                               bx, by), "EC coordinate length invalid");
    y[31] ^= 0x01;
    parse_refused(apr_psprintf(agw_test_pool,
                               "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
                               bx, b64(y, 32)), "EC point not on curve");
}
END_TEST

START_TEST(okp_and_oct_refusals)
{
    static const unsigned char zeros[33];

    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"OKP\",\"x\":\"%s\"}", b64(zeros, 32)),
                  "OKP crv missing");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"}",
                               b64(zeros, 32)), "OKP curve not supported");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"%s\"}",
                               b64(zeros, 32)), "OKP curve not supported");
    parse_refused("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}", "OKP x missing or not base64url");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
                               b64(zeros, 31)), "Ed25519 key length invalid");
    parse_refused(apr_psprintf(agw_test_pool, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
                               b64(zeros, 33)), "Ed25519 key length invalid");
    parse_refused("{\"kty\":\"oct\"}", "oct k missing or not base64url");
    parse_refused("{\"kty\":\"oct\",\"k\":\"AA==\"}", "oct k missing or not base64url");
    parse_refused("{\"kty\":\"oct\",\"k\":\"\"}", "oct k is empty");
}
END_TEST

/* ---- JWK Sets ------------------------------------------------------------------------------- */

START_TEST(jwks_keys_in_order)
{
    const char *doc = apr_psprintf(agw_test_pool, "{\"keys\":[%s,%s,%s,%s],\"extra\":1}",
                                   tk_jwk(agw_test_pool, tk_rsa, "r", "RS256", "sig"),
                                   tk_jwk(agw_test_pool, tk_p256, "e", NULL, NULL),
                                   tk_jwk(agw_test_pool, tk_ed, "d", NULL, "sig"),
                                   tk_jwk(agw_test_pool, tk_rsa, "r", "PS256", NULL));
    agw_jwks_t *jwks = jwks_ok(doc);

    ck_assert_int_eq(jwks->keys->nelts, 4);
    ck_assert_int_eq(jwks->skipped->nelts, 0);
    ck_assert_str_eq(key_at(jwks, 0)->kid, "r");
    ck_assert_int_eq(key_at(jwks, 0)->kty, AGW_KTY_RSA);
    ck_assert_str_eq(key_at(jwks, 1)->kid, "e");
    ck_assert_int_eq(key_at(jwks, 1)->kty, AGW_KTY_EC);
    ck_assert_int_eq(key_at(jwks, 2)->kty, AGW_KTY_OKP);
    /* A repeated kid is kept: the alg tells the keys apart at verify time. */
    ck_assert_str_eq(key_at(jwks, 3)->kid, "r");
    ck_assert_int_eq(key_at(jwks, 3)->alg, AGW_ALG_PS256);
}
END_TEST

START_TEST(jwks_skip_lines)
{
    const char *doc = apr_psprintf(
        agw_test_pool, "{\"keys\":[%s,5,%s,%s,%s,%s,%s]}",
        tk_jwk(agw_test_pool, tk_rsa, "enc1", NULL, "enc"),
        "{\"kty\":\"oct\",\"kid\":\"hs\",\"k\":\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI\"}",
        tk_jwk(agw_test_pool, tk_p384, "good", "ES384", "sig"),
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kid\":\"a\\\"b\\nc\\u00e9\"}",
        "{\"kty\":\"RSA\",\"kid\":7}");
    agw_jwks_t *jwks = jwks_ok(doc);

    ck_assert_int_eq(jwks->keys->nelts, 1);
    ck_assert_str_eq(key_at(jwks, 0)->kid, "good");
    ck_assert_int_eq(jwks->skipped->nelts, 6);
    ck_assert_str_eq(skipped(jwks, 0), "key #1 (kid enc1): use is not sig");
    ck_assert_str_eq(skipped(jwks, 1), "key #2: JWK is not an object");
    /* Published keys are public: a shared secret among them is refused. */
    ck_assert_str_eq(skipped(jwks, 2), "key #3 (kid hs): symmetric key in a key set");
    ck_assert_str_eq(skipped(jwks, 3), "key #5: EC coordinate length invalid");
    /* The kid is quoted for a log line: no quotes, no control or non-ASCII bytes. */
    ck_assert_str_eq(skipped(jwks, 4), "key #6 (kid a?b?c?" "?): kty missing");
    ck_assert_str_eq(skipped(jwks, 5), "key #7: kid is not a string");
}
END_TEST

START_TEST(jwks_long_kid_truncated)
{
    char kid[201];
    const char *line;

    memset(kid, 'k', 200);
    kid[200] = '\0';
    line = skipped(jwks_ok(apr_psprintf(agw_test_pool, "{\"keys\":[{\"kid\":\"%s\"}]}", kid)),
                   0);
    ck_assert_str_eq(line, apr_psprintf(agw_test_pool, "key #1 (kid %.64s): kty missing", kid));
}
END_TEST

START_TEST(jwks_empty_is_success)
{
    agw_jwks_t *jwks = jwks_ok("{\"keys\":[]}");

    ck_assert_int_eq(jwks->keys->nelts, 0);
    ck_assert_int_eq(jwks->skipped->nelts, 0);
    jwks = jwks_ok("{\"keys\":[{\"kty\":\"foo\"}]}");
    ck_assert_int_eq(jwks->keys->nelts, 0);
    ck_assert_str_eq(skipped(jwks, 0), "key #1: kty not supported");
}
END_TEST

START_TEST(jwks_too_many_keys)
{
    const char *ec = tk_jwk(agw_test_pool, tk_p256, NULL, NULL, NULL);
    apr_array_header_t *parts = apr_array_make(agw_test_pool, 70, sizeof(char *));
    agw_jwks_t *jwks;
    int i;

    for (i = 0; i < 70; i++)
        APR_ARRAY_PUSH(parts, char *) = with(ec, apr_psprintf(agw_test_pool, "\"kid\":\"k%d\"", i));
    jwks = jwks_ok(apr_pstrcat(agw_test_pool, "{\"keys\":[", apr_array_pstrcat(agw_test_pool, parts, ','),
                               "]}", NULL));
    ck_assert_int_eq(jwks->keys->nelts, AGW_JWKS_MAX_KEYS);
    ck_assert_str_eq(key_at(jwks, 63)->kid, "k63");
    ck_assert_int_eq(jwks->skipped->nelts, 1);
    ck_assert_str_eq(skipped(jwks, 0), "keys #65 to #70: more than 64 keys");
}
END_TEST

START_TEST(jwks_document_refusals)
{
    char *big = apr_palloc(agw_test_pool, AGW_JWKS_MAX_BYTES + 2);
    char *deep = apr_palloc(agw_test_pool, 64);

    /* Exactly the limit is fine (whitespace padding); one byte more is not. */
    memset(big, ' ', AGW_JWKS_MAX_BYTES + 1);
    memcpy(big, "{\"keys\":[]}", 11);
    big[AGW_JWKS_MAX_BYTES + 1] = '\0';
    {
        agw_jwks_t *jwks;
        agw_err_t err = { NULL, NULL, AGW_R_NONE };
        ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, big, AGW_JWKS_MAX_BYTES, &err),
                         APR_SUCCESS);
    }
    jwks_refused_len(big, AGW_JWKS_MAX_BYTES + 1, "JWKS too large");

    jwks_refused("[]", "JWKS is not a JSON object");
    jwks_refused("\"keys\"", "JWKS is not a JSON object");
    jwks_refused("{}", "JWKS has no keys array");
    jwks_refused("{\"keys\":{}}", "JWKS has no keys array");
    jwks_refused("{\"keys\":null}", "JWKS has no keys array");
    jwks_refused("{\"Keys\":[]}", "JWKS has no keys array");
    jwks_refused("{\"keys\":[],\"keys\":[]}", "JSON: duplicate member name");
    jwks_refused("{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"EC\"}]}", "JSON: duplicate member name");
    jwks_refused("{\"keys\":[]} []", "JSON: trailing data");
    jwks_refused("", "JSON: empty");
    strcpy(deep, "{\"keys\":[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}");
    jwks_refused(deep, "JSON: nesting too deep");
}
END_TEST

START_TEST(jwks_from_secret)
{
    unsigned char secret[40];
    agw_jwks_t *jwks;
    const agw_jwk_t *k;

    memset(secret, 'S', sizeof(secret));
    jwks = agw_jwks_from_secret(agw_test_pool, secret, sizeof(secret));
    memset(secret, 'X', sizeof(secret)); /* the set holds its own copy */
    ck_assert_int_eq(jwks->keys->nelts, 1);
    ck_assert_int_eq(jwks->skipped->nelts, 0);
    k = key_at(jwks, 0);
    ck_assert_int_eq(k->kty, AGW_KTY_OCT);
    ck_assert_ptr_null(k->kid);
    ck_assert_ptr_null(k->x5t);
    ck_assert_ptr_null(k->pkey);
    ck_assert_int_eq(k->alg, AGW_ALG_NONE);
    ck_assert_int_eq(k->bits, 320);
    ck_assert_uint_eq(k->secret_len, 40);
    ck_assert_int_eq(k->secret[0], 'S');
    ck_assert_int_eq(k->secret[39], 'S');
}
END_TEST

Suite *agw_suite_jwk(void)
{
    Suite *s = suite_create("jwk");
    TCase *tc = tcase_create("jwk");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tk_keys_setup, tk_keys_teardown);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, rsa_jwk);
    tcase_add_test(tc, ec_jwk);
    tcase_add_test(tc, okp_jwk);
    tcase_add_test(tc, oct_jwk);
    tcase_add_test(tc, extra_members_ignored);
    tcase_add_test(tc, common_member_refusals);
    tcase_add_test(tc, alg_refusals);
    tcase_add_test(tc, rsa_parameter_refusals);
    tcase_add_test(tc, ec_parameter_refusals);
    tcase_add_test(tc, okp_and_oct_refusals);
    tcase_add_test(tc, jwks_keys_in_order);
    tcase_add_test(tc, jwks_skip_lines);
    tcase_add_test(tc, jwks_long_kid_truncated);
    tcase_add_test(tc, jwks_empty_is_success);
    tcase_add_test(tc, jwks_too_many_keys);
    tcase_add_test(tc, jwks_document_refusals);
    tcase_add_test(tc, jwks_from_secret);
    suite_add_tcase(s, tc);
    return s;
}
