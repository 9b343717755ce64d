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
    json_t *payload;                /* the claims object (owned by the pool); NULL until
                                     * agw_jws_claims parsed it */
    unsigned char *payload_raw;     /* the payload's decoded bytes, not yet parsed */
    apr_size_t payload_raw_len;
    const char *payload_b64;        /* agw_jws_decode_verified: the payload segment, decoded
                                     * by agw_jws_claims (payload_raw NULL until then) */
    apr_size_t payload_b64_len;
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
 * present; jwk/jku/x5u/x5c are ignored. Payload must be a JSON object. Signature must be
 * non-empty. Does not verify. Reasons (code invalid_token): "token empty", "token too large",
 * "token is not three segments", "signature missing", "signature is not base64url",
 * "header is not base64url", "header JSON: ..." (agw_json_parse's reason after "JSON: "),
 * "header is not a JSON object", "alg missing", "alg is not a string", "alg none refused",
 * "alg unknown", "crit not supported", "kid is not a string", "x5t is not a string",
 * "typ is not a string", and the same "payload ..." forms. */
apr_status_t agw_jws_decode(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                            apr_size_t len, apr_size_t max_len, agw_err_t *err);

/* agw_jws_decode without parsing the payload's JSON (its base64url is checked): the gate
 * verifies the signature first, so that bytes nobody signed never reach the JSON parser and a
 * flood of bad signatures costs no parsing. agw_jws_claims then parses the payload (once; its
 * reasons are agw_jws_decode's "payload ..." ones). */
apr_status_t agw_jws_decode_header(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                                   apr_size_t len, apr_size_t max_len, agw_err_t *err);
apr_status_t agw_jws_claims(agw_jws_t *jws, apr_pool_t *p, agw_err_t *err);

/* A token whose exact bytes a process of this host verified before (the host's table found
 * its SHA-256): only the three segments are split (the payload is decoded by agw_jws_claims,
 * if anything asks for the claims); the header, checked then, is not parsed again. alg and kid come from that check; typ is left
 * NULL, which is why the table holds only tokens that pass the default typ rule. Reasons are
 * agw_jws_decode_header's. */
apr_status_t agw_jws_decode_verified(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                                     apr_size_t len, agw_alg_e alg, const char *kid,
                                     agw_err_t *err);

/* Verifies jws against keys: alg must be in allowed; candidate keys are those whose kid equals
 * the header's kid (all keys when the header has no kid; when no key has the header's kid,
 * the keys without a kid, such as agw_jwks_from_secret's), whose x5t matches when both have
 * one, whose kty (and curve) fit the alg, and whose own "alg", when present, equals it.
 * Candidates are tried in set order. Returns APR_SUCCESS (jws->key set), APR_NOTFOUND with
 * reason "unknown key" when there is no key with the header's kid and none without a kid, or
 * the set is empty (the caller may refresh the set and retry), or APR_EINVAL: "alg not
 * allowed"; when keys were selected but none fits, the furthest-reaching mismatch among "x5t
 * does not match key", "key type does not match alg", "key curve does not match alg", "key
 * alg does not match token alg"; when candidates fail the signature check, the first one's
 * agw_crypt_verify reason ("signature invalid", "bad ECDSA signature length", ...). */
apr_status_t agw_jws_verify(agw_jws_t *jws, const agw_jwks_t *keys, agw_alg_set_t allowed,
                            agw_err_t *err);

#endif
