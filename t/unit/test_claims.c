/* Unit tests of claim paths (literal, namespaced, dotted, JSON Pointer) and scope/role/value matching. */
#include <string.h>
#include "tests.h"
#include "agw_json.h"
#include "agw_jwt.h"

static const char *doc_text =
    "{"
    "\"sub\":\"auth0|123\","
    "\"https://example.com/roles\":[\"admin\",\"ops\"],"
    "\"https://example.com/tenant\":{\"id\":\"t1\"},"
    "\"realm_access\":{\"roles\":[\"reader\",\"writer\"],\"level\":{\"n\":3}},"
    "\"a.b\":\"literal\","
    "\"a\":{\"b\":\"nested\"},"
    "\"x\":{\"y\":[{\"z\":1}]},"
    "\"a/b\":\"slash\","
    "\"m~n\":\"tilde\","
    "\"~1\":\"tilde-one\","
    "\"\":\"empty-name\","
    "\"arr\":[\"zero\",\"one\",\"two\"],"
    "\"scope\":\"read:orders  write:orders openid\","
    "\"permissions\":[\"read:orders\",\"delete orders\"]"
    "}";

static json_t *doc(void)
{
    json_t *j = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, doc_text, strlen(doc_text),
                                    AGW_JSON_MAX_DEPTH, &err), APR_SUCCESS);
    return j;
}

static json_t *val(const char *text)
{
    json_t *j = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text), AGW_JSON_MAX_DEPTH,
                                    &err), APR_SUCCESS);
    return j;
}

static json_t *get(const char *path)
{
    const char *perr = NULL;
    agw_claim_path_t *cp = agw_claim_path_compile(agw_test_pool, path, &perr);

    ck_assert_msg(cp != NULL, "path '%s' refused: %s", path, perr ? perr : "(null)");
    ck_assert_str_eq(agw_claim_path_text(cp), path);
    return agw_claim_path_get(cp, doc());
}

/* The value at path, as agw_json_text renders it, or "(none)". */
static const char *text_at(const char *path)
{
    json_t *v = get(path);

    return v ? agw_json_text(agw_test_pool, v) : "(none)";
}

START_TEST(literal_and_namespaced)
{
    ck_assert_str_eq(text_at("sub"), "auth0|123");
    ck_assert_str_eq(text_at("https://example.com/roles"), "admin,ops");
    ck_assert_str_eq(text_at("https://example.com/tenant"), "{\"id\":\"t1\"}");
    /* Absent namespaced claim: the dot walk finds nothing either. */
    ck_assert_str_eq(text_at("https://example.org/roles"), "(none)");
    /* Literal name wins over the dot walk. */
    ck_assert_str_eq(text_at("a.b"), "literal");
    ck_assert_str_eq(text_at("a/b"), "slash");
    ck_assert_str_eq(text_at("missing"), "(none)");
    ck_assert_str_eq(text_at("SUB"), "(none)");
}
END_TEST

START_TEST(dot_walk)
{
    ck_assert_str_eq(text_at("realm_access.roles"), "reader,writer");
    ck_assert_str_eq(text_at("realm_access.level.n"), "3");
    ck_assert_str_eq(text_at("realm_access.level.n.deeper"), "(none)");
    ck_assert_str_eq(text_at("realm_access.missing"), "(none)");
    /* Objects only: the dot walk does not index arrays. */
    ck_assert_str_eq(text_at("arr.0"), "(none)");
    ck_assert_str_eq(text_at("x.y.z"), "(none)");
    /* Empty segments name nothing. */
    ck_assert_str_eq(text_at("realm_access..roles"), "(none)");
    ck_assert_str_eq(text_at(".realm_access"), "(none)");
    ck_assert_str_eq(text_at("realm_access."), "(none)");
    ck_assert_str_eq(text_at("."), "(none)");
}
END_TEST

START_TEST(json_pointer)
{
    ck_assert_str_eq(text_at("/sub"), "auth0|123");
    ck_assert_str_eq(text_at("/realm_access/roles"), "reader,writer");
    ck_assert_str_eq(text_at("/realm_access/roles/1"), "writer");
    ck_assert_str_eq(text_at("/x/y/0/z"), "1");
    ck_assert_str_eq(text_at("/arr/0"), "zero");
    ck_assert_str_eq(text_at("/arr/2"), "two");
    ck_assert_str_eq(text_at("/a~1b"), "slash");
    ck_assert_str_eq(text_at("/m~0n"), "tilde");
    /* ~01 is "~1" (unescape ~1 first would wrongly give "/"). */
    ck_assert_str_eq(text_at("/~01"), "tilde-one");
    ck_assert_str_eq(text_at("/"), "empty-name");
    /* A pointer is only a pointer: "/a.b" names the member "a.b", it is not dot-walked. */
    ck_assert_str_eq(text_at("/a.b"), "literal");
    ck_assert_str_eq(text_at("/a/b"), "nested");
    ck_assert_str_eq(text_at("/https:~1~1example.com~1roles/1"), "ops");
    /* Array indexes: canonical decimal, in range. */
    ck_assert_str_eq(text_at("/arr/3"), "(none)");
    ck_assert_str_eq(text_at("/arr/-"), "(none)");
    ck_assert_str_eq(text_at("/arr/01"), "(none)");
    ck_assert_str_eq(text_at("/arr/+1"), "(none)");
    ck_assert_str_eq(text_at("/arr/1a"), "(none)");
    ck_assert_str_eq(text_at("/arr/"), "(none)");
    ck_assert_str_eq(text_at("/arr/99999999999999999999999999999"), "(none)");
    ck_assert_str_eq(text_at("/arr/18446744073709551617"), "(none)");
    ck_assert_str_eq(text_at("/sub/0"), "(none)");
    ck_assert_str_eq(text_at("/realm_access/roles/0/x"), "(none)");
}
END_TEST

START_TEST(compile_errors)
{
    const char *perr = NULL;
    char *longpath;

    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, "", &perr));
    ck_assert_str_eq(perr, "empty claim path");
    perr = NULL;
    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, NULL, &perr));
    ck_assert_str_eq(perr, "empty claim path");
    perr = NULL;
    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, "/a~2b", &perr));
    ck_assert_str_eq(perr, "bad ~ escape in JSON Pointer: write ~0 for ~ and ~1 for /");
    perr = NULL;
    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, "/a~", &perr));
    ck_assert_str_eq(perr, "bad ~ escape in JSON Pointer: write ~0 for ~ and ~1 for /");
    perr = NULL;
    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, "/ok/~x", &perr));
    ck_assert_ptr_nonnull(perr);
    longpath = apr_palloc(agw_test_pool, 2000);
    memset(longpath, 'a', 1999);
    longpath[1999] = '\0';
    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, longpath, &perr));
    ck_assert_str_eq(perr, "claim path too long");
    /* ~ outside a pointer is just a character of the name. */
    ck_assert_ptr_nonnull(agw_claim_path_compile(agw_test_pool, "m~n", &perr));
    ck_assert_str_eq(text_at("m~n"), "tilde");
    /* NULL error pointer is tolerated. */
    ck_assert_ptr_null(agw_claim_path_compile(agw_test_pool, "", NULL));
    ck_assert_ptr_null(agw_claim_path_get(NULL, doc()));
    ck_assert_ptr_null(agw_claim_path_get(agw_claim_path_compile(agw_test_pool, "sub", NULL),
                                          NULL));
    ck_assert_ptr_null(agw_claim_path_get(agw_claim_path_compile(agw_test_pool, "0", NULL),
                                          val("[1]")));
}
END_TEST

START_TEST(has_word)
{
    json_t *scope = get("scope"), *perms = get("permissions");

    ck_assert_int_eq(agw_claim_has_word(scope, "read:orders"), 1);
    ck_assert_int_eq(agw_claim_has_word(scope, "write:orders"), 1);
    ck_assert_int_eq(agw_claim_has_word(scope, "openid"), 1);
    /* Whole words only. */
    ck_assert_int_eq(agw_claim_has_word(scope, "read"), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, "orders"), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, "open"), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, "openidx"), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, "READ:ORDERS"), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, "read:orders  write:orders"), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, ""), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, " "), 0);
    ck_assert_int_eq(agw_claim_has_word(scope, NULL), 0);
    /* Arrays: each element is one word, compared whole. */
    ck_assert_int_eq(agw_claim_has_word(perms, "read:orders"), 1);
    ck_assert_int_eq(agw_claim_has_word(perms, "delete orders"), 1);
    ck_assert_int_eq(agw_claim_has_word(perms, "delete"), 0);
    ck_assert_int_eq(agw_claim_has_word(perms, "read:order"), 0);
    /* Only spaces separate; tabs and newlines are part of a word. */
    ck_assert_int_eq(agw_claim_has_word(val("\"a\\tb\""), "a"), 0);
    ck_assert_int_eq(agw_claim_has_word(val("\"a\\nb c\""), "c"), 1);
    ck_assert_int_eq(agw_claim_has_word(val("\"   \""), ""), 0);
    ck_assert_int_eq(agw_claim_has_word(val("\"solo\""), "solo"), 1);
    /* Non-strings never hold words. */
    ck_assert_int_eq(agw_claim_has_word(val("[1,true,null,[\"x\"],{\"x\":1}]"), "1"), 0);
    ck_assert_int_eq(agw_claim_has_word(val("[1,true,null,[\"x\"],{\"x\":1}]"), "x"), 0);
    ck_assert_int_eq(agw_claim_has_word(val("[1,true,null,[\"x\"],{\"x\":1}]"), "true"), 0);
    ck_assert_int_eq(agw_claim_has_word(val("42"), "42"), 0);
    ck_assert_int_eq(agw_claim_has_word(val("{\"read\":1}"), "read"), 0);
    ck_assert_int_eq(agw_claim_has_word(val("null"), "null"), 0);
    ck_assert_int_eq(agw_claim_has_word(NULL, "read"), 0);
    /* Roles in Auth0's namespaced claim. */
    ck_assert_int_eq(agw_claim_has_word(get("https://example.com/roles"), "admin"), 1);
    ck_assert_int_eq(agw_claim_has_word(get("https://example.com/roles"), "adm"), 0);
}
END_TEST

START_TEST(equals)
{
    ck_assert_int_eq(agw_claim_equals(val("\"admin\""), "admin"), 1);
    ck_assert_int_eq(agw_claim_equals(val("\"admin\""), "Admin"), 0);
    ck_assert_int_eq(agw_claim_equals(val("\"admin\""), "admin "), 0);
    ck_assert_int_eq(agw_claim_equals(val("\"admin\""), "adm"), 0);
    ck_assert_int_eq(agw_claim_equals(val("\"\""), ""), 1);
    ck_assert_int_eq(agw_claim_equals(val("\"42\""), "42"), 1);
    ck_assert_int_eq(agw_claim_equals(val("true"), "true"), 1);
    ck_assert_int_eq(agw_claim_equals(val("true"), "1"), 0);
    ck_assert_int_eq(agw_claim_equals(val("true"), "True"), 0);
    ck_assert_int_eq(agw_claim_equals(val("false"), "false"), 1);
    ck_assert_int_eq(agw_claim_equals(val("false"), "true"), 0);
    ck_assert_int_eq(agw_claim_equals(val("false"), ""), 0);
    ck_assert_int_eq(agw_claim_equals(val("42"), "42"), 1);
    ck_assert_int_eq(agw_claim_equals(val("42"), "42.0"), 0);
    ck_assert_int_eq(agw_claim_equals(val("42"), "042"), 0);
    ck_assert_int_eq(agw_claim_equals(val("42"), "4"), 0);
    ck_assert_int_eq(agw_claim_equals(val("-7"), "-7"), 1);
    ck_assert_int_eq(agw_claim_equals(val("9223372036854775807"), "9223372036854775807"), 1);
    ck_assert_int_eq(agw_claim_equals(val("1.5"), "1.5"), 1);
    ck_assert_int_eq(agw_claim_equals(val("1.5"), "1.50"), 0);
    ck_assert_int_eq(agw_claim_equals(val("0.1"), "0.1"), 1);
    /* null and objects never match, whatever the text. */
    ck_assert_int_eq(agw_claim_equals(val("null"), "null"), 0);
    ck_assert_int_eq(agw_claim_equals(val("null"), ""), 0);
    ck_assert_int_eq(agw_claim_equals(val("{}"), "{}"), 0);
    ck_assert_int_eq(agw_claim_equals(val("{\"a\":1}"), "{\"a\":1}"), 0);
    /* Arrays: contain-match, one level. */
    ck_assert_int_eq(agw_claim_equals(val("[\"a\",42,true]"), "a"), 1);
    ck_assert_int_eq(agw_claim_equals(val("[\"a\",42,true]"), "42"), 1);
    ck_assert_int_eq(agw_claim_equals(val("[\"a\",42,true]"), "true"), 1);
    ck_assert_int_eq(agw_claim_equals(val("[\"a\",42,true]"), "b"), 0);
    ck_assert_int_eq(agw_claim_equals(val("[\"a\",42,true]"), "a,42,true"), 0);
    ck_assert_int_eq(agw_claim_equals(val("[[\"a\"]]"), "a"), 0);
    ck_assert_int_eq(agw_claim_equals(val("[null]"), "null"), 0);
    ck_assert_int_eq(agw_claim_equals(val("[{}]"), "{}"), 0);
    ck_assert_int_eq(agw_claim_equals(val("[]"), ""), 0);
    ck_assert_int_eq(agw_claim_equals(NULL, "x"), 0);
    ck_assert_int_eq(agw_claim_equals(val("\"x\""), NULL), 0);
    /* Space-separated strings are not split for equality. */
    ck_assert_int_eq(agw_claim_equals(get("scope"), "openid"), 0);
    ck_assert_int_eq(agw_claim_equals(get("https://example.com/roles"), "ops"), 1);
    ck_assert_int_eq(agw_claim_equals(get("realm_access.level.n"), "3"), 1);
}
END_TEST

Suite *agw_suite_claims(void)
{
    Suite *s = suite_create("claims");
    TCase *tc = tcase_create("paths");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, literal_and_namespaced);
    tcase_add_test(tc, dot_walk);
    tcase_add_test(tc, json_pointer);
    tcase_add_test(tc, compile_errors);
    tcase_add_test(tc, has_word);
    tcase_add_test(tc, equals);
    suite_add_tcase(s, tc);
    return s;
}
