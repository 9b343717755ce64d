/* Unit tests of the key store (src/agw_keys.c): fetch once, cooldowns, staleness, sharing between processes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#include "tests.h"
#include "agw_keys.h"
#include "testkit.h"
#include "agw_b64.h"

/* An Ed25519 public JWK (RFC 8037 A.2) under two kids, enough for the store's bookkeeping. */
#define KEY(kid) "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"" kid "\"," \
                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"

static char path[256];
static int logged_failures;

static void write_jwks(const char *body)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(body, f);
    fclose(f);
}

static void log_cb(void *baton, agw_log_level_e level, int msgno, const char *msg)
{
    if (msgno == AGW_MSG_JWKS_FAILED)
        logged_failures++;
}

static agw_keys_spec_t file_spec(void)
{
    agw_keys_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    spec.jwks = apr_pstrcat(agw_test_pool, "file:", path, NULL);
    spec.refresh = 900;
    spec.cooldown = 30;
    spec.max_stale = 3600;
    return spec;
}

static void setup(void)
{
    agw_test_pool_setup();
    snprintf(path, sizeof(path), "/tmp/agw-keys-%ld.json", (long)getpid());
    logged_failures = 0;
}

static void teardown(void)
{
    unlink(path);
    agw_test_pool_teardown();
}

static int stat_fetches(agw_keystore_t *ks)
{
    apr_array_header_t *st = agw_keystore_stats(ks, agw_test_pool);
    return (int)APR_ARRAY_IDX(st, 0, agw_keysrc_stats_t).fetches;
}

START_TEST(fetches_once_then_serves_from_memory)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src, *again;
    agw_keys_spec_t spec;
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    int i;

    write_jwks("{\"keys\":[" KEY("a") "]}");
    ck_assert_int_eq(agw_keystore_create(&ks, agw_test_pool, log_cb, NULL), APR_SUCCESS);
    spec = file_spec();
    ck_assert_int_eq(agw_keystore_source(&src, ks, &spec), APR_SUCCESS);
    ck_assert_int_eq(agw_keystore_source(&again, ks, &spec), APR_SUCCESS);
    ck_assert_ptr_eq(src, again);
    for (i = 0; i < 5; i++) {
        ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
        ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000 + i, &retry, &err),
                         APR_SUCCESS);
        ck_assert_int_eq(ref->jwks->keys->nelts, 1);
    }
    ck_assert_int_eq(stat_fetches(ks), 1);
    /* the lock-free peek sees the same version, and none once the set is too old */
    ck_assert_uint_eq(agw_keysrc_peek(src, 1004), ref->version);
    ck_assert_uint_eq(agw_keysrc_peek(src, 1000 + 3600), ref->version);
    ck_assert_uint_eq(agw_keysrc_peek(src, 1000 + 3601), 0);
    /* a different spec is a different source */
    spec.cooldown = 31;
    ck_assert_int_eq(agw_keystore_source(&again, ks, &spec), APR_SUCCESS);
    ck_assert_ptr_ne(src, again);
    ck_assert(memcmp(agw_keysrc_id(src), agw_keysrc_id(again), 32) != 0);
}
END_TEST

START_TEST(unknown_kid_refetch_respects_cooldown)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    unsigned long v1;

    write_jwks("{\"keys\":[" KEY("a") "]}");
    agw_keystore_create(&ks, agw_test_pool, log_cb, NULL);
    agw_keystore_source(&src, ks, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    v1 = ref->version;
    /* the first fetch starts no cooldown: a kid added right after start-up (a rotation) is
     * fetched at first sight */
    write_jwks("{\"keys\":[" KEY("b") "," KEY("a") "]}");
    ck_assert_int_eq(agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1010, &err), APR_SUCCESS);
    ck_assert_uint_gt(ref->version, v1);
    ck_assert_int_eq(ref->jwks->keys->nelts, 2);
    ck_assert_int_eq(stat_fetches(ks), 2);
    /* that refetch starts the cooldown: within 30 s no other */
    v1 = ref->version;
    write_jwks("{\"keys\":[" KEY("c") "," KEY("b") "," KEY("a") "]}");
    ck_assert_int_eq(agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1020, &err), APR_EBUSY);
    ck_assert_str_eq(err.reason, "unknown key");
    ck_assert_int_eq(ref->version, v1);
    ck_assert_int_eq(stat_fetches(ks), 2);
    /* after the cooldown one refetch brings the new key */
    ck_assert_int_eq(agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1041, &err), APR_SUCCESS);
    ck_assert_uint_gt(ref->version, v1);
    ck_assert_int_eq(ref->jwks->keys->nelts, 3);
    ck_assert_int_eq(stat_fetches(ks), 3);
    /* and a flood right after is refused without fetching */
    ck_assert_int_eq(agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1042, &err), APR_EBUSY);
    ck_assert_int_eq(agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1070, &err), APR_EBUSY);
    ck_assert_int_eq(stat_fetches(ks), 3);
}
END_TEST

START_TEST(no_keys_is_eagain_with_retry_after)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    unlink(path);
    agw_keystore_create(&ks, agw_test_pool, log_cb, NULL);
    agw_keystore_source(&src, ks, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(retry, 30);
    ck_assert_str_eq(err.reason, "cannot read the JWKS file");
    ck_assert_int_eq(logged_failures, 1);
    /* within the cooldown: no new attempt, and Retry-After counts down */
    write_jwks("{\"keys\":[" KEY("a") "]}");
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1010, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(retry, 20);
    ck_assert_int_eq(logged_failures, 1);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1030, &retry, &err), APR_SUCCESS);
    /* a JWKS without one usable key is a failure, not an empty success */
    write_jwks("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}");
    agw_keystore_tick(ks, 1030 + 900);
    ck_assert_int_eq(logged_failures, 2);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1030 + 901, &retry, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(ref->jwks->keys->nelts, 1);
}
END_TEST

START_TEST(stale_beyond_max_stale_stops_serving)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    write_jwks("{\"keys\":[" KEY("a") "]}");
    agw_keystore_create(&ks, agw_test_pool, log_cb, NULL);
    agw_keystore_source(&src, ks, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    unlink(path);   /* the issuer goes away */
    agw_keystore_tick(ks, 1900);
    ck_assert_int_eq(logged_failures, 1);
    /* the last good set serves up to max_stale */
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 4600, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 4601, &retry, &err), APR_EAGAIN);
}
END_TEST

/* ---- a shared store as two processes would see it ---- */

typedef struct fake_t {
    apr_hash_t *h;
    int gets, puts;
} fake_t;

static apr_status_t fake_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                             apr_pool_t *p)
{
    fake_t *f = baton;
    const char *v = apr_hash_get(f->h, key, APR_HASH_KEY_STRING);
    f->gets++;
    if (!v)
        return APR_NOTFOUND;
    *pdata = apr_pstrdup(p, v);
    *plen = strlen(v);
    return APR_SUCCESS;
}

static apr_status_t fake_put(void *baton, const char *key, const char *data, apr_size_t len,
                             apr_int64_t expires_at, apr_pool_t *p)
{
    fake_t *f = baton;
    f->puts++;
    apr_hash_set(f->h, apr_pstrdup(agw_test_pool, key), APR_HASH_KEY_STRING,
                 apr_pstrndup(agw_test_pool, data, len));
    return APR_SUCCESS;
}

START_TEST(processes_share_keys_and_cooldown)
{
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    agw_keystore_t *a, *b;
    agw_keysrc_t *sa, *sb;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ra = apr_pcalloc(agw_test_pool, sizeof(*ra));
    agw_keys_ref_t *rb = apr_pcalloc(agw_test_pool, sizeof(*rb));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    f.h = apr_hash_make(agw_test_pool);
    write_jwks("{\"keys\":[" KEY("a") "]}");
    agw_keystore_create(&a, agw_test_pool, log_cb, NULL);
    agw_keystore_create(&b, agw_test_pool, log_cb, NULL);
    agw_keystore_share(a, &shared);
    agw_keystore_share(b, &shared);
    agw_keystore_source(&sa, a, &spec);
    agw_keystore_source(&sb, b, &spec);
    ck_assert_int_eq(agw_keysrc_get(ra, sa, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(stat_fetches(a), 1);
    /* process b finds a's set in the shared store: no fetch of its own */
    unlink(path);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1005, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_int_eq(rb->jwks->keys->nelts, 1);
    /* a refetches for an unknown kid after its cooldown; b, meeting the same kid, adopts
     * a's newer set without fetching, though b's own cooldown would allow it */
    write_jwks("{\"keys\":[" KEY("b") "," KEY("a") "]}");
    ck_assert_int_eq(agw_keysrc_unknown_kid(ra, sa, agw_test_pool, 1040, &err), APR_SUCCESS);
    ck_assert_int_eq(ra->jwks->keys->nelts, 2);
    unlink(path);
    ck_assert_int_eq(agw_keysrc_unknown_kid(rb, sb, agw_test_pool, 1041, &err), APR_SUCCESS);
    ck_assert_int_eq(rb->jwks->keys->nelts, 2);
    ck_assert_int_eq(stat_fetches(b), 0);
    /* a third unknown kid within the shared cooldown: nobody fetches */
    ck_assert_int_eq(agw_keysrc_unknown_kid(rb, sb, agw_test_pool, 1050, &err), APR_EBUSY);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_int_eq(stat_fetches(a), 2);
}
END_TEST

/* ---- issue 15: bounded waits, a host-wide cooldown claimed before the fetch ---- */

/* A shared store whose get blocks for a while: a fetch that hangs (the mutex is not held). */
typedef struct slow_t {
    fake_t fake;
    apr_interval_time_t delay;
} slow_t;

static apr_status_t slow_get(void *baton, const char *key, char **pdata, apr_size_t *plen,
                             apr_pool_t *p)
{
    slow_t *s = baton;
    if (s->delay) {             /* the first look hangs; the rest answer at once */
        apr_sleep(s->delay);
        s->delay = 0;
    }
    return fake_get(&s->fake, key, pdata, plen, p);
}

typedef struct waiter_t {
    agw_keysrc_t *src;
    apr_status_t rv;
    apr_time_t took;
} waiter_t;

static void *APR_THREAD_FUNC first_fetch(apr_thread_t *t, void *data)
{
    waiter_t *w = data;
    apr_pool_t *p;
    agw_keys_ref_t ref;
    apr_int64_t retry;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_time_t t0 = apr_time_now();

    memset(&ref, 0, sizeof(ref));
    apr_pool_create(&p, NULL);
    w->rv = agw_keysrc_get(&ref, w->src, p, 1000, &retry, &err);
    w->took = apr_time_now() - t0;
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static void *APR_THREAD_FUNC first_kid(apr_thread_t *t, void *data)
{
    waiter_t *w = data;
    apr_pool_t *p;
    agw_keys_ref_t ref;
    apr_int64_t retry;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    memset(&ref, 0, sizeof(ref));
    apr_pool_create(&p, NULL);
    agw_keysrc_get(&ref, w->src, p, 1002, &retry, &err);
    w->rv = agw_keysrc_unknown_kid(&ref, w->src, p, 1002, &err);
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* While one request's fetch hangs, another waits no longer than the fetch wait, and an
 * unknown kid costs no worker either. */
START_TEST(waits_for_a_hanging_fetch_are_bounded)
{
    slow_t slow = { { NULL, 0, 0 }, apr_time_from_msec(2500) };
    agw_shared_t shared = { slow_get, fake_put, &slow, NULL };
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    waiter_t hung = { NULL, APR_SUCCESS, 0 };
    apr_thread_t *t;
    apr_status_t trv;
    apr_int64_t retry = 0;
    apr_time_t t0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    slow.fake.h = apr_hash_make(agw_test_pool);
    spec.fetch_wait = 1;
    write_jwks("{\"keys\":[" KEY("a") "]}");
    agw_keystore_create(&ks, agw_test_pool, log_cb, NULL);
    agw_keystore_share(ks, &shared);
    agw_keystore_source(&src, ks, &spec);
    hung.src = src;
    ck_assert_int_eq(apr_thread_create(&t, NULL, first_fetch, &hung, agw_test_pool), APR_SUCCESS);
    apr_sleep(apr_time_from_msec(200));             /* the first request is in its fetch */
    t0 = apr_time_now();
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_EAGAIN);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(1800));
    ck_assert_int_ge(apr_time_now() - t0, apr_time_from_msec(900));
    ck_assert_int_eq(retry, 1);
    ck_assert_str_eq(err.reason, "no usable keys yet: a key fetch is still running");
    apr_thread_join(&trv, t);
    ck_assert_int_eq(hung.rv, APR_SUCCESS);         /* the fetch itself went on and worked */
    ck_assert_int_eq(stat_fetches(ks), 1);          /* and nobody started a second one */
    /* an unknown kid while another request's refetch hangs: refused within the bound */
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1001, &retry, &err), APR_SUCCESS);
    slow.delay = apr_time_from_msec(2000);
    hung.src = src;
    ck_assert_int_eq(apr_thread_create(&t, NULL, first_kid, &hung, agw_test_pool), APR_SUCCESS);
    apr_sleep(apr_time_from_msec(200));
    t0 = apr_time_now();
    ck_assert_int_eq(agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1002, &err), APR_EBUSY);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(1500));
    ck_assert_str_eq(err.reason, "unknown key");
    apr_thread_join(&trv, t);
}
END_TEST

/* A failed first fetch cools down the whole host: another process does not try again until
 * the cooldown ends, and answers at once, with the host's Retry-After. */
START_TEST(a_failed_fetch_cools_down_every_process)
{
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    agw_keystore_t *a, *b;
    agw_keysrc_t *sa, *sb;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ra = apr_pcalloc(agw_test_pool, sizeof(*ra));
    agw_keys_ref_t *rb = apr_pcalloc(agw_test_pool, sizeof(*rb));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    f.h = apr_hash_make(agw_test_pool);
    unlink(path);                                   /* the issuer is down */
    agw_keystore_create(&a, agw_test_pool, log_cb, NULL);
    agw_keystore_create(&b, agw_test_pool, log_cb, NULL);
    agw_keystore_share(a, &shared);
    agw_keystore_share(b, &shared);
    agw_keystore_source(&sa, a, &spec);
    agw_keystore_source(&sb, b, &spec);
    ck_assert_int_eq(agw_keysrc_get(ra, sa, agw_test_pool, 1000, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(stat_fetches(a), 1);
    write_jwks("{\"keys\":[" KEY("a") "]}");        /* back, but within the cooldown */
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1005, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(retry, 25);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1006, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_int_eq(logged_failures, 1);           /* one attempt on the host, one line */
    /* after it, one process fetches; the other takes its set */
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1030, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_keysrc_get(ra, sa, agw_test_pool, 1031, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(stat_fetches(b) + stat_fetches(a), 2);
}
END_TEST

/* Another process has claimed the fetch (claim written before it fetches): this one waits
 * for its set instead of fetching too. */
static fake_t *publish_into;
static const char *publish_key;
static void publish_on_sleep(apr_interval_time_t t)
{
    char rec[512];
    snprintf(rec, sizeof(rec), "1000 {\"keys\":[" KEY("a") "]}");
    fake_put(publish_into, publish_key, rec, strlen(rec), 9999, agw_test_pool);
}

START_TEST(a_claimed_fetch_is_waited_for)
{
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_hash_index_t *hi;

    f.h = apr_hash_make(agw_test_pool);
    spec.fetch_wait = 2;
    unlink(path);                                   /* a fetch of our own would fail */
    agw_keystore_create(&ks, agw_test_pool, log_cb, NULL);
    agw_keystore_share(ks, &shared);
    agw_keystore_set_sleep(ks, publish_on_sleep);
    agw_keystore_source(&src, ks, &spec);
    /* learn the record names by letting the source claim once */
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 900, &retry, &err), APR_EAGAIN);
    publish_into = &f;
    for (hi = apr_hash_first(agw_test_pool, f.h); hi; hi = apr_hash_next(hi)) {
        const char *k = apr_hash_this_key(hi);
        if (!strncmp(k, "cool:", 5))
            publish_key = apr_pstrcat(agw_test_pool, "jwks:", k + 5, NULL);
    }
    ck_assert_ptr_nonnull(publish_key);
    /* a fresh process meets another's claim in flight */
    agw_keystore_create(&ks, agw_test_pool, log_cb, NULL);
    agw_keystore_share(ks, &shared);
    agw_keystore_set_sleep(ks, publish_on_sleep);
    agw_keystore_source(&src, ks, &spec);
    for (hi = apr_hash_first(agw_test_pool, f.h); hi; hi = apr_hash_next(hi))
        if (!strncmp(apr_hash_this_key(hi), "cool:", 5))
            apr_hash_set(f.h, apr_hash_this_key(hi), APR_HASH_KEY_STRING, "999 2");
    ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(ref->jwks->keys->nelts, 1);
    ck_assert_int_eq(stat_fetches(ks), 0);          /* taken, not fetched */
}
END_TEST

/* A second Ed25519 key (RFC 8032 test 2's public key) under the same kid: new key material. */
#define OTHER_KEY(kid) "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"" kid "\"," \
                       "\"x\":\"PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw\"}"

static int holds_kid(const agw_keys_ref_t *ref, const char *kid)
{
    int i;
    for (i = 0; i < ref->jwks->keys->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(ref->jwks->keys, i, agw_jwk_t *)->kid, kid))
            return 1;
    return 0;
}

/* Issue 9.3: a process that took its keys from the shared store refreshes on schedule too,
 * from a newer shared set when one is there, else from the source itself. */
START_TEST(every_process_refreshes_on_schedule)
{
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    agw_keystore_t *a, *b, *c;
    agw_keysrc_t *sa, *sb, *sc;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ra = apr_pcalloc(agw_test_pool, sizeof(*ra));
    agw_keys_ref_t *rb = apr_pcalloc(agw_test_pool, sizeof(*rb));
    agw_keys_ref_t *rc = apr_pcalloc(agw_test_pool, sizeof(*rc));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    f.h = apr_hash_make(agw_test_pool);
    spec.refresh = 10;
    spec.max_stale = 86400;
    write_jwks("{\"keys\":[" KEY("a") "," KEY("old") "]}");
    agw_keystore_create(&a, agw_test_pool, log_cb, NULL);
    agw_keystore_create(&b, agw_test_pool, log_cb, NULL);
    agw_keystore_create(&c, agw_test_pool, log_cb, NULL);
    agw_keystore_share(a, &shared);
    agw_keystore_share(b, &shared);
    agw_keystore_share(c, &shared);
    agw_keystore_source(&sa, a, &spec);
    agw_keystore_source(&sb, b, &spec);
    agw_keystore_source(&sc, c, &spec);
    ck_assert_int_eq(agw_keysrc_get(ra, sa, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1003, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_keysrc_get(rc, sc, agw_test_pool, 1004, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(stat_fetches(b) + stat_fetches(c), 0);
    ck_assert(holds_kid(rb, "old"));
    /* the issuer drops "old" */
    write_jwks("{\"keys\":[" KEY("a") "]}");
    /* a refreshes at 1010 from the source and publishes; b, a little later, takes that */
    agw_keystore_tick(a, 1010);
    agw_keystore_tick(b, 1012);
    ck_assert_int_eq(stat_fetches(a), 2);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1012, &retry, &err), APR_SUCCESS);
    ck_assert(!holds_kid(rb, "old"));
    /* with no fresher shared set (a is gone), c fetches for itself within refresh + 2 */
    f.h = apr_hash_make(agw_test_pool);
    write_jwks("{\"keys\":[" KEY("a") "," KEY("new") "]}");
    agw_keystore_tick(c, 1000 + 10 + 2);
    ck_assert_int_eq(stat_fetches(c), 1);
    ck_assert_int_eq(agw_keysrc_get(rc, sc, agw_test_pool, 1012, &retry, &err), APR_SUCCESS);
    ck_assert(holds_kid(rc, "new"));
    ck_assert(!holds_kid(rc, "old"));
}
END_TEST

/* Scheduled refreshes claim the fetch host-wide too: a process whose refresh comes while
 * another's fetch is in flight waits for that set instead of asking the source (after a
 * restart every process refreshes within seconds of the others); during a cooldown a refresh
 * still asks the source, unclaimed, and leaves the cooldown's record as it is; a claimed
 * refresh ends its claim without starting a cooldown. */
static fake_t *sched_into;
static const char *sched_jwks_key;
static void publish_newer_on_sleep(apr_interval_time_t t)
{
    char rec[512];
    snprintf(rec, sizeof(rec), "1012 {\"keys\":[" KEY("a") "," KEY("theirs") "]}");
    fake_put(sched_into, sched_jwks_key, rec, strlen(rec), 9999, agw_test_pool);
}

static const char *cool_record(fake_t *f, const char **pkey)
{
    apr_hash_index_t *hi;
    for (hi = apr_hash_first(agw_test_pool, f->h); hi; hi = apr_hash_next(hi))
        if (!strncmp(apr_hash_this_key(hi), "cool:", 5)) {
            if (pkey)
                *pkey = apr_hash_this_key(hi);
            return apr_hash_this_val(hi);
        }
    return NULL;
}

START_TEST(scheduled_refreshes_claim_the_fetch)
{
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    agw_keystore_t *a, *b;
    agw_keysrc_t *sa, *sb;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ra = apr_pcalloc(agw_test_pool, sizeof(*ra));
    agw_keys_ref_t *rb = apr_pcalloc(agw_test_pool, sizeof(*rb));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *cool_key = NULL;

    f.h = apr_hash_make(agw_test_pool);
    spec.refresh = 10;
    spec.max_stale = 86400;
    spec.fetch_wait = 2;
    write_jwks("{\"keys\":[" KEY("a") "]}");
    agw_keystore_create(&a, agw_test_pool, log_cb, NULL);
    agw_keystore_create(&b, agw_test_pool, log_cb, NULL);
    agw_keystore_share(a, &shared);
    agw_keystore_share(b, &shared);
    agw_keystore_source(&sa, a, &spec);
    agw_keystore_source(&sb, b, &spec);
    ck_assert_int_eq(agw_keysrc_get(ra, sa, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1001, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(stat_fetches(a), 1);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_ptr_nonnull(cool_record(&f, &cool_key));
    sched_into = &f;
    sched_jwks_key = apr_pstrcat(agw_test_pool, "jwks:", cool_key + 5, NULL);

    /* b's refresh is due (1000 + 10 + 1 or 2) while another process's fetch is in flight:
     * b waits, and takes that process's set when it appears; the source (which would give
     * "mine") is not asked */
    write_jwks("{\"keys\":[" KEY("a") "," KEY("mine") "]}");
    apr_hash_set(f.h, cool_key, APR_HASH_KEY_STRING, "1012 2");
    agw_keystore_set_sleep(b, publish_newer_on_sleep);
    agw_keystore_tick(b, 1013);
    ck_assert_int_eq(stat_fetches(b), 0);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1013, &retry, &err), APR_SUCCESS);
    ck_assert(holds_kid(rb, "theirs"));
    ck_assert(!holds_kid(rb, "mine"));

    /* b's next refresh (1012 + 10 + 1 or 2) during a cooldown another process started: b
     * asks the source itself, and the cooldown's record stays */
    apr_hash_set(f.h, cool_key, APR_HASH_KEY_STRING, "1020 1");
    agw_keystore_tick(b, 1030);
    ck_assert_int_eq(stat_fetches(b), 1);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1030, &retry, &err), APR_SUCCESS);
    ck_assert(holds_kid(rb, "mine"));
    ck_assert_str_eq(cool_record(&f, NULL), "1020 1");

    /* after the cooldown (1020 + 30) a refresh claims the fetch, and its end releases the
     * claim without a cooldown */
    write_jwks("{\"keys\":[" KEY("a") "," KEY("later") "]}");
    agw_keystore_tick(b, 1060);
    ck_assert_int_eq(stat_fetches(b), 2);
    ck_assert_str_eq(cool_record(&f, NULL), "1060 0");
}
END_TEST

/* The lock-free answer to "does the current set hold this key": yes only for the key's
 * thumbprint under its kid, of the key type of the alg asked and not naming another alg, in
 * the version current now; "cannot say" (0) for a set too large to publish or a kid too
 * long, and for any older version. */
START_TEST(holds_answers_for_the_current_set_only)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const agw_jwk_t *a, *b, *r;
    EVP_PKEY *rsa = tk_keygen_rsa(2048);
    unsigned char a_md[32], b_md[32];
    unsigned long v1;
    char *many = apr_pstrdup(agw_test_pool, "{\"keys\":[" KEY("k0"));
    char long_kid[AGW_KEYS_HELD_KID_MAX + 2];
    int i;

    /* r names its alg: a set holds it for that alg only, not for another of its key type */
    memset(a_md, 0, sizeof(a_md));
    write_jwks(apr_psprintf(agw_test_pool, "{\"keys\":[" KEY("a") "," OTHER_KEY("b") ",%s]}",
                            tk_jwk(agw_test_pool, rsa, "r", "RS256", NULL)));
    ck_assert_int_eq(agw_keystore_create(&ks, agw_test_pool, log_cb, NULL), APR_SUCCESS);
    ck_assert_int_eq(agw_keystore_source(&src, ks, &spec), APR_SUCCESS);
    ck_assert_int_eq(agw_keysrc_holds(src, 1, a_md, "a", AGW_ALG_EDDSA), 0);  /* nothing yet */
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    v1 = ref->version;
    ck_assert_uint_eq(agw_keysrc_peek(src, 1000), v1);
    a = APR_ARRAY_IDX(ref->jwks->keys, 0, agw_jwk_t *);
    b = APR_ARRAY_IDX(ref->jwks->keys, 1, agw_jwk_t *);
    r = APR_ARRAY_IDX(ref->jwks->keys, 2, agw_jwk_t *);
    memcpy(a_md, a->thumbprint, 32);
    memcpy(b_md, b->thumbprint, 32);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, r->thumbprint, "r", AGW_ALG_RS256), 1);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, r->thumbprint, "r", AGW_ALG_RS384), 0);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, r->thumbprint, "r", AGW_ALG_PS256), 0);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, r->thumbprint, "r", AGW_ALG_ES256), 0);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "a", AGW_ALG_EDDSA), 1);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, b_md, "b", AGW_ALG_EDDSA), 1);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "b", AGW_ALG_EDDSA), 0);  /* other kid */
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "", AGW_ALG_EDDSA), 0);   /* no kid */
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "a", AGW_ALG_RS256), 0);  /* other kty */
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "a", AGW_ALG_ES256), 0);
    ck_assert_int_eq(agw_keysrc_holds(src, v1 + 1, a_md, "a", AGW_ALG_EDDSA), 0);
    ck_assert_int_eq(agw_keysrc_holds(src, 0, a_md, "a", AGW_ALG_EDDSA), 0);
    a_md[31] ^= 1;
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "a", AGW_ALG_EDDSA), 0);
    a_md[31] ^= 1;

    /* the next set: b is gone, a stays; the older version is known no more */
    write_jwks("{\"keys\":[" KEY("a") "]}");
    agw_keystore_tick(ks, 1000 + 3600);
    ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000 + 3600, &retry, &err),
                     APR_SUCCESS);
    ck_assert_uint_gt(ref->version, v1);
    ck_assert_int_eq(agw_keysrc_holds(src, ref->version, a_md, "a", AGW_ALG_EDDSA), 1);
    ck_assert_int_eq(agw_keysrc_holds(src, ref->version, b_md, "b", AGW_ALG_EDDSA), 0);
    ck_assert_int_eq(agw_keysrc_holds(src, v1, a_md, "a", AGW_ALG_EDDSA), 0);

    /* more keys than it publishes: it cannot say, for any of them */
    for (i = 1; i <= AGW_KEYS_HELD_MAX; i++)
        many = apr_psprintf(agw_test_pool, "%s,%s", many,
                            apr_psprintf(agw_test_pool, KEY("k%d"), i));
    write_jwks(apr_pstrcat(agw_test_pool, many, "]}", NULL));
    agw_keystore_tick(ks, 1000 + 7200);
    ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000 + 7200, &retry, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(ref->jwks->keys->nelts, AGW_KEYS_HELD_MAX + 1);
    ck_assert_int_eq(agw_keysrc_holds(src, ref->version, a_md, "k0", AGW_ALG_EDDSA), 0);

    /* a kid longer than it keeps: it cannot say either */
    memset(long_kid, 'q', sizeof(long_kid) - 1);
    long_kid[sizeof(long_kid) - 1] = '\0';
    write_jwks(apr_psprintf(agw_test_pool, "{\"keys\":[" KEY("a") "," KEY("%s") "]}", long_kid));
    agw_keystore_tick(ks, 1000 + 10800);
    ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000 + 10800, &retry, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(ref->jwks->keys->nelts, 2);
    ck_assert_int_eq(agw_keysrc_holds(src, ref->version, a_md, "a", AGW_ALG_EDDSA), 0);
    EVP_PKEY_free(rsa);
}
END_TEST

/* Issue 9.4: a kid reused for other key material is another key: the thumbprints differ. */
START_TEST(a_reused_kid_has_another_thumbprint)
{
    agw_jwks_t *one, *two;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *d1 = "{\"keys\":[" KEY("k") "]}", *d2 = "{\"keys\":[" OTHER_KEY("k") "]}";

    ck_assert_int_eq(agw_jwks_parse(&one, agw_test_pool, d1, strlen(d1), &err), APR_SUCCESS);
    ck_assert_int_eq(agw_jwks_parse(&two, agw_test_pool, d2, strlen(d2), &err), APR_SUCCESS);
    ck_assert_int_ne(memcmp(APR_ARRAY_IDX(one->keys, 0, agw_jwk_t *)->thumbprint,
                            APR_ARRAY_IDX(two->keys, 0, agw_jwk_t *)->thumbprint, 32), 0);
}
END_TEST

/* RFC 7638 section 3.1's example key and thumbprint (optional members do not count). */
START_TEST(thumbprint_matches_rfc7638)
{
    const char *doc =
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"
        "cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9"
        "3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9"
        "1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
        "awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}]}";
    agw_jwks_t *jwks;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    ck_assert_int_eq(agw_jwks_parse(&jwks, agw_test_pool, doc, strlen(doc), &err), APR_SUCCESS);
    ck_assert_int_eq(jwks->keys->nelts, 1);
    ck_assert_str_eq(agw_b64url_encode(agw_test_pool,
                                       APR_ARRAY_IDX(jwks->keys, 0, agw_jwk_t *)->thumbprint, 32),
                     "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}
END_TEST

typedef struct loads_t {
    int network, shared, failed, last_nkeys;
} loads_t;

static void on_load(void *baton, const char *source, int network, int ok, int nkeys)
{
    loads_t *l = baton;
    ck_assert_ptr_nonnull(strstr(source, path));
    if (!ok)
        l->failed++;
    else if (network)
        l->network++;
    else
        l->shared++;
    l->last_nkeys = nkeys;
}

/* The load hook (the glue's host-wide counters) hears of every load: from the source, from
 * the shared store, and failed ones, with the key count. */
START_TEST(load_hook_reports_every_load)
{
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    loads_t la = { 0, 0, 0, -1 }, lb = { 0, 0, 0, -1 };
    agw_keystore_t *a, *b;
    agw_keysrc_t *sa, *sb;
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ra = apr_pcalloc(agw_test_pool, sizeof(*ra));
    agw_keys_ref_t *rb = apr_pcalloc(agw_test_pool, sizeof(*rb));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    f.h = apr_hash_make(agw_test_pool);
    write_jwks("{\"keys\":[" KEY("a") "," KEY("b") "]}");
    agw_keystore_create(&a, agw_test_pool, log_cb, NULL);
    agw_keystore_create(&b, agw_test_pool, log_cb, NULL);
    agw_keystore_share(a, &shared);
    agw_keystore_share(b, &shared);
    agw_keystore_on_load(a, on_load, &la);
    agw_keystore_on_load(b, on_load, &lb);
    agw_keystore_source(&sa, a, &spec);
    agw_keystore_source(&sb, b, &spec);
    ck_assert_int_eq(agw_keysrc_get(ra, sa, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(la.network, 1);
    ck_assert_int_eq(la.last_nkeys, 2);
    ck_assert_int_eq(agw_keysrc_get(rb, sb, agw_test_pool, 1001, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(lb.network, 0);
    ck_assert_int_eq(lb.shared, 1);
    ck_assert_int_eq(lb.last_nkeys, 2);
    /* an unknown kid after the cooldown, with the file gone: one failed load */
    unlink(path);
    agw_keysrc_unknown_kid(ra, sa, agw_test_pool, 1100, &err);
    ck_assert_int_eq(la.failed, 1);
    ck_assert_int_eq(la.last_nkeys, 0);
    ck_assert_int_eq(la.network, 1);
}
END_TEST

/* ---- the persistent store: the last good set survives a restart ---- */

typedef struct persist_fake_t {
    apr_hash_t *h;
    int loads, saves;
} persist_fake_t;

static apr_status_t pfake_load(void *baton, const char *name, char **pdata, apr_size_t *plen,
                               apr_pool_t *p)
{
    persist_fake_t *f = baton;
    const char *v = apr_hash_get(f->h, name, APR_HASH_KEY_STRING);
    f->loads++;
    if (!v)
        return APR_NOTFOUND;
    *pdata = apr_pstrdup(p, v);
    *plen = strlen(v);
    return APR_SUCCESS;
}

static apr_status_t pfake_save(void *baton, const char *name, const char *data, apr_size_t len,
                               apr_pool_t *p)
{
    persist_fake_t *f = baton;
    f->saves++;
    apr_hash_set(f->h, apr_pstrdup(agw_test_pool, name), APR_HASH_KEY_STRING,
                 apr_pstrndup(agw_test_pool, data, len));
    return APR_SUCCESS;
}

static int logged_restored;
static void log_restored(void *baton, agw_log_level_e level, int msgno, const char *msg)
{
    if (msgno == AGW_MSG_JWKS_RESTORED)
        logged_restored++;
    log_cb(baton, level, msgno, msg);
}

/* One process's life: a fresh store and source as after a (graceful) restart. */
static agw_keystore_t *last_store;
static agw_keysrc_t *new_process(const agw_persist_t *ps, const agw_shared_t *sh,
                                 const agw_keys_spec_t *spec)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    ck_assert_int_eq(agw_keystore_create(&ks, agw_test_pool, log_restored, NULL), APR_SUCCESS);
    agw_keystore_persist(ks, ps);
    if (sh)
        agw_keystore_share(ks, sh);
    ck_assert_int_eq(agw_keystore_source(&src, ks, spec), APR_SUCCESS);
    last_store = ks;
    return src;
}

START_TEST(a_restart_during_an_outage_serves_the_kept_set)
{
    persist_fake_t pf = { NULL, 0, 0 };
    agw_persist_t ps = { pfake_load, pfake_save, &pf };
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_keysrc_t *src;
    apr_array_header_t *st;

    pf.h = apr_hash_make(agw_test_pool);
    logged_restored = 0;
    spec.refresh = 100;
    spec.max_stale = 1000;
    write_jwks("{\"keys\":[" KEY("a") "]}");
    src = new_process(&ps, NULL, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(pf.saves, 1);
    /* the same set fetched again within the refresh interval (an unknown kid) is not written
     * again; at the scheduled refresh it is (the kept set's time follows the source's last
     * answer) */
    agw_keysrc_unknown_kid(ref, src, agw_test_pool, 1050, &err);
    ck_assert_int_eq(stat_fetches(last_store), 2);
    ck_assert_int_eq(pf.saves, 1);
    agw_keystore_tick(last_store, 1099);     /* not due */
    ck_assert_int_eq(stat_fetches(last_store), 2);
    agw_keystore_tick(last_store, 1200);
    ck_assert_int_eq(stat_fetches(last_store), 3);
    ck_assert_int_eq(pf.saves, 2);

    /* the issuer goes away; the server restarts: the new process serves the kept set */
    unlink(path);
    src = new_process(&ps, NULL, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1500, &retry, &err), APR_SUCCESS);
    ck_assert(holds_kid(ref, "a"));
    ck_assert_int_eq(ref->fetched_at, 1200);    /* its own fetch time: max_stale bounds it */
    ck_assert_int_eq(logged_restored, 1);
    ck_assert_int_eq(stat_fetches(last_store), 0);
    /* the schedule asks the source within seconds, not at 1200 + refresh */
    st = agw_keystore_stats(last_store, agw_test_pool);
    ck_assert_int_le(APR_ARRAY_IDX(st, 0, agw_keysrc_stats_t).next_refresh, 1500 + 7);
    ck_assert_int_gt(APR_ARRAY_IDX(st, 0, agw_keysrc_stats_t).next_refresh, 1500);
    agw_keystore_tick(last_store, 1510);
    ck_assert_int_eq(stat_fetches(last_store), 1);   /* it tried, and failed */
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 2200, &retry, &err), APR_SUCCESS);
    /* up to max_stale after the source last answered, not after the restart */
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 2201, &retry, &err), APR_EAGAIN);
    /* a failed fetch wrote nothing */
    ck_assert_int_eq(pf.saves, 2);

    /* a restart after max_stale: the kept set is too old, and the outage gives 503 */
    src = new_process(&ps, NULL, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 2200, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(logged_restored, 1);

    /* back within max_stale, the issuer back with a new key: the kept set serves at once,
     * and the scheduled refresh replaces (and keeps) the source's set */
    src = new_process(&ps, NULL, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1300, &retry, &err), APR_SUCCESS);
    write_jwks("{\"keys\":[" KEY("b") "]}");
    agw_keystore_tick(last_store, 1310);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1310, &retry, &err), APR_SUCCESS);
    ck_assert(holds_kid(ref, "b"));
    ck_assert_int_eq(pf.saves, 3);
}
END_TEST

START_TEST(a_kept_set_that_is_bad_or_from_the_future_is_not_used)
{
    persist_fake_t pf = { NULL, 0, 0 };
    agw_persist_t ps = { pfake_load, pfake_save, &pf };
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_keysrc_t *src;
    const char *name;
    static const char *const bad[] = {
        "1000 {\"keys\":[]}", "1000 not json", "1000", "x {\"keys\":[" KEY("a") "]}",
        "2000 {\"keys\":[" KEY("a") "]}",       /* written after now */
        "-5 {\"keys\":[" KEY("a") "]}", ""
    };
    unsigned int i;

    pf.h = apr_hash_make(agw_test_pool);
    write_jwks("{\"keys\":[" KEY("a") "]}");
    src = new_process(&ps, NULL, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, src, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(apr_hash_count(pf.h), 1);
    {
        apr_hash_index_t *hi = apr_hash_first(agw_test_pool, pf.h);
        apr_hash_this(hi, (const void **)&name, NULL, NULL);
    }
    ck_assert(strncmp(name, "jwks:", 5) == 0);
    unlink(path);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        apr_hash_set(pf.h, name, APR_HASH_KEY_STRING, bad[i]);
        src = new_process(&ps, NULL, &spec);
        ck_assert_msg(agw_keysrc_get(ref, src, agw_test_pool, 1100, &retry, &err) == APR_EAGAIN,
                      "kept record %u used", i);
    }
}
END_TEST

/* The discovery document comes from the network: its issuer must be ours exactly, its
 * jwks_uri https (http only when allowed). */
START_TEST(discovery_document_is_checked)
{
    static const char iss[] = "https://issuer.example/";
    const char *uri = NULL;
    agw_err_t err = { 0 };
    const char *ok = "{\"issuer\":\"https://issuer.example/\","
                     "\"jwks_uri\":\"https://issuer.example/jwks.json\"}";
    const char *plain = "{\"issuer\":\"https://issuer.example/\","
                        "\"jwks_uri\":\"http://127.0.0.1:1/jwks\"}";
    static const char *refused[][2] = {
        { "{\"issuer\":\"https://issuer.example\",\"jwks_uri\":\"https://x/\"}",
          "discovery document names another issuer" },
        { "{\"jwks_uri\":\"https://x/\"}", "discovery document names another issuer" },
        { "{\"issuer\":\"https://issuer.example/\",\"jwks_uri\":[\"https://x/\"]}",
          "discovery document has no usable https jwks_uri" },
        { "{\"issuer\":\"https://issuer.example/\",\"jwks_uri\":\"file:/etc/passwd\"}",
          "discovery document has no usable https jwks_uri" },
        { "{\"issuer\":\"https://issuer.example/\"", "discovery document is not valid JSON" },
        { "[]", "discovery document names another issuer" },
    };
    unsigned int i;

    ck_assert_int_eq(agw_keys_discovery_parse(&uri, agw_test_pool, ok, strlen(ok), iss, 0, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(uri, "https://issuer.example/jwks.json");
    ck_assert_int_eq(agw_keys_discovery_parse(&uri, agw_test_pool, plain, strlen(plain), iss, 0,
                                              &err), APR_EINVAL);
    ck_assert_str_eq(err.reason, "discovery document has no usable https jwks_uri");
    ck_assert_int_eq(agw_keys_discovery_parse(&uri, agw_test_pool, plain, strlen(plain), iss, 1,
                                              &err), APR_SUCCESS);
    ck_assert_str_eq(uri, "http://127.0.0.1:1/jwks");
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        memset(&err, 0, sizeof(err));
        ck_assert_int_ne(agw_keys_discovery_parse(&uri, agw_test_pool, refused[i][0],
                                                  strlen(refused[i][0]), iss, 1, &err),
                         APR_SUCCESS);
        ck_assert_str_eq(err.reason, refused[i][1]);
    }
}
END_TEST

/* A set in the shared store (fresher, another process's) wins over the kept one; a set taken
 * from the shared store is not written again; the kept one is looked at once per process. */
START_TEST(the_shared_set_comes_first_and_is_not_kept_again)
{
    persist_fake_t pf = { NULL, 0, 0 };
    agw_persist_t ps = { pfake_load, pfake_save, &pf };
    fake_t f = { NULL, 0, 0 };
    agw_shared_t shared = { fake_get, fake_put, &f, NULL };
    agw_keys_spec_t spec = file_spec();
    agw_keys_ref_t *ref = apr_pcalloc(agw_test_pool, sizeof(*ref));
    apr_int64_t retry = 0;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_keysrc_t *a, *b;

    pf.h = apr_hash_make(agw_test_pool);
    f.h = apr_hash_make(agw_test_pool);
    logged_restored = 0;
    write_jwks("{\"keys\":[" KEY("a") "]}");
    a = new_process(&ps, &shared, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, a, agw_test_pool, 1000, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(pf.saves, 1);
    ck_assert_int_eq(pf.loads, 1);      /* the first process found it in neither store */
    b = new_process(&ps, &shared, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, b, agw_test_pool, 1001, &retry, &err), APR_SUCCESS);
    ck_assert_int_eq(ref->fetched_at, 1000);
    ck_assert_int_eq(pf.loads, 1);
    ck_assert_int_eq(pf.saves, 1);
    ck_assert_int_eq(logged_restored, 0);
    /* a process with an empty shared store and no kept set looks there once, then fetches */
    unlink(path);
    apr_hash_clear(pf.h);
    f.h = apr_hash_make(agw_test_pool);
    b = new_process(&ps, &shared, &spec);
    ck_assert_int_eq(agw_keysrc_get(ref, b, agw_test_pool, 1002, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(agw_keysrc_get(ref, b, agw_test_pool, 1100, &retry, &err), APR_EAGAIN);
    ck_assert_int_eq(pf.loads, 2);
}
END_TEST

/* "<fetched_at> <jwks>" from the shared store, read within its length (a record need not
 * end in NUL), digits only. */
START_TEST(shared_record_is_read_within_its_length)
{
    static const char rec[] = "1700000000 {\"keys\":[]}TRAILING";
    static const char *refused[] = { "", "1700000000", "1700000000{}", " 17 {}", "-17 {}",
                                     "+17 {}", "x {}", "1234567890123456789 {}" };
    const char *body = NULL;
    apr_size_t blen = 0;
    apr_int64_t t = 0;
    unsigned int i;

    ck_assert_int_eq(agw_keys_record_parse(&t, &body, &blen, rec, strlen(rec) - 8), 1);
    ck_assert_int_eq(t, 1700000000);
    ck_assert_uint_eq(blen, strlen("{\"keys\":[]}"));
    ck_assert_int_eq(memcmp(body, "{\"keys\":[]}", blen), 0);
    /* the digits alone, without the space, are not a record even if a space follows in memory */
    ck_assert_int_eq(agw_keys_record_parse(&t, &body, &blen, rec, 10), 0);
    ck_assert_int_eq(agw_keys_record_parse(&t, &body, &blen, "5 ", 2), 1);
    ck_assert_uint_eq(blen, 0);
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        ck_assert_msg(!agw_keys_record_parse(&t, &body, &blen, refused[i], strlen(refused[i])),
                      "record \"%s\" was taken", refused[i]);
}
END_TEST

START_TEST(find_without_lock_by_value)
{
    agw_keystore_t *ks;
    agw_keysrc_t *src;
    agw_keys_spec_t spec, copy, other;

    ck_assert_int_eq(agw_keystore_create(&ks, agw_test_pool, log_cb, NULL), APR_SUCCESS);
    spec = file_spec();
    spec.refresh = 0;               /* limited to 1 inside: found by the spec as asked */
    ck_assert_ptr_null(agw_keystore_find(ks, &spec));
    ck_assert_int_eq(agw_keystore_source(&src, ks, &spec), APR_SUCCESS);
    ck_assert_ptr_eq(agw_keystore_find(ks, &spec), src);
    /* equal by value, other addresses (a request pool's copy) */
    copy = spec;
    copy.jwks = apr_pstrdup(agw_test_pool, spec.jwks);
    ck_assert_ptr_eq(agw_keystore_find(ks, &copy), src);
    other = spec;
    other.cooldown = 31;
    ck_assert_ptr_null(agw_keystore_find(ks, &other));
    ck_assert_int_eq(agw_keystore_source(&src, ks, &other), APR_SUCCESS);
    ck_assert_ptr_eq(agw_keystore_find(ks, &other), src);
    ck_assert_ptr_ne(agw_keystore_find(ks, &spec), src);
}
END_TEST

Suite *agw_suite_keys(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);      /* the bounded-wait test waits for real, a few seconds */
    tcase_add_test(tc, fetches_once_then_serves_from_memory);
    tcase_add_test(tc, find_without_lock_by_value);
    tcase_add_test(tc, unknown_kid_refetch_respects_cooldown);
    tcase_add_test(tc, no_keys_is_eagain_with_retry_after);
    tcase_add_test(tc, stale_beyond_max_stale_stops_serving);
    tcase_add_test(tc, processes_share_keys_and_cooldown);
    tcase_add_test(tc, every_process_refreshes_on_schedule);
    tcase_add_test(tc, holds_answers_for_the_current_set_only);
    tcase_add_test(tc, a_reused_kid_has_another_thumbprint);
    tcase_add_test(tc, thumbprint_matches_rfc7638);
    tcase_add_test(tc, waits_for_a_hanging_fetch_are_bounded);
    tcase_add_test(tc, a_failed_fetch_cools_down_every_process);
    tcase_add_test(tc, a_claimed_fetch_is_waited_for);
    tcase_add_test(tc, scheduled_refreshes_claim_the_fetch);
    tcase_add_test(tc, load_hook_reports_every_load);
    tcase_add_test(tc, a_restart_during_an_outage_serves_the_kept_set);
    tcase_add_test(tc, a_kept_set_that_is_bad_or_from_the_future_is_not_used);
    tcase_add_test(tc, the_shared_set_comes_first_and_is_not_kept_again);
    tcase_add_test(tc, discovery_document_is_checked);
    tcase_add_test(tc, shared_record_is_read_within_its_length);
    suite_add_tcase(s, tc);
    return s;
}
