/* Types shared by the httpd glue files of mod_auth0gw: per-directory and per-server configuration, request state. */
#ifndef MOD_AUTH0GW_H
#define MOD_AUTH0GW_H

#include <apr_hash.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <mod_auth.h>
#include <ap_expr.h>

#include "agw_err.h"
#include "agw_crypt.h"
#include "agw_jwk.h"
#include "agw_jwt.h"
#include "agw_conf.h"
#include "agw_keys.h"
#include "agw_client.h"
#include "agw_tcache.h"
#include "agw_hcache.h"
#include "agw_pkcache.h"
#include "agw_gate.h"
#include "messages.h"

/* The one symbol httpd looks up: the build hides every other (-fvisibility=hidden, apxs.mk) */
#if defined(__GNUC__) || defined(__clang__)
extern module AP_MODULE_DECLARE_DATA auth0gw_module __attribute__((visibility("default")));
#else
extern module AP_MODULE_DECLARE_DATA auth0gw_module;
#endif


#define AGW_AUTH_TYPE "Auth0"
#define AGW_UNSET (-1)

#define AGW_DEFAULT_LEEWAY     30
#define AGW_DEFAULT_REFRESH    900
#define AGW_DEFAULT_COOLDOWN   30
#define AGW_DEFAULT_FETCH_WAIT 2
#define AGW_DEFAULT_MAX_STALE  86400
#define AGW_DEFAULT_TOKEN_CACHE 10000

/* Auth0Mode: what happens to a request without a valid token */
typedef enum {
    AGW_MODE_ENFORCE = 0,       /* refused: 401 */
    AGW_MODE_OPTIONAL,          /* no token: on, anonymous; a bad one: 401 */
    AGW_MODE_REPORT             /* nothing refused for the token's sake: logged and counted */
} agw_mode_e;

/* A claim copied to a header or an environment variable. */
typedef struct agw_claim_copy_t {
    agw_claim_path_t *path;
    const char *name;
} agw_claim_copy_t;

typedef struct agw_dir_conf_t {
    const char *domain;
    const char *domain_issuer;          /* https://DOMAIN/ */
    const char *domain_jwks;            /* https://DOMAIN/.well-known/jwks.json */
    const char *issuer;                 /* the first Auth0Issuer value */
    apr_array_header_t *issuers;        /* every Auth0Issuer value, const char *; NULL: unset */
    apr_array_header_t *domains;        /* every Auth0Domain value, const char *; NULL: unset */
    apr_table_t *jwks_bound;            /* Auth0JWKS URL ISSUER: issuer -> URL; NULL: none */
    const void *issuer_line, *domain_line;  /* the directive that set them: a new one replaces */
    apr_array_header_t *audiences;      /* const char *; NULL: unset */
    apr_array_header_t *token_types;    /* Auth0TokenType, const char *; NULL: unset */
    const char *jwks;                   /* URL or file:PATH; NULL: from domain or discovery */
    agw_alg_set_t algs;                 /* 0: unset */
    const unsigned char *hmac;          /* HS* secret; NULL: unset */
    apr_size_t hmac_len;
    agw_jwks_t *hmac_jwks;              /* built once from hmac */
    unsigned char hmac_id[32];          /* SHA-256 of the secret: names it in the token cache */
    apr_int64_t leeway;
    apr_array_header_t *sources;        /* agw_token_src_t; NULL: unset */
    agw_claim_path_t *scope_claim;
    agw_claim_path_t *roles_claim;
    agw_claim_path_t *user_claim;
    apr_array_header_t *claim_headers;  /* agw_claim_copy_t; added to the parent's */
    apr_array_header_t *claim_envs;     /* agw_claim_copy_t; added to the parent's */
    apr_int64_t refresh;
    apr_int64_t cooldown;
    apr_int64_t fetch_wait;             /* Auth0KeyFetchWait */
    apr_int64_t max_stale;
    const char *ca_file;
    int insecure_http;
    const char *proxy_client;           /* Auth0ProxyClient */
    int mode;                           /* Auth0Mode, agw_mode_e; AGW_UNSET: enforce */
    int pass_preflight;                 /* Auth0PassPreflight; AGW_UNSET: Off */
    int dpop;                           /* Auth0DPoP, agw_dpop_mode_e; AGW_UNSET: allowed */
    int dpop_nonce;                     /* Auth0DPoPNonce; AGW_UNSET: Off */
    int htaccess;                       /* read from .htaccess, or merged with such */
    int complete;                       /* gw_conf_incomplete's memo: 1 when it found nothing
                                         * (its rules read the configuration only) */
    int nothing;                        /* merge's memo of sets_nothing: 0 not yet known, 1
                                         * sets nothing, 2 sets something (not compared) */
    const char *where;                  /* "file:line" of this section's first Auth0
                                         * directive (inner sections win), for log lines */
} agw_dir_conf_t;

typedef struct agw_srv_conf_t {
    apr_hash_t *clients;                /* name -> agw_client_t *, vhosts inherit */
    apr_hash_t *client_where;           /* name -> "file:line" */
    agw_client_t *current;              /* while inside <Auth0Client> */
    const char *cache_provider;         /* Auth0Cache, main server only */
    const char *cache_args;
    apr_int64_t token_cache;            /* Auth0TokenCache entries; AGW_UNSET: default */
    apr_hash_t *htaccess_sources;       /* Auth0HtaccessSources: value -> value; vhosts add
                                         * to the main server's */
} agw_srv_conf_t;

/* One client's state in this process, for the status page. */
typedef struct agw_client_stats_t {
    const char *name, *token_url, *last_error;
    int has_token;
    apr_int64_t expires_in;
    unsigned long fetches, failures, served, refused;
} agw_client_stats_t;

/* r->notes key set once the token check has run for a request: valid, missing or invalid */
#define AGW_NOTE_OUTCOME "auth0gw-outcome"

/* What check_authn learned, for the authz providers and later phases of one request. */
typedef struct agw_req_t {
    json_t *claims;             /* NULL until gw_req_claims parses lazy's */
    agw_jws_t *lazy;            /* a token accepted from its brief: claims not parsed yet */
    const char *fingerprint;
    const agw_dir_conf_t *conf;
} agw_req_t;

/* config.c */
extern const command_rec gw_cmds[];
void *gw_dir_create(apr_pool_t *p, char *dir);
void *gw_dir_merge(apr_pool_t *p, void *basev, void *addv);
void *gw_srv_create(apr_pool_t *p, server_rec *s);
void *gw_srv_merge(apr_pool_t *p, void *basev, void *addv);
int gw_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
/* The effective issuer and key URL (explicit, else from Auth0Domain; NULL key URL: discovery). */
const char *gw_conf_issuer(const agw_dir_conf_t *c);
const char *gw_conf_jwks(const agw_dir_conf_t *c);
apr_int64_t gw_conf_get(apr_int64_t v, apr_int64_t dflt);
/* Why this merged configuration cannot run, or NULL. For .htaccess, checked per request. */
const char *gw_conf_incomplete(apr_pool_t *p, const agw_dir_conf_t *c);

/* With several issuers (Auth0Issuer values, else Auth0Domain values): agw_trust_t for each,
 * from p; NULL when there is one (gw_conf_issuer and gw_conf_jwks name it). agw_trust_t and
 * agw_dpop_mode_e are the gate's (agw_gate.h). */
apr_array_header_t *gw_conf_trust(apr_pool_t *p, const agw_dir_conf_t *c);

/* Auth0Mode of a merged configuration */
agw_mode_e gw_conf_mode(const agw_dir_conf_t *c);
/* Auth0DPoP of a merged configuration */
agw_dpop_mode_e gw_conf_dpop(const agw_dir_conf_t *c);
/* Auth0DPoPNonce of a merged configuration: 1 On */
int gw_conf_dpop_nonce(const agw_dir_conf_t *c);

/* lifecycle.c */
void gw_child_init_hook(apr_pool_t *pchild, server_rec *s);
int gw_lifecycle_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int gw_lifecycle_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s);
/* Starts the thread that calls tick once a second until the child exits (stopped at once). */
void gw_refresher_start(apr_pool_t *pchild, server_rec *s, void (*tick)(void));

/* authn.c */
/* hooks, registered in mod_auth0gw.c */
int gw_strip_claim_headers(request_rec *r);
void gw_strip_final(request_rec *r);
int gw_authenticate(request_rec *r);
int gw_authenticate_late(request_rec *r);
int gw_preflight(request_rec *r);
int gw_note_auth_failure(request_rec *r, const char *auth_type);
void gw_insert_error_filter(request_rec *r);
agw_req_t *gw_req_get(request_rec *r);
/* The request's verified claims, parsed on first use for a token accepted from its brief;
 * NULL without any. */
json_t *gw_req_claims(request_rec *r, agw_req_t *st);
void gw_child_init(apr_pool_t *pchild, server_rec *s);

/* proxy.c */
const char *gw_client_section(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_token_url(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_str(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_secret(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_scope(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_auth(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_param(cmd_parms *cmd, void *dc, const char *a, const char *b);
const char *gw_set_client_key(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_dpop_key(cmd_parms *cmd, void *dc, const char *arg,
                                    const char *alg_name);
const char *gw_set_client_renew(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_client_backend(cmd_parms *cmd, void *dc, const char *arg);
const char *gw_set_proxy_client(cmd_parms *cmd, void *dc, const char *arg);
agw_client_t *gw_current_client(cmd_parms *cmd);
int gw_clients_check(apr_pool_t *pconf, server_rec *s);
void gw_proxy_child_init(apr_pool_t *pchild, server_rec *s);
int gw_proxy_fixups(request_rec *r);     /* hook */
int gw_proxy_log_scrub(request_rec *r);  /* hook */
int gw_proxy_inherit_scrub(request_rec *r); /* hook */
apr_array_header_t *gw_client_stats(apr_pool_t *p, server_rec *s);

/* cache.c */
const char *gw_cache_set(cmd_parms *cmd, void *dc, const char *arg);
int gw_cache_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int gw_cache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
void gw_cache_child_init(apr_pool_t *pchild, server_rec *s);
int gw_cache_is_network(void);
const char *gw_cache_name(void);
const char *gw_cache_secret_set(cmd_parms *cmd, void *dc, const char *cur, const char *old);
/* Configuration errors of the shared cache (configtest), counted. */
int gw_cache_check(server_rec *s);
/* Every record is sealed (agw_seal.h): a read that fails authentication is a miss, logged
 * (AGW0303) and counted. get reads records up to 32 KiB; get_max up to max bytes. */
apr_status_t gw_cache_get(char **pdata, apr_size_t *plen, const char *key, apr_pool_t *p,
                           server_rec *s);
apr_status_t gw_cache_get_max(char **pdata, apr_size_t *plen, const char *key,
                               apr_size_t max, apr_pool_t *p, server_rec *s);
apr_status_t gw_cache_put(const char *key, const char *data, apr_size_t len,
                           apr_int64_t expires_at, apr_pool_t *p, server_rec *s);
apr_status_t gw_cache_del(const char *key, apr_pool_t *p, server_rec *s);
/* Records key until expires_at unless it is there already: APR_SUCCESS (it was not),
 * APR_EEXIST (it was, as a record this host can open), or the cache's failure. Atomic on the
 * host for shmcb; Redis and memcached have no add through mod_socache: two hosts may both
 * see "not there" within one round trip. */
apr_status_t gw_cache_add(const char *key, apr_int64_t expires_at, apr_pool_t *p,
                           server_rec *s);
apr_status_t gw_fetch_lock(int wait);
void gw_fetch_unlock(void);
/* A sealer made from Auth0CacheSecret (for the state files too); APR_NOTFOUND without one. */
struct agw_seal_t;
apr_status_t gw_cache_fleet_seal(struct agw_seal_t **ps, apr_pool_t *p, agw_err_t *err);
/* The DPoP nonce maker (Auth0DPoPNonce), made in post_config before the children fork: from
 * Auth0CacheSecret when there is one (every host of the fleet alike), else from a random key
 * kept across restarts (every process of the host alike). NULL before post_config. */
struct agw_nonce_t;
const struct agw_nonce_t *gw_cache_dpop_nonces(void);

/* state.c: the keys kept across restarts, in sealed files under Auth0StateDir (default: the
 * runtime directory's auth0gw/), made ready by the parent before the children start. */
const char *gw_state_dir_set(cmd_parms *cmd, void *dc, const char *arg);
int gw_state_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int gw_state_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s);
/* The key store's persistent store in a child (NULL when nothing is kept). */
const agw_persist_t *gw_state_persist(server_rec *s);
const char *gw_state_dir(void);

/* status.c */
typedef enum {
    AGW_COUNT_ACCEPTED = 0, AGW_COUNT_NO_TOKEN, AGW_COUNT_MALFORMED, AGW_COUNT_SIGNATURE,
    AGW_COUNT_ALG, AGW_COUNT_UNKNOWN_KEY, AGW_COUNT_EXPIRED, AGW_COUNT_NOT_YET,
    AGW_COUNT_ISSUER, AGW_COUNT_AUDIENCE, AGW_COUNT_OTHER, AGW_COUNT_SCOPE,
    AGW_COUNT_NO_KEYS, AGW_COUNT_PROXY_OK, AGW_COUNT_PROXY_503, AGW_COUNT_CACHE_REJECTED,
    AGW_COUNT_TYP, AGW_COUNT_CLAIM,
    /* Auth0Mode report-only: what would have been refused (missing token, bad token, a
     * Require auth0-* line not met); optional: requests let on without a token */
    AGW_COUNT_REPORT_MISSING, AGW_COUNT_REPORT_INVALID, AGW_COUNT_REPORT_DENIED,
    AGW_COUNT_ANONYMOUS, AGW_COUNT_PREFLIGHT,
    /* sender-constrained tokens: a DPoP proof refused; a token's cnf binding not proved */
    AGW_COUNT_DPOP, AGW_COUNT_BINDING,
    AGW_COUNT_MAX
} agw_counter_e;
void gw_count(agw_counter_e which);
/* The counter a token refusal of that kind counts in; its name is the log's refusal=. */
agw_counter_e gw_refusal_counter(agw_refusal_e kind);
const char *gw_counter_name(agw_counter_e which);
int gw_status_handler(request_rec *r);   /* hook */
apr_array_header_t *gw_key_stats(apr_pool_t *p);
void gw_token_cache_stats(agw_tcache_stats_t *st);
/* This process's cache of imported DPoP proof keys (zeros before child_init). */
void gw_proof_key_stats(agw_pkcache_stats_t *st);

/* metrics.c: the host's counters, in shared memory made by the parent and kept across
 * restarts. Series named at run time (key sources, clients) take one of a fixed number of
 * slots; what finds no slot is counted as overflow. */
#define AGW_METRICS_SLOTS 64
#define AGW_METRICS_NAME  256
typedef struct agw_metrics_named_t {
    const char *name;
    apr_uint64_t a, b, c;       /* sources: fetches, failures, shared loads; clients: fetches,
                                 * failures */
    apr_uint64_t gauge;         /* sources: keys in the set last loaded by any process */
} agw_metrics_named_t;
typedef struct agw_metrics_t {
    int shared;                 /* 0: no shared memory, the figures are this process's */
    apr_int64_t since;          /* Unix time the counting began */
    apr_uint64_t restarts;      /* restarts (graceful or not) since then */
    apr_uint64_t counts[AGW_COUNT_MAX];
    apr_uint64_t tc_hits, tc_misses;    /* the verified-token caches of all processes */
    apr_uint64_t overflow;
    apr_array_header_t *sources, *clients;  /* agw_metrics_named_t */
} agw_metrics_t;
int gw_metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s);
/* A child's start: the counter shard it counts in. */
void gw_metrics_child_init(apr_pool_t *pchild, server_rec *s);
void gw_metrics_count(agw_counter_e which);
void gw_metrics_token_cache(int hit);
/* The host-wide table of verified tokens (hostcache.c); NULL when off or not available. */
int gw_hostcache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                              server_rec *s);
agw_hcache_t *gw_hostcache(void);
/* An agw_keys_event_fn: a key source's load, from the issuer (network) or the shared cache. */
void gw_metrics_jwks(void *baton, const char *source, int network, int ok, int nkeys);
void gw_metrics_client(const char *client, int ok);
void gw_metrics_read(agw_metrics_t *m, apr_pool_t *p);
/* The name a series is known by: no user-info, query or fragment, printable ASCII without
 * quotes or backslashes (agw_text_log), at most AGW_METRICS_NAME - 1 bytes. */
const char *gw_metrics_label(apr_pool_t *p, const char *name);
const agw_metrics_named_t *gw_metrics_find(const apr_array_header_t *named, const char *label);

/* authz.c: hooks and providers, registered in mod_auth0gw.c */
int gw_pre_config_authz(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int gw_claim_lookup(ap_expr_lookup_parms *parms);
extern const authz_provider gw_scope_provider;
extern const authz_provider gw_role_provider;
extern const authz_provider gw_claim_provider;

#endif
