/* Unit tests of the verified-token cache (src/agw_tcache.c): hits, misses, bounds, eviction, threads. */
#include <stdio.h>
#include <string.h>
#include <apr_thread_proc.h>

#include "tests.h"
#include "agw_tcache.h"

static void digest_of(unsigned char d[32], unsigned int n)
{
    ck_assert_int_eq(agw_crypt_sha256(d, &n, sizeof(n)), APR_SUCCESS);
}

static const unsigned char src_a[32] = { 1 }, src_b[32] = { 2 };

json_t *agw_json_own_test(json_t *j);

static json_t *claims(int n)
{
    return agw_json_own_test(json_pack("{s:i, s:s}", "n", n, "sub", "user"));
}

static apr_status_t decref(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

/* Tokens n = from .. from+count-1, each seen once, of len bytes, valid until 9999. */
static void put_distinct(agw_tcache_t *tc, unsigned int from, unsigned int count, apr_size_t len)
{
    unsigned char d[32];
    unsigned int i;

    for (i = from; i < from + count; i++) {
        digest_of(d, i);
        agw_tcache_put(tc, d, src_a, claims((int)i), AGW_ALG_RS256, "k", NULL, 1, 9999, len);
    }
}

json_t *agw_json_own_test(json_t *j)
{
    apr_pool_cleanup_register(agw_test_pool, j, decref, apr_pool_cleanup_null);
    return j;
}

static long resident_pages(void)
{
    long size = 0, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident;
}

/* A cache no token was put in answers its look-ups without reading its arrays: a page that is
 * only read still costs memory on kernels that do not map the zero page there (a prefork
 * child's negative cache of 25,000 entries stays empty while no bad signature comes). The
 * 4,000 look-ups read about 550 pages of bucket heads otherwise (measured here: 549 pages
 * without the check, 38 with it: the rest is the test's own). Once a token is in a shard,
 * look-ups there read its buckets again and find it. */
START_TEST(an_empty_cache_reads_none_of_its_pages)
{
    agw_tcache_t *tc = agw_tcache_create(agw_test_pool, 100000, (apr_size_t)100000 * 1536,
                                         AGW_TCACHE_ADMIT_SECOND);
    agw_tcache_hit_t hit;
    unsigned char d[32];
    unsigned int i;
    long before, after;

    ck_assert_ptr_nonnull(tc);
    digest_of(d, 0);
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));  /* warm the code */
    before = resident_pages();
    for (i = 1; i <= 4000; i++) {
        digest_of(d, i);
        ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    }
    after = resident_pages();
#ifndef __SANITIZE_ADDRESS__
    /* (ASan's shadow memory and allocator grow the resident set on their own) */
    ck_assert_int_lt(after - before, 128);
#else
    (void)before;
    (void)after;
#endif
    /* admitted on its second put, then found */
    digest_of(d, 7);
    agw_tcache_put(tc, d, src_a, claims(7), AGW_ALG_RS256, "k", NULL, 1, 9999, 100);
    agw_tcache_put(tc, d, src_a, claims(7), AGW_ALG_RS256, "k", NULL, 1, 9999, 100);
    ck_assert(agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    ck_assert_uint_eq(hit.version, 1);
}
END_TEST

START_TEST(hit_miss_source_and_expiry)
{
    agw_tcache_t *tc = agw_tcache_create(agw_test_pool, 64, 64 * 1024, 0);
    agw_tcache_hit_t hit;
    unsigned char d[32], other[32];

    digest_of(d, 1);
    digest_of(other, 2);
    ck_assert_ptr_nonnull(tc);
    agw_tcache_put(tc, d, src_a, claims(1), AGW_ALG_RS256, "k1", src_b, 7, 2000, 800);
    ck_assert(agw_tcache_get(tc, d, src_a, 1000, 30, agw_test_pool, &hit));
    /* the entry remembers the key that verified it, not only its name */
    ck_assert_mem_eq(hit.key, src_b, 32);
    ck_assert_int_eq(json_integer_value(json_object_get(hit.claims, "n")), 1);
    ck_assert_int_eq(hit.alg, AGW_ALG_RS256);
    ck_assert_str_eq(hit.kid, "k1");
    ck_assert_uint_eq(hit.version, 7);
    /* another key source never sees it; an unknown token misses */
    ck_assert(!agw_tcache_get(tc, d, src_b, 1000, 30, agw_test_pool, &hit));
    ck_assert(!agw_tcache_get(tc, other, src_a, 1000, 30, agw_test_pool, &hit));
    /* expiry with leeway: a hit up to exp + leeway - 1, then gone for good */
    ck_assert(agw_tcache_get(tc, d, src_a, 2029, 30, agw_test_pool, &hit));
    ck_assert(!agw_tcache_get(tc, d, src_a, 2030, 30, agw_test_pool, &hit));
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 30, agw_test_pool, &hit));
    /* a kid longer than the cache keeps is not cached */
    agw_tcache_put(tc, other, src_a, claims(2), AGW_ALG_RS256,
                   "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", NULL, 1,
                   2000, 800);
    ck_assert(!agw_tcache_get(tc, other, src_a, 1000, 30, agw_test_pool, &hit));
    /* version touch and drop */
    agw_tcache_put(tc, d, src_a, claims(3), AGW_ALG_ES256, "", NULL, 1, 5000, 800);
    agw_tcache_touch_version(tc, d, 9);
    ck_assert(agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    ck_assert_uint_eq(hit.version, 9);
    ck_assert_str_eq(hit.kid, "");
    agw_tcache_drop(tc, d);
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    ck_assert_ptr_null(agw_tcache_create(agw_test_pool, 0, 1024, 0));
}
END_TEST

START_TEST(bounded_by_entries_and_bytes)
{
    agw_tcache_t *tc = agw_tcache_create(agw_test_pool, 160, 1 << 30, 0);
    agw_tcache_stats_t st;
    agw_tcache_hit_t hit;
    unsigned char d[32];

    /* a flood of distinct tokens: the count never passes the bound */
    put_distinct(tc, 0, 20000, 100);
    agw_tcache_stats(tc, &st);
    ck_assert_uint_le(st.entries, 160);
    ck_assert_uint_ge(st.entries, 150);
    ck_assert_uint_ge(st.evictions, 20000 - 160);
    /* the most recent are the ones kept */
    digest_of(d, 19999);
    ck_assert(agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    digest_of(d, 0);
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));

    /* bytes: 16 shards of 1000 bytes hold at most 16 tokens of 1000 bytes */
    tc = agw_tcache_create(agw_test_pool, 1000, 16 * 1000, 0);
    put_distinct(tc, 0, 500, 1000);
    agw_tcache_stats(tc, &st);
    ck_assert_uint_le(st.bytes, 16 * 1000);
    ck_assert_uint_le(st.entries, 16);
    /* a token larger than a shard's budget is not cached at all */
    digest_of(d, 100000);
    agw_tcache_put(tc, d, src_a, claims(1), AGW_ALG_RS256, "k", NULL, 1, 9999, 5000);
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
}
END_TEST

START_TEST(admits_on_second_sighting)
{
    agw_tcache_t *tc = agw_tcache_create(agw_test_pool, 160, 1 << 20, AGW_TCACHE_ADMIT_SECOND);
    agw_tcache_stats_t st;
    agw_tcache_hit_t hit;
    unsigned char d[32], hot[32];

    digest_of(hot, 424242);
    agw_tcache_put(tc, hot, src_a, claims(7), AGW_ALG_RS256, "k", NULL, 1, 9999, 100);
    ck_assert(!agw_tcache_get(tc, hot, src_a, 1000, 0, agw_test_pool, &hit));
    agw_tcache_put(tc, hot, src_a, claims(7), AGW_ALG_RS256, "k", NULL, 1, 9999, 100);
    ck_assert(agw_tcache_get(tc, hot, src_a, 1000, 0, agw_test_pool, &hit));
    ck_assert_int_eq(json_integer_value(json_object_get(hit.claims, "n")), 7);

    /* 20000 tokens seen once each: none is cached, none evicts the token in use */
    put_distinct(tc, 0, 20000, 100);
    agw_tcache_stats(tc, &st);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_eq(st.evictions, 0);
    ck_assert_uint_eq(st.deferred, 20001);
    ck_assert(agw_tcache_get(tc, hot, src_a, 1000, 0, agw_test_pool, &hit));
    digest_of(d, 19999);
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));

    /* the latest one, put again right away, is admitted; claims may be NULL (negative cache) */
    agw_tcache_put(tc, d, src_a, NULL, AGW_ALG_ES256, "k2", NULL, 3, 9999, 100);
    ck_assert(agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    ck_assert_ptr_null(hit.claims);
    ck_assert_int_eq(hit.alg, AGW_ALG_ES256);
    ck_assert_uint_eq(hit.version, 3);
    /* a tag is used up by its admission: a dropped token starts over */
    agw_tcache_drop(tc, d);
    agw_tcache_put(tc, d, src_a, NULL, AGW_ALG_ES256, "k2", NULL, 3, 9999, 100);
    ck_assert(!agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    /* a token the host has seen twice (the host-wide table) needs no second local sighting */
    digest_of(d, 777777);
    agw_tcache_put_admitted(tc, d, src_a, claims(8), AGW_ALG_RS256, "k", NULL, 1, 9999, 100);
    ck_assert(agw_tcache_get(tc, d, src_a, 1000, 0, agw_test_pool, &hit));
    ck_assert_int_eq(json_integer_value(json_object_get(hit.claims, "n")), 8);
}
END_TEST

static agw_tcache_t *shared_tc;

static void *APR_THREAD_FUNC hammer(apr_thread_t *t, void *data)
{
    unsigned int base = *(unsigned int *)data, i;
    apr_pool_t *p;
    unsigned char d[32];
    agw_tcache_hit_t hit;
    json_t *j = json_pack("{s:i}", "n", (int)base);

    apr_pool_create(&p, NULL);
    for (i = 0; i < 20000; i++) {
        digest_of(d, (base + i) % 3000);
        if (!agw_tcache_get(shared_tc, d, src_a, 1000, 0, p, &hit))
            agw_tcache_put(shared_tc, d, src_a, j, AGW_ALG_RS256, "k", NULL, 1, 9999, 200);
        if (i % 1000 == 0)
            apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    json_decref(j);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* KiB resident in the process's anonymous mappings other than the heap and stacks (where the
 * cache's arrays live; claims and pools come from the heap). -1 where /proc is not there, and
 * under ASan (its shadow memory is anonymous too). */
static long anon_rss_kib(void)
{
#ifdef UNDER_ASAN
    FILE *f = NULL;
#else
    FILE *f = fopen("/proc/self/smaps", "r");
#endif
    char line[512];
    long sum = 0, kib;
    int anon = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char path[256] = "";
        /* a mapping's line starts with its address (lower-case hex); field lines with a name */
        if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
            sscanf(line, "%*s %*s %*s %*s %*s %255s", path);
            anon = path[0] == '\0';
        }
        else if (sscanf(line, "Rss: %ld kB", &kib) == 1 && anon)
            sum += kib;
    }
    fclose(f);
    return sum;
}

/* A prefork child's front cache: 128 entries in 16 shards of 8. Filled, its arrays take a few
 * pages, not one page per shard and kind (48 pages, 192 KiB, when each was a mapping). */
START_TEST(small_cache_fills_few_pages)
{
    agw_tcache_t *tc;
    agw_tcache_stats_t st;
    long before, after;
    unsigned int i;

    if ((before = anon_rss_kib()) < 0)
        return;
    tc = agw_tcache_create(agw_test_pool, 128, 128 * 1536, AGW_TCACHE_ADMIT_SECOND);
    ck_assert_ptr_nonnull(tc);
    for (i = 0; i < 512; i++) {         /* each twice in a row: admitted on its second put */
        put_distinct(tc, i, 1, 900);
        put_distinct(tc, i, 1, 900);
    }
    agw_tcache_stats(tc, &st);
    ck_assert_uint_ge(st.entries, 96);
    after = anon_rss_kib();
    ck_assert_int_lt(after - before, 128);
}
END_TEST

START_TEST(threads_share_it_safely)
{
    apr_thread_t *t[4];
    unsigned int base[4] = { 0, 700, 1400, 2100 };
    apr_status_t trv;
    agw_tcache_stats_t st;
    int i;

    shared_tc = agw_tcache_create(agw_test_pool, 1000, 1 << 20, AGW_TCACHE_ADMIT_SECOND);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(apr_thread_create(&t[i], NULL, hammer, &base[i], agw_test_pool),
                         APR_SUCCESS);
    for (i = 0; i < 4; i++)
        apr_thread_join(&trv, t[i]);
    agw_tcache_stats(shared_tc, &st);
    ck_assert_uint_le(st.entries, 1008);
    ck_assert_uint_eq(st.hits + st.misses, 80000);
    ck_assert_uint_gt(st.hits, 0);
}
END_TEST

Suite *agw_suite_cache(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("tcache");

    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, hit_miss_source_and_expiry);
    tcase_add_test(tc, bounded_by_entries_and_bytes);
    tcase_add_test(tc, admits_on_second_sighting);
    tcase_add_test(tc, an_empty_cache_reads_none_of_its_pages);
    tcase_add_test(tc, threads_share_it_safely);
    tcase_add_test(tc, small_cache_fills_few_pages);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
