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
#include "agw_hot.h"
#include "agw_cycles.h"
#include "agw_jws.h"
#include "agw_json.h"
#include "agw_http.h"
#include "agw_tcache.h"
#include "agw_util.h"
#include "agw_dpop.h"
#include "agw_nonce.h"
#include "agw_gate.h"

APLOG_USE_MODULE(auth0gw);

#define NOTE_CHALLENGE "auth0gw-challenge"

/* The process's key store and its refresh thread, made in child_init. */
static agw_keystore_t *keystore;

/* The request whose thread is in the key store, if any: the store's log lines (a fetch it
 * caused) go to that request's virtual host; a scheduled refresh logs to the main server.
 * Set and cleared on every request: in a module loaded with dlopen the default TLS model
 * makes each of those a call to __tls_get_addr (about 0.3 us of a prefork request's samples
 * in a perf profile). With glibc, initial-exec takes 8 bytes of the static TLS it keeps for
 * such modules instead; musl refuses initial-exec in a dlopen'ed library, so elsewhere the
 * default stays. */
#if defined(__GLIBC__)
#define GW_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define GW_TLS_MODEL
#endif
static __thread request_rec *keys_for GW_TLS_MODEL;

/* The token check's state in this process (caches, keys, proof keys), made in child_init. */
static agw_gate_t gate;
#define FRONT_PER_THREAD 128     /* front-cache entries per worker thread beside the host's table */
/* a process of one thread (a prefork child) keeps fewer: its claims objects (about 2.6 KiB
 * each) are private memory times the number of children, and a token its front misses is
 * served from the table's brief, usually without a parse */
#define FRONT_SINGLE_THREAD 32

#ifdef AGW_CYCLES
/* make bench-cycles: how the current request's token was served (1 a cache, 2 verified) */
static int cycles_served;

static void cycles_line(void *baton, const char *step, unsigned long n, unsigned long median,
                        unsigned long p90, unsigned long over)
{
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, baton, AGW_M_CYCLES ": cycles step=%s n=%lu "
                 "median=%lu p90=%lu over=%lu", step, n, median, p90, over);
}

static apr_status_t cycles_report(void *data)
{
    agw_cycles_report(cycles_line, data);
    return APR_SUCCESS;
}
#endif

AGW_HOT agw_req_t *gw_req_get(request_rec *r)
{
    return ap_get_module_config(r->request_config, &auth0gw_module);
}

json_t *gw_req_claims(request_rec *r, agw_req_t *st)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (!st)
        return NULL;
    if (!st->claims && st->lazy) {
        /* these exact bytes were parsed when they were verified: a failure here would mean a
         * broken libjansson; the request then has no claims to give (authz denies) */
        if (agw_jws_claims(st->lazy, r->pool, &err) == APR_SUCCESS)
            st->claims = st->lazy->payload;
        else
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AGW_M_CLAIMS_LOST ": the claims of token "
                          "fp=%s, verified before, cannot be parsed now: %s", st->fingerprint,
                          err.reason ? err.reason : "?");
        st->lazy = NULL;
    }
    return st->claims;
}

AGW_HOT static apr_int64_t now_sec(void)
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
} sender_t;

/* The request's note of its scheme, NULL when none was made (read as Bearer, no DPoP
 * challenge). */
AGW_HOT static sender_t *sender_noted(request_rec *r)
{
    void *v = NULL;

    apr_pool_userdata_get(&v, SENDER_KEY, r->pool);
    return v;
}

static sender_t *sender_of(request_rec *r)
{
    sender_t *snd = sender_noted(r);

    if (snd)
        return snd;
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
AGW_HOT static apr_size_t auth_scheme(request_rec *r, const char *v)
{
    /* Bearer is what no note says (find_token cleared any note it found): a note is made
     * only for DPoP or a challenge */
    if (!strncasecmp(v, "Bearer", 6) && (v[6] == ' ' || v[6] == '\t'))
        return 6;
    if (!strncasecmp(v, "DPoP", 4) && (v[4] == ' ' || v[4] == '\t')
        && dpop_mode(r) != AGW_DPOP_OFF) {
        sender_of(r)->dpop = 1;
        return 4;
    }
    return 0;
}

/* The token of an Authorization-style value, its length in *len (the one pass that checks it
 * for separators also measures it: the token is about 1 KB, read once here, once hashed). */
AGW_HOT static const char *from_authorization(request_rec *r, const char *value, int *malformed,
                                              apr_size_t *len)
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
    n = strcspn(v, " \t,");
    if (!n || v[n]) {
        *malformed = 1;
        return NULL;
    }
    *len = n;
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

/* The token from the first source that has one, its length in *len; *malformed when a source
 * had junk. */
AGW_HOT static const char *find_token(request_rec *r, const agw_dir_conf_t *c, int *malformed,
                                      apr_size_t *len)
{
    int i, n = c->sources ? c->sources->nelts : 1;
    sender_t *snd = sender_noted(r);

    *malformed = 0;
    /* an internal redirect's request shares its pool, and so the note, with the request it
     * came from: what that one's token was sent with says nothing of this one's (a token from a
     * cookie or the query is Bearer) */
    if (snd) {
        snd->dpop = 0;
        snd->dpop_challenge = 0;
    }
    for (i = 0; i < n; i++) {
        const agw_token_src_t *src = c->sources
                                         ? &APR_ARRAY_IDX(c->sources, i, agw_token_src_t)
                                         : &default_source;
        const char *v = NULL;
        apr_size_t measured = 0;    /* v's length, where from_authorization took it */
        switch (src->kind) {
        case AGW_SRC_HEADER:
            v = apr_table_get(r->headers_in, src->name);
            if (v && (src->bearer || !strncasecmp(v, "Bearer ", 7)
                      || (!strncasecmp(v, "DPoP ", 5) && dpop_mode(r) != AGW_DPOP_OFF)))
                v = from_authorization(r, v, malformed, &measured);
            break;
        case AGW_SRC_COOKIE:
            if (ap_cookie_read(r, src->name, &v, 0) != APR_SUCCESS)
                v = NULL;
            break;
        case AGW_SRC_QUERY:
            v = from_query(r, src->name);
            break;
        }
        if (v && *v) {
            *len = measured ? measured : strlen(v);
            return v;
        }
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

AGW_HOT static void copy_claims(request_rec *r, const agw_dir_conf_t *c, agw_req_t *st)
{
    json_t *claims;
    int i;

    if (!c->claim_headers && !c->claim_envs)
        return;
    claims = gw_req_claims(r, st);

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

/* REMOTE_USER: the core's rule on the claims, or its text from a token's brief. */
AGW_HOT static const char *remote_user(request_rec *r, const agw_dir_conf_t *c,
                               const agw_gate_out_t *out)
{
    const char *u = out->claims ? agw_jwt_user(r->pool, out->claims, c->user_claim) : out->user;
    const char *s = u ? agw_text_header(r->pool, u, 4096) : NULL;

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

AGW_HOT int gw_strip_claim_headers(request_rec *r)
{
    const agw_dir_conf_t *c = ap_get_module_config(r->per_dir_config, &auth0gw_module);
    /* a subrequest's headers are a copy of its parent's, an internal redirect's are those of
     * the request it came from: what those had stripped holds token values only */
    request_rec *from = r->main ? r->main : r->prev;

    /* a configuration without Auth0ClaimHeader strips nothing, and a record of it would
     * keep nothing later (strip_named reads a keep without claim headers as none): the
     * common case pays no key and no userdata table on every request */
    if (!c || !c->claim_headers || !c->claim_headers->nelts)
        return DECLINED;
    strip_named(r, c, from ? stripped_for(from) : NULL);
    apr_pool_userdata_setn(r->per_dir_config, stripped_key(r), NULL, r->pool);
    return DECLINED;
}

/* DirectoryIndex, FallbackResource and MultiViews end in ap_internal_fast_redirect: r takes
 * the subrequest's per-dir configuration but keeps its own headers_in (the subrequest
 * stripped only its copy). Just before the handler, strip for the configuration r ends
 * with, if it is not the one stripped for. */
AGW_HOT void gw_strip_final(request_rec *r)
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
AGW_HOT static void set_result(request_rec *r, const char *result, const char *reason)
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

AGW_HOT static void keys_spec(agw_keys_spec_t *spec, const agw_dir_conf_t *c)
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

/* The gate's policy for a merged section: every default of the token check applied here,
 * and nowhere else. Allocates only for a section with several issuers. */
AGW_HOT static void gate_policy(agw_gate_policy_t *pol, request_rec *r, const agw_dir_conf_t *c)
{
    memset(pol, 0, sizeof(*pol));
    pol->algs = c->algs ? c->algs : AGW_ALG_BIT(AGW_ALG_RS256);
    pol->leeway = gw_conf_get(c->leeway, AGW_DEFAULT_LEEWAY);
    pol->audiences = c->audiences;
    pol->token_types = c->token_types;
    pol->trust = gw_conf_trust(r->pool, c);
    keys_spec(&pol->keys, c);
    pol->hmac_jwks = c->hmac_jwks;
    pol->hmac_id = c->hmac ? c->hmac_id : NULL;
    pol->dpop = gw_conf_dpop(c);
    pol->dpop_nonce = gw_conf_dpop_nonce(c);
    pol->user_default = c->user_claim == NULL;
}

/* ---- sender-constrained tokens: DPoP (RFC 9449) and certificate-bound (RFC 8705) ---------- */

/* Bearer, or DPoP with its algorithms when the request used DPoP, the refusal is about DPoP,
 * or the location takes nothing else (RFC 9449 section 7.1). */
static const char *challenge_scheme(request_rec *r)
{
    const sender_t *snd = sender_noted(r);

    if ((snd && (snd->dpop || snd->dpop_challenge)) || dpop_mode(r) == AGW_DPOP_REQUIRED)
        return apr_psprintf(r->pool, "DPoP algs=\"%s\",", agw_dpop_alg_names(r->pool));
    return "Bearer";
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

/* The method the client sent, which its DPoP proof signs (htm). For a request's own gate it
 * is r->method. But for an ErrorDocument at a local URL, ap_die makes the request that failed
 * a GET while its internal redirect runs (and restores it after), so that a POST whose error
 * page sits at a location of another configuration, gated again, was checked as a GET and
 * refused: the request line, which nothing rewrites, keeps the method sent. */
static const char *method_sent(apr_pool_t *p, const request_rec *r, const request_rec *first)
{
    const char *sp;

    if (first == r || !first->the_request || !(sp = strchr(first->the_request, ' '))
        || sp == first->the_request)
        return first->method;
    return apr_pstrmemdup(p, first->the_request, (apr_size_t)(sp - first->the_request));
}

/* The current nonce (Auth0DPoPNonce) in one DPoP-Nonce header of the client's request,
 * whatever the answer: err_headers_out outlives an error, an internal redirect and a proxied
 * response's headers. */
static void dpop_nonce_offer(request_rec *r, const char *nonce)
{
    request_rec *top = r;

    while (top->main)
        top = top->main;
    apr_table_setn(top->err_headers_out, "DPoP-Nonce",
                   top == r ? nonce : apr_pstrdup(top->pool, nonce));
}

/* The client request remembers the DPoP proof it used (its replay key): an internal redirect
 * or subrequest to a location of another configuration checks it again, and that is no
 * replay. */
#define DPOP_USED_KEY "auth0gw-dpop-used"

/* The shared cache's add, for the gate's replay check: logged (by cache.c) to the request's
 * virtual host. */
static apr_status_t replay_add(void *baton, const char *key, apr_int64_t expires_at,
                               apr_pool_t *p)
{
    return gw_cache_add(key, expires_at, p, keys_for ? keys_for->server : baton);
}

/* The client certificate of the TLS connection in PEM, from mod_ssl; NULL without one. */
static const char *client_cert(void *baton)
{
    APR_OPTIONAL_FN_TYPE(ssl_var_lookup) *lookup = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);
    request_rec *r = baton;
    const char *pem = NULL;

    if (lookup)
        pem = lookup(r->pool, r->server, r->connection, r, (char *)"SSL_CLIENT_CERT");
    return pem && *pem ? pem : NULL;
}

/* What the request brings to the gate; the DPoP parts only when it used that scheme. */
AGW_HOT static void gate_input(agw_gate_in_t *in, request_rec *r, const char *token,
                               apr_size_t len)
{
    const sender_t *snd;

    memset(in, 0, sizeof(*in));
    in->token = token;
    in->len = len;
    in->client_cert = client_cert;
    in->cert_baton = r;
    in->log_payload = APLOG_R_IS_LEVEL(r, APLOG_INFO);
    if ((snd = sender_noted(r)) && snd->dpop) {
        const request_rec *first = initial_request(r);
        void *used = NULL;
        in->dpop_scheme = 1;
        in->dpop = dpop_header(r);
        in->method = method_sent(r->pool, r, first);
        in->url = request_url(r, first);
        if (apr_pool_userdata_get(&used, DPOP_USED_KEY, first->pool) == APR_SUCCESS)
            in->used_replay = used;
    }
}

/* Where an accepted token's signature verdict came from, for the debug line. */
static const char *served_from(const agw_gate_out_t *out)
{
    switch (out->served) {
    case AGW_GATE_SERVED_FRONT:
        return " from the verified-token cache";
    case AGW_GATE_SERVED_HOST:
        return out->claims ? " from the host's table" : " from the host's table, claims briefed";
    default:
        return "";
    }
}

/* The token is good: the request goes on with its user, claims and headers. */
AGW_HOT static int accepted(request_rec *r, const agw_dir_conf_t *c, const agw_gate_out_t *out)
{
    agw_req_t *st;

    if (out->proof_alg != AGW_ALG_NONE || out->cert_bound)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AGW_M_SENDER_PROVED ": sender constraint "
                      "proved (fp=%s, dpop=%s, jkt bound=%s, certificate bound=%s)", out->fp,
                      out->proof_alg != AGW_ALG_NONE ? agw_alg_name(out->proof_alg) : "no",
                      out->jkt_bound ? "yes" : "no", out->cert_bound ? "yes" : "no");
    st = apr_pcalloc(r->pool, sizeof(*st));
    st->claims = out->claims;
    st->lazy = out->lazy;     /* set only when the claims were not parsed */
    st->fingerprint = out->fp;
    st->conf = c;
    ap_set_module_config(r->request_config, &auth0gw_module, st);
    set_result(r, "valid", NULL);
    r->user = (char *)remote_user(r, c, out);
    r->ap_auth_type = (char *)AGW_AUTH_TYPE;
    copy_claims(r, c, st);
    gw_count(AGW_COUNT_ACCEPTED);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AGW_M_TOKEN_ACCEPTED ": token accepted%s (fp=%s, kid=%s, "
                  "alg=%s, user=%s)", served_from(out), out->fp,
                  loggable(r->pool, out->kid && *out->kid ? out->kid : NULL),
                  agw_alg_name(out->alg), loggable(r->pool, r->user));
    return OK;
}

/* The gate's outcome as the request's answer: counters, headers, log lines, status. */
AGW_HOT static int gate_answer(request_rec *r, const agw_dir_conf_t *c, const agw_gate_out_t *out)
{
    /* the host's counters count a hit when a token is served from a cache (this process's or
     * the host's table), a miss when its signature is verified */
    if (gate.front && out->served != AGW_GATE_SERVED_NONE)
        gw_metrics_token_cache(out->served != AGW_GATE_SERVED_VERIFIED);
    if (out->nonce)
        dpop_nonce_offer(r, out->nonce);
    if (out->replay_key) {
        apr_pool_t *first = initial_request(r)->pool;
        apr_pool_userdata_setn(apr_pstrdup(first, out->replay_key), DPOP_USED_KEY, NULL, first);
    }
    if (out->dpop_challenge)
        sender_of(r)->dpop_challenge = out->dpop_challenge > 0;
    switch (out->outcome) {
    case AGW_GATE_ACCEPT:
        return accepted(r, c, out);
    case AGW_GATE_REFUSE:
        return reject(r, out->fp, out->claims, &out->err);
    case AGW_GATE_UNAVAILABLE:
        return unavailable(r, out->source, out->retry_after, &out->err);
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AGW_M_HASH_FAILED ": cannot hash the token "
                      "(libcrypto failed); refusing the request");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
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
AGW_HOT static int incomplete(request_rec *r, const agw_dir_conf_t *c)
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

/* The token check: OK with r->user set (valid), OK without (a request let on by its mode),
 * or the refusal's status. need_user: a Require line asks for a user (check_authn). One call
 * of the gate decides; this finds the token and answers for it. */
AGW_HOT static int check_token(request_rec *r, const agw_dir_conf_t *c, int need_user)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_gate_policy_t pol;
    agw_gate_in_t in;
    agw_gate_out_t out;
    const char *token;
    apr_size_t len = 0;
    int malformed;

    AGW_CY_START(cy_find);
    token = find_token(r, c, &malformed, &len);
    AGW_CY_END(AGW_CY_FIND, cy_find);
    if (!token) {
        if (malformed) {
            agw_err_refuse(&err, AGW_R_MALFORMED, "malformed Authorization header");
            return reject(r, "-", NULL, &err);
        }
        return no_token(r, gw_conf_mode(c), need_user);
    }
    gate_policy(&pol, r, c);
    gate_input(&in, r, token, len);
    /* the key store's log lines (a fetch this request caused) go to its virtual host */
    keys_for = r;
    AGW_CY_START(cy_gate);
    agw_gate_check(&out, &gate, &pol, &in, now_sec(), r->pool);
    AGW_CY_END(AGW_CY_GATE, cy_gate);
    keys_for = NULL;
#ifdef AGW_CYCLES
    cycles_served = out.outcome != AGW_GATE_ACCEPT ? 0
                    : out.served == AGW_GATE_SERVED_VERIFIED ? 2 : 1;
    {
        AGW_CY_START(cy_answer);
        int status = gate_answer(r, c, &out);
        AGW_CY_END(AGW_CY_ANSWER, cy_answer);
        return status;
    }
#else
    return gate_answer(r, c, &out);
#endif
}

static int is_preflight(request_rec *r)
{
    return r->method_number == M_OPTIONS && apr_table_get(r->headers_in, "Origin")
           && apr_table_get(r->headers_in, "Access-Control-Request-Method");
}

AGW_HOT static const agw_dir_conf_t *auth0_conf(request_rec *r)
{
    const char *type = ap_auth_type(r);

    if (!type || strcasecmp(type, AGW_AUTH_TYPE) != 0)
        return NULL;
    return ap_get_module_config(r->per_dir_config, &auth0gw_module);
}

/* check_authn: a Require line asks for a user. */
#ifdef AGW_CYCLES
static int authenticate(request_rec *r);

/* make bench-cycles: the whole check, by how the token was served */
AGW_HOT int gw_authenticate(request_rec *r)
{
    AGW_CY_START(cy_authn);
    int status;

    cycles_served = 0;
    status = authenticate(r);
    if (cycles_served)
        AGW_CY_END(cycles_served == 1 ? AGW_CY_AUTHN_HIT : AGW_CY_AUTHN_VERIFIED, cy_authn);
    return status;
}

AGW_HOT static int authenticate(request_rec *r)
#else
AGW_HOT int gw_authenticate(request_rec *r)
#endif
{
    const agw_dir_conf_t *c = auth0_conf(r);
    const char *done;
    int status;

    if (!c)
        return DECLINED;
    AGW_CY_START(cy_conf);
    status = incomplete(r, c);
    AGW_CY_END(AGW_CY_CONF, cy_conf);
    if (status != OK)
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
AGW_HOT int gw_authenticate_late(request_rec *r)
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
AGW_HOT int gw_preflight(request_rec *r)
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

    /* a client signs all its proofs with one key: import it once per process, not per request */
    gate.proofkeys = agw_pkcache_create(pchild, AGW_PKCACHE_ENTRIES);
    gate.host = gw_hostcache();
    gate.nonces = gw_cache_dpop_nonces();
    gate.replay_add = replay_add;
    gate.replay_baton = s;
    gate.log = log_core;
    gate.log_baton = s;
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
        apr_int64_t cap = threads > 1 ? (apr_int64_t)FRONT_PER_THREAD * threads
                                       : FRONT_SINGLE_THREAD;
        gate.front_capped = 0;
        if (gw_hostcache() && front > cap) {
            front = cap;
            gate.front_capped = 1;
        }
        gate.front = agw_tcache_create(pchild, (unsigned int)front, (apr_size_t)front * 1536,
                                   AGW_TCACHE_ADMIT_SECOND);
        gate.host_first = gw_hostcache() != NULL;
        gate.negative = agw_tcache_create(pchild, (unsigned int)(n / 4), (apr_size_t)(n / 4) * 1536,
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
    gate.keys = keystore;
    gw_refresher_start(pchild, s, refresh_tick);
#ifdef AGW_CYCLES
    apr_pool_cleanup_register(pchild, s, cycles_report, apr_pool_cleanup_null);
#endif
}

void gw_token_cache_stats(agw_tcache_stats_t *st)
{
    agw_tcache_stats(gate.front, st);
}

void gw_proof_key_stats(agw_pkcache_stats_t *st)
{
    agw_pkcache_stats(gate.proofkeys, st);
}

apr_array_header_t *gw_key_stats(apr_pool_t *p)
{
    return keystore ? agw_keystore_stats(keystore, p) : NULL;
}
