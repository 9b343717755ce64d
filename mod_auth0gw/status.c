/* `SetHandler auth0-status`: the host's counters, keys per source and client token state, as HTML, JSON (?json) or Prometheus text (?format=prometheus); never a secret or token. */
#include <string.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <http_log.h>
#include <util_script.h>

#include "mod_auth0gw.h"
#include "agw_hot.h"
#include "agw_json.h"
#include "agw_version.h"

APLOG_USE_MODULE(auth0gw);

#ifndef AGW_VERSION
#define AGW_VERSION "dev"
#endif

static const char *const counter_names[AGW_COUNT_MAX] = {
    "accepted", "no_token", "malformed", "signature", "alg_not_allowed", "unknown_key",
    "expired", "not_yet_valid", "issuer", "audience", "other_invalid", "insufficient_scope",
    "keys_unavailable", "proxied_with_token", "proxy_no_token", "cache_record_rejected",
    "typ", "claim_invalid", "report_only_missing", "report_only_invalid",
    "report_only_denied", "anonymous", "preflight", "dpop_proof", "token_binding",
};

AGW_HOT void gw_count(agw_counter_e which)
{
    gw_metrics_count(which);
}

agw_counter_e gw_refusal_counter(agw_refusal_e kind)
{
    /* no default: the compiler names a kind added without its counter */
    switch (kind) {
    case AGW_R_MALFORMED:     return AGW_COUNT_MALFORMED;
    case AGW_R_SIGNATURE:     return AGW_COUNT_SIGNATURE;
    case AGW_R_ALG:           return AGW_COUNT_ALG;
    case AGW_R_UNKNOWN_KEY:   return AGW_COUNT_UNKNOWN_KEY;
    case AGW_R_EXPIRED:       return AGW_COUNT_EXPIRED;
    case AGW_R_NOT_YET_VALID: return AGW_COUNT_NOT_YET;
    case AGW_R_ISSUER:        return AGW_COUNT_ISSUER;
    case AGW_R_AUDIENCE:      return AGW_COUNT_AUDIENCE;
    case AGW_R_TYPE:          return AGW_COUNT_TYP;
    case AGW_R_CLAIM:         return AGW_COUNT_CLAIM;
    case AGW_R_DPOP:          return AGW_COUNT_DPOP;
    case AGW_R_BINDING:       return AGW_COUNT_BINDING;
    case AGW_R_NONE: case AGW_R_KEY: case AGW_R_OTHER: case AGW_R_COUNT:
        break;
    }
    return AGW_COUNT_OTHER;
}

const char *gw_counter_name(agw_counter_e which)
{
    return which >= 0 && which < AGW_COUNT_MAX ? counter_names[which] : "other_invalid";
}


/* The figures that are the answering process's own; everything else is the host's. */
static const char *const per_process[] = {
    "issuers[].keys", "issuers[].age", "issuers[].next_refresh_in", "issuers[].last_error",
    "clients[].has_token", "clients[].expires_in", "clients[].served", "clients[].refused",
    "clients[].last_error", "token_cache.entries", "token_cache.bytes", "token_cache.evictions",
    "token_cache.first_sightings", "dpop_proof_key_cache", NULL
};

static json_t *jint(apr_uint64_t v)
{
    return json_integer((json_int_t)v);
}

/* One key source: the host's counts, and this process's keys when it holds the source. */
static json_t *source_json(const char *label, const agw_metrics_named_t *host,
                           const agw_keysrc_stats_t *here, apr_int64_t now)
{
    json_t *o = json_object(), *keys = json_array();
    int k;

    for (k = 0; here && here->keys && k < here->keys->nelts; k++)
        json_array_append_new(keys, json_string(APR_ARRAY_IDX(here->keys, k, const char *)));
    json_object_set_new(o, "source", json_string(label));
    json_object_set_new(o, "held_here", json_boolean(here != NULL));
    json_object_set_new(o, "keys", keys);
    json_object_set_new(o, "age", here && here->fetched_at ? json_integer(now - here->fetched_at)
                                                           : json_null());
    json_object_set_new(o, "next_refresh_in", here ? json_integer(here->next_refresh - now)
                                                   : json_null());
    json_object_set_new(o, "last_error", here && here->last_error
                                         ? json_string(here->last_error) : json_null());
    /* a source that found no slot (AGW_METRICS_SLOTS) shows this process's counts */
    json_object_set_new(o, "fetches", jint(host ? host->a : here ? here->fetches : 0));
    json_object_set_new(o, "failures", jint(host ? host->b : here ? here->failures : 0));
    json_object_set_new(o, "shared_cache_loads", jint(host ? host->c : 0));
    json_object_set_new(o, "keys_loaded", host ? jint(host->gauge) : json_null());
    return o;
}

/* One backend client: the host's fetch counts, this process's token state. */
static json_t *client_json(const agw_client_stats_t *st, const agw_metrics_named_t *h)
{
    json_t *o = json_object();

    json_object_set_new(o, "client", json_string(st->name));
    json_object_set_new(o, "token_url", st->token_url ? json_string(st->token_url)
                                                      : json_null());
    json_object_set_new(o, "has_token", json_boolean(st->has_token));
    json_object_set_new(o, "expires_in", st->has_token ? json_integer(st->expires_in)
                                                       : json_null());
    json_object_set_new(o, "fetches", jint(h ? h->a : st->fetches));
    json_object_set_new(o, "failures", jint(h ? h->b : st->failures));
    json_object_set_new(o, "served", jint(st->served));
    json_object_set_new(o, "refused", jint(st->refused));
    json_object_set_new(o, "last_error", st->last_error ? json_string(st->last_error)
                                                        : json_null());
    return o;
}

/* This process's client token cache, with the host's hit and miss counts. */
static json_t *token_cache_json(const agw_metrics_t *m)
{
    agw_tcache_stats_t ts;
    json_t *o = json_object();
    gw_token_cache_stats(&ts);
    json_object_set_new(o, "entries", jint(ts.entries));
    json_object_set_new(o, "bytes", jint(ts.bytes));
    json_object_set_new(o, "hits", jint(m->tc_hits));
    json_object_set_new(o, "misses", jint(m->tc_misses));
    json_object_set_new(o, "evictions", jint(ts.evictions));
    json_object_set_new(o, "first_sightings", jint(ts.deferred));
    return o;
}

/* The host-wide table of verified tokens (hostcache.c); "enabled": false when it is off. */
static json_t *host_token_cache_json(void)
{
    agw_hcache_stats_t hs;
    json_t *o = json_object();
    agw_hcache_stats(gw_hostcache(), &hs);
    json_object_set_new(o, "enabled", json_boolean(gw_hostcache() != NULL));
    json_object_set_new(o, "entries", jint(hs.entries));
    json_object_set_new(o, "capacity", jint(hs.capacity));
    json_object_set_new(o, "stored", jint(hs.stored));
    json_object_set_new(o, "first_sightings", jint(hs.deferred));
    json_object_set_new(o, "evictions", jint(hs.evictions));
    json_object_set_new(o, "busy", jint(hs.busy));
    return o;
}

/* This process's imported DPoP proof keys (the gate's, src/agw_pkcache.c). */
static json_t *proof_key_cache_json(void)
{
    agw_pkcache_stats_t ps;
    json_t *o = json_object();
    gw_proof_key_stats(&ps);
    json_object_set_new(o, "entries", jint(ps.entries));
    json_object_set_new(o, "capacity", jint(AGW_PKCACHE_ENTRIES));
    json_object_set_new(o, "hits", jint(ps.hits));
    json_object_set_new(o, "misses", jint(ps.misses));
    json_object_set_new(o, "evictions", jint(ps.evictions));
    return o;
}

static json_t *build(request_rec *r, const agw_metrics_t *m)
{
    json_t *doc = agw_json_own(r->pool, json_object());
    json_t *sources = json_array(), *clients = json_array(), *counts = json_object();
    json_t *host = json_object(), *pp = json_array();
    apr_array_header_t *ks = gw_key_stats(r->pool);
    apr_array_header_t *cs = gw_client_stats(r->pool, r->server);
    apr_hash_t *held = apr_hash_make(r->pool);
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    int i;

    for (i = 0; ks && i < ks->nelts; i++) {
        agw_keysrc_stats_t *st = &APR_ARRAY_IDX(ks, i, agw_keysrc_stats_t);
        const char *label = gw_metrics_label(r->pool, st->name);
        apr_hash_set(held, label, APR_HASH_KEY_STRING, label);
        json_array_append_new(sources, source_json(label, gw_metrics_find(m->sources, label),
                                                   st, now));
    }
    for (i = 0; i < m->sources->nelts; i++) {
        const agw_metrics_named_t *h = &APR_ARRAY_IDX(m->sources, i, agw_metrics_named_t);
        if (!apr_hash_get(held, h->name, APR_HASH_KEY_STRING))
            json_array_append_new(sources, source_json(h->name, h, NULL, now));
    }
    for (i = 0; cs && i < cs->nelts; i++) {
        agw_client_stats_t *st = &APR_ARRAY_IDX(cs, i, agw_client_stats_t);
        json_array_append_new(clients, client_json(st, gw_metrics_find(
                                                           m->clients,
                                                           gw_metrics_label(r->pool, st->name))));
    }
    for (i = 0; i < AGW_COUNT_MAX; i++)
        json_object_set_new(counts, counter_names[i], jint(m->counts[i]));
    json_object_set_new(doc, "token_cache", token_cache_json(m));
    json_object_set_new(doc, "host_token_cache", host_token_cache_json());
    json_object_set_new(doc, "dpop_proof_key_cache", proof_key_cache_json());
    json_object_set_new(host, "shared_memory", json_boolean(m->shared));
    json_object_set_new(host, "since", json_integer(m->since));
    json_object_set_new(host, "restarts", jint(m->restarts));
    json_object_set_new(host, "slots_overflow", jint(m->overflow));
    for (i = 0; per_process[i]; i++)
        json_array_append_new(pp, json_string(per_process[i]));
    json_object_set_new(doc, "version", json_string(AGW_VERSION));
    json_object_set_new(doc, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(doc, "cache", json_string(gw_cache_name()));
    json_object_set_new(doc, "counters", host);
    json_object_set_new(doc, "per_process", pp);
    json_object_set_new(doc, "issuers", sources);
    json_object_set_new(doc, "clients", clients);
    json_object_set_new(doc, "requests", counts);
    return doc;
}

/* ---- Prometheus text exposition format 0.0.4 ------------------------------------------------ */

/* A label value: backslash, double quote and line feed escaped (the names carry no other
 * control characters: gw_metrics_label). */
static const char *prom_escape(apr_pool_t *p, const char *v)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    for (c = v; *c; c++)
        n += (*c == '\\' || *c == '"' || *c == '\n') ? 2 : 1;
    o = out = apr_palloc(p, n + 1);
    for (c = v; *c; c++) {
        if (*c == '\\' || *c == '"' || *c == '\n') {
            *o++ = '\\';
            *o++ = *c == '\n' ? 'n' : *c;
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static void prom_head(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_named(request_rec *r, const char *name, const char *type, const char *help,
                       const char *label, const apr_array_header_t *named, int field)
{
    int i;

    prom_head(r, name, type, help);
    for (i = 0; i < named->nelts; i++) {
        const agw_metrics_named_t *h = &APR_ARRAY_IDX(named, i, agw_metrics_named_t);
        apr_uint64_t v = field == 0 ? h->a : field == 1 ? h->b : field == 2 ? h->c : h->gauge;
        ap_rprintf(r, "%s{%s=\"%s\"} %" APR_UINT64_T_FMT "\n", name, label,
                   prom_escape(r->pool, h->name), v);
    }
}

static void prometheus(request_rec *r, const agw_metrics_t *m)
{
    int i;

    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    prom_head(r, "auth0gw_info", "gauge", "mod_auth0gw's version.");
    ap_rprintf(r, "auth0gw_info{version=\"%s\"} 1\n", prom_escape(r->pool, AGW_VERSION));
    prom_head(r, "auth0gw_metrics_shared", "gauge",
              "1 when the counters are the whole host's (shared memory), 0 when they are only "
              "the answering process's.");
    ap_rprintf(r, "auth0gw_metrics_shared %d\n", m->shared ? 1 : 0);
    prom_head(r, "auth0gw_metrics_start_time_seconds", "gauge",
              "When the host's counters began (Unix time): kept across restarts, reset by a "
              "stop and start.");
    ap_rprintf(r, "auth0gw_metrics_start_time_seconds %" APR_INT64_T_FMT "\n", m->since);
    prom_head(r, "auth0gw_restarts_total", "counter",
              "Restarts (graceful or not) of the server since the counters began.");
    ap_rprintf(r, "auth0gw_restarts_total %" APR_UINT64_T_FMT "\n", m->restarts);
    prom_head(r, "auth0gw_requests_total", "counter",
              "Requests at AuthType Auth0 locations by result: accepted, no_token, or the "
              "reason of the refusal (insufficient_scope follows an accepted token).");
    for (i = 0; i < AGW_COUNT_MAX; i++) {
        if (i == AGW_COUNT_PROXY_OK || i == AGW_COUNT_PROXY_503 || i == AGW_COUNT_CACHE_REJECTED)
            continue;
        ap_rprintf(r, "auth0gw_requests_total{result=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   counter_names[i], m->counts[i]);
    }
    prom_head(r, "auth0gw_proxy_requests_total", "counter",
              "Proxied requests of Auth0ProxyClient locations: forwarded with the backend "
              "token, or refused (503) for want of one.");
    ap_rprintf(r, "auth0gw_proxy_requests_total{result=\"with_token\"} %" APR_UINT64_T_FMT "\n"
                  "auth0gw_proxy_requests_total{result=\"no_token\"} %" APR_UINT64_T_FMT "\n",
               m->counts[AGW_COUNT_PROXY_OK], m->counts[AGW_COUNT_PROXY_503]);
    prom_head(r, "auth0gw_token_cache_hits_total", "counter",
              "Verified-token cache look-ups that found the token (all processes' caches).");
    ap_rprintf(r, "auth0gw_token_cache_hits_total %" APR_UINT64_T_FMT "\n", m->tc_hits);
    prom_head(r, "auth0gw_token_cache_misses_total", "counter",
              "Verified-token cache look-ups that did not (all processes' caches).");
    ap_rprintf(r, "auth0gw_token_cache_misses_total %" APR_UINT64_T_FMT "\n", m->tc_misses);
    prom_head(r, "auth0gw_cache_records_rejected_total", "counter",
              "Shared-cache records that failed to open (AGW0303) and were ignored.");
    ap_rprintf(r, "auth0gw_cache_records_rejected_total %" APR_UINT64_T_FMT "\n",
               m->counts[AGW_COUNT_CACHE_REJECTED]);
    prom_named(r, "auth0gw_jwks_fetches_total", "counter",
               "JWKS fetches from the key source itself.", "source", m->sources, 0);
    prom_named(r, "auth0gw_jwks_fetch_failures_total", "counter",
               "JWKS fetches from the key source that gave no usable keys.", "source",
               m->sources, 1);
    prom_named(r, "auth0gw_jwks_shared_loads_total", "counter",
               "JWK Sets a process took from the shared cache instead of fetching.", "source",
               m->sources, 2);
    prom_named(r, "auth0gw_jwks_keys", "gauge",
               "Usable keys in the set of the key source last loaded by any process.", "source",
               m->sources, 3);
    prom_named(r, "auth0gw_client_token_fetches_total", "counter",
               "Client-credentials token requests to the client's token endpoint.", "client",
               m->clients, 0);
    prom_named(r, "auth0gw_client_token_failures_total", "counter",
               "Client-credentials token requests that gave no usable token.", "client",
               m->clients, 1);
    prom_head(r, "auth0gw_metrics_slots_exhausted_total", "counter",
              "Key-source or client counts dropped because every slot was taken.");
    ap_rprintf(r, "auth0gw_metrics_slots_exhausted_total %" APR_UINT64_T_FMT "\n", m->overflow);
}

/* ---- HTML ----------------------------------------------------------------------------------- */

static void html_row(request_rec *r, const char *k, const char *v)
{
    ap_rprintf(r, "<tr><th>%s</th><td>%s</td></tr>\n", ap_escape_html(r->pool, k),
               ap_escape_html(r->pool, v ? v : "-"));
}

static void html_field(request_rec *r, const char *k, json_t *obj, const char *field)
{
    json_t *v = json_object_get(obj, field);
    html_row(r, k, v && !json_is_null(v) ? agw_json_text(r->pool, v) : NULL);
}

static int has_arg(const request_rec *r, const char *arg)
{
    const char *a = r->args;
    apr_size_t n = strlen(arg);

    while (a && *a) {
        if (!strncmp(a, arg, n) && (a[n] == '\0' || a[n] == '&'))
            return 1;
        a = strchr(a, '&');
        if (a)
            a++;
    }
    return 0;
}

static void html_header(request_rec *r, const agw_metrics_t *m)
{
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
             "<title>mod_auth0gw status</title></head><body>\n"
             "<h1>mod_auth0gw status</h1>\n", r);
    ap_rprintf(r, "<p id=\"scope\">%s since %s (restarts since then: %" APR_UINT64_T_FMT
               "; a restart keeps them, a stop resets them). Marked <em>this process</em>: the "
               "figures of process %d only, which answered this request. Shared cache %s, "
               "version %s.</p>\n",
               m->shared ? "Counters are those of all processes of this host"
                         : "Counters are <strong>this process's only</strong> (no shared "
                           "memory, AGW0030)",
               ap_ht_time(r->pool, apr_time_from_sec(m->since), "%Y-%m-%d %H:%M:%S %Z", 1),
               m->restarts, (int)getpid(), ap_escape_html(r->pool, gw_cache_name()),
               ap_escape_html(r->pool, AGW_VERSION));
    ap_rputs("<p>mod_auth0gw " AGW_VERSION "</p>\n", r);
    ap_rputs("<p><a href=\"?json\">JSON</a> <a href=\"?format=prometheus\">Prometheus</a></p>\n",
             r);
}

static void html_counters(request_rec *r, json_t *doc)
{
    json_t *v;
    size_t i;

    ap_rputs("<h2>Requests</h2>\n<table id=\"requests\" border=\"1\">\n", r);
    for (i = 0; i < AGW_COUNT_MAX; i++)
        html_field(r, counter_names[i], json_object_get(doc, "requests"), counter_names[i]);
    ap_rputs("</table>\n<h2>Verified-token cache</h2>\n<table id=\"token-cache\" border=\"1\">\n",
             r);
    v = json_object_get(doc, "token_cache");
    html_field(r, "hits", v, "hits");
    html_field(r, "misses", v, "misses");
    html_field(r, "entries (this process)", v, "entries");
    html_field(r, "bytes (this process)", v, "bytes");
    html_field(r, "evictions (this process)", v, "evictions");
    html_field(r, "first sightings (this process)", v, "first_sightings");
    ap_rputs("</table>\n", r);
}

static void html_sources(request_rec *r, json_t *doc)
{
    json_t *v;
    size_t i;

    ap_rputs("<h2>Issuers' keys</h2>\n", r);
    json_array_foreach(json_object_get(doc, "issuers"), i, v) {
        ap_rputs("<table class=\"source\" border=\"1\">\n", r);
        html_row(r, "source", agw_json_str(v, "source"));
        html_field(r, "fetches", v, "fetches");
        html_field(r, "failures", v, "failures");
        html_field(r, "loads from the shared cache", v, "shared_cache_loads");
        html_field(r, "keys in the last set loaded", v, "keys_loaded");
        html_row(r, "keys (this process)", json_is_true(json_object_get(v, "held_here"))
                 ? agw_json_text(r->pool, json_object_get(v, "keys")) : "not held");
        html_field(r, "age (s) (this process)", v, "age");
        html_field(r, "next refresh in (s) (this process)", v, "next_refresh_in");
        html_row(r, "last error (this process)", agw_json_str(v, "last_error"));
        ap_rputs("</table>\n", r);
    }
}

static void html_clients(request_rec *r, json_t *doc)
{
    json_t *v;
    size_t i;

    ap_rputs("<h2>Backend clients</h2>\n", r);
    json_array_foreach(json_object_get(doc, "clients"), i, v) {
        ap_rputs("<table class=\"client\" border=\"1\">\n", r);
        html_row(r, "client", agw_json_str(v, "client"));
        html_row(r, "token URL", agw_json_str(v, "token_url"));
        html_field(r, "fetches", v, "fetches");
        html_field(r, "failures", v, "failures");
        html_field(r, "token expires in (s) (this process)", v, "expires_in");
        html_row(r, "requests served / refused (this process)",
                 apr_pstrcat(r->pool, agw_json_text(r->pool, json_object_get(v, "served")), " / ",
                             agw_json_text(r->pool, json_object_get(v, "refused")), NULL));
        html_row(r, "last error (this process)", agw_json_str(v, "last_error"));
        ap_rputs("</table>\n", r);
    }
}

/* The status page itself (its handler's test runs for every request, this only for its own). */
static AGW_COLD int status_page(request_rec *r)
{
    agw_metrics_t m;
    json_t *doc;
    char *text;

    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    gw_metrics_read(&m, r->pool);
    if (has_arg(r, "format=prometheus")) {
        prometheus(r, &m);
        return OK;
    }
    doc = build(r, &m);
    if (has_arg(r, "json") || has_arg(r, "format=json")) {
        ap_set_content_type(r, "application/json");
        text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (text) {
            ap_rputs(text, r);
            ap_rputs("\n", r);
            free(text);
        }
        return OK;
    }
    html_header(r, &m);
    html_counters(r, doc);
    html_sources(r, doc);
    html_clients(r, doc);
    ap_rputs("</body></html>\n", r);
    return OK;
}

AGW_HOT int gw_status_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, "auth0-status") != 0)
        return DECLINED;
    return status_page(r);
}
