/* Unit tests of strict base64url: RFC 4648 vectors, round trips, and every way to be non-canonical. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "agw_b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static apr_status_t dec(const char *in, unsigned char **out, apr_size_t *outlen)
{
    return agw_b64url_decode(out, outlen, agw_test_pool, in, strlen(in));
}

static void assert_refused(const char *in)
{
    unsigned char *out = (unsigned char *)"sentinel";
    apr_size_t outlen = 99;

    ck_assert_msg(dec(in, &out, &outlen) == APR_EINVAL, "accepted \"%s\"", in);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(outlen, 0);
}

/* RFC 4648 section 10, without the padding. */
static const struct { const char *plain, *coded; } rfc4648[] = {
    { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
    { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

START_TEST(rfc4648_vectors)
{
    const char *plain = rfc4648[_i].plain, *coded = rfc4648[_i].coded;
    unsigned char *out = NULL;
    apr_size_t outlen = 99;

    ck_assert_str_eq(agw_b64url_encode(agw_test_pool, (const unsigned char *)plain,
                                       strlen(plain)), coded);
    ck_assert_int_eq(dec(coded, &out, &outlen), APR_SUCCESS);
    ck_assert_uint_eq(outlen, strlen(plain));
    ck_assert_str_eq((char *)out, plain); /* also proves the NUL terminator */
}
END_TEST

START_TEST(url_alphabet_not_standard)
{
    static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
    unsigned char *out;
    apr_size_t outlen;

    ck_assert_str_eq(agw_b64url_encode(agw_test_pool, bytes, 3), "-_-_");
    ck_assert_str_eq(agw_b64url_encode(agw_test_pool, bytes, 2), "-_8");
    ck_assert_int_eq(dec("-_-_", &out, &outlen), APR_SUCCESS);
    ck_assert_uint_eq(outlen, 3);
    ck_assert_int_eq(memcmp(out, bytes, 3), 0);
    /* The standard alphabet's spelling of the same bytes is refused. */
    assert_refused("+/+/");
    assert_refused("+_-_");
    assert_refused("-_-/");
}
END_TEST

START_TEST(round_trip_all_lengths_and_bytes)
{
    unsigned char buf[300];
    apr_size_t len, i;

    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 151 + 7);
    for (len = 0; len <= sizeof(buf); len++) {
        char *coded = agw_b64url_encode(agw_test_pool, buf, len);
        unsigned char *out = NULL;
        apr_size_t outlen = 0;

        ck_assert_uint_eq(strlen(coded), (len * 4 + 2) / 3);
        ck_assert_int_eq(dec(coded, &out, &outlen), APR_SUCCESS);
        ck_assert_uint_eq(outlen, len);
        ck_assert_int_eq(memcmp(out, buf, len), 0);
        ck_assert_int_eq(out[len], 0);
    }
    /* Every byte value in every position of a block. */
    for (i = 0; i < 256; i++) {
        unsigned char three[3] = { (unsigned char)i, (unsigned char)(255 - i),
                                   (unsigned char)(i ^ 0x5a) };
        unsigned char *out;
        apr_size_t outlen;

        ck_assert_int_eq(dec(agw_b64url_encode(agw_test_pool, three, 3), &out, &outlen),
                         APR_SUCCESS);
        ck_assert_uint_eq(outlen, 3);
        ck_assert_int_eq(memcmp(out, three, 3), 0);
    }
}
END_TEST

START_TEST(every_byte_outside_alphabet_refused)
{
    int c;

    for (c = 0; c < 256; c++) {
        char in[5] = { 'A', 'A', 'A', (char)c, 0 };
        unsigned char *out = NULL;
        apr_size_t outlen = 0;
        apr_status_t rv = agw_b64url_decode(&out, &outlen, agw_test_pool, in, 4);
        int valid = c != 0 && strchr(alphabet, c) != NULL;

        ck_assert_msg(rv == (valid ? APR_SUCCESS : APR_EINVAL), "byte 0x%02x", c);
        /* The same byte first in the block. */
        in[0] = (char)c;
        in[3] = 'A';
        rv = agw_b64url_decode(&out, &outlen, agw_test_pool, in, 4);
        ck_assert_msg(rv == (valid ? APR_SUCCESS : APR_EINVAL), "byte 0x%02x first", c);
    }
}
END_TEST

START_TEST(padding_whitespace_and_junk_refused)
{
    assert_refused("Zg==");
    assert_refused("Zg=");
    assert_refused("Zm8=");
    assert_refused("Zm9v====");
    assert_refused("=Zm9v");
    assert_refused("Zm9v Yg");
    assert_refused(" Zm9v");
    assert_refused("Zm9v\n");
    assert_refused("Zm9v\r\nYmFy");
    assert_refused("Zm9\tv");
    assert_refused("Zm9v.Yg");
    assert_refused("Zm9v%59g");
    assert_refused("Zm9v\xc3\xa9");
}
END_TEST

START_TEST(impossible_lengths_refused)
{
    assert_refused("Z");
    assert_refused("Zm9vY");
    assert_refused("Zm9vYmFyZ");
}
END_TEST

/* With 2 characters left over, the last one's low 4 bits are unused; with 3, the low 2.
 * Only all-zero unused bits are canonical, so exactly one spelling decodes per byte string. */
START_TEST(noncanonical_trailing_bits_refused)
{
    int c, ok2 = 0, ok3 = 0;

    for (c = 0; c < 64; c++) {
        char two[3] = { 'Z', alphabet[c], 0 }, three[4] = { 'Z', 'm', alphabet[c], 0 };
        unsigned char *out;
        apr_size_t outlen;

        if (dec(two, &out, &outlen) == APR_SUCCESS) {
            ck_assert_int_eq(c & 0x0f, 0);
            ok2++;
        }
        if (dec(three, &out, &outlen) == APR_SUCCESS) {
            ck_assert_int_eq(c & 0x03, 0);
            ok3++;
        }
    }
    ck_assert_int_eq(ok2, 4);
    ck_assert_int_eq(ok3, 16);
    assert_refused("Zh");
    assert_refused("Zm9");
    assert_refused("Zm9vYh");
    assert_refused("Zm9vYmF");
}
END_TEST

START_TEST(decodes_exactly_inlen)
{
    const char *text = "Zm9vYmFy.garbage";
    unsigned char *out;
    apr_size_t outlen;

    ck_assert_int_eq(agw_b64url_decode(&out, &outlen, agw_test_pool, text, 4), APR_SUCCESS);
    ck_assert_str_eq((char *)out, "foo");
    ck_assert_int_eq(agw_b64url_decode(&out, &outlen, agw_test_pool, text, 8), APR_SUCCESS);
    ck_assert_str_eq((char *)out, "foobar");
    ck_assert_int_eq(agw_b64url_decode(&out, &outlen, agw_test_pool, text, 9), APR_EINVAL);
    /* An embedded NUL within the length is a byte like any other: refused. */
    ck_assert_int_eq(agw_b64url_decode(&out, &outlen, agw_test_pool, "Zm\0v", 4), APR_EINVAL);
    /* Empty input is the empty string. */
    ck_assert_int_eq(agw_b64url_decode(&out, &outlen, agw_test_pool, "", 0), APR_SUCCESS);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_str_eq((char *)out, "");
}
END_TEST

START_TEST(decoded_bytes_may_contain_nul)
{
    static const unsigned char bytes[] = { 'a', 0, 'b', 0 };
    unsigned char *out;
    apr_size_t outlen;

    ck_assert_str_eq(agw_b64url_encode(agw_test_pool, bytes, 4), "YQBiAA");
    ck_assert_int_eq(dec("YQBiAA", &out, &outlen), APR_SUCCESS);
    ck_assert_uint_eq(outlen, 4);
    ck_assert_int_eq(memcmp(out, bytes, 4), 0);
    ck_assert_int_eq(out[4], 0);
}
END_TEST

Suite *agw_suite_b64(void)
{
    Suite *s = suite_create("b64");
    TCase *tc = tcase_create("b64url");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_loop_test(tc, rfc4648_vectors, 0, (int)(sizeof(rfc4648) / sizeof(rfc4648[0])));
    tcase_add_test(tc, url_alphabet_not_standard);
    tcase_add_test(tc, round_trip_all_lengths_and_bytes);
    tcase_add_test(tc, every_byte_outside_alphabet_refused);
    tcase_add_test(tc, padding_whitespace_and_junk_refused);
    tcase_add_test(tc, impossible_lengths_refused);
    tcase_add_test(tc, noncanonical_trailing_bits_refused);
    tcase_add_test(tc, decodes_exactly_inlen);
    tcase_add_test(tc, decoded_bytes_may_contain_nul);
    suite_add_tcase(s, tc);
    return s;
}
