/* The HTTP client without a usable libcurl. This program's core is compiled with a libcurl
 * soname that no system has (AGW_LIBCURL_SONAME, set by the Makefile); the Makefile runs it
 * three times:
 *   absent:   nothing of that name on the library path, as on a host without libcurl4;
 *   old:      a stand-in (fakecurl.c) that says it is libcurl 7.74.0, older than the
 *             module's oldest (CURLOPT_PROTOCOLS_STR came with 7.85.0);
 *   refuses:  a stand-in of 7.88.0 that refuses CURLOPT_PROTOCOLS_STR.
 * A transfer must then fail cleanly, before anything is sent (the stand-in aborts if a
 * transfer is made), with a reason for the fetch's log line, every time. */
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

static int has(const char *s, const char *part)
{
    return s && strstr(s, part) != NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc == 2 ? argv[1] : "";
    int absent = strcmp(mode, "absent") == 0, old = strcmp(mode, "old") == 0;
    int refuses = strcmp(mode, "refuses") == 0;
    apr_pool_t *p;
    agw_http_resp_t *resp;
    agw_err_t err;
    const char *why = NULL;
    int i;

    if (!absent && !old && !refuses) {
        fprintf(stderr, "usage: %s absent|old|refuses\n", argv[0]);
        return 2;
    }
    printf("# %s\n", mode);
    apr_initialize();
    apr_pool_create(&p, NULL);
    if (refuses) {
        check(agw_http_load(&why) == APR_SUCCESS, "libcurl 7.88.0 loads");
    } else {
        check(agw_http_load(&why) == APR_EGENERAL, "loading libcurl fails");
        check(has(why, AGW_LIBCURL_SONAME), "the reason names the library");
        if (old)
            check(has(why, "7.74.0") && has(why, "7.85.0 or later is needed"),
                  "the reason says which version was found and which is needed");
    }
    printf("# reason: %s\n", why ? why : "(none)");
    for (i = 0; i < 2; i++) {
        resp = (agw_http_resp_t *)&resp;        /* must be set to NULL */
        memset(&err, 0, sizeof(err));
        check(agw_http_get(&resp, p, "https://127.0.0.1:9/jwks.json", NULL, &err) == APR_EGENERAL,
              i ? "a second transfer fails too" : "a transfer fails");
        check(resp == NULL, "no response is returned");
        if (refuses)
            check(has(err.reason, "libcurl refused CURLOPT_PROTOCOLS_STR"),
                  "the transfer's error names the refused option");
        else
            check(why && err.reason && strcmp(err.reason, why) == 0,
                  "the transfer's error is the loading's reason");
    }
    apr_pool_destroy(p);
    apr_terminate();
    printf("%s (%s): %d failures\n", failures ? "FAIL" : "PASS", mode, failures);
    return failures ? 1 : 0;
}
