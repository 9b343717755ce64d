/* Benchmark (not a test): our full token path against a bare OpenSSL verify of the same signature, per algorithm; the gateway's DPoP proof against a bare sign; the gate's DPoP proof verify with and without the proof key cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_thread_proc.h>
#include <openssl/crypto.h>
#include "../t/unit/testkit.h"
#include "agw_crypt.h"
#include "agw_jwk.h"
#include "agw_jws.h"
#include "agw_jwt.h"
#include "agw_dpopsign.h"
#include "agw_dpop.h"
#include "agw_pkcache.h"

/* Fairness rules: both paths verify the same signature over the same signing input with the
 * same public key; the bare path gets everything it can prepare ahead for free (imported
 * public key, digest fetched once, ES256 signature already in DER) and pays only for a fresh
 * EVP_MD_CTX and the verify, as any caller must. The two paths alternate in short rounds
 * (order swapped every round) and each reports the median round, so clock drift, turbo and
 * a noisy neighbour hit both alike. Time is this thread's CPU time, so that being preempted
 * on a shared machine does not count as work; the best round is printed as well. */

#define ROUNDS 9
#define NOW 1700000000
#define ISS "https://example.eu.auth0.com/"

typedef struct {
    const char *alg;
    int kind;               /* 0 RSA, 1 P-256, 2 Ed25519 */
    /* prepared */
    char *token;
    agw_jwks_t *jwks;
    EVP_PKEY *pub;          /* the signing key's public half, imported on its own */
    EVP_MD *md;             /* fetched once, as agw_crypt does */
    const unsigned char *bare_sig;
    size_t bare_siglen;
    const char *si;
    size_t silen;
    /* results, ns per operation */
    double ours[ROUNDS], bare[ROUNDS], decode[ROUNDS];
    unsigned long ops_ours, ops_bare;
} bench_case_t;

static apr_array_header_t *audiences;

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_core: %s\n", what);
    exit(1);
}

static EVP_PKEY *keygen(int kind)
{
    return kind == 0 ? tk_keygen_rsa(2048) : kind == 1 ? tk_keygen_ec("P-256")
                                                       : tk_keygen_ed25519();
}

static EVP_PKEY *public_copy(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    const unsigned char *q;
    int n = i2d_PUBKEY(k, &der);
    EVP_PKEY *pub;

    if (n <= 0)
        die("i2d_PUBKEY");
    q = der;
    pub = d2i_PUBKEY(NULL, &q, n);
    OPENSSL_free(der);
    if (!pub)
        die("d2i_PUBKEY");
    return pub;
}

static void prepare(bench_case_t *c, apr_pool_t *p)
{
    static const char *const kids[3] = {
        "QzE4N0ZBM0VDQzE2RUE5MkQ2M0JCMjg1Q0Q1RjVCQjI0OEZGMTQ2Ng",
        "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg",
        "MDk3QzI2QUNGMjNERDE2NEZDMUM1RUQ5RDk3MzhCQjJGRkJBNDk1Qg",
    };
    EVP_PKEY *keys[3];
    agw_err_t err = { 0 };
    const char *doc, *header, *payload;
    size_t siglen;
    unsigned char *sig;
    int i;

    /* An Auth0-like set of three keys; the token names the middle one. */
    for (i = 0; i < 3; i++)
        keys[i] = keygen(c->kind);
    doc = apr_psprintf(p, "{\"keys\":[%s,%s,%s]}",
                       tk_jwk(p, keys[0], kids[0], c->alg, "sig"),
                       tk_jwk(p, keys[1], kids[1], c->alg, "sig"),
                       tk_jwk(p, keys[2], kids[2], c->alg, "sig"));
    if (agw_jwks_parse(&c->jwks, p, doc, strlen(doc), &err) != APR_SUCCESS
        || c->jwks->keys->nelts != 3)
        die("JWKS refused");

    header = apr_psprintf(p, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", c->alg, kids[1]);
    payload = "{\"https://example.com/roles\":[\"admin\",\"orders\"],"
              "\"iss\":\"" ISS "\",\"sub\":\"auth0|5f7c8ec7c33c6c004bbafe82\","
              "\"aud\":[\"https://api.example.com\",\"https://example.eu.auth0.com/userinfo\"],"
              "\"iat\":1699996400,\"exp\":1700082800,\"azp\":\"Xy12abcDEFghiJKLmnoPQRstuVWxyz01\","
              "\"scope\":\"openid profile email read:orders write:orders\","
              "\"permissions\":[\"read:orders\",\"write:orders\"]}";
    c->token = tk_token(p, c->alg, keys[1], NULL, 0, header, payload);
    c->si = c->token;
    c->silen = (size_t)(strrchr(c->token, '.') - c->token);
    sig = tk_unb64url(p, strrchr(c->token, '.') + 1, &siglen);

    c->pub = public_copy(keys[1]);
    c->md = c->kind == 2 ? NULL : EVP_MD_fetch(NULL, "SHA2-256", NULL);
    if (c->kind == 1) {
        c->bare_sig = tk_ecdsa_raw_to_der(p, &c->bare_siglen, sig, siglen);
    }
    else {
        c->bare_sig = sig;
        c->bare_siglen = siglen;
    }
    for (i = 0; i < 3; i++)
        EVP_PKEY_free(keys[i]);
}

static int bare_once(const bench_case_t *c)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, c->md, NULL, c->pub) == 1;

    if (ok && c->alg[0] == 'P')
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    ok = ok && EVP_DigestVerify(ctx, c->bare_sig, c->bare_siglen,
                                (const unsigned char *)c->si, c->silen) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* decode + verify + registered claims, in a request-like pool cleared every time. */
static int ours_once(const bench_case_t *c, apr_pool_t *p, int decode_only)
{
    agw_jws_t *jws;
    agw_err_t err = { 0 };
    int ok;

    apr_pool_clear(p);
    ok = agw_jws_decode(&jws, p, c->token, strlen(c->token), 0, &err) == APR_SUCCESS;
    if (decode_only)
        return ok;
    ok = ok && agw_jws_verify(jws, c->jwks, AGW_ALG_BIT(agw_alg_from_name(c->alg, (apr_size_t)-1)),
                              &err) == APR_SUCCESS
         && agw_jwt_check_claims(jws->payload, ISS, audiences, NOW, 30, &err) == APR_SUCCESS;
    if (!ok)
        fprintf(stderr, "bench_core: %s refused: %s\n", c->alg, err.reason);
    return ok;
}

/* Runs one path for about budget_ns; returns ns per operation. */
static double run(bench_case_t *c, apr_pool_t *p, int which, double budget_ns,
                  unsigned long *ops)
{
    double start = now_ns(), end = start + budget_ns, t;
    unsigned long n = 0;
    int i;

    do {
        for (i = 0; i < 16; i++) {
            int ok = which == 0 ? ours_once(c, p, 0) : which == 1 ? bare_once(c)
                                                                  : ours_once(c, p, 1);
            if (!ok)
                die("a verification failed");
        }
        n += 16;
        t = now_ns();
    } while (t < end);
    if (ops)
        *ops += n;
    return (t - start) / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double best(const double *v)
{
    double b = v[0];
    int i;

    for (i = 1; i < ROUNDS; i++)
        if (v[i] < b)
            b = v[i];
    return b;
}

static double median(double *v)
{
    double s[ROUNDS];

    memcpy(s, v, sizeof(s));
    qsort(s, ROUNDS, sizeof(double), cmp_double);
    return s[ROUNDS / 2];
}

/* ---- DPoP proofs: what the gateway signs per proxied request ---------------------------------- */

#define DPOP_URL "http://orders.internal:8080/orders/123?page=2"
#define DPOP_TOKEN "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJodHRwczovL2V4YW1wbGUuZXUu" \
                   "YXV0aDAuY29tLyIsImNuZiI6eyJqa3QiOiJhYmMifX0.c2lnbmF0dXJl"

typedef struct {
    const char *alg;
    int kind;
    agw_dpopsign_key_t *key;
    EVP_PKEY *pk;
    EVP_MD *md;
    const char *si;         /* a proof's signing input, for the bare path */
    double ours[ROUNDS], bare[ROUNDS];
} sign_case_t;

static void sign_prepare(sign_case_t *s, apr_pool_t *p)
{
    BIO *b = BIO_new(BIO_s_mem());
    agw_err_t err = { 0 };
    const char *proof;
    char *pem;
    long n;

    s->pk = keygen(s->kind);
    if (!b || PEM_write_bio_PrivateKey(b, s->pk, NULL, NULL, 0, NULL, NULL) != 1)
        die("PEM write");
    n = BIO_get_mem_data(b, &pem);
    if (agw_dpopsign_load(&s->key, p, pem, (apr_size_t)n, AGW_ALG_NONE, &err) != APR_SUCCESS)
        die("DPoP key refused");
    BIO_free(b);
    if (agw_dpopsign_proof(&proof, p, s->key, "GET", DPOP_URL, DPOP_TOKEN, NULL, NOW, &err)
        != APR_SUCCESS)
        die("DPoP proof failed");
    s->si = apr_pstrmemdup(p, proof, (apr_size_t)(strrchr(proof, '.') - proof));
    s->md = s->kind == 2 ? NULL : EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

static int proof_once(const sign_case_t *s, apr_pool_t *p)
{
    agw_err_t err = { 0 };
    const char *proof;

    apr_pool_clear(p);
    return agw_dpopsign_proof(&proof, p, s->key, "GET", DPOP_URL, DPOP_TOKEN, NULL, NOW, &err)
           == APR_SUCCESS;
}

static int bare_sign_once(const sign_case_t *s)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t n = sizeof(sig);
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, s->md, NULL, s->pk) == 1
             && EVP_DigestSign(ctx, sig, &n, (const unsigned char *)s->si, strlen(s->si)) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}

static double run_sign(const sign_case_t *s, apr_pool_t *p, int bare, double budget_ns)
{
    double start = now_ns(), end = start + budget_ns, t;
    unsigned long n = 0;
    int i;

    do {
        for (i = 0; i < 16; i++)
            if (!(bare ? bare_sign_once(s) : proof_once(s, p)))
                die("a signature failed");
        n += 16;
        t = now_ns();
    } while (t < end);
    return (t - start) / (double)n;
}

/* Wall-clock throughput of `threads` threads signing proofs with one shared key at once:
 * with no lock on the signing path, 2 threads on 2 free cores make about twice the proofs. */
typedef struct {
    const sign_case_t *s;
    int bare;
    double seconds, cpu;
    unsigned long ops;
} sign_thread_t;

static double wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *APR_THREAD_FUNC sign_thread(apr_thread_t *th, void *data)
{
    sign_thread_t *a = data;
    apr_pool_t *p;
    double end;

    apr_pool_create_unmanaged(&p);
    end = wall_s() + a->seconds;
    a->cpu = now_ns();
    while (wall_s() < end) {
        if (!(a->bare ? bare_sign_once(a->s) : proof_once(a->s, p)))
            die("a proof failed in a thread");
        a->ops++;
    }
    a->cpu = (now_ns() - a->cpu) / 1e9;
    apr_pool_destroy(p);
    apr_thread_exit(th, APR_SUCCESS);
    return NULL;
}

/* Proofs per wall-clock second of all threads; *pcpu: the share of the threads' wall time they
 * spent on a CPU (below 1: waiting, for a lock or for a CPU another process holds). */
static double proofs_per_s(const sign_case_t *s, apr_pool_t *p, int threads, int bare,
                           double seconds, double *pcpu)
{
    apr_thread_t *th[8];
    sign_thread_t args[8];
    unsigned long total = 0;
    double cpu = 0;
    apr_status_t rv;
    int i;

    for (i = 0; i < threads; i++) {
        args[i] = (sign_thread_t){ s, bare, seconds, 0, 0 };
        if (apr_thread_create(&th[i], NULL, sign_thread, &args[i], p) != APR_SUCCESS)
            die("apr_thread_create");
    }
    for (i = 0; i < threads; i++) {
        apr_thread_join(&rv, th[i]);
        total += args[i].ops;
        cpu += args[i].cpu;
    }
    *pcpu = cpu / (seconds * threads);
    return (double)total / seconds;
}

static void bench_dpop(apr_pool_t *root, apr_pool_t *req, double seconds)
{
    sign_case_t cases[] = { { .alg = "ES256", .kind = 1 }, { .alg = "EdDSA", .kind = 2 },
                            { .alg = "RS256", .kind = 0 } };
    double slice = seconds * 1e9 / ROUNDS, one, two, c1, c2;
    size_t i;
    int r;

    printf("\nDPoP proof (gateway, per proxied request): agw_dpopsign_proof (jti, htm, htu, iat, "
           "ath; header precomputed) vs bare EVP_DigestSign of the same input\n");
    printf("%-6s %11s %11s %10s %12s\n", "alg", "proof us", "bare us", "proof/bare",
           "overhead us");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sign_case_t *s = &cases[i];
        sign_prepare(s, root);
        run_sign(s, req, 0, 2e7);
        run_sign(s, req, 1, 2e7);
        for (r = 0; r < ROUNDS; r++) {
            if (r % 2 == 0) {
                s->ours[r] = run_sign(s, req, 0, slice * 0.5);
                s->bare[r] = run_sign(s, req, 1, slice * 0.5);
            }
            else {
                s->bare[r] = run_sign(s, req, 1, slice * 0.5);
                s->ours[r] = run_sign(s, req, 0, slice * 0.5);
            }
        }
        printf("%-6s %11.2f %11.2f %10.3f %12.2f\n", s->alg, median(s->ours) / 1e3,
               median(s->bare) / 1e3, median(s->ours) / median(s->bare),
               (median(s->ours) - median(s->bare)) / 1e3);
    }
    printf("ES256 signatures/s, wall clock, one shared key (%d CPUs online, shared with "
           "whatever else runs; on-CPU share of the threads' time in brackets):\n",
           (int)sysconf(_SC_NPROCESSORS_ONLN));
    for (r = 0; r < 2; r++) {
        one = proofs_per_s(&cases[0], root, 1, r, seconds / 2, &c1);
        two = proofs_per_s(&cases[0], root, 2, r, seconds / 2, &c2);
        printf("  %-5s 1 thread %7.0f [%.2f], 2 threads %7.0f [%.2f]: x%.2f\n",
               r ? "bare" : "proof", one, c1, two, c2, two / one);
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY_free(cases[i].pk);
        EVP_MD_free(cases[i].md);
    }
}

/* ---- DPoP proofs at the gate: a new proof per request, its key imported or cached ------------ */

#define VERIFY_PROOFS 64    /* distinct proofs (jti) per key, taken in turn */

typedef struct {
    const char *proofs[VERIFY_PROOFS];
    agw_pkcache_t *keys;    /* NULL: cold, each proof's jwk imported */
} verify_set_t;

static int verify_once(const verify_set_t *v, unsigned long i, apr_pool_t *p)
{
    agw_dpop_req_t r = { "GET", NULL, DPOP_TOKEN, strlen(DPOP_TOKEN), NOW, 0, 30, v->keys };
    const char *proof = v->proofs[i % VERIFY_PROOFS];
    agw_err_t err = { 0 };
    agw_dpop_t *d;
    int ok;

    apr_pool_clear(p);
    r.url = agw_dpopsign_htu(p, DPOP_URL);
    ok = agw_dpop_verify(&d, p, proof, strlen(proof), &r, &err) == APR_SUCCESS;
    if (!ok)
        fprintf(stderr, "bench_core: DPoP proof refused: %s\n", err.reason);
    return ok;
}

static double run_verify(const verify_set_t *v, apr_pool_t *p, double budget_ns)
{
    double start = now_ns(), end = start + budget_ns, t;
    unsigned long n = 0;
    int i;

    do {
        for (i = 0; i < 16; i++)
            if (!verify_once(v, n + (unsigned long)i, p))
                die("a DPoP proof was refused");
        n += 16;
        t = now_ns();
    } while (t < end);
    return (t - start) / (double)n;
}

static void bench_dpop_verify(apr_pool_t *root, apr_pool_t *req, double seconds)
{
    sign_case_t cases[] = { { .alg = "ES256", .kind = 1 }, { .alg = "EdDSA", .kind = 2 },
                            { .alg = "RS256", .kind = 0 } };
    double slice = seconds * 1e9 / ROUNDS, cold[ROUNDS], warm[ROUNDS];
    agw_pkcache_stats_t st;
    size_t i, j;
    int r;

    printf("\nDPoP proof at the gate (new proof per request): agw_dpop_verify (typ, alg, jwk, "
           "signature, htm, htu, iat, jti, ath), cold = jwk imported every time, warm = "
           "agw_pkcache (%d entries)\n", AGW_PKCACHE_ENTRIES);
    printf("%-6s %11s %11s %10s %12s\n", "alg", "cold us", "warm us", "cold/warm", "saved us");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sign_case_t *s = &cases[i];
        verify_set_t c = { { NULL }, NULL }, w;
        agw_err_t err = { 0 };

        sign_prepare(s, root);
        for (j = 0; j < VERIFY_PROOFS; j++)
            if (agw_dpopsign_proof(&c.proofs[j], root, s->key, "GET", DPOP_URL, DPOP_TOKEN, NULL,
                                   NOW, &err) != APR_SUCCESS)
                die("DPoP proof failed");
        w = c;
        w.keys = agw_pkcache_create(root, AGW_PKCACHE_ENTRIES);
        run_verify(&c, req, 2e7);
        run_verify(&w, req, 2e7);
        for (r = 0; r < ROUNDS; r++) {
            if (r % 2 == 0) {
                cold[r] = run_verify(&c, req, slice * 0.5);
                warm[r] = run_verify(&w, req, slice * 0.5);
            }
            else {
                warm[r] = run_verify(&w, req, slice * 0.5);
                cold[r] = run_verify(&c, req, slice * 0.5);
            }
        }
        agw_pkcache_stats(w.keys, &st);
        if (st.misses != 1 || st.entries != 1)
            die("the warm key cache missed more than once");
        printf("%-6s %11.2f %11.2f %10.3f %12.2f\n", s->alg, median(cold) / 1e3,
               median(warm) / 1e3, median(cold) / median(warm),
               (median(cold) - median(warm)) / 1e3);
        EVP_PKEY_free(s->pk);
        EVP_MD_free(s->md);
    }
}

int main(int argc, char **argv)
{
    bench_case_t cases[] = {
        { .alg = "RS256", .kind = 0 }, { .alg = "PS256", .kind = 0 },
        { .alg = "ES256", .kind = 1 }, { .alg = "EdDSA", .kind = 2 },
    };
    const size_t ncases = sizeof(cases) / sizeof(cases[0]);
    double seconds = 2.0;
    const char *env = getenv("BENCH_SECONDS");
    apr_pool_t *root, *req;
    size_t i;
    int r;

    if (env && atof(env) > 0)
        seconds = atof(env);
    apr_initialize();
    apr_pool_create(&root, NULL);
    apr_pool_create(&req, root);
    audiences = apr_array_make(root, 1, sizeof(const char *));
    APR_ARRAY_PUSH(audiences, const char *) = "https://api.example.com";

    printf("bench_core: %s, %.1f s per algorithm, %d interleaved rounds, median round\n",
           OpenSSL_version(OPENSSL_VERSION), seconds, ROUNDS);
    for (i = 0; i < ncases; i++) {
        bench_case_t *c = &cases[i];
        /* ours and bare share the round equally; decode-only gets a tenth for context. */
        double slice = seconds * 1e9 / ROUNDS;

        prepare(c, root);
        /* Warm both paths (lazy provider fetches, caches) before timing. */
        run(c, req, 0, 2e7, NULL);
        run(c, req, 1, 2e7, NULL);
        for (r = 0; r < ROUNDS; r++) {
            if (r % 2 == 0) {
                c->ours[r] = run(c, req, 0, slice * 0.45, &c->ops_ours);
                c->bare[r] = run(c, req, 1, slice * 0.45, &c->ops_bare);
            }
            else {
                c->bare[r] = run(c, req, 1, slice * 0.45, &c->ops_bare);
                c->ours[r] = run(c, req, 0, slice * 0.45, &c->ops_ours);
            }
            c->decode[r] = run(c, req, 2, slice * 0.1, NULL);
        }
    }

    printf("\n%-6s %6s %11s %11s %10s %12s %10s %10s\n", "alg", "token", "ours us/op",
           "bare us/op", "ours/bare", "overhead us", "best o/b", "decode us");
    for (i = 0; i < ncases; i++) {
        bench_case_t *c = &cases[i];
        double o = median(c->ours) / 1e3, b = median(c->bare) / 1e3;

        printf("%-6s %6lu %11.2f %11.2f %10.3f %12.2f %10.3f %10.2f\n", c->alg,
               (unsigned long)strlen(c->token), o, b, o / b, o - b,
               best(c->ours) / best(c->bare), median(c->decode) / 1e3);
    }
    printf("\nus/op: median of %d rounds, thread CPU time; best o/b: fastest round of each.\n"
           "ours = agw_jws_decode + agw_jws_verify (3-key JWKS, kid match) + "
           "agw_jwt_check_claims, per-request pool cleared each time;\n"
           "bare = EVP_DigestVerifyInit + EVP_DigestVerify on the same bytes with a "
           "pre-imported key (ES256: pre-converted DER).\n", ROUNDS);
    for (i = 0; i < ncases; i++) {
        printf("%s: %lu ours ops, %lu bare ops\n", cases[i].alg, cases[i].ops_ours,
               cases[i].ops_bare);
        EVP_PKEY_free(cases[i].pub);
        EVP_MD_free(cases[i].md);
    }
    bench_dpop(root, req, seconds);
    bench_dpop_verify(root, req, seconds);
    apr_pool_destroy(root);
    apr_terminate();
    return 0;
}
