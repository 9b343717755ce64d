/* libFuzzer target: any bytes as an OpenID discovery document (agw_keys_discovery_parse). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "agw_keys.h"

#define ISSUER "https://issuer.example/"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *uri = NULL, *uri_http = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv, rv_http;
    apr_pool_t *p;

    apr_pool_create(&p, root);
    rv = agw_keys_discovery_parse(&uri, p, (const char *)data, size, ISSUER, 0, &err);
    if (rv == APR_SUCCESS) {
        if (!uri || strncasecmp(uri, "https://", 8))
            abort();
    }
    else if (!err.reason || uri) {
        abort();
    }
    rv_http = agw_keys_discovery_parse(&uri_http, p, (const char *)data, size, ISSUER, 1, &err);
    /* allowing http never refuses what https-only accepted */
    if (rv == APR_SUCCESS && (rv_http != APR_SUCCESS || strcmp(uri, uri_http)))
        abort();
    if (rv_http == APR_SUCCESS && strncasecmp(uri_http, "https://", 8)
        && strncasecmp(uri_http, "http://", 7))
        abort();
    apr_pool_destroy(p);
    return 0;
}
