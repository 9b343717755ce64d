/* OpenSSL for verification: algorithms, public-key import, signature verify, hashes (signing with our own keys is agw_sign.c). */
#ifndef AGW_CRYPT_H
#define AGW_CRYPT_H

#include <apr_pools.h>
#include "agw_err.h"

typedef enum {
    AGW_ALG_NONE = 0,               /* not an algorithm: "absent" / "unknown" */
    AGW_ALG_RS256, AGW_ALG_RS384, AGW_ALG_RS512,
    AGW_ALG_PS256, AGW_ALG_PS384, AGW_ALG_PS512,
    AGW_ALG_ES256, AGW_ALG_ES384, AGW_ALG_ES512,
    AGW_ALG_EDDSA,
    AGW_ALG_HS256, AGW_ALG_HS384, AGW_ALG_HS512,
    AGW_ALG_COUNT
} agw_alg_e;

/* A set of algorithms as a bit mask: bit (1u << alg). */
typedef unsigned int agw_alg_set_t;
#define AGW_ALG_BIT(a) (1u << (unsigned)(a))

typedef enum {
    AGW_KTY_NONE = 0, AGW_KTY_RSA, AGW_KTY_EC, AGW_KTY_OKP, AGW_KTY_OCT
} agw_kty_e;

/* Exact, case-sensitive JOSE name ("RS256", "EdDSA"); AGW_ALG_NONE for anything else,
 * including "none" in any casing. len may be (apr_size_t)-1 for NUL-terminated. */
agw_alg_e agw_alg_from_name(const char *name, apr_size_t len);
const char *agw_alg_name(agw_alg_e alg);
/* The key type an algorithm needs (RS and PS: RSA; ES: EC; EdDSA: OKP; HS: oct). */
agw_kty_e agw_alg_kty(agw_alg_e alg);
/* For ES*: the curve it requires ("P-256", "P-384", "P-521"); NULL otherwise. */
const char *agw_alg_curve(agw_alg_e alg);

/* An imported public key (RSA, EC or Ed25519), released by a cleanup on its pool. One key
 * may be used by many threads at once in agw_crypt_verify (it caches a prepared OpenSSL
 * context per algorithm under its own lock). */
typedef struct agw_pkey_t agw_pkey_t;

/* RSA from big-endian modulus and exponent (leading zero octets tolerated); refuses < 2048
 * bits, > 16384 bits, an even modulus, an even exponent, e < 3 or e over 64 bits. Reasons:
 * "RSA key under 2048 bits", "RSA key too large", "RSA modulus invalid",
 * "RSA exponent invalid", "RSA key rejected" (OpenSSL refused the import). */
apr_status_t agw_pkey_rsa(agw_pkey_t **pkey, apr_pool_t *p,
                          const unsigned char *n, apr_size_t nlen,
                          const unsigned char *e, apr_size_t elen, agw_err_t *err);
/* EC from curve name ("P-256" "P-384" "P-521") and affine coordinates, each exactly the
 * field size; refuses points not on the curve. Reasons: "EC curve not supported",
 * "EC coordinate length invalid", "EC point not on curve". */
apr_status_t agw_pkey_ec(agw_pkey_t **pkey, apr_pool_t *p, const char *crv,
                         const unsigned char *x, apr_size_t xlen,
                         const unsigned char *y, apr_size_t ylen, agw_err_t *err);
/* OKP: only crv "Ed25519" with a 32-byte x. Reasons: "OKP curve not supported",
 * "Ed25519 key length invalid", "Ed25519 key rejected". */
apr_status_t agw_pkey_okp(agw_pkey_t **pkey, apr_pool_t *p, const char *crv,
                          const unsigned char *x, apr_size_t xlen, agw_err_t *err);

agw_kty_e agw_pkey_kty(const agw_pkey_t *pkey);
int agw_pkey_bits(const agw_pkey_t *pkey);
/* "P-256" / "P-384" / "P-521" / "Ed25519", or NULL for RSA. */
const char *agw_pkey_curve(const agw_pkey_t *pkey);

/* Verifies sig over data with alg. For RS/PS/ES/EdDSA, key must be a pkey of the matching
 * type (and curve); for HS*, secret/secretlen is the shared key (key must be NULL: a public
 * key never keys an HMAC) and the MAC is compared in constant time. ES* signatures must be
 * raw r||s of exactly 2 * field size bytes (r, s in [1, n-1]); RS* and PS* signatures exactly
 * the modulus length; PS* use MGF1 with the same hash and a salt as long as the hash.
 * Returns APR_SUCCESS or APR_EINVAL with err reason "signature invalid" or a more specific
 * one: "alg not supported", "key type does not match alg", "key curve does not match alg",
 * "bad ECDSA signature length", "HMAC key too short for alg" (RFC 7518 3.2: the secret must
 * be at least as long as the hash output). */
apr_status_t agw_crypt_verify(agw_alg_e alg, const agw_pkey_t *key,
                              const unsigned char *secret, apr_size_t secretlen,
                              const unsigned char *data, apr_size_t datalen,
                              const unsigned char *sig, apr_size_t siglen, agw_err_t *err);

/* Constant-time equality of two buffers of the same length: 1 equal, 0 not. */
int agw_crypt_memeq(const void *a, const void *b, apr_size_t len);

/* SHA-256 of data into out. APR_SUCCESS, or APR_EGENERAL when libcrypto failed: out is then
 * all zero and must not be used (never as a cache key: every failure would share it). */
apr_status_t agw_crypt_sha256(unsigned char out[32], const void *data, apr_size_t len)
    __attribute__((warn_unused_result));

/* HMAC-SHA256 of data under key into out. APR_SUCCESS, or APR_EGENERAL when libcrypto failed
 * (out is then all zero and must not be used). */
apr_status_t agw_crypt_hmac_sha256(unsigned char out[32], const unsigned char *key,
                                   apr_size_t keylen, const void *data, apr_size_t len)
    __attribute__((warn_unused_result));

/* HKDF-SHA256 (RFC 5869): outlen bytes of key material from secret, salt and info (both
 * NUL-terminated labels). APR_SUCCESS, or APR_EGENERAL (out then wiped). */
apr_status_t agw_crypt_hkdf_sha256(unsigned char *out, apr_size_t outlen,
                                   const unsigned char *secret, apr_size_t len,
                                   const char *salt, const char *info)
    __attribute__((warn_unused_result));

/* A short fingerprint for logs: the first 12 hex digits of SHA-256(data), from p; "-" when
 * the hash failed. */
char *agw_crypt_fingerprint(apr_pool_t *p, const void *data, apr_size_t len);

/* Frees the digests and the MAC fetched once per process; the next use fetches them again.
 * Only when nothing else uses this module's crypto (httpd: when its configuration pool is
 * cleared, before the module is unloaded: what a static held would otherwise be lost). */
void agw_crypt_release(void);

/* For a server: OpenSSL set up without its exit handler (OPENSSL_INIT_NO_ATEXIT), so that
 * a process that ends (every child at a graceful restart) does not spend its last
 * milliseconds freeing OpenSSL's tables one by one: the kernel takes them back. Effective
 * only as the process's first use of OpenSSL (else a no-op). */
void agw_crypt_init_no_atexit(void);

/* For a server's parent, before it forks: OpenSSL's per-process tables (names, fetched
 * implementations, EC groups) built once, by throwaway imports and failing verifies of every
 * key type and algorithm family, an HMAC, an HKDF and an AES-256-GCM decryption, so that the
 * children inherit them instead of each building them at its first request. Keeps nothing
 * in p beyond the throwaway keys; leaves OpenSSL's error queue empty. Returns how many of its
 * 5 keys (RSA, P-256, P-384, P-521, Ed25519) were imported. */
int agw_crypt_warm(apr_pool_t *p);

/* Tests only: the next n calls of agw_crypt_sha256 fail as if libcrypto had (0: none). */
void agw_crypt_test_fail_sha256(unsigned int n);


#endif
