/* The host-wide table of verified tokens: an anonymous shared mapping made by the parent before its children fork, kept across graceful restarts. */
#include <apr_shm.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_core.h>
#include <http_main.h>

#include "mod_auth0gw.h"

APLOG_USE_MODULE(auth0gw);

#define RETAINED_KEY "auth0gw-host-token-table"

/* Kept by httpd across restarts (the module itself is unloaded and loaded again): a graceful
 * restart keeps the host's verified tokens; a new Auth0TokenCache makes a new table. */
typedef struct retained_t {
    apr_shm_t *shm;
    agw_hcache_t *table;
    unsigned int entries;
} retained_t;

static agw_hcache_t *table;     /* set in post_config, in the parent, before the children fork */

/* The table's region in shm: from the first page boundary of the mapping (APR keeps its own
 * word at the mapping's start), so that each 2 KiB bucket lies within one page; its size in
 * *size. The mapping's address is the same in every process forked from this parent. */
static void *table_region(apr_shm_t *shm, apr_size_t *size)
{
    char *base = apr_shm_baseaddr_get(shm);
    apr_size_t skip = (AGW_HCACHE_ALIGN - (apr_size_t)((apr_uintptr_t)base % AGW_HCACHE_ALIGN))
                      % AGW_HCACHE_ALIGN;
    apr_size_t have = apr_shm_size_get(shm);

    *size = have > skip ? have - skip : 0;
    return base + skip;
}

/* The mapping has no name and no file: only the processes httpd forks from this parent can
 * read or write it, so what it says was written by this host's own module. */
int gw_hostcache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                              server_rec *s)
{
    agw_srv_conf_t *sc = ap_get_module_config(s->module_config, &auth0gw_module);
    apr_int64_t n = sc->token_cache == AGW_UNSET ? AGW_DEFAULT_TOKEN_CACHE : sc->token_cache;
    retained_t *kept;
    apr_size_t size = 0;
    apr_status_t rv;
    void *region;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    table = NULL;
    kept = ap_retained_data_get(RETAINED_KEY);
    if (!kept)
        kept = ap_retained_data_create(RETAINED_KEY, sizeof(*kept));
    /* a table kept across the restart is taken over only if it has this build's layout and
     * size: a graceful restart after an upgrade of the module finds an older table there
     * (layout 2, which began at the mapping's 8th byte, is always smaller than the region
     * layout 3 needs from the first page boundary: agw_hcache_init refuses it by its size) */
    region = kept->table ? table_region(kept->shm, &size) : NULL;
    if (kept->table && (kept->entries != (unsigned int)n
                        || !agw_hcache_init(region, size, (unsigned int)n))) {
        /* the children of the old generation keep their own mapping until they end */
        apr_shm_destroy(kept->shm);
        kept->shm = NULL;
        kept->table = NULL;
    }
    if (n <= 0)
        return OK;
    if (!kept->table) {
        size = agw_hcache_bytes((unsigned int)n);
        /* the process pool lives as long as the parent, across restarts */
        rv = size ? apr_shm_create(&kept->shm, size + AGW_HCACHE_ALIGN, NULL, s->process->pool)
                  : APR_ENOMEM;
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, AGW_M_HCACHE_SHM ": cannot create "
                         "the shared memory for the host's verified tokens (%" APR_SIZE_T_FMT
                         " bytes); each process keeps its own cache", size);
            kept->shm = NULL;
            return OK;
        }
        region = table_region(kept->shm, &size);
        kept->table = agw_hcache_init(region, size, (unsigned int)n);
        kept->entries = (unsigned int)n;
    }
    table = kept->table;
    return OK;
}

agw_hcache_t *gw_hostcache(void)
{
    return table;
}
