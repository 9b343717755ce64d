/* JWK and JWK Set parsing into verification keys (RFC 7517, RFC 7518 section 6, RFC 8037). */
#ifndef AGW_JWK_H
#define AGW_JWK_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "agw_err.h"
#include "agw_crypt.h"

#define AGW_JWKS_MAX_BYTES (256 * 1024)  /* a JWKS document larger than this is refused */
#define AGW_JWKS_MAX_KEYS  64            /* keys beyond this many are skipped */

typedef struct agw_jwk_t {
    const char *kid;            /* NULL when absent */
    const char *x5t;            /* NULL when absent (base64url SHA-1 thumbprint, compared as text) */
    agw_kty_e kty;
    agw_alg_e alg;              /* AGW_ALG_NONE when the JWK has no "alg" */
    const char *crv;            /* EC / OKP curve name; NULL otherwise */
    int bits;                   /* RSA modulus bits, EC field bits, 256 for Ed25519, 8*len for oct */
    agw_pkey_t *pkey;           /* RSA / EC / OKP */
    const unsigned char *secret;/* oct only */
    apr_size_t secret_len;
    unsigned char thumbprint[32];/* RFC 7638 SHA-256 thumbprint of the public key (oct: a
                                  * SHA-256 of the secret): names the key material, not the
                                  * kid, wherever a key must be recognised again */
} agw_jwk_t;

/* Whether a key (its thumbprint, kid or NULL, kty and the JWK's alg) is the one a cached token
 * was verified with: the same key material under the same kid (kid "" for none), of alg's key
 * type, and not naming another alg. The one rule of every cache that recognises a key again. */
int agw_jwk_is_key(const unsigned char key_thumbprint[32], const char *key_kid,
                   agw_kty_e key_kty, agw_alg_e key_alg, const unsigned char thumbprint[32],
                   const char *kid, agw_alg_e alg);

typedef struct agw_jwks_t {
    apr_array_header_t *keys;    /* agw_jwk_t *: the usable keys, in document order */
    apr_array_header_t *skipped; /* const char *: one line per unusable key, e.g.
                                  * "key #2 (kid abc): use is not sig" (keys count from 1;
                                  * the kid is quoted printable-only, at most 64 chars) */
} agw_jwks_t;

/* One JWK object (a json_t * object) to a key. Refuses: missing/unknown kty, "use" present
 * and not "sig", "key_ops" present without "verify", "alg" present and unknown or not fitting
 * kty/curve, bad or missing parameters, RSA under 2048 bits, EC point not on curve, private
 * members are ignored (never required). kid/x5t must be strings when present.
 * Reasons (code invalid_token): "JWK is not an object", "kty missing", "kty is not a string",
 * "kty not supported", "kid is not a string", "x5t is not a string", "use is not a string",
 * "use is not sig", "key_ops is not an array", "key_ops is not an array of strings",
 * "key_ops lacks verify", "crv is not a string", "alg is not a string", "alg unknown"
 * ("none" included), "alg does not fit kty", "alg does not fit crv", "RSA n missing or not
 * base64url" (likewise e; EC x, y; OKP x; oct k), "EC crv missing", "OKP crv missing",
 * "oct k is empty", and those of agw_pkey_rsa / agw_pkey_ec / agw_pkey_okp. */
apr_status_t agw_jwk_parse(agw_jwk_t **pjwk, apr_pool_t *p, const void *json_object,
                           agw_err_t *err);

/* What agw_jwk_parse checks before it imports the key material (kty, kid, x5t, use, key_ops,
 * crv, alg and their fit), with the same refusals in the same order. Fills jwk's kty, kid,
 * x5t, alg and crv (as written; NULL unless EC or OKP), zeroes the rest; imports nothing. */
apr_status_t agw_jwk_check(agw_jwk_t *jwk, const void *json_object, agw_err_t *err);

/* The RFC 7638 thumbprint of a JWK object from its required members as written, before any
 * import (what names an imported key in a cache). APR_EINVAL, nothing hashed, unless kty is
 * RSA, EC or OKP and each required member (e n; crv x y; crv x) is a non-empty string of
 * base64url characters only: the hashed text then names their values unambiguously. For a
 * key agw_jwk_parse accepts, the same as its jwk->thumbprint. APR_EGENERAL: hashing failed. */
apr_status_t agw_jwk_thumbprint_of(unsigned char out[32], apr_pool_t *p,
                                   const void *json_object);

/* A JWK Set document: must be a JSON object with a "keys" array (limits of agw_json_parse
 * apply, plus AGW_JWKS_MAX_BYTES). Unusable keys are listed in skipped, not fatal.
 * A set with zero usable keys is still APR_SUCCESS (the caller decides).
 * oct keys are skipped ("symmetric key in a key set"): a key set is published, so a secret
 * in it is no secret; HMAC keys come only from agw_jwks_from_secret. Usable keys of the same
 * type (kty and curve) that share a kid but differ in key material (RFC 7638 thumbprint) are
 * all skipped ("kid K: another key of the same type has the same kid: none of them is used"). Errors have code NULL and reasons "JWKS too large",
 * "JWKS is not a JSON object", "JWKS has no keys array" or agw_json_parse's. */
apr_status_t agw_jwks_parse(agw_jwks_t **pjwks, apr_pool_t *p, const char *text,
                            apr_size_t len, agw_err_t *err);

/* A one-key set holding a copy of a shared secret (kty oct, no kid) for HS*
 * verification. A secret shorter than the hash output is kept but refused at verify time
 * (RFC 7518 3.2). */
agw_jwks_t *agw_jwks_from_secret(apr_pool_t *p, const unsigned char *secret, apr_size_t len);

#endif
