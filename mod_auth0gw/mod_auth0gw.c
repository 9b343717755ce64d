/* The module record of mod_auth0gw: Auth0 / OAuth2 JWT gate and gateway-to-machine tokens for Apache httpd 2.4. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mod_auth.h>
#include <ap_expr.h>

#include "mod_auth0gw.h"
#include "messages.h"
#include "agw_version.h"

static int gw_version_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                   server_rec *s);

static apr_status_t gw_crypt_release_cleanup(void *unused)
{
    agw_crypt_release();
    return APR_SUCCESS;
}

/* The providers of `Require auth0-scope`, `auth0-role` and `auth0-claim` (authz.c). */
static void gw_register_authz_providers(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth0-scope", AUTHZ_PROVIDER_VERSION,
                              &gw_scope_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth0-role", AUTHZ_PROVIDER_VERSION,
                              &gw_role_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth0-claim", AUTHZ_PROVIDER_VERSION,
                              &gw_claim_provider, AP_AUTH_INTERNAL_PER_CONF);
}

/* The gateway-to-machine hooks (proxy.c): the client's token goes into a proxied request,
 * and nowhere else. */
static void gw_register_proxy_hooks(void)
{
    /* runs when: fixups, last, after mod_rewrite's [P] and before mod_proxy's handler:
     * the client's token is put into the proxied request */
    ap_hook_fixups(gw_proxy_fixups, NULL, NULL, APR_HOOK_LAST);
    /* runs when: a request is logged, first: that token leaves the request's headers before
     * mod_log_config (or any module) can log them */
    ap_hook_log_transaction(gw_proxy_log_scrub, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* runs when: an internal redirect or a subrequest has its per-dir configuration, first:
     * it does not inherit the backend's token of the request it came from */
    ap_hook_post_perdir_config(gw_proxy_inherit_scrub, NULL, NULL, APR_HOOK_REALLY_FIRST);
}

/* Every hook of the module is registered here (the proxy's in gw_register_proxy_hooks), each with the phase it runs in; the order of
 * registration and the APR_HOOK_* positions decide the order among ours. */
static void gw_register_hooks(apr_pool_t *p)
{
    /* p is the configuration pool, whose clearing unloads the module right after this
     * cleanup (registered later, so run first): the core's fetched digests are freed */
    apr_pool_cleanup_register(p, NULL, gw_crypt_release_cleanup, apr_pool_cleanup_null);
    /* runs when: the configuration is read, before logs open, also for `apache2 -t`:
     * cross-directive checks that fail the start with file:line and the fix */
    ap_hook_check_config(gw_config_check, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: before the configuration is read: the global mutexes are registered */
    ap_hook_pre_config(gw_cache_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(gw_state_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: before the configuration is read, at start and every restart: OpenSSL is
     * set up once for the children to inherit */
    ap_hook_pre_config(gw_lifecycle_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: under ChrootDir libcurl is
     * loaded before the children chroot (otherwise each process loads it at its first
     * transfer) */
    ap_hook_post_config(gw_lifecycle_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the shared cache is made */
    ap_hook_post_config(gw_cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent (root): the directory of the
     * keys kept across restarts is made (0700, the child user's) and its key read */
    ap_hook_post_config(gw_state_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the version is announced */
    ap_hook_post_config(gw_version_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the host's counters are made
     * once, or found again after a restart (children inherit them) */
    ap_hook_post_config(gw_metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the configuration is complete, in the parent: the host-wide table of
     * verified tokens is mapped once, or found again after a graceful restart */
    ap_hook_post_config(gw_hostcache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: each child starts, before its worker threads: key store + refresher */
    ap_hook_child_init(gw_child_init_hook, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: the per-dir walks are done, for main requests, subrequests and internal
     * redirects alike (header_parser runs for main requests only), before header_parser,
     * access/authn/authz and mod_rewrite's per-dir rules: claim headers are cleared before
     * anything can read them */
    ap_hook_post_perdir_config(gw_strip_claim_headers, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* runs when: just before the handler, after fixups: a fast redirect (DirectoryIndex,
     * FallbackResource, MultiViews) has given r another per-dir config but not the
     * subrequest's stripped headers */
    ap_hook_insert_filter(gw_strip_final, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* runs when: authentication, for locations with AuthType Auth0 */
    ap_hook_check_authn(gw_authenticate, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    /* runs when: access checking, before mod_authz_core evaluates the Require lines: a CORS
     * preflight at an Auth0PassPreflight location is let in */
    ap_hook_check_access_ex(gw_preflight, NULL, NULL, APR_HOOK_FIRST,
                            AP_AUTH_INTERNAL_PER_CONF);
    /* runs when: fixups, before mod_rewrite's per-dir rules: Auth0Mode optional and
     * report-only check a token that no Require line asked for */
    ap_hook_fixups(gw_authenticate_late, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* runs when: authz_core answers 401 for our auth type */
    ap_hook_note_auth_failure(gw_note_auth_failure, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: an error response is about to be sent */
    ap_hook_insert_error_filter(gw_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: config is read; default claim paths compiled once (authz.c) */
    ap_hook_pre_config(gw_pre_config_authz, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: an expression (Require expr, <If>, RewriteCond expr=, Header expr=,
     * SetEnvIfExpr) is parsed and names auth0_claim() */
    ap_hook_expr_lookup(gw_claim_lookup, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: authz_core evaluates a `Require auth0-*` line */
    gw_register_authz_providers(p);
    gw_register_proxy_hooks();
    /* runs when: content generation, for `SetHandler auth0-status` */
    ap_hook_handler(gw_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(auth0gw) = {
    STANDARD20_MODULE_STUFF,
    gw_dir_create,
    gw_dir_merge,
    gw_srv_create,
    gw_srv_merge,
    gw_cmds,
    gw_register_hooks
};

static int gw_version_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                   server_rec *s)
{
    ap_add_version_component(pconf, "mod_auth0gw/" AGW_VERSION);
    /* httpd reads its configuration twice at start; say it once, on the pass that serves */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AGW_M_VERSION ": mod_auth0gw %s loaded",
                     AGW_VERSION);
    return OK;
}
