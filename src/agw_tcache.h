/* A per-process cache of verified tokens: bounded in entries and bytes, O(1) lookup and eviction, safe for threads. */
#ifndef AGW_TCACHE_H
#define AGW_TCACHE_H

#include <apr_pools.h>
#include <jansson.h>
#include "agw_crypt.h"

#define AGW_TCACHE_SHARDS 16
#define AGW_TCACHE_KID_MAX 64

typedef struct agw_tcache_t agw_tcache_t;

/* What a hit gives back: the claims (a reference released by a cleanup on the caller's
 * pool), the algorithm and key that verified the token, and the key set version then. */
typedef struct agw_tcache_hit_t {
    json_t *claims;
    agw_alg_e alg;
    char kid[AGW_TCACHE_KID_MAX + 1];   /* "" when the token had no kid (for logs) */
    unsigned char key[32];              /* thumbprint of the key that verified it */
    unsigned long version;
} agw_tcache_hit_t;

/* flags for agw_tcache_create: a token is cached only when it is put a second time while
 * the first put is still remembered (see admitted() in agw_tcache.c). */
#define AGW_TCACHE_ADMIT_SECOND 1u

/* max_entries == 0 means no cache (create returns NULL); max_bytes bounds the sum of the
 * cached tokens' lengths (their claims cost about as much). Memory comes from p. */
agw_tcache_t *agw_tcache_create(apr_pool_t *p, unsigned int max_entries, apr_size_t max_bytes,
                                unsigned int flags);

/* Looks up the token whose SHA-256 is digest, verified against the key source source (32
 * bytes naming it: a JWKS source or an HMAC secret). Misses when absent, when its source
 * differs, or when now >= exp + leeway (the entry is then dropped). */
int agw_tcache_get(agw_tcache_t *tc, const unsigned char digest[32],
                   const unsigned char source[32], apr_int64_t now, apr_int64_t leeway,
                   apr_pool_t *p, agw_tcache_hit_t *hit);

/* Remembers a verified token (takes its own reference to claims, which may be NULL). key is
 * the thumbprint of the key that verified it (NULL: none), by which a later key set is asked
 * whether that key is still there (a kid may be reused for other key material). exp is the
 * token's exp; cost is the token's length. Evicts the least recently used entries to stay
 * in bounds. */
void agw_tcache_put(agw_tcache_t *tc, const unsigned char digest[32],
                    const unsigned char source[32], json_t *claims, agw_alg_e alg,
                    const char *kid, const unsigned char *key, unsigned long version,
                    apr_int64_t exp, apr_size_t cost);

/* The same for a token the host has already seen twice (the host-wide table had it): stored
 * at once, without waiting for a second sighting in this process. */
void agw_tcache_put_admitted(agw_tcache_t *tc, const unsigned char digest[32],
                             const unsigned char source[32], json_t *claims, agw_alg_e alg,
                             const char *kid, const unsigned char *key, unsigned long version,
                             apr_int64_t exp, apr_size_t cost);

/* Records that the entry's key is still in the set of a newer version. */
void agw_tcache_touch_version(agw_tcache_t *tc, const unsigned char digest[32],
                              unsigned long version);

/* Forgets one token (its key left the key set). */
void agw_tcache_drop(agw_tcache_t *tc, const unsigned char digest[32]);

typedef struct agw_tcache_stats_t {
    unsigned long hits, misses, evictions, entries;
    unsigned long deferred;             /* puts not admitted (first sightings) */
    apr_size_t bytes;
} agw_tcache_stats_t;
void agw_tcache_stats(agw_tcache_t *tc, agw_tcache_stats_t *st);

#endif
