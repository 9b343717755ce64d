/* Stateless DPoP nonces (RFC 9449 sections 8 and 9): a time slot and its HMAC under a key that every process, and with a shared secret every host, derives alike. */
#ifndef AGW_NONCE_H
#define AGW_NONCE_H

#include <apr_pools.h>
#include "agw_err.h"

#define AGW_E_USE_DPOP_NONCE "use_dpop_nonce"   /* RFC 9449 sections 8 and 9 */

#define AGW_NONCE_SLOT       300   /* seconds of one slot: a new nonce is issued each slot */
#define AGW_NONCE_MIN_SECRET 32    /* bytes of secret material a nonce key is made from */
#define AGW_NONCE_MAX_KEYS   2     /* the key that issues, and one older key still accepted */
#define AGW_NONCE_CHARS      32    /* base64url of an 8-byte slot and a 16-byte MAC */

typedef struct agw_nonce_t agw_nonce_t;

/* A nonce maker whose first key issues and whose keys all check. Each key is derived from
 * secret material with HKDF-SHA256 (a salt and label of its own, so it is never the cache's
 * sealing key), so two hosts with the same secret issue and accept the same nonces. Refuses
 * material shorter than AGW_NONCE_MIN_SECRET. The key bytes are wiped by a cleanup on p. */
apr_status_t agw_nonce_create(agw_nonce_t **pn, apr_pool_t *p, const unsigned char *secret,
                              apr_size_t len, agw_err_t *err);

/* Adds an older key whose nonces are still accepted (rotation of the secret). */
apr_status_t agw_nonce_add_old(agw_nonce_t *n, const unsigned char *secret, apr_size_t len,
                               agw_err_t *err);

/* The nonce for now: base64url(slot || HMAC-SHA256(key, "dpop-nonce" || slot)[0..16]) with
 * slot = floor(now / AGW_NONCE_SLOT) as 8 big-endian bytes; AGW_NONCE_CHARS characters, the
 * same in every process holding the key for the whole slot. From p; NULL when HMAC failed. */
const char *agw_nonce_make(apr_pool_t *p, const agw_nonce_t *n, apr_int64_t now);

/* A nonce a client sent against now: accepted when it is exactly AGW_NONCE_CHARS base64url
 * characters, its MAC is that of one of n's keys (compared in constant time), and its slot is
 * the current one, the previous one, or the next one when that begins within skew seconds
 * (clocks of a fleet). APR_SUCCESS, or APR_EINVAL with code use_dpop_nonce, kind AGW_R_DPOP
 * and reason "DPoP proof nonce missing" (nonce NULL or empty), "DPoP proof nonce malformed",
 * "DPoP proof nonce was not issued here", "DPoP proof nonce expired" (only said of a nonce
 * whose MAC holds). Scratch memory from p. */
apr_status_t agw_nonce_check(const agw_nonce_t *n, apr_pool_t *p, const char *nonce,
                             apr_int64_t now, apr_int64_t skew, agw_err_t *err);

#endif
