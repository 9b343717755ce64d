/* The HTTP client without libcurl: this program's core is compiled with a libcurl soname that
 * no system has (AGW_LIBCURL_SONAME, set by the Makefile), so that loading libcurl fails as it
 * would on a host without libcurl4. A transfer must then fail cleanly, with the dynamic
 * linker's reason as its error (what the fetch's log line shows), every time. */
#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "agw_http.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s - %s\n", ok ? "ok" : "not ok", what);
    if (!ok)
        failures++;
}

int main(void)
{
    apr_pool_t *p;
    agw_http_resp_t *resp = (agw_http_resp_t *)&resp;     /* must be set to NULL */
    agw_err_t err = { 0 };
    const char *why = NULL;
    int i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    check(agw_http_load(&why) == APR_EGENERAL, "loading the absent libcurl fails");
    check(why && strstr(why, AGW_LIBCURL_SONAME) != NULL, "the reason names the library");
    printf("# reason: %s\n", why ? why : "(none)");
    for (i = 0; i < 2; i++) {
        memset(&err, 0, sizeof(err));
        check(agw_http_get(&resp, p, "https://127.0.0.1:9/jwks.json", NULL, &err) == APR_EGENERAL,
              i ? "a second transfer fails too" : "a transfer fails");
        check(resp == NULL, "no response is returned");
        check(err.reason && strstr(err.reason, AGW_LIBCURL_SONAME) != NULL,
              "the transfer's error is the dynamic linker's reason");
    }
    apr_pool_destroy(p);
    apr_terminate();
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
