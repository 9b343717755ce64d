/* libFuzzer target: our fast JSON reader against jansson; whatever ours accepts, jansson must accept as an equal value, and agw_json_parse must agree with jansson. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "agw_json.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_error_t jerr;
    json_t *ours, *theirs, *parsed = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_pool_t *p;
    size_t i, opens = 0;

    if (size > 64 * 1024)
        return 0;
    theirs = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

    /* the fast reader recurses per level and relies on the caller's depth bound: give it only
     * texts with few brackets at all (an upper bound on their depth) */
    for (i = 0; i < size; i++)
        opens += data[i] == '[' || data[i] == '{';
    if (opens <= 64) {
        ours = agw_json_fast(text, size);
        if (ours && (!theirs || !json_equal(ours, theirs)))
            abort(); /* accepted what jansson refuses, or read it differently */
        json_decref(ours);
    }

    /* the public parser: jansson's verdict and value, except what the prescan refuses first
     * (nesting deeper than the bound, raw NUL bytes) */
    apr_pool_create(&p, root);
    if (agw_json_parse(&parsed, p, text, size, AGW_JSON_MAX_DEPTH, &err) == APR_SUCCESS) {
        if (!theirs || !json_equal(parsed, theirs))
            abort();
    }
    else if (theirs && strcmp(err.reason, "JSON: nesting too deep") != 0
             && strcmp(err.reason, "JSON: embedded NUL") != 0) {
        abort();
    }
    apr_pool_destroy(p);
    json_decref(theirs);
    return 0;
}
