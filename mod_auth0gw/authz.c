/* The authz providers `Require auth0-scope`, `auth0-role` and `auth0-claim`, parsed once at config time. */
#include <string.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_request.h>
#include <ap_provider.h>
#include <mod_auth.h>

#include "mod_auth0gw.h"

APLOG_USE_MODULE(auth0gw);

#define NOTE_CHALLENGE "auth0gw-challenge"

/* One parsed Require line: an optional claim path and the values any of which satisfies it. */
typedef struct agw_require_t {
    agw_claim_path_t *path;     /* auth0-claim only */
    apr_array_header_t *values; /* const char * */
    const char *text;           /* for logs and error_description */
} agw_require_t;

static agw_claim_path_t *default_scope, *default_roles;

static const char *parse_words(agw_require_t **out, cmd_parms *cmd, const char *line,
                               const char *kind, int with_path)
{
    agw_require_t *req = apr_pcalloc(cmd->pool, sizeof(*req));
    const char *w, *err = NULL;

    req->values = apr_array_make(cmd->pool, 2, sizeof(const char *));
    req->text = apr_pstrcat(cmd->pool, kind, " ", line, NULL);
    while (*line && (w = ap_getword_conf(cmd->pool, &line)) && *w) {
        if (with_path && !req->path) {
            if (!(req->path = agw_claim_path_compile(cmd->pool, w, &err)))
                return apr_psprintf(cmd->pool, "Require %s: %s", kind,
                                    err ? err : "invalid claim path");
            continue;
        }
        APR_ARRAY_PUSH(req->values, const char *) = w;
    }
    if (req->values->nelts == 0)
        return apr_psprintf(cmd->pool, "Require %s needs %s", kind,
                            with_path ? "a claim path and at least one value"
                                      : "at least one value");
    *out = req;
    return NULL;
}

static const char *parse_scope(cmd_parms *cmd, const char *line, const void **parsed)
{
    return parse_words((agw_require_t **)parsed, cmd, line, "auth0-scope", 0);
}

static const char *parse_role(cmd_parms *cmd, const char *line, const void **parsed)
{
    return parse_words((agw_require_t **)parsed, cmd, line, "auth0-role", 0);
}

static const char *parse_claim(cmd_parms *cmd, const char *line, const void **parsed)
{
    return parse_words((agw_require_t **)parsed, cmd, line, "auth0-claim", 1);
}

static authz_status deny(request_rec *r, const agw_req_t *st, const agw_require_t *req)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AGW_M_AUTHZ_DENIED ": authorization denied: Require %s not met (fp=%s, sub=%s)",
                  req->text, st->fingerprint, r->user ? r->user : "-");
    agw_count(AGW_COUNT_SCOPE);
    apr_table_setn(r->notes, NOTE_CHALLENGE, apr_pstrcat(r->pool, "requires ", req->text, NULL));
    return AUTHZ_DENIED;
}

typedef int (*matcher_fn)(const json_t *value, const char *want);

static authz_status check(request_rec *r, const agw_require_t *req, agw_claim_path_t *path,
                          matcher_fn match)
{
    const agw_req_t *st;
    const json_t *v;
    int i;

    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    if (!(st = agw_req_get(r)))
        return AUTHZ_DENIED;   /* authenticated by another module: no claims to look at */
    v = agw_claim_path_get(path, st->claims);
    for (i = 0; v && i < req->values->nelts; i++)
        if (match(v, APR_ARRAY_IDX(req->values, i, const char *)))
            return AUTHZ_GRANTED;
    return deny(r, st, req);
}

static authz_status check_scope(request_rec *r, const char *line, const void *parsed)
{
    const agw_req_t *st = agw_req_get(r);
    agw_claim_path_t *p = st && st->conf->scope_claim ? st->conf->scope_claim : default_scope;
    return check(r, parsed, p, agw_claim_has_word);
}

static authz_status check_role(request_rec *r, const char *line, const void *parsed)
{
    const agw_req_t *st = agw_req_get(r);
    agw_claim_path_t *p = st && st->conf->roles_claim ? st->conf->roles_claim : default_roles;
    return check(r, parsed, p, agw_claim_has_word);
}

static authz_status check_claim(request_rec *r, const char *line, const void *parsed)
{
    const agw_require_t *req = parsed;
    return check(r, req, req->path, agw_claim_equals);
}

static const authz_provider scope_provider = { check_scope, parse_scope };
static const authz_provider role_provider = { check_role, parse_role };
static const authz_provider claim_provider = { check_claim, parse_claim };

static int agw_pre_config_authz(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    const char *err;
    default_scope = agw_claim_path_compile(pconf, "scope", &err);
    default_roles = agw_claim_path_compile(pconf, "roles", &err);
    return OK;
}

void agw_authz_register_hooks(apr_pool_t *p)
{
    /* runs when: config is read; default claim paths compiled once */
    ap_hook_pre_config(agw_pre_config_authz, NULL, NULL, APR_HOOK_MIDDLE);
    /* runs when: authz_core evaluates a `Require auth0-*` line */
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth0-scope", AUTHZ_PROVIDER_VERSION,
                              &scope_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth0-role", AUTHZ_PROVIDER_VERSION,
                              &role_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth0-claim", AUTHZ_PROVIDER_VERSION,
                              &claim_provider, AP_AUTH_INTERNAL_PER_CONF);
}
