/* DPoP proofs (RFC 9449) signed with the gateway's own key: for its token requests and for every proxied request. */
#ifndef AGW_DPOPSIGN_H
#define AGW_DPOPSIGN_H

#include <apr_pools.h>
#include "agw_err.h"
#include "agw_crypt.h"
#include "agw_sign.h"

#define AGW_DPOPSIGN_MAX_NONCE 512  /* a server nonce longer than this is not used */

/* A proof key: the private key, its algorithm, its public JWK and thumbprint, made once.
 * Read-only after loading: any number of threads sign with it at once, without a lock (each
 * signature has its own OpenSSL context). */
typedef struct agw_dpopsign_key_t agw_dpopsign_key_t;

/* Loads an unencrypted PEM private key: EC P-256 (ES256), Ed25519 (EdDSA) or RSA of at least
 * 2048 bits (RS256, or PS256 when alg says so). alg AGW_ALG_NONE: the key's default. Other
 * keys and algorithms are refused: "EC key not on P-256 (DPoP proofs use ES256)", "alg
 * does not fit the key (EC P-256: ES256; Ed25519: EdDSA; RSA: RS256 or PS256)", or those of
 * agw_privkey_load. Released with p. */
apr_status_t agw_dpopsign_load(agw_dpopsign_key_t **pkey, apr_pool_t *p, const char *pem,
                               apr_size_t len, agw_alg_e alg, agw_err_t *err);

agw_alg_e agw_dpopsign_alg(const agw_dpopsign_key_t *key);
/* The public JWK (RFC 7638 members only, no private member) as JSON text. */
const char *agw_dpopsign_jwk(const agw_dpopsign_key_t *key);
/* The RFC 7638 SHA-256 thumbprint, base64url: what a bound token's cnf.jkt holds. */
const char *agw_dpopsign_jkt(const agw_dpopsign_key_t *key);

/* htu of a request URL: the URL without its query and fragment, from p. */
const char *agw_dpopsign_htu(apr_pool_t *p, const char *url);

/* RFC 9449 section 4.2 nonce syntax (1*NQCHAR), at most AGW_DPOPSIGN_MAX_NONCE bytes. */
int agw_dpopsign_nonce_ok(const char *nonce);

/* A proof JWT: header {typ dpop+jwt, alg, jwk}, payload {jti (128 random bits), htm: method,
 * htu: agw_dpopsign_htu(url), iat: now, ath: base64url(SHA-256(access_token)) when
 * access_token is not NULL, nonce when not NULL (refused unless agw_dpopsign_nonce_ok)}.
 * *pproof from p. */
apr_status_t agw_dpopsign_proof(const char **pproof, apr_pool_t *p,
                                const agw_dpopsign_key_t *key, const char *method,
                                const char *url, const char *access_token, const char *nonce,
                                apr_int64_t now, agw_err_t *err);

#endif
