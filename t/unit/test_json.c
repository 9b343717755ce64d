/* Unit tests of the JSON layer: limits (duplicates, depth, NUL, UTF-8, trailing data), accessors, claim text. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "agw_json.h"

static json_t *parse_ok(const char *text)
{
    json_t *j = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = agw_json_parse(&j, agw_test_pool, text, strlen(text), 0, &err);

    ck_assert_msg(rv == APR_SUCCESS, "refused %s: %s", text, err.reason);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void parse_refused_len(const char *text, apr_size_t len, int depth, const char *reason)
{
    json_t *j = (json_t *)"sentinel";
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, len, depth, &err), APR_EINVAL);
    ck_assert_ptr_null(j);
    ck_assert_str_eq(err.code, AGW_E_INVALID_TOKEN);
    ck_assert_str_eq(err.reason, reason);
}

static void parse_refused(const char *text, const char *reason)
{
    parse_refused_len(text, strlen(text), 0, reason);
}

static char *nested(char open, char close, int depth)
{
    char *s = apr_palloc(agw_test_pool, (apr_size_t)depth * 2 + 1);
    int i;

    for (i = 0; i < depth; i++) {
        s[i] = open;
        s[depth * 2 - 1 - i] = close;
    }
    s[depth * 2] = '\0';
    return s;
}

/* depth levels of {"a":...} around a 1. */
static char *nested_objects(int depth)
{
    char *s = "1";
    int i;

    for (i = 0; i < depth; i++)
        s = apr_pstrcat(agw_test_pool, "{\"a\":", s, "}", NULL);
    return s;
}

START_TEST(parses_values)
{
    json_t *j = parse_ok("{\"iss\":\"x\",\"n\":[1,2.5,true,null],\"o\":{}}");

    ck_assert(json_is_object(j));
    ck_assert_int_eq(json_object_size(j), 3);
    ck_assert(json_is_integer(parse_ok("42")));
    ck_assert(json_is_string(parse_ok("\"s\"")));
    ck_assert(json_is_true(parse_ok("true")));
    ck_assert(json_is_null(parse_ok("null")));
    ck_assert(json_is_array(parse_ok(" [ ] \n")));
    ck_assert_str_eq(json_string_value(parse_ok("\"\\u00e9\\ud83d\\ude00\"")),
                     "\xc3\xa9\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(parses_exactly_len)
{
    json_t *j = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, "{}garbage", 2, 0, &err), APR_SUCCESS);
    ck_assert(json_is_object(j));
    parse_refused_len("{}garbage", 3, 0, "JSON: trailing data");
    parse_refused_len("{\"a\":1}", 6, 0, "JSON: truncated");
}
END_TEST

START_TEST(duplicate_names_refused)
{
    parse_refused("{\"a\":1,\"a\":2}", "JSON: duplicate member name");
    parse_refused("{\"alg\":\"RS256\",\"alg\":\"none\"}", "JSON: duplicate member name");
    parse_refused("{\"a\":1,\"a\":1}", "JSON: duplicate member name");
    parse_refused("{\"x\":{\"b\":1,\"b\":2}}", "JSON: duplicate member name");
    parse_refused("[{},{\"k\":[{\"z\":0,\"z\":0}]}]", "JSON: duplicate member name");
    /* The same name spelled with an escape is the same name. */
    parse_refused("{\"alg\":1,\"\\u0061lg\":2}", "JSON: duplicate member name");
    /* The same name at different places is fine. */
    parse_ok("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}");
}
END_TEST

START_TEST(depth_limit)
{
    parse_ok(nested('[', ']', AGW_JSON_MAX_DEPTH));
    parse_refused(nested('[', ']', AGW_JSON_MAX_DEPTH + 1), "JSON: nesting too deep");
    parse_ok(nested_objects(AGW_JSON_MAX_DEPTH));
    parse_refused(nested_objects(AGW_JSON_MAX_DEPTH + 1), "JSON: nesting too deep");
    /* Depth is depth, not count: many siblings at depth 2 are fine. */
    parse_ok("[[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[]]");
    /* A caller's own limit; 0 means the default. */
    parse_refused_len("[[1]]", 5, 1, "JSON: nesting too deep");
    {
        json_t *j;
        agw_err_t err = { NULL, NULL, AGW_R_NONE };
        ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, "[1]", 3, 1, &err), APR_SUCCESS);
        ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, "7", 1, 1, &err), APR_SUCCESS);
    }
}
END_TEST

/* Far beyond jansson's own limit: refused by the pre-scan, fast, without deep recursion. */
START_TEST(hostile_depth_never_reaches_parser)
{
    parse_refused(nested('[', ']', 200000), "JSON: nesting too deep");
    parse_refused(nested('{', '}', 5000), "JSON: nesting too deep");
    /* Unbalanced: only openings. */
    {
        char *s = apr_palloc(agw_test_pool, 100001);
        memset(s, '[', 100000);
        s[100000] = '\0';
        parse_refused(s, "JSON: nesting too deep");
    }
}
END_TEST

/* Brackets inside strings are text; an escaped quote does not end a string; an escaped
 * backslash before a quote does. */
START_TEST(depth_scan_respects_strings)
{
    char *deep_in_string = apr_pstrcat(agw_test_pool, "[\"", nested('[', ']', 40), "\"]", NULL);
    char *after_escaped_quote =
        apr_pstrcat(agw_test_pool, "[\"\\\"", nested('{', '}', 40), "\"]", NULL);
    char *after_escaped_backslash =
        apr_pstrcat(agw_test_pool, "[\"\\\\\",", nested('[', ']', 16), "]", NULL);

    parse_ok(deep_in_string);
    parse_ok(after_escaped_quote);
    parse_ok("{\"[[[[[[[[[[[[[[[[[[[[\":\"]]]]]]]]]]]]]]]]]]]]]]]]]\"}");
    /* "\\" ends the string: the 16 arrays after it count, plus the outer one. */
    parse_refused(after_escaped_backslash, "JSON: nesting too deep");
    /* A lone backslash at the very end must not read past len. */
    parse_refused_len("[\"\\", 3, 0, "JSON: syntax error");
}
END_TEST

START_TEST(nul_refused)
{
    parse_refused_len("{\"a\":\"x\0y\"}", 11, 0, "JSON: embedded NUL");
    parse_refused_len("{}\0", 3, 0, "JSON: embedded NUL");
    parse_refused_len("\0", 1, 0, "JSON: embedded NUL");
    parse_refused("\"\\u0000\"", "JSON: embedded NUL");
    parse_refused("{\"sub\":\"admin\\u0000evil\"}", "JSON: embedded NUL");
    parse_refused("{\"a\\u0000b\":1}", "JSON: embedded NUL");
}
END_TEST

START_TEST(invalid_utf8_refused)
{
    parse_refused("\"\xff\"", "JSON: invalid UTF-8");
    parse_refused("\"\xc0\xaf\"", "JSON: invalid UTF-8");          /* overlong '/' */
    parse_refused("\"\xed\xa0\x80\"", "JSON: invalid UTF-8");      /* UTF-16 surrogate */
    parse_refused("\"\xf4\x90\x80\x80\"", "JSON: invalid UTF-8");  /* above U+10FFFF */
    parse_refused("\"\xe2\x82\"", "JSON: invalid UTF-8");          /* truncated sequence */
    parse_refused("{\"\x80\":1}", "JSON: invalid UTF-8");
    /* A lone surrogate escape is not a character either. */
    parse_refused("\"\\ud800\"", "JSON: syntax error");
}
END_TEST

START_TEST(syntax_and_trailing_refused)
{
    parse_refused("{} x", "JSON: trailing data");
    parse_refused("{}{}", "JSON: trailing data");
    parse_refused("1 2", "JSON: trailing data");
    parse_refused("{a:1}", "JSON: syntax error");
    parse_refused("[1,]", "JSON: syntax error");
    parse_refused("{'a':1}", "JSON: syntax error");
    parse_refused("NaN", "JSON: syntax error");
    parse_refused("[Infinity]", "JSON: syntax error");
    parse_refused("\"a\x01\"", "JSON: syntax error");
    parse_refused("[\"\\x\"]", "JSON: syntax error");
    parse_refused("\xef\xbb\xbf{}", "JSON: syntax error"); /* no byte-order mark */
    parse_refused("{\"a\":", "JSON: truncated");
    parse_refused("   ", "JSON: truncated");
    parse_refused("1e400", "JSON: number out of range");
    parse_refused("[123456789012345678901234567890]", "JSON: number out of range");
    parse_refused_len("", 0, 0, "JSON: empty");
    parse_refused_len(NULL, 0, 0, "JSON: empty");
}
END_TEST

/* The fast reader: what it accepts equals jansson's reading; what it leaves to jansson. */
START_TEST(fast_reader_matches_jansson)
{
    static const char *const taken[] = {
        "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k-1\"}",
        "{\"iss\":\"https:\\/\\/x.example\\/\",\"aud\":[\"a\",\"b\"],\"exp\":1700000000}",
        "{\"n\":-9223372036854775808,\"m\":9223372036854775807,\"z\":-0,\"o\":0}",
        " { \"a\" : { \"b\" : [ 1 , 2 , { \"c\" : null } ] } , \"t\" : true , \"f\" : false } ",
        "{\"e\":\"\\u00e9\\u20ac\\n\\t\\\"\\\\\\b\\f\\r\\/\",\"\\u0041\":\"key escaped\"}",
        "[]", "{}", "\"s\"", "42", "[[],{}]",
    };
    static const char *const left[] = {
        "{\"r\":1.5}", "{\"r\":1e3}", "{\"big\":9223372036854775808}",
        "{\"small\":-9223372036854775809}", "{\"s\":\"\\ud83d\\ude00\"}",
        "{\"s\":\"\\u0000\"}", "{\"\xc3\xa9\":1}", "{\"a\":1,\"\\u0061\":2}", "{\"a\":01}",
        "{\"a\":1} x", "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{'a':1}", "tru", "nul", "-",
        "{\"a\":\"tab\there\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12G4\"}", "",
    };
    size_t i;

    for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        json_error_t jerr;
        json_t *ours = agw_json_fast(taken[i], strlen(taken[i]));
        json_t *theirs = json_loadb(taken[i], strlen(taken[i]),
                                    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        ck_assert_msg(ours != NULL, "fast reader gave up on %s", taken[i]);
        ck_assert_msg(theirs && json_equal(ours, theirs), "differs from jansson: %s", taken[i]);
        json_decref(ours);
        json_decref(theirs);
    }
    for (i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
        json_t *ours = agw_json_fast(left[i], strlen(left[i]));
        ck_assert_msg(ours == NULL, "fast reader took %s", left[i]);
    }
}
END_TEST

START_TEST(owned_by_pool)
{
    apr_pool_t *sub;
    json_t *j = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_ptr_null(agw_json_own(agw_test_pool, NULL));
    apr_pool_create(&sub, agw_test_pool);
    ck_assert_int_eq(agw_json_parse(&j, sub, "{\"a\":[1]}", 9, 0, &err), APR_SUCCESS);
    json_incref(j);
    ck_assert_int_eq(j->refcount, 2);
    apr_pool_destroy(sub);
    /* The pool's reference is gone; ours remains. */
    ck_assert_int_eq(j->refcount, 1);
    json_decref(j);
}
END_TEST

START_TEST(str_accessor)
{
    json_t *j = parse_ok("{\"s\":\"v\",\"n\":1,\"e\":\"\",\"o\":{\"s\":\"inner\"}}");

    ck_assert_str_eq(agw_json_str(j, "s"), "v");
    ck_assert_str_eq(agw_json_str(j, "e"), "");
    ck_assert_ptr_null(agw_json_str(j, "n"));
    ck_assert_ptr_null(agw_json_str(j, "o"));
    ck_assert_ptr_null(agw_json_str(j, "missing"));
    ck_assert_ptr_null(agw_json_str(j, NULL));
    ck_assert_ptr_null(agw_json_str(NULL, "s"));
    ck_assert_ptr_null(agw_json_str(parse_ok("[\"s\"]"), "s"));
}
END_TEST

static const char *text_of(const char *json)
{
    return agw_json_text(agw_test_pool, parse_ok(json));
}

START_TEST(claim_text)
{
    ck_assert_str_eq(text_of("\"plain\""), "plain");
    ck_assert_str_eq(text_of("\"with \\\"quotes\\\" and \\u00e9\""), "with \"quotes\" and \xc3\xa9");
    ck_assert_str_eq(text_of("\"\""), "");
    ck_assert_str_eq(text_of("42"), "42");
    ck_assert_str_eq(text_of("-7"), "-7");
    ck_assert_str_eq(text_of("9007199254740993"), "9007199254740993");
    ck_assert_str_eq(text_of("-9223372036854775808"), "-9223372036854775808");
    ck_assert_str_eq(text_of("0.1"), "0.1");
    ck_assert_str_eq(text_of("1.5"), "1.5");
    ck_assert_str_eq(text_of("2.0"), "2");
    ck_assert_str_eq(text_of("-0.5"), "-0.5");
    ck_assert_str_eq(text_of("1e300"), "1e+300");
    ck_assert_str_eq(text_of("3.141592653589793"), "3.141592653589793");
    ck_assert_str_eq(text_of("0.30000000000000004"), "0.30000000000000004");
    ck_assert_str_eq(text_of("true"), "true");
    ck_assert_str_eq(text_of("false"), "false");
    ck_assert_str_eq(text_of("null"), "null");
    ck_assert_str_eq(text_of("[\"a\",1,true]"), "a,1,true");
    ck_assert_str_eq(text_of("[[1,2],3,[]]"), "1,2,3,");
    ck_assert_str_eq(text_of("[]"), "");
    ck_assert_str_eq(text_of("{\"b\":1,\"a\":[1,\"x\"]}"), "{\"b\":1,\"a\":[1,\"x\"]}");
    ck_assert_str_eq(text_of("[{\"k\":\"v\"}]"), "{\"k\":\"v\"}");
    ck_assert_ptr_null(agw_json_text(agw_test_pool, NULL));
}
END_TEST

Suite *agw_suite_json(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, parses_values);
    tcase_add_test(tc, parses_exactly_len);
    tcase_add_test(tc, duplicate_names_refused);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, hostile_depth_never_reaches_parser);
    tcase_add_test(tc, depth_scan_respects_strings);
    tcase_add_test(tc, nul_refused);
    tcase_add_test(tc, invalid_utf8_refused);
    tcase_add_test(tc, fast_reader_matches_jansson);
    tcase_add_test(tc, syntax_and_trailing_refused);
    tcase_add_test(tc, owned_by_pool);
    tcase_add_test(tc, str_accessor);
    tcase_add_test(tc, claim_text);
    suite_add_tcase(s, tc);
    return s;
}
