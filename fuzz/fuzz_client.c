/* libFuzzer target: any bytes as a token endpoint's response body (agw_client_parse) and as a shared-cache token record (agw_cc_token_decode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "agw_client.h"

#define NOW 1700000000

static apr_pool_t *root;

static void check_printable(const char *s, size_t max)
{
    const char *c;

    if (!s || !*s || strlen(s) > max)
        abort();
    for (c = s; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 200, 200, 200, 400, 401, 500, 302, 0 };
    agw_cc_token_t tok, back;
    agw_err_t err = { 0 };
    apr_pool_t *p;
    apr_status_t rv;
    long status;

    if (size < 1)
        return 0;
    status = statuses[data[0] & 7];
    apr_pool_create(&p, root);
    memset(&tok, 0, sizeof(tok));
    rv = agw_client_parse(&tok, p, status, (const char *)data + 1, size - 1, NOW, &err);
    if (rv == APR_SUCCESS) {
        apr_size_t len;
        char *rec;

        if (status != 200 || !tok.access_token || !*tok.access_token
            || strlen(tok.access_token) > AGW_CC_MAX_TOKEN || tok.obtained_at != NOW
            || tok.expires_at <= NOW || tok.expires_at - NOW > AGW_CC_MAX_LIFETIME)
            abort();
        /* what one process publishes, every other process must read back */
        rec = agw_cc_token_encode(p, &tok, &len);
        if (agw_cc_token_decode(&back, p, rec, len, NOW) != APR_SUCCESS
            || strcmp(back.access_token, tok.access_token) || back.expires_at != tok.expires_at
            || back.obtained_at != tok.obtained_at)
            abort();
    }
    else {
        /* error / error_description go to logs: sanitised */
        check_printable(err.reason, 400);
    }
    /* the same bytes as a record another process wrote */
    if (agw_cc_token_decode(&back, p, (const char *)data, size, NOW) == APR_SUCCESS) {
        if (!back.access_token || !*back.access_token || back.expires_at <= NOW
            || back.obtained_at > NOW + AGW_CC_CLOCK_SKEW
            || back.expires_at - back.obtained_at > AGW_CC_MAX_LIFETIME
            || strlen(back.access_token) > AGW_CC_MAX_TOKEN)
            abort();
    }
    apr_pool_destroy(p);
    return 0;
}
