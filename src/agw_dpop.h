/* Sender-constrained tokens at the gate: DPoP proof verification (RFC 9449) and the token's cnf binding to a proof key or a TLS client certificate (RFC 8705). */
#ifndef AGW_DPOP_H
#define AGW_DPOP_H

#include <apr_pools.h>
#include <jansson.h>
#include "agw_err.h"
#include "agw_crypt.h"
#include "agw_pkcache.h"

#define AGW_E_INVALID_DPOP_PROOF "invalid_dpop_proof"  /* RFC 9449 section 7.1 */

#define AGW_DPOP_MAX_BYTES (8 * 1024)   /* a larger proof is refused before any decoding */
#define AGW_DPOP_JTI_MAX   256          /* a longer jti is refused */
#define AGW_DPOP_WINDOW    60           /* seconds a proof's iat may lie in the past (+ leeway) */

/* The algorithms a proof may use: asymmetric only (ES*, RS*, PS*, EdDSA), never HS* or none. */
agw_alg_set_t agw_dpop_algs(void);
/* Their names, space-separated, for the challenge's algs="...": from p. */
const char *agw_dpop_alg_names(apr_pool_t *p);

/* What the proof must fit: the request as the server received it. */
typedef struct agw_dpop_req_t {
    const char *method;         /* the request method, compared exactly (case-sensitive) */
    const char *url;            /* the absolute request URI without query: scheme://host[:port]/path */
    const char *token;          /* the access token (ath); NULL: no ath is checked */
    apr_size_t token_len;
    apr_int64_t now;
    apr_int64_t window;         /* <= 0: AGW_DPOP_WINDOW */
    apr_int64_t leeway;         /* clock skew, both directions */
    agw_pkcache_t *keys;        /* proof keys imported before (agw_pkcache_jwk); NULL: each
                                 * proof's jwk is imported anew */
} agw_dpop_req_t;

/* A proof that verified. */
typedef struct agw_dpop_t {
    unsigned char jkt[32];      /* RFC 7638 SHA-256 thumbprint of the proof's jwk */
    const char *jti;
    apr_int64_t iat;
    apr_int64_t replay_until;   /* after this time the proof would be refused anyway (iat) */
    const char *nonce;          /* the nonce claim when a string (RFC 9449 section 8), else NULL;
                                 * checked by the caller (agw_nonce_check) when it issues nonces */
    agw_alg_e alg;
} agw_dpop_t;

/* Verifies one DPoP proof (the DPoP header's value) against req. A compact JWS of at most
 * AGW_DPOP_MAX_BYTES; header typ exactly "dpop+jwt", alg in agw_dpop_algs(), a jwk member
 * holding a public key only (d, p, q, dp, dq, qi, oth or k present: refused) whose kty and
 * curve fit alg and which verifies the signature; payload (parsed only after the signature
 * verified): htm equals req->method, htu equals req->url (agw_dpop_htu_match), iat an integer
 * no more than window + leeway seconds old nor more than leeway ahead, jti a non-empty string
 * of at most AGW_DPOP_JTI_MAX bytes, ath (when req->token) equals base64url(SHA-256(token)).
 * Errors: APR_EINVAL, err code invalid_dpop_proof, kind AGW_R_DPOP, reasons such as "DPoP
 * proof too large", "DPoP proof typ is not dpop+jwt", "DPoP proof alg not allowed", "DPoP
 * proof jwk missing", "DPoP proof jwk holds a private key", "DPoP proof jwk: <agw_jwk_parse's
 * reason>", "DPoP proof <agw_jws reason>", "DPoP proof htm does not match the request",
 * "DPoP proof htu does not match the request", "DPoP proof iat missing", "DPoP proof is too
 * old", "DPoP proof iat is in the future", "DPoP proof jti missing", "DPoP proof jti too
 * long", "DPoP proof ath missing", "DPoP proof ath does not match the token". */
apr_status_t agw_dpop_verify(agw_dpop_t **pproof, apr_pool_t *p, const char *proof,
                             apr_size_t len, const agw_dpop_req_t *req, agw_err_t *err);

/* 1 when htu names url: scheme and host compared case-insensitively, a default port
 * (http 80, https 443) the same as none, an empty path the same as "/", the path exactly.
 * An htu with a query, a fragment or userinfo, or that is not http(s), never matches. */
int agw_dpop_htu_match(const char *htu, const char *url);

/* The shared-cache key that remembers a proof's jti for replay detection:
 * "dpop-jti:" + hex SHA-256(jkt || jti); NULL when hashing failed. From p. */
const char *agw_dpop_replay_key(apr_pool_t *p, const agw_dpop_t *proof);

/* What a token's cnf claim binds it to (RFC 7800, RFC 9449 section 6, RFC 8705 3.1). */
typedef struct agw_cnf_t {
    const char *jkt;            /* cnf.jkt, NULL when absent */
    const char *x5t_s256;       /* cnf["x5t#S256"], NULL when absent */
} agw_cnf_t;

/* Reads claims' cnf. No cnf: both NULL, APR_SUCCESS. A cnf that is not an object, a jkt or
 * x5t#S256 that is not a string: APR_EINVAL, kind AGW_R_BINDING, code invalid_token
 * ("cnf is not an object", "cnf.jkt is not a string", "cnf x5t#S256 is not a string"). */
apr_status_t agw_cnf_read(agw_cnf_t *cnf, const json_t *claims, agw_err_t *err);

/* cnf.jkt against a verified proof, in constant time: APR_SUCCESS or APR_EINVAL (kind
 * AGW_R_BINDING, code invalid_token, "token is bound to another DPoP key"). */
apr_status_t agw_cnf_jkt_check(const char *jkt, const agw_dpop_t *proof, agw_err_t *err);

/* cnf x5t#S256 against a client certificate in PEM (NULL: none was presented): its DER's
 * SHA-256, base64url, compared in constant time. APR_EINVAL, kind AGW_R_BINDING, code
 * invalid_token: "token is bound to a client certificate and none was presented", "client
 * certificate unreadable", "token is bound to another client certificate". */
apr_status_t agw_cnf_x5t_check(const char *x5t_s256, const char *cert_pem, apr_pool_t *p,
                               agw_err_t *err);

#endif
