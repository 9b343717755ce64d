/* libFuzzer target: claim paths (agw_claim_path_compile, agw_claim_path_get) over claims: input is "path NUL claims-JSON". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "agw_json.h"
#include "agw_jwt.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size), *perr = NULL, *path;
    agw_claim_path_t *cp;
    json_t *claims = NULL, *v;
    agw_err_t err = { 0 };
    apr_pool_t *p;

    if (!nul)
        return 0;
    apr_pool_create(&p, root);
    path = apr_pstrmemdup(p, (const char *)data, (apr_size_t)(nul - (const char *)data));
    cp = agw_claim_path_compile(p, path, &perr);
    if (!cp) {
        if (!perr || !*perr)
            abort();
        goto leave;
    }
    if (strcmp(agw_claim_path_text(cp), path))
        abort();
    if (agw_json_parse(&claims, p, nul + 1, size - (apr_size_t)(nul + 1 - (const char *)data),
                       AGW_JSON_MAX_DEPTH, &err) != APR_SUCCESS)
        goto leave;
    v = agw_claim_path_get(cp, claims);
    /* a literal top-level name that is there is what a path without '/' finds */
    if (path[0] != '/' && json_is_object(claims) && json_object_get(claims, path)
        && v != json_object_get(claims, path))
        abort();
    if (v) {
        (void)agw_claim_has_word(v, "a");
        (void)agw_claim_equals(v, "1");
        (void)agw_json_text(p, v);
    }
leave:
    apr_pool_destroy(p);
    return 0;
}
