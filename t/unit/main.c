/* Runs every unit-test suite of src/ and exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include "tests.h"

apr_pool_t *agw_test_pool;

void agw_test_pool_setup(void)
{
    apr_pool_create(&agw_test_pool, NULL);
}

void agw_test_pool_teardown(void)
{
    apr_pool_destroy(agw_test_pool);
    agw_test_pool = NULL;
}

int main(int argc, char **argv)
{
    Suite *(*suites[])(void) = {
        agw_suite_b64, agw_suite_json, agw_suite_crypt, agw_suite_jwk, agw_suite_jws,
        agw_suite_vectors, agw_suite_hostile, agw_suite_jwt, agw_suite_claims,
        agw_suite_conf, agw_suite_http, agw_suite_keys,
        agw_suite_client, agw_suite_sign, agw_suite_cache, agw_suite_seal, agw_suite_ccstore,
        agw_suite_hcache,
        agw_suite_keyring,
        agw_suite_util,
        agw_suite_dpop,
        agw_suite_dpopsign,
        agw_suite_gate,
    };
    SRunner *sr = NULL;
    int failed;
    size_t i;

    if (argc == 2 && strcmp(argv[1], "--give-back-race") == 0)
        return agw_test_give_back_race ? agw_test_give_back_race() : 2;
    apr_initialize();
    atexit(apr_terminate);
    for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        if (!suites[i])
            continue;
        if (!sr)
            sr = srunner_create(suites[i]());
        else
            srunner_add_suite(sr, suites[i]());
    }
    if (!sr) {
        fprintf(stderr, "no unit-test suites linked\n");
        return 1;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
