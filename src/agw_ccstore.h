/* The per-process client-credentials token store: one token per client, fetched once per host (or fleet), renewed early, backed off on failure. */
#ifndef AGW_CCSTORE_H
#define AGW_CCSTORE_H

#include <apr_pools.h>
#include "agw_err.h"
#include "agw_client.h"
#include "agw_keys.h"           /* agw_log_fn, agw_shared_t */

/* A token is not handed out in its last seconds: the backend must not receive it expired. */
#define AGW_CC_EXPIRY_MARGIN 5
/* How long a "lock:" record claims a client's fetch for one process of the host (or fleet):
 * longer than a token request can last (3 s connect + 10 s transfer, agw_http.c), so that
 * the others wait for that one fetch, and short enough to outlive a process that died in it. */
#define AGW_CC_CLAIM_TTL 15

/* Message numbers the store logs with (the glue prints them as AGW0nnn). */
#define AGW_MSG_CC_OBTAINED 210
#define AGW_MSG_CC_FAILED   211
#define AGW_MSG_CC_RESTORED 217

/* Requests a token from the endpoint (default: agw_client_fetch). */
typedef apr_status_t agw_cc_fetch_fn(void *baton, agw_cc_token_t *tok, apr_pool_t *p,
                                     const agw_client_t *c, apr_int64_t now, agw_err_t *err);
/* Waits ms milliseconds, with no lock of the store held (default: apr_sleep). */
typedef void agw_cc_sleep_fn(void *baton, apr_int64_t ms);

/* An optional host-wide try-lock that makes the shared store's look-then-store one step on
 * this host; tried (with short sleeps between tries) around those two calls only. */
typedef struct agw_cc_hostlock_t {
    apr_status_t (*try_lock)(void *baton);     /* APR_SUCCESS: held */
    void (*unlock)(void *baton);
    void *baton;
} agw_cc_hostlock_t;

typedef struct agw_ccstore_t agw_ccstore_t;

/* One client's state in this process, for the status page. */
typedef struct agw_ccstore_stats_t {
    int has_token;              /* a token this process would serve now */
    apr_int64_t expires_in;     /* seconds; 0 without a token */
    unsigned long fetches, failures, served, refused;
    const char *last_error;     /* NULL when the last fetch worked */
} agw_ccstore_stats_t;

apr_status_t agw_ccstore_create(agw_ccstore_t **pstore, apr_pool_t *p, agw_log_fn *log,
                                void *baton);

/* With a shared store the processes (and, when fleet, the hosts) share tokens ("<cache key>"),
 * failure backoff ("fail:<cache key>") and one fetch claim per client ("lock:<cache key>").
 * fleet: the store spans hosts, so a claim is read back after a settle wait. shared and
 * hostlock (may be NULL) must outlive the store. */
void agw_ccstore_share(agw_ccstore_t *store, const agw_shared_t *shared,
                       const agw_cc_hostlock_t *hostlock, int fleet);

/* With a persistent store (sealed files, agw_keys.h), every token this process obtains is
 * kept there under its cache key, and a process with no token of its own and none in the
 * shared store looks there once, before asking the endpoint: a token that is still valid for
 * more than AGW_CC_EXPIRY_MARGIN (agw_cc_token_decode's checks) is adopted and renewed on its
 * usual schedule, so a restart during an endpoint outage keeps the backend's token. persist
 * must outlive the store; NULL: none. */
void agw_ccstore_persist(agw_ccstore_t *store, const agw_persist_t *persist);

/* For tests: the token request and the sleeps (NULL: the defaults). */
void agw_ccstore_set_fetch(agw_ccstore_t *store, agw_cc_fetch_fn *fetch, void *baton);
void agw_ccstore_set_sleep(agw_ccstore_t *store, agw_cc_sleep_fn *sleep, void *baton);

/* The token to put on a request for client c at time now, copied into p. Returns at once
 * while this process holds a token before its renewal time. Past it, one caller per host
 * renews while the others keep the old token; without a usable token, callers wait for the
 * one fetch of this client (never for another client's), bounded by AGW_CC_CLAIM_TTL + 1 s
 * of waiting for another process's claim. APR_EAGAIN with *pretry_after seconds when no
 * token can be had (503). log_baton, when not NULL, replaces the store's baton for the log
 * lines of this call (the request). */
apr_status_t agw_ccstore_token(const char **ptoken, apr_int64_t *pretry_after,
                               agw_ccstore_t *store, const agw_client_t *c, apr_pool_t *p,
                               apr_int64_t now, void *log_baton, agw_err_t *err);

/* What a proxied request asks agw_ccstore_credential for. */
typedef struct agw_cred_req_t {
    const char *method;         /* the backend request's method: a DPoP proof's htm */
    const char *target;         /* the backend URL: a DPoP proof's htu (query dropped); NULL
                                 * when it is not known (a DPoP client then gets no proof) */
} agw_cred_req_t;

/* Why a request gets no credential: the caller decides by this, never by err's text. */
typedef enum agw_cred_fail_e {
    AGW_CRED_OK = 0,
    AGW_CRED_NO_TOKEN,          /* no token can be had now: 503, retry after *pretry_after */
    AGW_CRED_NO_PROOF           /* a DPoP client's proof cannot be made (no target, or signing
                                 * failed): 500 */
} agw_cred_fail_e;

/* The credential a proxied request carries to the backend. */
typedef struct agw_credential_t {
    const char *authorization;  /* the Authorization value: "Bearer <token>" or "DPoP <token>" */
    const char *dpop;           /* the DPoP header's value; NULL for a Bearer client */
    agw_cred_fail_e fail;       /* AGW_CRED_OK, or why both above are NULL */
} agw_credential_t;

/* The credential for one request of client c, in one call: agw_ccstore_token's token (with its
 * waits, backoff and *pretry_after), and for a DPoP client a fresh proof of it for
 * req->method and req->target (ath the token's hash, iat the time the token was had: now plus
 * what the call waited, on the real clock when that is later). From p. Errors: APR_EAGAIN (or
 * APR_ENOMEM) with out->fail AGW_CRED_NO_TOKEN; APR_EINVAL or agw_dpopsign_proof's status
 * with out->fail AGW_CRED_NO_PROOF and err's reason ("DPoP proof: the backend URL is not
 * known" without a target). */
apr_status_t agw_ccstore_credential(agw_credential_t *out, apr_int64_t *pretry_after,
                                    agw_ccstore_t *store, const agw_client_t *c,
                                    const agw_cred_req_t *req, apr_pool_t *p, apr_int64_t now,
                                    void *log_baton, agw_err_t *err);

/* This process's state of client c at now (zeros when it never asked for a token). */
void agw_ccstore_stats(agw_ccstore_stats_t *st, agw_ccstore_t *store, const agw_client_t *c,
                       apr_pool_t *p, apr_int64_t now);

#endif
