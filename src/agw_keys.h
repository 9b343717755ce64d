/* The per-process key store: JWK Sets by source, fetched once, refreshed on schedule, refetched (rate-limited) on unknown kid. */
#ifndef AGW_KEYS_H
#define AGW_KEYS_H

#include <apr_pools.h>
#include "agw_err.h"
#include "agw_http.h"
#include "agw_jwk.h"

#define AGW_KEYS_MAX_SOURCES 256   /* distinct key sources one process will hold */
#define AGW_KEYS_INFLIGHT_MAX 30   /* seconds a host-wide fetch claim holds at most (a fetch
                                    * times out well before: connect 5 s, total 10 s) */
#define AGW_KEYS_MAX_WAITERS 4     /* default: requests of one process waiting for one
                                    * source's fetch; more are answered at once (401 or 503) */
#define AGW_KEYS_POLL_MS 50        /* how often a process waiting for another's fetch looks */

/* Where keys come from and how often to look again. Sources with equal specs are shared. */
typedef struct agw_keys_spec_t {
    const char *jwks;           /* https:// or http:// URL, "file:PATH", or NULL for discovery */
    const char *issuer;         /* for discovery: ISSUER/.well-known/openid-configuration */
    apr_int64_t refresh;        /* seconds between scheduled refreshes */
    apr_int64_t cooldown;       /* minimum seconds between unscheduled fetches */
    apr_int64_t max_stale;      /* how long the last good set serves while fetches fail */
    apr_int64_t fetch_wait;     /* the longest a request waits for a fetch another started */
    agw_http_opts_t http;
} agw_keys_spec_t;

typedef enum { AGW_LOG_ERR = 3, AGW_LOG_WARN = 4, AGW_LOG_INFO = 6, AGW_LOG_DEBUG = 7 } agw_log_level_e;
/* The core logs through this; the glue connects it to ap_log_error with its own numbers. */
typedef void agw_log_fn(void *baton, agw_log_level_e level, int msgno, const char *msg);

/* Message numbers the key store logs with (the glue prints them as AGW0nnn). */
#define AGW_MSG_JWKS_FETCHED  200
#define AGW_MSG_JWKS_FAILED   201
#define AGW_MSG_JWKS_SKIPPED  202
#define AGW_MSG_JWKS_RESTORED 203
/* and the gate (agw_gate.h) through its own callback, before an unknown-kid refetch */
#define AGW_MSG_UNKNOWN_KID   104

/* A store shared with other processes and hosts (the glue puts mod_socache behind it).
 * Keys and values are text; get returns APR_NOTFOUND on a miss, anything else on failure.
 * All are called without the store's mutexes held. del may be NULL (the key store needs
 * none); it is last so that initialisers of three members stay valid. */
typedef struct agw_shared_t {
    apr_status_t (*get)(void *baton, const char *key, char **pdata, apr_size_t *plen,
                        apr_pool_t *p);
    apr_status_t (*put)(void *baton, const char *key, const char *data, apr_size_t len,
                        apr_int64_t expires_at, apr_pool_t *p);
    void *baton;
    apr_status_t (*del)(void *baton, const char *key, apr_pool_t *p);
} agw_shared_t;

/* A store that outlives the process and its server's restarts (the glue: sealed files).
 * load returns APR_NOTFOUND when there is no record it can open; save replaces the record
 * in one step (readers see the old or the new one). Called without the store's mutexes. */
typedef struct agw_persist_t {
    apr_status_t (*load)(void *baton, const char *name, char **pdata, apr_size_t *plen,
                         apr_pool_t *p);
    apr_status_t (*save)(void *baton, const char *name, const char *data, apr_size_t len,
                         apr_pool_t *p);
    void *baton;
} agw_persist_t;

typedef struct agw_keystore_t agw_keystore_t;
typedef struct agw_keysrc_t agw_keysrc_t;

/* A handle on one JWK Set version, held until the pool passed to agw_keysrc_get is cleared
 * (the release is registered there). Allocate it zeroed from that same pool. */
typedef struct agw_keys_ref_t {
    const agw_jwks_t *jwks;
    apr_int64_t fetched_at;
    unsigned long version;      /* increases with every successful fetch of this source */
    void *opaque;
} agw_keys_ref_t;

/* Statistics of one source, for the status page and tests. */
typedef struct agw_keysrc_stats_t {
    const char *name;           /* the URL or file */
    unsigned long fetches, failures;
    apr_int64_t fetched_at, next_refresh;
    int nkeys;
    const char *last_error;     /* NULL when the last fetch worked */
    apr_array_header_t *keys;   /* const char *: "kid alg-or-kty" per usable key */
} agw_keysrc_stats_t;

apr_status_t agw_keystore_create(agw_keystore_t **pks, apr_pool_t *p, agw_log_fn *log,
                                 void *baton);

/* With a shared store, a process first looks there for a JWKS fetched by another process
 * (fresh within the refresh interval) before going to the network, publishes what it
 * fetches, and honours the other processes' unknown-kid cooldown. shared must outlive ks. */
void agw_keystore_share(agw_keystore_t *ks, const agw_shared_t *shared);

/* A host-wide try-lock (the glue's global mutex; lock returns 1 when taken) held around the
 * calls that look for another process's fetch claim and write our own, never across a fetch;
 * tried AGW_KEYS_CLAIM_TRIES times 2 ms apart, then the claim goes on without it. NULL: none. */
#define AGW_KEYS_CLAIM_TRIES 50
void agw_keystore_claim_lock(agw_keystore_t *ks, int (*lock)(void), void (*unlock)(void));

/* How many requests of this process may wait for one source's fetch (the glue allows half the
 * process's worker threads, so that a flood of unknown kids while the issuer hangs leaves the
 * other half to requests with known keys); n <= 0: AGW_KEYS_MAX_WAITERS. */
void agw_keystore_set_max_waiters(agw_keystore_t *ks, int n);

/* With a persistent store, the last good set of each source fetched from the source itself
 * (not one taken from the shared store) is kept there ("jwks:<hash>" = "<fetched_at> <JWKS>", rewritten when the set
 * changes or once per refresh interval). A process with no usable set looks there once,
 * after the shared store and before the network: a set fetched less than max_stale ago is
 * installed with its own fetch time (so max_stale still bounds it) and refreshed within a
 * few seconds by the schedule. So a restart during an issuer outage keeps serving the keys
 * known before it. persist must outlive ks; NULL: none. */
void agw_keystore_persist(agw_keystore_t *ks, const agw_persist_t *persist);

/* How the store sleeps while it waits for another process's fetch (apr_sleep; tests give
 * their own). */
void agw_keystore_set_sleep(agw_keystore_t *ks, void (*sleep_fn)(apr_interval_time_t t));

/* Told of every set a source loads and every failed load, outside the key store's mutex:
 * network is 1 for a fetch from the issuer (or file), 0 for a set taken from the shared
 * store; ok says whether it gave usable keys, nkeys how many. The glue counts them host-wide. */
typedef void agw_keys_event_fn(void *baton, const char *source, int network, int ok, int nkeys);
void agw_keystore_on_load(agw_keystore_t *ks, agw_keys_event_fn *fn, void *baton);

/* The shared source for spec, created on first use. APR_ENOSPC beyond AGW_KEYS_MAX_SOURCES. */
apr_status_t agw_keystore_source(agw_keysrc_t **psrc, agw_keystore_t *ks,
                                 const agw_keys_spec_t *spec);

/* The source made for a spec equal to spec (by value), or NULL; takes no lock (sources are
 * append-only, published by an atomic count), for the request path. */
agw_keysrc_t *agw_keystore_find(agw_keystore_t *ks, const agw_keys_spec_t *spec);

/* 32 bytes that name the source (a hash of its spec), for the verified-token cache. */
const unsigned char *agw_keysrc_id(const agw_keysrc_t *src);

/* The current keys, for a request at time now. Returns at once while a set no older than
 * max_stale is held; otherwise (first use, or stale) one caller fetches while concurrent
 * callers (of this process, and of others through the shared store's fetch claim) wait for
 * that fetch, at most spec.fetch_wait seconds. A failed fetch starts the cooldown (host-wide
 * with a shared store): no new attempt before it ends. APR_EAGAIN with *pretry_after seconds
 * when no usable keys can be had (503). The reference is released by a cleanup on p. */
apr_status_t agw_keysrc_get(agw_keys_ref_t *ref, agw_keysrc_t *src, apr_pool_t *p,
                            apr_int64_t now, apr_int64_t *pretry_after, agw_err_t *err);

/* Without locks: the version of the source's current set when it is usable at now (not
 * older than max_stale), else 0. For the verified-token cache, which needs no key itself. */
unsigned long agw_keysrc_peek(const agw_keysrc_t *src, apr_int64_t now);

#define AGW_KEYS_HELD_MAX 8         /* keys of a set that agw_keysrc_holds knows */
#define AGW_KEYS_HELD_KID_MAX 64

/* Without locks: 1 if the source's set of this version (from agw_keysrc_peek) holds the key
 * of that thumbprint under that kid ("" for none), of alg's key type and not naming another
 * alg: what the verified-token caches need to know of a key. 0 when it does not, or when it
 * cannot say (a set of more than AGW_KEYS_HELD_MAX keys, a longer kid, a set being
 * installed): the caller then asks the set itself (agw_keysrc_get). */
int agw_keysrc_holds(const agw_keysrc_t *src, unsigned long version,
                     const unsigned char thumbprint[32], const char *kid, agw_alg_e alg);

/* A token named a kid that ref's set does not hold: refetch once if the cooldown allows (or
 * wait, at most spec.fetch_wait, for a fetch already running here or in another process) and
 * return the newer set in ref. An unknown-kid refetch starts the cooldown, host-wide with a
 * shared store; a first fetch or a set taken from the shared store does not, so a new kid is
 * fetched at first sight. While cooling down, another process's newer set is still taken (the
 * shared store is looked at once a second at most). APR_SUCCESS when ref now holds a newer
 * set; APR_EBUSY ("unknown key") when there is none. */
apr_status_t agw_keysrc_unknown_kid(agw_keys_ref_t *ref, agw_keysrc_t *src, apr_pool_t *p,
                                    apr_int64_t now, agw_err_t *err);

/* Scheduled refresh of every source whose refresh time has come; called by a background
 * thread so that no request waits while cached keys are valid. */
void agw_keystore_tick(agw_keystore_t *ks, apr_int64_t now);

/* The parsers of what other parties hand the key store, exported for tests and fuzzing.
 * An OpenID discovery document (body, len bytes): its "issuer" must equal issuer exactly and
 * its "jwks_uri" start with https:// (or http:// when allow_http). APR_SUCCESS with *puri
 * (from the document, owned by p), or an error with reason "discovery document is not valid
 * JSON", "discovery document names another issuer", "discovery document has no usable https
 * jwks_uri". */
apr_status_t agw_keys_discovery_parse(const char **puri, apr_pool_t *p, const char *body,
                                      apr_size_t len, const char *issuer, int allow_http,
                                      agw_err_t *err);
/* A set published in the shared store, "<fetched_at> <JWKS JSON>" (data need not be
 * NUL-terminated): 1 with the time (1 to 18 decimal digits) and the JSON inside data, else 0. */
int agw_keys_record_parse(apr_int64_t *pfetched_at, const char **pbody, apr_size_t *plen,
                          const char *data, apr_size_t len);

/* Copies of each source's statistics, from p. */
apr_array_header_t *agw_keystore_stats(agw_keystore_t *ks, apr_pool_t *p);

#endif
