/* The module record of mod_auth0gw: Auth0 / OAuth2 JWT gate and gateway-to-machine tokens for Apache httpd 2.4. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>

#include "mod_auth0gw.h"
#include "messages.h"
#include "agw_version.h"

static int agw_version_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                   server_rec *s);

static apr_status_t agw_crypt_release_cleanup(void *unused)
{
    agw_crypt_release();
    return APR_SUCCESS;
}

static void agw_register_hooks(apr_pool_t *p)
{
    /* p is the configuration pool, whose clearing unloads the module right after this
     * cleanup (registered later, so run first): the core's fetched digests are freed */
    apr_pool_cleanup_register(p, NULL, agw_crypt_release_cleanup, apr_pool_cleanup_null);
    /* runs when: the configuration is read, before logs open, also for `apache2 -t`:
     * cross-directive checks that fail the start with file:line and the fix */
    ap_hook_check_config(agw_config_check, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: before the configuration is read: the global mutexes are registered */
    ap_hook_pre_config(agw_cache_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(agw_state_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the shared cache is made */
    ap_hook_post_config(agw_cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent (root): the directory of the
     * keys kept across restarts is made (0700, the child user's) and its key read */
    ap_hook_post_config(agw_state_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the version is announced */
    ap_hook_post_config(agw_version_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the host's counters are made
     * once, or found again after a restart (children inherit them) */
    ap_hook_post_config(agw_metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the host-wide table of
     * verified tokens is mapped once, or found again after a graceful restart */
    ap_hook_post_config(agw_hostcache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: each child starts, before its worker threads: key store + refresher */
    ap_hook_child_init(agw_child_init_hook, NULL, NULL, APR_HOOK_MIDDLE);
    agw_authn_register_hooks(p);
    agw_authz_register_hooks(p);
    agw_proxy_register_hooks(p);
    agw_status_register_hooks(p);
}

AP_DECLARE_MODULE(auth0gw) = {
    STANDARD20_MODULE_STUFF,
    agw_dir_create,
    agw_dir_merge,
    agw_srv_create,
    agw_srv_merge,
    agw_cmds,
    agw_register_hooks
};

static int agw_version_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                   server_rec *s)
{
    ap_add_version_component(pconf, "mod_auth0gw/" AGW_VERSION);
    /* httpd reads its configuration twice at start; say it once, on the pass that serves */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AGW_M_VERSION ": mod_auth0gw %s loaded",
                     AGW_VERSION);
    return OK;
}
