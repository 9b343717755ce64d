/* A per-process cache of imported DPoP proof keys: a client signs all its proofs with one key, so its jwk is imported once, not on every request; bounded, safe for threads. */
#ifndef AGW_PKCACHE_H
#define AGW_PKCACHE_H

#include <apr_pools.h>
#include "agw_err.h"
#include "agw_jwk.h"

#define AGW_PKCACHE_ENTRIES 256  /* the glue's size: about 8 KiB per key held */

typedef struct agw_pkcache_t agw_pkcache_t;

/* max_entries == 0 means no cache (NULL). The table and its lock come from p; each key lives
 * in a pool of its own, freed when the table and every request have let go of it. */
agw_pkcache_t *agw_pkcache_create(apr_pool_t *p, unsigned int max_entries);

/* agw_jwk_parse of one JWK object with the import shared: agw_jwk_check runs on every call
 * (same refusals, same order); then a key whose agw_jwk_thumbprint_of (its required members
 * as written) is in the cache is taken from there, else it is imported and remembered (the
 * least recently used key leaves when the cache is full). Only keys that imported are
 * remembered, so a refusal always comes from agw_jwk_parse itself. The jwk returned is p's
 * own (kid, x5t and alg from json_object); its pkey is shared and held until p is cleared.
 * pc NULL, or an object without a thumbprint (oct, a member not base64url): agw_jwk_parse. */
apr_status_t agw_pkcache_jwk(agw_jwk_t **pjwk, agw_pkcache_t *pc, apr_pool_t *p,
                             const void *json_object, agw_err_t *err);

typedef struct agw_pkcache_stats_t {
    unsigned long hits, misses, evictions, entries;
} agw_pkcache_stats_t;
void agw_pkcache_stats(agw_pkcache_t *pc, agw_pkcache_stats_t *st);

#endif
