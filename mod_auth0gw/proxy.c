/* Gateway-to-machine: <Auth0Client> definitions and the client-credentials token put on proxied requests. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_thread_mutex.h>
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_auth0gw.h"
#include "agw_client.h"
#include "agw_b64.h"

APLOG_USE_MODULE(auth0gw);

/* A token is not handed out in its last seconds: the backend must not receive it expired. */
#define EXPIRY_MARGIN 5
/* How long a request waits for another host's fetch before fetching itself. */
#define FLEET_WAIT_MS 3000
/* How long a claimant waits before reading its lock entry back: another host that saw no lock
 * just before ours was stored must have stored its own by then, or both would fetch. Paid once
 * per fetch on a network cache; 20 ms was lost to scheduling on a loaded two-CPU machine. */
#define FLEET_SETTLE_MS 150

/* This process's view of one client: the token in use and the failure backoff. */
typedef struct client_state_t {
    apr_thread_mutex_t *mutex;
    char *token;                /* malloc'd; replaced on renewal */
    apr_int64_t obtained_at, expires_at, renew_at;
    unsigned int failures;
    apr_int64_t next_try;
    unsigned long fetches, fetch_failures, served, refused;
    char last_error[200];
} client_state_t;

static apr_hash_t *states;          /* client cache key -> client_state_t, per process */
static apr_thread_mutex_t *states_mutex;
static apr_pool_t *states_pool;

/* ---- configuration ----------------------------------------------------------------------- */

static agw_srv_conf_t *srv_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &auth0gw_module);
}

agw_client_t *agw_current_client(cmd_parms *cmd)
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

const char *agw_client_section(cmd_parms *cmd, void *dc, const char *arg)
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

const char *agw_set_token_url(cmd_parms *cmd, void *dc, const char *arg)
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
const char *agw_set_client_str(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);

    if (!err)
        *(const char **)((char *)c + (apr_size_t)cmd->info) = arg;
    return err;
}

const char *agw_set_client_secret(cmd_parms *cmd, void *dc, const char *arg)
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
                     "AGW0004: %s:%d: Auth0ClientSecret is written in the configuration; "
                     "prefer file:PATH (readable by root only) or env:VAR",
                     cmd->directive->filename, cmd->directive->line_num);
    c->secret = secret;
    return NULL;
}

const char *agw_set_client_scope(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);

    if (!err)
        c->scope = c->scope ? apr_pstrcat(cmd->pool, c->scope, " ", arg, NULL) : arg;
    return err;
}

const char *agw_set_client_auth(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c);

    if (err)
        return err;
    if (!strcasecmp(arg, "client_secret_post"))
        c->auth = AGW_CLIENT_AUTH_POST;
    else if (!strcasecmp(arg, "client_secret_basic"))
        c->auth = AGW_CLIENT_AUTH_BASIC;
    else if (!strcasecmp(arg, "private_key_jwt"))
        c->auth = AGW_CLIENT_AUTH_PKJWT;
    else
        return "Auth0ClientAuth: use client_secret_post, client_secret_basic or "
               "private_key_jwt";
    return NULL;
}

const char *agw_set_client_param(cmd_parms *cmd, void *dc, const char *name,
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

const char *agw_set_client_key(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_client_t *c;
    const char *err = in_client(cmd, &c), *pem;
    apr_size_t len;
    int literal;
    agw_err_t kerr = { NULL, NULL };

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

const char *agw_set_client_renew(cmd_parms *cmd, void *dc, const char *arg)
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

const char *agw_set_proxy_client(cmd_parms *cmd, void *dc, const char *arg)
{
    ((agw_dir_conf_t *)dc)->proxy_client = arg;
    return NULL;
}


/* Completes every client of every server: token URL from Auth0Domain, TLS options, checks.
 * Called from check_config so that `apache2 -t` reports the problems. */
int agw_clients_check(apr_pool_t *pconf, server_rec *s)
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
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "AGW0001: %s: <Auth0Client %s>: %s",
                             where ? where : "?", c->name, why);
                bad++;
            }
            else if (!strncasecmp(c->token_url, "http://", 7) && !c->http.allow_http) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                             "AGW0001: %s: <Auth0Client %s>: Auth0TokenURL %s is plain http: "
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

void agw_proxy_child_init(apr_pool_t *pchild, server_rec *s)
{
    states_pool = pchild;
    states = apr_hash_make(pchild);
    apr_thread_mutex_create(&states_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
}

static client_state_t *state_of(const agw_client_t *c)
{
    client_state_t *st;

    apr_thread_mutex_lock(states_mutex);
    st = apr_hash_get(states, c->cache_key, APR_HASH_KEY_STRING);
    if (!st) {
        st = apr_pcalloc(states_pool, sizeof(*st));
        apr_thread_mutex_create(&st->mutex, APR_THREAD_MUTEX_DEFAULT, states_pool);
        apr_hash_set(states, c->cache_key, APR_HASH_KEY_STRING, st);
    }
    apr_thread_mutex_unlock(states_mutex);
    return st;
}

/* Installs tok as the process's token (st->mutex held) if it is newer than the one held. */
static void adopt_locked(client_state_t *st, const agw_client_t *c, const agw_cc_token_t *tok)
{
    if (st->token && tok->obtained_at <= st->obtained_at && tok->expires_at <= st->expires_at)
        return;
    free(st->token);
    st->token = strdup(tok->access_token);
    st->obtained_at = tok->obtained_at;
    st->expires_at = tok->expires_at;
    st->renew_at = agw_client_renew_at(c, tok);
}

static int usable(const client_state_t *st, apr_int64_t now)
{
    return st->token && now + EXPIRY_MARGIN < st->expires_at;
}

/* A copy of the process's token for this request (st->mutex held). */
static const char *copy_locked(request_rec *r, client_state_t *st)
{
    return apr_pstrdup(r->pool, st->token);
}

static int from_cache(agw_cc_token_t *tok, request_rec *r, const agw_client_t *c)
{
    char *data;
    apr_size_t len;

    return agw_cache_get(&data, &len, c->cache_key, r->pool, r->server) == APR_SUCCESS
           && agw_cc_token_decode(tok, r->pool, data, len,
                                  (apr_int64_t)apr_time_sec(apr_time_now())) == APR_SUCCESS;
}

/* Shared backoff record "<failures> <next_try>", so a host's processes back off together. */
static void shared_backoff(request_rec *r, const agw_client_t *c, unsigned int *failures,
                           apr_int64_t *next_try)
{
    char *data, *end;
    apr_size_t len;
    const char *key = apr_pstrcat(r->pool, "fail:", c->cache_key, NULL);

    if (agw_cache_get(&data, &len, key, r->pool, r->server) == APR_SUCCESS) {
        unsigned int f = (unsigned int)apr_strtoi64(data, &end, 10);
        apr_int64_t t = *end == ' ' ? apr_strtoi64(end + 1, NULL, 10) : 0;
        if (t > *next_try) {
            *next_try = t;
            *failures = f;
        }
    }
}

/* Another host may be fetching: a short-lived lock entry in a network cache. Returns 1 when
 * this host may fetch. The store-then-read dance is not atomic, but a lost race costs one
 * extra token request, never a request without a token. */
static int fleet_claim(request_rec *r, const agw_client_t *c, apr_int64_t now)
{
    const char *key = apr_pstrcat(r->pool, "lock:", c->cache_key, NULL);
    unsigned char rnd[9];
    const char *me;
    char *data;
    apr_size_t len;

    if (!agw_cache_is_network())
        return 1;
    /* the value is made first, so that nothing slow sits between the look and the store */
    if (agw_sign_random(rnd, sizeof(rnd)) != APR_SUCCESS)
        return 1;
    me = agw_b64url_encode(r->pool, rnd, sizeof(rnd));
    if (agw_cache_get(&data, &len, key, r->pool, r->server) == APR_SUCCESS)
        return 0;
    if (agw_cache_put(key, me, strlen(me), now + 15, r->pool, r->server) != APR_SUCCESS)
        return 1;       /* cache down: fetch for ourselves */
    apr_sleep(apr_time_from_msec(FLEET_SETTLE_MS));
    if (agw_cache_get(&data, &len, key, r->pool, r->server) != APR_SUCCESS)
        return 1;
    return len == strlen(me) && memcmp(data, me, len) == 0;
}

static void fleet_release(request_rec *r, const agw_client_t *c)
{
    if (agw_cache_is_network())
        agw_cache_del(apr_pstrcat(r->pool, "lock:", c->cache_key, NULL), r->pool, r->server);
}

/* Fetches a token (fetch lock held) and publishes it; returns APR_SUCCESS with st updated. */
static apr_status_t fetch_and_publish(request_rec *r, const agw_client_t *c,
                                      client_state_t *st, apr_int64_t now)
{
    agw_cc_token_t tok;
    agw_err_t err = { NULL, NULL };
    apr_status_t rv;
    apr_pool_t *p;
    char *rec;
    apr_size_t len;

    apr_pool_create(&p, r->pool);
    rv = agw_client_fetch(&tok, p, c, now, &err);
    if (rv == APR_SUCCESS && tok.expires_at - now <= EXPIRY_MARGIN) {
        /* never usable by the next request: without the backoff every request would fetch */
        agw_err_set(&err, NULL, apr_psprintf(p, "token lifetime (expires_in %" APR_INT64_T_FMT
                                                ") too short to use", tok.expires_at - now));
        rv = APR_EGENERAL;
    }
    apr_thread_mutex_lock(st->mutex);
    st->fetches++;
    if (rv == APR_SUCCESS) {
        adopt_locked(st, c, &tok);
        st->failures = 0;
        st->next_try = 0;
        st->last_error[0] = '\0';
    }
    else {
        st->fetch_failures++;
        st->failures++;
        st->next_try = now + agw_client_backoff(st->failures);
        apr_cpystrn(st->last_error, err.reason ? err.reason : "unknown error",
                    sizeof(st->last_error));
    }
    apr_thread_mutex_unlock(st->mutex);
    if (rv == APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "AGW0210: token for client %s obtained from %s, expires in %"
                      APR_INT64_T_FMT " s (fp=%s)", c->name, c->token_url,
                      tok.expires_at - now,
                      agw_crypt_fingerprint(p, tok.access_token, strlen(tok.access_token)));
        rec = agw_cc_token_encode(p, &tok, &len);
        agw_cache_put(c->cache_key, rec, len, tok.expires_at, p, r->server);
        agw_cache_del(apr_pstrcat(p, "fail:", c->cache_key, NULL), p, r->server);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "AGW0211: token request for client %s to %s failed: %s; next attempt in "
                      "%" APR_INT64_T_FMT " s", c->name, c->token_url,
                      err.reason ? err.reason : "unknown error", st->next_try - now);
        rec = apr_psprintf(p, "%u %" APR_INT64_T_FMT, st->failures, st->next_try);
        agw_cache_put(apr_pstrcat(p, "fail:", c->cache_key, NULL), rec, strlen(rec),
                      st->next_try + 1, p, r->server);
    }
    apr_pool_destroy(p);
    return rv;
}

/* The token for a proxied request, or NULL with *retry_after set (503). */
static const char *token_for(request_rec *r, const agw_client_t *c, apr_int64_t *retry_after)
{
    client_state_t *st = state_of(c);
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    agw_cc_token_t tok;
    const char *out = NULL;
    int waited;

    apr_thread_mutex_lock(st->mutex);
    if (usable(st, now) && now < st->renew_at) {
        out = copy_locked(r, st);
        st->served++;
        apr_thread_mutex_unlock(st->mutex);
        return out;
    }
    apr_thread_mutex_unlock(st->mutex);

    /* another process (or host) may have renewed it already */
    if (from_cache(&tok, r, c)) {
        apr_thread_mutex_lock(st->mutex);
        adopt_locked(st, c, &tok);
        apr_thread_mutex_unlock(st->mutex);
    }

    apr_thread_mutex_lock(st->mutex);
    if (usable(st, now)) {
        int renew = now >= st->renew_at && now >= st->next_try;
        out = copy_locked(r, st);
        st->served++;
        apr_thread_mutex_unlock(st->mutex);
        /* early renewal: one requester per host, the others go on with the valid token */
        if (renew && agw_fetch_lock(0) == APR_SUCCESS) {
            if (!from_cache(&tok, r, c) || agw_client_renew_at(c, &tok) <= now) {
                if (fleet_claim(r, c, now)) {
                    if (fetch_and_publish(r, c, st, now) == APR_SUCCESS) {
                        apr_thread_mutex_lock(st->mutex);
                        out = copy_locked(r, st);
                        apr_thread_mutex_unlock(st->mutex);
                    }
                    fleet_release(r, c);
                }
            }
            else {
                apr_thread_mutex_lock(st->mutex);
                adopt_locked(st, c, &tok);
                out = copy_locked(r, st);
                apr_thread_mutex_unlock(st->mutex);
            }
            agw_fetch_unlock();
        }
        return out;
    }
    apr_thread_mutex_unlock(st->mutex);

    /* no valid token: this request waits for the one fetch of this host */
    agw_fetch_lock(1);
    for (waited = 0;; waited += 100) {
        unsigned int failures;
        apr_int64_t next_try;

        now = (apr_int64_t)apr_time_sec(apr_time_now());
        if (from_cache(&tok, r, c)) {
            apr_thread_mutex_lock(st->mutex);
            adopt_locked(st, c, &tok);
            apr_thread_mutex_unlock(st->mutex);
        }
        apr_thread_mutex_lock(st->mutex);
        if (usable(st, now)) {
            out = copy_locked(r, st);
            st->served++;
            apr_thread_mutex_unlock(st->mutex);
            break;
        }
        failures = st->failures;
        next_try = st->next_try;
        apr_thread_mutex_unlock(st->mutex);
        shared_backoff(r, c, &failures, &next_try);
        if (now < next_try) {
            *retry_after = next_try - now;
            break;
        }
        if (waited < FLEET_WAIT_MS && !fleet_claim(r, c, now)) {
            apr_sleep(apr_time_from_msec(100));
            continue;           /* another host is fetching: look again shortly */
        }
        if (fetch_and_publish(r, c, st, now) == APR_SUCCESS) {
            apr_thread_mutex_lock(st->mutex);
            out = copy_locked(r, st);
            st->served++;
            apr_thread_mutex_unlock(st->mutex);
        }
        else {
            apr_thread_mutex_lock(st->mutex);
            *retry_after = st->next_try > now ? st->next_try - now : 1;
            apr_thread_mutex_unlock(st->mutex);
        }
        fleet_release(r, c);
        break;
    }
    agw_fetch_unlock();
    if (!out) {
        apr_thread_mutex_lock(st->mutex);
        st->refused++;
        apr_thread_mutex_unlock(st->mutex);
    }
    return out;
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

/* Runs last among fixups, after mod_rewrite has turned [P] rules into proxy requests. */
static int agw_proxy_fixups(request_rec *r)
{
    const agw_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &auth0gw_module);
    agw_srv_conf_t *sc;
    const agw_client_t *c;
    const char *token;
    apr_int64_t retry_after = 5;

    if (!dc || !dc->proxy_client || !is_proxied(r))
        return DECLINED;
    sc = ap_get_module_config(r->server->module_config, &auth0gw_module);
    c = apr_hash_get(sc->clients, dc->proxy_client, APR_HASH_KEY_STRING);
    if (!c || !c->cache_key) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "AGW0213: Auth0ProxyClient %s names no <Auth0Client> of this server",
                      dc->proxy_client);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!(token = token_for(r, c, &retry_after))) {
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                    retry_after > 0 ? retry_after : 1));
        agw_count(AGW_COUNT_PROXY_503);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "AGW0212: no token for client %s: request not forwarded", c->name);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    agw_count(AGW_COUNT_PROXY_OK);
    /* the caller's own credential stays here: the backend sees only ours */
    apr_table_setn(r->headers_in, "Authorization", apr_pstrcat(r->pool, "Bearer ", token, NULL));
    return DECLINED;
}

apr_array_header_t *agw_client_stats(apr_pool_t *p, server_rec *s)
{
    agw_srv_conf_t *sc = ap_get_module_config(s->module_config, &auth0gw_module);
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(agw_client_stats_t));
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, sc->clients); hi; hi = apr_hash_next(hi)) {
        agw_client_t *c = apr_hash_this_val(hi);
        agw_client_stats_t *cs = apr_array_push(out);
        client_state_t *st;
        memset(cs, 0, sizeof(*cs));
        cs->name = c->name;
        cs->token_url = c->token_url;
        if (!c->cache_key || !states)
            continue;
        st = state_of(c);
        apr_thread_mutex_lock(st->mutex);
        cs->has_token = usable(st, now);
        cs->expires_in = st->token ? st->expires_at - now : 0;
        cs->fetches = st->fetches;
        cs->failures = st->fetch_failures;
        cs->served = st->served;
        cs->refused = st->refused;
        cs->last_error = st->last_error[0] ? apr_pstrdup(p, st->last_error) : NULL;
        apr_thread_mutex_unlock(st->mutex);
    }
    return out;
}

void agw_proxy_register_hooks(apr_pool_t *p)
{
    /* runs when: fixups, last, after mod_rewrite's [P] and before mod_proxy's handler */
    ap_hook_fixups(agw_proxy_fixups, NULL, NULL, APR_HOOK_LAST);
}
