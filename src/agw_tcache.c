/* A per-process cache of verified tokens: bounded in entries and bytes, O(1) lookup and eviction, safe for threads. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <apr_thread_mutex.h>

#include "agw_tcache.h"

/* Entries live in a fixed array per shard; free ones are chained through lru_next. */
typedef struct entry_t {
    unsigned char digest[32];
    unsigned char source[32];
    json_t *claims;
    agw_alg_e alg;
    char kid[AGW_TCACHE_KID_MAX + 1];
    unsigned char key[32];
    unsigned long version;
    apr_int64_t exp;
    apr_size_t cost;
    struct entry_t *hnext;              /* hash chain */
    struct entry_t *lru_prev, *lru_next;/* most recent at head */
    int used;
} entry_t;

typedef struct shard_t {
    apr_thread_mutex_t *mutex;
    entry_t *slots;
    entry_t **buckets;
    unsigned int nbuckets;              /* a power of two */
    entry_t *free;                      /* slots given back */
    unsigned int fresh;                 /* slots[fresh..max) were never used */
    entry_t *head, *tail;
    apr_uint64_t *seen;                 /* admission: tags of tokens put once, direct-mapped */
    unsigned int nseen;                 /* a power of two; 0 when every put is admitted */
    unsigned int count, max;
    apr_size_t bytes, max_bytes;
    unsigned long hits, misses, evictions, deferred;
} shard_t;

struct agw_tcache_t {
    shard_t shards[AGW_TCACHE_SHARDS];
    void *map;                          /* every shard's slots, buckets and seen tags */
    apr_size_t map_len;
};

static apr_status_t release_all(void *data)
{
    agw_tcache_t *tc = data;
    int s;
    unsigned int i;

    for (s = 0; s < AGW_TCACHE_SHARDS; s++) {
        shard_t *sh = &tc->shards[s];
        for (i = 0; sh->slots && i < sh->fresh; i++)
            if (sh->slots[i].used)
                json_decref(sh->slots[i].claims);
        sh->slots = NULL;
        sh->buckets = NULL;
        sh->seen = NULL;
    }
    if (tc->map)
        munmap(tc->map, tc->map_len);
    tc->map = NULL;
    return APR_SUCCESS;
}

/* All the shards' arrays in one zeroed anonymous mapping, each kind packed across the shards
 * (all slots, then all buckets, then all seen tags): pages cost nothing until first written
 * (calloc may clear recycled heap memory page by page), and a small cache fills a few pages,
 * not three per shard (a prefork child's 128 entries: 10 pages instead of 48). */
static int map_arrays(agw_tcache_t *tc, unsigned int per)
{
    apr_size_t nslots = (apr_size_t)per * AGW_TCACHE_SHARDS;
    apr_size_t nb = tc->shards[0].nbuckets, ns = tc->shards[0].nseen;
    apr_size_t bucket_at, seen_at;
    unsigned char *m;
    int s;

    if (nslots / AGW_TCACHE_SHARDS != per || nslots > ((apr_size_t)-1 / 4) / sizeof(entry_t))
        return 0;
    bucket_at = nslots * sizeof(entry_t);
    seen_at = bucket_at + nb * AGW_TCACHE_SHARDS * sizeof(entry_t *);
    tc->map_len = seen_at + ns * AGW_TCACHE_SHARDS * sizeof(apr_uint64_t);
    m = mmap(NULL, tc->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 0;
    tc->map = m;
    for (s = 0; s < AGW_TCACHE_SHARDS; s++) {
        shard_t *sh = &tc->shards[s];
        sh->slots = (entry_t *)(void *)(m + (apr_size_t)s * per * sizeof(entry_t));
        sh->buckets = (entry_t **)(void *)(m + bucket_at + s * nb * sizeof(entry_t *));
        sh->seen = ns ? (apr_uint64_t *)(void *)(m + seen_at + s * ns * sizeof(apr_uint64_t))
                      : NULL;
    }
    return 1;
}

agw_tcache_t *agw_tcache_create(apr_pool_t *p, unsigned int max_entries, apr_size_t max_bytes,
                                unsigned int flags)
{
    agw_tcache_t *tc;
    unsigned int per;
    int s;

    if (max_entries == 0)
        return NULL;
    tc = apr_pcalloc(p, sizeof(*tc));
    apr_pool_cleanup_register(p, tc, release_all, apr_pool_cleanup_null);
    per = (max_entries + AGW_TCACHE_SHARDS - 1) / AGW_TCACHE_SHARDS;
    for (s = 0; s < AGW_TCACHE_SHARDS; s++) {
        shard_t *sh = &tc->shards[s];
        if (apr_thread_mutex_create(&sh->mutex, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
            return NULL;
        sh->max = per;
        sh->max_bytes = max_bytes / AGW_TCACHE_SHARDS;
        for (sh->nbuckets = 8; sh->nbuckets < per * 2; sh->nbuckets <<= 1)
            ;
        if (flags & AGW_TCACHE_ADMIT_SECOND) {
            /* about half a slot per entry: a token is admitted when it comes back before
             * roughly that many other first sightings (a few seconds even under a flood) */
            for (sh->nseen = 8; sh->nseen * 2 < per; sh->nseen <<= 1)
                ;
        }
    }
    /* untouched zero pages: a process pays in memory only for the slots it fills, not
     * for the size it is allowed (prefork: many processes, each with its own cache) */
    return map_arrays(tc, per) ? tc : NULL;
}

static shard_t *shard_of(agw_tcache_t *tc, const unsigned char *digest)
{
    return &tc->shards[digest[0] % AGW_TCACHE_SHARDS];
}

static unsigned int bucket_of(const shard_t *sh, const unsigned char *digest)
{
    unsigned int h;
    memcpy(&h, digest + 4, sizeof(h));  /* SHA-256 bytes are already uniform */
    return h & (sh->nbuckets - 1);
}

/* Admission on second sighting: the first put of a token only leaves its tag in a small
 * direct-mapped table (a newer token may overwrite it); a put that finds its tag there is
 * admitted. Tokens used once, such as a flood of distinct ones, then never evict the tokens
 * in use and cost no claims copy. Called with the shard's mutex held. */
static int admitted(shard_t *sh, const unsigned char *digest)
{
    apr_uint64_t tag;
    unsigned int slot;

    if (!sh->nseen)
        return 1;
    memcpy(&tag, digest + 8, sizeof(tag));
    tag |= 1;                           /* 0 marks an empty slot */
    memcpy(&slot, digest + 16, sizeof(slot));
    slot &= sh->nseen - 1;
    if (sh->seen[slot] == tag) {
        sh->seen[slot] = 0;
        return 1;
    }
    sh->seen[slot] = tag;
    sh->deferred++;
    return 0;
}

/* An empty shard answers without reading its buckets: a page of the mapping that is only read
 * still costs the process a page on kernels that do not map the shared zero page there (this
 * machine's: a child's negative cache, empty while no bad signature came, grew 340 KiB under
 * the Zipf mix at Auth0TokenCache 100000). */
static entry_t *find(shard_t *sh, const unsigned char *digest)
{
    entry_t *e;
    if (!sh->count)
        return NULL;
    for (e = sh->buckets[bucket_of(sh, digest)]; e; e = e->hnext)
        if (memcmp(e->digest, digest, 32) == 0)
            return e;
    return NULL;
}

static void lru_unlink(shard_t *sh, entry_t *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        sh->head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        sh->tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_front(shard_t *sh, entry_t *e)
{
    e->lru_prev = NULL;
    e->lru_next = sh->head;
    if (sh->head)
        sh->head->lru_prev = e;
    sh->head = e;
    if (!sh->tail)
        sh->tail = e;
}

/* Unlinks e from everything and returns it to the free list; its claims reference is
 * handed to *pdoomed so that json_decref runs outside the lock. */
static void remove_entry(shard_t *sh, entry_t *e, json_t **pdoomed)
{
    entry_t **pp = &sh->buckets[bucket_of(sh, e->digest)];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(sh, e);
    *pdoomed = e->claims;
    sh->count--;
    sh->bytes -= e->cost;
    e->used = 0;
    e->claims = NULL;
    e->hnext = NULL;
    e->lru_next = sh->free;
    sh->free = e;
}

static apr_status_t decref_claims(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

int agw_tcache_get(agw_tcache_t *tc, const unsigned char digest[32],
                   const unsigned char source[32], apr_int64_t now, apr_int64_t leeway,
                   apr_pool_t *p, agw_tcache_hit_t *hit)
{
    shard_t *sh;
    entry_t *e;
    json_t *doomed = NULL;
    int found = 0;

    if (!tc)
        return 0;
    sh = shard_of(tc, digest);
    apr_thread_mutex_lock(sh->mutex);
    e = find(sh, digest);
    if (e && now >= e->exp + leeway) {
        remove_entry(sh, e, &doomed);
        e = NULL;
    }
    if (e && memcmp(e->source, source, 32) == 0) {
        lru_unlink(sh, e);
        lru_front(sh, e);
        hit->claims = json_incref(e->claims);
        hit->alg = e->alg;
        memcpy(hit->kid, e->kid, sizeof(hit->kid));
        memcpy(hit->key, e->key, sizeof(hit->key));
        hit->version = e->version;
        sh->hits++;
        found = 1;
    }
    else {
        sh->misses++;
    }
    apr_thread_mutex_unlock(sh->mutex);
    if (doomed)
        json_decref(doomed);
    if (found && hit->claims)
        apr_pool_cleanup_register(p, hit->claims, decref_claims, apr_pool_cleanup_null);
    return found;
}

/* known: the token was admitted elsewhere (the host has seen it twice): no first sighting */
static void tcache_put(agw_tcache_t *tc, const unsigned char digest[32],
                       const unsigned char source[32], json_t *claims, agw_alg_e alg,
                       const char *kid, const unsigned char *key, unsigned long version,
                       apr_int64_t exp, apr_size_t cost, int known)
{
    json_t *doomed[4] = { NULL, NULL, NULL, NULL };
    int ndoomed = 0, i;
    shard_t *sh;
    entry_t *e;
    unsigned int b;

    if (!tc || (kid && strlen(kid) > AGW_TCACHE_KID_MAX))
        return;
    sh = shard_of(tc, digest);
    if (cost > sh->max_bytes)
        return;
    apr_thread_mutex_lock(sh->mutex);
    if ((e = find(sh, digest)))
        remove_entry(sh, e, &doomed[ndoomed++]);
    else if (!known && !admitted(sh, digest))
        goto leave;
    /* each put makes room for itself: at most a few evictions, never a scan */
    if (!sh->free && sh->fresh < sh->max) {    /* first use of a slot */
        sh->free = &sh->slots[sh->fresh++];
        sh->free->lru_next = NULL;
    }
    while (sh->tail && ndoomed < 4 && (!sh->free || sh->bytes + cost > sh->max_bytes)) {
        remove_entry(sh, sh->tail, &doomed[ndoomed++]);
        sh->evictions++;
    }
    if (sh->free && sh->bytes + cost <= sh->max_bytes) {
        e = sh->free;
        sh->free = e->lru_next;
        memset(e, 0, sizeof(*e));
        memcpy(e->digest, digest, 32);
        memcpy(e->source, source, 32);
        e->claims = json_incref(claims);
        e->alg = alg;
        if (kid)
            memcpy(e->kid, kid, strlen(kid) + 1);
        if (key)
            memcpy(e->key, key, sizeof(e->key));
        e->version = version;
        e->exp = exp;
        e->cost = cost;
        e->used = 1;
        b = bucket_of(sh, digest);
        e->hnext = sh->buckets[b];
        sh->buckets[b] = e;
        lru_front(sh, e);
        sh->count++;
        sh->bytes += cost;
    }
leave:
    apr_thread_mutex_unlock(sh->mutex);
    for (i = 0; i < ndoomed; i++)
        json_decref(doomed[i]);
}

void agw_tcache_put(agw_tcache_t *tc, const unsigned char digest[32],
                    const unsigned char source[32], json_t *claims, agw_alg_e alg,
                    const char *kid, const unsigned char *key, unsigned long version,
                    apr_int64_t exp, apr_size_t cost)
{
    tcache_put(tc, digest, source, claims, alg, kid, key, version, exp, cost, 0);
}

void agw_tcache_put_admitted(agw_tcache_t *tc, const unsigned char digest[32],
                             const unsigned char source[32], json_t *claims, agw_alg_e alg,
                             const char *kid, const unsigned char *key, unsigned long version,
                             apr_int64_t exp, apr_size_t cost)
{
    tcache_put(tc, digest, source, claims, alg, kid, key, version, exp, cost, 1);
}

void agw_tcache_touch_version(agw_tcache_t *tc, const unsigned char digest[32],
                              unsigned long version)
{
    shard_t *sh;
    entry_t *e;

    if (!tc)
        return;
    sh = shard_of(tc, digest);
    apr_thread_mutex_lock(sh->mutex);
    if ((e = find(sh, digest)))
        e->version = version;
    apr_thread_mutex_unlock(sh->mutex);
}

void agw_tcache_drop(agw_tcache_t *tc, const unsigned char digest[32])
{
    shard_t *sh;
    entry_t *e;
    json_t *doomed = NULL;

    if (!tc)
        return;
    sh = shard_of(tc, digest);
    apr_thread_mutex_lock(sh->mutex);
    if ((e = find(sh, digest)))
        remove_entry(sh, e, &doomed);
    apr_thread_mutex_unlock(sh->mutex);
    if (doomed)
        json_decref(doomed);
}

void agw_tcache_stats(agw_tcache_t *tc, agw_tcache_stats_t *st)
{
    int s;

    memset(st, 0, sizeof(*st));
    if (!tc)
        return;
    for (s = 0; s < AGW_TCACHE_SHARDS; s++) {
        shard_t *sh = &tc->shards[s];
        apr_thread_mutex_lock(sh->mutex);
        st->hits += sh->hits;
        st->misses += sh->misses;
        st->evictions += sh->evictions;
        st->deferred += sh->deferred;
        st->entries += sh->count;
        st->bytes += sh->bytes;
        apr_thread_mutex_unlock(sh->mutex);
    }
}
