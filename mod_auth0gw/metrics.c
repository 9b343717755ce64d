/* Host-wide counters: one shared-memory segment made by the parent, inherited by every child, kept across (graceful) restarts. */
#include <string.h>
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_main.h>
#include <http_core.h>

#include "mod_auth0gw.h"
#include "agw_hot.h"
#include "agw_util.h"
#include "messages.h"

APLOG_USE_MODULE(auth0gw);

#define RETAINED_KEY "mod_auth0gw-metrics"

enum { SLOT_FREE = 0, SLOT_WRITING = 1, SLOT_READY = 2 };

/* One named series (a key source or a client). The name is written once, before the slot is
 * marked ready, and never changes. */
typedef struct slot_t {
    volatile apr_uint32_t state;
    apr_uint32_t hash;
    volatile apr_uint64_t a, b, c;      /* sources: fetches, failures, shared loads;
                                         * clients: fetches, failures */
    volatile apr_uint64_t gauge;        /* sources: keys in the set last loaded */
    char name[AGW_METRICS_NAME];
} slot_t;

/* The per-request counters, in shards: each process counts in a shard of its own (handed out
 * round robin at child start), so that two processes serving on two CPUs do not pass the
 * same cache lines back and forth on every request; the status page adds the shards up.
 * Processes that share a shard (more than SHARDS at once, children forked again over time,
 * or a process's threads) still count right: every increment is atomic. The segment's base is
 * only 8-aligned (apr_shm keeps its size in front of it), so instead of an alignment each
 * shard ends with 64 bytes nobody writes: two shards' counters never share a cache line. */
#define SHARDS 64
typedef struct shard_t {
    volatile apr_uint64_t counts[AGW_COUNT_MAX];
    volatile apr_uint64_t tc_hits, tc_misses;
    char apart[64];
} shard_t;

typedef struct segment_t {
    apr_uint64_t layout;                /* LAYOUT of the module that made it */
    apr_int64_t since;                  /* Unix time the counting began */
    volatile apr_uint64_t generations;  /* configurations run with it: restarts + 1 */
    volatile apr_uint64_t overflow;
    volatile apr_uint32_t next_shard;   /* the shard the next child takes, modulo SHARDS */
    shard_t shards[SHARDS];
    slot_t sources[AGW_METRICS_SLOTS];
    slot_t clients[AGW_METRICS_SLOTS];
} segment_t;

/* A module built with other counters (an upgrade between restarts) starts a new segment. */
#define LAYOUT (((apr_uint64_t)sizeof(segment_t) << 16) | (apr_uint64_t)AGW_COUNT_MAX)

/* Kept by httpd across restarts (the module itself is unloaded and loaded again). */
typedef struct retained_t {
    apr_shm_t *shm;
    segment_t *seg;
} retained_t;

static segment_t *seg;      /* set in post_config, in the parent, before the children fork */
static int seg_shared;      /* 0: a fallback in process memory (AGW0030) */
static shard_t *mine;       /* this process's shard: the first until child_init picks one */

int gw_metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    retained_t *kept;
    apr_status_t rv;

    /* the first of the two configuration passes at start-up runs no server */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    kept = ap_retained_data_get(RETAINED_KEY);
    if (!kept)
        kept = ap_retained_data_create(RETAINED_KEY, sizeof(*kept));
    if (kept->seg && kept->seg->layout != LAYOUT) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AGW_M_METRICS_RESET ": the module's counters changed "
                     "since the last start: the host's counters restart from zero");
        /* the children of the old generation keep their own mapping until they end */
        apr_shm_destroy(kept->shm);
        kept->shm = NULL;
        kept->seg = NULL;
    }
    if (!kept->seg) {
        /* the process pool lives as long as the parent, across restarts */
        rv = apr_shm_create(&kept->shm, sizeof(segment_t), NULL, s->process->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, AGW_M_METRICS_SHM ": cannot create the shared "
                         "memory for the host's counters (%" APR_SIZE_T_FMT " bytes); each "
                         "process counts for itself and the status page says so",
                         sizeof(segment_t));
            kept->shm = NULL;
            seg = apr_pcalloc(pconf, sizeof(segment_t));
            seg->layout = LAYOUT;
            seg->since = (apr_int64_t)apr_time_sec(apr_time_now());
            seg->generations = 1;
            seg_shared = 0;
            mine = &seg->shards[0];
            return OK;
        }
        kept->seg = apr_shm_baseaddr_get(kept->shm);
        memset(kept->seg, 0, sizeof(segment_t));
        kept->seg->layout = LAYOUT;
        kept->seg->since = (apr_int64_t)apr_time_sec(apr_time_now());
    }
    seg = kept->seg;
    seg_shared = 1;
    mine = &seg->shards[0];
    apr_atomic_inc64(&seg->generations);
    return OK;
}

void gw_metrics_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (seg)
        mine = &seg->shards[__atomic_fetch_add(&seg->next_shard, 1, __ATOMIC_RELAXED) % SHARDS];
}

/* inline atomics on this process's own shard (apr_atomic_inc64 is a call into libapr) */
AGW_HOT void gw_metrics_count(agw_counter_e which)
{
    if (mine && which >= 0 && which < AGW_COUNT_MAX)
        __atomic_add_fetch(&mine->counts[which], 1, __ATOMIC_RELAXED);
}

AGW_HOT void gw_metrics_token_cache(int hit)
{
    if (mine)
        __atomic_add_fetch(hit ? &mine->tc_hits : &mine->tc_misses, 1, __ATOMIC_RELAXED);
}

const char *gw_metrics_label(apr_pool_t *p, const char *name)
{
    const char *at, *end, *scheme = strstr(name, "://");
    apr_size_t i, n;

    /* a URL's user-info, query and fragment could carry a credential: never shown (a file
     * path or a client name is kept whole) */
    end = name + strcspn(name, "?#");
    if (scheme && scheme < end && strcspn(name, ":") == (apr_size_t)(scheme - name)) {
        const char *host = scheme + 3;
        apr_size_t hostlen = strcspn(host, "/?#");
        at = memchr(host, '@', hostlen);
        if (at)
            name = apr_pstrcat(p, apr_pstrmemdup(p, name, (apr_size_t)(host - name)),
                               apr_pstrmemdup(p, at + 1, (apr_size_t)(end - at - 1)), NULL);
        else
            name = apr_pstrmemdup(p, name, (apr_size_t)(end - name));
    }
    n = strlen(name);
    if (n > AGW_METRICS_NAME - 1) {
        /* a name too long to keep whole keeps its start and a hash of the rest */
        apr_uint32_t h = 2166136261u;
        for (i = 0; i < n; i++)
            h = (h ^ (unsigned char)name[i]) * 16777619u;
        name = apr_psprintf(p, "%.*s...#%08x", AGW_METRICS_NAME - 13, name, h);
        n = strlen(name);
    }
    return agw_text_log(p, name, n, 0);
}

static apr_uint32_t name_hash(const char *s)
{
    apr_uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot named label, claimed on first use; NULL when the table is full (counted). */
static slot_t *slot_for(slot_t *table, const char *label)
{
    apr_uint32_t h = name_hash(label), st;
    int i, spins;

    for (i = 0; i < AGW_METRICS_SLOTS; i++) {
        slot_t *sl = &table[(h + (apr_uint32_t)i) % AGW_METRICS_SLOTS];
        st = apr_atomic_read32(&sl->state);
        if (st == SLOT_FREE && apr_atomic_cas32(&sl->state, SLOT_WRITING, SLOT_FREE)
                                   == SLOT_FREE) {
            sl->hash = h;
            apr_cpystrn(sl->name, label, sizeof(sl->name));
            apr_atomic_set32(&sl->state, SLOT_READY);
            return sl;
        }
        /* another process is writing this slot's name: a matter of nanoseconds */
        for (spins = 0; (st = apr_atomic_read32(&sl->state)) == SLOT_WRITING && spins < 1000;
             spins++)
            apr_thread_yield();
        if (st == SLOT_READY && sl->hash == h && !strcmp(sl->name, label))
            return sl;
    }
    apr_atomic_inc64(&seg->overflow);
    return NULL;
}

void gw_metrics_jwks(void *baton, const char *source, int network, int ok, int nkeys)
{
    apr_pool_t *p;
    slot_t *sl;

    if (!seg)
        return;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    sl = slot_for(seg->sources, gw_metrics_label(p, source));
    apr_pool_destroy(p);
    if (!sl)
        return;
    if (network) {
        apr_atomic_inc64(&sl->a);
        if (!ok)
            apr_atomic_inc64(&sl->b);
    }
    else if (ok) {
        apr_atomic_inc64(&sl->c);
    }
    if (ok)
        apr_atomic_set64(&sl->gauge, (apr_uint64_t)nkeys);
}

void gw_metrics_client(const char *client, int ok)
{
    apr_pool_t *p;
    slot_t *sl;

    if (!seg)
        return;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    sl = slot_for(seg->clients, gw_metrics_label(p, client));
    apr_pool_destroy(p);
    if (!sl)
        return;
    apr_atomic_inc64(&sl->a);
    if (!ok)
        apr_atomic_inc64(&sl->b);
}

static apr_array_header_t *read_slots(apr_pool_t *p, slot_t *table)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(agw_metrics_named_t));
    int i;

    for (i = 0; i < AGW_METRICS_SLOTS; i++) {
        slot_t *sl = &table[i];
        agw_metrics_named_t *m;
        if (apr_atomic_read32(&sl->state) != SLOT_READY)
            continue;
        m = apr_array_push(out);
        m->name = apr_pstrdup(p, sl->name);
        m->a = apr_atomic_read64(&sl->a);
        m->b = apr_atomic_read64(&sl->b);
        m->c = apr_atomic_read64(&sl->c);
        m->gauge = apr_atomic_read64(&sl->gauge);
    }
    return out;
}

void gw_metrics_read(agw_metrics_t *m, apr_pool_t *p)
{
    int i, k;

    memset(m, 0, sizeof(*m));
    if (!seg) {
        m->sources = apr_array_make(p, 1, sizeof(agw_metrics_named_t));
        m->clients = apr_array_make(p, 1, sizeof(agw_metrics_named_t));
        return;
    }
    m->shared = seg_shared;
    m->since = seg->since;
    m->restarts = apr_atomic_read64(&seg->generations);
    m->restarts = m->restarts ? m->restarts - 1 : 0;
    for (k = 0; k < SHARDS; k++) {
        const shard_t *sh = &seg->shards[k];
        for (i = 0; i < AGW_COUNT_MAX; i++)
            m->counts[i] += __atomic_load_n(&sh->counts[i], __ATOMIC_RELAXED);
        m->tc_hits += __atomic_load_n(&sh->tc_hits, __ATOMIC_RELAXED);
        m->tc_misses += __atomic_load_n(&sh->tc_misses, __ATOMIC_RELAXED);
    }
    m->overflow = apr_atomic_read64(&seg->overflow);
    m->sources = read_slots(p, seg->sources);
    m->clients = read_slots(p, seg->clients);
}

const agw_metrics_named_t *gw_metrics_find(const apr_array_header_t *named, const char *label)
{
    int i;

    for (i = 0; named && i < named->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(named, i, agw_metrics_named_t).name, label))
            return &APR_ARRAY_IDX(named, i, agw_metrics_named_t);
    return NULL;
}
