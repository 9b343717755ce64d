/* Unit tests of sealed shared-cache records (src/agw_seal.c): round trips, tampering, moved records, rotation, hostile inputs. */
#include <string.h>

#include "tests.h"
#include "agw_seal.h"

static const unsigned char secret_a[] = "0123456789abcdef0123456789abcdef-fleet-a";
static const unsigned char secret_b[] = "0123456789abcdef0123456789abcdef-fleet-b";

static agw_seal_t *sealer(const unsigned char *secret)
{
    agw_seal_t *s = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_seal_create(&s, agw_test_pool, secret, strlen((const char *)secret),
                                     &err), APR_SUCCESS);
    return s;
}

static unsigned char *seal_text(apr_size_t *plen, const agw_seal_t *s, const char *name,
                                const char *text)
{
    unsigned char *rec = NULL;

    ck_assert_int_eq(agw_seal(&rec, plen, agw_test_pool, s, name, text, strlen(text)),
                     APR_SUCCESS);
    return rec;
}

static const char *open_reason(const agw_seal_t *s, const char *name, const unsigned char *rec,
                               apr_size_t len)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    char *out = NULL;
    apr_size_t n = 0;

    if (agw_unseal(&out, &n, agw_test_pool, s, name, rec, len, &err) == APR_SUCCESS)
        return NULL;
    ck_assert_ptr_null(out);
    return err.reason;
}

START_TEST(round_trip_hides_the_plaintext)
{
    agw_seal_t *s = sealer(secret_a);
    const char *text = "1 1700000000 1700003600 eyJhbGciOiJSUzI1NiJ9.secret-token.sig";
    apr_size_t len, n;
    unsigned char *rec = seal_text(&len, s, "cc:abc", text);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    char *out;

    ck_assert_uint_eq(len, strlen(text) + AGW_SEAL_OVERHEAD);
    ck_assert_ptr_null(memmem(rec, len, "secret-token", 12));
    ck_assert_int_eq(agw_unseal(&out, &n, agw_test_pool, s, "cc:abc", rec, len, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(n, strlen(text));
    ck_assert_str_eq(out, text);
}
END_TEST

START_TEST(same_secret_on_two_hosts_opens)
{
    agw_seal_t *host1 = sealer(secret_a), *host2 = sealer(secret_a);
    apr_size_t len, len2;
    unsigned char *rec = seal_text(&len, host1, "jwks:x", "{\"keys\":[]}");
    unsigned char *rec2 = seal_text(&len2, host1, "jwks:x", "{\"keys\":[]}");

    ck_assert_ptr_null(open_reason(host2, "jwks:x", rec, len));
    /* a fresh nonce per record: the same text never seals to the same bytes */
    ck_assert_int_ne(memcmp(rec, rec2, len), 0);
}
END_TEST

START_TEST(every_flipped_bit_is_refused)
{
    agw_seal_t *s = sealer(secret_a);
    apr_size_t len, i;
    unsigned char *rec = seal_text(&len, s, "jwks:x", "1700000000 {\"keys\":[]}");
    unsigned char *copy = apr_palloc(agw_test_pool, len);

    for (i = 0; i < len * 8; i++) {
        memcpy(copy, rec, len);
        copy[i / 8] ^= (unsigned char)(1u << (i % 8));
        ck_assert_ptr_nonnull(open_reason(s, "jwks:x", copy, len));
    }
    ck_assert_ptr_null(open_reason(s, "jwks:x", rec, len));
}
END_TEST

START_TEST(a_record_moved_to_another_key_is_refused)
{
    agw_seal_t *s = sealer(secret_a);
    apr_size_t len;
    unsigned char *rec = seal_text(&len, s, "cool:aaa", "1700000000");

    ck_assert_str_eq(open_reason(s, "cool:aab", rec, len), "record fails authentication");
    ck_assert_str_eq(open_reason(s, "jwks:aaa", rec, len), "record fails authentication");
}
END_TEST

START_TEST(another_fleet_key_is_refused)
{
    agw_seal_t *a = sealer(secret_a), *b = sealer(secret_b);
    apr_size_t len;
    unsigned char *rec = seal_text(&len, b, "jwks:x", "1700000000 {\"keys\":[]}");

    ck_assert_str_eq(open_reason(a, "jwks:x", rec, len), "record key unknown");
}
END_TEST

START_TEST(rotation_opens_old_records_and_seals_with_the_new_key)
{
    agw_seal_t *old = sealer(secret_a), *rotated = sealer(secret_b);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_size_t len, len2;
    unsigned char *rec = seal_text(&len, old, "jwks:x", "old");
    unsigned char *rec2;

    ck_assert_int_eq(agw_seal_add_old(rotated, secret_a, strlen((const char *)secret_a), &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(open_reason(rotated, "jwks:x", rec, len));
    rec2 = seal_text(&len2, rotated, "jwks:x", "new");
    ck_assert_str_eq(open_reason(old, "jwks:x", rec2, len2), "record key unknown");
    /* a third key is one too many */
    ck_assert_int_ne(agw_seal_add_old(rotated, secret_a, strlen((const char *)secret_a), &err),
                     APR_SUCCESS);
}
END_TEST

START_TEST(hostile_records)
{
    agw_seal_t *s = sealer(secret_a);
    apr_size_t len;
    unsigned char *rec = seal_text(&len, s, "k", "");
    unsigned char junk[64];

    /* an empty plaintext is fine */
    ck_assert_uint_eq(len, AGW_SEAL_OVERHEAD);
    ck_assert_ptr_null(open_reason(s, "k", rec, len));
    ck_assert_str_eq(open_reason(s, "k", rec, len - 1), "record too short");
    ck_assert_str_eq(open_reason(s, "k", NULL, 0), "record too short");
    ck_assert_str_eq(open_reason(s, "k", (const unsigned char *)"1700000000 {}", 13),
                     "record too short");
    /* what an attacker writes in clear, as the old unsealed format */
    ck_assert_str_eq(open_reason(s, "k", (const unsigned char *)
                                 "1700000000 {\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}", 46),
                     "record version unknown");
    memset(junk, 0, sizeof(junk));
    junk[0] = AGW_SEAL_VERSION;
    ck_assert_str_eq(open_reason(s, "k", junk, sizeof(junk)), "record key unknown");
    memcpy(junk, rec, 5);   /* right version and key id, zero nonce, wrong tag */
    ck_assert_str_eq(open_reason(s, "k", junk, sizeof(junk)), "record fails authentication");
}
END_TEST

START_TEST(short_or_random_secrets)
{
    agw_seal_t *s = NULL, *r1 = NULL, *r2 = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_size_t len;
    unsigned char *rec;

    ck_assert_int_ne(agw_seal_create(&s, agw_test_pool, secret_a, 31, &err), APR_SUCCESS);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err.reason, "cache secret shorter than 32 bytes");
    ck_assert_int_eq(agw_seal_create_random(&r1, agw_test_pool, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_seal_create_random(&r2, agw_test_pool, &err), APR_SUCCESS);
    rec = seal_text(&len, r1, "k", "v");
    ck_assert_ptr_null(open_reason(r1, "k", rec, len));
    ck_assert_ptr_nonnull(open_reason(r2, "k", rec, len));
}
END_TEST

Suite *agw_suite_seal(void)
{
    Suite *s = suite_create("seal");
    TCase *tc = tcase_create("seal");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, round_trip_hides_the_plaintext);
    tcase_add_test(tc, same_secret_on_two_hosts_opens);
    tcase_add_test(tc, every_flipped_bit_is_refused);
    tcase_add_test(tc, a_record_moved_to_another_key_is_refused);
    tcase_add_test(tc, another_fleet_key_is_refused);
    tcase_add_test(tc, rotation_opens_old_records_and_seals_with_the_new_key);
    tcase_add_test(tc, hostile_records);
    tcase_add_test(tc, short_or_random_secrets);
    suite_add_tcase(s, tc);
    return s;
}
