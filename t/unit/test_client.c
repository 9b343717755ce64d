/* Unit tests of the client-credentials client: configuration checks and cache keys, token request forms and private_key_jwt assertions, response parsing, renewal, backoff and cache records. */
#include <limits.h>
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "testkit.h"
#include "agw_client.h"
#include "agw_sign.h"
#include "agw_json.h"
#include "agw_jwk.h"
#include "agw_jws.h"

#define NOW      APR_INT64_C(1700000000)
#define URL      "https://tenant.eu.auth0.com/oauth/token"
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* ---- helpers ------------------------------------------------------------------------------ */

static apr_array_header_t *params(const char *n1, const char *v1, const char *n2,
                                  const char *v2)
{
    apr_array_header_t *a = apr_array_make(agw_test_pool, 4, sizeof(const char *));

    if (n1) {
        APR_ARRAY_PUSH(a, const char *) = n1;
        APR_ARRAY_PUSH(a, const char *) = v1;
    }
    if (n2) {
        APR_ARRAY_PUSH(a, const char *) = n2;
        APR_ARRAY_PUSH(a, const char *) = v2;
    }
    return a;
}

/* A complete client_secret_post client. */
static agw_client_t *client(void)
{
    agw_client_t *c = apr_pcalloc(agw_test_pool, sizeof(*c));

    c->name = "orders";
    c->token_url = URL;
    c->client_id = "Xy12client";
    c->secret = "s3cret value";
    c->audience = "https://orders.internal/";
    c->scope = "read:orders write:orders";
    c->params = params(NULL, NULL, NULL, NULL);
    return c;
}

static const char *key_of(agw_client_t *c)
{
    const char *why = agw_client_finish(c, agw_test_pool);

    ck_assert_msg(why == NULL, "finish: %s", why ? why : "");
    ck_assert_ptr_nonnull(c->cache_key);
    return c->cache_key;
}

static agw_privkey_t *privkey(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    agw_privkey_t *pk = NULL;
    agw_err_t err = { 0 };
    char *data;
    long n;

    if (!b || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
        tk_die("PEM_write_bio_PrivateKey");
    n = BIO_get_mem_data(b, &data);
    ck_assert_int_eq(agw_privkey_load(&pk, agw_test_pool, data, (apr_size_t)n, &err),
                     APR_SUCCESS);
    BIO_free(b);
    return pk;
}

static apr_table_t *form_of(const agw_client_t *c)
{
    apr_table_t *f = NULL;
    agw_err_t err = { 0 };

    ck_assert_msg(agw_client_form(&f, agw_test_pool, c, NOW, &err) == APR_SUCCESS,
                  "form: %s", err.reason ? err.reason : "(null)");
    return f;
}

static int count_fields(const apr_table_t *t)
{
    return apr_table_elts(t)->nelts;
}

static apr_status_t parse(agw_cc_token_t *tok, long status, const char *body, agw_err_t *err)
{
    memset(tok, 0, sizeof(*tok));
    err->code = err->reason = NULL;
    return agw_client_parse(tok, agw_test_pool, status, body, strlen(body), NOW, err);
}

static void parse_refused(long status, const char *body, const char *reason)
{
    agw_cc_token_t tok;
    agw_err_t err;

    ck_assert_msg(parse(&tok, status, body, &err) != APR_SUCCESS, "accepted: %s", body);
    ck_assert_ptr_null(tok.access_token);
    ck_assert_str_eq(err.reason, reason);
}

/* ---- agw_client_finish ---------------------------------------------------------------------- */

START_TEST(finish_reports_missing_pieces)
{
    agw_client_t *c = client();

    c->token_url = NULL;
    ck_assert_str_eq(agw_client_finish(c, agw_test_pool),
                     "no token URL: set Auth0TokenURL, or Auth0Domain for Auth0's /oauth/token");
    ck_assert_ptr_null(c->cache_key);

    c = client();
    c->client_id = NULL;
    ck_assert_str_eq(agw_client_finish(c, agw_test_pool), "Auth0ClientID is missing");

    c = client();
    c->secret = NULL;
    ck_assert_str_eq(agw_client_finish(c, agw_test_pool),
                     "Auth0ClientSecret is missing (file:PATH or env:VAR)");

    c = client();
    c->secret = NULL;
    c->auth = AGW_CLIENT_AUTH_BASIC;
    ck_assert_str_eq(agw_client_finish(c, agw_test_pool),
                     "Auth0ClientSecret is missing (file:PATH or env:VAR)");

    c = client();
    c->auth = AGW_CLIENT_AUTH_PKJWT;
    ck_assert_str_eq(agw_client_finish(c, agw_test_pool),
                     "private_key_jwt needs Auth0ClientKey file:PATH (a PEM private key)");
    ck_assert_ptr_null(c->cache_key);
}
END_TEST

START_TEST(finish_defaults)
{
    agw_client_t *c = client();
    EVP_PKEY *k = tk_keygen_ec("P-384");

    key_of(c);
    ck_assert_int_eq(c->auth, AGW_CLIENT_AUTH_POST);
    ck_assert_int_eq(c->renew_percent, 80);
    ck_assert(strncmp(c->cache_key, "cc:", 3) == 0);
    ck_assert_uint_eq(strlen(c->cache_key), 3 + 43);   /* base64url of SHA-256 */

    /* private_key_jwt without a secret; the algorithm follows the key */
    c = client();
    c->secret = NULL;
    c->auth = AGW_CLIENT_AUTH_PKJWT;
    c->sign_key = privkey(k);
    key_of(c);
    ck_assert_int_eq(c->sign_alg, AGW_ALG_ES384);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(finish_cache_key_identity)
{
    const char *base = key_of(client());
    agw_client_t *c;

    /* the same identity and credential give the same key, whatever the renewal share */
    ck_assert_str_eq(key_of(client()), base);
    c = client();
    c->renew_percent = 50;
    ck_assert_str_eq(key_of(c), base);
    /* another secret or auth method is another credential: never the same cached token */
    c = client();
    c->secret = "another secret";
    ck_assert_str_ne(key_of(c), base);
    c = client();
    c->auth = AGW_CLIENT_AUTH_BASIC;
    ck_assert_str_ne(key_of(c), base);
    c = client();
    c->params = NULL;
    ck_assert_str_eq(key_of(c), base);
}
END_TEST

START_TEST(finish_cache_key_differs)
{
    const char *base, *keys[16];
    agw_client_t *c;
    int n = 0, i, j;

    c = client();
    c->params = params("organization", "org_1", NULL, NULL);
    base = key_of(c);
    keys[n++] = base;

    c = client(); c->params = params("organization", "org_1", NULL, NULL);
    c->token_url = "https://tenant.eu.auth0.com/oauth/token2";
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_1", NULL, NULL);
    c->client_id = "Xy12clienT";
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_1", NULL, NULL);
    c->audience = "https://orders.internal";
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_1", NULL, NULL);
    c->audience = NULL;
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_1", NULL, NULL);
    c->scope = "read:orders";
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_1", NULL, NULL);
    c->scope = NULL;
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_2", NULL, NULL);
    keys[n++] = key_of(c);
    c = client(); c->params = params("organisation", "org_1", NULL, NULL);
    keys[n++] = key_of(c);
    c = client(); c->params = NULL;
    keys[n++] = key_of(c);
    c = client(); c->params = params("organization", "org_1", "connection", "x");
    keys[n++] = key_of(c);

    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            ck_assert_msg(strcmp(keys[i], keys[j]) != 0, "keys %d and %d are equal", i, j);
}
END_TEST

/* Fields must not be shiftable into each other: different requests, different keys. */
START_TEST(finish_cache_key_no_field_shift)
{
    agw_client_t *a = client(), *b = client();

    a->audience = "x"; a->scope = NULL;
    b->audience = NULL; b->scope = "x";
    ck_assert_str_ne(key_of(a), key_of(b));

    a = client(); b = client();
    a->params = params("a", "b=c", NULL, NULL);
    b->params = params("a=b", "c", NULL, NULL);
    ck_assert_str_ne(key_of(a), key_of(b));

    a = client(); b = client();
    a->audience = "aud\x1fscope"; a->scope = NULL;
    b->audience = "aud"; b->scope = "scope";
    ck_assert_str_ne(key_of(a), key_of(b));

    a = client(); b = client();
    a->params = params("p", "1", "q", "2");
    b->params = params("p", "1\x1fq=2", NULL, NULL);
    ck_assert_str_ne(key_of(a), key_of(b));
}
END_TEST

/* ---- agw_client_form -------------------------------------------------------------------------- */

START_TEST(form_post)
{
    agw_client_t *c = client();
    apr_table_t *f;

    key_of(c);
    f = form_of(c);
    ck_assert_str_eq(apr_table_get(f, "grant_type"), "client_credentials");
    ck_assert_str_eq(apr_table_get(f, "client_id"), "Xy12client");
    ck_assert_str_eq(apr_table_get(f, "client_secret"), "s3cret value");
    ck_assert_str_eq(apr_table_get(f, "audience"), "https://orders.internal/");
    ck_assert_str_eq(apr_table_get(f, "scope"), "read:orders write:orders");
    ck_assert_int_eq(count_fields(f), 5);

    /* no audience, no scope: neither field is sent */
    c = client();
    c->audience = NULL;
    c->scope = NULL;
    key_of(c);
    f = form_of(c);
    ck_assert_ptr_null(apr_table_get(f, "audience"));
    ck_assert_ptr_null(apr_table_get(f, "scope"));
    ck_assert_int_eq(count_fields(f), 3);
}
END_TEST

START_TEST(form_basic)
{
    agw_client_t *c = client();
    apr_table_t *f;

    c->auth = AGW_CLIENT_AUTH_BASIC;
    key_of(c);
    f = form_of(c);
    ck_assert_str_eq(apr_table_get(f, "grant_type"), "client_credentials");
    ck_assert_ptr_null(apr_table_get(f, "client_id"));
    ck_assert_ptr_null(apr_table_get(f, "client_secret"));
    ck_assert_ptr_null(apr_table_get(f, "client_assertion"));
    ck_assert_str_eq(apr_table_get(f, "audience"), "https://orders.internal/");
    ck_assert_int_eq(count_fields(f), 3);
}
END_TEST

START_TEST(form_params_cannot_override)
{
    agw_client_t *c = client();
    apr_table_t *f;
    apr_array_header_t *p = apr_array_make(agw_test_pool, 16, sizeof(const char *));
    static const char *const hostile[] = {
        "grant_type", "password", "client_id", "other-client", "client_secret", "leak",
        "audience", "https://evil/", "scope", "admin:all", "client_assertion", "forged",
        "client_assertion_type", "urn:evil", "Grant_Type", "implicit", "organization", "org_1",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        APR_ARRAY_PUSH(p, const char *) = hostile[i];

    /* post: the configured values win */
    c->params = p;
    key_of(c);
    f = form_of(c);
    ck_assert_str_eq(apr_table_get(f, "grant_type"), "client_credentials");
    ck_assert_str_eq(apr_table_get(f, "client_id"), "Xy12client");
    ck_assert_str_eq(apr_table_get(f, "client_secret"), "s3cret value");
    ck_assert_str_eq(apr_table_get(f, "audience"), "https://orders.internal/");
    ck_assert_str_eq(apr_table_get(f, "scope"), "read:orders write:orders");
    ck_assert_ptr_null(apr_table_get(f, "client_assertion"));
    ck_assert_ptr_null(apr_table_get(f, "client_assertion_type"));
    ck_assert_str_eq(apr_table_get(f, "organization"), "org_1");
    ck_assert_int_eq(count_fields(f), 6);

    /* basic, no audience or scope configured: the hostile ones are not sent either */
    c = client();
    c->params = p;
    c->auth = AGW_CLIENT_AUTH_BASIC;
    c->audience = NULL;
    c->scope = NULL;
    key_of(c);
    f = form_of(c);
    ck_assert_str_eq(apr_table_get(f, "grant_type"), "client_credentials");
    ck_assert_ptr_null(apr_table_get(f, "client_id"));
    ck_assert_ptr_null(apr_table_get(f, "client_secret"));
    ck_assert_ptr_null(apr_table_get(f, "audience"));
    ck_assert_ptr_null(apr_table_get(f, "scope"));
    ck_assert_ptr_null(apr_table_get(f, "client_assertion"));
    ck_assert_ptr_null(apr_table_get(f, "client_assertion_type"));
    ck_assert_str_eq(apr_table_get(f, "organization"), "org_1");
    ck_assert_int_eq(count_fields(f), 2);
}
END_TEST

/* The assertion, decoded and verified by our own JWS code against the public JWK. */
static agw_jws_t *assertion_verified(const char *jwt, EVP_PKEY *pub, agw_alg_e alg)
{
    const char *set = apr_psprintf(agw_test_pool, "{\"keys\":[%s]}",
                                   tk_jwk(agw_test_pool, pub, NULL, NULL, NULL));
    agw_jwks_t *keys = NULL;
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, jwt, strlen(jwt), 0, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(agw_jwks_parse(&keys, agw_test_pool, set, strlen(set), &err), APR_SUCCESS);
    ck_assert_int_eq(jws->alg, alg);
    ck_assert_msg(agw_jws_verify(jws, keys, AGW_ALG_BIT(alg), &err) == APR_SUCCESS,
                  "assertion does not verify: %s", err.reason ? err.reason : "(null)");
    return jws;
}

static void check_pkjwt(EVP_PKEY *k, agw_alg_e alg, const char *kid)
{
    agw_client_t *c = client();
    apr_table_t *f, *f2;
    agw_jws_t *jws, *jws2;
    const char *jwt;
    json_t *cl;

    c->secret = NULL;
    c->auth = AGW_CLIENT_AUTH_PKJWT;
    c->sign_key = privkey(k);
    c->sign_kid = kid;
    key_of(c);
    f = form_of(c);
    ck_assert_str_eq(apr_table_get(f, "grant_type"), "client_credentials");
    ck_assert_str_eq(apr_table_get(f, "client_id"), "Xy12client");
    ck_assert_str_eq(apr_table_get(f, "client_assertion_type"), ASSERTION_TYPE);
    ck_assert_ptr_null(apr_table_get(f, "client_secret"));
    ck_assert_str_eq(apr_table_get(f, "audience"), "https://orders.internal/");
    ck_assert_int_eq(count_fields(f), 6);
    jwt = apr_table_get(f, "client_assertion");
    ck_assert_ptr_nonnull(jwt);

    jws = assertion_verified(jwt, k, alg);
    ck_assert_str_eq(agw_json_str(jws->header, "typ"), "JWT");
    if (kid)
        ck_assert_str_eq(jws->kid, kid);
    else
        ck_assert_ptr_null(json_object_get(jws->header, "kid"));
    cl = jws->payload;
    ck_assert_str_eq(agw_json_str(cl, "iss"), "Xy12client");
    ck_assert_str_eq(agw_json_str(cl, "sub"), "Xy12client");
    ck_assert_str_eq(agw_json_str(cl, "aud"), URL);
    ck_assert_ptr_nonnull(agw_json_str(cl, "jti"));
    ck_assert_uint_ge(strlen(agw_json_str(cl, "jti")), 16);
    ck_assert(json_integer_value(json_object_get(cl, "iat")) == NOW);
    ck_assert(json_integer_value(json_object_get(cl, "exp")) > NOW);
    ck_assert(json_integer_value(json_object_get(cl, "exp")) <= NOW + 300);

    /* each request has a fresh jti */
    f2 = form_of(c);
    jws2 = assertion_verified(apr_table_get(f2, "client_assertion"), k, alg);
    ck_assert_str_ne(agw_json_str(jws2->payload, "jti"), agw_json_str(cl, "jti"));
}

START_TEST(form_pkjwt_es256)
{
    EVP_PKEY *k = tk_keygen_ec("P-256");
    check_pkjwt(k, AGW_ALG_ES256, "client-key-1");
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(form_pkjwt_rs256)
{
    EVP_PKEY *k = tk_keygen_rsa(2048);
    check_pkjwt(k, AGW_ALG_RS256, NULL);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(form_pkjwt_eddsa)
{
    EVP_PKEY *k = tk_keygen_ed25519();
    check_pkjwt(k, AGW_ALG_EDDSA, "ed");
    EVP_PKEY_free(k);
}
END_TEST

/* A configured PS256 overrides the key's default RS256. */
START_TEST(form_pkjwt_ps256)
{
    EVP_PKEY *k = tk_keygen_rsa(2048);
    agw_client_t *c = client();
    apr_table_t *f;

    c->secret = NULL;
    c->auth = AGW_CLIENT_AUTH_PKJWT;
    c->sign_key = privkey(k);
    c->sign_alg = AGW_ALG_PS256;
    key_of(c);
    f = form_of(c);
    assertion_verified(apr_table_get(f, "client_assertion"), k, AGW_ALG_PS256);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(form_pkjwt_other_key_fails_verification)
{
    EVP_PKEY *k = tk_keygen_ec("P-256"), *other = tk_keygen_ec("P-256");
    agw_client_t *c = client();
    const char *jwt, *set;
    agw_jwks_t *keys = NULL;
    agw_jws_t *jws = NULL;
    agw_err_t err = { 0 };

    c->secret = NULL;
    c->auth = AGW_CLIENT_AUTH_PKJWT;
    c->sign_key = privkey(k);
    key_of(c);
    jwt = apr_table_get(form_of(c), "client_assertion");
    set = apr_psprintf(agw_test_pool, "{\"keys\":[%s]}",
                       tk_jwk(agw_test_pool, other, NULL, NULL, NULL));
    ck_assert_int_eq(agw_jws_decode(&jws, agw_test_pool, jwt, strlen(jwt), 0, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jwks_parse(&keys, agw_test_pool, set, strlen(set), &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jws_verify(jws, keys, AGW_ALG_BIT(AGW_ALG_ES256), &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "signature invalid");
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}
END_TEST

/* A key that does not fit the configured algorithm fails the form, not the endpoint. */
START_TEST(form_pkjwt_alg_mismatch)
{
    EVP_PKEY *k = tk_keygen_ec("P-256");
    agw_client_t *c = client();
    apr_table_t *f = NULL;
    agw_err_t err = { 0 };

    c->secret = NULL;
    c->auth = AGW_CLIENT_AUTH_PKJWT;
    c->sign_key = privkey(k);
    c->sign_alg = AGW_ALG_RS256;
    key_of(c);
    ck_assert_int_eq(agw_client_form(&f, agw_test_pool, c, NOW, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "the signing key does not fit the algorithm");
    EVP_PKEY_free(k);
}
END_TEST

/* ---- agw_client_parse -------------------------------------------------------------------------- */

START_TEST(parse_success)
{
    agw_cc_token_t tok;
    agw_err_t err;

    ck_assert_int_eq(parse(&tok, 200, "{\"access_token\":\"eyJ.abc.def\",\"token_type\":\"Bearer\","
                                      "\"expires_in\":86400,\"scope\":\"read:orders\"}", &err),
                     APR_SUCCESS);
    ck_assert_str_eq(tok.access_token, "eyJ.abc.def");
    ck_assert(tok.obtained_at == NOW);
    ck_assert(tok.expires_at == NOW + 86400);

    /* token_type is optional and case-insensitive; expires_in as a JSON string */
    ck_assert_int_eq(parse(&tok, 200, "{\"access_token\":\"opaque-Token_1~+/=\","
                                      "\"expires_in\":\"3600\"}", &err), APR_SUCCESS);
    ck_assert_str_eq(tok.access_token, "opaque-Token_1~+/=");
    ck_assert(tok.expires_at == NOW + 3600);
    ck_assert_int_eq(parse(&tok, 200, "{\"access_token\":\"t\",\"token_type\":\"bearer\","
                                      "\"expires_in\":60.9}", &err), APR_SUCCESS);
    ck_assert(tok.expires_at == NOW + 60);
}
END_TEST

START_TEST(parse_endpoint_errors)
{
    parse_refused(400, "{\"error\":\"invalid_client\",\"error_description\":\"Bad secret\"}",
                  "token endpoint answered HTTP 400, error invalid_client: Bad secret");
    parse_refused(401, "{\"error\":\"access_denied\"}",
                  "token endpoint answered HTTP 401, error access_denied");
    parse_refused(403, "{\"error_description\":\"No audience parameter\"}",
                  "token endpoint answered HTTP 403: No audience parameter");
    parse_refused(500, "<html>Internal Server Error</html>", "token endpoint answered HTTP 500");
    parse_refused(503, "", "token endpoint answered HTTP 503");
    /* an error member in a 200 answer is still an error */
    parse_refused(200, "{\"error\":\"unauthorized_client\",\"error_description\":\"not allowed\","
                       "\"access_token\":\"t\",\"expires_in\":60}",
                  "token endpoint error unauthorized_client: not allowed");
    /* a successful body with a non-200 status is not a token */
    parse_refused(201, "{\"access_token\":\"t\",\"expires_in\":60}",
                  "token endpoint answered HTTP 201");
}
END_TEST

/* What the endpoint says reaches the log: it must not be able to forge log lines or quotes. */
START_TEST(parse_endpoint_error_sanitised)
{
    agw_cc_token_t tok;
    agw_err_t err;
    char body[2048];
    const char *r;

    parse_refused(400, "{\"error\":\"bad\\r\\nAGW0200: forged\",\"error_description\":"
                       "\"a \\\"quoted\\\" \\\\ \\u00e9\\t\"}",
                  "token endpoint answered HTTP 400, error bad??AGW0200: forged: a ?quoted? ? ???");

    memset(body, 0, sizeof(body));
    strcpy(body, "{\"error\":\"x\",\"error_description\":\"");
    memset(body + strlen(body), 'd', 1000);
    strcat(body, "\"}");
    ck_assert_int_ne(parse(&tok, 400, body, &err), APR_SUCCESS);
    r = err.reason;
    ck_assert_uint_le(strlen(r), 400);
    ck_assert(strstr(r, "error x: ddd") != NULL);
}
END_TEST

START_TEST(parse_incomplete)
{
    parse_refused(200, "{\"token_type\":\"Bearer\",\"expires_in\":60}",
                  "token response has no usable access_token");
    parse_refused(200, "{\"access_token\":\"\",\"expires_in\":60}",
                  "token response has no usable access_token");
    parse_refused(200, "{\"access_token\":42,\"expires_in\":60}",
                  "token response has no usable access_token");
    parse_refused(200, "{\"access_token\":null,\"expires_in\":60}",
                  "token response has no usable access_token");
    parse_refused(200, "{\"access_token\":\"t\"}", "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":null}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":0}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":-60}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":1e300}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":\"soon\"}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":\"3600abc\"}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":\"\"}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":\"nan\"}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":true}",
                  "token response has no usable expires_in");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":[60]}",
                  "token response has no usable expires_in");
}
END_TEST

START_TEST(parse_token_type)
{
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":60,\"token_type\":\"mac\"}",
                  "token response has a token_type other than Bearer");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":60,\"token_type\":\"DPoP\"}",
                  "token response has a token_type other than Bearer");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":60,\"token_type\":\"Bearer \"}",
                  "token response has a token_type other than Bearer");
}
END_TEST

/* The token goes into a request header: nothing that could end or split the header. */
START_TEST(parse_token_charset)
{
    static const char *const bad[] = {
        "a b", "a\\tb", "a\\r\\nX-Injected: 1", "a\\nb", "a\\\"b", "a\\u0001b", "a\\u007fb",
        "\\u00e9t\\u00e9", "a,b", "a;b", "a\\\\b",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_refused(200, apr_psprintf(agw_test_pool, "{\"access_token\":\"%s\",\"expires_in\":60}",
                                        bad[i]),
                      "token response has no usable access_token");
}
END_TEST

START_TEST(parse_token_size)
{
    agw_cc_token_t tok;
    agw_err_t err;
    char *t = apr_palloc(agw_test_pool, AGW_CC_MAX_TOKEN + 2);

    memset(t, 'a', AGW_CC_MAX_TOKEN);
    t[AGW_CC_MAX_TOKEN] = '\0';
    ck_assert_int_eq(parse(&tok, 200, apr_psprintf(agw_test_pool, "{\"access_token\":\"%s\","
                                                   "\"expires_in\":60}", t), &err), APR_SUCCESS);
    ck_assert_uint_eq(strlen(tok.access_token), AGW_CC_MAX_TOKEN);
    t[AGW_CC_MAX_TOKEN] = 'a';
    t[AGW_CC_MAX_TOKEN + 1] = '\0';
    parse_refused(200, apr_psprintf(agw_test_pool, "{\"access_token\":\"%s\",\"expires_in\":60}", t),
                  "token response has no usable access_token");
}
END_TEST

START_TEST(parse_garbage)
{
    parse_refused(200, "", "token endpoint answered 200 without a JSON object");
    parse_refused(200, "<html>hello</html>", "token endpoint answered 200 without a JSON object");
    parse_refused(200, "[\"access_token\"]", "token endpoint answered 200 without a JSON object");
    parse_refused(200, "\"access_token\"", "token endpoint answered 200 without a JSON object");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":60", 
                  "token endpoint answered 200 without a JSON object");
    parse_refused(200, "{\"access_token\":\"t\",\"expires_in\":60}trailing",
                  "token endpoint answered 200 without a JSON object");
    /* duplicate names: which access_token would count? neither */
    parse_refused(200, "{\"access_token\":\"a\",\"access_token\":\"b\",\"expires_in\":60}",
                  "token endpoint answered 200 without a JSON object");
    parse_refused(200, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                  "token endpoint answered 200 without a JSON object");
}
END_TEST

/* Embedded NUL: the length given is what counts. */
START_TEST(parse_embedded_nul)
{
    static const char body[] = "{\"access_token\":\"t\",\"expires_in\":60}\0{\"x\":1}";
    agw_cc_token_t tok = { 0 };
    agw_err_t err = { 0 };

    ck_assert_int_ne(agw_client_parse(&tok, agw_test_pool, 200, body, sizeof(body) - 1, NOW, &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(tok.access_token);
}
END_TEST

/* ---- renewal, backoff ----------------------------------------------------------------------- */

START_TEST(renew_at_share_of_lifetime)
{
    agw_client_t *c = client();
    agw_cc_token_t tok = { "t", 1000, 4600, 0 };

    c->renew_percent = 80;
    ck_assert(agw_client_renew_at(c, &tok) == 1000 + 2880);
    c->renew_percent = 50;
    ck_assert(agw_client_renew_at(c, &tok) == 1000 + 1800);
    c->renew_percent = 10;
    ck_assert(agw_client_renew_at(c, &tok) == 1000 + 360);
    c->renew_percent = 95;
    ck_assert(agw_client_renew_at(c, &tok) == 1000 + 3420);
    /* unset or out of range: the default 80% */
    c->renew_percent = 0;
    ck_assert(agw_client_renew_at(c, &tok) == 1000 + 2880);
    c->renew_percent = 500;
    ck_assert(agw_client_renew_at(c, &tok) == 1000 + 2880);
    /* short lifetimes never renew after expiry */
    tok.obtained_at = NOW;
    tok.expires_at = NOW + 10;
    c->renew_percent = 50;
    ck_assert(agw_client_renew_at(c, &tok) == NOW + 5);
    c->renew_percent = 95;
    ck_assert(agw_client_renew_at(c, &tok) < tok.expires_at);
}
END_TEST

START_TEST(backoff_sequence)
{
    static const apr_int64_t want[] = { 0, 2, 4, 8, 16, 32, 60, 60, 60 };
    unsigned int i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(agw_client_backoff(i) == want[i], "backoff(%u)", i);
    ck_assert(agw_client_backoff(31) == 60);
    ck_assert(agw_client_backoff(32) == 60);
    ck_assert(agw_client_backoff(64) == 60);
    ck_assert(agw_client_backoff(UINT_MAX) == 60);
}
END_TEST

/* ---- cache records ------------------------------------------------------------------------------ */

START_TEST(record_round_trip)
{
    agw_cc_token_t tok = { "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", NOW, NOW + 86400, 0 }, back;
    apr_size_t len = 0;
    char *rec = agw_cc_token_encode(agw_test_pool, &tok, &len);

    ck_assert_uint_eq(len, strlen(rec));
    ck_assert_str_eq(rec, "1 1700000000 1700086400 eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
    memset(&back, 0, sizeof(back));
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, rec, len, NOW), APR_SUCCESS);
    ck_assert_str_eq(back.access_token, tok.access_token);
    ck_assert(back.obtained_at == tok.obtained_at);
    ck_assert(back.expires_at == tok.expires_at);
}
END_TEST

START_TEST(record_round_trip_max_token)
{
    char *t = apr_palloc(agw_test_pool, AGW_CC_MAX_TOKEN + 1), *rec;
    agw_cc_token_t tok = { NULL, 1, 2, 0 }, back = { 0 };
    apr_size_t len;

    memset(t, 'Z', AGW_CC_MAX_TOKEN);
    t[AGW_CC_MAX_TOKEN] = '\0';
    tok.access_token = t;
    rec = agw_cc_token_encode(agw_test_pool, &tok, &len);
    ck_assert_int_eq(agw_cc_token_decode(&back, agw_test_pool, rec, len, 1), APR_SUCCESS);
    ck_assert_str_eq(back.access_token, t);
}
END_TEST

START_TEST(record_hostile)
{
    static const struct { const char *rec; apr_size_t len; } bad[] = {
#define R(s) { s, sizeof(s) - 1 }
        R(""), R("1"), R("1 "), R("1 1 2"), R("1 1 2 "), R("2 1 2 tok"), R("0 1 2 tok"),
        R("11 1 2 tok"), R(" 1 1 2 tok"), R("1  1 2 tok"), R("1 a 2 tok"), R("1 1 b tok"),
        R("1 1 2  tok"), R("1 1 2\ttok"), R("1 5 3 tok"), R("1 5 5 tok"), R("1 1 2 to k"),
        R("1 1 2 tok\r\nX-Injected: 1"), R("1 1 2 tok\n"), R("1 1 2 t\"k"), R("1 1 2 t\x01k"),
        R("1 1 2 t\xc3\xa9k"), R("1 1 2 tok\0garbage"), R("1 1\0 2 tok"),
        R("1 99999999999999999999 2 tok"), R("1 1 99999999999999999999999 tok"),
        R("1 0x10 0x20 tok"), R("1 1.5 2 tok"), R("1 1 2 tok tok"),
#undef R
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        agw_cc_token_t tok = { NULL, 0, 0, 0 };
        ck_assert_msg(agw_cc_token_decode(&tok, agw_test_pool, bad[i].rec, bad[i].len, 1)
                      == APR_EINVAL, "record %u accepted", (unsigned)i);
        ck_assert_ptr_null(tok.access_token);
    }
}
END_TEST

START_TEST(record_oversized_token)
{
    apr_size_t n = AGW_CC_MAX_TOKEN + 1, len;
    char *rec = apr_palloc(agw_test_pool, n + 32);
    agw_cc_token_t tok = { NULL, 0, 0, 0 };

    len = (apr_size_t)sprintf(rec, "1 1 2 ");
    memset(rec + len, 'a', n);
    len += n;
    rec[len] = '\0';
    ck_assert_int_eq(agw_cc_token_decode(&tok, agw_test_pool, rec, len, 1), APR_EINVAL);
    ck_assert_ptr_null(tok.access_token);
}
END_TEST

/* Issue 9.7: times no token endpoint gives are refused, so one write cannot pin a token. */
START_TEST(record_times_are_checked_against_now)
{
    static const struct { const char *rec; int ok; } cases[] = {
        { "1 1700000000 1700003600 tok", 1 },       /* obtained now, an hour to live */
        { "1 1700000060 1700003600 tok", 1 },       /* another host's clock a minute ahead */
        { "1 1700000061 1700003600 tok", 0 },       /* obtained in the future */
        { "1 9000000000 9000003600 tok", 0 },       /* far-future times: the pinning attack */
        { "1 1600000000 1700000000 tok", 0 },       /* expired now */
        { "1 1699990000 1700000001 tok", 1 },       /* expires in a second */
        { "1 1 1700003600 tok", 0 },                /* a lifetime no endpoint gives */
        { "1 1700000000 9223372036854775807 tok", 0 }, /* renew_at's life * pct would overflow */
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        agw_cc_token_t tok = { NULL, 0, 0, 0 };
        ck_assert_msg((agw_cc_token_decode(&tok, agw_test_pool, cases[i].rec,
                                           strlen(cases[i].rec), NOW) == APR_SUCCESS)
                      == cases[i].ok, "record %u: %s", (unsigned)i, cases[i].rec);
    }
}
END_TEST

/* decode reads exactly len bytes: no NUL terminator needed, nothing past it read. */
START_TEST(record_not_terminated)
{
    const char src[] = "1 10 20 abcdefXXXX";
    char *buf = apr_pmemdup(agw_test_pool, src, 14);     /* "1 10 20 abcdef", no NUL */
    agw_cc_token_t tok = { NULL, 0, 0, 0 };

    ck_assert_int_eq(agw_cc_token_decode(&tok, agw_test_pool, buf, 14, 15), APR_SUCCESS);
    ck_assert_str_eq(tok.access_token, "abcdef");
    ck_assert(tok.obtained_at == 10);
    ck_assert(tok.expires_at == 20);
}
END_TEST

Suite *agw_suite_client(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, finish_reports_missing_pieces);
    tcase_add_test(tc, finish_defaults);
    tcase_add_test(tc, finish_cache_key_identity);
    tcase_add_test(tc, finish_cache_key_differs);
    tcase_add_test(tc, finish_cache_key_no_field_shift);
    tcase_add_test(tc, form_post);
    tcase_add_test(tc, form_basic);
    tcase_add_test(tc, form_params_cannot_override);
    tcase_add_test(tc, form_pkjwt_es256);
    tcase_add_test(tc, form_pkjwt_rs256);
    tcase_add_test(tc, form_pkjwt_eddsa);
    tcase_add_test(tc, form_pkjwt_ps256);
    tcase_add_test(tc, form_pkjwt_other_key_fails_verification);
    tcase_add_test(tc, form_pkjwt_alg_mismatch);
    tcase_add_test(tc, parse_success);
    tcase_add_test(tc, parse_endpoint_errors);
    tcase_add_test(tc, parse_endpoint_error_sanitised);
    tcase_add_test(tc, parse_incomplete);
    tcase_add_test(tc, parse_token_type);
    tcase_add_test(tc, parse_token_charset);
    tcase_add_test(tc, parse_token_size);
    tcase_add_test(tc, parse_garbage);
    tcase_add_test(tc, parse_embedded_nul);
    tcase_add_test(tc, renew_at_share_of_lifetime);
    tcase_add_test(tc, backoff_sequence);
    tcase_add_test(tc, record_round_trip);
    tcase_add_test(tc, record_round_trip_max_token);
    tcase_add_test(tc, record_hostile);
    tcase_add_test(tc, record_oversized_token);
    tcase_add_test(tc, record_not_terminated);
    tcase_add_test(tc, record_times_are_checked_against_now);
    suite_add_tcase(s, tc);
    return s;
}
