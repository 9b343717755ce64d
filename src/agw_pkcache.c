/* A per-process cache of imported DPoP proof keys: a client signs all its proofs with one key, so its jwk is imported once, not on every request; bounded, least recently used out, safe for threads. */
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <jansson.h>

#include "agw_pkcache.h"

#define PKCACHE_MAX 65536   /* a larger size asked for is cut to this */

/* One imported key in a pool of its own, freed by whoever lets go of it last: the table
 * (eviction, the cache's end) or a request still verifying with it (its pool's cleanup). */
typedef struct pkent_t {
    unsigned char tp[32];           /* agw_jwk_thumbprint_of the object it came from */
    apr_pool_t *pool;
    agw_jwk_t *jwk;                 /* kid and x5t NULL: they belong to one object, not the key */
    volatile apr_uint32_t refs;     /* 1 for the table while it holds the key, 1 per request */
    unsigned int slot;              /* index in slots while in the table */
    apr_uint64_t used;              /* the cache's clock when last taken */
    struct pkent_t *hnext;          /* hash chain */
} pkent_t;

struct agw_pkcache_t {
    apr_thread_mutex_t *mutex;      /* held for a lookup or a table edit, never for an import,
                                     * a verify or a free */
    pkent_t **slots;                /* count in use of max */
    pkent_t **buckets;
    unsigned int nbuckets;          /* a power of two */
    unsigned int count, max;
    apr_uint64_t clock;
    unsigned long hits, misses, evictions;
};

static void ent_unref(pkent_t *e)
{
    if (apr_atomic_dec32(&e->refs) == 0)
        apr_pool_destroy(e->pool);
}

static apr_status_t ent_release(void *data)
{
    ent_unref(data);
    return APR_SUCCESS;
}

/* The cache's end: the table lets go of every key (a request still holding one frees it). */
static apr_status_t release_all(void *data)
{
    agw_pkcache_t *pc = data;
    unsigned int i;

    for (i = 0; i < pc->count; i++)
        ent_unref(pc->slots[i]);
    pc->count = 0;
    return APR_SUCCESS;
}

agw_pkcache_t *agw_pkcache_create(apr_pool_t *p, unsigned int max_entries)
{
    agw_pkcache_t *pc;

    if (max_entries == 0)
        return NULL;
    if (max_entries > PKCACHE_MAX)
        max_entries = PKCACHE_MAX;
    pc = apr_pcalloc(p, sizeof(*pc));
    if (apr_thread_mutex_create(&pc->mutex, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS)
        return NULL;
    pc->max = max_entries;
    for (pc->nbuckets = 8; pc->nbuckets < max_entries * 2; pc->nbuckets <<= 1)
        ;
    pc->slots = apr_pcalloc(p, pc->max * sizeof(pkent_t *));
    pc->buckets = apr_pcalloc(p, pc->nbuckets * sizeof(pkent_t *));
    apr_pool_cleanup_register(p, pc, release_all, apr_pool_cleanup_null);
    return pc;
}

static unsigned int bucket_of(const agw_pkcache_t *pc, const unsigned char *tp)
{
    unsigned int h;

    memcpy(&h, tp, sizeof(h));          /* SHA-256 bytes are already uniform */
    return h & (pc->nbuckets - 1);
}

static pkent_t *find(const agw_pkcache_t *pc, const unsigned char *tp)
{
    pkent_t *e;

    for (e = pc->buckets[bucket_of(pc, tp)]; e; e = e->hnext)
        if (memcmp(e->tp, tp, sizeof(e->tp)) == 0)
            return e;
    return NULL;
}

/* The key named tp with a reference for the caller, or NULL. */
static pkent_t *hold(agw_pkcache_t *pc, const unsigned char *tp)
{
    pkent_t *e;

    apr_thread_mutex_lock(pc->mutex);
    if ((e = find(pc, tp)) != NULL) {
        apr_atomic_inc32(&e->refs);
        e->used = ++pc->clock;
        pc->hits++;
    }
    else
        pc->misses++;
    apr_thread_mutex_unlock(pc->mutex);
    return e;
}

/* Out of the hash chain and the slots (the last slot moves into the hole); mutex held. */
static void unlink_entry(agw_pkcache_t *pc, pkent_t *e)
{
    pkent_t **pp = &pc->buckets[bucket_of(pc, e->tp)];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    pc->slots[e->slot] = pc->slots[--pc->count];
    pc->slots[e->slot]->slot = e->slot;
}

/* Puts a fresh key in the table (with the table's reference); returns the key it evicted,
 * whose reference the caller drops after unlocking. A key another thread put first wins:
 * e then stays only its own request's. Mutex held. An eviction scans the slots for the
 * oldest use; it happens only beside an import, which costs far more. */
static pkent_t *remember(agw_pkcache_t *pc, pkent_t *e)
{
    pkent_t *victim = NULL;
    unsigned int i, b;

    if (find(pc, e->tp))
        return NULL;
    if (pc->count == pc->max) {
        victim = pc->slots[0];
        for (i = 1; i < pc->count; i++)
            if (pc->slots[i]->used < victim->used)
                victim = pc->slots[i];
        unlink_entry(pc, victim);
        pc->evictions++;
    }
    b = bucket_of(pc, e->tp);
    e->hnext = pc->buckets[b];
    pc->buckets[b] = e;
    e->slot = pc->count;
    pc->slots[pc->count++] = e;
    e->used = ++pc->clock;
    apr_atomic_inc32(&e->refs);
    return victim;
}

/* Imports obj into a pool of its own and offers it to the table; *pe holds the caller's
 * reference. *pe NULL with APR_SUCCESS: no pool could be made (the caller parses in p). */
static apr_status_t import(pkent_t **pe, agw_pkcache_t *pc, const unsigned char *tp,
                           const void *obj, apr_pool_t *p, agw_err_t *err)
{
    apr_pool_t *kp;
    pkent_t *e, *victim;
    apr_status_t rv;

    *pe = NULL;
    /* a child of the global pool, whose creation and destruction are safe from any thread */
    if (apr_pool_create(&kp, NULL) != APR_SUCCESS)
        return APR_SUCCESS;
    e = apr_pcalloc(kp, sizeof(*e));
    e->pool = kp;
    memcpy(e->tp, tp, sizeof(e->tp));
    if ((rv = agw_jwk_parse(&e->jwk, kp, obj, err)) != APR_SUCCESS) {
        if (err && err->reason)
            err->reason = apr_pstrdup(p, err->reason);
        apr_pool_destroy(kp);
        return rv;
    }
    e->jwk->kid = NULL;             /* they point into obj, which is the request's */
    e->jwk->x5t = NULL;
    apr_atomic_set32(&e->refs, 1);  /* the caller's */
    apr_thread_mutex_lock(pc->mutex);
    victim = remember(pc, e);
    apr_thread_mutex_unlock(pc->mutex);
    if (victim)
        ent_unref(victim);
    *pe = e;
    return APR_SUCCESS;
}

apr_status_t agw_pkcache_jwk(agw_jwk_t **pjwk, agw_pkcache_t *pc, apr_pool_t *p,
                             const void *json_object, agw_err_t *err)
{
    agw_jwk_t checked, *mine;
    unsigned char tp[32];
    pkent_t *e;
    apr_status_t rv;

    *pjwk = NULL;
    if (!pc)
        return agw_jwk_parse(pjwk, p, json_object, err);
    if ((rv = agw_jwk_check(&checked, json_object, err)) != APR_SUCCESS)
        return rv;
    if (agw_jwk_thumbprint_of(tp, p, json_object) != APR_SUCCESS)
        return agw_jwk_parse(pjwk, p, json_object, err);
    if (!(e = hold(pc, tp))) {
        if ((rv = import(&e, pc, tp, json_object, p, err)) != APR_SUCCESS)
            return rv;
        if (!e)
            return agw_jwk_parse(pjwk, p, json_object, err);
    }
    apr_pool_cleanup_register(p, e, ent_release, apr_pool_cleanup_null);
    mine = apr_pmemdup(p, e->jwk, sizeof(*mine));
    mine->kid = checked.kid;
    mine->x5t = checked.x5t;
    mine->alg = checked.alg;
    *pjwk = mine;
    return APR_SUCCESS;
}

void agw_pkcache_stats(agw_pkcache_t *pc, agw_pkcache_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (!pc)
        return;
    apr_thread_mutex_lock(pc->mutex);
    st->hits = pc->hits;
    st->misses = pc->misses;
    st->evictions = pc->evictions;
    st->entries = pc->count;
    apr_thread_mutex_unlock(pc->mutex);
}
