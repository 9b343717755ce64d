/* AuthType Auth0: finds the token, verifies it against the cached keys, checks claims, and hands claims to the backend. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_thread_proc.h>
#include <apr_atomic.h>
#include <stdlib.h>
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <mod_auth.h>
#include <util_cookies.h>
#include <mod_ssl.h>

#include "mod_auth0gw.h"
#include "agw_jws.h"
#include "agw_json.h"
#include "agw_http.h"
#include "agw_tcache.h"
#include "agw_util.h"
#include "agw_dpop.h"
#include "agw_nonce.h"

APLOG_USE_MODULE(auth0gw);

#define NOTE_CHALLENGE "auth0gw-challenge"

/* The process's key store and its refresh thread, made in child_init. */
static agw_keystore_t *keystore;

/* The request whose thread is in the key store, if any: the store's log lines (a fetch it
 * caused) go to that request's virtual host; a scheduled refresh logs to the main server. */
static __thread request_rec *keys_for;

static agw_claim_path_t *default_user_claim;
static agw_tcache_t *tcache;        /* verified tokens of this process; NULL when off */
static agw_tcache_t *ncache;        /* tokens whose signature failed, per key set version */
static agw_pkcache_t *proofkeys;    /* DPoP proof keys imported by this process */
#define NEGATIVE_TTL 600
#define FRONT_PER_THREAD 128     /* front-cache entries per worker thread beside the host's table */

agw_req_t *gw_req_get(request_rec *r)
{
    return ap_get_module_config(r->request_config, &auth0gw_module);
}

static apr_int64_t now_sec(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

/* A value from the token for a log line: bounded, printable ASCII only. */
static const char *loggable(apr_pool_t *p, const char *s)
{
    return s ? agw_text_log(p, s, 96, AGW_TEXT_WORD) : "-";
}

/* A quoted-string for WWW-Authenticate: no quotes, backslashes or controls inside. */
static const char *quotable(apr_pool_t *p, const char *s)
{
    return agw_text_quoted(p, s);
}

static const char *realm_of(request_rec *r)
{
    const char *name = ap_auth_name(r);
    return quotable(r->pool, name ? name : "api");
}

static const char *challenge_scheme(request_rec *r);

static void set_challenge(request_rec *r, const char *error, const char *desc)
{
    const char *v = apr_psprintf(r->pool, "%s realm=\"%s\"", challenge_scheme(r), realm_of(r));

    if (error)
        v = apr_psprintf(r->pool, "%s, error=\"%s\"", v, error);
    if (desc)
        v = apr_psprintf(r->pool, "%s, error_description=\"%s\"", v, quotable(r->pool, desc));
    apr_table_setn(r->err_headers_out, (PROXYREQ_PROXY == r->proxyreq)
                                           ? "Proxy-Authenticate" : "WWW-Authenticate", v);
}

/* ---- finding the token --------------------------------------------------------------------- */

/* How the request presented its token (RFC 9449: Authorization scheme DPoP or Bearer), kept
 * with the request's pool, not in r->notes (a log format could print notes). */
#define SENDER_KEY "auth0gw-sender"
typedef struct sender_t {
    int dpop;                   /* the DPoP scheme was used */
    int dpop_challenge;         /* a refusal answers with the DPoP challenge */
    const char *token;          /* the Authorization header's token (for the proof's ath) */
} sender_t;

static sender_t *sender_of(request_rec *r)
{
    void *v = NULL;
    sender_t *snd;

    apr_pool_userdata_get(&v, SENDER_KEY, r->pool);
    if (v)
        return v;
    snd = apr_pcalloc(r->pool, sizeof(*snd));
    apr_pool_userdata_setn(snd, SENDER_KEY, NULL, r->pool);
    return snd;
}

static agw_dpop_mode_e dpop_mode(request_rec *r)
{
    return gw_conf_dpop(ap_get_module_config(r->per_dir_config, &auth0gw_module));
}

/* The length of the Authorization scheme we take ("Bearer", or "DPoP" unless Auth0DPoP off),
 * 0 for another; notes which one it was. */
static apr_size_t auth_scheme(request_rec *r, const char *v)
{
    if (!strncasecmp(v, "Bearer", 6) && (v[6] == ' ' || v[6] == '\t')) {
        sender_of(r)->dpop = 0;
        return 6;
    }
    if (!strncasecmp(v, "DPoP", 4) && (v[4] == ' ' || v[4] == '\t')
        && dpop_mode(r) != AGW_DPOP_OFF) {
        sender_of(r)->dpop = 1;
        return 4;
    }
    return 0;
}

static const char *from_authorization(request_rec *r, const char *value, int *malformed)
{
    const char *v = value;

    apr_size_t n;

    while (*v == ' ' || *v == '\t')
        v++;
    if (!(n = auth_scheme(r, v)))
        return NULL;            /* another scheme: not ours, as if absent */
    v += n;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!*v || strpbrk(v, " \t,")) {
        *malformed = 1;
        return NULL;
    }
    sender_of(r)->token = v;
    return v;
}

static const char *from_query(request_rec *r, const char *name)
{
    const char *args = r->args;
    apr_size_t nlen = strlen(name);

    while (args && *args) {
        const char *amp = strchr(args, '&');
        apr_size_t len = amp ? (apr_size_t)(amp - args) : strlen(args);
        if (len > nlen && strncmp(args, name, nlen) == 0 && args[nlen] == '=') {
            char *v = apr_pstrndup(r->pool, args + nlen + 1, len - nlen - 1);
            if (ap_unescape_urlencoded(v) != OK)
                return NULL;
            return v;
        }
        args = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static const agw_token_src_t default_source = { AGW_SRC_HEADER, "Authorization", 1 };

/* The token from the first source that has one; *malformed when a source had junk. */
static const char *find_token(request_rec *r, const agw_dir_conf_t *c, int *malformed)
{
    int i, n = c->sources ? c->sources->nelts : 1;

    *malformed = 0;
    for (i = 0; i < n; i++) {
        const agw_token_src_t *src = c->sources
                                         ? &APR_ARRAY_IDX(c->sources, i, agw_token_src_t)
                                         : &default_source;
        const char *v = NULL;
        switch (src->kind) {
        case AGW_SRC_HEADER:
            v = apr_table_get(r->headers_in, src->name);
            if (v && (src->bearer || !strncasecmp(v, "Bearer ", 7)
                      || (!strncasecmp(v, "DPoP ", 5) && dpop_mode(r) != AGW_DPOP_OFF)))
                v = from_authorization(r, v, malformed);
            break;
        case AGW_SRC_COOKIE:
            if (ap_cookie_read(r, src->name, &v, 0) != APR_SUCCESS)
                v = NULL;
            break;
        case AGW_SRC_QUERY:
            v = from_query(r, src->name);
            break;
        }
        if (v && *v)
            return v;
        if (*malformed)
            return NULL;
    }
    return NULL;
}

/* ---- claims to the backend ------------------------------------------------------------------- */

/* A claim's text safe for a header or variable: control bytes become spaces, length bounded. */
static const char *claim_value(apr_pool_t *p, const json_t *v)
{
    char *s = agw_json_text(p, v);

    return s ? agw_text_header(p, s, 4096) : NULL;
}

static void copy_claims(request_rec *r, const agw_dir_conf_t *c, json_t *claims)
{
    int i;

    for (i = 0; c->claim_headers && i < c->claim_headers->nelts; i++) {
        agw_claim_copy_t *cc = &APR_ARRAY_IDX(c->claim_headers, i, agw_claim_copy_t);
        const json_t *v = agw_claim_path_get(cc->path, claims);
        const char *s = v ? claim_value(r->pool, v) : NULL;
        if (s)
            apr_table_setn(r->headers_in, cc->name, s);
    }
    for (i = 0; c->claim_envs && i < c->claim_envs->nelts; i++) {
        agw_claim_copy_t *cc = &APR_ARRAY_IDX(c->claim_envs, i, agw_claim_copy_t);
        const json_t *v = agw_claim_path_get(cc->path, claims);
        const char *s = v ? claim_value(r->pool, v) : NULL;
        if (s)
            apr_table_setn(r->subprocess_env, cc->name, s);
    }
}

static const char *remote_user(request_rec *r, const agw_dir_conf_t *c, json_t *claims)
{
    const json_t *v = agw_claim_path_get(c->user_claim ? c->user_claim : default_user_claim,
                                         claims);
    const char *s;

    if (!v || json_is_null(v) || json_is_object(v) || json_is_array(v))
        v = json_object_get(claims, "azp");
    if (!v || !json_is_string(v))
        v = json_object_get(claims, "client_id");
    s = (v && !json_is_object(v) && !json_is_array(v)) ? claim_value(r->pool, v) : NULL;
    return (s && *s) ? s : "-";
}

/* ---- anti-spoofing --------------------------------------------------------------------------- */

/* Header names equal once case is folded and '_' read as '-' (how CGI and PHP see them). */
static int same_header(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a == '_') ? '-' : apr_tolower(*a);
        char y = (*b == '_') ? '-' : apr_tolower(*b);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* Removes from r->headers_in every header that c's Auth0ClaimHeader lines name, except those
 * that keep (a configuration already stripped for) names too. */
static void strip_named(request_rec *r, const agw_dir_conf_t *c, const agw_dir_conf_t *keep)
{
    const apr_array_header_t *h;
    const apr_table_entry_t *e;
    apr_array_header_t *doomed;
    int i, j, k;

    if (!c || !c->claim_headers || !c->claim_headers->nelts)
        return;
    h = apr_table_elts(r->headers_in);
    e = (const apr_table_entry_t *)h->elts;
    doomed = apr_array_make(r->pool, 2, sizeof(const char *));
    for (i = 0; i < h->nelts; i++) {
        if (!e[i].key)
            continue;
        for (j = 0; j < c->claim_headers->nelts; j++)
            if (same_header(e[i].key, APR_ARRAY_IDX(c->claim_headers, j,
                                                    agw_claim_copy_t).name)) {
                /* a header the earlier configuration named was stripped then, and what
                 * it holds now was set from a verified token */
                for (k = 0; keep && keep->claim_headers && k < keep->claim_headers->nelts; k++)
                    if (same_header(e[i].key, APR_ARRAY_IDX(keep->claim_headers, k,
                                                            agw_claim_copy_t).name))
                        break;
                if (!keep || !keep->claim_headers || k == keep->claim_headers->nelts)
                    APR_ARRAY_PUSH(doomed, const char *) = e[i].key;
                break;
            }
    }
    for (i = 0; i < doomed->nelts; i++) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      AGW_M_HEADER_REMOVED ": removed incoming header %s: it is set only from token claims",
                      loggable(r->pool, APR_ARRAY_IDX(doomed, i, const char *)));
        apr_table_unset(r->headers_in, APR_ARRAY_IDX(doomed, i, const char *));
    }
}

/* The per-dir configuration r's headers were stripped for, kept on r's pool under a key
 * that names r: an internal redirect shares its pool with the request it came from, and a
 * fast redirect overlays the subrequest's notes onto r's. */
static const char *stripped_key(request_rec *r)
{
    return apr_psprintf(r->pool, "auth0gw-stripped-%pp", (void *)r);
}

/* The configuration r's headers were last stripped for, or NULL. */
static const agw_dir_conf_t *stripped_for(request_rec *r)
{
    void *was = NULL;

    apr_pool_userdata_get(&was, stripped_key(r), r->pool);
    return was ? ap_get_module_config((ap_conf_vector_t *)was, &auth0gw_module) : NULL;
}

int gw_strip_claim_headers(request_rec *r)
{
    const agw_dir_conf_t *c = ap_get_module_config(r->per_dir_config, &auth0gw_module);
    /* a subrequest's headers are a copy of its parent's, an internal redirect's are those of
     * the request it came from: what those had stripped holds token values only */
    request_rec *from = r->main ? r->main : r->prev;

    strip_named(r, c, from ? stripped_for(from) : NULL);
    apr_pool_userdata_setn(r->per_dir_config, stripped_key(r), NULL, r->pool);
    return DECLINED;
}

/* DirectoryIndex, FallbackResource and MultiViews end in ap_internal_fast_redirect: r takes
 * the subrequest's per-dir configuration but keeps its own headers_in (the subrequest
 * stripped only its copy). Just before the handler, strip for the configuration r ends
 * with, if it is not the one stripped for. */
void gw_strip_final(request_rec *r)
{
    void *was = NULL;
    const agw_dir_conf_t *c = ap_get_module_config(r->per_dir_config, &auth0gw_module);

    if (!c || !c->claim_headers || !c->claim_headers->nelts)
        return;
    apr_pool_userdata_get(&was, stripped_key(r), r->pool);
    if (was == (void *)r->per_dir_config)
        return;
    strip_named(r, c, stripped_for(r));
    apr_pool_userdata_setn(r->per_dir_config, stripped_key(r), NULL, r->pool);
}

/* ---- the authentication itself ------------------------------------------------------------------ */

static agw_mode_e mode_of(request_rec *r)
{
    return gw_conf_mode(ap_get_module_config(r->per_dir_config, &auth0gw_module));
}

/* The token check's outcome: AUTH0GW_RESULT and AUTH0GW_REASON (a refusal code, the log's
 * refusal=) for CGI, logs and expressions, and the note that says the check has run. */
static void set_result(request_rec *r, const char *result, const char *reason)
{
    apr_table_setn(r->subprocess_env, "AUTH0GW_RESULT", result);
    if (reason)
        apr_table_setn(r->subprocess_env, "AUTH0GW_REASON", reason);
    else
        apr_table_unset(r->subprocess_env, "AUTH0GW_REASON");
    apr_table_setn(r->notes, AGW_NOTE_OUTCOME, result);
}

static int reject(request_rec *r, const char *fp, const json_t *claims, const agw_err_t *err)
{
    const char *reason = err->reason ? err->reason : "invalid token";
    const char *iss = NULL, *sub = NULL;
    agw_counter_e kind = gw_refusal_counter(err->kind);

    if (claims) {
        iss = agw_json_str(claims, "iss");
        sub = agw_json_str(claims, "sub");
    }
    set_result(r, "invalid", gw_counter_name(kind));
    if (mode_of(r) == AGW_MODE_REPORT) {
        gw_count(AGW_COUNT_REPORT_INVALID);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      AGW_M_REPORT_ONLY ": report-only: token would be rejected: %s (fp=%s, iss=%s, "
                      "sub=%s, refusal=%s); the request goes on", reason, fp,
                      loggable(r->pool, iss), loggable(r->pool, sub), gw_counter_name(kind));
        return OK;
    }
    gw_count(kind);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AGW_M_TOKEN_REJECTED ": token rejected: %s (fp=%s, iss=%s, sub=%s, refusal=%s)", reason, fp,
                  loggable(r->pool, iss), loggable(r->pool, sub), gw_counter_name(kind));
    set_challenge(r, err->code ? err->code : AGW_E_INVALID_TOKEN, reason);
    return HTTP_UNAUTHORIZED;
}

/* A token refused before its signature was trusted: its payload is parsed only for the log
 * line's iss/sub, and only when that line is written. */
static int reject_unverified(request_rec *r, const char *fp, agw_jws_t *jws,
                             const agw_err_t *err)
{
    agw_err_t ignored = { NULL, NULL, AGW_R_NONE };

    if (APLOG_R_IS_LEVEL(r, APLOG_INFO))
        agw_jws_claims(jws, r->pool, &ignored);
    return reject(r, fp, jws->payload, err);
}

static int unavailable(request_rec *r, const char *what, apr_int64_t retry_after,
                       const agw_err_t *err)
{
    gw_count(AGW_COUNT_NO_KEYS);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AGW_M_NO_KEYS ": no usable keys for %s: %s", what,
                  err->reason ? err->reason : "unknown error");
    set_result(r, "invalid", gw_counter_name(AGW_COUNT_NO_KEYS));
    if (mode_of(r) == AGW_MODE_REPORT) {
        gw_count(AGW_COUNT_REPORT_INVALID);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AGW_M_REPORT_ONLY ": report-only: the token "
                      "could not be checked (no usable keys); the request goes on");
        return OK;
    }
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, retry_after > 0 ? retry_after : 1));
    return HTTP_SERVICE_UNAVAILABLE;
}

static int is_hs(agw_alg_e alg)
{
    return alg == AGW_ALG_HS256 || alg == AGW_ALG_HS384 || alg == AGW_ALG_HS512;
}

static const agw_alg_set_t hs_algs = AGW_ALG_BIT(AGW_ALG_HS256) | AGW_ALG_BIT(AGW_ALG_HS384)
                                     | AGW_ALG_BIT(AGW_ALG_HS512);

static void keys_spec(agw_keys_spec_t *spec, const agw_dir_conf_t *c)
{
    memset(spec, 0, sizeof(*spec));
    spec->jwks = gw_conf_jwks(c);
    spec->issuer = gw_conf_issuer(c);
    spec->refresh = gw_conf_get(c->refresh, AGW_DEFAULT_REFRESH);
    spec->cooldown = gw_conf_get(c->cooldown, AGW_DEFAULT_COOLDOWN);
    spec->fetch_wait = gw_conf_get(c->fetch_wait, AGW_DEFAULT_FETCH_WAIT);
    spec->max_stale = gw_conf_get(c->max_stale, AGW_DEFAULT_MAX_STALE);
    spec->http.ca_file = c->ca_file;
    spec->http.allow_http = c->insecure_http == 1;
}

/* The JWKS a request's location uses, with its keys held for the request. */
typedef struct keys_t {
    agw_keysrc_t *src;
    agw_keys_ref_t *ref;
    const char *name;
} keys_t;

/* What a section's key source resolved to: written once per process, then only read. The
 * spec's strings are copies in the same malloc'd block: the configuration's may live in a
 * request pool that is gone by the next request. */
typedef struct src_memo_t {
    agw_keys_spec_t spec;
    agw_keysrc_t *src;
} src_memo_t;

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int same_spec(const agw_keys_spec_t *a, const agw_keys_spec_t *b)
{
    /* by value: equal addresses say nothing once a request pool has been reused */
    return same_str(a->jwks, b->jwks) && same_str(a->issuer, b->issuer)
           && a->refresh == b->refresh && a->cooldown == b->cooldown
           && a->fetch_wait == b->fetch_wait
           && a->max_stale == b->max_stale && same_str(a->http.ca_file, b->http.ca_file)
           && a->http.allow_http == b->http.allow_http
           && a->http.connect_timeout_ms == b->http.connect_timeout_ms
           && a->http.timeout_ms == b->http.timeout_ms && a->http.max_body == b->http.max_body;
}

static agw_keysrc_t *memo_get(const agw_dir_conf_t *c, const agw_keys_spec_t *spec)
{
    const src_memo_t *m;

    /* a configuration with .htaccess in it has no memo (config.c); checked here as well */
    if (c->htaccess || !c->src_memo)
        return NULL;
    m = apr_atomic_casptr(c->src_memo, NULL, NULL);
    return m && same_spec(&m->spec, spec) ? m->src : NULL;
}

/* Appends s to the block at *at; returns the copy (NULL stays NULL). */
static const char *memo_str(char **at, const char *s)
{
    char *copy = *at;
    apr_size_t n;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    memcpy(copy, s, n);
    *at += n;
    return copy;
}

static void memo_set(const agw_dir_conf_t *c, const agw_keys_spec_t *spec, agw_keysrc_t *src)
{
    src_memo_t *m;
    char *at;
    apr_size_t len = sizeof(*m);

    if (c->htaccess || !c->src_memo || *c->src_memo)
        return;
    len += spec->jwks ? strlen(spec->jwks) + 1 : 0;
    len += spec->issuer ? strlen(spec->issuer) + 1 : 0;
    len += spec->http.ca_file ? strlen(spec->http.ca_file) + 1 : 0;
    if (!(m = malloc(len)))
        return;
    m->spec = *spec;
    at = (char *)(m + 1);
    m->spec.jwks = memo_str(&at, spec->jwks);
    m->spec.issuer = memo_str(&at, spec->issuer);
    m->spec.http.ca_file = memo_str(&at, spec->http.ca_file);
    m->src = src;
    /* the first writer wins; a section merged under other parents just looks up each time */
    if (apr_atomic_casptr(c->src_memo, m, NULL) != NULL)
        free(m);
}

/* The keys of one source: the section's own (memo: it is remembered for the section), or
 * one issuer's of a section with several (no memo). */
static int get_keys_of(request_rec *r, const agw_dir_conf_t *c, const agw_keys_spec_t *sp,
                       int memo, keys_t *k, apr_int64_t now)
{
    agw_keys_spec_t spec = *sp;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry = 0;
    apr_status_t rv;

    k->name = spec.jwks ? spec.jwks : spec.issuer;
    k->ref = apr_pcalloc(r->pool, sizeof(*k->ref));
    if (!memo || !(k->src = memo_get(c, &spec))) {
        if (!keystore || agw_keystore_source(&k->src, keystore, &spec) != APR_SUCCESS) {
            agw_err_set(&err, NULL, "too many distinct key sources in this process");
            return unavailable(r, k->name, 60, &err);
        }
        if (memo)
            memo_set(c, &spec, k->src);
    }
    keys_for = r;
    rv = agw_keysrc_get(k->ref, k->src, r->pool, now, &retry, &err);
    keys_for = NULL;
    if (rv != APR_SUCCESS)
        return unavailable(r, k->name, retry, &err);
    return OK;
}

static int get_keys(request_rec *r, const agw_dir_conf_t *c, keys_t *k, apr_int64_t now)
{
    agw_keys_spec_t spec;

    keys_spec(&spec, c);
    return get_keys_of(r, c, &spec, 1, k, now);
}

/* Whether the set still holds the very key (by thumbprint, not by kid: an issuer may reuse
 * a kid for new key material) that verified a cached token, under the same kid. */
static const agw_jwk_t *find_key(const agw_jwks_t *jwks, const unsigned char thumbprint[32],
                                 const char *kid, agw_alg_e alg)
{
    int i;

    for (i = 0; i < jwks->keys->nelts; i++) {
        const agw_jwk_t *j = APR_ARRAY_IDX(jwks->keys, i, agw_jwk_t *);
        if (memcmp(j->thumbprint, thumbprint, 32) == 0
            && (*kid ? (j->kid && !strcmp(j->kid, kid)) : !j->kid)
            && j->kty == agw_alg_kty(alg) && (j->alg == AGW_ALG_NONE || j->alg == alg))
            return j;
    }
    return NULL;
}

/* The claims are the token's and its signature is good: check them and let the request in. */
/* ---- sender-constrained tokens: DPoP (RFC 9449) and certificate-bound (RFC 8705) ---------- */

/* Bearer, or DPoP with its algorithms when the request used DPoP, the refusal is about DPoP,
 * or the location takes nothing else (RFC 9449 section 7.1). */
static const char *challenge_scheme(request_rec *r)
{
    void *v = NULL;
    const sender_t *snd;

    apr_pool_userdata_get(&v, SENDER_KEY, r->pool);
    snd = v;
    if ((snd && (snd->dpop || snd->dpop_challenge)) || dpop_mode(r) == AGW_DPOP_REQUIRED)
        return apr_psprintf(r->pool, "DPoP algs=\"%s\",", agw_dpop_alg_names(r->pool));
    return "Bearer";
}

static apr_status_t dpop_refused(agw_err_t *err, const char *reason)
{
    apr_status_t rv = agw_err_refuse(err, AGW_R_DPOP, reason);
    err->code = AGW_E_INVALID_DPOP_PROOF;
    return rv;
}

static int count_header(void *rec, const char *key, const char *value)
{
    (*(int *)rec)++;
    return 1;
}

/* The request's one DPoP header; NULL when there is none, several, or a list in one. */
static const char *dpop_header(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "DPoP");
    int n = 0;

    apr_table_do(count_header, &n, r->headers_in, "DPoP", NULL);
    return n == 1 && v && *v && !strpbrk(v, " \t,") ? v : NULL;
}

/* The URL the client addressed, without query: scheme, host and port as httpd knows them
 * (ServerName, UseCanonicalName), the path as sent on the request line (not r->uri, which
 * is decoded and changes with internal redirects). */
static const char *request_url(request_rec *r, const request_rec *first)
{
    const char *path = first->parsed_uri.path;

    return ap_construct_url(r->pool, path && *path ? path : "/", r);
}

/* The request the client sent, before internal redirects and subrequests. */
static const request_rec *initial_request(const request_rec *r)
{
    while (r->prev || r->main)
        r = r->prev ? r->prev : r->main;
    return r;
}

/* ---- server-provided DPoP nonces (Auth0DPoPNonce, RFC 9449 sections 8 and 9) ---------------- */

/* The current nonce in one DPoP-Nonce header of the client's request, whatever the answer:
 * err_headers_out outlives an error, an internal redirect and a proxied response's headers. */
static void dpop_nonce_offer(request_rec *r, apr_int64_t now)
{
    request_rec *top = r;
    const char *nonce;

    while (top->main)
        top = top->main;
    if ((nonce = agw_nonce_make(top->pool, gw_cache_dpop_nonces(), now)))
        apr_table_setn(top->err_headers_out, "DPoP-Nonce", nonce);
}

/* With Auth0DPoPNonce On, a verified proof must carry a nonce issued here (by any process of
 * the host, or any host sharing Auth0CacheSecret) within the last two slots; otherwise 401
 * use_dpop_nonce, and the client retries with the DPoP-Nonce it got. DECLINED when it holds. */
static int dpop_nonce_check(request_rec *r, const agw_dir_conf_t *c, const agw_dpop_t *proof,
                            json_t *claims, const char *fp, apr_int64_t now)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (!gw_conf_dpop_nonce(c))
        return DECLINED;
    dpop_nonce_offer(r, now);
    if (agw_nonce_check(gw_cache_dpop_nonces(), r->pool, proof->nonce, now,
                        gw_conf_get(c->leeway, AGW_DEFAULT_LEEWAY), &err) == APR_SUCCESS)
        return DECLINED;
    return reject(r, fp, claims, &err);
}

/* The DPoP header verified against the request, the token and (Auth0DPoPNonce On) the nonces
 * issued here: DECLINED when it holds, else the refusal's answer. */
static int dpop_proof(request_rec *r, const agw_dir_conf_t *c, const sender_t *snd,
                      json_t *claims, const char *fp, apr_int64_t now, agw_dpop_t **proof)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *hdr = dpop_header(r);
    const request_rec *first = initial_request(r);
    agw_dpop_req_t req;

    if (!hdr) {
        dpop_refused(&err, "DPoP scheme without exactly one DPoP header");
        return reject(r, fp, claims, &err);
    }
    req.method = first->method;
    req.url = request_url(r, first);
    req.token = snd->token;
    req.token_len = strlen(snd->token);
    req.now = now;
    req.window = AGW_DPOP_WINDOW;
    req.leeway = gw_conf_get(c->leeway, AGW_DEFAULT_LEEWAY);
    req.keys = proofkeys;
    if (agw_dpop_verify(proof, r->pool, hdr, strlen(hdr), &req, &err) != APR_SUCCESS)
        return reject(r, fp, claims, &err);
    return dpop_nonce_check(r, c, *proof, claims, fp, now);
}

/* A proof's jti, remembered in the shared cache until the proof would be too old anyway:
 * seen there already is a replay. A cache that fails lets the proof on (logged by cache.c):
 * it is fresh and verified, the cache only adds the once-only rule. The request that brought
 * the proof may check it again (an internal redirect or subrequest to a location of another
 * configuration): the client's request remembers the proof it used, and that is no replay. */
#define DPOP_USED_KEY "auth0gw-dpop-used"
static int dpop_fresh(request_rec *r, const agw_dpop_t *proof, json_t *claims, const char *fp)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *key = agw_dpop_replay_key(r->pool, proof);
    apr_pool_t *first = initial_request(r)->pool;
    void *used = NULL;

    if (key && apr_pool_userdata_get(&used, DPOP_USED_KEY, first) == APR_SUCCESS && used
        && !strcmp(used, key))
        return DECLINED;
    if (!key)
        dpop_refused(&err, "DPoP proof cannot be checked (hash failed)");
    else if (gw_cache_add(key, proof->replay_until, r->pool, r->server) == APR_EEXIST)
        dpop_refused(&err, "DPoP proof replayed");
    else {
        apr_pool_userdata_setn(apr_pstrdup(first, key), DPOP_USED_KEY, NULL, first);
        return DECLINED;
    }
    return reject(r, fp, claims, &err);
}

/* The client certificate of the TLS connection in PEM, from mod_ssl; NULL without one. */
static const char *client_cert(request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(ssl_var_lookup) *lookup = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);
    const char *pem = NULL;

    if (lookup)
        pem = lookup(r->pool, r->server, r->connection, r, (char *)"SSL_CLIENT_CERT");
    return pem && *pem ? pem : NULL;
}

/* What the token's cnf binds it to, proved by the request (a DPoP proof of that key, the
 * TLS client certificate), and Auth0DPoP's rule on schemes. DECLINED when it all holds,
 * else the refusal's answer (OK in report-only). */
static int sender_check(request_rec *r, const agw_dir_conf_t *c, json_t *claims,
                        const char *fp, apr_int64_t now)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    sender_t *snd = sender_of(r);
    agw_dpop_mode_e mode = gw_conf_dpop(c);
    agw_dpop_t *proof = NULL;
    agw_cnf_t cnf;
    int status;

    if (agw_cnf_read(&cnf, claims, &err) != APR_SUCCESS)
        return reject(r, fp, claims, &err);
    if (snd->dpop && (status = dpop_proof(r, c, snd, claims, fp, now, &proof)) != DECLINED)
        return status;
    if (!snd->dpop && (cnf.jkt || mode == AGW_DPOP_REQUIRED)) {
        snd->dpop_challenge = mode != AGW_DPOP_OFF;
        if (cnf.jkt)
            agw_err_refuse(&err, AGW_R_BINDING, "DPoP-bound token sent without DPoP");
        else
            agw_err_refuse(&err, AGW_R_DPOP, "Bearer token refused (Auth0DPoP required)");
        return reject(r, fp, claims, &err);
    }
    if (proof && !cnf.jkt && mode == AGW_DPOP_REQUIRED)
        agw_err_refuse(&err, AGW_R_BINDING, "token is not DPoP-bound (Auth0DPoP required)");
    else if (cnf.jkt)
        agw_cnf_jkt_check(cnf.jkt, proof, &err);
    if (!err.reason && cnf.x5t_s256)
        agw_cnf_x5t_check(cnf.x5t_s256, client_cert(r), r->pool, &err);
    if (err.reason)
        return reject(r, fp, claims, &err);
    if (proof && (status = dpop_fresh(r, proof, claims, fp)) != DECLINED)
        return status;
    if (proof || cnf.x5t_s256)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AGW_M_SENDER_PROVED ": sender constraint "
                      "proved (fp=%s, dpop=%s, jkt bound=%s, certificate bound=%s)", fp,
                      proof ? agw_alg_name(proof->alg) : "no", cnf.jkt ? "yes" : "no",
                      cnf.x5t_s256 ? "yes" : "no");
    return DECLINED;
}

static int accept_claims(request_rec *r, const agw_dir_conf_t *c, const char *issuer,
                         json_t *claims, const char *fp, const char *kid, agw_alg_e alg,
                         apr_int64_t now, int cached)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_req_t *st;

    int status;

    if (agw_jwt_check_claims(claims, issuer, c->audiences, now,
                             gw_conf_get(c->leeway, AGW_DEFAULT_LEEWAY), &err) != APR_SUCCESS)
        return reject(r, fp, claims, &err);
    if ((status = sender_check(r, c, claims, fp, now)) != DECLINED)
        return status;
    st = apr_pcalloc(r->pool, sizeof(*st));
    st->claims = claims;
    st->fingerprint = fp;
    st->conf = c;
    ap_set_module_config(r->request_config, &auth0gw_module, st);
    set_result(r, "valid", NULL);
    r->user = (char *)remote_user(r, c, claims);
    r->ap_auth_type = (char *)AGW_AUTH_TYPE;
    copy_claims(r, c, claims);
    gw_count(AGW_COUNT_ACCEPTED);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AGW_M_TOKEN_ACCEPTED ": token accepted%s (fp=%s, kid=%s, "
                  "alg=%s, user=%s)", cached ? " from the verified-token cache" : "", fp,
                  loggable(r->pool, kid && *kid ? kid : NULL), agw_alg_name(alg),
                  loggable(r->pool, r->user));
    return OK;
}

/* A look-up in the process's verified-token cache. The host's counters count a hit when a
 * token is served from a cache (this one or the host's table), a miss when its signature is
 * verified. */
static int tcache_get(const unsigned char *digest, const unsigned char *source, apr_int64_t now,
                      apr_int64_t leeway, apr_pool_t *p, agw_tcache_hit_t *hit)
{
    return agw_tcache_get(tcache, digest, source, now, leeway, p, hit);
}

/* A hit of the front cache: counted and let through the claim checks. */
static int serve_cached(request_rec *r, const agw_dir_conf_t *c, agw_tcache_hit_t *hit,
                        const char *fp, apr_int64_t now)
{
    gw_metrics_token_cache(1);
    return accept_claims(r, c, gw_conf_issuer(c), hit->claims, fp, hit->kid, hit->alg, now, 1);
}

/* A token verified before against the same key source: only its signature check is
 * skipped. Returns DECLINED on a miss (the full path runs), else the request's answer. */
static int from_token_cache(request_rec *r, const agw_dir_conf_t *c, agw_alg_set_t algs,
                            const unsigned char *digest, const char *fp, apr_int64_t now)
{
    agw_tcache_hit_t hit;
    apr_int64_t leeway = gw_conf_get(c->leeway, AGW_DEFAULT_LEEWAY);
    agw_keys_spec_t spec;
    agw_keysrc_t *src;
    unsigned long version;
    keys_t k;
    int status, held = 0;

    if (!tcache)
        return DECLINED;
    if ((algs & hs_algs) && c->hmac
        && tcache_get(digest, c->hmac_id, now, leeway, r->pool, &hit)) {
        if (!(algs & AGW_ALG_BIT(hit.alg)))
            return DECLINED;
        return serve_cached(r, c, &hit, fp, now);
    }
    if (!(algs & ~hs_algs))
        return DECLINED;
    /* the hot path takes no lock of the key store: the section knows its source, and the
     * source's version says whether the key set changed since the token was verified */
    keys_spec(&spec, c);
    src = memo_get(c, &spec);
    version = src ? agw_keysrc_peek(src, now) : 0;
    if (!version) {
        if ((status = get_keys(r, c, &k, now)) != OK)
            return status;
        src = k.src;
        version = k.ref->version;
        held = 1;
    }
    if (!tcache_get(digest, agw_keysrc_id(src), now, leeway, r->pool, &hit)) {
        /* a bad signature stays bad while the key set is the same: no second verify */
        if (agw_tcache_get(ncache, digest, agw_keysrc_id(src), now, 0, r->pool, &hit)) {
            agw_err_t err = { NULL, NULL, AGW_R_NONE };
            if (hit.version == version) {
                agw_err_refuse(&err, AGW_R_SIGNATURE, "signature invalid");
                return reject(r, fp, hit.claims, &err);
            }
            agw_tcache_drop(ncache, digest);
        }
        return DECLINED;
    }
    if (!(algs & AGW_ALG_BIT(hit.alg)))
        return DECLINED;
    if (hit.version != version) {
        /* the set changed since: the token stays trusted only while its key is still there */
        if (!held && (status = get_keys(r, c, &k, now)) != OK)
            return status;
        if (hit.version != k.ref->version) {
            if (!find_key(k.ref->jwks, hit.key, hit.kid, hit.alg)) {
                agw_tcache_drop(tcache, digest);
                return DECLINED;
            }
            agw_tcache_touch_version(tcache, digest, k.ref->version);
        }
    }
    return serve_cached(r, c, &hit, fp, now);
}

/* A location with several issuers: the issuer named by the token's iss, read before the
 * signature only to choose the key source (*jwks; NULL: discovery), and checked again after
 * it. NULL, with err set and nothing fetched, for an iss the location does not trust. */
static const char *route(request_rec *r, const apr_array_header_t *trust, agw_jws_t *jws,
                         const char **jwks, agw_err_t *err)
{
    const char *iss;
    int i;

    if (agw_jws_claims(jws, r->pool, err) != APR_SUCCESS)
        return NULL;
    iss = agw_json_str(jws->payload, "iss");
    for (i = 0; iss && i < trust->nelts; i++) {
        const agw_trust_t *t = &APR_ARRAY_IDX(trust, i, agw_trust_t);
        if (!strcmp(iss, t->issuer)) {
            *jwks = t->jwks;
            return t->issuer;
        }
    }
    agw_err_refuse(err, AGW_R_ISSUER, "issuer not trusted here");
    return NULL;
}

/* A request without a token: refused, let on anonymous (optional, where no Require line asks
 * for a user) or reported (report-only). */
static int no_token(request_rec *r, agw_mode_e mode, int need_user)
{
    set_result(r, "missing", gw_counter_name(AGW_COUNT_NO_TOKEN));
    if (mode == AGW_MODE_REPORT) {
        gw_count(AGW_COUNT_REPORT_MISSING);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AGW_M_REPORT_ONLY ": report-only: no token in "
                      "request (refusal=%s); the request goes on",
                      gw_counter_name(AGW_COUNT_NO_TOKEN));
        return OK;
    }
    if (mode == AGW_MODE_OPTIONAL && !need_user) {
        gw_count(AGW_COUNT_ANONYMOUS);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      AGW_M_ANONYMOUS ": no token in request; it goes on anonymous (Auth0Mode optional)");
        return OK;
    }
    gw_count(AGW_COUNT_NO_TOKEN);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AGW_M_NO_TOKEN ": no token in request");
    set_challenge(r, NULL, NULL);
    return HTTP_UNAUTHORIZED;
}

/* Why the merged configuration cannot serve (logged, 500), or NULL. */
static int incomplete(request_rec *r, const agw_dir_conf_t *c)
{
    const char *why = gw_conf_incomplete(r->pool, c);

    if (!why)
        return OK;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AGW_M_CONF_INCOMPLETE ": %s: %s (the Auth0 directives "
                  "nearest to it: %s%s); refusing the request", loggable(r->pool, r->uri),
                  why, c->where ? c->where : "none", c->htaccess ? ", .htaccess included"
                  : "");
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* The token's SHA-256, the key of both token caches and its fingerprint's source. */
static int token_digest(request_rec *r, const char *token, apr_size_t len,
                        unsigned char digest[32])
{
    if (agw_crypt_sha256(digest, token, len) == APR_SUCCESS)
        return OK;
    /* an all-zero digest would be one cache key for every such token: refuse instead */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  AGW_M_HASH_FAILED ": cannot hash the token (libcrypto failed); refusing the request");
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* What the signature step found: its outcome, the key source and key set version it used,
 * and whether the host's table spared the verification. */
typedef struct verdict_t {
    apr_status_t rv;
    const unsigned char *source;
    unsigned long version;
    int from_host;
} verdict_t;

/* The host's table knows these exact token bytes verified by a key of this source that is
 * still in this process's set: the signature check would say the same, so it is skipped
 * (jws->key set). An entry whose key this process does not hold is left alone: another
 * process may hold a newer set, and the entry dies with its token or by eviction. */
static int host_verified(agw_jws_t *jws, const unsigned char *digest, const agw_jwks_t *jwks,
                         const unsigned char *source, const agw_dir_conf_t *c, apr_int64_t now)
{
    agw_hcache_t *hc = gw_hostcache();
    agw_hcache_hit_t hit;
    const agw_jwk_t *key;

    if (!hc || !agw_hcache_get(hc, digest, source, now,
                               gw_conf_get(c->leeway, AGW_DEFAULT_LEEWAY), &hit))
        return 0;
    /* same bytes, same header: a mismatch here would mean another token's entry */
    if (hit.alg != jws->alg || strcmp(hit.kid, jws->kid ? jws->kid : ""))
        return 0;
    if (!(key = find_key(jwks, hit.key, hit.kid, hit.alg)))
        return 0;
    jws->key = key;
    return 1;
}

/* A verified token whose claims passed, for the host's table (tokens of HMAC secrets stay
 * in the process: their key is no key set's). */
static void host_remember(const unsigned char *digest, const verdict_t *v,
                          const agw_jws_t *jws, apr_int64_t now)
{
    apr_int64_t exp;

    if (!v->from_host && !is_hs(jws->alg) && jws->key
        && agw_jwt_time(&exp, json_object_get(jws->payload, "exp")) == APR_SUCCESS)
        agw_hcache_put(gw_hostcache(), digest, v->source, jws->alg, jws->kid ? jws->kid : "",
                       jws->key->thumbprint, exp, now);
}

/* A signature checked against the keys of spec's source (or found good in the host's
 * table), refetched once for an unknown kid. OK with v->rv the verification's outcome (err
 * set), or the status when there are no keys. */
static int verify_keys(request_rec *r, const agw_dir_conf_t *c, const agw_keys_spec_t *spec,
                       int memo, agw_jws_t *jws, agw_alg_set_t algs, apr_int64_t now,
                       const unsigned char *digest, verdict_t *v, agw_err_t *err)
{
    keys_t k;
    apr_status_t *rv = &v->rv;
    int status;

    if ((status = get_keys_of(r, c, spec, memo, &k, now)) != OK)
        return status;
    v->source = agw_keysrc_id(k.src);
    v->version = k.ref->version;
    if ((v->from_host = host_verified(jws, digest, k.ref->jwks, v->source, c, now))) {
        *rv = APR_SUCCESS;
        return OK;
    }
    *rv = agw_jws_verify(jws, k.ref->jwks, algs, err);
    if (*rv == APR_NOTFOUND) {
        unsigned long seen = k.ref->version;
        apr_status_t refetched;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      AGW_M_UNKNOWN_KID ": token names kid %s, not in the cached JWKS; refetching if "
                      "the cooldown allows", loggable(r->pool, jws->kid));
        keys_for = r;
        refetched = agw_keysrc_unknown_kid(k.ref, k.src, r->pool, now, err);
        keys_for = NULL;
        if (refetched == APR_SUCCESS && k.ref->version != seen)
            *rv = agw_jws_verify(jws, k.ref->jwks, algs, err);
        if (*rv == APR_NOTFOUND)
            agw_err_refuse(err, AGW_R_UNKNOWN_KEY, "unknown key");
    }
    v->version = k.ref->version;
    return OK;
}

/* A verified token whose claims passed, for the verified-token cache. */
static void cache_verified(const unsigned char *digest, const verdict_t *v,
                           const agw_jws_t *jws, apr_size_t len)
{
    apr_int64_t exp;

    if (agw_jwt_time(&exp, json_object_get(jws->payload, "exp")) != APR_SUCCESS)
        return;
    /* the host has seen a token of its table twice already */
    (v->from_host ? agw_tcache_put_admitted : agw_tcache_put)(
        tcache, digest, v->source, jws->payload, jws->alg, jws->kid ? jws->kid : "",
        jws->key->thumbprint, v->version, exp, len);
}

/* The signature step: an HMAC secret's or a key source's (with the host's table), counted
 * as a cache miss when a signature was verified; a bad signature is remembered per key set
 * version. OK with v->rv its outcome, or the status when there are no keys. */
static int check_signature(request_rec *r, const agw_dir_conf_t *c, const agw_keys_spec_t *spec,
                           int memo, agw_jws_t *jws, agw_alg_set_t algs, apr_int64_t now,
                           const unsigned char *digest, apr_size_t len, verdict_t *v,
                           agw_err_t *err)
{
    int status;

    memset(v, 0, sizeof(*v));
    if (is_hs(jws->alg)) {
        v->rv = agw_jws_verify(jws, c->hmac_jwks, algs, err);
        v->source = c->hmac_id;
    }
    else if ((status = verify_keys(r, c, spec, memo, jws, algs, now, digest, v, err)) != OK)
        return status;
    if (tcache)
        gw_metrics_token_cache(v->from_host);
    if (ncache && v->rv == APR_EINVAL && err->kind == AGW_R_SIGNATURE && !is_hs(jws->alg))
        agw_tcache_put(ncache, digest, v->source, NULL, jws->alg, jws->kid ? jws->kid : "",
                       NULL, v->version, now + NEGATIVE_TTL, len);
    return OK;
}

/* The token check: OK with r->user set (valid), OK without (a request let on by its mode),
 * or the refusal's status. need_user: a Require line asks for a user (check_authn). */
static int check_token(request_rec *r, const agw_dir_conf_t *c, int need_user)
{
    const char *token, *fp;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_array_header_t *trust;
    agw_keys_spec_t spec;
    agw_jws_t *jws = NULL;
    agw_alg_set_t algs;
    unsigned char digest[32];
    verdict_t v;
    apr_size_t len;
    apr_int64_t now;
    int malformed, status;

    token = find_token(r, c, &malformed);
    if (!token) {
        if (malformed) {
            agw_err_refuse(&err, AGW_R_MALFORMED, "malformed Authorization header");
            return reject(r, "-", NULL, &err);
        }
        return no_token(r, gw_conf_mode(c), need_user);
    }
    len = strlen(token);
    if ((status = token_digest(r, token, len, digest)) != OK)
        return status;
    fp = agw_hex(r->pool, digest, 6);
    algs = c->algs ? c->algs : AGW_ALG_BIT(AGW_ALG_RS256);
    now = now_sec();
    /* the cache keeps no typ: a location with Auth0TokenType checks every token in full;
     * nor does a location with several issuers use it (each token's source is routed) */
    trust = gw_conf_trust(r->pool, c);
    if (len <= AGW_TOKEN_MAX_BYTES && !c->token_types && !trust
        && (status = from_token_cache(r, c, algs, digest, fp, now)) != DECLINED)
        return status;

    if (agw_jws_decode_header(&jws, r->pool, token, len, AGW_TOKEN_MAX_BYTES, &err)
        != APR_SUCCESS)
        return reject(r, fp, NULL, &err);
    if (agw_jwt_check_typ(jws->typ, c->token_types, &err) != APR_SUCCESS)
        return reject_unverified(r, fp, jws, &err);
    if (!(algs & AGW_ALG_BIT(jws->alg))) {
        agw_err_refuse(&err, AGW_R_ALG, "alg not allowed");
        return reject_unverified(r, fp, jws, &err);
    }
    keys_spec(&spec, c);
    if (trust && !(spec.issuer = route(r, trust, jws, &spec.jwks, &err)))
        return reject_unverified(r, fp, jws, &err);
    if ((status = check_signature(r, c, &spec, !trust, jws, algs, now, digest, len, &v,
                                  &err)) != OK)
        return status;
    if (v.rv != APR_SUCCESS)
        return reject_unverified(r, fp, jws, &err);
    if (agw_jws_claims(jws, r->pool, &err) != APR_SUCCESS)
        return reject(r, fp, NULL, &err);
    status = accept_claims(r, c, spec.issuer, jws->payload, fp, jws->kid, jws->alg, now, 0);
    if (status == OK)
        host_remember(digest, &v, jws, now);
    /* only tokens that pass the default typ rule are cached: every location that reads the
     * cache applies that rule (those with Auth0TokenType skip the cache) */
    if (status == OK && tcache && !c->token_types && !trust)
        cache_verified(digest, &v, jws, len);
    return status;
}

static int is_preflight(request_rec *r)
{
    return r->method_number == M_OPTIONS && apr_table_get(r->headers_in, "Origin")
           && apr_table_get(r->headers_in, "Access-Control-Request-Method");
}

static const agw_dir_conf_t *auth0_conf(request_rec *r)
{
    const char *type = ap_auth_type(r);

    if (!type || strcasecmp(type, AGW_AUTH_TYPE) != 0)
        return NULL;
    return ap_get_module_config(r->per_dir_config, &auth0gw_module);
}

/* check_authn: a Require line asks for a user. */
int gw_authenticate(request_rec *r)
{
    const agw_dir_conf_t *c = auth0_conf(r);
    const char *done;
    int status;

    if (!c)
        return DECLINED;
    if ((status = incomplete(r, c)) != OK)
        return status;
    done = apr_table_get(r->notes, AGW_NOTE_OUTCOME);
    if (done && r->user)
        return OK;
    status = check_token(r, c, 1);
    /* report-only: httpd goes on past authentication only with a user; REMOTE_USER "-" */
    if (status == OK && !r->user)
        r->user = (char *)"-";
    return status;
}

/* fixups, first: where no Require line asked for a user (Require all granted), optional and
 * report-only still check a token, before mod_rewrite, mod_headers and the handler. */
int gw_authenticate_late(request_rec *r)
{
    const agw_dir_conf_t *c = auth0_conf(r);
    int status;

    if (!c || gw_conf_mode(c) == AGW_MODE_ENFORCE || r->user
        || apr_table_get(r->notes, AGW_NOTE_OUTCOME)
        || (c->pass_preflight == 1 && is_preflight(r)))
        return DECLINED;
    if ((status = incomplete(r, c)) != OK)
        return status;
    status = check_token(r, c, 0);
    return status == OK ? DECLINED : status;
}

/* access_checker_ex, first: with Auth0PassPreflight On a CORS preflight skips the location's
 * Require lines altogether, as <LimitExcept OPTIONS> would. */
int gw_preflight(request_rec *r)
{
    const agw_dir_conf_t *c = auth0_conf(r);

    if (!c || c->pass_preflight != 1 || !is_preflight(r))
        return DECLINED;
    gw_count(AGW_COUNT_PREFLIGHT);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  AGW_M_PREFLIGHT ": CORS preflight passes without a token (Auth0PassPreflight On)");
    return OK;
}

/* authz_core calls this when it answers 401 after authn succeeded (insufficient scope with
 * AuthzSendForbiddenOnFailure Off): give that 401 the Bearer challenge. */
int gw_note_auth_failure(request_rec *r, const char *auth_type)
{
    const char *denied;

    if (strcasecmp(auth_type, AGW_AUTH_TYPE) != 0)
        return DECLINED;
    if (!apr_table_get(r->err_headers_out, "WWW-Authenticate")) {
        denied = apr_table_get(r->notes, NOTE_CHALLENGE);
        /* a valid token and still 401: a Require line that wants a user (Require expr with
         * auth0_claim() or REMOTE_USER) was not met */
        if (!denied && r->user && gw_req_get(r))
            denied = "the token does not meet the location's Require lines";
        set_challenge(r, denied ? AGW_E_INSUFFICIENT_SCOPE : NULL, denied);
    }
    return OK;
}

/* A 403 from our authz providers carries the insufficient_scope challenge; added only when
 * the error response is really sent, so a later grant (RequireAny) leaves no trace. */
void gw_insert_error_filter(request_rec *r)
{
    const char *denied;

    if (r->status != HTTP_FORBIDDEN || !(denied = apr_table_get(r->notes, NOTE_CHALLENGE))
        || apr_table_get(r->err_headers_out, "WWW-Authenticate"))
        return;
    set_challenge(r, AGW_E_INSUFFICIENT_SCOPE, denied);
}

/* ---- the per-process key store and its refresher ----------------------------------------------- */

static void log_core(void *baton, agw_log_level_e level, int msgno, const char *msg)
{
    server_rec *s = baton;
    int lvl = level == AGW_LOG_ERR ? APLOG_ERR
            : level == AGW_LOG_WARN ? APLOG_WARNING
            : level == AGW_LOG_INFO ? APLOG_INFO : APLOG_DEBUG;
    if (keys_for)
        ap_log_rerror(APLOG_MARK, lvl, 0, keys_for, "AGW%04d: %s", msgno, msg);
    else
        ap_log_error(APLOG_MARK, lvl, 0, s, "AGW%04d: %s", msgno, msg);
}

static int claim_lock(void)
{
    return gw_fetch_lock(0) == APR_SUCCESS;
}

static void claim_unlock(void)
{
    gw_fetch_unlock();
}

static void refresh_tick(void)
{
    agw_keystore_tick(keystore, now_sec());
}

static apr_status_t shared_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                               apr_pool_t *p)
{
    /* the key store reads JWK Sets and cooldown stamps, only when it would otherwise fetch */
    return gw_cache_get_max(pdata, plen, key, AGW_JWKS_MAX_BYTES + 64, p, baton);
}

static apr_status_t shared_put(void *baton, const char *key, const char *data, apr_size_t len,
                               apr_int64_t expires_at, apr_pool_t *p)
{
    return gw_cache_put(key, data, len, expires_at, p, baton);
}

static agw_shared_t shared_store = { shared_get, shared_put, NULL };

void gw_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    agw_http_init();
    /* a client signs all its proofs with one key: import it once per process, not per request */
    proofkeys = agw_pkcache_create(pchild, AGW_PKCACHE_ENTRIES);
    if ((rv = agw_keystore_create(&keystore, pchild, log_core, s)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AGW_M_NO_KEYSTORE ": cannot create the key store");
        keystore = NULL;
        return;
    }
    {
        agw_srv_conf_t *sc = ap_get_module_config(s->module_config, &auth0gw_module);
        apr_int64_t n = sc->token_cache == AGW_UNSET ? AGW_DEFAULT_TOKEN_CACHE : sc->token_cache;
        /* about 1.5 KiB of token per entry: an Auth0 access token is usually under 1 KiB */
        /* both admit a token on its second sighting: one-shot tokens evict nothing */
        int threads = 1;
        apr_int64_t front = n;
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        /* with the host's table behind it, a process keeps only a small front of its own:
         * a prefork child does not hold a copy of the host's tokens */
        if (gw_hostcache() && front > FRONT_PER_THREAD * (threads > 1 ? threads : 1))
            front = FRONT_PER_THREAD * (threads > 1 ? threads : 1);
        tcache = agw_tcache_create(pchild, (unsigned int)front, (apr_size_t)front * 1536,
                                   AGW_TCACHE_ADMIT_SECOND);
        ncache = agw_tcache_create(pchild, (unsigned int)(n / 4), (apr_size_t)(n / 4) * 1536,
                                   AGW_TCACHE_ADMIT_SECOND);
    }
    shared_store.baton = s;
    agw_keystore_share(keystore, &shared_store);
    agw_keystore_persist(keystore, gw_state_persist(s));
    agw_keystore_on_load(keystore, gw_metrics_jwks, NULL);
    {
        /* half the worker threads may wait for a key fetch; the rest serve known keys */
        int threads = 1;
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        agw_keystore_set_max_waiters(keystore, threads / 2);
    }
    agw_keystore_claim_lock(keystore, claim_lock, claim_unlock);
    gw_refresher_start(pchild, s, refresh_tick);
}

void gw_token_cache_stats(agw_tcache_stats_t *st)
{
    agw_tcache_stats(tcache, st);
}

void gw_proof_key_stats(agw_pkcache_stats_t *st)
{
    agw_pkcache_stats(proofkeys, st);
}

apr_array_header_t *gw_key_stats(apr_pool_t *p)
{
    return keystore ? agw_keystore_stats(keystore, p) : NULL;
}

int gw_pre_config_authn(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    const char *err;
    default_user_claim = agw_claim_path_compile(pconf, "sub", &err);
    return OK;
}
