/* A small ring of keys derived from secret material with HKDF-SHA256: the first key is the current one, the others are older ones still accepted while a secret is rotated. */
#ifndef AGW_KEYRING_H
#define AGW_KEYRING_H

#include <apr_pools.h>
#include "agw_err.h"

#define AGW_KEYRING_MAX       2    /* the current key and one older key */
#define AGW_KEYRING_KEY_MAX   64   /* bytes derived for one key, at most */

/* What a ring's keys are for. The HKDF salt and info name the purpose, so that two rings of
 * different purposes never hold the same key even when made from the same secret. */
typedef struct agw_keyring_spec_t {
    apr_size_t key_bytes;   /* bytes derived per key, 1..AGW_KEYRING_KEY_MAX */
    apr_size_t min_secret;  /* the shortest secret material accepted */
    const char *salt;       /* HKDF salt and info (RFC 5869), NUL-terminated labels */
    const char *info;
    const char *what;       /* names the keys in error reasons: "too many WHAT keys" */
} agw_keyring_spec_t;

typedef struct agw_keyring_t agw_keyring_t;

/* A ring whose one key is derived from secret (len bytes) per spec (which must outlive it).
 * Refused (APR_EINVAL, *pr NULL): secret NULL or shorter than spec->min_secret, with the
 * reason "WHAT secret shorter than N bytes"; APR_EGENERAL "cannot derive the WHAT key".
 * The key bytes are wiped by a cleanup on p. */
apr_status_t agw_keyring_create(agw_keyring_t **pr, apr_pool_t *p, const agw_keyring_spec_t *spec,
                                const unsigned char *secret, apr_size_t len, agw_err_t *err);

/* Adds an older key, derived alike; APR_EINVAL "too many WHAT keys" past AGW_KEYRING_MAX. */
apr_status_t agw_keyring_add_old(agw_keyring_t *r, const unsigned char *secret, apr_size_t len,
                                 agw_err_t *err);

/* How many keys r holds (0 when r is NULL). */
int agw_keyring_count(const agw_keyring_t *r);

/* Key i (0: the current one), spec->key_bytes bytes; NULL when there is no such key. */
const unsigned char *agw_keyring_key(const agw_keyring_t *r, int i);

#endif
