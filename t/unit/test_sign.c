/* Unit tests of our own signing keys: PEM loading and refusals, and signatures that the verifier (agw_crypt_verify) accepts for each algorithm. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "testkit.h"
#include "agw_sign.h"
#include "agw_crypt.h"
#include "agw_json.h"
#include "agw_jwk.h"

/* Keys are slow to make: one of each per process, made on first use. */
static EVP_PKEY *k_rsa, *k_p256, *k_p384, *k_p521, *k_ed;

static EVP_PKEY *key_rsa(void)  { return k_rsa ? k_rsa : (k_rsa = tk_keygen_rsa(2048)); }
static EVP_PKEY *key_p256(void) { return k_p256 ? k_p256 : (k_p256 = tk_keygen_ec("P-256")); }
static EVP_PKEY *key_p384(void) { return k_p384 ? k_p384 : (k_p384 = tk_keygen_ec("P-384")); }
static EVP_PKEY *key_p521(void) { return k_p521 ? k_p521 : (k_p521 = tk_keygen_ec("P-521")); }
static EVP_PKEY *key_ed(void)   { return k_ed ? k_ed : (k_ed = tk_keygen_ed25519()); }

enum pem_form { PKCS8, TRADITIONAL, ENCRYPTED };

static char *pem_of(EVP_PKEY *k, enum pem_form form, apr_size_t *plen)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    int ok;

    if (!b)
        tk_die("BIO_new");
    switch (form) {
    case TRADITIONAL:
        ok = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
        break;
    case ENCRYPTED:
        ok = PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), "pass-phrase", 11, NULL,
                                           NULL);
        break;
    default:
        ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
        break;
    }
    if (ok != 1)
        tk_die("PEM write");
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(agw_test_pool, data, (apr_size_t)n);
    BIO_free(b);
    *plen = (apr_size_t)n;
    return out;
}

static agw_privkey_t *load_ok(EVP_PKEY *k, enum pem_form form)
{
    agw_privkey_t *pk = NULL;
    agw_err_t err = { 0 };
    apr_size_t len;
    char *pem = pem_of(k, form, &len);

    ck_assert_msg(agw_privkey_load(&pk, agw_test_pool, pem, len, &err) == APR_SUCCESS,
                  "load failed: %s", err.reason ? err.reason : "(null)");
    ck_assert_ptr_nonnull(pk);
    return pk;
}

static void load_refused(const char *pem, apr_size_t len, const char *reason)
{
    agw_privkey_t *pk = (agw_privkey_t *)1;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_privkey_load(&pk, agw_test_pool, pem, len, &err), APR_EINVAL);
    ck_assert_ptr_null(pk);
    ck_assert_str_eq(err.reason, reason);
}

/* The verification key of k, made the way peers' keys are made: from its public JWK. */
static const agw_pkey_t *public_of(EVP_PKEY *k)
{
    const char *text = tk_jwk(agw_test_pool, k, NULL, NULL, NULL);
    json_t *j = NULL;
    agw_jwk_t *jwk = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_json_parse(&j, agw_test_pool, text, strlen(text), 0, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jwk_parse(&jwk, agw_test_pool, j, &err), APR_SUCCESS);
    return jwk->pkey;
}

static const char DATA[] = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJjbGllbnQifQ";

/* Signs DATA with alg and checks the verifier accepts it, and refuses it for other data. */
static void sign_verifies(EVP_PKEY *k, agw_alg_e alg, apr_size_t expect_len)
{
    agw_privkey_t *pk = load_ok(k, PKCS8);
    const agw_pkey_t *pub = public_of(k);
    unsigned char *sig = NULL;
    apr_size_t siglen = 0;
    agw_err_t err = { 0 };

    ck_assert_msg(agw_sign(&sig, &siglen, agw_test_pool, alg, pk, (const unsigned char *)DATA,
                           strlen(DATA), &err) == APR_SUCCESS,
                  "%s: sign failed: %s", agw_alg_name(alg), err.reason ? err.reason : "(null)");
    if (expect_len)
        ck_assert_uint_eq(siglen, expect_len);
    ck_assert_msg(agw_crypt_verify(alg, pub, NULL, 0, (const unsigned char *)DATA, strlen(DATA),
                                   sig, siglen, &err) == APR_SUCCESS,
                  "%s: signature does not verify: %s", agw_alg_name(alg),
                  err.reason ? err.reason : "(null)");
    /* one changed byte of the data: the same signature must not verify */
    {
        char *other = apr_pstrdup(agw_test_pool, DATA);
        other[0] ^= 1;
        ck_assert_int_eq(agw_crypt_verify(alg, pub, NULL, 0, (unsigned char *)other,
                                          strlen(other), sig, siglen, &err), APR_EINVAL);
    }
}

START_TEST(load_rsa_pkcs8_and_traditional)
{
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_rsa(), PKCS8)), AGW_ALG_RS256);
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_rsa(), TRADITIONAL)), AGW_ALG_RS256);
}
END_TEST

START_TEST(load_ec_curves)
{
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_p256(), PKCS8)), AGW_ALG_ES256);
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_p256(), TRADITIONAL)), AGW_ALG_ES256);
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_p384(), PKCS8)), AGW_ALG_ES384);
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_p521(), TRADITIONAL)), AGW_ALG_ES512);
}
END_TEST

START_TEST(load_ed25519)
{
    ck_assert_int_eq(agw_privkey_default_alg(load_ok(key_ed(), PKCS8)), AGW_ALG_EDDSA);
}
END_TEST

START_TEST(load_refuses_rsa_1024)
{
    EVP_PKEY *small = tk_keygen_rsa(1024);
    apr_size_t len;
    char *pem = pem_of(small, PKCS8, &len);

    load_refused(pem, len, "RSA key shorter than 2048 bits");
    pem = pem_of(small, TRADITIONAL, &len);
    load_refused(pem, len, "RSA key shorter than 2048 bits");
    EVP_PKEY_free(small);
}
END_TEST

START_TEST(load_refuses_garbage)
{
    static const char *const bad[] = {
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA!!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA\n"
        "-----END PRIVATE KEY-----\n",
    };
    apr_size_t i, len;
    char *pem;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        load_refused(bad[i], strlen(bad[i]), "not an unencrypted PEM private key");

    /* a public key is not a private key */
    pem = tk_pubkey_pem(agw_test_pool, key_p256());
    load_refused(pem, strlen(pem), "not an unencrypted PEM private key");

    /* an encrypted key fails (and never prompts for a pass phrase) */
    pem = pem_of(key_p256(), ENCRYPTED, &len);
    load_refused(pem, len, "not an unencrypted PEM private key");

    /* truncated in the middle of the base64 */
    pem = pem_of(key_p256(), PKCS8, &len);
    load_refused(pem, len / 2, "not an unencrypted PEM private key");
}
END_TEST

START_TEST(load_refuses_other_key_types)
{
    EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    apr_size_t len;
    char *pem;

    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(k);
    pem = pem_of(x, PKCS8, &len);
    load_refused(pem, len, "key type not RSA, EC or Ed25519");
    pem = pem_of(k, PKCS8, &len);
    load_refused(pem, len, "EC curve not one of P-256, P-384, P-521");
    EVP_PKEY_free(x);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(sign_rs256)  { sign_verifies(key_rsa(), AGW_ALG_RS256, 256); } END_TEST
START_TEST(sign_rs512)  { sign_verifies(key_rsa(), AGW_ALG_RS512, 256); } END_TEST
START_TEST(sign_ps256)  { sign_verifies(key_rsa(), AGW_ALG_PS256, 256); } END_TEST
START_TEST(sign_ps384)  { sign_verifies(key_rsa(), AGW_ALG_PS384, 256); } END_TEST
START_TEST(sign_es256)  { sign_verifies(key_p256(), AGW_ALG_ES256, 64); } END_TEST
START_TEST(sign_es384)  { sign_verifies(key_p384(), AGW_ALG_ES384, 96); } END_TEST
START_TEST(sign_es512)  { sign_verifies(key_p521(), AGW_ALG_ES512, 132); } END_TEST
START_TEST(sign_eddsa)  { sign_verifies(key_ed(), AGW_ALG_EDDSA, 64); } END_TEST

/* ECDSA is randomised and r or s may have leading zero bytes: the fixed-length r||s must
 * still verify every time (a missing left pad shows up about once in 128 signatures). */
START_TEST(sign_es256_many)
{
    agw_privkey_t *pk = load_ok(key_p256(), PKCS8);
    const agw_pkey_t *pub = public_of(key_p256());
    unsigned char *sig;
    apr_size_t siglen;
    agw_err_t err = { 0 };
    int i;

    for (i = 0; i < 400; i++) {
        const char *d = apr_psprintf(agw_test_pool, "data-%d", i);
        ck_assert_int_eq(agw_sign(&sig, &siglen, agw_test_pool, AGW_ALG_ES256, pk,
                                  (const unsigned char *)d, strlen(d), &err), APR_SUCCESS);
        ck_assert_uint_eq(siglen, 64);
        ck_assert_int_eq(agw_crypt_verify(AGW_ALG_ES256, pub, NULL, 0, (const unsigned char *)d,
                                          strlen(d), sig, siglen, &err), APR_SUCCESS);
    }
}
END_TEST

/* A signature made with one key does not verify with another key of the same type. */
START_TEST(sign_other_key_does_not_verify)
{
    EVP_PKEY *other = tk_keygen_ec("P-256");
    agw_privkey_t *pk = load_ok(other, PKCS8);
    unsigned char *sig;
    apr_size_t siglen;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_sign(&sig, &siglen, agw_test_pool, AGW_ALG_ES256, pk,
                              (const unsigned char *)DATA, strlen(DATA), &err), APR_SUCCESS);
    ck_assert_int_eq(agw_crypt_verify(AGW_ALG_ES256, public_of(key_p256()), NULL, 0,
                                      (const unsigned char *)DATA, strlen(DATA), sig, siglen,
                                      &err), APR_EINVAL);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(sign_refuses_alg_key_mismatch)
{
    struct { EVP_PKEY *(*key)(void); agw_alg_e alg; } bad[] = {
        { key_rsa, AGW_ALG_ES256 }, { key_rsa, AGW_ALG_EDDSA }, { key_rsa, AGW_ALG_HS256 },
        { key_rsa, AGW_ALG_NONE },
        { key_p256, AGW_ALG_RS256 }, { key_p256, AGW_ALG_PS256 }, { key_p256, AGW_ALG_ES384 },
        { key_p256, AGW_ALG_ES512 }, { key_p256, AGW_ALG_EDDSA }, { key_p256, AGW_ALG_HS256 },
        { key_p384, AGW_ALG_ES256 }, { key_p521, AGW_ALG_ES384 },
        { key_ed, AGW_ALG_RS256 }, { key_ed, AGW_ALG_ES256 }, { key_ed, AGW_ALG_HS512 },
        { key_ed, AGW_ALG_NONE },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        agw_privkey_t *pk = load_ok(bad[i].key(), PKCS8);
        unsigned char *sig = NULL;
        apr_size_t siglen = 0;
        agw_err_t err = { 0 };
        ck_assert_msg(agw_sign(&sig, &siglen, agw_test_pool, bad[i].alg, pk,
                               (const unsigned char *)DATA, strlen(DATA), &err) == APR_EINVAL,
                      "case %u: alg %d accepted", (unsigned)i, (int)bad[i].alg);
        ck_assert_str_eq(err.reason, "the signing key does not fit the algorithm");
        ck_assert_ptr_null(sig);
    }
}
END_TEST

START_TEST(random_bytes_differ)
{
    unsigned char a[16], b[16];

    ck_assert_int_eq(agw_sign_random(a, sizeof(a)), APR_SUCCESS);
    ck_assert_int_eq(agw_sign_random(b, sizeof(b)), APR_SUCCESS);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

Suite *agw_suite_sign(void)
{
    Suite *s = suite_create("sign");
    TCase *tc = tcase_create("sign");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, load_rsa_pkcs8_and_traditional);
    tcase_add_test(tc, load_ec_curves);
    tcase_add_test(tc, load_ed25519);
    tcase_add_test(tc, load_refuses_rsa_1024);
    tcase_add_test(tc, load_refuses_garbage);
    tcase_add_test(tc, load_refuses_other_key_types);
    tcase_add_test(tc, sign_rs256);
    tcase_add_test(tc, sign_rs512);
    tcase_add_test(tc, sign_ps256);
    tcase_add_test(tc, sign_ps384);
    tcase_add_test(tc, sign_es256);
    tcase_add_test(tc, sign_es384);
    tcase_add_test(tc, sign_es512);
    tcase_add_test(tc, sign_eddsa);
    tcase_add_test(tc, sign_es256_many);
    tcase_add_test(tc, sign_other_key_does_not_verify);
    tcase_add_test(tc, sign_refuses_alg_key_mismatch);
    tcase_add_test(tc, random_bytes_differ);
    suite_add_tcase(s, tc);
    return s;
}
