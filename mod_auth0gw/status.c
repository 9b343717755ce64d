/* `SetHandler auth0-status`: keys per source, client token state and request counters, as HTML or JSON (?json); never a secret or token. */
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <http_log.h>
#include <util_script.h>

#include "mod_auth0gw.h"
#include "agw_json.h"
#include "agw_version.h"

APLOG_USE_MODULE(auth0gw);

static volatile apr_uint32_t counters[AGW_COUNT_MAX];

static const char *const counter_names[AGW_COUNT_MAX] = {
    "accepted", "no_token", "malformed", "signature", "alg_not_allowed", "unknown_key",
    "expired", "not_yet_valid", "issuer", "audience", "other_invalid", "insufficient_scope",
    "keys_unavailable", "proxied_with_token", "proxy_no_token", "cache_record_rejected",
    "typ", "claim_invalid",
};

void agw_count(agw_counter_e which)
{
    if (which >= 0 && which < AGW_COUNT_MAX)
        apr_atomic_inc32(&counters[which]);
}

agw_counter_e agw_refusal_counter(agw_refusal_e kind)
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
    case AGW_R_NONE: case AGW_R_KEY: case AGW_R_OTHER: case AGW_R_COUNT:
        break;
    }
    return AGW_COUNT_OTHER;
}

const char *agw_counter_name(agw_counter_e which)
{
    return which >= 0 && which < AGW_COUNT_MAX ? counter_names[which] : "other_invalid";
}

static json_t *build(request_rec *r)
{
    json_t *doc = agw_json_own(r->pool, json_object());
    json_t *sources = json_array(), *clients = json_array(), *counts = json_object();
    apr_array_header_t *ks = agw_key_stats(r->pool);
    apr_array_header_t *cs = agw_client_stats(r->pool, r->server);
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    int i, k;

    for (i = 0; ks && i < ks->nelts; i++) {
        agw_keysrc_stats_t *st = &APR_ARRAY_IDX(ks, i, agw_keysrc_stats_t);
        json_t *o = json_object(), *keys = json_array();
        for (k = 0; st->keys && k < st->keys->nelts; k++)
            json_array_append_new(keys, json_string(APR_ARRAY_IDX(st->keys, k, const char *)));
        json_object_set_new(o, "source", json_string(st->name));
        json_object_set_new(o, "keys", keys);
        json_object_set_new(o, "age", st->fetched_at ? json_integer(now - st->fetched_at)
                                                     : json_null());
        json_object_set_new(o, "next_refresh_in", json_integer(st->next_refresh - now));
        json_object_set_new(o, "fetches", json_integer((json_int_t)st->fetches));
        json_object_set_new(o, "failures", json_integer((json_int_t)st->failures));
        json_object_set_new(o, "last_error", st->last_error ? json_string(st->last_error)
                                                            : json_null());
        json_array_append_new(sources, o);
    }
    for (i = 0; cs && i < cs->nelts; i++) {
        agw_client_stats_t *st = &APR_ARRAY_IDX(cs, i, agw_client_stats_t);
        json_t *o = json_object();
        json_object_set_new(o, "client", json_string(st->name));
        json_object_set_new(o, "token_url", st->token_url ? json_string(st->token_url)
                                                          : json_null());
        json_object_set_new(o, "has_token", json_boolean(st->has_token));
        json_object_set_new(o, "expires_in", st->has_token ? json_integer(st->expires_in)
                                                           : json_null());
        json_object_set_new(o, "fetches", json_integer((json_int_t)st->fetches));
        json_object_set_new(o, "failures", json_integer((json_int_t)st->failures));
        json_object_set_new(o, "served", json_integer((json_int_t)st->served));
        json_object_set_new(o, "refused", json_integer((json_int_t)st->refused));
        json_object_set_new(o, "last_error", st->last_error ? json_string(st->last_error)
                                                            : json_null());
        json_array_append_new(clients, o);
    }
    for (i = 0; i < AGW_COUNT_MAX; i++)
        json_object_set_new(counts, counter_names[i],
                            json_integer((json_int_t)apr_atomic_read32(&counters[i])));
    {
        agw_tcache_stats_t ts;
        json_t *o = json_object();
        agw_token_cache_stats(&ts);
        json_object_set_new(o, "entries", json_integer((json_int_t)ts.entries));
        json_object_set_new(o, "bytes", json_integer((json_int_t)ts.bytes));
        json_object_set_new(o, "hits", json_integer((json_int_t)ts.hits));
        json_object_set_new(o, "misses", json_integer((json_int_t)ts.misses));
        json_object_set_new(o, "evictions", json_integer((json_int_t)ts.evictions));
        json_object_set_new(o, "first_sightings", json_integer((json_int_t)ts.deferred));
        json_object_set_new(doc, "token_cache", o);
    }
    json_object_set_new(doc, "version", json_string(AGW_VERSION));
    json_object_set_new(doc, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(doc, "cache", json_string(agw_cache_name()));
    json_object_set_new(doc, "issuers", sources);
    json_object_set_new(doc, "clients", clients);
    json_object_set_new(doc, "requests", counts);
    return doc;
}

static void html_row(request_rec *r, const char *k, const char *v)
{
    ap_rprintf(r, "<tr><th>%s</th><td>%s</td></tr>\n", ap_escape_html(r->pool, k),
               ap_escape_html(r->pool, v ? v : "-"));
}

/* The rows every source and client table ends with. */
static void html_tail(request_rec *r, json_t *v)
{
    html_row(r, "fetches / failures",
             apr_pstrcat(r->pool, agw_json_text(r->pool, json_object_get(v, "fetches")), " / ",
                         agw_json_text(r->pool, json_object_get(v, "failures")), NULL));
    html_row(r, "last error", agw_json_str(v, "last_error"));
    ap_rputs("</table>\n", r);
}

static int agw_status_handler(request_rec *r)
{
    json_t *doc, *v;
    char *text;
    size_t i;

    if (!r->handler || strcmp(r->handler, "auth0-status") != 0)
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    doc = build(r);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->args && (!strcmp(r->args, "json") || !strncmp(r->args, "json&", 5))) {
        ap_set_content_type(r, "application/json");
        text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (text) {
            ap_rputs(text, r);
            ap_rputs("\n", r);
            free(text);
        }
        return OK;
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html>\n<html><head><title>mod_auth0gw status</title></head><body>\n"
             "<h1>mod_auth0gw status</h1>\n", r);
    ap_rprintf(r, "<p>Process %d, shared cache %s. <a href=\"?json\">JSON</a></p>\n",
               (int)getpid(), ap_escape_html(r->pool, agw_cache_name()));
    ap_rputs("<p>mod_auth0gw " AGW_VERSION "</p>\n", r);
    ap_rputs("<h2>Issuers' keys</h2>\n", r);
    json_array_foreach(json_object_get(doc, "issuers"), i, v) {
        char *keys = agw_json_text(r->pool, json_object_get(v, "keys"));
        ap_rputs("<table border=\"1\">\n", r);
        html_row(r, "source", agw_json_str(v, "source"));
        html_row(r, "keys", keys);
        html_row(r, "age (s)", agw_json_text(r->pool, json_object_get(v, "age")));
        html_row(r, "next refresh in (s)",
                 agw_json_text(r->pool, json_object_get(v, "next_refresh_in")));
        html_tail(r, v);
    }
    ap_rputs("<h2>Backend clients</h2>\n", r);
    json_array_foreach(json_object_get(doc, "clients"), i, v) {
        ap_rputs("<table border=\"1\">\n", r);
        html_row(r, "client", agw_json_str(v, "client"));
        html_row(r, "token URL", agw_json_str(v, "token_url"));
        html_row(r, "token expires in (s)",
                 agw_json_text(r->pool, json_object_get(v, "expires_in")));
        html_tail(r, v);
    }
    ap_rputs("<h2>Requests (this process)</h2>\n<table border=\"1\">\n", r);
    for (i = 0; i < AGW_COUNT_MAX; i++)
        html_row(r, counter_names[i],
                 agw_json_text(r->pool, json_object_get(json_object_get(doc, "requests"),
                                                        counter_names[i])));
    ap_rputs("</table>\n<h2>Verified-token cache (this process)</h2>\n<table border=\"1\">\n", r);
    {
        const char *names[] = { "entries", "bytes", "hits", "misses", "evictions",
                                "first_sightings" };
        for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
            html_row(r, names[i], agw_json_text(r->pool, json_object_get(
                                      json_object_get(doc, "token_cache"), names[i])));
    }
    ap_rputs("</table>\n</body></html>\n", r);
    return OK;
}

void agw_status_register_hooks(apr_pool_t *p)
{
    /* runs when: content generation, for `SetHandler auth0-status` */
    ap_hook_handler(agw_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
