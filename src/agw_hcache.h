/* A host-wide table of verified tokens in memory shared by the host's processes: fixed slots read under seqlocks, no lock on any path. */
#ifndef AGW_HCACHE_H
#define AGW_HCACHE_H

#include <apr_pools.h>
#include "agw_crypt.h"
#include "agw_jwt.h"

#define AGW_HCACHE_KID_MAX 64

/* The alignment a region should have (a page): a bucket is 2 KiB and then lies within one page,
 * so that a look-up reads one page of the table (any 8-byte alignment works, more slowly). */
#define AGW_HCACHE_ALIGN 4096

/* The table lives in a region the caller maps before its processes fork (so that only they
 * see it) and zeroes; the handle is the region itself and holds no pointer, so that it means
 * the same in every process. */
typedef struct agw_hcache_t agw_hcache_t;

/* What the table knows of a token: the exact token bytes (their SHA-256) had a good signature
 * by the key with this RFC 7638 thumbprint, from the key source named by source. */
typedef struct agw_hcache_hit_t {
    agw_alg_e alg;
    char kid[AGW_HCACHE_KID_MAX + 1];   /* "" when the token had no kid */
    unsigned char key[32];
    apr_int64_t exp;
    int briefed;                        /* the caller's brief was filled */
} agw_hcache_hit_t;

/* The bytes a table of entries entries needs (0 for entries == 0). */
apr_size_t agw_hcache_bytes(unsigned int entries);

/* Formats a zeroed region of agw_hcache_bytes(entries) bytes (only its header is written:
 * untouched pages of a fresh mapping cost no memory), or takes over one formatted before
 * with the same entries and layout (a graceful restart keeps the host's verified tokens).
 * NULL when size is too small, or the region holds a table of another size or of another
 * layout (an older module's): the caller then needs a new, zeroed region. */
agw_hcache_t *agw_hcache_init(void *region, apr_size_t size, unsigned int entries);

/* A hit (1) when the token whose SHA-256 is digest was verified against source's keys and
 * now < exp + leeway; 0 otherwise (also when its slot is being written at this moment).
 * With brief not NULL, the brief of its claims stored with it is copied there in the same
 * consistent read (hit->briefed says whether there was one). */
int agw_hcache_get(agw_hcache_t *hc, const unsigned char digest[32],
                   const unsigned char source[32], apr_int64_t now, apr_int64_t leeway,
                   agw_hcache_hit_t *hit, agw_jwt_brief_t *brief);

typedef int (*agw_hcache_brief_fn)(agw_jwt_brief_t *out, void *baton);

/* Remembers a verified token. A token is stored only when it is put a second time (by any
 * process) while its first put is still remembered: one-shot tokens evict nothing. A kid
 * longer than AGW_HCACHE_KID_MAX is not stored. brief (NULL: none) is
 * called only when the token is about to be stored, to make the brief of its claims (1) or
 * say there is none (0): a token seen once costs no brief. */
void agw_hcache_put(agw_hcache_t *hc, const unsigned char digest[32],
                    const unsigned char source[32], agw_alg_e alg, const char *kid,
                    const unsigned char key[32], apr_int64_t exp, apr_int64_t now,
                    agw_hcache_brief_fn brief, void *baton);

typedef struct agw_hcache_stats_t {
    unsigned long entries, capacity, stored, deferred, evictions, busy;
} agw_hcache_stats_t;
void agw_hcache_stats(const agw_hcache_t *hc, agw_hcache_stats_t *st);

#endif
