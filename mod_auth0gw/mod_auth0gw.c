/* The module record of mod_auth0gw: Auth0 / OAuth2 JWT gate and gateway-to-machine tokens for Apache httpd 2.4. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "mod_auth0gw.h"

static void agw_child_init_hook(apr_pool_t *pchild, server_rec *s)
{
    agw_child_init(pchild, s);
}

static void agw_register_hooks(apr_pool_t *p)
{
    /* runs when: the configuration is complete, in the parent (and in `apache2 -t`):
     * cross-directive checks that fail the start with file:line and the fix */
    ap_hook_post_config(agw_config_check, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: each child starts, before its worker threads: key store + refresher */
    ap_hook_child_init(agw_child_init_hook, NULL, NULL, APR_HOOK_MIDDLE);
    agw_authn_register_hooks(p);
    agw_authz_register_hooks(p);
}

AP_DECLARE_MODULE(auth0gw) = {
    STANDARD20_MODULE_STUFF,
    agw_dir_create,
    agw_dir_merge,
    NULL,
    NULL,
    agw_cmds,
    agw_register_hooks
};
