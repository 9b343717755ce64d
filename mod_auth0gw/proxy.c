/* Gateway-to-machine: <Auth0Client> definitions and the client-credentials token put on proxied requests. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_uri.h>
#include <apr_lib.h>
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_auth0gw.h"

/* pool data keys: the credential values this module put into a proxied request */
#define INJECTED_AUTHORIZATION "auth0gw:injected-authorization"
#define INJECTED_DPOP          "auth0gw:injected-dpop"
#include "agw_hot.h"
#include "agw_client.h"
#include "agw_ccstore.h"

APLOG_USE_MODULE(auth0gw);

/* The client-credentials tokens of this process (src/agw_ccstore.c), made in child_init. */
static agw_ccstore_t *ccstore;

/* ---- configuration ----------------------------------------------------------------------- */

static agw_srv_conf_t *srv_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &auth0gw_module);
}

agw_client_t *gw_current_client(cmd_parms *cmd)
{
    return srv_of(cmd)->current;
}

static const char *in_client(cmd_parms *cmd, agw_client_t **pc)
{
    *pc = srv_of(cmd)->current;
    return *pc ? NULL : apr_psprintf(cmd->pool, "%s is only valid inside <Auth0Client NAME>",
                                     cmd->cmd->name);
}

/* Runs the directives of an <Auth0Client> block one by one. Auth0Domain, Auth0CAFile and
 * Auth0InsecureHTTP are per-directory (AuthConfig) directives that httpd refuses at server
 * level, where the block is; they alone get AuthConfig rights here (their setters see the
 * current client), so that no other per-directory directive inside the block silently
 * configures the whole server instead of the client. */
static const char *walk_client_block(cmd_parms *cmd)
{
    static const char *const dir_cmds[] = { "Auth0Domain", "Auth0CAFile", "Auth0InsecureHTTP",
                                            NULL };
    ap_directive_t *d, *next;
    const char *err = NULL;
    int saved = cmd->override, i;

    for (d = cmd->directive->first_child; d && !err; d = next) {
        next = d->next;
        for (i = 0; dir_cmds[i]; i++)
            if (!strcasecmp(d->directive, dir_cmds[i]))
                cmd->override |= OR_AUTHCFG;
        d->next = NULL;         /* ap_walk_config runs a directive and its siblings */
        err = ap_walk_config(d, cmd, cmd->context);
        d->next = next;
        cmd->override = saved;
    }
    return err;
}

const char *gw_client_section(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_srv_conf_t *sc = srv_of(cmd);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT), *endp, *name, *args;
    agw_client_t *c;

    if (err)
        return err;
    endp = ap_strrchr_c(arg, '>');
    if (!endp)
        return "<Auth0Client> section is missing its closing '>'";
    args = apr_pstrmemdup(cmd->pool, arg, endp - arg);
    name = ap_getword_conf(cmd->pool, &args);
    if (!*name)
        return "<Auth0Client> needs a name, e.g. <Auth0Client orders>";
    if (sc->current)
        return "<Auth0Client> sections cannot be nested";
    if (apr_hash_get(sc->clients, name, APR_HASH_KEY_STRING))
        return apr_psprintf(cmd->pool, "<Auth0Client %s> is defined twice in this server", name);
    c = apr_pcalloc(cmd->pool, sizeof(*c));
    c->name = name;
    c->renew_percent = 80;
    c->params = apr_array_make(cmd->pool, 2, sizeof(const char *));
    c->http.allow_http = AGW_UNSET;
    sc->current = c;
    err = walk_client_block(cmd);
    sc->current = NULL;
    if (err)
        return err;
    apr_hash_set(sc->clients, name, APR_HASH_KEY_STRING, c);
    apr_hash_set(sc->client_where, name, APR_HASH_KEY_STRING,
                 apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                              cmd->directive->line_num));
    return NULL;
}

const char *gw_set_token_url(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);

    if (err)
        return err;
    if ((err = agw_conf_url(cmd->pool, arg, 1, 0)))
        return apr_psprintf(cmd->pool, "Auth0TokenURL: %s", err);
    c->token_url = arg;
    return NULL;
}

/* The plain string directives of <Auth0Client>: cmd->info is the field's offset. */
const char *gw_set_client_str(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);

    if (!err)
        *(const char **)((char *)c + (apr_size_t)cmd->info) = arg;
    return err;
}

const char *gw_set_client_secret(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c), *secret;
    apr_size_t len;
    int literal = 0;

    if (err)
        return err;
    if ((err = agw_conf_secret(&secret, &len, &literal, cmd->pool, arg, 1)))
        return apr_psprintf(cmd->pool, "Auth0ClientSecret: %s", err);
    if (literal)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     AGW_M_SECRET_INLINE ": %s:%d: Auth0ClientSecret is written in the configuration; "
                     "prefer file:PATH (readable by root only) or env:VAR",
                     cmd->directive->filename, cmd->directive->line_num);
    c->secret = secret;
    return NULL;
}

const char *gw_set_client_scope(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);

    if (!err)
        c->scope = c->scope ? apr_pstrcat(cmd->pool, c->scope, " ", arg, NULL) : arg;
    return err;
}

static const agw_conf_word_t client_auth_words[] = {
    { "client_secret_post", AGW_CLIENT_AUTH_POST }, { "client_secret_basic", AGW_CLIENT_AUTH_BASIC },
    { "private_key_jwt", AGW_CLIENT_AUTH_PKJWT }, { NULL, 0 }
};

const char *gw_set_client_auth(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);
    int method;

    if (err)
        return err;
    if ((err = agw_conf_keyword(&method, cmd->pool, arg, client_auth_words,
                                "a client authentication method")))
        return apr_pstrcat(cmd->pool, "Auth0ClientAuth: ", err, NULL);
    c->auth = (agw_client_auth_e)method;
    return NULL;
}

const char *gw_set_client_param(cmd_parms *cmd, void *dc, const char *name,
                                    const char *value)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);
    static const char *const reserved[] = { "grant_type", "client_id", "client_secret",
                                            "client_assertion", "client_assertion_type",
                                            "audience", "scope", NULL };
    int i;

    if (err)
        return err;
    for (i = 0; reserved[i]; i++)
        if (!strcasecmp(name, reserved[i]))
            return apr_psprintf(cmd->pool, "Auth0ClientParam: %s is set by its own directive "
                                           "or by the grant; it cannot be overridden", name);
    APR_ARRAY_PUSH(c->params, const char *) = name;
    APR_ARRAY_PUSH(c->params, const char *) = value;
    return NULL;
}

const char *gw_set_client_key(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c), *pem;
    apr_size_t len;
    int literal;
    agw_err_t kerr = { NULL, NULL, AGW_R_NONE };

    if (err)
        return err;
    if ((err = agw_conf_secret(&pem, &len, &literal, cmd->pool, arg, 0)))
        return apr_psprintf(cmd->pool, "Auth0ClientKey: %s", err);
    if (agw_privkey_load(&c->sign_key, cmd->pool, pem, len, &kerr) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "Auth0ClientKey: %s: %s; give an unencrypted PEM "
                                       "private key (RSA >= 2048 bits, EC or Ed25519)",
                            arg, kerr.reason ? kerr.reason : "unusable key");
    return NULL;
}

const char *gw_set_client_dpop_key(cmd_parms *cmd, void *dc, const char *arg,
                                    const char *alg_name)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c), *pem;
    apr_size_t len;
    int literal;
    agw_alg_e alg = AGW_ALG_NONE;
    agw_err_t kerr = { NULL, NULL, AGW_R_NONE };

    if (err)
        return err;
    if (alg_name && (alg = agw_alg_from_name(alg_name, (apr_size_t)-1)) != AGW_ALG_ES256
        && alg != AGW_ALG_EDDSA && alg != AGW_ALG_RS256 && alg != AGW_ALG_PS256)
        return apr_psprintf(cmd->pool, "Auth0ClientDPoPKey: %s is not a DPoP algorithm we "
                                       "sign with: ES256, EdDSA, RS256 or PS256", alg_name);
    if ((err = agw_conf_secret(&pem, &len, &literal, cmd->pool, arg, 0)))
        return apr_psprintf(cmd->pool, "Auth0ClientDPoPKey: %s", err);
    if (agw_dpopsign_load(&c->dpop_key, cmd->pool, pem, len, alg, &kerr) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "Auth0ClientDPoPKey: %s: %s; give an unencrypted PEM "
                                       "private key: EC P-256 (ES256), Ed25519 (EdDSA) or RSA "
                                       ">= 2048 bits (RS256, or PS256 as second argument)",
                            arg, kerr.reason ? kerr.reason : "unusable key");
    return NULL;
}

const char *gw_set_client_renew(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);
    apr_int64_t pct;
    char *s = apr_pstrdup(cmd->pool, arg);
    apr_size_t n = strlen(s);

    if (err)
        return err;
    if (n && s[n - 1] == '%')
        s[n - 1] = '\0';
    if ((err = agw_conf_seconds(&pct, cmd->pool, s, 100)) || pct < 10 || pct > 95)
        return "Auth0ClientRenew: give the share of the token lifetime after which it is "
               "renewed, between 10% and 95% (default 80%)";
    c->renew_percent = (int)pct;
    return NULL;
}

static unsigned int default_port(const char *scheme)
{
    if (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "ws") || !strcasecmp(scheme, "h2c"))
        return 80;
    if (!strcasecmp(scheme, "https") || !strcasecmp(scheme, "wss") || !strcasecmp(scheme, "h2"))
        return 443;
    return 0;
}

/* The origin "scheme://host:port" (lower case, effective port) of a URL, or NULL. A balancer
 * is its own origin, "balancer://name": its members are chosen after the fixups. When
 * origin_only, anything past the origin other than a lone "/" makes it NULL. */
static const char *origin_of(apr_pool_t *p, const char *url, int origin_only)
{
    apr_uri_t u;
    const char *bar;
    unsigned int port;
    char *scheme, *host;

    if (!strncasecmp(url, "unix:", 5) && (bar = strchr(url, '|')))
        url = bar + 1;          /* mod_proxy's unix:/path|http://host/... */
    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.scheme || !u.hostname || !*u.hostname)
        return NULL;
    if (origin_only && (u.user || u.password || u.query || u.fragment
                        || (u.path && strcmp(u.path, "/") != 0)))
        return NULL;
    scheme = apr_pstrdup(p, u.scheme);
    host = apr_pstrdup(p, u.hostname);
    ap_str_tolower(scheme);
    ap_str_tolower(host);
    if (!strcmp(scheme, "balancer"))
        return u.port_str ? NULL : apr_pstrcat(p, "balancer://", host, NULL);
    port = u.port_str ? u.port : default_port(scheme);
    if (!port)
        return NULL;
    return apr_psprintf(p, "%s://%s%s%s:%u", scheme, strchr(host, ':') ? "[" : "", host,
                        strchr(host, ':') ? "]" : "", port);
}

const char *gw_set_client_backend(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c), *origin;

    if (err)
        return err;
    if (!(origin = origin_of(cmd->pool, arg, 1)))
        return apr_psprintf(cmd->pool, "Auth0ClientBackend: %s is not an origin; give "
                                       "scheme://host[:port] without a path (the port may be "
                                       "left out for http and https), e.g. "
                                       "https://orders.internal:8443, or balancer://NAME", arg);
    if (!c->backends)
        c->backends = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c->backends, const char *) = origin;
    return NULL;
}

const char *gw_set_proxy_client(cmd_parms *cmd, void *dc, const char *arg)
{
    ((agw_dir_conf_t *)dc)->proxy_client = arg;
    return NULL;
}


/* Completes every client of every server: token URL from Auth0Domain, TLS options, checks.
 * Called from check_config so that `apache2 -t` reports the problems. */
int gw_clients_check(apr_pool_t *pconf, server_rec *s)
{
    int bad = 0;
    server_rec *vs;

    for (vs = s; vs; vs = vs->next) {
        agw_srv_conf_t *sc = ap_get_module_config(vs->module_config, &auth0gw_module);
        const agw_dir_conf_t *dflt = ap_get_module_config(vs->lookup_defaults,
                                                          &auth0gw_module);
        apr_hash_index_t *hi;
        for (hi = apr_hash_first(pconf, sc->clients); hi; hi = apr_hash_next(hi)) {
            agw_client_t *c = apr_hash_this_val(hi);
            const char *where = apr_hash_get(sc->client_where, c->name, APR_HASH_KEY_STRING);
            const char *why;
            if (c->cache_key)
                continue;       /* inherited by a virtual host: already done */
            if (!c->token_url && dflt && dflt->domain)
                c->token_url = apr_pstrcat(pconf, "https://", dflt->domain, "/oauth/token",
                                           NULL);
            if (c->http.allow_http == AGW_UNSET)
                c->http.allow_http = dflt && dflt->insecure_http == 1;
            if (!c->http.ca_file && dflt)
                c->http.ca_file = dflt->ca_file;
            if ((why = agw_client_finish(c, pconf))) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AGW_M_CONFIG ": %s: <Auth0Client %s>: %s",
                             where ? where : "?", c->name, why);
                bad++;
            }
            else if (!strncasecmp(c->token_url, "http://", 7) && !c->http.allow_http) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                             AGW_M_CONFIG ": %s: <Auth0Client %s>: Auth0TokenURL %s is plain http: "
                             "the client secret would travel in clear; use https, or "
                             "Auth0InsecureHTTP On inside the block for development only",
                             where ? where : "?", c->name, c->token_url);
                bad++;
            }
        }
    }
    return bad;
}

/* ---- per-process state --------------------------------------------------------------------- */

/* What the store's log callback needs: the request it serves and the client. */
typedef struct cc_baton_t {
    request_rec *r;
    const agw_client_t *c;
} cc_baton_t;

/* The store logs through the request it serves (AGW0210 and AGW0211 carry its context); its
 * fetch outcomes are counted host-wide. */
static void cc_log(void *baton, agw_log_level_e level, int msgno, const char *msg)
{
    cc_baton_t *b = baton;

    if (!b || !b->r)
        return;
    if (msgno == AGW_MSG_CC_OBTAINED) {
        gw_metrics_client(b->c->name, 1);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, b->r, AGW_M_CLIENT_TOKEN ": %s", msg);
    }
    else if (msgno == AGW_MSG_CC_FAILED) {
        gw_metrics_client(b->c->name, 0);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, b->r, AGW_M_CLIENT_FAILED ": %s", msg);
    }
    else if (msgno == AGW_MSG_CC_RESTORED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, b->r, AGW_M_CC_RESTORED ": %s", msg);
    }
    else {
        ap_log_rerror(APLOG_MARK, level == AGW_LOG_ERR ? APLOG_ERR : APLOG_DEBUG, 0, b->r,
                      "AGW%04d: %s", msgno, msg);
    }
}

static apr_status_t cc_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                           apr_pool_t *p)
{
    return gw_cache_get(pdata, plen, key, p, baton);
}

static apr_status_t cc_put(void *baton, const char *key, const char *data, apr_size_t len,
                           apr_int64_t expires_at, apr_pool_t *p)
{
    return gw_cache_put(key, data, len, expires_at, p, baton);
}

static apr_status_t cc_del(void *baton, const char *key, apr_pool_t *p)
{
    return gw_cache_del(key, p, baton);
}

static apr_status_t cc_try_lock(void *baton)
{
    return gw_fetch_lock(0);
}

static void cc_unlock(void *baton)
{
    gw_fetch_unlock();
}

static agw_shared_t cc_shared = { cc_get, cc_put, NULL, cc_del };
static const agw_cc_hostlock_t cc_hostlock = { cc_try_lock, cc_unlock, NULL };

void gw_proxy_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    if ((rv = agw_ccstore_create(&ccstore, pchild, cc_log, NULL)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AGW_M_CC_STORE ": cannot create the client "
                     "token store: proxied requests of Auth0ProxyClient locations get 503");
        ccstore = NULL;
        return;
    }
    cc_shared.baton = s;
    agw_ccstore_share(ccstore, &cc_shared, &cc_hostlock, gw_cache_is_network());
    agw_ccstore_persist(ccstore, gw_state_persist(s));
}

/* ProxyPass, balancers and RewriteRule [P] are decided by now; SetHandler "proxy:URL" only
 * names mod_proxy's handler, which turns it into a proxy request after the fixups. */
static int is_proxied(request_rec *r)
{
    return r->proxyreq != PROXYREQ_NONE
           || (r->filename && strncmp(r->filename, "proxy:", 6) == 0)
           || (r->handler && (strcmp(r->handler, "proxy-server") == 0
                              || strncmp(r->handler, "proxy:", 6) == 0));
}

/* The URL mod_proxy will forward to: r->filename after "proxy:", or for SetHandler
 * "proxy:URL" the handler's URL. */
static const char *proxied_url(request_rec *r)
{
    if (r->filename && strncmp(r->filename, "proxy:", 6) == 0)
        return r->filename + 6;
    if (r->handler && strncmp(r->handler, "proxy:", 6) == 0)
        return r->handler + 6;
    return NULL;
}

static int backend_allowed(const agw_client_t *c, const char *origin)
{
    int i;

    for (i = 0; origin && i < c->backends->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(c->backends, i, const char *), origin))
            return 1;
    return 0;
}

/* The URL mod_proxy sends the request to, as a DPoP proof's htu (query and fragment are
 * dropped when signing): r->filename after "proxy:" (mod_proxy has made it canonical by now);
 * for SetHandler "proxy:URL", the handler's URL followed by r->filename, as mod_proxy's
 * handler joins them; a unix-socket prefix "unix:/path|" dropped. NULL for a balancer: its
 * member is chosen after the fixups. */
static const char *dpop_target(request_rec *r)
{
    const char *url, *bar;

    if (r->filename && strncmp(r->filename, "proxy:", 6) == 0)
        url = r->filename + 6;
    else if (r->handler && strncmp(r->handler, "proxy:", 6) == 0)
        url = apr_pstrcat(r->pool, r->handler + 6, r->filename, NULL);
    else
        return NULL;
    if (!strncasecmp(url, "unix:", 5) && (bar = strchr(url, '|')))
        url = bar + 1;
    if (!strncasecmp(url, "balancer:", 9) || !strstr(url, "://"))
        return NULL;
    return url;
}

/* The credential for this request, from the core in one call: the token, and for a DPoP
 * client a fresh proof of it (htm the method, htu the backend URL, ath the token's hash, iat
 * the time the token was had: it may have waited for it). OK, or the status to answer with
 * (503 with Retry-After, 500), logged. */
static int credential_for(request_rec *r, const agw_client_t *c, agw_credential_t *cred)
{
    agw_cred_req_t req = { r->method, c->dpop_key ? dpop_target(r) : NULL };
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    cc_baton_t baton = { r, c };
    apr_int64_t retry_after = 5;

    memset(cred, 0, sizeof(*cred));
    cred->fail = AGW_CRED_NO_TOKEN;
    if (ccstore)
        agw_ccstore_credential(cred, &retry_after, ccstore, c, &req, r->pool,
                               (apr_int64_t)apr_time_sec(apr_time_now()), &baton, &err);
    switch (cred->fail) {
    case AGW_CRED_OK:
        return OK;
    case AGW_CRED_NO_TOKEN:
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                    retry_after > 0 ? retry_after : 1));
        gw_count(AGW_COUNT_PROXY_503);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AGW_M_PROXY_NO_TOKEN ": no token for client %s: request not forwarded", c->name);
        return HTTP_SERVICE_UNAVAILABLE;
    case AGW_CRED_NO_PROOF:
        break;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  AGW_M_PROXY_DPOP ": client %s: no DPoP proof for the backend request: %s; "
                  "request not forwarded (500)", c->name,
                  req.target ? (err.reason ? err.reason : "signing failed")
                             : "the backend URL is not known here (a balancer:// chooses its "
                               "member later; use a ProxyPass to the member's URL)");
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* ---- the caller's token does not travel on --------------------------------------------------- */

/* Header names as CGI and PHP see them: case ignored, '_' the same as '-'. */
static int same_header(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : apr_tolower(*a), y = *b == '_' ? '-' : apr_tolower(*b);
        if (x != y)
            return 0;
    }
    return !*a && !*b;
}

static void scrub_header(request_rec *r, const char *name)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *gone = apr_array_make(r->pool, 1, sizeof(const char *));
    int i;

    for (i = 0; i < arr->nelts; i++)
        if (e[i].key && same_header(e[i].key, name))
            APR_ARRAY_PUSH(gone, const char *) = e[i].key;
    for (i = 0; i < gone->nelts; i++)
        apr_table_unset(r->headers_in, APR_ARRAY_IDX(gone, i, const char *));
}

/* A Cookie header's value without the cookie name (any case), or NULL when none is left.
 * httpd joins repeated Cookie fields with ", ", so a comma ends a cookie as ';' does; the
 * separators of the cookies kept stay as they were. */
static const char *cookies_without(apr_pool_t *p, const char *value, const char *name)
{
    apr_size_t nlen = strlen(name);
    const char *v = value, *out = NULL;
    char sep = ';';

    while (*v) {
        const char *start, *end, *key_end;
        apr_size_t len = strcspn(v, ";,");
        char next = v[len];
        for (start = v, end = v + len; start < end && (*start == ' ' || *start == '\t');)
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        for (key_end = start; key_end < end && *key_end != '=';)
            key_end++;
        while (key_end > start && (key_end[-1] == ' ' || key_end[-1] == '\t'))
            key_end--;
        if (end > start && !((apr_size_t)(key_end - start) == nlen
                             && !strncasecmp(start, name, nlen))) {
            const char *pair = apr_pstrmemdup(p, start, end - start);
            out = out ? apr_pstrcat(p, out, sep == ',' ? ", " : "; ", pair, NULL) : pair;
        }
        if (!next)
            break;
        sep = next;
        v += len + 1;
    }
    return out;
}

static void scrub_cookie(request_rec *r, const char *name)
{
    static const char *const fields[] = { "Cookie", "Cookie2", NULL };
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_table_t *keep = apr_table_make(r->pool, 2);
    const apr_array_header_t *karr;
    int i, f;

    for (f = 0; fields[f]; f++) {
        for (i = 0; i < arr->nelts; i++) {
            const char *v;
            if (e[i].key && e[i].val && !strcasecmp(e[i].key, fields[f])
                && (v = cookies_without(r->pool, e[i].val, name)))
                apr_table_addn(keep, fields[f], v);
        }
    }
    for (f = 0; fields[f]; f++)
        apr_table_unset(r->headers_in, fields[f]);
    karr = apr_table_elts(keep);
    e = (const apr_table_entry_t *)karr->elts;
    for (i = 0; i < karr->nelts; i++)
        apr_table_addn(r->headers_in, e[i].key, e[i].val);
}

/* A query string without the parameters called name, raw or URL-decoded; NULL when empty. */
static char *query_without(apr_pool_t *p, const char *query, const char *name)
{
    char *copy = apr_pstrdup(p, query), *last, *pair, *out = NULL;

    for (pair = apr_strtok(copy, "&", &last); pair; pair = apr_strtok(NULL, "&", &last)) {
        const char *eq = strchr(pair, '=');
        char *key = apr_pstrmemdup(p, pair, eq ? (apr_size_t)(eq - pair) : strlen(pair));
        int drop = !strcmp(key, name);
        if (!drop && ap_unescape_urlencoded(key) == OK)
            drop = !strcmp(key, name);
        else if (!drop)
            drop = 1;           /* undecodable name: it could be the token's to a backend */
        if (!drop)
            out = out ? apr_pstrcat(p, out, "&", pair, NULL) : pair;
    }
    return out;
}

static void scrub_query(request_rec *r, const char *name)
{
    char *q;

    if (r->args)
        r->args = query_without(r->pool, r->args, name);
    if (r->filename && strncmp(r->filename, "proxy:", 6) == 0
        && (q = strchr(r->filename, '?'))) {
        char *rest = query_without(r->pool, q + 1, name);
        r->filename = apr_pstrcat(r->pool, apr_pstrmemdup(r->pool, r->filename,
                                                          q - r->filename),
                                  rest ? "?" : "", rest, NULL);
    }
}

/* Removes the caller's token from wherever this location's Auth0TokenFrom could find it:
 * the backend gets the gateway's credential, never the caller's. */
static void scrub_caller_token(request_rec *r, const agw_dir_conf_t *dc)
{
    int i;

    if (!dc->sources)
        return;                 /* the default, Authorization, is replaced by ours */
    for (i = 0; i < dc->sources->nelts; i++) {
        const agw_token_src_t *src = &APR_ARRAY_IDX(dc->sources, i, agw_token_src_t);
        switch (src->kind) {
        case AGW_SRC_HEADER:
            if (!same_header(src->name, "Authorization"))
                scrub_header(r, src->name);
            break;
        case AGW_SRC_COOKIE:
            scrub_cookie(r, src->name);
            break;
        case AGW_SRC_QUERY:
            scrub_query(r, src->name);
            break;
        }
    }
}

/* The credential of the location's client put into a proxied request (only a location with
 * Auth0ProxyClient comes here: kept apart from the hit path's code). */
static AGW_NOINLINE int add_credential(request_rec *r, const agw_dir_conf_t *dc)
{
    agw_srv_conf_t *sc;
    const agw_client_t *c;
    const char *url, *origin;
    agw_credential_t cred;
    int status;

    sc = ap_get_module_config(r->server->module_config, &auth0gw_module);
    c = apr_hash_get(sc->clients, dc->proxy_client, APR_HASH_KEY_STRING);
    if (!c || !c->cache_key) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AGW_M_PROXY_NO_CLIENT ": Auth0ProxyClient %s names no <Auth0Client> of this server",
                      dc->proxy_client);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* only the origin is logged: a URL's query may carry a caller's token */
    url = proxied_url(r);
    origin = url ? origin_of(r->pool, url, 0) : NULL;
    if (r->proxyreq == PROXYREQ_PROXY) {
        /* a forward proxy goes wherever the caller says: our credential goes nowhere with it,
         * and the request does not go on without the credential its location names */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AGW_M_PROXY_FORWARD ": client %s: forward-proxy request to %s refused (403): "
                      "Auth0ProxyClient applies to reverse-proxied backends only", c->name,
                      origin ? ap_escape_logitem(r->pool, origin) : "(no origin)");
        return HTTP_FORBIDDEN;
    }
    if (c->backends && !backend_allowed(c, origin)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AGW_M_PROXY_ORIGIN ": client %s: backend origin %s is not one of its "
                      "Auth0ClientBackend origins: request refused (403)", c->name,
                      origin ? ap_escape_logitem(r->pool, origin) : "(no origin)");
        return HTTP_FORBIDDEN;
    }
    if ((status = credential_for(r, c, &cred)) != OK)
        return status;
    gw_count(AGW_COUNT_PROXY_OK);
    /* the caller's own credential stays here: the backend sees only ours; a caller's DPoP
     * proof never goes on (with a Bearer client's token it proves nothing, and a DPoP
     * client's request carries its own) */
    scrub_caller_token(r, dc);
    scrub_header(r, "DPoP");
    apr_table_setn(r->headers_in, "Authorization", cred.authorization);
    if (cred.dpop)
        apr_table_setn(r->headers_in, "DPoP", cred.dpop);
    /* for gw_proxy_log_scrub: pool data, which no log format can name (a note could be) */
    apr_pool_userdata_setn(cred.authorization, INJECTED_AUTHORIZATION, NULL, r->pool);
    if (cred.dpop)
        apr_pool_userdata_setn(cred.dpop, INJECTED_DPOP, NULL, r->pool);
    return DECLINED;
}

/* Whether v is a value this module put into the request (ours): the same string, or a copy
 * of it (a module that duplicated the header's value). Only for the scrubs below, where a
 * match is always the backend's credential. */
static int is_ours(const char *v, const char *ours)
{
    return v && ours && (v == ours || strcmp(v, ours) == 0);
}

/* Takes out of t every entry whose value is ours. */
static void unset_values(apr_table_t *t, const char *ours)
{
    const apr_array_header_t *a = apr_table_elts(t);
    int i;

    for (i = a->nelts - 1; i >= 0; i--) {
        const apr_table_entry_t *e = (const apr_table_entry_t *)(void *)a->elts + i;

        if (is_ours(e->val, ours)) {
            apr_table_unset(t, e->key);        /* every entry of that name */
            if (i > a->nelts)
                i = a->nelts;
        }
    }
}

/* The credential this module put into the request whose pool is from (Authorization and
 * DPoP), out of rr's headers and environment: besides headers_in, the environment holds
 * copies once anything ran ap_add_common_vars on the request (mod_include on a proxied
 * page, mod_proxy_fcgi, scgi and uwsgi: HTTP_AUTHORIZATION, HTTP_DPOP) and an internal
 * redirect renames those (REDIRECT_HTTP_AUTHORIZATION ...). */
static void unset_injected(request_rec *rr, apr_pool_t *from)
{
    static const char *const key[2] = { INJECTED_AUTHORIZATION, INJECTED_DPOP };
    static const char *const header[2] = { "Authorization", "DPoP" };
    void *ours;
    int i;

    for (i = 0; i < 2; i++) {
        ours = NULL;
        if (apr_pool_userdata_get(&ours, key[i], from) != APR_SUCCESS || !ours)
            continue;
        if (is_ours(apr_table_get(rr->headers_in, header[i]), ours))
            apr_table_unset(rr->headers_in, header[i]);
        unset_values(rr->subprocess_env, ours);
    }
}

/* An internal redirect shares its headers with the request it came from, and a subrequest
 * copies its parent's headers and environment: the backend's credential would reach a local
 * page that a proxied request leads to (an ErrorDocument after ProxyErrorOverride, a page
 * that SSI includes into the proxied response), a PHP or CGI script as HTTP_AUTHORIZATION.
 * Such a request starts without it (if it is proxied itself, its fixups put a credential in
 * again). A redirect's pool is the request's it came from; a subrequest's is its own. */
int gw_proxy_inherit_scrub(request_rec *r)
{
    if (r->prev || r->main)
        unset_injected(r, r->pool);
    if (r->main)
        unset_injected(r, r->main->pool);
    return DECLINED;
}

/* The backend's credential was put in the request's headers_in, the only place mod_proxy
 * takes request headers from; once the request is over it goes, before any log_transaction
 * hook runs, so that an access log with %{Authorization}i or %{DPoP}i (or
 * %{HTTP_AUTHORIZATION}e, or a module that logs then) never writes the gateway's token: it
 * shows "-", as the caller's own token was scrubbed when the backend's went in. Every
 * request of an internal redirect chain. */
int gw_proxy_log_scrub(request_rec *r)
{
    request_rec *rr = r;

    while (rr->prev)
        rr = rr->prev;
    for (; rr; rr = rr->next)
        unset_injected(rr, rr->pool);
    return DECLINED;
}

apr_array_header_t *gw_client_stats(apr_pool_t *p, server_rec *s)
{
    agw_srv_conf_t *sc = ap_get_module_config(s->module_config, &auth0gw_module);
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(agw_client_stats_t));
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, sc->clients); hi; hi = apr_hash_next(hi)) {
        agw_client_t *c = apr_hash_this_val(hi);
        agw_client_stats_t *cs = apr_array_push(out);
        agw_ccstore_stats_t st;
        memset(cs, 0, sizeof(*cs));
        cs->name = c->name;
        cs->token_url = c->token_url;
        if (!c->cache_key || !ccstore)
            continue;
        agw_ccstore_stats(&st, ccstore, c, p, now);
        cs->has_token = st.has_token;
        cs->expires_in = st.expires_in;
        cs->fetches = st.fetches;
        cs->failures = st.failures;
        cs->served = st.served;
        cs->refused = st.refused;
        cs->last_error = st.last_error;
    }
    return out;
}

/* Runs last among fixups, after mod_rewrite has turned [P] rules into proxy requests and
 * mod_proxy has put the backend URL (with the query) in r->filename. */
AGW_HOT int gw_proxy_fixups(request_rec *r)
{
    const agw_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &auth0gw_module);

    if (!dc || !dc->proxy_client || !is_proxied(r))
        return DECLINED;
    return add_credential(r, dc);
}
