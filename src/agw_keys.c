/* The per-process key store: JWK Sets by source, fetched once, refreshed on schedule, refetched (rate-limited) on unknown kid. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <apr_atomic.h>
#include <unistd.h>

#include "agw_keys.h"
#include "agw_hot.h"
#include "agw_util.h"
#include "agw_json.h"
#include "agw_b64.h"

/* One fetched JWK Set; lives in its own unmanaged pool until its last holder lets go. */
typedef struct keyver_t {
    agw_keystore_t *store;
    apr_pool_t *pool;
    agw_jwks_t *jwks;
    apr_int64_t fetched_at;
    unsigned long version;
    int refs;                   /* request holders, plus one while it is the current set */
} keyver_t;

/* One key of a source's current set, as agw_keysrc_holds compares it. */
typedef struct held_key_t {
    unsigned char thumbprint[32];
    char kid[AGW_KEYS_HELD_KID_MAX + 1];
    int has_kid;
    agw_kty_e kty;
    agw_alg_e alg;              /* AGW_ALG_NONE: the JWK names none */
} held_key_t;

struct agw_keysrc_t {
    agw_keystore_t *store;
    agw_keys_spec_t spec;
    agw_keys_spec_t asked;      /* the spec as asked for (before limits), strings in spec's */
    const char *name;           /* for logs and stats: the URL, file or issuer */
    const char *jwks_uri;       /* found by discovery, kept for later fetches */
    const char *shared_key;     /* "jwks:<hash of the spec>" in the shared store */
    const char *cool_key;       /* "cool:<hash of the spec>": last unscheduled fetch */
    unsigned char id[32];       /* SHA-256 of the spec */
    volatile apr_uint32_t pub_version;      /* cur's version and time, for lock-free peeks */
    volatile apr_uint64_t pub_fetched_at;
    /* cur's keys by thumbprint, for agw_keysrc_holds without the mutex: written under it by
     * install_locked inside a seqlock (held_seq odd while written); held_n 0 when cur has more
     * keys than fit or a kid too long, so that the caller asks the set itself */
    apr_uint32_t held_seq;
    apr_uint32_t held_version;
    int held_n;
    held_key_t held[AGW_KEYS_HELD_MAX];
    keyver_t *cur;
    int fetching;
    int waiters;                /* requests waiting for that fetch */
    apr_int64_t last_unsched;   /* start of this process's cooldown (an unknown-kid refetch,
                                 * a failed first fetch, or the host's, when it learns of it) */
    apr_int64_t shared_peeked;  /* when it last looked for a newer shared set while cooling */
    apr_int64_t next_refresh;
    unsigned long fetches, failures, version;
    char last_error[200];
    /* the persistent store: touched by the one fetch of this source running in this process */
    int persist_tried;          /* looked there once (at the first need) */
    apr_int64_t saved_at;       /* when this process last saved the set; -1: never */
    unsigned char saved_md[32]; /* SHA-256 of the set it saved */
    int saving;                 /* a thread of this process writes it (mutex held to change) */
};

struct agw_keystore_t {
    apr_pool_t *pool;
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *done;    /* signalled when any fetch ends */
    apr_hash_t *by_key;
    apr_array_header_t *sources;
    /* the sources again, append-only, for agw_keystore_find without the mutex: a slot is
     * written before the count that covers it is raised */
    agw_keysrc_t *volatile published[AGW_KEYS_MAX_SOURCES];
    volatile apr_uint32_t npublished;
    agw_log_fn *log;
    void *baton;
    const agw_shared_t *shared;
    const agw_persist_t *persist;
    void (*sleep)(apr_interval_time_t t);
    int max_waiters;            /* requests that may wait for one source's fetch */
    int (*claim_lock)(void);    /* host-wide try-lock: makes look-and-claim one step (may be
                                 * NULL); 1 when taken */
    void (*claim_unlock)(void);
    agw_keys_event_fn *on_load;
    void *on_load_baton;
};

void agw_keystore_share(agw_keystore_t *ks, const agw_shared_t *shared)
{
    ks->shared = shared;
}

void agw_keystore_persist(agw_keystore_t *ks, const agw_persist_t *persist)
{
    ks->persist = persist;
}

void agw_keystore_set_sleep(agw_keystore_t *ks, void (*sleep_fn)(apr_interval_time_t t))
{
    ks->sleep = sleep_fn ? sleep_fn : apr_sleep;
}

void agw_keystore_claim_lock(agw_keystore_t *ks, int (*lock)(void), void (*unlock)(void))
{
    ks->claim_lock = lock;
    ks->claim_unlock = unlock;
}

void agw_keystore_set_max_waiters(agw_keystore_t *ks, int n)
{
    ks->max_waiters = n > 0 ? n : AGW_KEYS_MAX_WAITERS;
}

void agw_keystore_on_load(agw_keystore_t *ks, agw_keys_event_fn *fn, void *baton)
{
    ks->on_load = fn;
    ks->on_load_baton = baton;
}

static void logf_(agw_keystore_t *ks, agw_log_level_e level, int msgno, apr_pool_t *p,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void logf_(agw_keystore_t *ks, agw_log_level_e level, int msgno, apr_pool_t *p,
                  const char *fmt, ...)
{
    va_list ap;
    if (!ks->log)
        return;
    va_start(ap, fmt);
    ks->log(ks->baton, level, msgno, apr_pvsprintf(p, fmt, ap));
    va_end(ap);
}

static void ver_release_locked(keyver_t *v);
static void publish_held_locked(agw_keysrc_t *src, const keyver_t *v);

/* When the process ends: the current sets go (request holders are gone by then). */
static apr_status_t keystore_cleanup(void *data)
{
    agw_keystore_t *ks = data;
    int i;

    for (i = 0; i < ks->sources->nelts; i++) {
        agw_keysrc_t *src = APR_ARRAY_IDX(ks->sources, i, agw_keysrc_t *);
        apr_atomic_set32(&src->pub_version, 0);
        publish_held_locked(src, NULL);
        ver_release_locked(src->cur);
        src->cur = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t agw_keystore_create(agw_keystore_t **pks, apr_pool_t *p, agw_log_fn *log,
                                 void *baton)
{
    agw_keystore_t *ks = apr_pcalloc(p, sizeof(*ks));
    apr_status_t rv;

    /* a pool of its own: ks->pool is used under ks->mutex only, never shared with others */
    if ((rv = apr_pool_create(&ks->pool, p)) != APR_SUCCESS)
        return rv;
    p = ks->pool;
    ks->log = log;
    ks->baton = baton;
    ks->sleep = apr_sleep;
    ks->max_waiters = AGW_KEYS_MAX_WAITERS;
    ks->by_key = apr_hash_make(p);
    ks->sources = apr_array_make(p, 8, sizeof(agw_keysrc_t *));
    if ((rv = apr_thread_mutex_create(&ks->mutex, APR_THREAD_MUTEX_DEFAULT, p)) != APR_SUCCESS)
        goto leave;
    if ((rv = apr_thread_cond_create(&ks->done, p)) != APR_SUCCESS)
        goto leave;
    apr_pool_cleanup_register(p, ks, keystore_cleanup, apr_pool_cleanup_null);
leave:
    *pks = (rv == APR_SUCCESS) ? ks : NULL;
    return rv;
}

static apr_size_t spec_key(char *buf, apr_size_t size, const agw_keys_spec_t *s)
{
    return apr_snprintf(buf, size, "%s|%s|%" APR_INT64_T_FMT "|%" APR_INT64_T_FMT "|%" APR_INT64_T_FMT
                        "|%" APR_INT64_T_FMT "|%s|%d|%ld|%ld|%" APR_SIZE_T_FMT,
                        s->jwks ? s->jwks : "", s->issuer ? s->issuer : "", s->refresh,
                        s->cooldown, s->max_stale, s->fetch_wait, s->http.ca_file ? s->http.ca_file : "",
                        s->http.allow_http, s->http.connect_timeout_ms, s->http.timeout_ms,
                        s->http.max_body);
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int same_spec(const agw_keys_spec_t *a, const agw_keys_spec_t *b)
{
    /* by value: equal addresses say nothing once a request pool has been reused */
    return same_str(a->jwks, b->jwks) && same_str(a->issuer, b->issuer)
           && a->refresh == b->refresh && a->cooldown == b->cooldown
           && a->fetch_wait == b->fetch_wait
           && a->max_stale == b->max_stale && same_str(a->http.ca_file, b->http.ca_file)
           && a->http.allow_http == b->http.allow_http
           && a->http.connect_timeout_ms == b->http.connect_timeout_ms
           && a->http.timeout_ms == b->http.timeout_ms && a->http.max_body == b->http.max_body;
}

AGW_HOT agw_keysrc_t *agw_keystore_find(agw_keystore_t *ks, const agw_keys_spec_t *spec)
{
    apr_uint32_t i, n = apr_atomic_read32(&ks->npublished);

    for (i = 0; i < n; i++) {
        agw_keysrc_t *src = ks->published[i];
        if (same_spec(&src->asked, spec))
            return src;
    }
    return NULL;
}

/* With ks->mutex held: src (complete) becomes visible to agw_keystore_find. */
static void publish(agw_keystore_t *ks, agw_keysrc_t *src, const agw_keys_spec_t *spec)
{
    apr_uint32_t n = apr_atomic_read32(&ks->npublished);

    src->asked = *spec;
    src->asked.jwks = src->spec.jwks;
    src->asked.issuer = src->spec.issuer;
    src->asked.http.ca_file = src->spec.http.ca_file;
    if (n >= AGW_KEYS_MAX_SOURCES)
        return;
    ks->published[n] = src;
    apr_atomic_inc32(&ks->npublished);     /* a full barrier: the slot is seen first */
}

apr_status_t agw_keystore_source(agw_keysrc_t **psrc, agw_keystore_t *ks,
                                 const agw_keys_spec_t *spec)
{
    apr_status_t rv = APR_SUCCESS;
    agw_keysrc_t *src;
    char key[4096];

    /* lookups happen per request and creations rarely: first without the mutex */
    if ((*psrc = agw_keystore_find(ks, spec)))
        return APR_SUCCESS;
    if (spec_key(key, sizeof(key), spec) >= sizeof(key) - 1)
        return APR_EINVAL;
    apr_thread_mutex_lock(ks->mutex);
    src = apr_hash_get(ks->by_key, key, APR_HASH_KEY_STRING);
    if (src)
        goto leave;
    if (ks->sources->nelts >= AGW_KEYS_MAX_SOURCES) {
        rv = APR_ENOSPC;
        goto leave;
    }
    src = apr_pcalloc(ks->pool, sizeof(*src));
    src->store = ks;
    src->spec = *spec;
    src->spec.jwks = spec->jwks ? apr_pstrdup(ks->pool, spec->jwks) : NULL;
    src->spec.issuer = spec->issuer ? apr_pstrdup(ks->pool, spec->issuer) : NULL;
    src->spec.http.ca_file = spec->http.ca_file ? apr_pstrdup(ks->pool, spec->http.ca_file)
                                                : NULL;
    if (src->spec.cooldown < 1)
        src->spec.cooldown = 1;
    if (src->spec.refresh < 1)
        src->spec.refresh = 1;
    src->name = src->spec.jwks ? src->spec.jwks
                               : apr_pstrcat(ks->pool, "discovery:", src->spec.issuer, NULL);
    src->last_unsched = -1;
    src->shared_peeked = -1;
    src->saved_at = -1;
    if (src->spec.fetch_wait < 0)
        src->spec.fetch_wait = 0;
    {
        unsigned char md[32];
        const char *h;
        if (agw_crypt_sha256(md, key, strlen(key)) != APR_SUCCESS) {
            rv = APR_EGENERAL;
            goto leave;
        }
        memcpy(src->id, md, sizeof(src->id));
        h = agw_b64url_encode(ks->pool, md, 18);
        src->shared_key = apr_pstrcat(ks->pool, "jwks:", h, NULL);
        src->cool_key = apr_pstrcat(ks->pool, "cool:", h, NULL);
    }
    apr_hash_set(ks->by_key, apr_pstrdup(ks->pool, key), APR_HASH_KEY_STRING, src);
    APR_ARRAY_PUSH(ks->sources, agw_keysrc_t *) = src;
    publish(ks, src, spec);
leave:
    apr_thread_mutex_unlock(ks->mutex);
    *psrc = (rv == APR_SUCCESS) ? src : NULL;
    return rv;
}

AGW_HOT unsigned long agw_keysrc_peek(const agw_keysrc_t *src, apr_int64_t now)
{
    agw_keysrc_t *s = (agw_keysrc_t *)src;
    /* inline loads: this runs on every request the verified-token caches serve */
    apr_uint32_t v = __atomic_load_n(&s->pub_version, __ATOMIC_ACQUIRE);
    apr_int64_t at = (apr_int64_t)__atomic_load_n(&s->pub_fetched_at, __ATOMIC_ACQUIRE);

    return (v && now - at <= src->spec.max_stale) ? v : 0;
}

AGW_HOT const unsigned char *agw_keysrc_id(const agw_keysrc_t *src)
{
    return src->id;
}

/* Called with the mutex held. */
static void ver_release_locked(keyver_t *v)
{
    if (v && --v->refs == 0)
        apr_pool_destroy(v->pool);
}

static apr_status_t ref_cleanup(void *data)
{
    agw_keys_ref_t *ref = data;
    keyver_t *v = ref->opaque;
    agw_keystore_t *ks;

    if (!v)
        return APR_SUCCESS;
    ks = v->store;
    apr_thread_mutex_lock(ks->mutex);
    ver_release_locked(v);
    apr_thread_mutex_unlock(ks->mutex);
    ref->opaque = NULL;
    return APR_SUCCESS;
}

/* Points ref at the current set (mutex held); the first time, arranges its release with p. */
static void ref_take_locked(agw_keys_ref_t *ref, agw_keysrc_t *src, apr_pool_t *p)
{
    keyver_t *old = ref->opaque, *v = src->cur;

    if (old == v)
        return;
    v->refs++;
    if (old)
        ver_release_locked(old);
    else
        apr_pool_cleanup_register(p, ref, ref_cleanup, apr_pool_cleanup_null);
    ref->opaque = v;
    ref->jwks = v->jwks;
    ref->fetched_at = v->fetched_at;
    ref->version = v->version;
}

static apr_status_t read_file(char **pbody, apr_size_t *plen, apr_pool_t *p, const char *path,
                              apr_size_t max, agw_err_t *err)
{
    agw_file_step_e step;
    apr_status_t rv = agw_file_read(pbody, plen, &step, p, path, max);

    if (step == AGW_FILE_TOO_LARGE) {
        agw_err_set(err, NULL, "JWKS file too large");
        return APR_EINVAL;
    }
    if (rv != APR_SUCCESS)
        agw_err_set(err, NULL, "cannot read the JWKS file");
    return rv;
}

static apr_status_t http_json_get(char **pbody, apr_size_t *plen, apr_pool_t *p,
                                  const char *url, const agw_http_opts_t *opts, agw_err_t *err)
{
    agw_http_resp_t *resp;
    apr_status_t rv;

    if ((rv = agw_http_get(&resp, p, url, opts, err)) != APR_SUCCESS)
        return rv;
    if (resp->status != 200) {
        agw_err_set(err, NULL, apr_psprintf(p, "HTTP status %ld", resp->status));
        return APR_EGENERAL;
    }
    *pbody = resp->body;
    *plen = resp->len;
    return APR_SUCCESS;
}

apr_status_t agw_keys_discovery_parse(const char **puri, apr_pool_t *p, const char *body,
                                      apr_size_t len, const char *issuer, int allow_http,
                                      agw_err_t *err)
{
    const char *uri, *doc_iss;
    json_t *doc;
    apr_status_t rv;

    if ((rv = agw_json_parse(&doc, p, body, len, AGW_JSON_MAX_DEPTH, err)) != APR_SUCCESS) {
        agw_err_set(err, NULL, "discovery document is not valid JSON");
        return rv;
    }
    doc_iss = agw_json_str(doc, "issuer");
    uri = agw_json_str(doc, "jwks_uri");
    if (!doc_iss || strcmp(doc_iss, issuer) != 0) {
        agw_err_set(err, NULL, "discovery document names another issuer");
        return APR_EINVAL;
    }
    if (!uri || !(strncasecmp(uri, "https://", 8) == 0
                  || (allow_http && strncasecmp(uri, "http://", 7) == 0))) {
        agw_err_set(err, NULL, "discovery document has no usable https jwks_uri");
        return APR_EINVAL;
    }
    *puri = uri;
    return APR_SUCCESS;
}

/* The jwks_uri of the issuer's OpenID configuration, checked for scheme and issuer. */
static apr_status_t discover(const char **puri, apr_pool_t *p, const agw_keys_spec_t *spec,
                             agw_err_t *err)
{
    const char *iss = spec->issuer;
    apr_size_t ilen = strlen(iss), len;
    char *body;
    apr_status_t rv;

    if (ilen && iss[ilen - 1] == '/')
        ilen--;
    if ((rv = http_json_get(&body, &len, p,
                            apr_pstrcat(p, apr_pstrndup(p, iss, ilen),
                                        "/.well-known/openid-configuration", NULL),
                            &spec->http, err)) != APR_SUCCESS)
        return rv;
    return agw_keys_discovery_parse(puri, p, body, len, iss, spec->http.allow_http, err);
}

int agw_keys_record_parse(apr_int64_t *pfetched_at, const char **pbody, apr_size_t *plen,
                          const char *data, apr_size_t len)
{
    apr_size_t i = 0;
    apr_int64_t t = 0;

    while (i < len && i < 18 && data[i] >= '0' && data[i] <= '9')
        t = t * 10 + (data[i++] - '0');
    if (i == 0 || i >= len || data[i] != ' ')
        return 0;
    *pfetched_at = t;
    *pbody = data + i + 1;
    *plen = len - i - 1;
    return 1;
}

/* A set another process fetched within the refresh interval, newer than ours ("<time> <json>"). */
static int shared_take(char **pbody, apr_size_t *plen, apr_int64_t *pfetched_at,
                       agw_keysrc_t *src, apr_pool_t *p, apr_int64_t now, apr_int64_t have)
{
    const agw_shared_t *sh = src->store->shared;
    char *data;
    const char *body;
    apr_size_t len, blen;
    apr_int64_t t;

    if (!sh || sh->get(sh->baton, src->shared_key, &data, &len, p) != APR_SUCCESS
        || !agw_keys_record_parse(&t, &body, &blen, data, len))
        return 0;
    if (t <= have || t > now || now - t >= src->spec.refresh)
        return 0;
    *pbody = (char *)body;
    *plen = blen;
    *pfetched_at = t;
    return 1;
}

static void shared_publish(agw_keysrc_t *src, const char *body, apr_size_t len,
                           apr_int64_t now, apr_pool_t *p)
{
    const agw_shared_t *sh = src->store->shared;
    char *rec;

    if (!sh)
        return;
    rec = apr_psprintf(p, "%" APR_INT64_T_FMT " %.*s", now, (int)len, body);
    sh->put(sh->baton, src->shared_key, rec, strlen(rec), now + src->spec.max_stale, p);
}

/* The host-wide fetch claim of a source: "<start> <state>". State COOL_INFLIGHT while a
 * process fetches (claimed before the fetch starts, so that the others wait for it instead of
 * fetching too), COOL_COOLING after an unknown-kid refetch or a failed fetch (no process
 * fetches again before start + cooldown), COOL_DONE after a first fetch that worked (it
 * starts no cooldown: a new kid soon after start-up is fetched at first sight). */
enum { COOL_DONE = 0, COOL_COOLING = 1, COOL_INFLIGHT = 2 };

typedef struct cool_t {
    apr_int64_t start;          /* -1: no record */
    int state;
} cool_t;

static cool_t shared_cool(agw_keysrc_t *src, apr_pool_t *p)
{
    const agw_shared_t *sh = src->store->shared;
    cool_t c = { -1, COOL_DONE };
    char *data, *end;
    apr_size_t len;

    if (!sh || sh->get(sh->baton, src->cool_key, &data, &len, p) != APR_SUCCESS)
        return c;
    c.start = apr_strtoi64(data, &end, 10);
    c.state = *end == ' ' ? atoi(end + 1) : COOL_COOLING;
    if (c.start < 0 || c.state < COOL_DONE || c.state > COOL_INFLIGHT)
        c.start = -1;
    return c;
}

static void shared_cool_set(agw_keysrc_t *src, apr_int64_t start, int state, apr_pool_t *p)
{
    const agw_shared_t *sh = src->store->shared;
    char *rec;

    if (!sh)
        return;
    rec = apr_psprintf(p, "%" APR_INT64_T_FMT " %d", start, state);
    sh->put(sh->baton, src->cool_key, rec, strlen(rec), start + src->spec.cooldown, p);
}

/* Whether another process holds the source's fetch: fetching now, or cooling down. */
static int cool_holds(const agw_keysrc_t *src, const cool_t *c, apr_int64_t now)
{
    if (c->start < 0)
        return 0;
    if (c->state == COOL_INFLIGHT)      /* a claim outlives no fetch: fetches time out */
        return now < c->start + AGW_KEYS_INFLIGHT_MAX;
    return c->state == COOL_COOLING && now < c->start + src->spec.cooldown;
}

/* The set from the source itself: a file, or the JWKS URL (found by discovery if need be). */
static apr_status_t fetch_network(char **pbody, apr_size_t *plen, const char **puri,
                                  const char **pfound_uri, const agw_keysrc_t *src,
                                  apr_pool_t *p, agw_err_t *err)
{
    agw_http_opts_t o = src->spec.http;
    apr_status_t rv;

    if (src->spec.jwks && strncasecmp(src->spec.jwks, "file:", 5) == 0)
        return read_file(pbody, plen, p, src->spec.jwks + 5, AGW_JWKS_MAX_BYTES, err);
    if (!*puri)
        *puri = src->spec.jwks;
    if (!*puri) {
        if ((rv = discover(pfound_uri, p, &src->spec, err)) != APR_SUCCESS)
            return rv;
        *puri = *pfound_uri;
    }
    if (!o.max_body || o.max_body > AGW_JWKS_MAX_BYTES)
        o.max_body = AGW_JWKS_MAX_BYTES;
    return http_json_get(pbody, plen, p, *puri, &o, err);
}

/* 1 .. min(5, refresh / 10) + 1 seconds, different between processes. */
static apr_int64_t jitter(const agw_keysrc_t *src)
{
    apr_int64_t span = src->spec.refresh / 10 < 5 ? src->spec.refresh / 10 : 5;
    return 1 + (apr_int64_t)((unsigned long)getpid() % (unsigned long)(span + 1));
}

/* What one fetch brought: a set to install, or a failure to record. */
typedef enum {
    FETCH_SCHEDULED,            /* the refresh schedule: no cooldown involved */
    FETCH_FIRST,                /* no usable keys: a failure starts the cooldown */
    FETCH_KID,                  /* an unknown kid: starts the cooldown whatever the outcome */
    FETCH_SHARED_ONLY           /* only look for another process's newer set */
} fetch_why_e;

typedef struct fetched_t {
    apr_pool_t *p;              /* the set's own pool (NULL once installed) */
    agw_jwks_t *jwks;
    const char *uri, *found_uri;
    apr_int64_t fetched_at;
    int from_shared;
    int attempted;              /* a set was taken or fetched (else nothing to report) */
    apr_status_t rv;
    agw_err_t err;
    int from_persist;           /* the set kept across restarts, parsed already */
    int claimed;                /* this process wrote the host-wide claim (COOL_INFLIGHT) */
} fetched_t;

/* The set kept across restarts, when fetched less than max_stale ago (parsed into f). */
static int persist_take(fetched_t *f, agw_keysrc_t *src, apr_int64_t now)
{
    const agw_persist_t *ps = src->store->persist;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    char *data, *end;
    apr_size_t len;
    apr_int64_t t;

    if (!ps || ps->load(ps->baton, src->shared_key, &data, &len, f->p) != APR_SUCCESS)
        return 0;
    t = apr_strtoi64(data, &end, 10);
    if (*end != ' ' || t <= 0 || t > now || now - t >= src->spec.max_stale)
        return 0;
    end++;
    if (agw_jwks_parse(&f->jwks, f->p, end, len - (apr_size_t)(end - data), &err) != APR_SUCCESS
        || f->jwks->keys->nelts == 0) {
        f->jwks = NULL;
        return 0;
    }
    f->fetched_at = t;
    return 1;
}

/* Keeps a set just fetched from the source for after a restart (mutex not held; src->saving
 * set, so that the saved_ fields have one writer): when it differs from the one
 * this process saved last, or that one is older than the refresh interval (so that the kept
 * set's age tells when the source last answered, to within one interval). */
static void persist_save(agw_keysrc_t *src, const char *body, apr_size_t len, apr_int64_t now,
                         apr_pool_t *p)
{
    const agw_persist_t *ps = src->store->persist;
    unsigned char md[32];
    char *rec;

    if (!ps)
        return;
    if (agw_crypt_sha256(md, body, len) != APR_SUCCESS)
        return;
    if (src->saved_at >= 0 && now - src->saved_at < src->spec.refresh
        && memcmp(md, src->saved_md, sizeof(md)) == 0)
        return;
    rec = apr_psprintf(p, "%" APR_INT64_T_FMT " %.*s", now, (int)len, body);
    if (ps->save(ps->baton, src->shared_key, rec, strlen(rec), p) == APR_SUCCESS) {
        src->saved_at = now;
        memcpy(src->saved_md, md, sizeof(md));
    }
}

/* Logs the outcome and, for a set fetched from the source, shares it (mutex not held). */
static void fetch_report(agw_keysrc_t *src, fetched_t *f, const char *body, apr_size_t len,
                         apr_int64_t now, fetch_why_e why)
{
    agw_keystore_t *ks = src->store;
    const char *where = f->uri ? f->uri : src->name;
    int i;

    if (f->rv == APR_SUCCESS && f->from_persist) {
        logf_(ks, AGW_LOG_INFO, AGW_MSG_JWKS_RESTORED, f->p,
              "JWKS for %s restored from the state kept across restarts: %d keys, fetched %"
              APR_INT64_T_FMT " s ago; refreshing it now", src->name, f->jwks->keys->nelts,
              now - f->fetched_at);
        return;
    }
    if (f->rv == APR_SUCCESS && f->from_shared) {
        logf_(ks, AGW_LOG_DEBUG, AGW_MSG_JWKS_FETCHED, f->p,
              "JWKS for %s taken from the shared cache: %d keys", src->name,
              f->jwks->keys->nelts);
        return;
    }
    if (why == FETCH_KID || (why == FETCH_FIRST && f->rv != APR_SUCCESS))
        shared_cool_set(src, now, COOL_COOLING, f->p);
    else if (why == FETCH_FIRST || (why == FETCH_SCHEDULED && f->claimed))
        shared_cool_set(src, now, COOL_DONE, f->p);     /* the claim ends; no cooldown */
    if (f->rv != APR_SUCCESS) {
        logf_(ks, AGW_LOG_WARN, AGW_MSG_JWKS_FAILED, f->p, "JWKS fetch from %s failed: %s",
              where, f->err.reason ? f->err.reason : "unknown error");
        return;
    }
    shared_publish(src, body, len, now, f->p);
    for (i = 0; i < f->jwks->skipped->nelts; i++)
        logf_(ks, AGW_LOG_WARN, AGW_MSG_JWKS_SKIPPED, f->p, "JWKS key skipped (%s): %s",
              src->name, APR_ARRAY_IDX(f->jwks->skipped, i, const char *));
    logf_(ks, AGW_LOG_INFO, AGW_MSG_JWKS_FETCHED, f->p, "JWKS from %s: %d keys, %d skipped",
          where, f->jwks->keys->nelts, f->jwks->skipped->nelts);
}

/* The new current set's keys for agw_keysrc_holds (mutex held: one writer); v NULL: no set
 * any more, and agw_keysrc_holds cannot say. */
static void publish_held_locked(agw_keysrc_t *src, const keyver_t *v)
{
    const apr_array_header_t *keys = v ? v->jwks->keys : NULL;
    apr_uint32_t seq = __atomic_load_n(&src->held_seq, __ATOMIC_RELAXED);
    int i, n = keys && keys->nelts <= AGW_KEYS_HELD_MAX ? keys->nelts : 0;

    __atomic_store_n(&src->held_seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (i = 0; i < n; i++) {
        const agw_jwk_t *j = APR_ARRAY_IDX(keys, i, agw_jwk_t *);
        held_key_t *h = &src->held[i];
        if (j->kid && strlen(j->kid) > AGW_KEYS_HELD_KID_MAX) {
            n = 0;
            break;
        }
        memcpy(h->thumbprint, j->thumbprint, sizeof(h->thumbprint));
        memset(h->kid, 0, sizeof(h->kid));
        if ((h->has_kid = j->kid != NULL))
            memcpy(h->kid, j->kid, strlen(j->kid));
        h->kty = j->kty;
        h->alg = j->alg;
    }
    __atomic_store_n(&src->held_n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&src->held_version, v ? (apr_uint32_t)v->version : 0, __ATOMIC_RELAXED);
    __atomic_store_n(&src->held_seq, seq + 2, __ATOMIC_RELEASE);
}

AGW_HOT int agw_keysrc_holds(const agw_keysrc_t *src, unsigned long version,
                     const unsigned char thumbprint[32], const char *kid, agw_alg_e alg)
{
    apr_uint32_t s1 = __atomic_load_n(&src->held_seq, __ATOMIC_ACQUIRE);
    int i, n, found = 0;

    if ((s1 & 1) || version == 0
        || __atomic_load_n(&src->held_version, __ATOMIC_RELAXED) != (apr_uint32_t)version)
        return 0;
    n = __atomic_load_n(&src->held_n, __ATOMIC_RELAXED);
    for (i = 0; i < n && i < AGW_KEYS_HELD_MAX && !found; i++) {
        const held_key_t *h = &src->held[i];
        /* a torn read stays in bounds: h->kid's last byte is never written */
        found = agw_jwk_is_key(h->thumbprint, h->has_kid ? h->kid : NULL, h->kty, h->alg,
                               thumbprint, kid, alg);
    }
    /* what was read counts only if no install ran meanwhile */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return found && __atomic_load_n(&src->held_seq, __ATOMIC_RELAXED) == s1;
}

/* Makes a fetched set the current one (mutex held); the set's pool now belongs to it. */
static void install_locked(agw_keysrc_t *src, fetched_t *f, apr_int64_t now)
{
    agw_keystore_t *ks = src->store;
    keyver_t *v = apr_pcalloc(f->p, sizeof(*v));

    v->store = ks;
    v->pool = f->p;
    v->jwks = f->jwks;
    v->fetched_at = f->fetched_at;
    v->version = ++src->version;
    v->refs = 1;
    if (f->found_uri && !src->jwks_uri)
        src->jwks_uri = apr_pstrdup(ks->pool, f->found_uri);
    ver_release_locked(src->cur);
    src->cur = v;
    publish_held_locked(src, v);
    /* the time first: a peek that sees the new version must not see the old time */
    apr_atomic_set64(&src->pub_fetched_at, (apr_uint64_t)v->fetched_at);
    apr_atomic_set32(&src->pub_version, (apr_uint32_t)v->version);
    src->last_error[0] = '\0';
    /* every process refreshes on the schedule of the set it holds, wherever the set came
     * from; a set from the shared cache refreshes a little after the process that fetched
     * it, so that process's next publication is usually there to be taken */
    src->next_refresh = f->fetched_at + src->spec.refresh + (f->from_shared ? jitter(src) : 0);
    /* a set kept across a restart may be old: the schedule asks the source soon, each
     * process at its own second (the first one's set is then in the shared store) */
    if (f->from_persist)
        src->next_refresh = now + jitter(src);
    if (src->next_refresh <= now)
        src->next_refresh = now + 1;
    f->p = NULL;
}

static void fail_locked(agw_keysrc_t *src, const fetched_t *f, apr_int64_t now)
{
    src->failures++;
    apr_cpystrn(src->last_error, f->err.reason ? f->err.reason : "unknown error",
                sizeof(src->last_error));
    src->next_refresh = now + (src->spec.cooldown < src->spec.refresh ? src->spec.cooldown
                                                                      : src->spec.refresh);
}

/* Waits (mutex not held) up to the fetch wait for the set another process is fetching. */
static int wait_for_shared(char **pbody, apr_size_t *plen, fetched_t *f, agw_keysrc_t *src,
                           apr_int64_t now, apr_int64_t have)
{
    agw_keystore_t *ks = src->store;
    apr_time_t until = apr_time_now() + apr_time_from_sec(src->spec.fetch_wait);

    /* the process ending (agw_http_cancel_all) ends the wait as it ends a transfer */
    while (apr_time_now() < until && !agw_http_cancelled()) {
        ks->sleep(apr_time_from_msec(AGW_KEYS_POLL_MS));
        if (shared_take(pbody, plen, &f->fetched_at, src, f->p, now, have))
            return 1;
    }
    return 0;
}

/* Goes to the source itself unless another process holds the fetch (mutex not held): the
 * claim is written before the fetch starts. Returns 0 when another process holds it (the
 * local cooldown then follows the host's); with nothing new from it, f->attempted stays 0. */
static int fetch_claimed(char **pbody, apr_size_t *plen, fetched_t *f, agw_keysrc_t *src,
                         apr_int64_t now, apr_int64_t have, fetch_why_e why)
{
    agw_keystore_t *ks = src->store;
    int locked = 0, tries, held;
    cool_t c;

    /* look and claim as one step on this host: otherwise two processes starting together
     * both see no claim and both fetch; and look again for a set published meanwhile */
    /* only tried, a bounded number of times: the shared store may be a network server, and a
     * hung one must not queue every process behind the lock; without it, a lost race costs
     * one extra fetch */
    for (tries = 0; ks->claim_lock && !locked && tries < AGW_KEYS_CLAIM_TRIES; tries++)
        if (!(locked = ks->claim_lock()))
            ks->sleep(apr_time_from_msec(2));
    if (shared_take(pbody, plen, &f->fetched_at, src, f->p, now, have)) {
        if (locked)
            ks->claim_unlock();
        f->from_shared = f->attempted = 1;
        return 1;
    }
    c = shared_cool(src, f->p);
    /* the schedule ignores a cooldown (it asks the source once per interval whatever
     * happened), but not another process's fetch in flight: that one's set is taken. A
     * scheduled fetch during a cooldown goes ahead unclaimed, leaving the cooldown's record
     * (and so the unknown-kid rate limit) as it is */
    held = cool_holds(src, &c, now) && (why != FETCH_SCHEDULED || c.state == COOL_INFLIGHT);
    if (!cool_holds(src, &c, now)) {
        shared_cool_set(src, now, COOL_INFLIGHT, f->p);
        f->claimed = 1;
    }
    if (locked)
        ks->claim_unlock();
    if (held) {
        if (c.state == COOL_INFLIGHT && wait_for_shared(pbody, plen, f, src, now, have)) {
            f->from_shared = f->attempted = 1;
            return 1;
        }
        apr_thread_mutex_lock(ks->mutex);
        if (c.state == COOL_COOLING && src->last_unsched < c.start)
            src->last_unsched = c.start;
        apr_thread_mutex_unlock(ks->mutex);
        return 0;
    }
    apr_thread_mutex_lock(ks->mutex);
    if (why == FETCH_KID)
        src->last_unsched = now;
    apr_thread_mutex_unlock(ks->mutex);
    f->attempted = 1;
    f->rv = fetch_network(pbody, plen, &f->uri, &f->found_uri, src, f->p, &f->err);
    if (f->rv != APR_SUCCESS && why == FETCH_FIRST) {
        apr_thread_mutex_lock(ks->mutex);
        src->last_unsched = now;        /* a failed first fetch cools down too */
        apr_thread_mutex_unlock(ks->mutex);
    }
    return 1;
}

/* Fetches src's set; called and returns with the mutex held, which it drops meanwhile. A set
 * from the shared store is preferred when newer than ours. */
static void fetch_locked(agw_keysrc_t *src, apr_int64_t now, fetch_why_e why)
{
    agw_keystore_t *ks = src->store;
    fetched_t f = { NULL, NULL, src->jwks_uri, NULL, now, 0, 0, APR_SUCCESS,
                    { NULL, NULL, AGW_R_NONE }, 0, 0 };
    apr_int64_t have = src->cur ? src->cur->fetched_at : -1;
    char *body = NULL;
    apr_size_t len = 0;
    apr_pool_t *kp = NULL;      /* a copy of a set to keep, written once the waiters are free */

    src->fetching = 1;
    apr_thread_mutex_unlock(ks->mutex);
    apr_pool_create_unmanaged_ex(&f.p, NULL, NULL);
    f.from_shared = f.attempted = shared_take(&body, &len, &f.fetched_at, src, f.p, now, have);
    if (!f.attempted && why == FETCH_FIRST && !src->cur && !src->persist_tried) {
        src->persist_tried = 1;
        f.from_persist = f.attempted = persist_take(&f, src, now);
    }
    /* scheduled refreshes claim the fetch too: after a restart every process that took the
     * kept set refreshes within seconds of the others, and without a claim each asked the
     * source (15 fetches for 32 prefork children); now one does and the others take its set */
    if (!f.attempted && why != FETCH_SHARED_ONLY)
        fetch_claimed(&body, &len, &f, src, now, have, why);
    if (f.attempted) {
        if (f.rv == APR_SUCCESS && !f.from_persist
            && (f.rv = agw_jwks_parse(&f.jwks, f.p, body, len, &f.err)) == APR_SUCCESS
            && f.jwks->keys->nelts == 0) {
            agw_err_set(&f.err, NULL, "no usable keys in the JWKS");
            f.rv = APR_EINVAL;
        }
        fetch_report(src, &f, body, len, now, f.from_shared ? FETCH_SHARED_ONLY : why);
        if (f.rv == APR_SUCCESS && !f.from_shared && !f.from_persist && ks->persist
            && apr_pool_create_unmanaged_ex(&kp, NULL, NULL) == APR_SUCCESS)
            body = apr_pstrmemdup(kp, body, len);
    }
    if (ks->on_load && f.attempted)
        ks->on_load(ks->on_load_baton, src->name, !f.from_shared && !f.from_persist,
                    f.rv == APR_SUCCESS,
                    f.rv == APR_SUCCESS ? f.jwks->keys->nelts : 0);
    apr_thread_mutex_lock(ks->mutex);
    src->fetching = 0;
    if (!f.attempted && why == FETCH_SCHEDULED)
        src->next_refresh = now + jitter(src);
    if (f.attempted) {
        if (!f.from_shared && !f.from_persist)
            src->fetches++;
        if (f.rv == APR_SUCCESS)
            install_locked(src, &f, now);
        else
            fail_locked(src, &f, now);
    }
    apr_thread_cond_broadcast(ks->done);
    if (f.p)
        apr_pool_destroy(f.p);
    if (kp) {
        /* after the fetch, so that no request waits for the disk; one writer per source */
        if (!src->saving) {
            src->saving = 1;
            apr_thread_mutex_unlock(ks->mutex);
            persist_save(src, body, len, now, kp);
            apr_thread_mutex_lock(ks->mutex);
            src->saving = 0;
        }
        apr_pool_destroy(kp);
    }
}

/* Waits for this process's running fetch of src to end, up to deadline (mutex held). Returns
 * 0 on timeout, and, with capped, at once when max_waiters requests wait already: a flood of
 * unknown kids while the issuer hangs ties up some workers, never all of them (requests that
 * find no keys at all wait uncapped: there is no known-key request to keep workers for). */
static int wait_fetch_locked(agw_keysrc_t *src, apr_time_t deadline, int capped)
{
    agw_keystore_t *ks = src->store;
    apr_interval_time_t left = deadline - apr_time_now();

    if (left <= 0 || (capped && src->waiters >= ks->max_waiters))
        return 0;
    src->waiters++;
    apr_thread_cond_timedwait(ks->done, ks->mutex, left);
    src->waiters--;
    return 1;
}

static int usable_locked(const agw_keysrc_t *src, apr_int64_t now)
{
    return src->cur && now - src->cur->fetched_at <= src->spec.max_stale;
}

apr_status_t agw_keysrc_get(agw_keys_ref_t *ref, agw_keysrc_t *src, apr_pool_t *p,
                            apr_int64_t now, apr_int64_t *pretry_after, agw_err_t *err)
{
    agw_keystore_t *ks = src->store;
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(src->spec.fetch_wait);
    apr_status_t rv = APR_SUCCESS;
    int fetched = 0;

    apr_thread_mutex_lock(ks->mutex);
    for (;;) {
        if (usable_locked(src, now)) {
            ref_take_locked(ref, src, p);
            break;
        }
        if (src->fetching) {
            if (wait_fetch_locked(src, deadline, 0))
                continue;
            *pretry_after = 1;
            agw_err_set(err, NULL, "no usable keys yet: a key fetch is still running");
            rv = APR_EAGAIN;
            break;
        }
        if (fetched || (src->last_unsched >= 0 && now < src->last_unsched + src->spec.cooldown)) {
            apr_int64_t wait = src->last_unsched + src->spec.cooldown - now;
            *pretry_after = wait < 1 ? 1 : wait;
            agw_err_set(err, NULL, src->last_error[0]
                                       ? apr_pstrdup(p, src->last_error)
                                       : "no usable keys");
            rv = APR_EAGAIN;
            break;
        }
        fetch_locked(src, now, FETCH_FIRST);
        fetched = 1;
    }
    apr_thread_mutex_unlock(ks->mutex);
    return rv;
}

apr_status_t agw_keysrc_unknown_kid(agw_keys_ref_t *ref, agw_keysrc_t *src, apr_pool_t *p,
                                    apr_int64_t now, agw_err_t *err)
{
    agw_keystore_t *ks = src->store;
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(src->spec.fetch_wait);
    unsigned long before;

    apr_thread_mutex_lock(ks->mutex);
    while (src->fetching)
        if (!wait_fetch_locked(src, deadline, 1))
            goto busy;          /* never a worker held longer than the fetch wait */
    before = src->version;
    if (src->cur && src->cur->version != ref->version)
        goto take;
    if (src->last_unsched >= 0 && now < src->last_unsched + src->spec.cooldown) {
        /* cooling down here: only another process's newer set, looked for once a second */
        if (src->shared_peeked == now)
            goto busy;
        src->shared_peeked = now;
        fetch_locked(src, now, FETCH_SHARED_ONLY);
    }
    else {
        fetch_locked(src, now, FETCH_KID);
    }
    if (src->version == before)
        goto busy;              /* nothing newer: cooling, another process's fetch, a failure */
take:
    if (src->cur)
        ref_take_locked(ref, src, p);
    apr_thread_mutex_unlock(ks->mutex);
    return APR_SUCCESS;
busy:
    agw_err_refuse(err, AGW_R_UNKNOWN_KEY, "unknown key");
    apr_thread_mutex_unlock(ks->mutex);
    return APR_EBUSY;
}

void agw_keystore_tick(agw_keystore_t *ks, apr_int64_t now)
{
    int i;

    apr_thread_mutex_lock(ks->mutex);
    /* sources only grow, and fetch_locked drops the mutex: index, don't hold pointers */
    for (i = 0; i < ks->sources->nelts; i++) {
        agw_keysrc_t *src = APR_ARRAY_IDX(ks->sources, i, agw_keysrc_t *);
        if (!src->fetching && src->cur && now >= src->next_refresh)
            fetch_locked(src, now, FETCH_SCHEDULED);
    }
    apr_thread_mutex_unlock(ks->mutex);
}

apr_array_header_t *agw_keystore_stats(agw_keystore_t *ks, apr_pool_t *p)
{
    apr_array_header_t *out;
    int i;

    apr_thread_mutex_lock(ks->mutex);
    out = apr_array_make(p, ks->sources->nelts, sizeof(agw_keysrc_stats_t));
    for (i = 0; i < ks->sources->nelts; i++) {
        agw_keysrc_t *src = APR_ARRAY_IDX(ks->sources, i, agw_keysrc_t *);
        agw_keysrc_stats_t *st = apr_array_push(out);
        st->name = apr_pstrdup(p, src->name);
        st->fetches = src->fetches;
        st->failures = src->failures;
        st->fetched_at = src->cur ? src->cur->fetched_at : 0;
        st->next_refresh = src->next_refresh;
        st->nkeys = src->cur ? src->cur->jwks->keys->nelts : 0;
        st->last_error = src->last_error[0] ? apr_pstrdup(p, src->last_error) : NULL;
        st->keys = apr_array_make(p, st->nkeys, sizeof(const char *));
        if (src->cur) {
            int k;
            for (k = 0; k < src->cur->jwks->keys->nelts; k++) {
                const agw_jwk_t *j = APR_ARRAY_IDX(src->cur->jwks->keys, k, agw_jwk_t *);
                static const char *const kty[] = { "-", "RSA", "EC", "OKP", "oct" };
                APR_ARRAY_PUSH(st->keys, const char *) = apr_psprintf(
                    p, "%s %s", j->kid ? j->kid : "(no kid)",
                    j->alg != AGW_ALG_NONE ? agw_alg_name(j->alg)
                                           : kty[j->kty <= AGW_KTY_OCT ? j->kty : 0]);
            }
        }
    }
    apr_thread_mutex_unlock(ks->mutex);
    return out;
}
