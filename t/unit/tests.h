/* The unit-test suites of src/; each file t/unit/test_<area>.c defines one. */
#ifndef AGW_TESTS_H
#define AGW_TESTS_H

#include <check.h>
#include <apr_pools.h>

/* Weak so that the runner links while an area's suite is still being written. */
#define AGW_SUITE(name) Suite *agw_suite_##name(void) __attribute__((weak))
AGW_SUITE(b64);
AGW_SUITE(json);
AGW_SUITE(crypt);
AGW_SUITE(jwk);
AGW_SUITE(jws);
AGW_SUITE(vectors);
AGW_SUITE(hostile);
AGW_SUITE(jwt);
AGW_SUITE(claims);
AGW_SUITE(conf);
AGW_SUITE(http);
AGW_SUITE(keys);
AGW_SUITE(client);
AGW_SUITE(sign);
AGW_SUITE(cache);
AGW_SUITE(seal);
AGW_SUITE(keyring);
AGW_SUITE(ccstore);
AGW_SUITE(hcache);
AGW_SUITE(util);
AGW_SUITE(dpop);
AGW_SUITE(dpopsign);
AGW_SUITE(gate);

/* `unit_tests --give-back-race` (test_http.c): threads making a fresh process's first
 * agw_http_give_back_freed together; 0 when every thread got the expected answer. */
int agw_test_give_back_race(void) __attribute__((weak));

/* A pool per test, created in setup and destroyed in teardown of the suites that want it. */
extern apr_pool_t *agw_test_pool;
void agw_test_pool_setup(void);
void agw_test_pool_teardown(void);

#endif
