/* Compact JWS (RFC 7515) decoding and signature verification against a JWK Set. */
#ifndef AGW_JWS_H
#define AGW_JWS_H

#include <apr_pools.h>
#include <jansson.h>
#include "agw_err.h"
#include "agw_crypt.h"
#include "agw_jwk.h"

#define AGW_TOKEN_MAX_BYTES (16 * 1024)

typedef struct agw_jws_t {
    json_t *header;                 /* protected header object (owned by the pool) */
    json_t *payload;                /* the claims object (owned by the pool) */
    agw_alg_e alg;
    const char *kid;                /* NULL when absent */
    const char *x5t;                /* NULL when absent */
    const char *typ;                /* NULL when absent */
    const char *signing_input;      /* points into the token: "header.payload" */
    apr_size_t signing_input_len;
    unsigned char *sig;
    apr_size_t sig_len;
    const agw_jwk_t *key;           /* set by agw_jws_verify on success */
} agw_jws_t;

/* Splits and decodes a compact JWS: exactly three segments, strict base64url, header and
 * payload JSON objects under agw_json_parse's limits, len <= max_len (0: AGW_TOKEN_MAX_BYTES).
 * Header: "alg" must be a string naming a known algorithm ("none" in any casing refused),
 * "crit" present is refused (we understand no extensions), kid/x5t/typ must be strings when
 * present. Payload must be a JSON object. Signature must be non-empty. Does not verify. */
apr_status_t agw_jws_decode(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                            apr_size_t len, apr_size_t max_len, agw_err_t *err);

/* Verifies jws against keys: alg must be in allowed; candidate keys are those whose kid equals
 * the header's kid (all keys when the header has no kid), whose x5t matches when both have
 * one, whose kty (and curve) fit the alg, and whose own "alg", when present, equals it.
 * Returns APR_SUCCESS (jws->key set), APR_NOTFOUND with reason "unknown key" when no key has
 * the header's kid (the caller may refresh the set and retry), or APR_EINVAL. */
apr_status_t agw_jws_verify(agw_jws_t *jws, const agw_jwks_t *keys, agw_alg_set_t allowed,
                            agw_err_t *err);

#endif
