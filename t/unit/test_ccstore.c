/* Unit tests of the client-credentials store (src/agw_ccstore.c): fetch once, renewal, claims, backoff, sharing between processes, hostile records. */
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "tests.h"
#include "agw_ccstore.h"
#include "agw_b64.h"
#include "agw_dpop.h"

/* ---- a fake shared store with expiry on a fake clock, a fake endpoint, a fake sleep ---- */

typedef struct fake_t {
    apr_thread_mutex_t *m;      /* guards all of it, pool included */
    apr_pool_t *pool;
    apr_hash_t *h;              /* key -> entry_t */
    apr_int64_t now_ms;         /* the fake clock: moves on by the store's sleeps only */
    apr_int64_t slept_ms;
    int down, gets, puts, dels;
} fake_t;

typedef struct entry_t {
    char *val;
    apr_int64_t expires_at;
    apr_int64_t from_ms;        /* not there before this time (another process's write) */
} entry_t;

/* The endpoint: per client name, how many requests; tokens "tok-<name>-<n>". */
typedef struct endpoint_t {
    apr_thread_mutex_t *m;
    apr_thread_cond_t *cv;
    int fail;                   /* answer with an error */
    int unbound;                /* a Bearer token even for a DPoP client */
    apr_int64_t lifetime;       /* expires_in of the tokens it gives */
    const char *block;          /* this client's requests wait for release */
    int blocked, released;
    int calls_a, calls_b;
    apr_interval_time_t real_delay;     /* each request takes this long in real time */
} endpoint_t;

static fake_t fk;
static endpoint_t ep;
static int logged_obtained, logged_failed;
static char last_log[512];

static apr_int64_t fake_now(void)
{
    apr_int64_t t;
    apr_thread_mutex_lock(fk.m);
    t = fk.now_ms / 1000;
    apr_thread_mutex_unlock(fk.m);
    return t;
}

static apr_status_t fake_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                             apr_pool_t *p)
{
    fake_t *f = baton;
    entry_t *e;
    apr_status_t rv = APR_NOTFOUND;

    apr_thread_mutex_lock(f->m);
    f->gets++;
    e = apr_hash_get(f->h, key, APR_HASH_KEY_STRING);
    if (f->down)
        rv = APR_EGENERAL;
    else if (e && e->expires_at > f->now_ms / 1000 && f->now_ms >= e->from_ms) {
        *pdata = apr_pstrdup(p, e->val);
        *plen = strlen(e->val);
        rv = APR_SUCCESS;
    }
    apr_thread_mutex_unlock(f->m);
    return rv;
}

/* Called with fk.m held, or while no other thread runs. */
static void fake_set_from(const char *key, const char *val, apr_int64_t expires_at,
                          apr_int64_t from_ms)
{
    entry_t *e = apr_pcalloc(fk.pool, sizeof(*e));
    e->val = apr_pstrdup(fk.pool, val);
    e->expires_at = expires_at;
    e->from_ms = from_ms;
    apr_hash_set(fk.h, apr_pstrdup(fk.pool, key), APR_HASH_KEY_STRING, e);
}

static void fake_set(const char *key, const char *val, apr_int64_t expires_at)
{
    fake_set_from(key, val, expires_at, 0);
}

static apr_status_t fake_put(void *baton, const char *key, const char *data, apr_size_t len,
                             apr_int64_t expires_at, apr_pool_t *p)
{
    fake_t *f = baton;

    apr_thread_mutex_lock(f->m);
    f->puts++;
    if (!f->down)
        fake_set(key, apr_pstrndup(p, data, len), expires_at);
    apr_thread_mutex_unlock(f->m);
    return f->down ? APR_EGENERAL : APR_SUCCESS;
}

static apr_status_t fake_del(void *baton, const char *key, apr_pool_t *p)
{
    fake_t *f = baton;

    apr_thread_mutex_lock(f->m);
    f->dels++;
    if (!f->down)
        apr_hash_set(f->h, key, APR_HASH_KEY_STRING, NULL);
    apr_thread_mutex_unlock(f->m);
    return f->down ? APR_EGENERAL : APR_SUCCESS;
}

static const char *fake_value(const char *key)
{
    entry_t *e = apr_hash_get(fk.h, key, APR_HASH_KEY_STRING);
    return e && e->expires_at > fk.now_ms / 1000 ? e->val : NULL;
}

static void fake_sleep(void *baton, apr_int64_t ms)
{
    apr_thread_mutex_lock(fk.m);
    fk.now_ms += ms;
    fk.slept_ms += ms;
    apr_thread_mutex_unlock(fk.m);
}

static apr_status_t fake_fetch(void *baton, agw_cc_token_t *tok, apr_pool_t *p,
                               const agw_client_t *c, apr_int64_t now, agw_err_t *err)
{
    int n;

    apr_thread_mutex_lock(ep.m);
    n = !strcmp(c->name, "a") ? ++ep.calls_a : ++ep.calls_b;
    if (ep.block && !strcmp(ep.block, c->name)) {
        ep.blocked++;
        apr_thread_cond_broadcast(ep.cv);
        while (!ep.released)
            apr_thread_cond_wait(ep.cv, ep.m);
    }
    apr_thread_mutex_unlock(ep.m);
    if (ep.real_delay)
        apr_sleep(ep.real_delay);
    if (ep.fail) {
        agw_err_set(err, NULL, "simulated");
        return APR_EGENERAL;
    }
    tok->access_token = apr_psprintf(p, "tok-%s-%d", c->name, n);
    tok->dpop = c->dpop_key != NULL && !ep.unbound;
    tok->obtained_at = now;
    tok->expires_at = now + ep.lifetime;
    return APR_SUCCESS;
}

static void log_cb(void *baton, agw_log_level_e level, int msgno, const char *msg)
{
    if (msgno == AGW_MSG_CC_OBTAINED)
        logged_obtained++;
    if (msgno == AGW_MSG_CC_FAILED)
        logged_failed++;
    apr_cpystrn(last_log, msg, sizeof(last_log));
}

static agw_shared_t shared = { fake_get, fake_put, &fk, fake_del };

static agw_client_t *client(const char *name)
{
    agw_client_t *c = apr_pcalloc(agw_test_pool, sizeof(*c));
    c->name = name;
    c->token_url = "https://issuer.test/oauth/token";
    c->renew_percent = 80;
    c->cache_key = apr_pstrcat(agw_test_pool, "cc:", name, NULL);
    return c;
}

/* A store as one process of the host has it, on the shared fake store. */
static agw_ccstore_t *process(int with_shared)
{
    agw_ccstore_t *s;
    ck_assert_int_eq(agw_ccstore_create(&s, agw_test_pool, log_cb, NULL), APR_SUCCESS);
    if (with_shared)
        agw_ccstore_share(s, &shared, NULL, 0);
    agw_ccstore_set_fetch(s, fake_fetch, NULL);
    agw_ccstore_set_sleep(s, fake_sleep, NULL);
    return s;
}

static void setup(void)
{
    agw_test_pool_setup();
    memset(&fk, 0, sizeof(fk));
    memset(&ep, 0, sizeof(ep));
    apr_thread_mutex_create(&fk.m, APR_THREAD_MUTEX_DEFAULT, agw_test_pool);
    apr_thread_mutex_create(&ep.m, APR_THREAD_MUTEX_DEFAULT, agw_test_pool);
    apr_thread_cond_create(&ep.cv, agw_test_pool);
    apr_pool_create(&fk.pool, agw_test_pool);
    fk.h = apr_hash_make(fk.pool);
    fk.now_ms = 1000 * 1000;
    ep.lifetime = 100;
    logged_obtained = logged_failed = 0;
    last_log[0] = '\0';
}

static void teardown(void)
{
    agw_test_pool_teardown();
}

/* The token for c at the fake clock's time; NULL on APR_EAGAIN, with *retry. */
static const char *get(agw_ccstore_t *s, const agw_client_t *c, apr_int64_t *retry)
{
    const char *tok = NULL;
    apr_int64_t r = -1;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv = agw_ccstore_token(&tok, &r, s, c, agw_test_pool, fake_now(), NULL, &err);

    ck_assert(rv == APR_SUCCESS || rv == APR_EAGAIN);
    ck_assert((rv == APR_SUCCESS) == (tok != NULL));
    if (rv == APR_EAGAIN)
        ck_assert_ptr_nonnull(err.reason);
    if (retry)
        *retry = rv == APR_SUCCESS ? 0 : r;
    return tok;
}

static void at(apr_int64_t t)
{
    fk.now_ms = t * 1000;
}

/* ---- one process --------------------------------------------------------------------------- */

START_TEST(fresh_fetch_then_served_from_memory)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");
    agw_ccstore_stats_t st;
    int gets;

    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_eq(logged_obtained, 1);
    ck_assert_ptr_nonnull(strstr(last_log, "token for client a obtained from "
                                           "https://issuer.test/oauth/token, expires in 100 s "
                                           "(fp="));
    ck_assert_ptr_null(strstr(last_log, "tok-a-1"));
    ck_assert_str_eq(fake_value("cc:a"), apr_psprintf(agw_test_pool, "1 1000 1100 tok-a-1"));
    ck_assert_ptr_null(fake_value("lock:cc:a"));       /* the claim is released */
    gets = fk.gets;
    at(1079);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_eq(fk.gets, gets);                   /* from memory: no shared round trip */
    agw_ccstore_stats(&st, s, a, agw_test_pool, 1079);
    ck_assert_int_eq(st.has_token, 1);
    ck_assert_int_eq(st.expires_in, 21);
    ck_assert_uint_eq(st.fetches, 1);
    ck_assert_uint_eq(st.served, 2);
    ck_assert_uint_eq(st.refused, 0);
    ck_assert_ptr_null(st.last_error);
    ck_assert_int_eq(fk.slept_ms, 0);
}
END_TEST

START_TEST(adopted_from_shared_without_fetching)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1);
    agw_client_t *a = client("a");

    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    at(1010);
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_eq(logged_obtained, 1);
}
END_TEST

START_TEST(never_served_in_its_last_seconds)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");
    apr_int64_t retry;

    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ep.fail = 1;
    /* renewal fails from 1080 on; the old token serves while it has more than the margin */
    at(1094);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 2);
    at(1095);
    ck_assert_ptr_null(get(s, a, &retry));
    ck_assert_int_ge(retry, 1);
    at(1099);
    ck_assert_ptr_null(get(s, a, &retry));
}
END_TEST

START_TEST(too_short_lifetime_is_a_failure)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");
    apr_int64_t retry;

    ep.lifetime = AGW_CC_EXPIRY_MARGIN;
    ck_assert_ptr_null(get(s, a, &retry));
    ck_assert_int_eq(retry, 2);
    ck_assert_int_eq(logged_failed, 1);
    ck_assert_str_eq(last_log, "token request for client a to https://issuer.test/oauth/token "
                               "failed: token lifetime (expires_in 5) too short to use; next "
                               "attempt in 2 s");
    ck_assert_ptr_null(fake_value("cc:a"));
    ck_assert_ptr_null(get(s, a, &retry));  /* within the backoff: no new request */
    ck_assert_int_eq(ep.calls_a, 1);
    ep.lifetime = AGW_CC_EXPIRY_MARGIN + 1;
    at(1002);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-2");
}
END_TEST

/* ---- failing endpoint: backoff shared through "fail:" ---------------------------------------- */

START_TEST(endpoint_failing_backs_off_and_shares_it)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1);
    agw_client_t *a = client("a");
    static const apr_int64_t waits[] = { 2, 4, 8, 16, 32, 60, 60 };
    apr_int64_t retry, t = 1000;
    agw_ccstore_stats_t st;
    size_t i;

    ep.fail = 1;
    for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        at(t);
        ck_assert_ptr_null(get(p1, a, &retry));
        ck_assert_int_eq(retry, waits[i]);
        ck_assert_int_eq(ep.calls_a, (int)i + 1);
        ck_assert_str_eq(fake_value("fail:cc:a"),
                         apr_psprintf(agw_test_pool, "%d %" APR_INT64_T_FMT, (int)i + 1,
                                      t + waits[i]));
        /* the other process backs off with it, without a request of its own */
        at(t + 1);
        ck_assert_ptr_null(get(p2, a, &retry));
        ck_assert_int_eq(retry, waits[i] - 1);
        ck_assert_ptr_null(get(p1, a, &retry));
        ck_assert_int_eq(retry, waits[i] - 1);
        ck_assert_int_eq(ep.calls_a, (int)i + 1);
        t += waits[i];
    }
    ck_assert_ptr_nonnull(strstr(last_log, "failed: simulated; next attempt in 60 s"));
    /* the other process's next failure continues the sequence */
    at(t);
    ck_assert_ptr_null(get(p2, a, &retry));
    ck_assert_int_eq(retry, 60);
    agw_ccstore_stats(&st, p1, a, agw_test_pool, t);
    ck_assert_uint_eq(st.failures, 7);
    ck_assert_uint_eq(st.refused, 14);
    ck_assert_str_eq(st.last_error, "simulated");
    /* recovery: the fail record goes */
    ep.fail = 0;
    at(t + 60);
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-9");
    ck_assert_ptr_null(fake_value("fail:cc:a"));
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-9");
}
END_TEST

/* An endpoint slower than the backoff is not asked again as soon as it has answered: the
 * backoff counts from the failure's answer, not from the request. */
START_TEST(backoff_counts_from_a_slow_failure)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");
    apr_int64_t retry;

    ep.fail = 1;
    ep.real_delay = apr_time_from_msec(2200);
    at(1000);
    ck_assert_ptr_null(get(s, a, &retry));
    ck_assert_int_ge(retry, 4);     /* 2 s of answer + the 2 s backoff */
    ck_assert_int_le(retry, 5);
    ck_assert_str_eq(fake_value("fail:cc:a"),
                     apr_psprintf(agw_test_pool, "1 %" APR_INT64_T_FMT, 1000 + retry));
    at(1003);                       /* past a backoff counted from the request */
    ck_assert_ptr_null(get(s, a, &retry));
    ck_assert_int_eq(ep.calls_a, 1);
}
END_TEST

/* ---- claims ---------------------------------------------------------------------------------- */

START_TEST(renewal_claimed_elsewhere_serves_the_old_token)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1);
    agw_client_t *a = client("a");

    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-1");
    at(1080);
    fake_set("lock:cc:a", "someone", 1095);        /* another process is renewing */
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_eq(fk.slept_ms, 0);               /* renewal never waits */
    /* that process publishes; the next call adopts its token without a request */
    fake_set("cc:a", "1 1080 1180 tok-a-other", 1180);
    apr_hash_set(fk.h, "lock:cc:a", APR_HASH_KEY_STRING, NULL);
    at(1081);
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-other");
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-other");
    ck_assert_int_eq(ep.calls_a, 1);
}
END_TEST

START_TEST(lock_of_a_dead_host_expires_then_the_waiter_fetches)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");

    fake_set("lock:cc:a", "dead-host", 1000 + AGW_CC_CLAIM_TTL);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    /* it waited for the lock's TTL, in short sleeps, and no longer */
    ck_assert_int_ge(fk.slept_ms, AGW_CC_CLAIM_TTL * 1000);
    ck_assert_int_le(fk.slept_ms, (AGW_CC_CLAIM_TTL + 1) * 1000);
    ck_assert_str_eq(fake_value("cc:a"), apr_psprintf(agw_test_pool, "1 %d %d tok-a-1",
                                                      1000 + AGW_CC_CLAIM_TTL,
                                                      1100 + AGW_CC_CLAIM_TTL));
}
END_TEST

START_TEST(lock_that_never_goes_is_waited_for_boundedly)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");

    fake_set("lock:cc:a", "stuck", APR_INT64_C(1) << 40);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_le(fk.slept_ms, (AGW_CC_CLAIM_TTL + 1) * 1000 + 200);
    ck_assert_int_ge(fk.slept_ms, (AGW_CC_CLAIM_TTL + 1) * 1000);
}
END_TEST

START_TEST(waiter_takes_what_the_lock_holder_published)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1);
    agw_client_t *a = client("a");

    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    /* p2 has no usable token and p1 holds the claim: p2 looks again every 100 ms, and takes
     * p1's token when p1 publishes it, 3 s later */
    at(1200);
    fake_set("lock:cc:a", "p1", 1200 + AGW_CC_CLAIM_TTL);
    fake_set_from("cc:a", "1 1203 1303 tok-a-renewed", 1303, 1203 * 1000);
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-renewed");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_eq(fk.slept_ms, 3000);
}
END_TEST

/* the fleet: a claim is read back after the settle wait; another host's claim wins */
static int overwrite_lock;

static apr_status_t racing_put(void *baton, const char *key, const char *data, apr_size_t len,
                               apr_int64_t expires_at, apr_pool_t *p)
{
    apr_status_t rv = fake_put(baton, key, data, len, expires_at, p);
    if (overwrite_lock && !strncmp(key, "lock:", 5)) {
        overwrite_lock = 0;
        fake_set(key, "other-host", expires_at);   /* stored just after ours */
    }
    return rv;
}

START_TEST(fleet_claim_read_back_loses_to_another_host)
{
    agw_shared_t racing = { fake_get, racing_put, &fk, fake_del };
    agw_ccstore_t *s = process(0);
    agw_client_t *a = client("a");

    agw_ccstore_share(s, &racing, NULL, 1);
    overwrite_lock = 1;
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    /* it lost the first claim, waited for the other host's lock to expire, then fetched */
    ck_assert_int_ge(fk.slept_ms, AGW_CC_CLAIM_TTL * 1000);
    ck_assert_int_eq(ep.calls_a, 1);
    /* without a race: one settle wait */
    fk.slept_ms = 0;
    at(1200);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-2");
    ck_assert_int_eq(fk.slept_ms, 300);     /* two settle waits */
}
END_TEST

/* Another process publishes its token and lets its claim go between this process's look for
 * a token and its claim: the claim is won, and the token then found is taken, not fetched
 * again (seen as two token fetches between two hosts in CI under load). */
static const char *late_key, *late_val;
static apr_status_t publishing_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                                   apr_pool_t *p)
{
    if (late_key && !strncmp(key, "lock:", 5)) {
        apr_thread_mutex_lock(fk.m);
        fake_set(late_key, late_val, 9999999);     /* published just now; its claim is gone */
        apr_thread_mutex_unlock(fk.m);
        late_key = NULL;
    }
    return fake_get(baton, key, pdata, plen, p);
}

START_TEST(a_token_published_before_the_claim_is_taken)
{
    agw_shared_t publishing = { publishing_get, fake_put, &fk, fake_del };
    agw_ccstore_t *other = process(1), *s = process(0);
    agw_client_t *a = client("a");
    apr_hash_index_t *hi;

    /* the other process's token record, as it publishes it */
    ck_assert_str_eq(get(other, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    for (hi = apr_hash_first(agw_test_pool, fk.h); hi; hi = apr_hash_next(hi))
        if (!strcmp(apr_hash_this_key(hi), a->cache_key)) {
            late_key = apr_pstrdup(agw_test_pool, apr_hash_this_key(hi));
            late_val = apr_pstrdup(agw_test_pool, ((entry_t *)apr_hash_this_val(hi))->val);
        }
    ck_assert_ptr_nonnull(late_key);
    apr_hash_set(fk.h, late_key, APR_HASH_KEY_STRING, NULL);  /* not published yet */
    agw_ccstore_share(s, &publishing, NULL, 0);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);               /* taken, not fetched */
    ck_assert_ptr_null(fake_value(apr_pstrcat(agw_test_pool, "lock:", a->cache_key, NULL)));
}
END_TEST

/* The other host's claim lands at this fake time (ms), after this host's first read-back. */
static apr_int64_t late_claim_ms = -1;

static apr_status_t late_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                             apr_pool_t *p)
{
    if (late_claim_ms >= 0 && fk.now_ms >= late_claim_ms && !strncmp(key, "lock:", 5)) {
        late_claim_ms = -1;
        fake_set(key, "other-host", fk.now_ms / 1000 + AGW_CC_CLAIM_TTL);
    }
    return fake_get(baton, key, pdata, plen, p);
}

START_TEST(fleet_claim_stored_late_by_another_host_is_seen)
{
    agw_shared_t late = { late_get, fake_put, &fk, fake_del };
    agw_ccstore_t *s = process(0);
    agw_client_t *a = client("a");

    agw_ccstore_share(s, &late, NULL, 1);
    at(1000);
    /* the other host looked before this one stored, and stores 200 ms later: between this
     * host's first read-back (150 ms) and its second (300 ms) */
    late_claim_ms = 1000 * 1000 + 200;
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_ge(fk.slept_ms, AGW_CC_CLAIM_TTL * 1000);
    ck_assert_int_eq(ep.calls_a, 1);
}
END_TEST

static int lock_busy, lock_tries, unlocks;

static apr_status_t busy_try_lock(void *baton)
{
    lock_tries++;
    return lock_busy ? APR_EBUSY : APR_SUCCESS;
}

static void count_unlock(void *baton)
{
    unlocks++;
}

START_TEST(host_lock_is_only_tried)
{
    agw_cc_hostlock_t hl = { busy_try_lock, count_unlock, NULL };
    agw_ccstore_t *s = process(0);
    agw_client_t *a = client("a");

    agw_ccstore_share(s, &shared, &hl, 0);
    lock_busy = 1;
    lock_tries = unlocks = 0;
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(lock_tries, 100);
    ck_assert_int_eq(unlocks, 0);
    ck_assert_int_le(fk.slept_ms, 200);
    lock_busy = 0;
    at(1200);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-2");
    ck_assert_int_eq(unlocks, 1);
}
END_TEST

/* ---- hostile records ----------------------------------------------------------------------- */

START_TEST(hostile_shared_records_are_ignored)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");

    /* a token pinned for a century, one obtained in the future, a far-future backoff */
    fake_set("cc:a", "1 1000 4000000000 tok-forged", APR_INT64_C(1) << 40);
    fake_set("fail:cc:a", "1 99999999999", APR_INT64_C(1) << 40);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    at(1200);
    fake_set("cc:a", "1 5000 5100 tok-future", APR_INT64_C(1) << 40);
    fake_set("fail:cc:a", "-3 1300", APR_INT64_C(1) << 40);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-2");
    at(1400);
    fake_set("cc:a", "1 1400 1500 tok bad", APR_INT64_C(1) << 40);
    fake_set("fail:cc:a", "2 1410junk", APR_INT64_C(1) << 40);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-3");
    ck_assert_int_eq(ep.calls_a, 3);
}
END_TEST

/* ---- store down ---------------------------------------------------------------------------- */

typedef struct caller_t {
    agw_ccstore_t *store;
    agw_client_t *c;
    apr_int64_t now;
    const char *tok;
    apr_pool_t *pool;
} caller_t;

static void *APR_THREAD_FUNC call_thread(apr_thread_t *t, void *data)
{
    caller_t *cl = data;
    apr_int64_t r;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    agw_ccstore_token(&cl->tok, &r, cl->store, cl->c, cl->pool, cl->now, NULL, &err);
    /* a plain return: apr_thread_exit's pthread_exit unwinds past ASan's stack poisoning */
    return NULL;
}

static apr_thread_t *start_caller(caller_t *cl, agw_ccstore_t *s, agw_client_t *c)
{
    apr_thread_t *t;
    cl->store = s;
    cl->c = c;
    cl->now = fake_now();
    cl->tok = NULL;
    apr_pool_create(&cl->pool, NULL);
    ck_assert_int_eq(apr_thread_create(&t, NULL, call_thread, cl, agw_test_pool), APR_SUCCESS);
    return t;
}

static void join_caller(apr_thread_t *t, caller_t *cl)
{
    apr_status_t trv;
    apr_thread_join(&trv, t);
    cl->tok = cl->tok ? apr_pstrdup(agw_test_pool, cl->tok) : NULL;
    apr_pool_destroy(cl->pool);
}

static void wait_blocked(int n)
{
    apr_thread_mutex_lock(ep.m);
    while (ep.blocked < n)
        apr_thread_cond_wait(ep.cv, ep.m);
    apr_thread_mutex_unlock(ep.m);
}

static void release(void)
{
    apr_thread_mutex_lock(ep.m);
    ep.released = 1;
    apr_thread_cond_broadcast(ep.cv);
    apr_thread_mutex_unlock(ep.m);
}

START_TEST(store_down_each_process_fetches_single_flight_within)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1);
    agw_client_t *a = client("a");
    caller_t c1, c2;
    apr_thread_t *t1, *t2;

    fk.down = 1;
    ep.block = "a";
    t1 = start_caller(&c1, p1, a);
    wait_blocked(1);
    t2 = start_caller(&c2, p1, a);
    apr_sleep(apr_time_from_msec(300));     /* the second thread is waiting by now */
    ck_assert_int_eq(ep.calls_a, 1);
    release();
    join_caller(t1, &c1);
    join_caller(t2, &c2);
    ck_assert_str_eq(c1.tok, "tok-a-1");
    ck_assert_str_eq(c2.tok, "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    /* the other process cannot see it: it fetches for itself */
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-2");
    ck_assert_int_eq(ep.calls_a, 2);
    /* renewal with the store down: one thread of the process renews, the others keep the
     * old token without a request of their own */
    at(1080);
    ep.released = 0;
    t1 = start_caller(&c1, p1, a);
    wait_blocked(3);
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 3);
    release();
    join_caller(t1, &c1);
    ck_assert_str_eq(c1.tok, "tok-a-3");
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-3");
}
END_TEST

/* ---- threads: renewal and clients apart ---------------------------------------------------- */

START_TEST(one_renewer_others_served_the_old_token)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1);
    agw_client_t *a = client("a");
    agw_ccstore_stats_t st;
    caller_t c1;
    apr_thread_t *t1;
    apr_time_t t0;

    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-1");
    at(1080);
    ep.block = "a";
    t1 = start_caller(&c1, p1, a);
    wait_blocked(1);
    /* meanwhile, in the same process and in another: the old token, at once */
    t0 = apr_time_now();
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-1");
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_sec(1));
    ck_assert_int_eq(ep.calls_a, 2);
    release();
    join_caller(t1, &c1);
    ck_assert_str_eq(c1.tok, "tok-a-2");
    agw_ccstore_stats(&st, p1, a, agw_test_pool, 1080);
    ck_assert_uint_eq(st.served, 3);        /* one per call, renewed or not */
    ck_assert_uint_eq(st.fetches, 2);
    /* the other process adopts the renewed token without a request */
    at(1081);
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-2");
    ck_assert_int_eq(ep.calls_a, 2);
}
END_TEST

START_TEST(a_slow_client_never_delays_another)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a"), *b = client("b");
    caller_t c1;
    apr_thread_t *t1;
    apr_time_t t0;

    ep.block = "a";
    t1 = start_caller(&c1, s, a);
    wait_blocked(1);
    t0 = apr_time_now();
    ck_assert_str_eq(get(s, b, NULL), "tok-b-1");
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_sec(1));
    ck_assert_ptr_null(c1.tok);
    ep.fail = 1;
    release();
    join_caller(t1, &c1);
    ck_assert_ptr_null(c1.tok);
    /* a fails and backs off; b is served all along */
    ck_assert_str_eq(get(s, b, NULL), "tok-b-1");
}
END_TEST

/* ---- the persistent store: a token survives a restart ------------------------------------- */

static apr_hash_t *kept;
static int kept_loads;

static apr_status_t kept_load(void *baton, const char *name, char **pdata, apr_size_t *plen,
                              apr_pool_t *p)
{
    const char *v = apr_hash_get(kept, name, APR_HASH_KEY_STRING);
    kept_loads++;
    if (!v)
        return APR_NOTFOUND;
    *pdata = apr_pstrdup(p, v);
    *plen = strlen(v);
    return APR_SUCCESS;
}

static apr_status_t kept_save(void *baton, const char *name, const char *data, apr_size_t len,
                              apr_pool_t *p)
{
    apr_hash_set(kept, apr_pstrdup(agw_test_pool, name), APR_HASH_KEY_STRING,
                 apr_pstrndup(agw_test_pool, data, len));
    return APR_SUCCESS;
}

static const agw_persist_t kept_ops = { kept_load, kept_save, NULL };

static agw_ccstore_t *restarted_process(void)
{
    agw_ccstore_t *s = process(0);
    agw_ccstore_persist(s, &kept_ops);
    return s;
}

START_TEST(a_kept_token_survives_a_restart_while_valid)
{
    agw_client_t *a = client("a");
    agw_ccstore_t *s;
    apr_int64_t retry;

    kept = apr_hash_make(agw_test_pool);
    kept_loads = 0;
    s = restarted_process();
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(kept_loads, 1);        /* looked once, found nothing, fetched */
    ck_assert_str_eq(apr_hash_get(kept, "cc:a", APR_HASH_KEY_STRING), "1 1000 1100 tok-a-1");
    /* the endpoint goes down; the server restarts: the kept token serves, nothing fetched */
    ep.fail = 1;
    at(1050);
    s = restarted_process();
    logged_obtained = 0;
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_ptr_nonnull(strstr(last_log, "token for client a restored from the state kept "
                                           "across restarts, expires in 50 s (fp="));
    ck_assert_ptr_null(strstr(last_log, "tok-a-1"));
    /* past its renewal time it still serves while renewals fail, up to the margin */
    at(1094);
    ck_assert_str_eq(get(s, a, NULL), "tok-a-1");
    ck_assert_int_eq(ep.calls_a, 2);
    /* a restart within the margin: not adopted, the endpoint is asked (and fails) */
    at(1096);
    s = restarted_process();
    ck_assert_ptr_null(get(s, a, &retry));
    ck_assert_int_eq(ep.calls_a, 3);
    /* a record that does not decode is not adopted */
    ep.fail = 0;
    at(1060);
    apr_hash_set(kept, "cc:a", APR_HASH_KEY_STRING, "1 1000 junk tok-a-1");
    s = restarted_process();
    ck_assert_str_eq(get(s, a, NULL), "tok-a-4");
    /* and the fetched token replaces it */
    ck_assert_str_eq(apr_hash_get(kept, "cc:a", APR_HASH_KEY_STRING), "1 1060 1160 tok-a-4");
}
END_TEST

/* ---- DPoP-bound tokens ------------------------------------------------------------------------ */

static const char DPOP_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguTiN3ZK7DljvRQMd\n"
    "eIC8wRkl3Maf3pJ5tzJCRnJ2CHehRANCAARQ4+ihg/jkLYPa5K/9KB0Rr3VN5rH6\n"
    "RXHJFvNEdEUI2PB1FoWqrKG5DW/X60u8ETy7iWhN9/g3U26HAci3luaO\n"
    "-----END PRIVATE KEY-----\n";

START_TEST(dpop_tokens_are_shared_only_with_dpop_clients)
{
    agw_ccstore_t *p1 = process(1), *p2 = process(1), *p3 = process(1);
    agw_client_t *a = client("a");
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_dpopsign_load(&a->dpop_key, agw_test_pool, DPOP_PEM,
                                       sizeof(DPOP_PEM) - 1, AGW_ALG_NONE, &err), APR_SUCCESS);
    ck_assert_str_eq(get(p1, a, NULL), "tok-a-1");
    ck_assert_str_eq(fake_value("cc:a"), "2 1000 1100 DPoP tok-a-1");
    ck_assert_ptr_nonnull(strstr(last_log, ", DPoP-bound to jkt="));
    at(1010);
    ck_assert_str_eq(get(p2, a, NULL), "tok-a-1");     /* another process adopts it */
    ck_assert_int_eq(ep.calls_a, 1);
    /* a Bearer record under a DPoP client's key is not taken: that process fetches its own */
    fake_put(&fk, "cc:a", "1 1000 1100 bearer-tok", 22, 1100, agw_test_pool);
    ck_assert_str_eq(get(p3, a, NULL), "tok-a-2");
    ck_assert_int_eq(ep.calls_a, 2);
}
END_TEST

START_TEST(dpop_client_refuses_an_unbound_token)
{
    agw_ccstore_t *p1 = process(1);
    agw_client_t *a = client("a");
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry = 0;

    ck_assert_int_eq(agw_dpopsign_load(&a->dpop_key, agw_test_pool, DPOP_PEM,
                                       sizeof(DPOP_PEM) - 1, AGW_ALG_NONE, &err), APR_SUCCESS);
    ep.unbound = 1;
    ck_assert_ptr_null(get(p1, a, &retry));
    ck_assert_int_eq(logged_failed, 1);
    ck_assert_ptr_nonnull(strstr(last_log, "token type does not fit the client"));
}
END_TEST

/* ---- the credential of a proxied request, in one call --------------------------------------- */

static agw_client_t *dpop_client(const char *name)
{
    agw_client_t *c = client(name);
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_dpopsign_load(&c->dpop_key, agw_test_pool, DPOP_PEM,
                                       sizeof(DPOP_PEM) - 1, AGW_ALG_NONE, &err), APR_SUCCESS);
    return c;
}

/* agw_ccstore_credential at the fake clock's time: its status, with *err's reason. */
static apr_status_t credential(agw_credential_t *cred, apr_int64_t *retry, agw_err_t *err,
                               agw_ccstore_t *s, const agw_client_t *c, const char *method,
                               const char *target)
{
    agw_cred_req_t req = { method, target };

    *retry = -1;
    return agw_ccstore_credential(cred, retry, s, c, &req, agw_test_pool, fake_now(), NULL,
                                  err);
}

/* The proof verifies for method and url with the token's ath at time now; its iat. */
static apr_int64_t proof_verifies(const agw_credential_t *cred, const agw_client_t *c,
                                  const char *token, const char *method, const char *url,
                                  apr_int64_t now)
{
    agw_dpop_req_t req = { method, url, token, strlen(token), now, 0, 1, NULL };
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_dpop_t *proof = NULL;

    ck_assert_ptr_nonnull(cred->dpop);
    ck_assert_msg(agw_dpop_verify(&proof, agw_test_pool, cred->dpop, strlen(cred->dpop), &req,
                                  &err) == APR_SUCCESS, "proof refused: %s", err.reason);
    ck_assert_str_eq(agw_b64url_encode(agw_test_pool, proof->jkt, sizeof(proof->jkt)),
                     agw_dpopsign_jkt(c->dpop_key));
    return proof->iat;
}

START_TEST(credential_of_a_bearer_client)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a");
    agw_credential_t cred;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry;

    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET", "http://backend.test/x"),
                     APR_SUCCESS);
    ck_assert_int_eq(cred.fail, AGW_CRED_OK);
    ck_assert_str_eq(cred.authorization, "Bearer tok-a-1");
    ck_assert_ptr_null(cred.dpop);
    /* no target is needed without DPoP; the token is the store's, served from memory */
    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET", NULL), APR_SUCCESS);
    ck_assert_str_eq(cred.authorization, "Bearer tok-a-1");
    ck_assert_ptr_null(cred.dpop);
    ck_assert_int_eq(ep.calls_a, 1);
}
END_TEST

START_TEST(credential_of_a_dpop_client_carries_a_fresh_proof)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = dpop_client("a");
    agw_credential_t cred;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry, iat;
    const char *first;

    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "POST",
                                "https://backend.test:8443/api/items?q=secret#f"), APR_SUCCESS);
    ck_assert_int_eq(cred.fail, AGW_CRED_OK);
    ck_assert_str_eq(cred.authorization, "DPoP tok-a-1");
    iat = proof_verifies(&cred, a, "tok-a-1", "POST", "https://backend.test:8443/api/items",
                         fake_now());
    ck_assert_int_ge(iat, 1000);
    ck_assert_int_le(iat, 1001);
    ck_assert_ptr_null(strstr(cred.dpop, "secret"));
    /* another method is another proof, refused for the first method */
    first = cred.dpop;
    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET",
                                "https://backend.test:8443/api/items"), APR_SUCCESS);
    ck_assert_str_ne(cred.dpop, first);
    proof_verifies(&cred, a, "tok-a-1", "GET", "https://backend.test:8443/api/items",
                   fake_now());
    ck_assert_int_eq(ep.calls_a, 1);
}
END_TEST

START_TEST(credential_proof_is_dated_after_the_wait_for_the_token)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = dpop_client("a");
    agw_credential_t cred;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry, iat;

    /* another host's claim makes this call wait AGW_CC_CLAIM_TTL s before fetching */
    fake_set("lock:cc:a", "dead-host", 1000 + AGW_CC_CLAIM_TTL);
    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET", "https://backend.test/"),
                     APR_SUCCESS);
    ck_assert_int_ge(fake_now(), 1000 + AGW_CC_CLAIM_TTL);
    iat = proof_verifies(&cred, a, "tok-a-1", "GET", "https://backend.test/", fake_now());
    ck_assert_int_ge(iat, 1000 + AGW_CC_CLAIM_TTL);
    ck_assert_int_le(iat, fake_now() + 1);
}
END_TEST

START_TEST(credential_of_a_dpop_client_without_target_is_no_proof)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = dpop_client("a");
    agw_credential_t cred;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry;

    ck_assert_int_ne(credential(&cred, &retry, &err, s, a, "GET", NULL), APR_SUCCESS);
    ck_assert_int_eq(cred.fail, AGW_CRED_NO_PROOF);
    ck_assert_ptr_null(cred.authorization);
    ck_assert_ptr_null(cred.dpop);
    ck_assert_str_eq(err.reason, "DPoP proof: the backend URL is not known");
    /* a proof that cannot be signed (no method) is no proof either */
    err.reason = NULL;
    ck_assert_int_ne(credential(&cred, &retry, &err, s, a, "", "https://backend.test/"),
                     APR_SUCCESS);
    ck_assert_int_eq(cred.fail, AGW_CRED_NO_PROOF);
    ck_assert_ptr_null(cred.authorization);
    ck_assert_ptr_nonnull(err.reason);
    /* the token was had (once), and stays for the next request */
    ck_assert_int_eq(ep.calls_a, 1);
    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET", "https://backend.test/"),
                     APR_SUCCESS);
    ck_assert_str_eq(cred.authorization, "DPoP tok-a-1");
}
END_TEST

START_TEST(credential_with_the_endpoint_failing_is_no_token_with_retry_after)
{
    agw_ccstore_t *s = process(1);
    agw_client_t *a = client("a"), *b = dpop_client("b");
    agw_credential_t cred;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_int64_t retry;

    ep.fail = 1;
    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET", "http://backend.test/"),
                     APR_EAGAIN);
    ck_assert_int_eq(cred.fail, AGW_CRED_NO_TOKEN);
    ck_assert_int_eq(retry, 2);
    ck_assert_ptr_null(cred.authorization);
    ck_assert_str_eq(err.reason, "simulated");
    at(1001);
    ck_assert_int_eq(credential(&cred, &retry, &err, s, a, "GET", "http://backend.test/"),
                     APR_EAGAIN);
    ck_assert_int_eq(retry, 1);
    /* a DPoP client without a token: no token, whether or not a proof could be made */
    ck_assert_int_eq(credential(&cred, &retry, &err, s, b, "GET", NULL), APR_EAGAIN);
    ck_assert_int_eq(cred.fail, AGW_CRED_NO_TOKEN);
    ck_assert_int_eq(retry, 2);
    ck_assert_ptr_null(cred.dpop);
    ck_assert_int_eq(ep.calls_a, 1);
}
END_TEST

Suite *agw_suite_ccstore(void)
{
    Suite *s = suite_create("ccstore");
    TCase *tc = tcase_create("ccstore");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fresh_fetch_then_served_from_memory);
    tcase_add_test(tc, adopted_from_shared_without_fetching);
    tcase_add_test(tc, never_served_in_its_last_seconds);
    tcase_add_test(tc, too_short_lifetime_is_a_failure);
    tcase_add_test(tc, endpoint_failing_backs_off_and_shares_it);
    tcase_add_test(tc, backoff_counts_from_a_slow_failure);
    tcase_add_test(tc, renewal_claimed_elsewhere_serves_the_old_token);
    tcase_add_test(tc, lock_of_a_dead_host_expires_then_the_waiter_fetches);
    tcase_add_test(tc, lock_that_never_goes_is_waited_for_boundedly);
    tcase_add_test(tc, waiter_takes_what_the_lock_holder_published);
    tcase_add_test(tc, fleet_claim_read_back_loses_to_another_host);
    tcase_add_test(tc, a_token_published_before_the_claim_is_taken);
    tcase_add_test(tc, fleet_claim_stored_late_by_another_host_is_seen);
    tcase_add_test(tc, host_lock_is_only_tried);
    tcase_add_test(tc, hostile_shared_records_are_ignored);
    tcase_add_test(tc, store_down_each_process_fetches_single_flight_within);
    tcase_add_test(tc, one_renewer_others_served_the_old_token);
    tcase_add_test(tc, a_slow_client_never_delays_another);
    tcase_add_test(tc, a_kept_token_survives_a_restart_while_valid);
    tcase_add_test(tc, dpop_tokens_are_shared_only_with_dpop_clients);
    tcase_add_test(tc, dpop_client_refuses_an_unbound_token);
    tcase_add_test(tc, credential_of_a_bearer_client);
    tcase_add_test(tc, credential_of_a_dpop_client_carries_a_fresh_proof);
    tcase_add_test(tc, credential_proof_is_dated_after_the_wait_for_the_token);
    tcase_add_test(tc, credential_of_a_dpop_client_without_target_is_no_proof);
    tcase_add_test(tc, credential_with_the_endpoint_failing_is_no_token_with_retry_after);
    suite_add_tcase(s, tc);
    return s;
}
