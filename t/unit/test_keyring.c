/* Unit tests of the key ring (src/agw_keyring.c): keys as HKDF derives them, the current key first, bounds, refusals. */
#include <string.h>

#include "tests.h"
#include "agw_keyring.h"
#include "agw_crypt.h"

static const unsigned char secret_a[] = "0123456789abcdef0123456789abcdef-ring-a";
static const unsigned char secret_b[] = "0123456789abcdef0123456789abcdef-ring-b";
#define LEN_A (sizeof(secret_a) - 1)
#define LEN_B (sizeof(secret_b) - 1)

static const agw_keyring_spec_t spec = { 36, 32, "test salt", "test info v1", "test" };
static const agw_keyring_spec_t other_purpose = { 36, 32, "test salt", "other info v1", "other" };

/* What the ring must hold for secret: HKDF-SHA256 with the spec's labels. */
static void expect_key(const unsigned char *got, const agw_keyring_spec_t *s,
                       const unsigned char *secret, apr_size_t len)
{
    unsigned char want[AGW_KEYRING_KEY_MAX];

    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(agw_crypt_hkdf_sha256(want, s->key_bytes, secret, len, s->salt, s->info),
                     APR_SUCCESS);
    ck_assert_int_eq(memcmp(got, want, s->key_bytes), 0);
}

START_TEST(current_key_first_then_the_older_one)
{
    agw_keyring_t *r = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &spec, secret_a, LEN_A, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(agw_keyring_count(r), 1);
    expect_key(agw_keyring_key(r, 0), &spec, secret_a, LEN_A);
    ck_assert_ptr_null(agw_keyring_key(r, 1));

    ck_assert_int_eq(agw_keyring_add_old(r, secret_b, LEN_B, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_keyring_count(r), 2);
    expect_key(agw_keyring_key(r, 0), &spec, secret_a, LEN_A);
    expect_key(agw_keyring_key(r, 1), &spec, secret_b, LEN_B);
    ck_assert_int_ne(memcmp(agw_keyring_key(r, 0), agw_keyring_key(r, 1), spec.key_bytes), 0);

    /* a third key is one too many, and the ring is left as it was */
    ck_assert_int_eq(agw_keyring_add_old(r, secret_b, LEN_B, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "too many test keys");
    ck_assert_int_eq(agw_keyring_count(r), 2);
    ck_assert_ptr_null(agw_keyring_key(r, 2));
    ck_assert_ptr_null(agw_keyring_key(r, -1));
}
END_TEST

START_TEST(one_secret_two_purposes_two_keys)
{
    agw_keyring_t *a = NULL, *b = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_keyring_create(&a, agw_test_pool, &spec, secret_a, LEN_A, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(agw_keyring_create(&b, agw_test_pool, &other_purpose, secret_a, LEN_A, &err),
                     APR_SUCCESS);
    ck_assert_int_ne(memcmp(agw_keyring_key(a, 0), agw_keyring_key(b, 0), spec.key_bytes), 0);
}
END_TEST

START_TEST(refused_secrets_and_specs)
{
    static const agw_keyring_spec_t too_long = { AGW_KEYRING_KEY_MAX + 1, 32, "s", "i", "big" };
    static const agw_keyring_spec_t empty = { 0, 32, "s", "i", "empty" };
    agw_keyring_t *r = (agw_keyring_t *)&r;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &spec, secret_a, 31, &err), APR_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(err.reason, "test secret shorter than 32 bytes");
    r = (agw_keyring_t *)&r;
    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &spec, NULL, 64, &err), APR_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &spec, secret_a, 0, &err), APR_EINVAL);
    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &too_long, secret_a, LEN_A, &err),
                     APR_EGENERAL);
    ck_assert_str_eq(err.reason, "cannot derive the big key");
    ck_assert_ptr_null(r);
    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &empty, secret_a, LEN_A, &err),
                     APR_EGENERAL);
    ck_assert_ptr_null(r);

    /* an older key must be as long as the current one's rule asks */
    ck_assert_int_eq(agw_keyring_create(&r, agw_test_pool, &spec, secret_a, LEN_A, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(agw_keyring_add_old(r, secret_b, 31, &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "test secret shorter than 32 bytes");
    ck_assert_int_eq(agw_keyring_count(r), 1);
    ck_assert_int_eq(agw_keyring_count(NULL), 0);
    ck_assert_ptr_null(agw_keyring_key(NULL, 0));
}
END_TEST

/* The cleanup on the pool wipes the key bytes. */
START_TEST(keys_wiped_with_the_pool)
{
    static const unsigned char zero[AGW_KEYRING_KEY_MAX];
    apr_pool_t *sub;
    agw_keyring_t *r = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    unsigned char *key;

    ck_assert_int_eq(apr_pool_create(&sub, agw_test_pool), APR_SUCCESS);
    ck_assert_int_eq(agw_keyring_create(&r, sub, &spec, secret_a, LEN_A, &err), APR_SUCCESS);
    key = (unsigned char *)agw_keyring_key(r, 0);
    ck_assert_int_ne(memcmp(key, zero, spec.key_bytes), 0);
    apr_pool_clear(sub);    /* runs the cleanups; the memory stays with the pool */
    ck_assert_int_eq(memcmp(key, zero, spec.key_bytes), 0);
    apr_pool_destroy(sub);
}
END_TEST

Suite *agw_suite_keyring(void)
{
    Suite *s = suite_create("keyring");
    TCase *tc = tcase_create("keyring");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, current_key_first_then_the_older_one);
    tcase_add_test(tc, one_secret_two_purposes_two_keys);
    tcase_add_test(tc, refused_secrets_and_specs);
    tcase_add_test(tc, keys_wiped_with_the_pool);
    suite_add_tcase(s, tc);
    return s;
}
