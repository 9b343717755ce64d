/* Unit tests of the host-wide verified-token table (src/agw_hcache.c): admission, bounds, eviction, processes sharing it, torn reads under concurrent writers. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests.h"
#include "agw_hcache.h"
#include "agw_jwt.h"

#define NOW 1800000000
static const unsigned char src_a[32] = "source-a";
static const unsigned char src_b[32] = "source-b";

/* A shared anonymous mapping, as the glue makes before httpd forks its children. */
static void *shared_region(apr_size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    ck_assert_ptr_ne(m, MAP_FAILED);
    return m;
}

static agw_hcache_t *table(unsigned int entries, void **region)
{
    apr_size_t n = agw_hcache_bytes(entries);
    agw_hcache_t *hc;

    *region = shared_region(n);
    hc = agw_hcache_init(*region, n, entries);
    ck_assert_ptr_nonnull(hc);
    return hc;
}

/* Token i's digest, and the key and kid that "verified" it: derived from i, so that a reader
 * can tell a consistent entry from a mix of two. */
static void token(unsigned int i, unsigned char digest[32], unsigned char key[32], char *kid)
{
    int j;

    for (j = 0; j < 32; j++) {
        digest[j] = (unsigned char)((i * 2654435761u) >> (j % 4 * 8)) ^ (unsigned char)j;
        key[j] = (unsigned char)(digest[j] ^ 0x5a);
    }
    digest[31] = 1;     /* never all zero */
    sprintf(kid, "kid-%u", i);
}

static void put(agw_hcache_t *hc, unsigned int i, const unsigned char *source, int times)
{
    unsigned char d[32], k[32];
    char kid[32];

    token(i, d, k, kid);
    while (times-- > 0)
        agw_hcache_put(hc, d, source, AGW_ALG_RS256, kid, k, NOW + 3600 + i % 7, NOW, NULL, NULL);
}

static int has(agw_hcache_t *hc, unsigned int i, const unsigned char *source, apr_int64_t now)
{
    unsigned char d[32], k[32];
    char kid[32];
    agw_hcache_hit_t hit;

    token(i, d, k, kid);
    if (!agw_hcache_get(hc, d, source, now, 30, &hit, NULL))
        return 0;
    ck_assert_int_eq(hit.alg, AGW_ALG_RS256);
    ck_assert_str_eq(hit.kid, kid);
    ck_assert_mem_eq(hit.key, k, 32);
    ck_assert_int_eq(hit.exp, NOW + 3600 + i % 7);
    return 1;
}

START_TEST(second_sighting_stores_and_get_checks_source_and_time)
{
    void *region;
    agw_hcache_t *hc = table(64, &region);
    agw_hcache_stats_t st;

    put(hc, 1, src_a, 1);
    ck_assert(!has(hc, 1, src_a, NOW));
    put(hc, 1, src_a, 1);
    ck_assert(has(hc, 1, src_a, NOW));
    ck_assert(!has(hc, 1, src_b, NOW));               /* another key source */
    ck_assert(has(hc, 1, src_a, NOW + 3600 + 1 + 29));  /* exp + leeway not reached */
    ck_assert(!has(hc, 1, src_a, NOW + 3600 + 1 + 30));
    agw_hcache_stats(hc, &st);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_eq(st.deferred, 1);
    ck_assert_uint_ge(st.capacity, 64);
    munmap(region, agw_hcache_bytes(64));
}
END_TEST

START_TEST(refuses_what_it_cannot_hold)
{
    void *region;
    agw_hcache_t *hc = table(16, &region);
    unsigned char d[32], k[32];
    char kid[32], longkid[AGW_HCACHE_KID_MAX + 2];
    agw_hcache_hit_t hit;

    ck_assert_uint_eq(agw_hcache_bytes(0), 0);
    ck_assert_ptr_null(agw_hcache_init(region, 10, 16));
    ck_assert_ptr_null(agw_hcache_init(NULL, 1 << 20, 16));
    ck_assert_ptr_null(agw_hcache_init(region, agw_hcache_bytes(16), 0));
    token(3, d, k, kid);
    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, longkid, k, NOW + 60, NOW, NULL, NULL);
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, longkid, k, NOW + 60, NOW, NULL, NULL);
    ck_assert(!agw_hcache_get(hc, d, src_a, NOW, 0, &hit, NULL));
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, kid, k, NOW, NOW, NULL, NULL);     /* expired */
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, kid, k, NOW, NOW, NULL, NULL);
    ck_assert(!agw_hcache_get(hc, d, src_a, NOW - 10, 0, &hit, NULL));
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, kid, NULL, NOW + 60, NOW, NULL, NULL);
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, kid, NULL, NOW + 60, NOW, NULL, NULL);
    ck_assert(!agw_hcache_get(hc, d, src_a, NOW, 0, &hit, NULL));
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, NULL, k, NOW + 60, NOW, NULL, NULL);
    agw_hcache_put(hc, d, src_a, AGW_ALG_ES256, NULL, k, NOW + 60, NOW, NULL, NULL);
    ck_assert(agw_hcache_get(hc, d, src_a, NOW, 0, &hit, NULL));
    ck_assert_str_eq(hit.kid, "");
    ck_assert(!agw_hcache_get(NULL, d, src_a, NOW, 0, &hit, NULL));
    agw_hcache_put(NULL, d, src_a, AGW_ALG_ES256, NULL, k, NOW + 60, NOW, NULL, NULL);
    munmap(region, agw_hcache_bytes(16));
}
END_TEST

/* A region kept across a graceful restart is taken over only with this layout and size: an
 * older module's table (another magic), or one too small for the briefs, is refused, so that
 * the glue makes a new mapping instead of writing past the old one. */
START_TEST(an_older_or_smaller_table_is_not_taken_over)
{
    apr_size_t n = agw_hcache_bytes(256);
    void *region = shared_region(n);
    agw_hcache_t *hc = agw_hcache_init(region, n, 256);
    uint64_t older = 0x6167776863310001ULL;

    ck_assert_ptr_nonnull(hc);
    ck_assert_ptr_eq(agw_hcache_init(region, n, 256), hc);          /* the same: kept */
    ck_assert_ptr_null(agw_hcache_init(region, n, 512));            /* another size */
    ck_assert_ptr_null(agw_hcache_init(region, n - 1, 256));        /* the mapping too small */
    memcpy(region, &older, sizeof(older));                          /* an older layout */
    ck_assert_ptr_null(agw_hcache_init(region, n, 256));
    ck_assert_uint_eq(agw_hcache_bytes(0), 0);
    if (sizeof(apr_size_t) == 4)
        ck_assert_uint_eq(agw_hcache_bytes(10000000), 0);           /* would wrap around */
    else
        ck_assert_uint_gt(agw_hcache_bytes(10000000), (apr_size_t)10000000 * 512);
    munmap(region, n);
}
END_TEST

START_TEST(bounded_and_a_flood_of_one_shot_tokens_evicts_nothing)
{
    void *region;
    agw_hcache_t *hc = table(256, &region);
    agw_hcache_stats_t st;
    unsigned int i, kept = 0;

    for (i = 0; i < 64; i++)
        put(hc, i, src_a, 2);
    for (i = 1000; i < 1000 + 256 * 20; i++)
        put(hc, i, src_a, 1);                   /* each seen once */
    for (i = 0; i < 64; i++)
        kept += has(hc, i, src_a, NOW);
    ck_assert_uint_eq(kept, 64);
    /* many more admitted tokens than slots: the table stays within its capacity */
    for (i = 5000; i < 5000 + 256 * 4; i++)
        put(hc, i, src_a, 2);
    agw_hcache_stats(hc, &st);
    ck_assert_uint_le(st.entries, st.capacity);
    ck_assert_uint_ge(st.evictions, 256 * 4 - st.capacity);
    for (i = 5000 + 256 * 4 - 8, kept = 0; i < 5000 + 256 * 4; i++)
        kept += has(hc, i, src_a, NOW);
    ck_assert_uint_eq(kept, 8);                 /* the newest are there */
    munmap(region, agw_hcache_bytes(256));
}
END_TEST

/* The filter index of token i in a table of nseen indices, as agw_hcache.c computes it. */
static uint64_t filter_index(unsigned int i, uint64_t nseen)
{
    unsigned char d[32], k[32];
    char kid[32];
    uint64_t w;

    token(i, d, k, kid);
    memcpy(&w, d + 8, sizeof(w));
    return w % nseen;
}

START_TEST(two_tokens_sharing_a_filter_index_in_turn_are_both_stored)
{
    void *region;
    agw_hcache_t *hc = table(64, &region);      /* 64 filter indices */
    unsigned int a = 0, b, c, d, e, f, pass;

    for (b = a + 1; filter_index(b, 64) != filter_index(a, 64); b++)
        ;
    for (c = b + 1; filter_index(c, 64) != filter_index(a, 64); c++)
        ;
    for (d = c + 1; filter_index(d, 64) != filter_index(a, 64); d++)
        ;
    /* a, b, a, b: with one tag per index each sighting overwrote the other's, for ever */
    for (pass = 0; pass < 2; pass++) {
        put(hc, a, src_a, 1);
        put(hc, b, src_a, 1);
    }
    ck_assert(has(hc, a, src_a, NOW));
    ck_assert(has(hc, b, src_a, NOW));
    /* one one-shot token of the same index between c's two sightings leaves c's first in */
    put(hc, c, src_a, 1);
    put(hc, d, src_a, 1);
    put(hc, c, src_a, 1);
    ck_assert(has(hc, c, src_a, NOW));
    ck_assert(!has(hc, d, src_a, NOW));
    /* two do: the filter holds the last two first sightings of an index, no more (so a, b,
     * c, a, b, c ... in turn is never stored: left so) */
    for (e = d + 1; filter_index(e, 64) != filter_index(a, 64); e++)
        ;
    for (f = e + 1; filter_index(f, 64) != filter_index(a, 64); f++)
        ;
    put(hc, e, src_a, 1);
    put(hc, f, src_a, 1);
    put(hc, d, src_a, 1);
    ck_assert(!has(hc, d, src_a, NOW));
    munmap(region, agw_hcache_bytes(64));
}
END_TEST

START_TEST(expired_entries_go_before_live_ones)
{
    void *region;
    agw_hcache_t *hc = table(4, &region);       /* one bucket of four */
    unsigned char d[32], k[32];
    char kid[32];
    unsigned int i;

    for (i = 0; i < 4; i++) {
        token(i, d, k, kid);
        agw_hcache_put(hc, d, src_a, AGW_ALG_RS256, kid, k, i == 2 ? NOW + 10 : NOW + 3600, NOW, NULL, NULL);
        agw_hcache_put(hc, d, src_a, AGW_ALG_RS256, kid, k, i == 2 ? NOW + 10 : NOW + 3600, NOW, NULL, NULL);
    }
    token(9, d, k, kid);
    agw_hcache_put(hc, d, src_a, AGW_ALG_RS256, kid, k, NOW + 3600, NOW + 20, NULL, NULL);
    agw_hcache_put(hc, d, src_a, AGW_ALG_RS256, kid, k, NOW + 3600, NOW + 20, NULL, NULL);
    for (i = 0; i < 4; i++) {
        agw_hcache_hit_t hit;
        token(i, d, k, kid);
        ck_assert_int_eq(agw_hcache_get(hc, d, src_a, NOW + 20, 0, &hit, NULL), i == 2 ? 0 : 1);
    }
    munmap(region, agw_hcache_bytes(4));
}
END_TEST

START_TEST(processes_share_it_and_a_restart_keeps_it)
{
    void *region;
    agw_hcache_t *hc = table(128, &region);
    pid_t pid;
    int status;

    /* child 1 sees token 7 once, child 2 sees it once: the host has seen it twice */
    if ((pid = fork()) == 0) {
        put(hc, 7, src_a, 1);
        put(hc, 8, src_a, 2);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(!has(hc, 7, src_a, NOW));
    ck_assert(has(hc, 8, src_a, NOW));
    if ((pid = fork()) == 0) {
        put(hc, 7, src_a, 1);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(has(hc, 7, src_a, NOW));
    /* a new generation formats nothing it can take over */
    ck_assert_ptr_eq(agw_hcache_init(region, agw_hcache_bytes(128), 128), hc);
    ck_assert(has(hc, 7, src_a, NOW));
    ck_assert_ptr_null(agw_hcache_init(region, agw_hcache_bytes(128), 64));
    munmap(region, agw_hcache_bytes(128));
}
END_TEST

/* Writers in two processes overwrite a small table all the time; a reader in a third never
 * sees an entry that mixes two tokens. */
START_TEST(readers_never_see_a_torn_entry)
{
    void *region;
    agw_hcache_t *hc = table(4, &region);
    pid_t w[2];
    unsigned int i, hits = 0, n;
    int j, status;

    for (j = 0; j < 2; j++) {
        if ((w[j] = fork()) == 0) {
            for (n = 0; n < 400000; n++)
                put(hc, (n * 7 + (unsigned int)j) % 6, src_a, 2);
            _exit(0);
        }
    }
    for (n = 0; n < 400000; n++) {
        i = n % 6;
        hits += (unsigned int)has(hc, i, src_a, NOW);   /* has() checks every field */
    }
    for (j = 0; j < 2; j++)
        ck_assert_int_eq(waitpid(w[j], &status, 0), w[j]);
    ck_assert_uint_gt(hits, 0);
    munmap(region, agw_hcache_bytes(4));
}
END_TEST

/* Token i's brief: its text's lengths vary with i (issuer, user, one to four audiences), so
 * that a reader can tell a brief copied whole from one cut short or mixed with another's. */
static void brief_for(unsigned int i, agw_jwt_brief_t *b)
{
    char text[AGW_JWT_BRIEF_TEXT + 1];
    int n, a;

    memset(b, 0, sizeof(*b));
    b->exp = NOW + 3600;
    b->iat = NOW - (apr_int64_t)i;
    b->has_iat = b->has_iss = b->has_user = 1;
    n = snprintf(text, sizeof(text), "https://issuer-%u.example/%.*s", i, (int)(i % 5) * 9,
                 "padding-padding-padding-padding-padding-padding-");
    b->iss_len = (apr_uint16_t)n;
    b->user_len = (apr_uint16_t)snprintf(text + n, sizeof(text) - (size_t)n, "auth0|user-%u", i);
    n += b->user_len;
    b->naud = (unsigned char)(i % AGW_JWT_BRIEF_AUD_MAX + 1);
    for (a = 0; a < b->naud; a++) {
        b->aud_len[a] = (apr_uint16_t)snprintf(text + n, sizeof(text) - (size_t)n,
                                               "https://api-%d.example/%u", a, i);
        n += b->aud_len[a];
    }
    memcpy(b->text, text, (size_t)n);
}

static int make_brief(agw_jwt_brief_t *out, void *baton)
{
    brief_for(*(unsigned int *)baton, out);
    return 1;
}

static void put_briefed(agw_hcache_t *hc, unsigned int i, int times)
{
    unsigned char d[32], k[32];
    char kid[32];

    token(i, d, k, kid);
    while (times-- > 0)
        agw_hcache_put(hc, d, src_a, AGW_ALG_RS256, kid, k, NOW + 3600, NOW, make_brief, &i);
}

/* 1 when token i is found with its brief, which must then be token i's, byte for byte over
 * what agw_jwt_brief_size covers (a hit copies no more). */
static int has_brief(agw_hcache_t *hc, unsigned int i)
{
    unsigned char d[32], k[32];
    char kid[32];
    agw_hcache_hit_t hit;
    agw_jwt_brief_t got, want;

    token(i, d, k, kid);
    memset(&got, 0xa5, sizeof(got));
    if (!agw_hcache_get(hc, d, src_a, NOW, 30, &hit, &got))
        return 0;
    ck_assert_str_eq(hit.kid, kid);
    ck_assert(hit.briefed);
    brief_for(i, &want);
    ck_assert_uint_eq(agw_jwt_brief_size(&got), agw_jwt_brief_size(&want));
    ck_assert_mem_eq(&got, &want, agw_jwt_brief_size(&want));
    return 1;
}

START_TEST(briefs_come_back_whole_and_never_torn)
{
    void *region;
    agw_hcache_t *hc = table(16, &region);
    apr_array_header_t *aud = apr_array_make(agw_test_pool, 1, sizeof(const char *));
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_jwt_brief_t b;
    agw_hcache_hit_t hit;
    unsigned char d[32], k[32];
    char kid[32], *user;
    pid_t w[2];
    unsigned int i, hits = 0, n;
    int j, status;

    /* one process: each length pattern comes back, and checks as the claims would */
    for (i = 0; i < 8; i++) {
        put_briefed(hc, i, 2);
        ck_assert(has_brief(hc, i));
    }
    token(3, d, k, kid);
    ck_assert(agw_hcache_get(hc, d, src_a, NOW, 30, &hit, &b));
    APR_ARRAY_PUSH(aud, const char *) = "https://api-3.example/3";
    ck_assert_int_eq(agw_jwt_check_brief(&b, "https://issuer-3.example/padding-padding-padding-pad",
                                         aud, NOW, 30, &err), APR_SUCCESS);
    user = agw_jwt_brief_user(agw_test_pool, &b);
    ck_assert_str_eq(user, "auth0|user-3");
    /* an audience the brief does not name: refused, so the copy covered the right text */
    APR_ARRAY_IDX(aud, 0, const char *) = "https://api-3.example/4";
    ck_assert_int_ne(agw_jwt_check_brief(&b, NULL, aud, NOW, 30, &err), APR_SUCCESS);

    /* two writers replacing briefs of other lengths in the same slots while this reads */
    hc = table(4, &region);
    for (j = 0; j < 2; j++) {
        if ((w[j] = fork()) == 0) {
            for (n = 0; n < 200000; n++)
                put_briefed(hc, (n * 7 + (unsigned int)j) % 6, 2);
            _exit(0);
        }
    }
    for (n = 0; n < 200000; n++)
        hits += (unsigned int)has_brief(hc, n % 6);
    for (j = 0; j < 2; j++)
        ck_assert_int_eq(waitpid(w[j], &status, 0), w[j]);
    ck_assert_uint_gt(hits, 0);
    munmap(region, agw_hcache_bytes(4));
}
END_TEST

Suite *agw_suite_hcache(void)
{
    Suite *s = suite_create("hcache");
    TCase *tc = tcase_create("hcache");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, agw_test_pool_setup, agw_test_pool_teardown);
    tcase_add_test(tc, second_sighting_stores_and_get_checks_source_and_time);
    tcase_add_test(tc, refuses_what_it_cannot_hold);
    tcase_add_test(tc, an_older_or_smaller_table_is_not_taken_over);
    tcase_add_test(tc, bounded_and_a_flood_of_one_shot_tokens_evicts_nothing);
    tcase_add_test(tc, two_tokens_sharing_a_filter_index_in_turn_are_both_stored);
    tcase_add_test(tc, expired_entries_go_before_live_ones);
    tcase_add_test(tc, processes_share_it_and_a_restart_keeps_it);
    tcase_add_test(tc, readers_never_see_a_torn_entry);
    tcase_add_test(tc, briefs_come_back_whole_and_never_torn);
    suite_add_tcase(s, tc);
    return s;
}
