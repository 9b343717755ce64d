/* Signing with our own private keys (private_key_jwt client assertions), separate from the verification keys of peers. */
#ifndef AGW_SIGN_H
#define AGW_SIGN_H

#include <apr_pools.h>
#include "agw_err.h"
#include "agw_crypt.h"

typedef struct agw_privkey_t agw_privkey_t;

/* A private key from unencrypted PEM (PKCS#8 or traditional): RSA >= 2048 bits, EC P-256 /
 * P-384 / P-521, or Ed25519. Released by a cleanup on p. */
apr_status_t agw_privkey_load(agw_privkey_t **pkey, apr_pool_t *p, const char *pem,
                              apr_size_t len, agw_err_t *err);

/* The algorithm the key signs with by default: RS256; ES256/384/512 by curve; EdDSA. */
agw_alg_e agw_privkey_default_alg(const agw_privkey_t *key);

/* Signs data with alg (RS*, PS*, ES* as raw r||s, EdDSA); *psig from p. The alg must fit
 * the key's type and curve. */
apr_status_t agw_sign(unsigned char **psig, apr_size_t *psiglen, apr_pool_t *p, agw_alg_e alg,
                      const agw_privkey_t *key, const unsigned char *data, apr_size_t datalen,
                      agw_err_t *err);

/* The public half as a JWK with exactly the members RFC 7638 requires, in its order and
 * without whitespace ({"crv","kty","x","y"} for EC, {"e","kty","n"} for RSA, {"crv","kty","x"}
 * for Ed25519): a public JWK and its thumbprint's input at once. NULL when OpenSSL fails. */
const char *agw_privkey_public_jwk(apr_pool_t *p, const agw_privkey_t *key);

/* n cryptographically random bytes. */
apr_status_t agw_sign_random(unsigned char *buf, apr_size_t n);

#endif
