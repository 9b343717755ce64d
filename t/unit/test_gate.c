/* Unit tests of the gate (src/agw_gate.c): each outcome of the one token check, with keys from a file, a fake replay store and explicit time. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_hash.h>

#include "tests.h"
#include "testkit.h"
#include "agw_gate.h"
#include "agw_dpop.h"

#define P agw_test_pool
#define NOW 1700000000
#define ISS "https://issuer.example/"
#define URL "https://api.example/orders"

static EVP_PKEY *k1, *k2;
static char path[256];
static int unknown_kid_logged;
static apr_hash_t *replay_seen;     /* the fake shared store's keys */
static int replay_adds;

static void keys_setup(void)
{
    k1 = tk_keygen_ec("P-256");
    k2 = tk_keygen_ec("P-256");
}

static void keys_teardown(void)
{
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

static void write_jwks(const char *body)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(body, f);
    fclose(f);
}

static const char *jwks_of(const char *kid1, const char *kid2)
{
    return apr_psprintf(P, "{\"keys\":[%s%s%s]}", kid1 ? tk_jwk(P, k1, kid1, NULL, NULL) : "",
                        kid1 && kid2 ? "," : "", kid2 ? tk_jwk(P, k2, kid2, NULL, NULL) : "");
}

static void log_cb(void *baton, agw_log_level_e level, int msgno, const char *msg)
{
    if (msgno == AGW_MSG_UNKNOWN_KID)
        unknown_kid_logged++;
}

static apr_status_t fake_add(void *baton, const char *key, apr_int64_t until, apr_pool_t *p)
{
    replay_adds++;
    if (apr_hash_get(replay_seen, key, APR_HASH_KEY_STRING))
        return APR_EEXIST;
    apr_hash_set(replay_seen, apr_pstrdup(P, key), APR_HASH_KEY_STRING, "1");
    return APR_SUCCESS;
}

static void setup(void)
{
    agw_test_pool_setup();
    snprintf(path, sizeof(path), "/tmp/agw-gate-%ld.json", (long)getpid());
    unknown_kid_logged = 0;
    replay_adds = 0;
    replay_seen = apr_hash_make(P);
}

static void teardown(void)
{
    unlink(path);
    agw_test_pool_teardown();
}

/* A gate with a key store and, as asked, a front cache (with its negative cache) and a host
 * table. */
static agw_gate_t *gate(int front, int host)
{
    agw_gate_t *g = apr_pcalloc(P, sizeof(*g));

    ck_assert_int_eq(agw_keystore_create(&g->keys, P, log_cb, NULL), APR_SUCCESS);
    if (front) {
        g->front = agw_tcache_create(P, 64, 64 * 1536, AGW_TCACHE_ADMIT_SECOND);
        g->negative = agw_tcache_create(P, 16, 16 * 1536, AGW_TCACHE_ADMIT_SECOND);
    }
    if (host) {
        apr_size_t n = agw_hcache_bytes(64);
        g->host = agw_hcache_init(apr_pcalloc(P, n), n, 64);
        ck_assert_ptr_nonnull(g->host);
    }
    g->proofkeys = agw_pkcache_create(P, 8);
    g->replay_add = fake_add;
    g->log = log_cb;
    return g;
}

/* The gate as a child process makes it wherever the host's table is on: both caches, the
 * table's brief read first. */
static agw_gate_t *gate_as_served(void)
{
    agw_gate_t *g = gate(1, 1);

    g->host_first = 1;
    return g;
}

/* The two gates a test runs against: 0, the front cache alone; 1, the gate as served. */
static agw_gate_t *gate_variant(int variant)
{
    return variant ? gate_as_served() : gate(1, 0);
}

static agw_gate_policy_t policy(void)
{
    agw_gate_policy_t pol;

    memset(&pol, 0, sizeof(pol));
    pol.algs = AGW_ALG_BIT(AGW_ALG_ES256);
    pol.leeway = 30;
    pol.keys.jwks = apr_pstrcat(P, "file:", path, NULL);
    pol.keys.issuer = ISS;
    pol.keys.refresh = 900;
    pol.keys.cooldown = 30;
    pol.keys.max_stale = 86400;
    pol.dpop = AGW_DPOP_ALLOWED;
    return pol;
}

/* A token signed by k under kid with the given header typ and extra claims. */
static const char *token(EVP_PKEY *k, const char *kid, const char *iss, const char *extra)
{
    return tk_token(P, "ES256", k, NULL, 0,
                    apr_psprintf(P, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", kid),
                    apr_psprintf(P, "{\"iss\":\"%s\",\"sub\":\"u1\",\"exp\":%d%s}", iss,
                                 NOW + 3600, extra ? extra : ""));
}

static agw_gate_in_t input(const char *tok)
{
    agw_gate_in_t in;

    memset(&in, 0, sizeof(in));
    in.token = tok;
    in.len = strlen(tok);
    in.log_payload = 1;
    return in;
}

static agw_gate_out_t *check(agw_gate_out_t *out, agw_gate_t *g, const agw_gate_policy_t *pol,
                             const agw_gate_in_t *in, apr_int64_t now)
{
    ck_assert_int_eq(agw_gate_check(out, g, pol, in, now, P), APR_SUCCESS);
    ck_assert_ptr_nonnull(out->fp);
    ck_assert_uint_eq(strlen(out->fp), 12);
    return out;
}

#define REFUSED(out, k) do { \
        ck_assert_int_eq((out).outcome, AGW_GATE_REFUSE); \
        ck_assert_int_eq((out).err.kind, (k)); \
    } while (0)

START_TEST(accepts_after_full_verify)
{
    agw_gate_t *g = gate(0, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;

    write_jwks(jwks_of("a", NULL));
    in = input(token(k1, "a", ISS, NULL));
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_VERIFIED);
    ck_assert_str_eq(out.kid, "a");
    ck_assert_int_eq(out.alg, AGW_ALG_ES256);
    ck_assert_str_eq(json_string_value(json_object_get(out.claims, "sub")), "u1");
    ck_assert_int_eq(out.proof_alg, AGW_ALG_NONE);
    /* the claims are checked too: an expired token is refused after its signature */
    check(&out, g, &pol, &in, NOW + 7200);
    REFUSED(out, AGW_R_EXPIRED);
}
END_TEST

START_TEST(front_cache_serves_the_third_sighting)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;

    write_jwks(jwks_of("a", NULL));
    in = input(token(k1, "a", ISS, NULL));
    ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->served, AGW_GATE_SERVED_VERIFIED);
    ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->served, AGW_GATE_SERVED_VERIFIED);
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_FRONT);
    ck_assert_str_eq(out.kid, "a");
    /* a cached token's claims are still checked against the section's policy */
    {
        apr_array_header_t *aud = apr_array_make(P, 1, sizeof(const char *));
        APR_ARRAY_PUSH(aud, const char *) = "https://elsewhere.example/";
        pol.audiences = aud;
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_AUDIENCE);
        ck_assert_int_eq(out.served, AGW_GATE_SERVED_FRONT);
    }
}
END_TEST

START_TEST(host_table_spares_the_signature)
{
    agw_gate_t *g = gate(0, 1);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;

    write_jwks(jwks_of("a", NULL));
    in = input(token(k1, "a", ISS, NULL));
    ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->served, AGW_GATE_SERVED_VERIFIED);
    ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->served, AGW_GATE_SERVED_VERIFIED);
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
}
END_TEST

/* The table serves a token without parsing its header again, so it holds only tokens of the
 * default typ rule: a typ that one section accepts never passes another through the table. */
START_TEST(host_table_keeps_only_default_typ_tokens)
{
    agw_gate_t *g = gate(0, 1);
    agw_gate_policy_t pol = policy(), typed = policy();
    apr_array_header_t *types = apr_array_make(P, 1, sizeof(const char *));
    agw_gate_in_t in = input(tk_token(P, "ES256", k1, NULL, 0,
                                      "{\"alg\":\"ES256\",\"typ\":\"example+jwt\",\"kid\":\"a\"}",
                                      "{\"iss\":\"" ISS "\",\"exp\":1700003600}"));
    agw_gate_out_t out;
    agw_hcache_stats_t st;
    int i;

    write_jwks(jwks_of("a", NULL));
    APR_ARRAY_PUSH(types, const char *) = "example+jwt";
    typed.token_types = types;
    for (i = 0; i < 3; i++) {
        check(&out, g, &typed, &in, NOW);
        ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
        ck_assert_int_eq(out.served, AGW_GATE_SERVED_VERIFIED);
    }
    agw_hcache_stats(g->host, &st);
    ck_assert_uint_eq(st.entries, 0);
    check(&out, g, &pol, &in, NOW);
    REFUSED(out, AGW_R_TYPE);
}
END_TEST

/* A token served by the table is served only while this process's set holds its key. */
START_TEST(host_table_entry_ignored_when_its_key_leaves)
{
    agw_gate_t *g = gate(0, 1);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;
    int i;

    write_jwks(jwks_of("a", "b"));
    in = input(token(k1, "a", ISS, NULL));
    for (i = 0; i < 3; i++)
        check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
    ck_assert_str_eq(out.kid, "a");
    /* kid a now names other key material: the table's entry names the old key */
    write_jwks(apr_psprintf(P, "{\"keys\":[%s]}", tk_jwk(P, k2, "a", NULL, NULL)));
    agw_keystore_tick(g->keys, NOW + 1000);
    check(&out, g, &pol, &in, NOW + 1000);
    REFUSED(out, AGW_R_SIGNATURE);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_VERIFIED);
}
END_TEST

/* A briefed token is served from the table, without the key store's lock, only while the
 * current key set is known to hold its key: after a rotation that keeps the key it still is;
 * once its kid names other key material it is verified again, and refused. */
START_TEST(host_table_brief_needs_its_key_held)
{
    agw_gate_t *g = gate(0, 1);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;
    int i;

    pol.user_default = 1;
    write_jwks(jwks_of("a", "b"));
    in = input(token(k1, "a", ISS, ",\"aud\":\"https://api.example/\""));
    for (i = 0; i < 3; i++)
        check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
    ck_assert_ptr_null(out.claims);
    /* b leaves: a newer set, a still in it */
    write_jwks(jwks_of("a", NULL));
    agw_keystore_tick(g->keys, NOW + 1000);
    check(&out, g, &pol, &in, NOW + 1000);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
    ck_assert_ptr_null(out.claims);
    ck_assert_str_eq(out.user, "u1");
    /* kid a now names other key material */
    write_jwks(apr_psprintf(P, "{\"keys\":[%s]}", tk_jwk(P, k2, "a", NULL, NULL)));
    agw_keystore_tick(g->keys, NOW + 2000);
    check(&out, g, &pol, &in, NOW + 2000);
    REFUSED(out, AGW_R_SIGNATURE);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_VERIFIED);
}
END_TEST

/* A token whose claims the host's table briefed is accepted from the brief: no payload parse,
 * REMOTE_USER's text from it, the claims parsed only when asked. A refusal takes the parse
 * path (its claims are there for the log), and so do a location with its own user claim and
 * one that requires DPoP. */
START_TEST(host_table_brief_spares_the_parse)
{
    agw_gate_t *g = gate(0, 1);
    agw_gate_policy_t pol = policy(), other, own_user, dpop_only;
    apr_array_header_t *x_aud = apr_array_make(P, 1, sizeof(const char *));
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_gate_in_t in;
    agw_gate_out_t out;
    int i;

    write_jwks(jwks_of("a", NULL));
    pol.user_default = 1;
    in = input(token(k1, "a", ISS, ",\"aud\":\"https://api.example/\""));
    for (i = 0; i < 3; i++)
        check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
    ck_assert_ptr_null(out.claims);
    ck_assert_ptr_nonnull(out.lazy);
    ck_assert_str_eq(out.user, "u1");
    ck_assert_str_eq(out.kid, "a");
    ck_assert_int_eq(agw_jws_claims(out.lazy, P, &err), APR_SUCCESS);
    ck_assert_str_eq(json_string_value(json_object_get(out.lazy->payload, "sub")), "u1");

    other = pol;
    APR_ARRAY_PUSH(x_aud, const char *) = "https://x.example/";
    other.audiences = x_aud;
    check(&out, g, &other, &in, NOW);
    REFUSED(out, AGW_R_AUDIENCE);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
    ck_assert_ptr_nonnull(out.claims);
    own_user = pol;
    own_user.user_default = 0;
    check(&out, g, &own_user, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_ptr_nonnull(out.claims);
    dpop_only = pol;
    dpop_only.dpop = AGW_DPOP_REQUIRED;
    check(&out, g, &dpop_only, &in, NOW);
    REFUSED(out, AGW_R_DPOP);
    check(&out, g, &pol, &in, NOW + 3600 + 30);
    REFUSED(out, AGW_R_EXPIRED);
}
END_TEST

/* With host_first, a token both caches hold is served from the table's brief, the front not
 * read; where the brief cannot answer (a location with its own user claim, a refusal the
 * brief finds) the front is read next, as without host_first, and it still answers. */
START_TEST(host_first_takes_the_brief_before_the_front)
{
    agw_gate_t *g = gate(1, 1);
    agw_gate_policy_t pol = policy(), own_user, other;
    apr_array_header_t *x_aud = apr_array_make(P, 1, sizeof(const char *));
    agw_tcache_stats_t before, after;
    agw_gate_in_t in;
    agw_gate_out_t out;
    int i;

    g->host_first = 1;
    write_jwks(jwks_of("a", NULL));
    pol.user_default = 1;
    in = input(token(k1, "a", ISS, ",\"aud\":\"https://api.example/\""));
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->served, AGW_GATE_SERVED_VERIFIED);
    agw_tcache_stats(g->front, &before);
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_HOST);
    ck_assert_ptr_null(out.claims);
    ck_assert_str_eq(out.user, "u1");
    agw_tcache_stats(g->front, &after);
    ck_assert_uint_eq(after.hits + after.misses, before.hits + before.misses);
    /* no brief for a location with its own user claim: the front answers, with the claims */
    own_user = pol;
    own_user.user_default = 0;
    check(&out, g, &own_user, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_FRONT);
    ck_assert_ptr_nonnull(out.claims);
    /* a brief that refuses: the front's claims give the refusal */
    other = pol;
    APR_ARRAY_PUSH(x_aud, const char *) = "https://x.example/";
    other.audiences = x_aud;
    check(&out, g, &other, &in, NOW);
    REFUSED(out, AGW_R_AUDIENCE);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_FRONT);
    /* and off, the front first as before */
    g->host_first = 0;
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_FRONT);
}
END_TEST

START_TEST(negative_cache_refuses_without_verifying)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;

    write_jwks(jwks_of("a", NULL));
    in = input(token(k2, "a", ISS, NULL));      /* kid a, signed by another key */
    check(&out, g, &pol, &in, NOW);
    REFUSED(out, AGW_R_SIGNATURE);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_VERIFIED);
    ck_assert_ptr_nonnull(out.claims);          /* the unverified payload, for the log */
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_VERIFIED);
    check(&out, g, &pol, &in, NOW);
    REFUSED(out, AGW_R_SIGNATURE);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_NONE);
    ck_assert_str_eq(out.err.reason, "signature invalid");
}
END_TEST

/* A bad signature remembered where the token got that far is no answer where it would not:
 * an alg the section does not allow, a typ only another section accepts (found by
 * fuzz/fuzz_gate.c: "signature invalid" instead of the full check's refusal). */
START_TEST(negative_cache_keeps_the_sections_refusal)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy(), rs = policy(), typed = policy();
    apr_array_header_t *types = apr_array_make(P, 1, sizeof(const char *));
    agw_gate_in_t in = input(token(k2, "a", ISS, NULL));
    agw_gate_in_t in2 = input(tk_token(P, "ES256", k2, NULL, 0,
                                       "{\"alg\":\"ES256\",\"typ\":\"example+jwt\",\"kid\":\"a\"}",
                                       "{\"iss\":\"" ISS "\",\"exp\":1700003600}"));
    agw_gate_out_t out;
    int i;

    write_jwks(jwks_of("a", NULL));
    rs.algs = AGW_ALG_BIT(AGW_ALG_RS256);
    APR_ARRAY_PUSH(types, const char *) = "example+jwt";
    typed.token_types = types;
    for (i = 0; i < 3; i++) {
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_SIGNATURE);
        check(&out, g, &typed, &in2, NOW);
        REFUSED(out, AGW_R_SIGNATURE);
    }
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_NONE);    /* the negative cache has it */
    check(&out, g, &rs, &in, NOW);
    REFUSED(out, AGW_R_ALG);
    check(&out, g, &pol, &in2, NOW);
    REFUSED(out, AGW_R_TYPE);
}
END_TEST

START_TEST(unknown_kid_is_refetched)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;

    write_jwks(jwks_of("a", NULL));
    in = input(token(k1, "a", ISS, NULL));
    ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->outcome, AGW_GATE_ACCEPT);
    write_jwks(jwks_of("a", "b"));
    in = input(token(k2, "b", ISS, NULL));
    check(&out, g, &pol, &in, NOW + 1);
    ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
    ck_assert_str_eq(out.kid, "b");
    ck_assert_int_eq(unknown_kid_logged, 1);
    /* a kid no set holds: refused once the refetch found nothing (cooldown: no second) */
    in = input(token(k2, "c", ISS, NULL));
    check(&out, g, &pol, &in, NOW + 2);
    REFUSED(out, AGW_R_UNKNOWN_KEY);
    ck_assert_str_eq(out.err.reason, "unknown key");
}
END_TEST

START_TEST(cached_token_dropped_when_its_key_leaves)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in;
    agw_gate_out_t out;
    agw_tcache_stats_t st;
    int i;

    write_jwks(jwks_of("a", "b"));
    in = input(token(k1, "a", ISS, NULL));
    for (i = 0; i < 3; i++)
        check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_FRONT);
    /* the set changes by a scheduled refresh: key a is gone */
    write_jwks(jwks_of(NULL, "b"));
    agw_keystore_tick(g->keys, NOW + 1000);
    check(&out, g, &pol, &in, NOW + 1000);
    REFUSED(out, AGW_R_UNKNOWN_KEY);
    ck_assert_int_ne(out.served, AGW_GATE_SERVED_FRONT);
    agw_tcache_stats(g->front, &st);
    ck_assert_uint_eq(st.entries, 0);
}
END_TEST

START_TEST(no_keys_is_unavailable_with_retry)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in = input(token(k1, "a", ISS, NULL));
    agw_gate_out_t out;

    unlink(path);
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_UNAVAILABLE);
    ck_assert_int_gt(out.retry_after, 0);
    ck_assert_str_eq(out.source, pol.keys.jwks);
    ck_assert_ptr_nonnull(out.err.reason);
    /* no key store at all: the same answer */
    g->keys = NULL;
    check(&out, g, &pol, &in, NOW);
    ck_assert_int_eq(out.outcome, AGW_GATE_UNAVAILABLE);
    ck_assert_int_eq(out.retry_after, 60);
}
END_TEST

START_TEST(alg_not_allowed_refused_before_keys)
{
    agw_gate_t *g = gate(1, 0);
    agw_gate_policy_t pol = policy();
    agw_gate_in_t in = input(token(k1, "a", ISS, NULL));
    agw_gate_out_t out;

    write_jwks(jwks_of("a", NULL));
    pol.algs = AGW_ALG_BIT(AGW_ALG_RS256);
    check(&out, g, &pol, &in, NOW);
    REFUSED(out, AGW_R_ALG);
    ck_assert_str_eq(out.err.reason, "alg not allowed");
    ck_assert_int_eq(out.served, AGW_GATE_SERVED_NONE);
    /* the unverified payload for the log's iss/sub, only when asked for */
    ck_assert_str_eq(json_string_value(json_object_get(out.claims, "iss")), ISS);
    in.log_payload = 0;
    check(&out, g, &pol, &in, NOW);
    ck_assert_ptr_null(out.claims);
}
END_TEST

/* Also with both caches and the table first (as served): a token the caches hold after a
 * default location accepted it is still refused where its typ is not accepted. */
START_TEST(typ_not_accepted)
{
    int variant, i;

    write_jwks(jwks_of("a", NULL));
    for (variant = 0; variant < 2; variant++) {
        agw_gate_t *g = gate_variant(variant);
        agw_gate_policy_t pol = policy(), plain = policy();
        apr_array_header_t *types = apr_array_make(P, 1, sizeof(const char *));
        agw_gate_in_t in = input(token(k1, "a", ISS, NULL));
        agw_gate_out_t out;

        plain.user_default = 1;
        APR_ARRAY_PUSH(types, const char *) = "example+jwt";
        pol.token_types = types;
        pol.user_default = 1;
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_TYPE);
        for (i = 0; i < 3; i++)
            ck_assert_int_eq(check(&out, g, &plain, &in, NOW)->outcome, AGW_GATE_ACCEPT);
        ck_assert_int_ne(out.served, AGW_GATE_SERVED_VERIFIED);
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_TYPE);
        APR_ARRAY_IDX(types, 0, const char *) = "at+jwt";
        ck_assert_int_eq(check(&out, g, &pol, &in, NOW)->outcome, AGW_GATE_ACCEPT);
    }
}
END_TEST

/* An issuer a location with several does not trust is refused without a fetch; also by the
 * gate as served, for a token that a single-issuer location of that issuer made the caches
 * hold (a token verified under one key source is not trusted under another's routing). */
START_TEST(untrusted_issuer_fetches_nothing)
{
    int variant, i;

    write_jwks(jwks_of("a", NULL));
    for (variant = 0; variant < 2; variant++) {
        agw_gate_t *g = gate_variant(variant);
        agw_gate_policy_t pol = policy(), single = policy(), others = policy();
        apr_array_header_t *trust = apr_array_make(P, 2, sizeof(agw_trust_t));
        apr_array_header_t *elsewhere = apr_array_make(P, 2, sizeof(agw_trust_t));
        agw_trust_t *t;
        agw_gate_in_t in = input(token(k1, "a", "https://other.example/", NULL));
        agw_gate_out_t out;

        t = apr_array_push(trust);
        t->issuer = ISS;
        t->jwks = pol.keys.jwks;
        t = apr_array_push(trust);
        t->issuer = "https://second.example/";
        t->jwks = "file:/nonexistent/agw-gate.json";
        pol.trust = trust;
        pol.user_default = variant;
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_ISSUER);
        ck_assert_int_eq(agw_keystore_stats(g->keys, P)->nelts, 0);
        /* a trusted one is routed to its own source */
        in = input(token(k1, "a", ISS, NULL));
        check(&out, g, &pol, &in, NOW);
        ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
        ck_assert_int_eq(agw_keystore_stats(g->keys, P)->nelts, 1);
        /* held by the caches of a single-issuer location, the same token is still refused
         * where its issuer is not among the trusted ones, and nothing more is fetched */
        single.user_default = 1;
        for (i = 0; i < 3; i++)
            ck_assert_int_eq(check(&out, g, &single, &in, NOW)->outcome, AGW_GATE_ACCEPT);
        ck_assert_int_ne(out.served, AGW_GATE_SERVED_VERIFIED);
        t = apr_array_push(elsewhere);
        t->issuer = "https://second.example/";
        t->jwks = "file:/nonexistent/agw-gate.json";
        t = apr_array_push(elsewhere);
        t->issuer = "https://third.example/";
        t->jwks = "file:/nonexistent/agw-gate-3.json";
        others.trust = elsewhere;
        others.user_default = 1;
        check(&out, g, &others, &in, NOW);
        REFUSED(out, AGW_R_ISSUER);
        ck_assert_int_eq(agw_keystore_stats(g->keys, P)->nelts, 1);
    }
}
END_TEST

/* The RFC 7638 thumbprint of a P-256 key, computed here. */
static const char *jkt_of(EVP_PKEY *k)
{
    size_t lx, ly;
    unsigned char *x = tk_bn_param(P, k, OSSL_PKEY_PARAM_EC_PUB_X, 32, &lx);
    unsigned char *y = tk_bn_param(P, k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, &ly);
    const char *jwk = apr_psprintf(P, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
                                   "\"y\":\"%s\"}", tk_b64url(P, x, lx), tk_b64url(P, y, ly));
    unsigned char h[32];
    unsigned int n = 0;

    if (!EVP_Digest(jwk, strlen(jwk), h, &n, EVP_sha256(), NULL)) tk_die("EVP_Digest");
    return tk_b64url(P, h, n);
}

static const char *bound_token(void)
{
    return token(k1, "a", ISS, apr_psprintf(P, ",\"cnf\":{\"jkt\":\"%s\"}", jkt_of(k2)));
}

/* Refused every time, also by the gate as served (both caches, the table's brief first). */
START_TEST(dpop_bound_token_sent_as_bearer)
{
    int variant, i;

    write_jwks(jwks_of("a", NULL));
    for (variant = 0; variant < 2; variant++) {
        agw_gate_t *g = gate_variant(variant);
        agw_gate_policy_t pol = policy();
        agw_gate_in_t in = input(bound_token());
        agw_gate_out_t out;

        pol.user_default = 1;
        for (i = 0; i < 3; i++) {
            check(&out, g, &pol, &in, NOW);
            REFUSED(out, AGW_R_BINDING);
            ck_assert_str_eq(out.err.reason, "DPoP-bound token sent without DPoP");
            ck_assert_int_eq(out.dpop_challenge, 1);
        }
        pol.dpop = AGW_DPOP_OFF;
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_BINDING);
        ck_assert_int_eq(out.dpop_challenge, -1);
    }
}
END_TEST

static const char *dpop_proof(const char *tok, const char *jti)
{
    unsigned char h[32];
    unsigned int n = 0;

    if (!EVP_Digest(tok, strlen(tok), h, &n, EVP_sha256(), NULL)) tk_die("EVP_Digest");
    return tk_token(P, "ES256", k2, NULL, 0,
                    apr_psprintf(P, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":%s}",
                                 tk_jwk(P, k2, NULL, NULL, NULL)),
                    apr_psprintf(P, "{\"htm\":\"GET\",\"htu\":\"%s\",\"iat\":%d,\"jti\":\"%s\","
                                 "\"ath\":\"%s\"}", URL, NOW, jti, tk_b64url(P, h, n)));
}

/* Also by the gate as served (both caches, the table's brief first). */
START_TEST(dpop_replay_refused_through_the_seam)
{
    int variant;

    write_jwks(jwks_of("a", NULL));
    for (variant = 0; variant < 2; variant++) {
        agw_gate_t *g = gate_variant(variant);
        agw_gate_policy_t pol = policy();
        const char *tok = bound_token();
        agw_gate_in_t in = input(tok);
        agw_gate_out_t out;
        const char *used;

        replay_adds = 0;
        replay_seen = apr_hash_make(P);
        pol.user_default = variant;     /* as served: REMOTE_USER from the default claims */
        in.dpop_scheme = 1;
        in.dpop = dpop_proof(tok, "j-1");
        in.method = "GET";
        in.url = URL;
        check(&out, g, &pol, &in, NOW);
        ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
        ck_assert_int_eq(out.proof_alg, AGW_ALG_ES256);
        ck_assert_int_eq(out.jkt_bound, 1);
        ck_assert_ptr_nonnull(out.replay_key);
        used = apr_pstrdup(P, out.replay_key);
        /* the same proof again: a replay */
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_DPOP);
        ck_assert_str_eq(out.err.reason, "DPoP proof replayed");
        ck_assert_str_eq(out.err.code, AGW_E_INVALID_DPOP_PROOF);
        /* unless it is the one this client request already used (an internal redirect) */
        in.used_replay = used;
        check(&out, g, &pol, &in, NOW);
        ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
        ck_assert_ptr_null(out.replay_key);
        ck_assert_int_eq(replay_adds, 2);
        /* no DPoP header with the DPoP scheme */
        in.dpop = NULL;
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_DPOP);
    }
}
END_TEST

/* A DPoP-bound token accepted with its proofs, so that every cache has seen it, is refused when
 * it comes back as a Bearer token: by the gate with the front only and by the gate as served. */
START_TEST(dpop_token_accepted_with_proofs_then_sent_as_bearer)
{
    int variant, i;

    write_jwks(jwks_of("a", NULL));
    for (variant = 0; variant < 2; variant++) {
        agw_gate_t *g = gate_variant(variant);
        agw_gate_policy_t pol = policy();
        const char *tok = bound_token();
        agw_gate_in_t in = input(tok), bearer = input(tok);
        agw_gate_out_t out;

        pol.user_default = 1;
        in.dpop_scheme = 1;
        in.method = "GET";
        in.url = URL;
        for (i = 0; i < 3; i++) {
            in.dpop = dpop_proof(tok, apr_psprintf(P, "v%d-j%d", variant, i));
            check(&out, g, &pol, &in, NOW);
            ck_assert_int_eq(out.outcome, AGW_GATE_ACCEPT);
            ck_assert_int_eq(out.jkt_bound, 1);
        }
        for (i = 0; i < 2; i++) {
            check(&out, g, &pol, &bearer, NOW);
            REFUSED(out, AGW_R_BINDING);
            ck_assert_str_eq(out.err.reason, "DPoP-bound token sent without DPoP");
        }
        /* and with the DPoP scheme but no proof */
        in.dpop = NULL;
        check(&out, g, &pol, &in, NOW);
        REFUSED(out, AGW_R_DPOP);
    }
}
END_TEST

Suite *agw_suite_gate(void)
{
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("outcomes");

    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, accepts_after_full_verify);
    tcase_add_test(tc, front_cache_serves_the_third_sighting);
    tcase_add_test(tc, host_table_spares_the_signature);
    tcase_add_test(tc, host_table_keeps_only_default_typ_tokens);
    tcase_add_test(tc, host_table_entry_ignored_when_its_key_leaves);
    tcase_add_test(tc, host_table_brief_spares_the_parse);
    tcase_add_test(tc, host_table_brief_needs_its_key_held);
    tcase_add_test(tc, host_first_takes_the_brief_before_the_front);
    tcase_add_test(tc, negative_cache_refuses_without_verifying);
    tcase_add_test(tc, negative_cache_keeps_the_sections_refusal);
    tcase_add_test(tc, unknown_kid_is_refetched);
    tcase_add_test(tc, cached_token_dropped_when_its_key_leaves);
    tcase_add_test(tc, no_keys_is_unavailable_with_retry);
    tcase_add_test(tc, alg_not_allowed_refused_before_keys);
    tcase_add_test(tc, typ_not_accepted);
    tcase_add_test(tc, untrusted_issuer_fetches_nothing);
    tcase_add_test(tc, dpop_bound_token_sent_as_bearer);
    tcase_add_test(tc, dpop_replay_refused_through_the_seam);
    tcase_add_test(tc, dpop_token_accepted_with_proofs_then_sent_as_bearer);
    suite_add_tcase(s, tc);
    return s;
}
