/* A host-wide table of verified tokens in memory shared by the host's processes: fixed slots read under seqlocks, no lock on any path. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agw_hcache.h"
#include "agw_hot.h"

/* A token goes to one bucket of WAYS slots (set-associative: a look-up reads at most WAYS
 * slots, a put replaces the emptiest, most expired or least recently hit one). */
#define WAYS 4
#define MAGIC 0x6167776863310004ULL     /* "agwhc1" and the layout's version (2: only tokens
                                         * of the default typ rule are stored; 3: each
                                         * bucket's briefs beside its slots; 4: two tags per
                                         * index of the filter of first sightings) */

/* What a slot says, copied out whole under the slot's seqlock. */
typedef struct entry_t {
    int64_t exp;
    unsigned char digest[32];           /* all zero: an empty slot */
    unsigned char source[32];
    unsigned char key[32];
    char kid[AGW_HCACHE_KID_MAX + 1];
    unsigned char briefed;              /* the slot's brief holds the token's claims */
    uint32_t alg;
} entry_t;

typedef struct slot_t {
    uint32_t seq;                       /* even: stable; odd: being written */
    int64_t used;                       /* second of the last hit: a hint for eviction only,
                                         * written outside the seqlock */
    entry_t e;
} slot_t;

/* 192 bytes: three cache lines (README's arithmetic counts on it) */
typedef char slot_size_check[sizeof(slot_t) == 192 ? 1 : -1];
/* a look-up tells another token's slot by its first cache line: seq and the digest's start */
typedef char slot_glance_check[offsetof(slot_t, e.digest) + 8 <= 64 ? 1 : -1];

/* A bucket: its slots, then their briefs, in 2 KiB aligned as the region is (a page or more):
 * a hit reads one 4 KiB page of the table, not one for the slot and one for the brief (a
 * prefork child's TLB is empty at each request). */
#define BUCKET_BYTES 2048
typedef struct bucket_t {
    slot_t slot[WAYS];
    agw_jwt_brief_t brief[WAYS];
    char pad[BUCKET_BYTES - WAYS * (sizeof(slot_t) + sizeof(agw_jwt_brief_t))];
} bucket_t;

typedef char bucket_size_check[sizeof(bucket_t) == BUCKET_BYTES ? 1 : -1];

struct agw_hcache_t {
    uint64_t magic;
    uint32_t entries, nbuckets, nseen;
    uint64_t count, stored, deferred, evictions, busy;     /* atomics */
};

/* the buckets start one bucket into the region */
#define HEADER_BYTES ((apr_size_t)BUCKET_BYTES)

typedef char header_size_check[sizeof(agw_hcache_t) <= BUCKET_BYTES ? 1 : -1];

static bucket_t *buckets_of(agw_hcache_t *hc)
{
    return (bucket_t *)(void *)((char *)hc + HEADER_BYTES);
}

/* The brief beside slot sl, in sl's bucket (read only on a hit, under the slot's seqlock). */
AGW_HOT static agw_jwt_brief_t *brief_of(agw_hcache_t *hc, const slot_t *sl)
{
    apr_size_t at = (apr_size_t)((const char *)sl - (const char *)buckets_of(hc));
    bucket_t *b = buckets_of(hc) + at / BUCKET_BYTES;

    return &b->brief[sl - b->slot];
}

/* The filter of first sightings, after the buckets: per index one 64-bit word of two tags,
 * the newest in the low half, 0 when none. */
static uint64_t *seen_of(agw_hcache_t *hc)
{
    return (uint64_t *)(void *)(buckets_of(hc) + hc->nbuckets);
}

static uint64_t digest_word(const unsigned char *digest, int at)
{
    uint64_t w;

    memcpy(&w, digest + at, sizeof(w));
    return w;
}

static void bump(uint64_t *counter, int64_t by)
{
    __atomic_add_fetch(counter, (uint64_t)by, __ATOMIC_RELAXED);
}

apr_size_t agw_hcache_bytes(unsigned int entries)
{
    apr_size_t nbuckets = ((apr_size_t)entries + WAYS - 1) / WAYS;
    apr_size_t nseen = entries < 64 ? 64 : entries;

    /* 0 also when the size does not fit in a size_t (a 32-bit host and millions of entries) */
    if (!entries || nbuckets > ((apr_size_t)-1 / 2 - HEADER_BYTES) / (BUCKET_BYTES + WAYS * 8))
        return 0;
    return HEADER_BYTES + nbuckets * BUCKET_BYTES + nseen * sizeof(uint64_t);
}

agw_hcache_t *agw_hcache_init(void *region, apr_size_t size, unsigned int entries)
{
    agw_hcache_t *hc = region;
    apr_size_t need = agw_hcache_bytes(entries);

    if (!region || !need || size < need)
        return NULL;
    if (hc->magic == MAGIC)
        return hc->entries == entries ? hc : NULL;
    /* a table of another layout (an older module's, kept across a graceful restart): its
     * slots mean something else; the caller makes a new mapping */
    if (hc->magic != 0)
        return NULL;
    /* a fresh mapping is zero already: writing it would make every page resident */
    hc->entries = entries;
    hc->nbuckets = (entries + WAYS - 1) / WAYS;
    hc->nseen = entries < 64 ? 64 : entries;
    __atomic_store_n(&hc->magic, MAGIC, __ATOMIC_RELEASE);
    return hc;
}

/* A consistent copy of a slot; 0 while it is being written (then it is skipped, not waited
 * for: a writer that died between its two stores leaves only that slot unusable). */
AGW_HOT static int read_slot(slot_t *sl, entry_t *out, const agw_jwt_brief_t *from, agw_jwt_brief_t *to)
{
    int tries;

    for (tries = 0; tries < 3; tries++) {
        uint32_t s1 = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1)
            return 0;
        memcpy(out, &sl->e, sizeof(*out));
        if (to && out->briefed) {
            /* the fixed part, then only the text its lengths cover (about a third of it for
             * an Auth0 token): fewer cache lines on every hit. Lengths torn by a writer are
             * bounded by agw_jwt_brief_size and caught by the sequence check below. */
            memcpy(to, from, offsetof(agw_jwt_brief_t, text));
            memcpy(to->text, from->text, agw_jwt_brief_size(to) - offsetof(agw_jwt_brief_t, text));
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&sl->seq, __ATOMIC_RELAXED) == s1)
            return 1;
    }
    return 0;
}

/* Writes a slot unless another writer holds it (then the put is given up: it is a cache). */
static int write_slot(agw_hcache_t *hc, slot_t *sl, const entry_t *e,
                      const agw_jwt_brief_t *brief, int64_t used)
{
    uint32_t s = __atomic_load_n(&sl->seq, __ATOMIC_RELAXED);

    if ((s & 1) || !__atomic_compare_exchange_n(&sl->seq, &s, s + 1, 0, __ATOMIC_ACQUIRE,
                                                __ATOMIC_RELAXED)) {
        bump(&hc->busy, 1);
        return 0;
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(&sl->e, e, sizeof(*e));
    if (brief)
        memcpy(brief_of(hc, sl), brief, sizeof(*brief));
    __atomic_store_n(&sl->used, used, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->seq, s + 2, __ATOMIC_RELEASE);
    return 1;
}

static int is_empty(const entry_t *e)
{
    static const unsigned char zero[32];

    return memcmp(e->digest, zero, sizeof(zero)) == 0;
}

AGW_HOT static int same_token(const entry_t *e, const unsigned char *digest,
                      const unsigned char *source)
{
    return memcmp(e->digest, digest, 32) == 0 && memcmp(e->source, source, 32) == 0;
}

AGW_HOT static slot_t *bucket_of(agw_hcache_t *hc, const unsigned char *digest)
{
    return buckets_of(hc)[digest_word(digest, 0) % hc->nbuckets].slot;
}

AGW_HOT int agw_hcache_get(agw_hcache_t *hc, const unsigned char digest[32],
                   const unsigned char source[32], apr_int64_t now, apr_int64_t leeway,
                   agw_hcache_hit_t *hit, agw_jwt_brief_t *brief)
{
    slot_t *b;
    entry_t e;
    int w;

    if (!hc)
        return 0;
    b = bucket_of(hc, digest);
    for (w = 0; w < WAYS; w++) {
        /* another token's slot is told by its first cache line: the rest is not read (a
         * torn glance only skips the slot, as a slot being written is skipped) */
        if (digest_word(b[w].e.digest, 0) != digest_word(digest, 0))
            continue;
        if (!read_slot(&b[w], &e, brief_of(hc, &b[w]), brief) || !same_token(&e, digest, source))
            continue;
        if (now >= e.exp + leeway)
            return 0;
        hit->alg = (agw_alg_e)e.alg;
        memcpy(hit->kid, e.kid, sizeof(hit->kid));
        hit->kid[AGW_HCACHE_KID_MAX] = '\0';
        memcpy(hit->key, e.key, sizeof(hit->key));
        hit->exp = e.exp;
        hit->briefed = brief && e.briefed;
        /* at most one store per slot and second: hits do not fight over the cache line */
        if (__atomic_load_n(&b[w].used, __ATOMIC_RELAXED) != now)
            __atomic_store_n(&b[w].used, now, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

/* A token is stored when it is seen a second time while the filter still holds its first
 * sighting: a flood of one-shot tokens only overwrites the filter, never a stored token.
 * Each index keeps the last two first sightings (one word, read and written whole), so two
 * tokens that share an index and come in turn, pass after pass of a replayed order, are both
 * admitted at their second sighting: with one tag per index they overwrote each other for
 * good. A lost race between processes loses a first sighting, never stores a token. */
static int admitted(agw_hcache_t *hc, const unsigned char *digest)
{
    uint64_t *seen = seen_of(hc) + digest_word(digest, 8) % hc->nseen;
    uint64_t tag = (uint32_t)digest_word(digest, 16) | 1u;
    uint64_t w = __atomic_load_n(seen, __ATOMIC_RELAXED);

    if ((w & 0xffffffffu) == tag || (w >> 32) == tag) {
        /* the other first sighting stays */
        __atomic_store_n(seen, (w & 0xffffffffu) == tag ? w >> 32 : w & 0xffffffffu,
                         __ATOMIC_RELAXED);
        return 1;
    }
    __atomic_store_n(seen, (w << 32) | tag, __ATOMIC_RELAXED);
    bump(&hc->deferred, 1);
    return 0;
}

/* The slot a put goes to: the token's own, else an empty one, else the one that expired
 * first, else the least recently hit. *was: 0 empty, 1 the token's own, 2 expired, 3 live. */
static slot_t *victim(agw_hcache_t *hc, slot_t *b, const unsigned char *digest,
                      const unsigned char *source, int64_t now, int *was)
{
    slot_t *best = NULL;
    int64_t best_rank = INT64_MAX;
    entry_t e;
    int w;

    for (w = 0; w < WAYS; w++) {
        int64_t rank;
        if (!read_slot(&b[w], &e, NULL, NULL))
            continue;
        if (same_token(&e, digest, source)) {
            *was = 1;
            return &b[w];
        }
        if (is_empty(&e))
            rank = INT64_MIN;
        else if (e.exp < now)
            rank = INT64_MIN / 2 + e.exp;
        else
            rank = __atomic_load_n(&b[w].used, __ATOMIC_RELAXED);
        if (rank < best_rank) {
            best_rank = rank;
            best = &b[w];
            *was = is_empty(&e) ? 0 : e.exp < now ? 2 : 3;
        }
    }
    (void)hc;
    return best;
}

void agw_hcache_put(agw_hcache_t *hc, const unsigned char digest[32],
                    const unsigned char source[32], agw_alg_e alg, const char *kid,
                    const unsigned char key[32], apr_int64_t exp, apr_int64_t now,
                    agw_hcache_brief_fn brief, void *baton)
{
    agw_jwt_brief_t b;
    apr_size_t kidlen = kid ? strlen(kid) : 0;
    slot_t *sl;
    entry_t e;
    int was = 0;

    if (!hc || !key || kidlen > AGW_HCACHE_KID_MAX || exp <= now)
        return;
    sl = victim(hc, bucket_of(hc, digest), digest, source, now, &was);
    if (!sl || (was != 1 && !admitted(hc, digest)))
        return;
    memset(&e, 0, sizeof(e));
    e.alg = (uint32_t)alg;
    e.exp = exp;
    memcpy(e.digest, digest, 32);
    memcpy(e.source, source, 32);
    memcpy(e.key, key, 32);
    if (kidlen)
        memcpy(e.kid, kid, kidlen);
    e.briefed = brief && brief(&b, baton);
    if (!write_slot(hc, sl, &e, e.briefed ? &b : NULL, now))
        return;
    bump(&hc->stored, 1);
    if (was == 0)
        bump(&hc->count, 1);
    else if (was == 3)
        bump(&hc->evictions, 1);
}

void agw_hcache_stats(const agw_hcache_t *hc, agw_hcache_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (!hc)
        return;
    st->capacity = (unsigned long)hc->nbuckets * WAYS;
    st->entries = (unsigned long)__atomic_load_n(&hc->count, __ATOMIC_RELAXED);
    st->stored = (unsigned long)__atomic_load_n(&hc->stored, __ATOMIC_RELAXED);
    st->deferred = (unsigned long)__atomic_load_n(&hc->deferred, __ATOMIC_RELAXED);
    st->evictions = (unsigned long)__atomic_load_n(&hc->evictions, __ATOMIC_RELAXED);
    st->busy = (unsigned long)__atomic_load_n(&hc->busy, __ATOMIC_RELAXED);
}
