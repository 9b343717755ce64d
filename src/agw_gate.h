/* The gate: one call decides whether a request's token lets it in (caches, keys, signature, claims, sender constraint). */
#ifndef AGW_GATE_H
#define AGW_GATE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "agw_err.h"
#include "agw_jwk.h"
#include "agw_keys.h"
#include "agw_tcache.h"
#include "agw_hcache.h"
#include "agw_jws.h"
#include "agw_pkcache.h"
#include "agw_nonce.h"

#define AGW_GATE_NEGATIVE_TTL 600   /* seconds a bad signature is remembered (per set version) */

/* The gate logs AGW_MSG_UNKNOWN_KID (agw_keys.h) through g->log before an unknown-kid refetch. */

/* Auth0DPoP: whether the DPoP authorization scheme (RFC 9449) is understood */
typedef enum {
    AGW_DPOP_ALLOWED = 0,       /* DPoP and Bearer; a DPoP-bound token only with its proof */
    AGW_DPOP_OFF,               /* Bearer only (a DPoP-bound token is still refused) */
    AGW_DPOP_REQUIRED           /* DPoP-bound tokens with their proof only */
} agw_dpop_mode_e;

/* One trusted issuer of a location with several, and its key source (NULL: discovery). */
typedef struct agw_trust_t {
    const char *issuer;
    const char *jwks;
} agw_trust_t;

/* Records key until expires_at unless it is there already: APR_SUCCESS (it was not),
 * APR_EEXIST (it was), anything else when the store failed (the proof is then let on). */
typedef apr_status_t agw_gate_add_fn(void *baton, const char *key, apr_int64_t expires_at,
                                     apr_pool_t *p);

/* What one process checks tokens with, filled by the glue when the process starts and only
 * read afterwards (each part guards itself for threads). NULL parts are off. */
typedef struct agw_gate_t {
    agw_keystore_t *keys;       /* NULL: every token needing keys is UNAVAILABLE */
    agw_tcache_t *front;        /* verified tokens of this process */
    int front_capped;           /* front is a small front of the host's table (admits on the
                                 * process's own second sighting) */
    agw_tcache_t *negative;     /* tokens whose signature failed, per key set version */
    agw_hcache_t *host;         /* the host-wide table of verified tokens */
    int host_first;             /* a briefed hit of the host's table is taken before the
                                 * front is read (where it is the cheaper hit) */
    agw_pkcache_t *proofkeys;   /* DPoP proof keys imported by this process */
    const agw_nonce_t *nonces;  /* DPoP nonces (needed only with dpop_nonce) */
    agw_gate_add_fn *replay_add;    /* the shared store's add, for DPoP proofs' jti */
    void *replay_baton;
    agw_log_fn *log;
    void *log_baton;
} agw_gate_t;

/* The effective policy of one merged section, every default applied by the one function that
 * builds it. */
typedef struct agw_gate_policy_t {
    agw_alg_set_t algs;
    apr_int64_t leeway;
    const apr_array_header_t *audiences;    /* const char *; NULL: any */
    const apr_array_header_t *token_types;  /* const char *; NULL: the access token rule */
    const apr_array_header_t *trust;        /* agw_trust_t; NULL: one issuer (keys.issuer) */
    agw_keys_spec_t keys;                   /* the single issuer's source and issuer */
    const agw_jwks_t *hmac_jwks;            /* the HS* secret as a set; NULL: none */
    const unsigned char *hmac_id;           /* 32 bytes naming it; NULL: no secret */
    agw_dpop_mode_e dpop;
    int dpop_nonce;                         /* 1: proofs carry a nonce issued here */
    int user_default;                       /* 1: REMOTE_USER comes from sub (azp, client_id):
                                             * a token briefed in the host's table is accepted
                                             * without parsing its payload */
} agw_gate_policy_t;

/* What the request brings. */
typedef struct agw_gate_in_t {
    const char *token;
    apr_size_t len;
    int dpop_scheme;            /* the Authorization scheme was DPoP */
    const char *dpop;           /* with dpop_scheme: the one DPoP header, NULL: none or several */
    const char *method;         /* with dpop_scheme: the client's method and URL (htu) */
    const char *url;
    const char *used_replay;    /* the replay key this client request already used, or NULL */
    /* the TLS client certificate in PEM (NULL: none), asked only of a certificate-bound token */
    const char *(*client_cert)(void *baton);
    void *cert_baton;
    int log_payload;            /* parse a refused token's unverified payload for the log */
} agw_gate_in_t;

typedef enum {
    AGW_GATE_ACCEPT = 0,
    AGW_GATE_REFUSE,            /* err says why (kind, code, reason) */
    AGW_GATE_UNAVAILABLE,       /* no usable keys: source, retry_after, err.reason */
    AGW_GATE_ERROR              /* the token could not be hashed */
} agw_gate_outcome_e;

/* Where the signature's verdict came from, for the token cache counters. */
typedef enum {
    AGW_GATE_SERVED_NONE = 0,   /* no signature step ran */
    AGW_GATE_SERVED_FRONT,      /* this process's verified-token cache */
    AGW_GATE_SERVED_HOST,       /* the host's table (the signature check was spared) */
    AGW_GATE_SERVED_VERIFIED    /* a signature was verified (or found bad) */
} agw_gate_served_e;

typedef struct agw_gate_out_t {
    agw_gate_outcome_e outcome;
    agw_err_t err;
    json_t *claims;             /* ACCEPT: verified (NULL when lazy is set); REFUSE: the
                                 * payload when known (log) */
    agw_jws_t *lazy;            /* ACCEPT from a brief: the token, whose claims agw_jws_claims
                                 * parses when the request needs them */
    const char *user;           /* ACCEPT from a brief: REMOTE_USER's text (NULL: none) */
    const char *fp;             /* the token's fingerprint (12 hex digits) */
    const char *kid;            /* ACCEPT: the kid ("" or NULL: none), maybe in kid_buf */
    agw_alg_e alg;
    agw_gate_served_e served;
    const char *source;         /* UNAVAILABLE: the key source's name */
    apr_int64_t retry_after;
    const char *replay_key;     /* a DPoP proof's key newly recorded: the client request used it */
    int dpop_challenge;         /* 1: the refusal answers with the DPoP challenge, -1: with
                                 * Bearer's whatever came before; 0: the scheme's */
    const char *nonce;          /* a DPoP-Nonce to send, whatever the outcome */
    agw_alg_e proof_alg;        /* ACCEPT: the DPoP proof's alg, AGW_ALG_NONE: none */
    int jkt_bound, cert_bound;  /* ACCEPT: the token's cnf bindings (proved) */
    char kid_buf[AGW_TCACHE_KID_MAX + 1];   /* a cached token's kid (no allocation) */
} agw_gate_out_t;

/* The one check of a request's token at time now against pol: out says the outcome. Returns
 * APR_SUCCESS unless out->outcome is AGW_GATE_ERROR. Scratch memory and out's strings from p;
 * key sets are held until p is cleared. */
apr_status_t agw_gate_check(agw_gate_out_t *out, agw_gate_t *g, const agw_gate_policy_t *pol,
                            const agw_gate_in_t *in, apr_int64_t now, apr_pool_t *p);

#endif
