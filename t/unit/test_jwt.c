/* Unit tests of registered-claim checks: exact reasons, leeway boundaries, hostile shapes. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "agw_json.h"
#include "agw_jwt.h"

#define NOW    APR_INT64_C(1700000000)
#define LEEWAY APR_INT64_C(30)
#define ISS    "https://tenant.eu.auth0.com/"
#define AUD    "https://api.example.com"

static json_t *claims(const char *text)
{
    json_t *j = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text), AGW_JSON_MAX_DEPTH,
                                    &err), APR_SUCCESS);
    return j;
}

/* Claims with exp/nbf/iat as JSON texts (NULL: absent) plus iss and aud. */
static json_t *timed(const char *exp, const char *nbf, const char *iat)
{
    const char *t = apr_psprintf(agw_test_pool, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"%s%s%s%s%s%s}",
                                 exp ? ",\"exp\":" : "", exp ? exp : "",
                                 nbf ? ",\"nbf\":" : "", nbf ? nbf : "",
                                 iat ? ",\"iat\":" : "", iat ? iat : "");
    return claims(t);
}

static const char *num(apr_int64_t v)
{
    return apr_psprintf(agw_test_pool, "%" APR_INT64_T_FMT, v);
}

static apr_array_header_t *auds(const char *a, const char *b)
{
    apr_array_header_t *arr = apr_array_make(agw_test_pool, 2, sizeof(const char *));

    if (a)
        APR_ARRAY_PUSH(arr, const char *) = a;
    if (b)
        APR_ARRAY_PUSH(arr, const char *) = b;
    return arr;
}

/* Where claims can be briefed, the brief's check says exactly what the claims' check says. */
static void same_on_brief(const json_t *c, const char *iss, const apr_array_header_t *aud,
                          apr_int64_t now, apr_int64_t leeway)
{
    agw_err_t e1 = { 0 }, e2 = { 0 };
    agw_jwt_brief_t b;
    apr_status_t r1, r2;

    if (!agw_jwt_brief_make(&b, c, agw_test_pool))
        return;
    r1 = agw_jwt_check_claims(c, iss, aud, now, leeway, &e1);
    r2 = agw_jwt_check_brief(&b, iss, aud, now, leeway, &e2);
    ck_assert_int_eq(r1, r2);
    ck_assert_msg((!e1.reason && !e2.reason) || (e1.reason && e2.reason
                                                 && !strcmp(e1.reason, e2.reason)),
                  "claims: %s, brief: %s", e1.reason ? e1.reason : "-",
                  e2.reason ? e2.reason : "-");
    ck_assert_int_eq(e1.kind, e2.kind);
}

/* Runs the check with the standard issuer/audience and asserts the outcome. */
static void expect_with(const json_t *c, const char *iss, const apr_array_header_t *aud,
                        apr_int64_t leeway, const char *reason)
{
    agw_err_t err = { 0 };
    apr_status_t rv = agw_jwt_check_claims(c, iss, aud, NOW, leeway, &err);

    same_on_brief(c, iss, aud, NOW, leeway);
    if (!reason) {
        ck_assert_msg(rv == APR_SUCCESS, "expected success, got '%s'",
                      err.reason ? err.reason : "(null)");
        return;
    }
    ck_assert_int_eq(rv, APR_EINVAL);
    ck_assert_ptr_nonnull(err.reason);
    ck_assert_str_eq(err.reason, reason);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
}

static void expect(const json_t *c, const char *reason)
{
    expect_with(c, ISS, auds(AUD, NULL), LEEWAY, reason);
}

START_TEST(valid_token)
{
    expect(timed(num(NOW + 3600), num(NOW - 10), num(NOW - 10)), NULL);
    expect(timed(num(NOW + 3600), NULL, NULL), NULL);
}
END_TEST

START_TEST(exp_required_and_numeric)
{
    expect(timed(NULL, NULL, NULL), "exp missing");
    expect(timed("\"1800000000\"", NULL, NULL), "exp not a number");
    expect(timed("null", NULL, NULL), "exp not a number");
    expect(timed("true", NULL, NULL), "exp not a number");
    expect(timed("{}", NULL, NULL), "exp not a number");
    expect(timed("[1800000000]", NULL, NULL), "exp not a number");
    /* A real NumericDate is legal (RFC 7519 section 2). */
    expect(timed("1800000000.5", NULL, NULL), NULL);
}
END_TEST

START_TEST(exp_leeway_boundaries)
{
    /* Valid while now < exp + leeway. */
    expect(timed(num(NOW - LEEWAY), NULL, NULL), "token expired");
    expect(timed(num(NOW - LEEWAY - 1), NULL, NULL), "token expired");
    expect(timed(num(NOW - LEEWAY + 1), NULL, NULL), NULL);
    expect(timed(num(NOW), NULL, NULL), NULL);
    expect_with(timed(num(NOW), NULL, NULL), ISS, auds(AUD, NULL), 0, "token expired");
    expect_with(timed(num(NOW + 1), NULL, NULL), ISS, auds(AUD, NULL), 0, NULL);
    /* Reals around the boundary. */
    expect(timed(apr_psprintf(agw_test_pool, "%" APR_INT64_T_FMT ".0", NOW - LEEWAY), NULL, NULL),
           "token expired");
    expect(timed(apr_psprintf(agw_test_pool, "%" APR_INT64_T_FMT ".5", NOW - LEEWAY), NULL, NULL),
           NULL);
    /* A negative leeway counts as none, not as a stricter clock. */
    expect_with(timed(num(NOW + 1), NULL, NULL), ISS, auds(AUD, NULL), -100, NULL);
}
END_TEST

START_TEST(exp_extremes)
{
    expect(timed("9223372036854775807", NULL, NULL), "exp invalid");
    expect(timed("-9223372036854775808", NULL, NULL), "exp invalid");
    expect(timed("0", NULL, NULL), "token expired");
    expect(timed("1e308", NULL, NULL), "exp invalid");
    expect(timed("-1e308", NULL, NULL), "exp invalid");
    /* A huge leeway must not wrap now - leeway around into refusing (or accepting) anything:
     * it is clamped to 2^31 - 1 seconds, which reaches back before 1970. */
    expect_with(timed("0", NULL, NULL), ISS, auds(AUD, NULL),
                APR_INT64_C(0x7fffffffffffffff), NULL);
    expect_with(timed(num(NOW + 60), "9007199254740992", NULL), ISS, auds(AUD, NULL),
                APR_INT64_C(0x7fffffffffffffff), "token not yet valid");
}
END_TEST

/* Times outside 0..2^53 are malformed claims: no double reaches an int64 cast out of range
 * (run under UBSan by make unit-asan), and none is read as "valid forever". */
START_TEST(time_range)
{
    static const char *const bad[] = {
        "1e300", "-1e300", "9.3e18", "-9.3e18", "9223372036854775807", "-9223372036854775808",
        "9223372036854775807.0", "99999999999999999999.0", "1.8446744073709552e19",
        "9007199254740993", "9007199254740994.0", "-1", "-0.5", NULL
    };
    const char *exp = num(NOW + 3600);
    apr_int64_t t = 42;
    json_t *j = NULL;
    agw_err_t err = { 0 };
    int i;

    for (i = 0; bad[i]; i++) {
        ck_assert_int_eq(agw_jwt_time(&t, json_object_get(timed(bad[i], NULL, NULL), "exp")),
                         APR_EINVAL);
        ck_assert_int_eq(t, 42);
        expect(timed(bad[i], NULL, NULL), "exp invalid");
        expect(timed(exp, bad[i], NULL), "nbf invalid");
        expect(timed(exp, NULL, bad[i]), "iat invalid");
    }
    /* The edge itself is a time (far in the future); -0 is 0. */
    expect(timed("9007199254740992", NULL, NULL), NULL);
    expect(timed("9007199254740992.0", NULL, NULL), NULL);
    expect(timed(exp, "-0.0", NULL), NULL);
    ck_assert_int_eq(agw_jwt_time(&t, json_object_get(timed("9007199254740992", NULL, NULL),
                                                      "exp")), APR_SUCCESS);
    ck_assert_int_eq(t, APR_INT64_C(9007199254740992));
    ck_assert_int_eq(agw_jwt_time(&t, json_object_get(timed("1700000000.9", NULL, NULL),
                                                      "exp")), APR_SUCCESS);
    ck_assert_int_eq(t, APR_INT64_C(1700000000));
    ck_assert_int_eq(agw_jwt_time(&t, NULL), APR_EINVAL);
    /* Integers beyond int64 never become claims: the parser refuses them. */
    for (i = 0; i < 2; i++) {
        const char *text = i ? "{\"exp\":-99999999999999999999}" : "{\"exp\":99999999999999999999}";

        ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text),
                                        AGW_JSON_MAX_DEPTH, &err), APR_EINVAL);
        ck_assert_str_eq(err.reason, "JSON: number out of range");
    }
}
END_TEST

static apr_array_header_t *types(const char *a, const char *b)
{
    return auds(a, b);
}

static void typ_is(const char *typ, const apr_array_header_t *accepted, int ok)
{
    agw_err_t err = { 0 };
    apr_status_t rv = agw_jwt_check_typ(typ, accepted, &err);

    if (ok) {
        ck_assert_msg(rv == APR_SUCCESS, "typ '%s' refused", typ ? typ : "(absent)");
        return;
    }
    ck_assert_msg(rv == APR_EINVAL, "typ '%s' accepted", typ ? typ : "(absent)");
    ck_assert_str_eq(err.reason, "typ not accepted");
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_int_eq(err.kind, AGW_R_TYPE);
}

START_TEST(typ_default_rule)
{
    static const char *const ok[] = {
        "JWT", "jwt", "application/JWT", "APPLICATION/jwt", "at+jwt", "AT+JWT",
        "application/at+JWT", "JOSE", "jose", "application/jose", NULL
    };
    static const char *const refused[] = {
        "dpop+jwt", "logout+jwt", "secevent+jwt", "id_token+jwt", "JOSE+JSON", "jwt+json",
        "application/dpop+jwt", "token-introspection+jwt", "", "application/", "JWT ",
        " JWT", "at+jw", "at+jwtx", "xJWT", "text/JWT", "application/application/JWT", NULL
    };
    int i;

    typ_is(NULL, NULL, 1);
    for (i = 0; ok[i]; i++) {
        typ_is(ok[i], NULL, 1);
        typ_is(ok[i], types(NULL, NULL), 1);        /* an empty list is no list */
    }
    for (i = 0; refused[i]; i++)
        typ_is(refused[i], NULL, 0);
    ck_assert_int_eq(agw_jwt_check_typ("dpop+jwt", NULL, NULL), APR_EINVAL);
}
END_TEST

START_TEST(typ_configured)
{
    const apr_array_header_t *at = types("at+jwt", NULL);

    typ_is("at+jwt", at, 1);
    typ_is("application/at+JWT", at, 1);
    typ_is("AT+JWT", at, 1);
    typ_is(NULL, at, 0);                /* required: absent is refused */
    typ_is("JWT", at, 0);
    typ_is("JOSE", at, 0);
    typ_is("id_token+jwt", at, 0);
    typ_is("at+jwt2", at, 0);
    /* the prefix is optional on the configured side too */
    typ_is("at+jwt", types("application/AT+jwt", NULL), 1);
    typ_is("application/at+jwt", types("application/at+jwt", NULL), 1);
    /* a list: any one; an administrator may accept a type the default refuses */
    typ_is("JWT", types("at+jwt", "JWT"), 1);
    typ_is("dpop+jwt", types("at+jwt", "dpop+jwt"), 1);
    typ_is("secevent+jwt", types("at+jwt", "JWT"), 0);
}
END_TEST

START_TEST(typ_names)
{
    ck_assert_int_eq(agw_jwt_typ_name_ok("at+jwt"), 1);
    ck_assert_int_eq(agw_jwt_typ_name_ok("application/at+jwt"), 1);
    ck_assert_int_eq(agw_jwt_typ_name_ok("JWT"), 1);
    ck_assert_int_eq(agw_jwt_typ_name_ok("vnd.x-y_z!#$&^"), 1);
    ck_assert_int_eq(agw_jwt_typ_name_ok(""), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok("application/"), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok("at jwt"), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok("text/plain"), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok("at+jwt;q=1"), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok("\"at+jwt\""), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok(NULL), 0);
    ck_assert_int_eq(agw_jwt_typ_name_ok(apr_pstrcat(agw_test_pool,
        "a123456789012345678901234567890123456789012345678901234567890123",
        "456789012345678901234567890123456789012345678901234567890123456", NULL)), 1);
    ck_assert_int_eq(agw_jwt_typ_name_ok(apr_pstrcat(agw_test_pool,
        "a123456789012345678901234567890123456789012345678901234567890123",
        "4567890123456789012345678901234567890123456789012345678901234567", NULL)), 0);
}
END_TEST

START_TEST(nbf_boundaries)
{
    const char *exp = num(NOW + 3600);

    expect(timed(exp, num(NOW + LEEWAY), NULL), NULL);
    expect(timed(exp, num(NOW + LEEWAY + 1), NULL), "token not yet valid");
    expect(timed(exp, num(NOW), NULL), NULL);
    expect(timed(exp, "0", NULL), NULL);
    expect(timed(exp, "9007199254740992", NULL), "token not yet valid");
    expect(timed(exp, "9223372036854775807", NULL), "nbf invalid");
    expect(timed(exp, apr_psprintf(agw_test_pool, "%" APR_INT64_T_FMT ".5", NOW + LEEWAY), NULL),
           "token not yet valid");
    expect_with(timed(exp, num(NOW + 1), NULL), ISS, auds(AUD, NULL), 0, "token not yet valid");
    expect_with(timed(exp, num(NOW), NULL), ISS, auds(AUD, NULL), 0, NULL);
    expect(timed(exp, "\"0\"", NULL), "nbf not a number");
    expect(timed(exp, "null", NULL), "nbf not a number");
}
END_TEST

START_TEST(iat_boundaries)
{
    const char *exp = num(NOW + 3600);

    expect(timed(exp, NULL, num(NOW + LEEWAY)), NULL);
    expect(timed(exp, NULL, num(NOW + LEEWAY + 1)), "iat in the future");
    expect(timed(exp, NULL, "0"), NULL);
    expect_with(timed(exp, NULL, num(NOW + 1)), ISS, auds(AUD, NULL), 0, "iat in the future");
    expect(timed(exp, NULL, "\"now\""), "iat not a number");
    expect(timed(exp, NULL, "false"), "iat not a number");
}
END_TEST

START_TEST(issuer_exact)
{
    const char *exp = num(NOW + 60);
    const char *t;

    t = apr_psprintf(agw_test_pool, "{\"exp\":%s,\"aud\":\"" AUD "\",\"iss\":\"%s\"}", exp,
                     "https://tenant.eu.auth0.com");
    expect(claims(t), "issuer mismatch");       /* trailing slash matters */
    t = apr_psprintf(agw_test_pool, "{\"exp\":%s,\"aud\":\"" AUD "\",\"iss\":\"%s\"}", exp,
                     "https://TENANT.eu.auth0.com/");
    expect(claims(t), "issuer mismatch");
    t = apr_psprintf(agw_test_pool, "{\"exp\":%s,\"aud\":\"" AUD "\",\"iss\":\"%s\"}", exp,
                     ISS "x");
    expect(claims(t), "issuer mismatch");
    t = apr_psprintf(agw_test_pool, "{\"exp\":%s,\"aud\":\"" AUD "\"}", exp);
    expect(claims(t), "issuer mismatch");
    t = apr_psprintf(agw_test_pool, "{\"exp\":%s,\"aud\":\"" AUD "\",\"iss\":[\"" ISS "\"]}", exp);
    expect(claims(t), "issuer mismatch");
    t = apr_psprintf(agw_test_pool, "{\"exp\":%s,\"aud\":\"" AUD "\",\"iss\":null}", exp);
    expect(claims(t), "issuer mismatch");
    /* No configured issuer: not checked. */
    expect_with(claims(t), NULL, auds(AUD, NULL), LEEWAY, NULL);
}
END_TEST

static json_t *with_aud(const char *aud_json)
{
    const char *t = apr_psprintf(agw_test_pool, "{\"iss\":\"" ISS "\",\"exp\":%s%s%s}",
                                 num(NOW + 60), aud_json ? ",\"aud\":" : "",
                                 aud_json ? aud_json : "");
    return claims(t);
}

START_TEST(audience_forms)
{
    expect(with_aud("\"" AUD "\""), NULL);
    expect(with_aud("[\"https://other\",\"" AUD "\"]"), NULL);
    expect(with_aud("[\"" AUD "\"]"), NULL);
    expect(with_aud("\"https://api.example.co\""), "audience mismatch");
    expect(with_aud("\"" AUD "/\""), "audience mismatch");
    expect(with_aud("[\"https://other\"]"), "audience mismatch");
    expect(with_aud("[]"), "audience mismatch");
    expect(with_aud(NULL), "audience mismatch");
    expect(with_aud("null"), "audience mismatch");
    expect(with_aud("42"), "audience mismatch");
    expect(with_aud("{\"aud\":\"" AUD "\"}"), "audience mismatch");
    /* An array of strings only: a stray element makes the claim malformed. */
    expect(with_aud("[\"" AUD "\",1]"), "audience mismatch");
    expect(with_aud("[[\"" AUD "\"]]"), "audience mismatch");
    /* Any configured audience will do. */
    expect_with(with_aud("\"https://second\""), ISS, auds(AUD, "https://second"), LEEWAY, NULL);
    expect_with(with_aud("[\"x\",\"https://second\"]"), ISS, auds(AUD, "https://second"),
                LEEWAY, NULL);
    /* No audience configured (NULL or empty): not checked. */
    expect_with(with_aud(NULL), ISS, NULL, LEEWAY, NULL);
    expect_with(with_aud("7"), ISS, auds(NULL, NULL), LEEWAY, NULL);
}
END_TEST

START_TEST(order_and_shape)
{
    const char *t;

    /* Malformed before mismatched, mismatched before expired. */
    t = "{\"iss\":\"evil\",\"aud\":\"evil\"}";
    expect(claims(t), "exp missing");
    t = "{\"iss\":\"evil\",\"aud\":\"evil\",\"exp\":1}";
    expect(claims(t), "issuer mismatch");
    t = "{\"iss\":\"" ISS "\",\"aud\":\"evil\",\"exp\":1}";
    expect(claims(t), "audience mismatch");
    t = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1,\"nbf\":\"x\"}";
    expect(claims(t), "nbf not a number");
    expect(claims("[1,2]"), "claims not an object");
    expect(claims("\"exp\""), "claims not an object");
    expect(NULL, "claims not an object");
}
END_TEST

START_TEST(err_may_be_null)
{
    ck_assert_int_eq(agw_jwt_check_claims(timed(NULL, NULL, NULL), ISS, NULL, NOW, 0, NULL),
                     APR_EINVAL);
    ck_assert_int_eq(agw_jwt_check_claims(timed(num(NOW + 5), NULL, NULL), ISS, NULL, NOW, 0,
                                          NULL), APR_SUCCESS);
}
END_TEST

/* Which claims are briefed: the shapes the check can read without the claims object. */
START_TEST(brief_shapes)
{
    static const struct { const char *claims; int briefed; } cases[] = {
        { "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000100}", 1 },
        { "{\"exp\":1700000100}", 1 },
        { "{\"exp\":1700000100.5}", 0 },                            /* a real */
        { "{\"exp\":1700000100,\"nbf\":1.0}", 0 },
        { "{\"exp\":\"1700000100\"}", 0 },
        { "{\"exp\":-1}", 0 },
        { "{\"exp\":9007199254740993}", 0 },                       /* beyond 2^53 */
        { "{\"iss\":\"x\"}", 0 },                                 /* no exp */
        { "{\"exp\":1700000100,\"iss\":7}", 0 },
        { "{\"exp\":1700000100,\"cnf\":{\"jkt\":\"x\"}}", 0 },     /* a sender constraint */
        { "{\"exp\":1700000100,\"cnf\":null}", 0 },
        { "{\"exp\":1700000100,\"aud\":[\"a\",\"b\",\"c\",\"d\"]}", 1 },
        { "{\"exp\":1700000100,\"aud\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 0 },
        { "{\"exp\":1700000100,\"aud\":[\"a\",1]}", 1 },            /* malformed: never matches */
        { "{\"exp\":1700000100,\"aud\":{}}", 1 },
        { "{\"exp\":1700000100,\"sub\":{\"a\":1},\"azp\":\"c\"}", 1 },
        { "[1]", 0 },
    };
    agw_jwt_brief_t b;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(agw_jwt_brief_make(&b, claims(cases[i].claims), agw_test_pool)
                      == cases[i].briefed, "case %zu: %s", i, cases[i].claims);
    /* text beyond the brief's room: not briefed */
    ck_assert(!agw_jwt_brief_make(&b, claims(apr_psprintf(agw_test_pool,
              "{\"exp\":1700000100,\"iss\":\"%0300d\"}", 1)), agw_test_pool));
    ck_assert(!agw_jwt_brief_make(&b, claims(apr_psprintf(agw_test_pool,
              "{\"exp\":1700000100,\"iss\":\"a\",\"sub\":\"%0200d\",\"aud\":\"%0100d\"}",
              1, 2)), agw_test_pool));
}
END_TEST

/* The brief decides as the claims do over a matrix of issuers, audiences, times and hostile
 * values (an embedded NUL, a prefix, another case, a malformed audience array). */
START_TEST(brief_agrees_with_claims)
{
    static const char *const bodies[] = {
        "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"",
        "\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"]",
        "\"iss\":\"" ISS "x\",\"aud\":\"" AUD "\"",
        "\"iss\":\"https://tenant.eu.auth0.com\",\"aud\":\"" AUD "\"",
        "\"iss\":\"HTTPS://tenant.eu.auth0.com/\",\"aud\":\"" AUD "\"",
        "\"iss\":\"" ISS "\",\"aud\":\"" AUD "/\"",
        "\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\",2]",
        "\"iss\":\"" ISS "\",\"aud\":[]",
        "\"iss\":\"" ISS "\"",
        "\"aud\":\"" AUD "\"",
    };
    static const char *const times[] = {
        "\"exp\":1700000100", "\"exp\":1699999971", "\"exp\":1699999970",
        "\"exp\":1700000100,\"nbf\":1700000030", "\"exp\":1700000100,\"nbf\":1700000031",
        "\"exp\":1700000100,\"iat\":1700000031", "\"exp\":0", "\"exp\":9007199254740992",
    };
    const char *issuers[] = { ISS, NULL, "https://other/" };
    const apr_array_header_t *audiences[] = { auds(AUD, NULL), auds("x", AUD), auds("x", NULL),
                                              NULL, auds(NULL, NULL) };
    agw_jwt_brief_t b;
    size_t i, j, k, l;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        for (j = 0; j < sizeof(times) / sizeof(times[0]); j++) {
            json_t *c = claims(apr_psprintf(agw_test_pool, "{%s,%s}", bodies[i], times[j]));
            ck_assert(agw_jwt_brief_make(&b, c, agw_test_pool));
            for (k = 0; k < 3; k++)
                for (l = 0; l < 5; l++)
                    same_on_brief(c, issuers[k], audiences[l], NOW, LEEWAY);
        }
}
END_TEST

/* REMOTE_USER's rule, and the brief's user is what the rule gives. */
START_TEST(user_rule)
{
    static const struct { const char *claims; const char *user; } cases[] = {
        { "{\"sub\":\"u1\",\"azp\":\"a\"}", "u1" },
        { "{\"sub\":\"\",\"azp\":\"a\"}", "" },                /* a string, even empty */
        { "{\"sub\":null,\"azp\":\"a\"}", "a" },
        { "{\"sub\":[1],\"azp\":7,\"client_id\":\"c\"}", "c" },
        { "{\"sub\":12,\"client_id\":\"c\"}", "12" },        /* numbers are users too */
        { "{\"sub\":true}", "true" },
        { "{\"azp\":{},\"client_id\":{}}", NULL },
        { "{}", NULL },
    };
    agw_jwt_brief_t b;
    const char *u;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = claims(strcmp(cases[i].claims, "{}")
                           ? apr_psprintf(agw_test_pool, "{\"exp\":1700000100,%s",
                                          cases[i].claims + 1)
                           : "{\"exp\":1700000100}");
        u = agw_jwt_user(agw_test_pool, c, NULL);
        ck_assert_msg(cases[i].user ? (u && !strcmp(u, cases[i].user)) : !u, "case %zu", i);
        ck_assert(agw_jwt_brief_make(&b, c, agw_test_pool));
        u = agw_jwt_brief_user(agw_test_pool, &b);
        ck_assert_msg(cases[i].user ? (u && !strcmp(u, cases[i].user)) : !u, "brief %zu", i);
    }
}
END_TEST

/* A brief whose lengths run past its text (a corrupted record) is refused, never read past. */
START_TEST(brief_unreadable)
{
    agw_jwt_brief_t b;
    agw_err_t err = { 0 };

    ck_assert(agw_jwt_brief_make(&b, timed(num(NOW + 100), NULL, NULL), agw_test_pool));
    b.iss_len = AGW_JWT_BRIEF_TEXT;
    b.user_len = 1;
    ck_assert_int_eq(agw_jwt_check_brief(&b, ISS, NULL, NOW, LEEWAY, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "cached claims unreadable");
    ck_assert_ptr_null(agw_jwt_brief_user(agw_test_pool, &b));
    b.iss_len = 0;
    b.naud = AGW_JWT_BRIEF_AUD_MAX + 1;
    ck_assert_int_eq(agw_jwt_check_brief(&b, ISS, NULL, NOW, LEEWAY, &err), APR_EINVAL);
}
END_TEST

/* The size a copy of a brief takes: its fixed part and the text its lengths cover, and never
 * more than the brief, whatever lengths a torn or hostile copy says. */
START_TEST(brief_size_covers_the_text_and_is_bounded)
{
    agw_jwt_brief_t b;
    apr_size_t fixed = offsetof(agw_jwt_brief_t, text);
    int i;

    ck_assert(agw_jwt_brief_make(&b, claims("{\"iss\":\"https://i.example/\",\"sub\":\"u1\","
                                            "\"aud\":[\"a1\",\"bb2\"],\"exp\":1800000000}"),
                                 agw_test_pool));
    ck_assert_uint_eq(agw_jwt_brief_size(&b), fixed + strlen("https://i.example/") + 2 + 2 + 3);
    memset(&b, 0xff, sizeof(b));
    ck_assert_uint_eq(agw_jwt_brief_size(&b), sizeof(b.text) + fixed);
    ck_assert_uint_le(agw_jwt_brief_size(&b), sizeof(b));
    memset(&b, 0, sizeof(b));
    ck_assert_uint_eq(agw_jwt_brief_size(&b), fixed);
    for (i = 0; i < 300; i++) {
        b.naud = (unsigned char)i;
        b.aud_len[i % AGW_JWT_BRIEF_AUD_MAX] = (apr_uint16_t)(i * 97);
        ck_assert_uint_le(agw_jwt_brief_size(&b), sizeof(b));
    }
}
END_TEST

Suite *agw_suite_jwt(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("claims");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, valid_token);
    tcase_add_test(tc, exp_required_and_numeric);
    tcase_add_test(tc, exp_leeway_boundaries);
    tcase_add_test(tc, exp_extremes);
    tcase_add_test(tc, time_range);
    tcase_add_test(tc, typ_default_rule);
    tcase_add_test(tc, typ_configured);
    tcase_add_test(tc, typ_names);
    tcase_add_test(tc, nbf_boundaries);
    tcase_add_test(tc, iat_boundaries);
    tcase_add_test(tc, issuer_exact);
    tcase_add_test(tc, audience_forms);
    tcase_add_test(tc, order_and_shape);
    tcase_add_test(tc, err_may_be_null);
    tcase_add_test(tc, brief_shapes);
    tcase_add_test(tc, brief_agrees_with_claims);
    tcase_add_test(tc, user_rule);
    tcase_add_test(tc, brief_unreadable);
    tcase_add_test(tc, brief_size_covers_the_text_and_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}
