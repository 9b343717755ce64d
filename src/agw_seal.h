/* Sealed records for the shared cache: AES-256-GCM under a fleet key, the cache key bound as associated data, a version byte and a key id for rotation. */
#ifndef AGW_SEAL_H
#define AGW_SEAL_H

#include <apr_pools.h>
#include "agw_err.h"

#define AGW_SEAL_VERSION      1
#define AGW_SEAL_MIN_SECRET   32   /* bytes of secret material a fleet key is made from */
#define AGW_SEAL_MAX_KEYS     2    /* the key that seals, and one older key that still opens */
/* version (1) + key id (4) + nonce (12) + tag (16) */
#define AGW_SEAL_OVERHEAD     (1 + 4 + 12 + 16)

typedef struct agw_seal_t agw_seal_t;

/* A sealer whose first key seals and whose keys all open. Each key is derived from secret
 * material with HKDF-SHA256 (RFC 5869), so two hosts with the same secret file share it.
 * Refuses material shorter than AGW_SEAL_MIN_SECRET. The key bytes are wiped by a cleanup on p. */
apr_status_t agw_seal_create(agw_seal_t **ps, apr_pool_t *p, const unsigned char *secret,
                             apr_size_t len, agw_err_t *err);

/* Adds an older key that still opens records (rotation): records it sealed stay readable
 * until they expire, new records are sealed with the first key. */
apr_status_t agw_seal_add_old(agw_seal_t *s, const unsigned char *secret, apr_size_t len,
                              agw_err_t *err);

/* A sealer with a random key, for one host whose processes inherit it (shmcb). */
apr_status_t agw_seal_create_random(agw_seal_t **ps, apr_pool_t *p, agw_err_t *err);

/* Seals data for the record named name (the cache key, bound as associated data so that a
 * record cannot be moved to another key). *pout is binary, *plen bytes, from p. */
apr_status_t agw_seal(unsigned char **pout, apr_size_t *plen, apr_pool_t *p,
                      const agw_seal_t *s, const char *name, const void *data, apr_size_t len);

/* Opens a record read under name. APR_SUCCESS with *pout NUL-terminated (from p); otherwise
 * APR_EINVAL with a reason: "record too short", "record version unknown", "record key
 * unknown", "record fails authentication". Nothing of a failed record is returned. */
apr_status_t agw_unseal(char **pout, apr_size_t *plen, apr_pool_t *p, const agw_seal_t *s,
                        const char *name, const unsigned char *rec, apr_size_t len,
                        agw_err_t *err);

#endif
