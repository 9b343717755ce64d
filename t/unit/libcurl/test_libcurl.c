/* The HTTP client without a usable libcurl. This program's core is compiled with a libcurl
 * soname that no system has (AGW_LIBCURL_SONAME, set by the Makefile); the Makefile runs it
 * once per stand-in (fakecurl.c) put under that name on the library path:
 *   absent:        none, as on a host without libcurl4;
 *   old:           one that says it is libcurl 7.74.0, older than the module's oldest
 *                  (CURLOPT_PROTOCOLS_STR came with 7.85.0);
 *   refuses:       one of 7.88.0 that refuses CURLOPT_PROTOCOLS_STR;
 *   refuses-post:  one that refuses CURLOPT_POSTFIELDS (a token request's form);
 *   noproxy:       one built without proxy support (CURLOPT_NOPROXY unknown), whose
 *                  transfers fail to connect: that option missing does not stop a transfer.
 * Except for noproxy, a transfer must fail cleanly before anything is sent (those stand-ins
 * abort if a transfer is made), with a reason for the fetch's log line, every time. */
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
    int refuses = strcmp(mode, "refuses") == 0, refuses_post = strcmp(mode, "refuses-post") == 0;
    int noproxy = strcmp(mode, "noproxy") == 0;
    apr_pool_t *p;
    apr_table_t *form;
    agw_http_resp_t *resp;
    agw_err_t err;
    const char *why = NULL, *expect;
    int i;

    if (!absent && !old && !refuses && !refuses_post && !noproxy) {
        fprintf(stderr, "usage: %s absent|old|refuses|refuses-post|noproxy\n", argv[0]);
        return 2;
    }
    printf("# %s\n", mode);
    apr_initialize();
    apr_pool_create(&p, NULL);
    form = apr_table_make(p, 2);
    apr_table_setn(form, "grant_type", "client_credentials");
    if (absent || old) {
        check(agw_http_load(&why) == APR_EGENERAL, "loading libcurl fails");
        check(has(why, AGW_LIBCURL_SONAME), "the reason names the library");
        if (old)
            check(has(why, "7.74.0") && has(why, "7.85.0 or later is needed"),
                  "the reason says which version was found and which is needed");
    } else {
        check(agw_http_load(&why) == APR_SUCCESS, "libcurl 7.88.0 loads");
    }
    printf("# reason: %s\n", why ? why : "(none)");
    expect = refuses ? "libcurl refused CURLOPT_PROTOCOLS_STR"
           : refuses_post ? "libcurl refused CURLOPT_POSTFIELDS"
           : noproxy ? "connect failed" : why;
    for (i = 0; i < 2; i++) {
        apr_status_t rv;

        resp = (agw_http_resp_t *)&resp;        /* must be set to NULL */
        memset(&err, 0, sizeof(err));
        rv = refuses_post ? agw_http_post_form(&resp, p, "https://127.0.0.1:9/oauth/token", form,
                                               NULL, NULL, NULL, &err)
                          : agw_http_get(&resp, p, "https://127.0.0.1:9/jwks.json", NULL, &err);
        check(rv == APR_EGENERAL, i ? "a second transfer fails too" : "a transfer fails");
        check(resp == NULL, "no response is returned");
        check(expect && err.reason && strcmp(err.reason, expect) == 0, "its error says why");
        printf("# error: %s\n", err.reason ? err.reason : "(none)");
    }
    apr_pool_destroy(p);
    apr_terminate();
    printf("%s (%s): %d failures\n", failures ? "FAIL" : "PASS", mode, failures);
    return failures ? 1 : 0;
}
