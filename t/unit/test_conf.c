/* Unit tests of the directive value parsers: every accepted form and every error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>
#include "tests.h"
#include "agw_conf.h"

#define ALL_ALGS "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512"

/* ---- Auth0Algorithms ---------------------------------------------------------------- */

static const char *algs(agw_alg_set_t *out, const char *a, const char *b)
{
    char *argv[2];
    int argc = 0;

    if (a)
        argv[argc++] = (char *)a;
    if (b)
        argv[argc++] = (char *)b;
    return agw_conf_algorithms(out, agw_test_pool, argc, argv);
}

START_TEST(algorithms_accepted)
{
    char *argv[] = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                     "ES512", "EdDSA", "HS256", "HS384", "HS512" };
    agw_alg_set_t set = 0;
    int a;

    ck_assert_ptr_null(agw_conf_algorithms(&set, agw_test_pool, 13, argv));
    for (a = AGW_ALG_NONE + 1; a < AGW_ALG_COUNT; a++)
        ck_assert(set & AGW_ALG_BIT(a));
    ck_assert(!(set & AGW_ALG_BIT(AGW_ALG_NONE)));

    ck_assert_ptr_null(algs(&set, "ES256", NULL));
    ck_assert_uint_eq(set, AGW_ALG_BIT(AGW_ALG_ES256));
    ck_assert_ptr_null(algs(&set, "RS256", "RS256"));
    ck_assert_uint_eq(set, AGW_ALG_BIT(AGW_ALG_RS256));
    ck_assert_ptr_null(algs(&set, "EdDSA", "PS512"));
    ck_assert_uint_eq(set, AGW_ALG_BIT(AGW_ALG_EDDSA) | AGW_ALG_BIT(AGW_ALG_PS512));
}
END_TEST

START_TEST(algorithms_refused)
{
    agw_alg_set_t set = 12345;
    const char *none_msg = "none is never accepted: tokens must be signed; list the algorithms "
                           "your issuer signs with, e.g. RS256";

    ck_assert_str_eq(algs(&set, "none", NULL), none_msg);
    ck_assert_str_eq(algs(&set, "NONE", NULL), none_msg);
    ck_assert_str_eq(algs(&set, "RS256", "None"), none_msg);
    ck_assert_str_eq(algs(&set, "nOnE", "RS256"), none_msg);
    ck_assert_str_eq(algs(&set, "rs256", NULL),
                     "unknown algorithm 'rs256': names are case-sensitive, write RS256");
    ck_assert_str_eq(algs(&set, "EDDSA", NULL),
                     "unknown algorithm 'EDDSA': names are case-sensitive, write EdDSA");
    ck_assert_str_eq(algs(&set, "RS256", "RS1024"),
                     "unknown algorithm 'RS1024': use one or more of " ALL_ALGS);
    ck_assert_str_eq(algs(&set, "Ed25519", NULL),
                     "unknown algorithm 'Ed25519': use one or more of " ALL_ALGS);
    ck_assert_str_eq(algs(&set, "", NULL), "unknown algorithm '': use one or more of " ALL_ALGS);
    ck_assert_str_eq(algs(&set, "RS256 ", NULL),
                     "unknown algorithm 'RS256 ': use one or more of " ALL_ALGS);
    ck_assert_str_eq(algs(&set, "RS256\n\x1b[31m", NULL),
                     "unknown algorithm 'RS256??[31m': use one or more of " ALL_ALGS);
    ck_assert_str_eq(algs(&set, NULL, NULL), "needs at least one algorithm, from: " ALL_ALGS);
    /* Nothing is written on error. */
    ck_assert_uint_eq(set, 12345);
}
END_TEST

/* ---- seconds ------------------------------------------------------------------------ */

START_TEST(seconds)
{
    apr_int64_t v = -1;

    ck_assert_ptr_null(agw_conf_seconds(&v, agw_test_pool, "30", 86400));
    ck_assert_int_eq(v, 30);
    ck_assert_ptr_null(agw_conf_seconds(&v, agw_test_pool, "0", 86400));
    ck_assert_int_eq(v, 0);
    ck_assert_ptr_null(agw_conf_seconds(&v, agw_test_pool, "007", 86400));
    ck_assert_int_eq(v, 7);
    ck_assert_ptr_null(agw_conf_seconds(&v, agw_test_pool, "86400", 86400));
    ck_assert_int_eq(v, 86400);
    ck_assert_ptr_null(agw_conf_seconds(&v, agw_test_pool, "9223372036854775807",
                                        APR_INT64_C(0x7fffffffffffffff)));
    ck_assert_int_eq(v, APR_INT64_C(0x7fffffffffffffff));

    v = 99;
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, "86401", 86400),
                     "'86401' is too large: at most 86400 seconds");
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, "99999999999999999999999999", 86400),
                     "'99999999999999999999999999' is too large: at most 86400 seconds");
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, "9223372036854775808",
                                      APR_INT64_C(0x7fffffffffffffff)),
                     "'9223372036854775808' is too large: at most 9223372036854775807 seconds");
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, "-1", 86400),
                     "'-1' is not a number of seconds: use digits only (no sign, unit or "
                     "spaces), at most 86400");
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, "5s", 60),
                     "'5s' is not a number of seconds: use digits only (no sign, unit or "
                     "spaces), at most 60");
    ck_assert_ptr_nonnull(agw_conf_seconds(&v, agw_test_pool, "+5", 60));
    ck_assert_ptr_nonnull(agw_conf_seconds(&v, agw_test_pool, " 5", 60));
    ck_assert_ptr_nonnull(agw_conf_seconds(&v, agw_test_pool, "5 ", 60));
    ck_assert_ptr_nonnull(agw_conf_seconds(&v, agw_test_pool, "0x10", 60));
    ck_assert_ptr_nonnull(agw_conf_seconds(&v, agw_test_pool, "1e3", 6000));
    ck_assert_ptr_nonnull(agw_conf_seconds(&v, agw_test_pool, "1.5", 60));
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, "", 60),
                     "needs a number of seconds (digits only, at most 60)");
    ck_assert_str_eq(agw_conf_seconds(&v, agw_test_pool, NULL, 60),
                     "needs a number of seconds (digits only, at most 60)");
    ck_assert_int_eq(v, 99);
}
END_TEST

/* ---- Auth0TokenFrom ----------------------------------------------------------------- */

static void src_ok(const char *arg, agw_src_kind_e kind, const char *name, int bearer)
{
    agw_token_src_t src = { 0 };

    ck_assert_ptr_null(agw_conf_token_from(&src, agw_test_pool, arg));
    ck_assert_int_eq(src.kind, kind);
    ck_assert_str_eq(src.name, name);
    ck_assert_int_eq(src.bearer, bearer);
}

static const char *src_err(const char *arg)
{
    agw_token_src_t src = { 0 };
    const char *msg = agw_conf_token_from(&src, agw_test_pool, arg);

    ck_assert_int_eq(src.kind, 0);
    return msg ? msg : "(accepted)";
}

START_TEST(token_from)
{
    char *longname;

    src_ok("header", AGW_SRC_HEADER, "Authorization", 1);
    src_ok("Header", AGW_SRC_HEADER, "Authorization", 1);
    src_ok("header=X-Access-Token", AGW_SRC_HEADER, "X-Access-Token", 0);
    src_ok("header=authorization", AGW_SRC_HEADER, "authorization", 1);
    src_ok("cookie=access_token", AGW_SRC_COOKIE, "access_token", 0);
    src_ok("query=access_token", AGW_SRC_QUERY, "access_token", 0);
    src_ok("query=t", AGW_SRC_QUERY, "t", 0);
    src_ok("cookie=__Host-at", AGW_SRC_COOKIE, "__Host-at", 0);

    ck_assert_str_eq(src_err("header="), "header= needs a name, e.g. header=X-Access-Token");
    ck_assert_str_eq(src_err("cookie="), "cookie= needs a name, e.g. cookie=access_token");
    ck_assert_str_eq(src_err("query="), "query= needs a name, e.g. query=access_token");
    ck_assert_str_eq(src_err("cookie=a b"),
                     "cookie name 'a b' has a character not allowed in a name: "
                     "use letters, digits and !#$%&'*+-.^_`|~");
    ck_assert_str_eq(src_err("query=a=b"),
                     "query name 'a=b' has a character not allowed in a name: "
                     "use letters, digits and !#$%&'*+-.^_`|~");
    ck_assert_str_eq(src_err("header=X:Y"),
                     "header name 'X:Y' has a character not allowed in a name: "
                     "use letters, digits and !#$%&'*+-.^_`|~");
    ck_assert_str_eq(src_err("header=X\r\nInjected: 1"),
                     "header name 'X??Injected: 1' has a character not allowed in a name: "
                     "use letters, digits and !#$%&'*+-.^_`|~");
    ck_assert_str_eq(src_err("cookie=a;b"),
                     "cookie name 'a;b' has a character not allowed in a name: "
                     "use letters, digits and !#$%&'*+-.^_`|~");
    ck_assert_str_eq(src_err("bearer"), "unknown token source 'bearer': use header, "
                                        "header=NAME, cookie=NAME or query=NAME");
    ck_assert_str_eq(src_err("headers"), "unknown token source 'headers': use header, "
                                         "header=NAME, cookie=NAME or query=NAME");
    ck_assert_str_eq(src_err("form=x"), "unknown token source 'form=x': use header, "
                                        "header=NAME, cookie=NAME or query=NAME");
    ck_assert_str_eq(src_err(""), "unknown token source '': use header, header=NAME, "
                                  "cookie=NAME or query=NAME");
    longname = apr_palloc(agw_test_pool, 300 + 8);
    strcpy(longname, "cookie=");
    memset(longname + 7, 'a', 300);
    longname[307] = '\0';
    ck_assert_str_eq(src_err(longname), "cookie name is too long (at most 256 characters)");
}
END_TEST

/* ---- secrets ------------------------------------------------------------------------ */

static char tmpdir[256];

static void secret_setup(void)
{
    agw_test_pool_setup();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/agw_conf_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void secret_teardown(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    agw_test_pool_teardown();
}

static const char *write_file(const char *name, const char *data, size_t len)
{
    const char *path = apr_pstrcat(agw_test_pool, tmpdir, "/", name, NULL);
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

/* Parses arg; on success checks the secret and its length, on error returns the message. */
static const char *secret(const char *arg, int allow_literal, const char *want, size_t want_len,
                          int want_literal)
{
    const char *s = NULL;
    apr_size_t len = 0;
    int literal = -1;
    const char *msg = agw_conf_secret(&s, &len, &literal, agw_test_pool, arg, allow_literal);

    if (msg) {
        ck_assert_ptr_null(s);
        ck_assert_int_eq(literal, -1);
        return msg;
    }
    ck_assert_ptr_nonnull(want);
    ck_assert_uint_eq(len, want_len);
    ck_assert(memcmp(s, want, want_len) == 0);
    ck_assert_int_eq(s[len], '\0');
    ck_assert_int_eq(literal, want_literal);
    return NULL;
}

START_TEST(secret_files)
{
    const char *path, *msg;
    char *big;

    path = write_file("a", "s3cret\r\n", 8);
    ck_assert_ptr_null(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, "s3cret", 6, 0));
    ck_assert_ptr_null(secret(apr_pstrcat(agw_test_pool, "FILE:", path, NULL), 1, "s3cret", 6, 0));
    path = write_file("b", "line1\nline2\n\n\r\n", 15);
    ck_assert_ptr_null(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0,
                              "line1\nline2", 11, 0));
    /* Binary secrets (HMAC keys) keep their bytes, NUL included; trailing spaces are data. */
    path = write_file("c", "a\0b \n", 5);
    ck_assert_ptr_null(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, "a\0b ", 4, 0));

    path = write_file("empty", "", 0);
    ck_assert_str_eq(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, NULL, 0, 0),
                     apr_psprintf(agw_test_pool, "secret file %s is empty: put the secret in it",
                                  path));
    path = write_file("newlines", "\r\n\n", 3);
    ck_assert_str_eq(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, NULL, 0, 0),
                     apr_psprintf(agw_test_pool, "secret file %s is empty: put the secret in it",
                                  path));

    path = apr_pstrcat(agw_test_pool, tmpdir, "/missing", NULL);
    ck_assert_str_eq(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, NULL, 0, 0),
                     apr_psprintf(agw_test_pool, "cannot read secret file %s: No such file or "
                                  "directory; check the path and that the user starting Apache "
                                  "can read it", path));
    ck_assert_str_eq(secret(apr_pstrcat(agw_test_pool, "file:", tmpdir, NULL), 0, NULL, 0, 0),
                     apr_psprintf(agw_test_pool, "cannot read secret file %s: Is a directory; "
                                  "it must be a readable regular file", tmpdir));
    ck_assert_str_eq(secret("file:", 1, NULL, 0, 0),
                     "file: needs a path, e.g. file:/etc/apache2/auth0/client.secret");

    /* Size bound: exactly 64 KiB is fine, one byte more is not, and the content never shows. */
    big = apr_palloc(agw_test_pool, 65537);
    memset(big, 'Z', 65537);
    path = write_file("max", big, 65536);
    ck_assert_ptr_null(secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, big, 65536, 0));
    path = write_file("toolarge", big, 65537);
    msg = secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, NULL, 0, 0);
    ck_assert_str_eq(msg, apr_psprintf(agw_test_pool, "secret file %s is larger than 65536 "
                                       "bytes: it should hold only the secret", path));
    ck_assert_ptr_null(strstr(msg, "ZZ"));
    /* An endless file is read only up to the bound. */
    ck_assert_str_eq(secret("file:/dev/zero", 0, NULL, 0, 0),
                     "secret file /dev/zero is larger than 65536 bytes: it should hold only "
                     "the secret");
}
END_TEST

START_TEST(secret_file_permissions)
{
    const char *path = write_file("private", "TOPSECRET\n", 10), *msg;

    if (geteuid() == 0)
        return;                 /* root reads mode-000 files: nothing to observe */
    ck_assert_int_eq(chmod(path, 0), 0);
    msg = secret(apr_pstrcat(agw_test_pool, "file:", path, NULL), 0, NULL, 0, 0);
    ck_assert_str_eq(msg, apr_psprintf(agw_test_pool, "cannot read secret file %s: Permission "
                                       "denied; check the path and that the user starting "
                                       "Apache can read it", path));
}
END_TEST

START_TEST(secret_env)
{
    setenv("AGW_TEST_SECRET", "from-env\r\n", 1);
    setenv("AGW_TEST_EMPTY", "\n", 1);
    unsetenv("AGW_TEST_UNSET");

    ck_assert_ptr_null(secret("env:AGW_TEST_SECRET", 0, "from-env", 8, 0));
    ck_assert_ptr_null(secret("Env:AGW_TEST_SECRET", 1, "from-env", 8, 0));
    ck_assert_str_eq(secret("env:AGW_TEST_UNSET", 0, NULL, 0, 0),
                     "environment variable AGW_TEST_UNSET is not set: export it where Apache "
                     "is started (e.g. /etc/apache2/envvars)");
    ck_assert_str_eq(secret("env:AGW_TEST_EMPTY", 0, NULL, 0, 0),
                     "environment variable AGW_TEST_EMPTY is empty: put the secret in it");
    ck_assert_str_eq(secret("env:", 0, NULL, 0, 0),
                     "env: needs an environment variable name (letters, digits, _), "
                     "e.g. env:AUTH0_CLIENT_SECRET; got 'env:'");
    ck_assert_str_eq(secret("env:1ABC", 0, NULL, 0, 0),
                     "env: needs an environment variable name (letters, digits, _), "
                     "e.g. env:AUTH0_CLIENT_SECRET; got 'env:1ABC'");
    ck_assert_str_eq(secret("env:A-B", 0, NULL, 0, 0),
                     "env: needs an environment variable name (letters, digits, _), "
                     "e.g. env:AUTH0_CLIENT_SECRET; got 'env:A-B'");
    ck_assert_str_eq(secret("env:A=B", 0, NULL, 0, 0),
                     "env: needs an environment variable name (letters, digits, _), "
                     "e.g. env:AUTH0_CLIENT_SECRET; got 'env:A=B'");
    unsetenv("AGW_TEST_SECRET");
    unsetenv("AGW_TEST_EMPTY");
}
END_TEST

START_TEST(secret_literal)
{
    const char *msg;
    const char *s = NULL;

    ck_assert_ptr_null(secret("Xy12-literal secret\n", 1, "Xy12-literal secret\n", 20, 1));
    msg = secret("Xy12-literal", 0, NULL, 0, 0);
    ck_assert_str_eq(msg, "must be file:PATH or env:VAR (a literal secret is not accepted here)");
    ck_assert_str_eq(secret("", 1, NULL, 0, 0), "the secret is empty: use file:PATH or env:VAR");
    ck_assert_str_eq(secret("", 0, NULL, 0, 0),
                     "must be file:PATH or env:VAR (a literal secret is not accepted here)");
    /* Out-parameters may be NULL. */
    ck_assert_ptr_null(agw_conf_secret(&s, NULL, NULL, agw_test_pool, "abc", 1));
    ck_assert_str_eq(s, "abc");
}
END_TEST

/* ---- URLs --------------------------------------------------------------------------- */

START_TEST(urls)
{
    apr_pool_t *p = agw_test_pool;
    char *longurl;

    ck_assert_ptr_null(agw_conf_url(p, "https://tenant.eu.auth0.com/.well-known/jwks.json", 0, 0));
    ck_assert_ptr_null(agw_conf_url(p, "HTTPS://tenant.eu.auth0.com/oauth/token", 0, 0));
    ck_assert_ptr_null(agw_conf_url(p, "https://[::1]:8443/jwks", 0, 0));
    ck_assert_ptr_null(agw_conf_url(p, "https://host/path@not-userinfo", 0, 0));
    ck_assert_ptr_null(agw_conf_url(p, "http://127.0.0.1:8080/jwks", 1, 0));
    ck_assert_ptr_null(agw_conf_url(p, "file:/etc/apache2/jwks.json", 0, 1));
    ck_assert_ptr_null(agw_conf_url(p, "file:/etc/apache2/jwks.json", 1, 1));

    ck_assert_str_eq(agw_conf_url(p, "http://127.0.0.1:8080/jwks", 0, 1),
                     "an http:// URL is not protected by TLS: use https://, or set "
                     "Auth0InsecureHTTP On for development only");
    ck_assert_str_eq(agw_conf_url(p, "HTTP://issuer/jwks", 0, 0),
                     "an http:// URL is not protected by TLS: use https://, or set "
                     "Auth0InsecureHTTP On for development only");
    ck_assert_str_eq(agw_conf_url(p, "file:/etc/jwks.json", 1, 0),
                     "file: is not accepted here: use an https:// URL");
    ck_assert_str_eq(agw_conf_url(p, "file:", 0, 1),
                     "file: needs a path, e.g. file:/etc/apache2/auth0/jwks.json");
    ck_assert_str_eq(agw_conf_url(p, "ftp://host/jwks", 0, 1),
                     "'ftp://host/jwks' is not an https:// URL (or file:PATH)");
    ck_assert_str_eq(agw_conf_url(p, "tenant.eu.auth0.com", 0, 0),
                     "'tenant.eu.auth0.com' is not an https:// URL");
    ck_assert_str_eq(agw_conf_url(p, "https:/host", 0, 0), "'https:/host' is not an https:// URL");
    ck_assert_str_eq(agw_conf_url(p, "https://", 0, 0), "'https://' has no host name");
    ck_assert_str_eq(agw_conf_url(p, "https:///jwks", 0, 0), "'https:///jwks' has no host name");
    ck_assert_str_eq(agw_conf_url(p, "http://?x", 1, 0), "'http://?x' has no host name");
    ck_assert_str_eq(agw_conf_url(p, "https://user:pw@host/token", 0, 0),
                     "a URL must not carry user:password@: use Auth0ClientSecret for credentials");
    ck_assert_str_eq(agw_conf_url(p, "https://host/a b", 0, 0),
                     "'https://host/a b' has a space or control character: percent-encode it");
    ck_assert_str_eq(agw_conf_url(p, "https://host/\r\nX: y", 0, 0),
                     "'https://host/??X: y' has a space or control character: percent-encode it");
    ck_assert_str_eq(agw_conf_url(p, "https://h\xc3\xa9st/", 0, 0),
                     "'https://h??st/' has a space or control character: percent-encode it");
    ck_assert_str_eq(agw_conf_url(p, "", 0, 0), "needs an https:// URL");
    ck_assert_str_eq(agw_conf_url(p, NULL, 0, 1), "needs an https:// URL or file:PATH");
    longurl = apr_palloc(p, 3000);
    memcpy(longurl, "https://h/", 10);
    memset(longurl + 10, 'a', 2989);
    longurl[2999] = '\0';
    ck_assert_str_eq(agw_conf_url(p, longurl, 0, 0), "URL is too long (at most 2048 characters)");
    /* A long bad URL is repeated only in part. */
    longurl[2000] = '\0';
    longurl[4] = 'x';
    ck_assert_str_eq(agw_conf_url(p, longurl, 0, 0),
                     apr_psprintf(p, "'%.64s...' is not an https:// URL", longurl));
}
END_TEST

/* ---- keywords -------------------------------------------------------------------------- */

static const agw_conf_word_t modes[] = {
    { "enforce", 10 }, { "optional", 11 }, { "report-only", 12 }, { NULL, 0 }
};

START_TEST(keywords)
{
    static const agw_conf_word_t two[] = { { "on", 1 }, { "off", 0 }, { NULL, 0 } };
    static const agw_conf_word_t one[] = { { "only", 7 }, { NULL, 0 } };
    const char *give = "give enforce, optional or report-only";
    int v = -1;

    ck_assert_ptr_null(agw_conf_keyword(&v, agw_test_pool, "enforce", modes, "a mode"));
    ck_assert_int_eq(v, 10);
    ck_assert_ptr_null(agw_conf_keyword(&v, agw_test_pool, "report-only", modes, "a mode"));
    ck_assert_int_eq(v, 12);
    /* any case, as Apache's own keywords (On/Off) */
    ck_assert_ptr_null(agw_conf_keyword(&v, agw_test_pool, "OPTIONAL", modes, "a mode"));
    ck_assert_int_eq(v, 11);
    ck_assert_ptr_null(agw_conf_keyword(&v, agw_test_pool, "Report-Only", modes, "a mode"));
    ck_assert_int_eq(v, 12);

    /* refused: *out untouched, the keywords offered in table order */
    v = -1;
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "audit", modes, "a mode"),
                     apr_pstrcat(agw_test_pool, "'audit' is not a mode; ", give, NULL));
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "", modes, "a mode"),
                     apr_pstrcat(agw_test_pool, "'' is not a mode; ", give, NULL));
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, NULL, modes, "a mode"),
                     apr_pstrcat(agw_test_pool, "'' is not a mode; ", give, NULL));
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "enforce ", modes, "a mode"),
                     apr_pstrcat(agw_test_pool, "'enforce ' is not a mode; ", give, NULL));
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "enforc", modes, "a mode"),
                     apr_pstrcat(agw_test_pool, "'enforc' is not a mode; ", give, NULL));
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "report_only", modes, "a mode"),
                     apr_pstrcat(agw_test_pool, "'report_only' is not a mode; ", give, NULL));
    ck_assert_int_eq(v, -1);
    /* what is echoed is bounded and printable */
    {
        char *longarg = apr_pcalloc(agw_test_pool, 5001);
        const char *err;
        memset(longarg, 'x', 5000);
        err = agw_conf_keyword(&v, agw_test_pool, longarg, modes, "a mode");
        ck_assert_ptr_nonnull(err);
        ck_assert_uint_lt(strlen(err), 200);
        err = agw_conf_keyword(&v, agw_test_pool, "off\n\x1b[31m", modes, "a mode");
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_null(strchr(err, '\n'));
        ck_assert_ptr_null(strchr(err, '\x1b'));
        ck_assert_int_eq(v, -1);
    }

    /* the list reads right for two keywords and for one */
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "maybe", two, "a switch"),
                     "'maybe' is not a switch; give on or off");
    ck_assert_str_eq(agw_conf_keyword(&v, agw_test_pool, "x", one, "it"),
                     "'x' is not it; give only");
    ck_assert_ptr_null(agw_conf_keyword(&v, agw_test_pool, "Off", two, "a switch"));
    ck_assert_int_eq(v, 0);
}
END_TEST

Suite *agw_suite_conf(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("parsers");
    TCase *ts = tcase_create("secrets");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, algorithms_accepted);
    tcase_add_test(tc, algorithms_refused);
    tcase_add_test(tc, seconds);
    tcase_add_test(tc, token_from);
    tcase_add_test(tc, keywords);
    tcase_add_test(tc, urls);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(ts, secret_setup, secret_teardown);
    tcase_add_test(ts, secret_files);
    tcase_add_test(ts, secret_file_permissions);
    tcase_add_test(ts, secret_env);
    tcase_add_test(ts, secret_literal);
    suite_add_tcase(s, ts);
    return s;
}
