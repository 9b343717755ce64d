/* The authz providers `Require auth0-scope`, `auth0-role` and `auth0-claim`, parsed once at config time. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_request.h>
#include <ap_provider.h>
#include <mod_auth.h>
#include <ap_expr.h>

#include "agw_json.h"

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
    const agw_dir_conf_t *c = ap_get_module_config(r->per_dir_config, &auth0gw_module);

    if (gw_conf_mode(c) == AGW_MODE_REPORT) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      AGW_M_REPORT_ONLY ": report-only: Require %s would not be met (fp=%s, "
                      "sub=%s, refusal=%s); granted", req->text, st ? st->fingerprint : "-",
                      r->user ? r->user : "-", gw_counter_name(AGW_COUNT_SCOPE));
        gw_count(AGW_COUNT_REPORT_DENIED);
        return AUTHZ_GRANTED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AGW_M_AUTHZ_DENIED ": authorization denied: Require %s not met (fp=%s, sub=%s)",
                  req->text, st->fingerprint, r->user ? r->user : "-");
    gw_count(AGW_COUNT_SCOPE);
    apr_table_setn(r->notes, NOTE_CHALLENGE, apr_pstrcat(r->pool, "requires ", req->text, NULL));
    return AUTHZ_DENIED;
}

typedef int (*matcher_fn)(const json_t *value, const char *want);

static authz_status check(request_rec *r, const agw_require_t *req, agw_claim_path_t *path,
                          matcher_fn match)
{
    agw_req_t *st;
    const json_t *v;
    int i;

    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    if (!(st = gw_req_get(r))) {
        /* report-only without a valid token (reported already), or another module's user */
        const agw_dir_conf_t *c = ap_get_module_config(r->per_dir_config, &auth0gw_module);
        int reported = gw_conf_mode(c) == AGW_MODE_REPORT
                       && apr_table_get(r->notes, AGW_NOTE_OUTCOME);
        return reported ? AUTHZ_GRANTED : AUTHZ_DENIED;
    }
    v = agw_claim_path_get(path, gw_req_claims(r, st));
    for (i = 0; v && i < req->values->nelts; i++)
        if (match(v, APR_ARRAY_IDX(req->values, i, const char *)))
            return AUTHZ_GRANTED;
    return deny(r, st, req);
}

static authz_status check_scope(request_rec *r, const char *line, const void *parsed)
{
    const agw_req_t *st = gw_req_get(r);
    agw_claim_path_t *p = st && st->conf->scope_claim ? st->conf->scope_claim : default_scope;
    return check(r, parsed, p, agw_claim_has_word);
}

static authz_status check_role(request_rec *r, const char *line, const void *parsed)
{
    const agw_req_t *st = gw_req_get(r);
    agw_claim_path_t *p = st && st->conf->roles_claim ? st->conf->roles_claim : default_roles;
    return check(r, parsed, p, agw_claim_has_word);
}

static authz_status check_claim(request_rec *r, const char *line, const void *parsed)
{
    const agw_require_t *req = parsed;
    return check(r, req, req->path, agw_claim_equals);
}

const authz_provider gw_scope_provider = { check_scope, parse_scope };
const authz_provider gw_role_provider = { check_role, parse_role };
const authz_provider gw_claim_provider = { check_claim, parse_claim };

/* ---- auth0_claim('PATH') in Apache's expression language ------------------------------------- */

/* The claim's text (arrays comma-joined, as Auth0ClaimEnv gives it); empty without a valid
 * token, that is also before authentication has run. */
static const char *claim_fn(ap_expr_eval_ctx_t *ctx, const void *data, const char *arg)
{
    const agw_claim_path_t *path = data;
    agw_req_t *st;
    const json_t *v;
    const char *err;
    json_t *claims;

    if (!ctx->r || !(st = gw_req_get(ctx->r)) || !(claims = gw_req_claims(ctx->r, st)))
        return "";
    if (!path && !(path = agw_claim_path_compile(ctx->p, arg ? arg : "", &err)))
        return "";
    v = agw_claim_path_get(path, claims);
    return v ? agw_json_text(ctx->p, v) : "";
}

/* mod_authz_core's record for one `Require expr` line while it is parsed (a private struct
 * of httpd 2.4, stable since 2.4.0): its expression is still unset during the parse, which
 * tells this parse from an older one whose record is still in the pool. */
struct require_expr_info {
    ap_expr_info_t *expr;
    int want_user;
};

int gw_claim_lookup(ap_expr_lookup_parms *parms)
{
    struct require_expr_info *info = NULL;
    const char *err = NULL;

    if (parms->type != AP_EXPR_FUNC_STRING || strcasecmp(parms->name, "auth0_claim") != 0)
        return DECLINED;
    *parms->func = (const void *)claim_fn;
    *parms->data = NULL;
    if (parms->arg) {
        /* a literal PATH is compiled once, and a bad one fails the configuration */
        if (!(*parms->data = agw_claim_path_compile(parms->pool, parms->arg, &err))) {
            *parms->err = apr_psprintf(parms->ptemp, "auth0_claim('%s'): %s", parms->arg,
                                       err ? err : "invalid claim path");
            return !OK;
        }
    }
    /* `Require expr` with auth0_claim() wants a user, as with REMOTE_USER: a request
     * without a token then gets 401 and the challenge, not 403 */
    apr_pool_userdata_get((void **)&info, "Require_expr_info", parms->ptemp);
    if (info && !info->expr)
        info->want_user = 1;
    return OK;
}

int gw_pre_config_authz(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    const char *err;
    default_scope = agw_claim_path_compile(pconf, "scope", &err);
    default_roles = agw_claim_path_compile(pconf, "roles", &err);
    return OK;
}
