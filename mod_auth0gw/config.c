/* The directives of mod_auth0gw: one table, thin setters over the core parsers, merging, and the startup checks. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_atomic.h>
#include <http_core.h>
#include <http_main.h>

#include "mod_auth0gw.h"
#include "agw_hot.h"

APLOG_USE_MODULE(auth0gw);

/* What .htaccess may name besides Auth0HtaccessSources: the key sources, issuers, domains,
 * secrets and CA files that the server's own configuration names anywhere, recorded by the
 * setters while it is read (kind letter + value). Complete before any .htaccess is read. */
static apr_hash_t *server_named;

/* A section's configuration before any directive: every value unset. */
static void dir_unset(agw_dir_conf_t *c)
{
    c->leeway = AGW_UNSET;
    c->refresh = AGW_UNSET;
    c->cooldown = AGW_UNSET;
    c->fetch_wait = AGW_UNSET;
    c->max_stale = AGW_UNSET;
    c->insecure_http = AGW_UNSET;
    c->mode = AGW_UNSET;
    c->pass_preflight = AGW_UNSET;
    c->dpop = AGW_UNSET;
    c->dpop_nonce = AGW_UNSET;
}

/* What a section without Auth0 directives holds (filled by the first gw_dir_create, while
 * the configuration is read, before any thread). */
static agw_dir_conf_t unset_conf;
static int unset_made;

void *gw_dir_create(apr_pool_t *p, char *dir)
{
    agw_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    if (!unset_made) {
        dir_unset(&unset_conf);
        unset_made = 1;
    }
    dir_unset(c);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_RUN_MPM)
        c->htaccess = 1;        /* made while serving: a .htaccess file, in a request pool */
    return c;
}

/* 1 when section c sets nothing (whether it is a .htaccess file's aside): both made zeroed
 * by apr_pcalloc and set by dir_unset, so they compare byte for byte, padding included.
 * httpd merges the same sections on every request: the answer is kept in the section (a
 * section is complete before anything merges it; threads that race store the same value). */
AGW_HOT static int sets_nothing(agw_dir_conf_t *c)
{
    apr_size_t at = offsetof(agw_dir_conf_t, htaccess);
    apr_size_t past = offsetof(agw_dir_conf_t, nothing) + sizeof(c->nothing);
    int memo = __atomic_load_n(&c->nothing, __ATOMIC_RELAXED);

    if (memo)
        return memo == 1;
    if (!unset_made)
        return 0;
    memo = memcmp(c, &unset_conf, at) == 0
           && memcmp((const char *)c + past, (const char *)&unset_conf + past,
                     sizeof(*c) - past) == 0 ? 1 : 2;
    __atomic_store_n(&c->nothing, memo, __ATOMIC_RELAXED);
    return memo == 1;
}

void *gw_srv_create(apr_pool_t *p, server_rec *s)
{
    agw_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));
    sc->clients = apr_hash_make(p);
    sc->client_where = apr_hash_make(p);
    sc->token_cache = AGW_UNSET;
    if (!s->is_virtual)         /* the main server comes first each time config is read */
        server_named = apr_hash_make(p);
    return sc;
}

void *gw_srv_merge(apr_pool_t *p, void *basev, void *addv)
{
    agw_srv_conf_t *base = basev, *add = addv, *sc = apr_pcalloc(p, sizeof(*sc));

    /* a virtual host sees the main server's clients, and its own of the same name win */
    sc->clients = apr_hash_overlay(p, add->clients, base->clients);
    sc->client_where = apr_hash_overlay(p, add->client_where, base->client_where);
    sc->cache_provider = base->cache_provider;
    sc->cache_args = base->cache_args;
    sc->token_cache = base->token_cache;
    sc->htaccess_sources = !add->htaccess_sources ? base->htaccess_sources
                           : !base->htaccess_sources ? add->htaccess_sources
                           : apr_hash_overlay(p, add->htaccess_sources, base->htaccess_sources);
    return sc;
}

#define MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define MERGE_NUM(f) c->f = add->f != AGW_UNSET ? add->f : base->f

static apr_array_header_t *concat(apr_pool_t *p, apr_array_header_t *a, apr_array_header_t *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return apr_array_append(p, a, b);
}

AGW_HOT void *gw_dir_merge(apr_pool_t *p, void *basev, void *addv)
{
    agw_dir_conf_t *base = basev, *add = addv, *c;

    /* httpd merges every section on a request's path, most of them without Auth0 directives:
     * the other side is then the merge's result as it stands (merged confs are never written;
     * only sets_nothing's memo is, once per section and process: in a prefork child that
     * copies the page of each section it merges) */
    if (add->htaccess <= base->htaccess && sets_nothing(add))
        return base;
    if (base->htaccess <= add->htaccess && sets_nothing(base))
        return add;
    c = apr_pcalloc(p, sizeof(*c));

    MERGE_PTR(domain);
    MERGE_PTR(domain_issuer);
    MERGE_PTR(domain_jwks);
    MERGE_PTR(issuer);
    MERGE_PTR(issuers);
    MERGE_PTR(domains);
    MERGE_PTR(jwks_bound);
    MERGE_PTR(audiences);
    MERGE_PTR(token_types);
    MERGE_PTR(jwks);
    c->algs = add->algs ? add->algs : base->algs;
    if (add->hmac) {
        c->hmac = add->hmac;
        c->hmac_len = add->hmac_len;
        c->hmac_jwks = add->hmac_jwks;
        memcpy(c->hmac_id, add->hmac_id, sizeof(c->hmac_id));
    }
    else {
        c->hmac = base->hmac;
        c->hmac_len = base->hmac_len;
        c->hmac_jwks = base->hmac_jwks;
        memcpy(c->hmac_id, base->hmac_id, sizeof(c->hmac_id));
    }
    MERGE_NUM(leeway);
    MERGE_PTR(sources);
    MERGE_PTR(scope_claim);
    MERGE_PTR(roles_claim);
    MERGE_PTR(user_claim);
    /* like RequestHeader, claim copies of an enclosing section still apply inside */
    c->claim_headers = concat(p, base->claim_headers, add->claim_headers);
    c->claim_envs = concat(p, base->claim_envs, add->claim_envs);
    MERGE_NUM(refresh);
    MERGE_NUM(cooldown);
    MERGE_NUM(fetch_wait);
    MERGE_NUM(max_stale);
    MERGE_PTR(ca_file);
    MERGE_NUM(insecure_http);
    MERGE_PTR(proxy_client);
    MERGE_NUM(mode);
    MERGE_NUM(pass_preflight);
    MERGE_NUM(dpop);
    MERGE_NUM(dpop_nonce);
    MERGE_PTR(where);
    c->htaccess = base->htaccess || add->htaccess;
    return c;
}

AGW_HOT agw_mode_e gw_conf_mode(const agw_dir_conf_t *c)
{
    return c->mode == AGW_UNSET ? AGW_MODE_ENFORCE : (agw_mode_e)c->mode;
}

AGW_HOT agw_dpop_mode_e gw_conf_dpop(const agw_dir_conf_t *c)
{
    return c->dpop == AGW_UNSET ? AGW_DPOP_ALLOWED : (agw_dpop_mode_e)c->dpop;
}

AGW_HOT int gw_conf_dpop_nonce(const agw_dir_conf_t *c)
{
    return c->dpop_nonce == AGW_UNSET ? 0 : c->dpop_nonce;
}

AGW_HOT apr_int64_t gw_conf_get(apr_int64_t v, apr_int64_t dflt)
{
    return v == AGW_UNSET ? dflt : v;
}

static int is_http(const char *url)
{
    return url && strncasecmp(url, "http://", 7) == 0;
}

AGW_HOT const char *gw_conf_issuer(const agw_dir_conf_t *c)
{
    return c->issuer ? c->issuer : c->domain_issuer;
}

AGW_HOT const char *gw_conf_jwks(const agw_dir_conf_t *c)
{
    const char *bound = c->jwks_bound ? apr_table_get(c->jwks_bound, gw_conf_issuer(c)) : NULL;
    return bound ? bound : c->jwks ? c->jwks : c->domain_jwks;
}

/* The issuers a location trusts: Auth0Issuer's values, else the Auth0Domain issuers. */
AGW_HOT static apr_array_header_t *trusted_issuers(apr_pool_t *p, const agw_dir_conf_t *c)
{
    apr_array_header_t *out;
    int i;

    if (c->issuers || !c->domains)
        return c->issuers;
    out = apr_array_make(p, c->domains->nelts, sizeof(const char *));
    for (i = 0; i < c->domains->nelts; i++)
        APR_ARRAY_PUSH(out, const char *) = apr_pstrcat(p, "https://", APR_ARRAY_IDX(c->domains,
                                                        i, const char *), "/", NULL);
    return out;
}

/* An issuer's key source: its Auth0JWKS binding, else the JWKS of the Auth0Domain whose
 * issuer it is, else NULL (OIDC discovery at ISSUER/.well-known/openid-configuration). */
static const char *issuer_jwks(apr_pool_t *p, const agw_dir_conf_t *c, const char *iss)
{
    const char *bound = c->jwks_bound ? apr_table_get(c->jwks_bound, iss) : NULL;
    int i;

    if (bound)
        return bound;
    for (i = 0; c->domains && i < c->domains->nelts; i++) {
        const char *d = APR_ARRAY_IDX(c->domains, i, const char *);
        if (!strcmp(iss, apr_pstrcat(p, "https://", d, "/", NULL)))
            return apr_pstrcat(p, "https://", d, "/.well-known/jwks.json", NULL);
    }
    return NULL;
}

AGW_HOT apr_array_header_t *gw_conf_trust(apr_pool_t *p, const agw_dir_conf_t *c)
{
    apr_array_header_t *iss, *out;
    int i;

    /* the common case, one issuer, allocates nothing */
    if ((c->issuers ? c->issuers->nelts : c->domains ? c->domains->nelts : 0) < 2)
        return NULL;
    iss = trusted_issuers(p, c);
    out = apr_array_make(p, iss->nelts, sizeof(agw_trust_t));
    for (i = 0; i < iss->nelts; i++) {
        agw_trust_t *t = apr_array_push(out);
        t->issuer = APR_ARRAY_IDX(iss, i, const char *);
        t->jwks = issuer_jwks(p, c, t->issuer);
    }
    return out;
}

/* ---- setters: each checks its context, calls the core parser, prefixes the name ---------- */

static const char *fail(cmd_parms *cmd, const char *why)
{
    return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, why);
}

/* .htaccess is parsed at request time with the request pool as both pools (ap_parse_htaccess);
 * the server configuration with pconf and ptemp. */
static int in_htaccess(const cmd_parms *cmd)
{
    return cmd->pool == cmd->temp_pool;
}

typedef enum {
    SRC_DOMAIN = 'd', SRC_ISSUER = 'i', SRC_JWKS = 'j', SRC_SECRET = 's', SRC_CA = 'c'
} src_kind_e;

static const char *named_key(apr_pool_t *p, src_kind_e kind, const char *value)
{
    char k[2] = { (char)kind, '\0' };
    return apr_pstrcat(p, k, value, NULL);
}

/* At start: records that the server configuration names value (and alt, another spelling).
 * In .htaccess: NULL when value (or alt) is named by the server configuration as the same
 * kind, or listed in Auth0HtaccessSources; else the error that fails the .htaccess file. */
static const char *source_allowed(cmd_parms *cmd, src_kind_e kind, const char *value,
                                  const char *alt)
{
    agw_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &auth0gw_module);

    if (!in_htaccess(cmd)) {
        if (server_named) {
            apr_hash_set(server_named, named_key(cmd->pool, kind, value), APR_HASH_KEY_STRING,
                         "");
            if (alt)
                apr_hash_set(server_named, named_key(cmd->pool, kind, alt),
                             APR_HASH_KEY_STRING, "");
        }
        return NULL;
    }
    if (server_named
        && (apr_hash_get(server_named, named_key(cmd->pool, kind, value), APR_HASH_KEY_STRING)
            || (alt && apr_hash_get(server_named, named_key(cmd->pool, kind, alt),
                                    APR_HASH_KEY_STRING))))
        return NULL;
    if (sc && sc->htaccess_sources
        && (apr_hash_get(sc->htaccess_sources, value, APR_HASH_KEY_STRING)
            || (alt && apr_hash_get(sc->htaccess_sources, alt, APR_HASH_KEY_STRING))))
        return NULL;
    return apr_psprintf(cmd->pool, "%s: %s is not named by the server configuration, and "
                        ".htaccess may only use the key sources, issuers, domains, secrets "
                        "and CA files it names; to allow it, add it to Auth0HtaccessSources "
                        "in the server config (`Auth0HtaccessSources %s` at server or "
                        "<VirtualHost> level)", cmd->cmd->name, value, value);
}

static const char *set_domain(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    const char *s, *err;

    for (s = arg; *s; s++)
        if (!apr_isalnum(*s) && *s != '.' && *s != '-' && *s != ':')
            return fail(cmd, "expects a host name such as example.eu.auth0.com (no scheme, "
                             "no path)");
    if (!*arg)
        return fail(cmd, "expects a host name such as example.eu.auth0.com");
    if ((err = source_allowed(cmd, SRC_DOMAIN, arg, NULL)))
        return err;
    if (!in_htaccess(cmd)) {
        /* what the domain stands for is named too */
        source_allowed(cmd, SRC_ISSUER, apr_pstrcat(cmd->pool, "https://", arg, "/", NULL),
                       NULL);
        source_allowed(cmd, SRC_JWKS, apr_pstrcat(cmd->pool, "https://", arg,
                                                  "/.well-known/jwks.json", NULL), NULL);
    }
    if (gw_current_client(cmd)) {
        agw_client_t *cl = gw_current_client(cmd);
        if (!cl->token_url)
            cl->token_url = apr_pstrcat(cmd->pool, "https://", arg, "/oauth/token", NULL);
        return NULL;
    }
    /* a new Auth0Domain line replaces the values of an earlier one; its values add up */
    if (!c->domains || c->domain_line != cmd->directive) {
        c->domains = apr_array_make(cmd->pool, 2, sizeof(const char *));
        c->domain_line = cmd->directive;
        c->domain = arg;
        c->domain_issuer = apr_pstrcat(cmd->pool, "https://", arg, "/", NULL);
        c->domain_jwks = apr_pstrcat(cmd->pool, "https://", arg, "/.well-known/jwks.json", NULL);
    }
    APR_ARRAY_PUSH(c->domains, const char *) = arg;
    return NULL;
}

static const char *set_issuer(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    const char *err;

    if (strncasecmp(arg, "https://", 8) != 0 && strncasecmp(arg, "http://", 7) != 0)
        return fail(cmd, "expects the issuer URL exactly as tokens carry it in iss, e.g. "
                         "https://example.eu.auth0.com/");
    if ((err = source_allowed(cmd, SRC_ISSUER, arg, NULL)))
        return err;
    if (!c->issuers || c->issuer_line != cmd->directive) {
        c->issuers = apr_array_make(cmd->pool, 2, sizeof(const char *));
        c->issuer_line = cmd->directive;
        c->issuer = arg;
    }
    APR_ARRAY_PUSH(c->issuers, const char *) = arg;
    return NULL;
}

static const char *set_audience(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;

    if (!*arg)
        return fail(cmd, "an empty audience matches nothing; give the API identifier");
    if (!c->audiences)
        c->audiences = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c->audiences, const char *) = arg;
    return NULL;
}

static const char *set_token_type(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;

    if (!agw_jwt_typ_name_ok(arg))
        return fail(cmd, apr_psprintf(cmd->pool, "'%s' is not a media type name; give a JOSE "
                                      "typ such as at+jwt", arg));
    if (!c->token_types)
        c->token_types = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c->token_types, const char *) = arg;
    return NULL;
}

/* A keyword setter's value, parsed by the core, its error prefixed with the directive. */
static const char *set_keyword(cmd_parms *cmd, int *out, const char *arg,
                               const agw_conf_word_t *words, const char *what)
{
    const char *err = agw_conf_keyword(out, cmd->pool, arg, words, what);
    return err ? fail(cmd, err) : NULL;
}

static const agw_conf_word_t mode_words[] = {
    { "enforce", AGW_MODE_ENFORCE }, { "optional", AGW_MODE_OPTIONAL },
    { "report-only", AGW_MODE_REPORT }, { NULL, 0 }
};

static const char *set_mode(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_keyword(cmd, &((agw_dir_conf_t *)dc)->mode, arg, mode_words, "a mode");
}

static const agw_conf_word_t dpop_words[] = {
    { "off", AGW_DPOP_OFF }, { "allowed", AGW_DPOP_ALLOWED }, { "required", AGW_DPOP_REQUIRED },
    { NULL, 0 }
};

static const char *set_dpop(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_keyword(cmd, &((agw_dir_conf_t *)dc)->dpop, arg, dpop_words, "a DPoP mode");
}

static const char *set_dpop_nonce(cmd_parms *cmd, void *dc, int on)
{
    ((agw_dir_conf_t *)dc)->dpop_nonce = on;
    return NULL;
}

static const char *set_preflight(cmd_parms *cmd, void *dc, int on)
{
    ((agw_dir_conf_t *)dc)->pass_preflight = on;
    return NULL;
}

static const char *set_jwks(cmd_parms *cmd, void *dc, const char *arg, const char *issuer)
{
    agw_dir_conf_t *c = dc;
    const char *err = agw_conf_url(cmd->pool, arg, 1, 1);

    if (err)
        return fail(cmd, err);
    if ((err = source_allowed(cmd, SRC_JWKS, arg, NULL)))
        return err;
    if (!issuer) {
        c->jwks = arg;
        return NULL;
    }
    if (strncasecmp(issuer, "https://", 8) != 0 && strncasecmp(issuer, "http://", 7) != 0)
        return fail(cmd, apr_psprintf(cmd->pool, "the second value names the issuer these keys "
                                      "are for, exactly as in Auth0Issuer (e.g. "
                                      "https://example.eu.auth0.com/), not '%s'", issuer));
    c->jwks_bound = c->jwks_bound ? c->jwks_bound : apr_table_make(cmd->pool, 2);
    apr_table_set(c->jwks_bound, issuer, arg);
    return NULL;
}

static const char *set_algs(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    agw_dir_conf_t *c = dc;
    const char *err = agw_conf_algorithms(&c->algs, cmd->pool, argc, argv);

    return err ? fail(cmd, err) : NULL;
}

static const char *set_hmac(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    const char *secret;
    apr_size_t len;
    int literal;
    const char *err;

    /* before the secret is read: .htaccess must not make httpd read what it may not name */
    if ((err = source_allowed(cmd, SRC_SECRET, arg, NULL)))
        return err;
    if ((err = agw_conf_secret(&secret, &len, &literal, cmd->pool, arg, 0)))
        return fail(cmd, err);
    if (len < 32)
        return fail(cmd, "the HMAC secret is shorter than 32 bytes; HS256 needs at least 256 "
                         "bits of key (RFC 7518 3.2)");
    c->hmac = (const unsigned char *)secret;
    c->hmac_len = len;
    c->hmac_jwks = agw_jwks_from_secret(cmd->pool, c->hmac, len);
    if (agw_crypt_sha256(c->hmac_id, secret, len) != APR_SUCCESS)
        return fail(cmd, "cannot hash the secret (libcrypto failed)");
    return NULL;
}

static const char *set_seconds(cmd_parms *cmd, apr_int64_t *out, const char *arg,
                               apr_int64_t max)
{
    const char *err = agw_conf_seconds(out, cmd->pool, arg, max);
    return err ? fail(cmd, err) : NULL;
}

static const char *set_leeway(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_seconds(cmd, &((agw_dir_conf_t *)dc)->leeway, arg, 3600);
}

static const char *set_refresh(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    const char *err = set_seconds(cmd, &c->refresh, arg, 7 * 86400);
    if (!err && c->refresh < 10)
        return fail(cmd, "use at least 10 seconds");
    return err;
}

static const char *set_cooldown(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    const char *err = set_seconds(cmd, &c->cooldown, arg, 86400);
    if (!err && c->cooldown < 1)
        return fail(cmd, "use at least 1 second, or the issuer can be made to serve a fetch "
                         "per request");
    return err;
}

static const char *set_fetch_wait(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_seconds(cmd, &((agw_dir_conf_t *)dc)->fetch_wait, arg, 60);
}

static const char *set_max_stale(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_seconds(cmd, &((agw_dir_conf_t *)dc)->max_stale, arg, 30 * 86400);
}

static const char *set_token_from(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    agw_token_src_t src;
    const char *err = agw_conf_token_from(&src, cmd->pool, arg);

    if (err)
        return fail(cmd, err);
    if (!c->sources)
        c->sources = apr_array_make(cmd->pool, 2, sizeof(agw_token_src_t));
    APR_ARRAY_PUSH(c->sources, agw_token_src_t) = src;
    return NULL;
}

static const char *compile_path(cmd_parms *cmd, agw_claim_path_t **out, const char *arg)
{
    const char *err = NULL;
    *out = agw_claim_path_compile(cmd->pool, arg, &err);
    return *out ? NULL : fail(cmd, err ? err : "invalid claim path");
}

static const char *set_scope_claim(cmd_parms *cmd, void *dc, const char *arg)
{
    return compile_path(cmd, &((agw_dir_conf_t *)dc)->scope_claim, arg);
}

static const char *set_roles_claim(cmd_parms *cmd, void *dc, const char *arg)
{
    return compile_path(cmd, &((agw_dir_conf_t *)dc)->roles_claim, arg);
}

static const char *set_user_claim(cmd_parms *cmd, void *dc, const char *arg)
{
    return compile_path(cmd, &((agw_dir_conf_t *)dc)->user_claim, arg);
}

static int is_token_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!apr_isalnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

static const char *add_copy(cmd_parms *cmd, apr_array_header_t **list, const char *path,
                            const char *name, int is_header)
{
    agw_claim_copy_t *cc;
    agw_claim_path_t *cp;
    const char *err;

    if (!is_token_name(name))
        return fail(cmd, is_header ? "the header name has characters HTTP does not allow"
                                   : "the variable name has characters that are not allowed");
    if (is_header && (!strcasecmp(name, "Authorization") || !strcasecmp(name, "Host")
                      || !strcasecmp(name, "Content-Length") || !strcasecmp(name, "Cookie")
                      || !strcasecmp(name, "Transfer-Encoding")))
        return fail(cmd, "this header carries the request itself; choose a name of your own "
                         "such as X-User-Id");
    if ((err = compile_path(cmd, &cp, path)))
        return err;
    if (!*list)
        *list = apr_array_make(cmd->pool, 2, sizeof(agw_claim_copy_t));
    cc = apr_array_push(*list);
    cc->path = cp;
    cc->name = name;
    return NULL;
}

static const char *set_claim_header(cmd_parms *cmd, void *dc, const char *path, const char *h)
{
    return add_copy(cmd, &((agw_dir_conf_t *)dc)->claim_headers, path, h, 1);
}

static const char *set_claim_env(cmd_parms *cmd, void *dc, const char *path, const char *v)
{
    return add_copy(cmd, &((agw_dir_conf_t *)dc)->claim_envs, path, v, 0);
}

static const char *set_ca_file(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_dir_conf_t *c = dc;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *err;
    apr_finfo_t fi;

    if ((err = source_allowed(cmd, SRC_CA, arg, path)))
        return err;
    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || fi.filetype != APR_REG)
        return fail(cmd, apr_psprintf(cmd->pool, "cannot read the CA file %s; give a PEM "
                                                 "bundle readable by httpd", arg));
    if (gw_current_client(cmd))
        gw_current_client(cmd)->http.ca_file = path;
    else
        c->ca_file = path;
    return NULL;
}

static const char *set_token_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &auth0gw_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err)
        return err;
    if ((err = agw_conf_seconds(&sc->token_cache, cmd->pool, arg, 10000000)))
        return apr_psprintf(cmd->pool, "Auth0TokenCache: give a number of entries (0 turns "
                                       "the cache off, default 10000)");
    return NULL;
}

/* The time (seconds) of this process's last warning about Auth0InsecureHTTP in .htaccess. */
static apr_uint32_t insecure_warned_at;

static const char *set_insecure(cmd_parms *cmd, void *dc, int on)
{
    if (on && in_htaccess(cmd)) {
        /* read per request: warn at most once a minute per process, as at start (AGW0002) */
        apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
        apr_uint32_t last = apr_atomic_read32(&insecure_warned_at);
        if ((last == 0 || now - last >= 60)
            && apr_atomic_cas32(&insecure_warned_at, now, last) == last)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                         AGW_M_INSECURE_HTTP ": %s:%d: Auth0InsecureHTTP On: keys and tokens may travel "
                         "over plain http; for development only",
                         cmd->directive ? cmd->directive->filename : "?",
                         cmd->directive ? cmd->directive->line_num : 0);
    }
    if (gw_current_client(cmd))
        gw_current_client(cmd)->http.allow_http = on;
    else
        ((agw_dir_conf_t *)dc)->insecure_http = on;
    return NULL;
}

static const char *set_htaccess_sources(cmd_parms *cmd, void *dc, const char *arg)
{
    agw_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &auth0gw_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    const char *path;

    if (err)
        return err;
    if (!*arg)
        return fail(cmd, "give the URLs, issuers, domains, file:PATH or env:VAR secrets and "
                         "CA files that .htaccess files may name");
    if (!sc->htaccess_sources)
        sc->htaccess_sources = apr_hash_make(cmd->pool);
    apr_hash_set(sc->htaccess_sources, arg, APR_HASH_KEY_STRING, arg);
    /* a CA file relative to ServerRoot matches in either spelling */
    if (*arg != '/' && !strchr(arg, ':') && (path = ap_server_root_relative(cmd->pool, arg)))
        apr_hash_set(sc->htaccess_sources, path, APR_HASH_KEY_STRING, path);
    return NULL;
}

/* Every directive of the incoming gate goes through one of these: it may stand at server or
 * <VirtualHost> level (the server's lookup_defaults, which httpd merges under every section),
 * in any section and in .htaccess (AuthConfig). Inside <Auth0Client> (a server-level section)
 * only those the client uses are valid; there they go to the client, not the server's config. */
typedef struct gate_cmd_t {
    /* one member per argument kind, named after it so that the table macro can pick it */
    const char *(*TAKE1)(cmd_parms *cmd, void *dc, const char *arg);
    const char *(*ITERATE)(cmd_parms *cmd, void *dc, const char *arg);
    const char *(*TAKE2)(cmd_parms *cmd, void *dc, const char *a, const char *b);
    const char *(*TAKE12)(cmd_parms *cmd, void *dc, const char *a, const char *b);
    const char *(*FLAG)(cmd_parms *cmd, void *dc, int on);
    const char *(*TAKE_ARGV)(cmd_parms *cmd, void *dc, int argc, char *const argv[]);
    int in_client;              /* also valid inside <Auth0Client> */
} gate_cmd_t;

static const char *gate_enter(cmd_parms *cmd, void *dc)
{
    const gate_cmd_t *g = cmd->info;
    agw_dir_conf_t *c = dc;

    if (gw_current_client(cmd)) {
        if (!g->in_client)
            return fail(cmd, "is not valid inside <Auth0Client> (only Auth0Domain, Auth0CAFile "
                             "and Auth0InsecureHTTP are); put it outside the section");
        return NULL;
    }
    if (c && !c->where && cmd->directive)
        c->where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                cmd->directive->line_num);
    return NULL;
}

static const char *gate_TAKE1(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = gate_enter(cmd, dc);
    return err ? err : ((const gate_cmd_t *)cmd->info)->TAKE1(cmd, dc, arg);
}

static const char *gate_ITERATE(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = gate_enter(cmd, dc);
    return err ? err : ((const gate_cmd_t *)cmd->info)->ITERATE(cmd, dc, arg);
}

static const char *gate_TAKE2(cmd_parms *cmd, void *dc, const char *a, const char *b)
{
    const char *err = gate_enter(cmd, dc);
    return err ? err : ((const gate_cmd_t *)cmd->info)->TAKE2(cmd, dc, a, b);
}

static const char *gate_TAKE12(cmd_parms *cmd, void *dc, const char *a, const char *b)
{
    const char *err = gate_enter(cmd, dc);
    return err ? err : ((const gate_cmd_t *)cmd->info)->TAKE12(cmd, dc, a, b);
}

static const char *gate_FLAG(cmd_parms *cmd, void *dc, int on)
{
    const char *err = gate_enter(cmd, dc);
    return err ? err : ((const gate_cmd_t *)cmd->info)->FLAG(cmd, dc, on);
}

static const char *gate_TAKE_ARGV(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = gate_enter(cmd, dc);
    return err ? err : ((const gate_cmd_t *)cmd->info)->TAKE_ARGV(cmd, dc, argc, argv);
}

#define GATE_WHERE (RSRC_CONF | OR_AUTHCFG)
#define GATECMD_(kind, name, fn, client, help)                                                 \
    AP_INIT_##kind(name, gate_##kind,                                                          \
                   ((void *)&(const gate_cmd_t){ .kind = fn, .in_client = client }),            \
                   GATE_WHERE, help)
#define DIRCMD(kind, name, fn, help) GATECMD_(kind, name, fn, 0, help)
/* also valid inside <Auth0Client> */
#define BOTHCMD(kind, name, fn, help) GATECMD_(kind, name, fn, 1, help)
#define CLIENTCMD(kind, name, fn, help) AP_INIT_##kind(name, fn, NULL, RSRC_CONF, help)

const command_rec gw_cmds[] = {
    BOTHCMD(ITERATE, "Auth0Domain", set_domain,
           "Auth0 tenant host: issuer https://HOST/, JWKS and token URL derived from it"),
    DIRCMD(ITERATE, "Auth0Issuer", set_issuer,
           "the iss values accepted, compared exactly; with several, each has its key source"),
    DIRCMD(ITERATE, "Auth0Audience", set_audience,
           "audiences accepted: the token's aud must contain one of them"),
    DIRCMD(ITERATE, "Auth0TokenType", set_token_type,
           "JOSE typ values accepted, e.g. at+jwt (RFC 9068); unset: any but other JWT kinds"),
    DIRCMD(TAKE1, "Auth0Mode", set_mode,
           "enforce (default), optional (no token: anonymous) or report-only (log, count, "
           "refuse nothing)"),
    DIRCMD(TAKE1, "Auth0DPoP", set_dpop,
           "allowed (default: DPoP proofs verified, RFC 9449), required (Bearer refused) or "
           "off (Bearer only); a DPoP-bound token is accepted only with its proof"),
    DIRCMD(FLAG, "Auth0DPoPNonce", set_dpop_nonce,
           "On: a DPoP proof must carry a nonce this server issued recently (DPoP-Nonce, "
           "RFC 9449 section 9)"),
    DIRCMD(FLAG, "Auth0PassPreflight", set_preflight,
           "On: a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) "
           "needs no token"),
    DIRCMD(TAKE12, "Auth0JWKS", set_jwks,
           "the key source: an https:// URL or file:PATH, optionally followed by the issuer it "
           "serves"),
    DIRCMD(TAKE_ARGV, "Auth0Algorithms", set_algs, "allowed signature algorithms (RS256 by "
                                                   "default)"),
    DIRCMD(TAKE1, "Auth0HMACSecret", set_hmac, "file:PATH or env:VAR with the HS* secret"),
    DIRCMD(TAKE1, "Auth0Leeway", set_leeway, "clock skew allowed on exp/nbf/iat, seconds"),
    DIRCMD(ITERATE, "Auth0TokenFrom", set_token_from,
           "where the token is: header, header=NAME, cookie=NAME, query=NAME"),
    DIRCMD(TAKE1, "Auth0ScopeClaim", set_scope_claim, "the claim holding scopes"),
    DIRCMD(TAKE1, "Auth0RolesClaim", set_roles_claim, "the claim holding roles"),
    DIRCMD(TAKE1, "Auth0RemoteUserClaim", set_user_claim, "the claim that becomes REMOTE_USER"),
    DIRCMD(TAKE2, "Auth0ClaimHeader", set_claim_header,
           "CLAIM HEADER: copy a claim to a request header for the backend"),
    DIRCMD(TAKE2, "Auth0ClaimEnv", set_claim_env,
           "CLAIM VAR: copy a claim to an environment variable"),
    DIRCMD(TAKE1, "Auth0KeyRefresh", set_refresh, "seconds between JWKS refreshes"),
    DIRCMD(TAKE1, "Auth0KeyRefreshCooldown", set_cooldown,
           "minimum seconds between refetches caused by an unknown kid"),
    DIRCMD(TAKE1, "Auth0KeyFetchWait", set_fetch_wait,
           "the longest a request waits for a key fetch another request started (0-60 s; 2)"),
    DIRCMD(TAKE1, "Auth0KeyMaxStale", set_max_stale,
           "seconds the last good JWKS serves while the issuer is unreachable"),
    BOTHCMD(TAKE1, "Auth0CAFile", set_ca_file, "extra CA bundle for the key and token endpoints"),
    BOTHCMD(FLAG, "Auth0InsecureHTTP", set_insecure,
           "allow http:// key and token URLs (development only)"),
    AP_INIT_RAW_ARGS("<Auth0Client", gw_client_section, NULL, RSRC_CONF,
                     "a named client-credentials client for proxied backends"),
    CLIENTCMD(TAKE1, "Auth0TokenURL", gw_set_token_url, "the token endpoint"),
    AP_INIT_TAKE1("Auth0ClientID", gw_set_client_str,
                  (void *)offsetof(agw_client_t, client_id), RSRC_CONF, "the client id"),
    CLIENTCMD(TAKE1, "Auth0ClientSecret", gw_set_client_secret, "file:PATH, env:VAR or literal"),
    AP_INIT_TAKE1("Auth0ClientAudience", gw_set_client_str,
                  (void *)offsetof(agw_client_t, audience), RSRC_CONF, "the API the token is for"),
    CLIENTCMD(ITERATE, "Auth0ClientScope", gw_set_client_scope, "scopes to request"),
    CLIENTCMD(TAKE1, "Auth0ClientAuth", gw_set_client_auth,
              "client_secret_post, client_secret_basic or private_key_jwt"),
    CLIENTCMD(TAKE2, "Auth0ClientParam", gw_set_client_param, "NAME VALUE: extra form parameter"),
    CLIENTCMD(TAKE1, "Auth0ClientKey", gw_set_client_key,
              "file:PATH of the PEM private key for private_key_jwt"),
    CLIENTCMD(TAKE12, "Auth0ClientDPoPKey", gw_set_client_dpop_key,
              "file:PATH of the PEM private key (EC P-256, Ed25519, RSA) that DPoP-binds the "
              "client's tokens, optionally followed by the alg (PS256 for RSA)"),
    AP_INIT_TAKE1("Auth0ClientKeyID", gw_set_client_str,
                  (void *)offsetof(agw_client_t, sign_kid), RSRC_CONF, "kid of the private_key_jwt key"),
    CLIENTCMD(TAKE1, "Auth0ClientRenew", gw_set_client_renew,
              "renew after this share of the lifetime (default 80%)"),
    CLIENTCMD(ITERATE, "Auth0ClientBackend", gw_set_client_backend,
              "origins scheme://host[:port] the token may be sent to (default: any "
              "reverse-proxied backend)"),
    AP_INIT_TAKE1("Auth0ProxyClient", gw_set_proxy_client, NULL, ACCESS_CONF | RSRC_CONF,
                  "the <Auth0Client> whose token proxied requests here carry"),
    AP_INIT_ITERATE("Auth0HtaccessSources", set_htaccess_sources, NULL, RSRC_CONF,
                    "key sources, issuers, domains, secrets (file:PATH, env:VAR) and CA files "
                    ".htaccess may name besides those the server configuration names"),
    AP_INIT_TAKE1("Auth0TokenCache", set_token_cache, NULL, RSRC_CONF,
                  "entries of the per-process cache of verified tokens (0: off; 10000)"),
    AP_INIT_TAKE1("Auth0Cache", gw_cache_set, NULL, RSRC_CONF,
                  "socache provider for shared state: shmcb, redis:HOST:PORT, memcache:HOST:PORT"),
    AP_INIT_TAKE12("Auth0CacheSecret", gw_cache_secret_set, NULL, RSRC_CONF,
                   "file:PATH (or env:VAR) of the fleet key that seals shared-cache records; "
                   "a second value is an older key that still opens records"),
    AP_INIT_TAKE1("Auth0StateDir", gw_state_dir_set, NULL, RSRC_CONF,
                  "directory of the keys kept across restarts (default: the runtime "
                  "directory's auth0gw/), or off"),
    { NULL }
};

/* ---- startup checks over the configuration tree ------------------------------------------ */

/* "<Location" and "/api>" -> "/api": the section's argument without '>' and quotes. */
static const char *section_arg(apr_pool_t *p, const ap_directive_t *sec)
{
    char *a = apr_pstrdup(p, sec->args ? sec->args : ""), *end;
    apr_size_t n = strlen(a);

    if (n && a[n - 1] == '>')
        a[--n] = '\0';
    end = a;
    return ap_getword_conf(p, (const char **)&end);
}

/* A section of the same kind whose path is a prefix of ours applies to us too. */
static int covers(apr_pool_t *p, const ap_directive_t *outer, const ap_directive_t *inner)
{
    const char *o, *i;

    if (outer == inner || strcasecmp(outer->directive, inner->directive) != 0
        || (strcasecmp(outer->directive, "<Location") != 0
            && strcasecmp(outer->directive, "<Directory") != 0))
        return 0;
    o = section_arg(p, outer);
    i = section_arg(p, inner);
    return strncmp(o, i, strlen(o)) == 0;
}

static const ap_directive_t *first_in(const ap_directive_t *d, const char *name)
{
    for (; d; d = d->next)
        if (!strcasecmp(d->directive, name))
            return d;
    return NULL;
}

static int is_vhost(const ap_directive_t *d)
{
    return d && !strcasecmp(d->directive, "<VirtualHost");
}

/* The <VirtualHost> that n is in, or NULL at the main server's level. */
static const ap_directive_t *vhost_of(const ap_directive_t *n)
{
    for (n = n->parent; n; n = n->parent)
        if (is_vhost(n))
            return n;
    return NULL;
}

/* A section whose reach a walk over the text cannot tell: a regular expression or an
 * <If> expression decides per request which requests it applies to. */
static int undecidable(const ap_directive_t *sec)
{
    static const char *const kinds[] = { "<LocationMatch", "<DirectoryMatch", "<FilesMatch",
                                         "<If", "<ElseIf", "<Else", NULL };
    int i;

    for (i = 0; kinds[i]; i++)
        if (!strcasecmp(sec->directive, kinds[i]))
            return 1;
    return sec->args && sec->args[0] == '~';
}

/* A section among first (and the sections in them) that sets name; *unsure when one that
 * does is (or is inside) a section of undecidable reach. Virtual hosts and <Auth0Client>
 * are not looked into: they are not sections of this server's requests. */
static int some_section_has(const ap_directive_t *first, const char *name, int in_unsure,
                            int *unsure)
{
    const ap_directive_t *d;
    int found = 0;

    for (d = first; d; d = d->next) {
        int u = in_unsure || undecidable(d);
        if (!d->first_child || is_vhost(d) || !strcasecmp(d->directive, "<Auth0Client"))
            continue;
        if (first_in(d->first_child, name)
            || some_section_has(d->first_child, name, u, unsure)) {
            found = 1;
            *unsure |= u;
        }
    }
    return found;
}

/* Section by section from where n is, the directive name that applies there in the server
 * of <VirtualHost> vh (NULL: the main server), as httpd's merge gives it: in n's section, a
 * section of the same kind that covers it (beside it, or at an outer level: the main
 * server's sections apply in every virtual host too), an enclosing one; else the value at
 * vh's level, else at the main server's. */
static const ap_directive_t *find_scoped(apr_pool_t *p, const ap_directive_t *n,
                                         const ap_directive_t *vh, const char *name)
{
    const ap_directive_t *sec, *cont, *sib, *d;

    for (sec = n->parent; sec && !is_vhost(sec); sec = sec->parent) {
        if ((d = first_in(sec->first_child, name)))
            return d;
        for (cont = sec->parent;; cont = cont->parent) {
            for (sib = cont ? cont->first_child : ap_conftree; sib; sib = sib->next)
                if (sib->first_child && covers(p, sib, sec)
                    && (d = first_in(sib->first_child, name)))
                    return d;
            if (!cont)
                break;
        }
        if (vh && vh != vhost_of(n))
            for (sib = vh->first_child; sib; sib = sib->next)
                if (sib->first_child && covers(p, sib, sec)
                    && (d = first_in(sib->first_child, name)))
                    return d;
    }
    if (vh && (d = first_in(vh->first_child, name)))
        return d;
    return first_in(ap_conftree, name);
}

/* Whether a directive that the walk did not find may still apply where n is: some section
 * sets it, and n's sections or that one have a reach the text cannot tell. The per-request
 * check (AGW0003) still applies there. */
static int maybe_elsewhere(const ap_directive_t *n, const ap_directive_t *vh, const char *name)
{
    const ap_directive_t *sec;
    int unsure = 0, found;

    for (sec = n->parent; sec && !is_vhost(sec); sec = sec->parent)
        unsure |= undecidable(sec);
    found = some_section_has(ap_conftree, name, 0, &unsure);
    if (vh)
        found |= some_section_has(vh->first_child, name, 0, &unsure);
    return found && unsure;
}

static int flag_on(const ap_directive_t *d)
{
    return d && d->args && !strcasecmp(d->args, "on");
}

/* A directive's arguments, word by word (quotes as httpd reads them). */
static apr_array_header_t *words_of(apr_pool_t *p, const ap_directive_t *d)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(const char *));
    const char *args = d && d->args ? d->args : "", *w;

    while (*args && (w = ap_getword_conf(p, &args)) && *w)
        APR_ARRAY_PUSH(out, const char *) = w;
    return out;
}

/* The issuers trusted where n is: Auth0Issuer's values, else Auth0Domain's; NULL: unknown. */
static apr_array_header_t *issuers_at(apr_pool_t *p, const ap_directive_t *n,
                                      const ap_directive_t *vh)
{
    const ap_directive_t *iss = find_scoped(p, n, vh, "Auth0Issuer");
    const ap_directive_t *dom = iss ? NULL : find_scoped(p, n, vh, "Auth0Domain");
    apr_array_header_t *out;
    int i;

    if (iss)
        return words_of(p, iss);
    if (!dom)
        return NULL;
    out = words_of(p, dom);
    for (i = 0; i < out->nelts; i++)
        APR_ARRAY_IDX(out, i, const char *) = apr_pstrcat(p, "https://",
                                                          APR_ARRAY_IDX(out, i, const char *),
                                                          "/", NULL);
    return out;
}

/* ---- the cross-directive rules: one table, at start and on merged configurations ---------- */

/* Where a rule is checked at start: directive d, in the server of <VirtualHost> vh (NULL: the
 * main server), seeing what applies there as httpd's merge gives it (find_scoped). */
typedef struct rule_at_t {
    apr_pool_t *p;
    server_rec *s;
    const ap_directive_t *d, *vh;
} rule_at_t;

/* One rule. At start it is checked at each `on` directive (in every server that directive
 * applies to, or once), and a finding is logged as msgno ": file:line: " finding fix. On a
 * merged per-directory configuration (a request's, .htaccess included; AGW0003), merged
 * gives the whole message, NULL when the rule holds (no merged: checked at start only). */
typedef struct conf_rule_t {
    const char *msgno;
    const char *on;
    int level;                  /* APLOG_EMERG: the start fails; APLOG_WARNING: said only */
    int once;                   /* checked once per directive, not per server */
    const char *(*at_start)(const rule_at_t *at);
    const char *fix;
    const char *(*merged)(apr_pool_t *p, const agw_dir_conf_t *c);
} conf_rule_t;

static int is_gate(const ap_directive_t *d)
{
    return d->args && !strcasecmp(d->args, AGW_AUTH_TYPE);
}

static const char *start_audience(const rule_at_t *at)
{
    if (!is_gate(at->d) || find_scoped(at->p, at->d, at->vh, "Auth0Audience")
        || maybe_elsewhere(at->d, at->vh, "Auth0Audience"))
        return NULL;
    return "AuthType Auth0 needs Auth0Audience";
}

AGW_HOT static const char *merged_audience(apr_pool_t *p, const agw_dir_conf_t *c)
{
    if (c->audiences && c->audiences->nelts > 0)
        return NULL;
    return "AuthType Auth0 needs Auth0Audience (the API identifier tokens carry in aud)";
}

static const char *start_issuer(const rule_at_t *at)
{
    if (!is_gate(at->d) || find_scoped(at->p, at->d, at->vh, "Auth0Domain")
        || find_scoped(at->p, at->d, at->vh, "Auth0Issuer")
        || maybe_elsewhere(at->d, at->vh, "Auth0Domain")
        || maybe_elsewhere(at->d, at->vh, "Auth0Issuer"))
        return NULL;
    return "AuthType Auth0 needs Auth0Domain (an Auth0 tenant) or Auth0Issuer (any issuer) to "
           "know whose tokens to accept";
}

AGW_HOT static const char *merged_issuer(apr_pool_t *p, const agw_dir_conf_t *c)
{
    return c->issuer || c->domain ? NULL : "AuthType Auth0 needs Auth0Domain or Auth0Issuer";
}

static agw_alg_set_t hs_algs(void)
{
    return AGW_ALG_BIT(AGW_ALG_HS256) | AGW_ALG_BIT(AGW_ALG_HS384) | AGW_ALG_BIT(AGW_ALG_HS512);
}

static int allows_hs(const ap_directive_t *d)
{
    return d->args && strstr(d->args, "HS");
}

static const char *start_hmac_missing(const rule_at_t *at)
{
    if (!allows_hs(at->d) || find_scoped(at->p, at->d, at->vh, "Auth0HMACSecret")
        || maybe_elsewhere(at->d, at->vh, "Auth0HMACSecret"))
        return NULL;
    return "Auth0Algorithms allows HS* but no Auth0HMACSecret applies here";
}

AGW_HOT static const char *merged_hmac_missing(apr_pool_t *p, const agw_dir_conf_t *c)
{
    agw_alg_set_t algs = c->algs ? c->algs : AGW_ALG_BIT(AGW_ALG_RS256);

    return (algs & hs_algs()) && !c->hmac
           ? "Auth0Algorithms allows HS* but no Auth0HMACSecret is set" : NULL;
}

/* RFC 7518 3.2: the key must be at least as long as the hash output. The 32-byte floor of
 * every HS* secret is the setter's (set_hmac: a property of the value alone); this rule adds
 * what depends on Auth0Algorithms. */
static const char *start_hmac_short(const rule_at_t *at)
{
    const ap_directive_t *sec;
    apr_size_t need, len = 0;
    const char *secret;
    int literal;

    if (!allows_hs(at->d) || !(sec = find_scoped(at->p, at->d, at->vh, "Auth0HMACSecret")))
        return NULL;
    need = strstr(at->d->args, "HS512") ? 64 : strstr(at->d->args, "HS384") ? 48 : 32;
    if (agw_conf_secret(&secret, &len, &literal, at->p, sec->args, 0) || len >= need)
        return NULL;
    return apr_psprintf(at->p, "Auth0Algorithms allows HS%d but the Auth0HMACSecret at %s:%d "
                        "has %" APR_SIZE_T_FMT " bytes; it needs at least %" APR_SIZE_T_FMT,
                        (int)(need * 8), sec->filename, sec->line_num, len, need);
}

static const char *start_discovery_http(const rule_at_t *at)
{
    const ap_directive_t *iss;

    if (!is_gate(at->d) || find_scoped(at->p, at->d, at->vh, "Auth0JWKS")
        || find_scoped(at->p, at->d, at->vh, "Auth0Domain")
        || !(iss = find_scoped(at->p, at->d, at->vh, "Auth0Issuer")) || !iss->args
        || strncasecmp(iss->args, "http://", 7)
        || flag_on(find_scoped(at->p, at->d, at->vh, "Auth0InsecureHTTP")))
        return NULL;
    return apr_psprintf(at->p, "keys would be discovered over http:// from Auth0Issuer %s",
                        iss->args);
}

/* Several issuers (at any AuthType line) and an Auth0JWKS without the issuer it is for. */
static const char *start_jwks_unbound(const rule_at_t *at)
{
    apr_array_header_t *iss = issuers_at(at->p, at->d, at->vh);
    const ap_directive_t *x;

    if (!iss || iss->nelts < 2)
        return NULL;
    for (x = find_scoped(at->p, at->d, at->vh, "Auth0JWKS"); x; x = x->next)
        if (!strcasecmp(x->directive, "Auth0JWKS") && words_of(at->p, x)->nelts == 1)
            return apr_psprintf(at->p, "with several issuers, Auth0JWKS %s (%s:%d) must name "
                                "the issuer whose keys it holds", x->args, x->filename,
                                x->line_num);
    return NULL;
}

AGW_HOT static const char *merged_jwks_unbound(apr_pool_t *p, const agw_dir_conf_t *c)
{
    apr_array_header_t *iss = trusted_issuers(p, c);

    if (!iss || iss->nelts < 2 || !c->jwks)
        return NULL;
    return apr_psprintf(p, "with several issuers, Auth0JWKS %s must name the issuer whose keys "
                        "it holds: Auth0JWKS URL ISSUER", c->jwks);
}

static const char *start_jwks_stranger(const rule_at_t *at)
{
    apr_array_header_t *iss, *w = words_of(at->p, at->d);
    int i;

    if (w->nelts < 2 || !(iss = issuers_at(at->p, at->d, at->vh)))
        return NULL;
    for (i = 0; i < iss->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(iss, i, const char *), APR_ARRAY_IDX(w, 1, const char *)))
            return NULL;
    return apr_psprintf(at->p, "Auth0JWKS binds keys to %s, which is not an issuer of this "
                        "section (Auth0Issuer, else Auth0Domain)",
                        APR_ARRAY_IDX(w, 1, const char *));
}

AGW_HOT static const char *merged_jwks_stranger(apr_pool_t *p, const agw_dir_conf_t *c)
{
    apr_array_header_t *iss = trusted_issuers(p, c);
    const apr_array_header_t *h = c->jwks_bound ? apr_table_elts(c->jwks_bound) : NULL;
    int i, j;

    for (i = 0; h && i < h->nelts; i++) {
        const char *bound = ((const apr_table_entry_t *)h->elts)[i].key;
        for (j = 0; iss && j < iss->nelts; j++)
            if (!strcmp(bound, APR_ARRAY_IDX(iss, j, const char *)))
                break;
        if (!iss || j == iss->nelts)
            return apr_psprintf(p, "Auth0JWKS binds keys to %s, which is not an issuer of this "
                                "section (Auth0Issuer, else Auth0Domain)", bound);
    }
    return NULL;
}

static const char *start_jwks_http(const rule_at_t *at)
{
    if (!at->d->args || strncasecmp(at->d->args, "http://", 7)
        || flag_on(find_scoped(at->p, at->d, at->vh, "Auth0InsecureHTTP")))
        return NULL;
    return apr_psprintf(at->p, "Auth0JWKS %s is plain http: keys must come over https",
                        at->d->args);
}

/* Any key URL of the location over http: each issuer's with several, else the one. */
AGW_HOT static const char *merged_key_url_http(apr_pool_t *p, const agw_dir_conf_t *c)
{
    static const char why[] = "an http:// key URL needs Auth0InsecureHTTP On (development "
                              "only); use https";
    apr_array_header_t *iss = trusted_issuers(p, c);
    int i;

    if (c->insecure_http == 1)
        return NULL;
    for (i = 0; iss && iss->nelts > 1 && i < iss->nelts; i++) {
        const char *one = APR_ARRAY_IDX(iss, i, const char *);
        const char *k = issuer_jwks(p, c, one);
        if (is_http(k) || (!k && is_http(one)))
            return why;
    }
    if (is_http(c->jwks) || (!c->jwks && !c->domain && is_http(c->issuer)))
        return why;
    return NULL;
}

static const char *start_proxy_client(const rule_at_t *at)
{
    const char *name = at->d->args;
    server_rec *vs;

    if (!name)
        return NULL;
    for (vs = at->s; vs; vs = vs->next) {
        agw_srv_conf_t *sc = ap_get_module_config(vs->module_config, &auth0gw_module);
        if (apr_hash_get(sc->clients, name, APR_HASH_KEY_STRING))
            return NULL;
    }
    return apr_psprintf(at->p, "Auth0ProxyClient %s names no client; define <Auth0Client %s> "
                        "... </Auth0Client>", name, name);
}

static const char *start_insecure(const rule_at_t *at)
{
    return flag_on(at->d) ? "Auth0InsecureHTTP On: keys and tokens may travel over plain http"
                          : NULL;
}

/* In this order: the first finding on a merged configuration is the one it is refused for;
 * at start, a directive's findings are logged in this order. */
static const conf_rule_t conf_rules[] = {
    { AGW_M_CONFIG, "AuthType", APLOG_EMERG, 0, start_audience,
      " here, in an enclosing section or at server or <VirtualHost> level, e.g. "
      "`Auth0Audience https://api.example.com` (the API identifier tokens carry in aud)",
      merged_audience },
    { AGW_M_CONFIG, "AuthType", APLOG_EMERG, 0, start_issuer,
      ", here, in an enclosing section or at server or <VirtualHost> level", merged_issuer },
    { AGW_M_CONFIG, "Auth0Algorithms", APLOG_EMERG, 0, start_hmac_missing,
      "; add `Auth0HMACSecret file:/path/to/secret`", merged_hmac_missing },
    { AGW_M_CONFIG, "AuthType", APLOG_EMERG, 0, start_discovery_http,
      "; use https, or set Auth0InsecureHTTP On for development only", NULL },
    { AGW_M_CONFIG, "AuthType", APLOG_EMERG, 0, start_jwks_unbound,
      ": Auth0JWKS URL ISSUER", merged_jwks_unbound },
    { AGW_M_CONFIG, "Auth0JWKS", APLOG_EMERG, 0, start_jwks_stranger,
      "; name one of them", merged_jwks_stranger },
    { AGW_M_CONFIG, "Auth0JWKS", APLOG_EMERG, 0, start_jwks_http,
      "; set Auth0InsecureHTTP On in this scope for development only", merged_key_url_http },
    { AGW_M_CONFIG, "Auth0Algorithms", APLOG_EMERG, 0, start_hmac_short,
      " (RFC 7518 3.2)", NULL },
    { AGW_M_CONFIG, "Auth0ProxyClient", APLOG_EMERG, 1, start_proxy_client,
      " at server or virtual-host level", NULL },
    { AGW_M_INSECURE_HTTP, "Auth0InsecureHTTP", APLOG_WARNING, 1, start_insecure,
      "; for development only", NULL },
    { NULL }
};

/* Every request of a gated location asks; the answer depends on c alone, and c is most often
 * a section's own configuration (gw_dir_merge returns it when the other side sets nothing):
 * a complete one is remembered in it, once per process. (The memo lies in the bytes
 * sets_nothing does not compare.) */
AGW_HOT const char *gw_conf_incomplete(apr_pool_t *p, const agw_dir_conf_t *c)
{
    const conf_rule_t *rule;
    const char *why;

    if (__atomic_load_n(&c->complete, __ATOMIC_RELAXED) == 1)
        return NULL;
    for (rule = conf_rules; rule->msgno; rule++)
        if (rule->merged && (why = rule->merged(p, c)))
            return why;
    __atomic_store_n(&((agw_dir_conf_t *)c)->complete, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* A rule's finding at d in the server of <VirtualHost> vh. */
typedef struct finding_t {
    const conf_rule_t *rule;
    const char *text;           /* the finding and its fix */
} finding_t;

/* The findings of the per-server rules at directive d in the server of <VirtualHost> vh
 * (NULL: the main server). */
static apr_array_header_t *node_errors(apr_pool_t *p, server_rec *s, const ap_directive_t *d,
                                       const ap_directive_t *vh)
{
    apr_array_header_t *errs = apr_array_make(p, 2, sizeof(finding_t));
    rule_at_t at = { p, s, d, vh };
    const conf_rule_t *rule;
    const char *why;

    /* a value at the main server's level that vh sets again does not apply in vh */
    if (!d->parent && vh && first_in(vh->first_child, d->directive))
        return errs;
    for (rule = conf_rules; rule->msgno; rule++)
        if (!rule->once && !strcasecmp(d->directive, rule->on) && (why = rule->at_start(&at))) {
            finding_t *f = apr_array_push(errs);
            f->rule = rule;
            f->text = apr_pstrcat(p, why, rule->fix, NULL);
        }
    return errs;
}

/* The rules checked once at d; the number of errors. */
static int check_once(apr_pool_t *p, server_rec *s, const ap_directive_t *d)
{
    rule_at_t at = { p, s, d, NULL };
    const conf_rule_t *rule;
    const char *why;
    int bad = 0;

    for (rule = conf_rules; rule->msgno; rule++)
        if (rule->once && !strcasecmp(d->directive, rule->on) && (why = rule->at_start(&at))) {
            ap_log_error(APLOG_MARK, rule->level, 0, s, "%s: %s:%d: %s%s", rule->msgno,
                         d->filename, d->line_num, why, rule->fix);
            bad += rule->level == APLOG_EMERG;
        }
    return bad;
}

typedef struct {
    const char *msgno;          /* the rule's message number */
    int in_main;                /* the main server has this error */
    int nvhosts;                /* how many virtual hosts have it */
    const char *vhosts;         /* where they are: "file:line, file:line" */
} where_bad_t;

/* The errors of d in every server it applies to: a directive inside a <VirtualHost> in that
 * one, any other in the main server and every virtual host (httpd merges the main server's
 * values and sections under each). An error of every such server is reported once; one of
 * some virtual hosts names them; one of the main server alone (every virtual host sets what
 * is missing) is a warning: only requests no <VirtualHost> answers would meet it. */
static int check_node(apr_pool_t *p, server_rec *s, const ap_directive_t *d)
{
    const ap_directive_t *vh = vhost_of(d), *v;
    apr_array_header_t *errs, *order = apr_array_make(p, 4, sizeof(const char *));
    apr_hash_t *bad_in = apr_hash_make(p);
    int nvhosts = 0, bad = 0, first, i;

    if (vh) {
        errs = node_errors(p, s, d, vh);
        for (i = 0; i < errs->nelts; i++) {
            const finding_t *f = &APR_ARRAY_IDX(errs, i, finding_t);
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%s: %s:%d: %s", f->rule->msgno,
                         d->filename, d->line_num, f->text);
        }
        return errs->nelts + check_once(p, s, d);
    }
    /* the main server first (v NULL), then each virtual host */
    for (v = NULL, first = 1; first || v; v = first ? ap_conftree : v->next, first = 0) {
        where_bad_t *w;
        if (v && !is_vhost(v))
            continue;
        nvhosts += v != NULL;
        errs = node_errors(p, s, d, v);
        for (i = 0; i < errs->nelts; i++) {
            const finding_t *f = &APR_ARRAY_IDX(errs, i, finding_t);
            const char *msg = f->text;
            if (!(w = apr_hash_get(bad_in, msg, APR_HASH_KEY_STRING))) {
                w = apr_pcalloc(p, sizeof(*w));
                w->msgno = f->rule->msgno;
                apr_hash_set(bad_in, msg, APR_HASH_KEY_STRING, w);
                APR_ARRAY_PUSH(order, const char *) = msg;
            }
            if (!v)
                w->in_main = 1;
            else {
                const char *at = apr_psprintf(p, "%s:%d", v->filename, v->line_num);
                w->vhosts = w->nvhosts++ ? apr_pstrcat(p, w->vhosts, ", ", at, NULL) : at;
            }
        }
    }
    for (i = 0; i < order->nelts; i++) {
        const char *msg = APR_ARRAY_IDX(order, i, const char *);
        where_bad_t *w = apr_hash_get(bad_in, msg, APR_HASH_KEY_STRING);
        if (w->in_main && w->nvhosts == nvhosts)
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%s: %s:%d: %s", w->msgno, d->filename,
                         d->line_num, msg);
        else if (w->nvhosts)
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%s: %s:%d: %s (in the <VirtualHost> "
                         "at %s%s)", w->msgno, d->filename, d->line_num, msg, w->vhosts,
                         w->in_main ? ", and in the main server" : "");
        else {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AGW_M_MAIN_INCOMPLETE ": %s:%d: in the main "
                         "server only (every <VirtualHost> is complete): %s; a request that "
                         "no <VirtualHost> answers gets 500 here", d->filename, d->line_num,
                         msg);
            continue;
        }
        bad++;
    }
    return bad + check_once(p, s, d);
}

static int check_tree(apr_pool_t *p, server_rec *s, const ap_directive_t *d)
{
    int bad = 0;

    for (; d; d = d->next) {
        if (d->first_child)
            bad += check_tree(p, s, d->first_child);
        bad += check_node(p, s, d);
    }
    return bad;
}

int gw_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    int bad = check_tree(ptemp, s, ap_conftree) + gw_clients_check(pconf, s)
              + gw_cache_check(s);

    if (bad) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     AGW_M_CONFIG_SUMMARY ": %d configuration error%s above; httpd not started", bad,
                     bad > 1 ? "s" : "");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
