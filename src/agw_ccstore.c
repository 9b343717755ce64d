/* The per-process client-credentials token store: one token per client, fetched once per host (or fleet), renewed early, backed off on failure. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_time.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "agw_ccstore.h"
#include "agw_b64.h"
#include "agw_crypt.h"
#include "agw_sign.h"

/* How often a request waiting for another process's fetch looks for its result. */
#define CLAIM_POLL_MS 100
/* How long a claimant tries for the host-wide lock that makes look-and-store one step. */
#define CLAIM_LOCK_TRIES 100
#define CLAIM_LOCK_POLL_MS 2
/* How long a claimant waits before reading its lock entry back: another host that saw no lock
 * just before ours was stored must have stored its own by then, or both would fetch. Paid once
 * per fetch on a network cache; 20 ms was lost to scheduling on a loaded two-CPU machine. */
#define FLEET_SETTLE_MS 150
#define FLEET_SETTLE_LOOKS 2     /* read-backs of a fleet claim, FLEET_SETTLE_MS apart */
/* How long a thread waits for another thread's fetch of the same client: longer than that
 * fetch can last (claim wait, settle, token request), so that only a hung fetch ends it. */
#define TURN_WAIT_MS 45000
#define TURN_POLL_MS 500

/* This process's view of one client: the token in use and the failure backoff. */
typedef struct cc_state_t {
    apr_thread_mutex_t *mutex;  /* this client's alone: other clients never wait for it */
    apr_thread_cond_t *done;    /* broadcast when this process's fetch ends */
    int fetching;               /* a thread of this process is getting this client's token */
    char *token;                /* malloc'd; replaced on renewal */
    apr_int64_t obtained_at, expires_at, renew_at;
    unsigned int failures;
    apr_int64_t next_try;
    unsigned long fetches, fetch_failures, served, refused;
    char last_error[200];
    int persist_tried;          /* looked in the persistent store once */
} cc_state_t;

struct agw_ccstore_t {
    apr_pool_t *pool;           /* used under mutex only */
    apr_thread_mutex_t *mutex;  /* guards states: held for lookups, never for a fetch */
    apr_hash_t *states;         /* client cache key -> cc_state_t */
    agw_log_fn *log;
    void *baton;
    const agw_shared_t *shared;
    const agw_persist_t *persist;
    const agw_cc_hostlock_t *hostlock;
    int fleet;
    agw_cc_fetch_fn *fetch;
    void *fetch_baton;
    agw_cc_sleep_fn *sleep;
    void *sleep_baton;
};

/* One call of agw_ccstore_token: time moves on by what the call waited. */
typedef struct call_t {
    agw_ccstore_t *store;
    cc_state_t *st;
    const agw_client_t *c;
    apr_pool_t *p;
    void *log_baton;
    apr_int64_t now0, waited_ms;
    const char *fail_key, *lock_key;
} call_t;

static apr_status_t default_fetch(void *baton, agw_cc_token_t *tok, apr_pool_t *p,
                                  const agw_client_t *c, apr_int64_t now, agw_err_t *err)
{
    return agw_client_fetch(tok, p, c, now, err);
}

static void default_sleep(void *baton, apr_int64_t ms)
{
    apr_sleep(apr_time_from_msec(ms));
}

/* When the process ends: the tokens are wiped and freed. */
static apr_status_t store_cleanup(void *data)
{
    agw_ccstore_t *store = data;
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, store->states); hi; hi = apr_hash_next(hi)) {
        cc_state_t *st = apr_hash_this_val(hi);
        if (st->token) {
            memset(st->token, 0, strlen(st->token));
            free(st->token);
            st->token = NULL;
        }
    }
    return APR_SUCCESS;
}

apr_status_t agw_ccstore_create(agw_ccstore_t **pstore, apr_pool_t *p, agw_log_fn *log,
                                void *baton)
{
    agw_ccstore_t *store = apr_pcalloc(p, sizeof(*store));
    apr_status_t rv;

    *pstore = NULL;
    if ((rv = apr_pool_create(&store->pool, p)) != APR_SUCCESS)
        return rv;
    store->log = log;
    store->baton = baton;
    store->states = apr_hash_make(store->pool);
    store->fetch = default_fetch;
    store->sleep = default_sleep;
    rv = apr_thread_mutex_create(&store->mutex, APR_THREAD_MUTEX_DEFAULT, store->pool);
    if (rv != APR_SUCCESS)
        return rv;
    apr_pool_cleanup_register(store->pool, store, store_cleanup, apr_pool_cleanup_null);
    *pstore = store;
    return APR_SUCCESS;
}

void agw_ccstore_share(agw_ccstore_t *store, const agw_shared_t *shared,
                       const agw_cc_hostlock_t *hostlock, int fleet)
{
    store->shared = shared;
    store->hostlock = hostlock;
    store->fleet = fleet;
}

void agw_ccstore_persist(agw_ccstore_t *store, const agw_persist_t *persist)
{
    store->persist = persist;
}

void agw_ccstore_set_fetch(agw_ccstore_t *store, agw_cc_fetch_fn *fetch, void *baton)
{
    store->fetch = fetch ? fetch : default_fetch;
    store->fetch_baton = baton;
}

void agw_ccstore_set_sleep(agw_ccstore_t *store, agw_cc_sleep_fn *sleep, void *baton)
{
    store->sleep = sleep ? sleep : default_sleep;
    store->sleep_baton = baton;
}

static void logf_(call_t *k, agw_log_level_e level, int msgno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void logf_(call_t *k, agw_log_level_e level, int msgno, const char *fmt, ...)
{
    va_list ap;

    if (!k->store->log)
        return;
    va_start(ap, fmt);
    k->store->log(k->log_baton ? k->log_baton : k->store->baton, level, msgno,
                  apr_pvsprintf(k->p, fmt, ap));
    va_end(ap);
}

static apr_int64_t now_of(const call_t *k)
{
    return k->now0 + k->waited_ms / 1000;
}

/* Sleeps with no lock held; the call's clock moves on by as much. */
static void nap(call_t *k, apr_int64_t ms)
{
    k->store->sleep(k->store->sleep_baton, ms);
    k->waited_ms += ms;
}

static cc_state_t *state_find_locked(agw_ccstore_t *store, const agw_client_t *c)
{
    return apr_hash_get(store->states, c->cache_key, APR_HASH_KEY_STRING);
}

static cc_state_t *state_of(agw_ccstore_t *store, const agw_client_t *c)
{
    cc_state_t *st;

    apr_thread_mutex_lock(store->mutex);
    st = state_find_locked(store, c);
    if (!st) {
        st = apr_pcalloc(store->pool, sizeof(*st));
        if (apr_thread_mutex_create(&st->mutex, APR_THREAD_MUTEX_DEFAULT, store->pool)
                != APR_SUCCESS
            || apr_thread_cond_create(&st->done, store->pool) != APR_SUCCESS)
            st = NULL;
        else
            apr_hash_set(store->states, apr_pstrdup(store->pool, c->cache_key),
                         APR_HASH_KEY_STRING, st);
    }
    apr_thread_mutex_unlock(store->mutex);
    return st;
}

/* Installs tok as the process's token (st->mutex held) if it is newer than the one held. */
static void adopt_locked(cc_state_t *st, const agw_client_t *c, const agw_cc_token_t *tok)
{
    char *copy;

    if (st->token && tok->obtained_at <= st->obtained_at && tok->expires_at <= st->expires_at)
        return;
    if (!(copy = strdup(tok->access_token)))
        return;
    if (st->token) {
        memset(st->token, 0, strlen(st->token));
        free(st->token);
    }
    st->token = copy;
    st->obtained_at = tok->obtained_at;
    st->expires_at = tok->expires_at;
    st->renew_at = agw_client_renew_at(c, tok);
}

static int usable(const cc_state_t *st, apr_int64_t now)
{
    return st->token && now + AGW_CC_EXPIRY_MARGIN < st->expires_at;
}

/* A copy of the process's token for this call (st->mutex held); dflt when the token held
 * is not usable now. */
static const char *copy_locked(call_t *k, const char *dflt)
{
    return usable(k->st, now_of(k)) ? apr_pstrdup(k->p, k->st->token) : dflt;
}

/* The same, counted as served; NULL when not usable. */
static const char *serve_locked(call_t *k)
{
    const char *out = copy_locked(k, NULL);

    if (out)
        k->st->served++;
    return out;
}

/* A token of the type the client uses: a DPoP client's token is bound to its key, and a
 * Bearer token must never go out with a proof, nor a bound one without. */
static int fits_client(const agw_cc_token_t *tok, const agw_client_t *c)
{
    return !tok->dpop == !c->dpop_key;
}

/* The token another process or host published, read as hostile (agw_cc_token_decode). */
static int shared_token(agw_cc_token_t *tok, call_t *k)
{
    const agw_shared_t *sh = k->store->shared;
    char *data;
    apr_size_t len;

    return sh && sh->get(sh->baton, k->c->cache_key, &data, &len, k->p) == APR_SUCCESS
           && agw_cc_token_decode(tok, k->p, data, len, now_of(k)) == APR_SUCCESS
           && fits_client(tok, k->c);
}

/* The token kept across restarts, once per process and client while it holds none; read as
 * hostile like a shared record. */
static int persisted_token(agw_cc_token_t *tok, call_t *k)
{
    const agw_persist_t *ps = k->store->persist;
    char *data;
    apr_size_t len;
    int first, ok;

    if (!ps)
        return 0;
    apr_thread_mutex_lock(k->st->mutex);
    first = !k->st->persist_tried && !k->st->token;
    k->st->persist_tried = 1;
    apr_thread_mutex_unlock(k->st->mutex);
    if (!first || ps->load(ps->baton, k->c->cache_key, &data, &len, k->p) != APR_SUCCESS)
        return 0;
    ok = agw_cc_token_decode(tok, k->p, data, len, now_of(k)) == APR_SUCCESS
         && fits_client(tok, k->c) && now_of(k) + AGW_CC_EXPIRY_MARGIN < tok->expires_at;
    memset(data, 0, len);
    if (ok)
        logf_(k, AGW_LOG_INFO, AGW_MSG_CC_RESTORED,
              "token for client %s restored from the state kept across restarts, expires in %"
              APR_INT64_T_FMT " s (fp=%s)", k->c->name, tok->expires_at - now_of(k),
              agw_crypt_fingerprint(k->p, tok->access_token, strlen(tok->access_token)));
    return ok;
}

static void adopt_shared(call_t *k)
{
    agw_cc_token_t tok;

    if (!shared_token(&tok, k) && !persisted_token(&tok, k))
        return;
    apr_thread_mutex_lock(k->st->mutex);
    adopt_locked(k->st, k->c, &tok);
    apr_thread_mutex_unlock(k->st->mutex);
}

/* The shared backoff "<failures> <next_try>", so that the processes and hosts back off
 * together; adopted when it ends later than this process's. A next_try further ahead than
 * the longest backoff (plus clock skew) is forged or broken: it would stop every fetch. */
static void shared_backoff(call_t *k)
{
    const agw_shared_t *sh = k->store->shared;
    char *data, *end;
    apr_size_t len;
    apr_int64_t f, t;

    if (!sh || sh->get(sh->baton, k->fail_key, &data, &len, k->p) != APR_SUCCESS || len > 64)
        return;
    data = apr_pstrmemdup(k->p, data, len);
    f = apr_strtoi64(data, &end, 10);
    if (end == data || *end != ' ' || f < 1 || f > 1000000)
        return;
    data = end + 1;
    t = apr_strtoi64(data, &end, 10);
    if (end == data || *end || t > now_of(k) + agw_client_backoff(~0u) + AGW_CC_CLOCK_SKEW)
        return;
    apr_thread_mutex_lock(k->st->mutex);
    if (t > k->st->next_try) {
        k->st->next_try = t;
        k->st->failures = (unsigned int)f;
    }
    apr_thread_mutex_unlock(k->st->mutex);
}

/* Tries for the host-wide lock, sleeping between tries (never while holding anything). */
static int hostlock_take(call_t *k)
{
    const agw_cc_hostlock_t *hl = k->store->hostlock;
    int tries;

    for (tries = 0; hl && tries < CLAIM_LOCK_TRIES; tries++) {
        if (hl->try_lock(hl->baton) == APR_SUCCESS)
            return 1;
        nap(k, CLAIM_LOCK_POLL_MS);
    }
    return 0;
}

/* Claims this client's fetch among the processes of the host and, with a fleet store, of the
 * fleet: a "lock:" record per client, so that one client's fetch never holds up another
 * client. The host lock makes look-and-store one step on this host; it is held for those two
 * calls only (never across the token request or a sleep) and only tried, so a hung store
 * cannot queue every client behind it. Between hosts the store-then-read dance is not atomic,
 * but a lost race costs one extra token request, never a request without a token. Returns 1
 * when this process may fetch. */
static int claim_fetch(call_t *k)
{
    const agw_shared_t *sh = k->store->shared;
    unsigned char rnd[9];
    const char *me;
    char *data;
    apr_size_t len;
    int locked, held, i;
    apr_status_t stored;

    /* the value is made first, so that nothing slow sits between the look and the store */
    if (!sh || agw_sign_random(rnd, sizeof(rnd)) != APR_SUCCESS)
        return 1;
    me = agw_b64url_encode(k->p, rnd, sizeof(rnd));
    locked = hostlock_take(k);
    held = sh->get(sh->baton, k->lock_key, &data, &len, k->p) == APR_SUCCESS;
    stored = held ? APR_EGENERAL
                  : sh->put(sh->baton, k->lock_key, me, strlen(me),
                            now_of(k) + AGW_CC_CLAIM_TTL, k->p);
    if (locked)
        k->store->hostlock->unlock(k->store->hostlock->baton);
    if (held)
        return 0;
    if (stored != APR_SUCCESS || !k->store->fleet)
        return 1;       /* no shared store, or it is down: fetch for ourselves */
    /* another host that saw no record just before ours was stored has stored its own by now;
     * looked at twice, as a host descheduled between its look and its store (a loaded
     * machine) stores later than one settle time: seen with memcached in CI under load */
    for (i = 0; i < FLEET_SETTLE_LOOKS; i++) {
        nap(k, FLEET_SETTLE_MS);
        if (sh->get(sh->baton, k->lock_key, &data, &len, k->p) != APR_SUCCESS)
            return 1;
        if (len != strlen(me) || memcmp(data, me, len) != 0)
            return 0;
    }
    return 1;
}

static void release_fetch(call_t *k)
{
    const agw_shared_t *sh = k->store->shared;

    if (sh && sh->del)
        sh->del(sh->baton, k->lock_key, k->p);
}

/* Single flight in this process: takes this process's turn to fetch for the client, or
 * returns 0 when another thread has it. */
static int take_turn(cc_state_t *st)
{
    int mine;

    apr_thread_mutex_lock(st->mutex);
    mine = !st->fetching;
    st->fetching = 1;
    apr_thread_mutex_unlock(st->mutex);
    return mine;
}

static void end_turn(cc_state_t *st)
{
    apr_thread_mutex_lock(st->mutex);
    st->fetching = 0;
    apr_thread_cond_broadcast(st->done);
    apr_thread_mutex_unlock(st->mutex);
}

/* Waits (st->mutex held, released meanwhile) for this process's fetch of the client; 0 when
 * this call has waited TURN_WAIT_MS in all. */
static int wait_turn_locked(call_t *k, apr_int64_t *pturn_waited)
{
    apr_time_t t0 = apr_time_now();
    apr_int64_t ms;

    if (*pturn_waited >= TURN_WAIT_MS)
        return 0;
    apr_thread_cond_timedwait(k->st->done, k->st->mutex, apr_time_from_msec(TURN_POLL_MS));
    ms = (apr_int64_t)apr_time_as_msec(apr_time_now() - t0);
    ms = ms < 1 ? 1 : ms;
    *pturn_waited += ms;
    k->waited_ms += ms;
    return 1;
}

static void publish_token(call_t *k, const agw_cc_token_t *tok, apr_pool_t *p, apr_int64_t now)
{
    const agw_shared_t *sh = k->store->shared;
    const agw_persist_t *ps = k->store->persist;
    apr_size_t len;
    char *rec;

    logf_(k, AGW_LOG_INFO, AGW_MSG_CC_OBTAINED,
          "token for client %s obtained from %s, expires in %" APR_INT64_T_FMT " s (fp=%s%s%s)",
          k->c->name, k->c->token_url, tok->expires_at - now,
          agw_crypt_fingerprint(p, tok->access_token, strlen(tok->access_token)),
          tok->dpop ? ", DPoP-bound to jkt=" : "",
          tok->dpop ? agw_dpopsign_jkt(k->c->dpop_key) : "");
    if (!sh && !ps)
        return;
    rec = agw_cc_token_encode(p, tok, &len);
    if (sh)
        sh->put(sh->baton, k->c->cache_key, rec, len, tok->expires_at, p);
    if (ps)
        ps->save(ps->baton, k->c->cache_key, rec, len, p);
    memset(rec, 0, len);
    if (sh && sh->del)
        sh->del(sh->baton, k->fail_key, p);
}

static void publish_failure(call_t *k, const agw_err_t *err, unsigned int failures,
                            apr_int64_t next_try, apr_pool_t *p, apr_int64_t now)
{
    const agw_shared_t *sh = k->store->shared;
    char *rec;

    logf_(k, AGW_LOG_ERR, AGW_MSG_CC_FAILED,
          "token request for client %s to %s failed: %s; next attempt in %" APR_INT64_T_FMT
          " s", k->c->name, k->c->token_url, err->reason ? err->reason : "unknown error",
          next_try - now);
    if (!sh)
        return;
    rec = apr_psprintf(p, "%u %" APR_INT64_T_FMT, failures, next_try);
    sh->put(sh->baton, k->fail_key, rec, strlen(rec), next_try + 1, p);
}

/* Records the outcome of a fetch in the client's state (st->mutex held). */
static void record_locked(cc_state_t *st, const agw_client_t *c, const agw_cc_token_t *tok,
                          apr_status_t rv, const agw_err_t *err, apr_int64_t now)
{
    st->fetches++;
    if (rv == APR_SUCCESS) {
        adopt_locked(st, c, tok);
        st->failures = 0;
        st->next_try = 0;
        st->last_error[0] = '\0';
        return;
    }
    st->fetch_failures++;
    st->failures++;
    st->next_try = now + agw_client_backoff(st->failures);
    apr_cpystrn(st->last_error, err->reason ? err->reason : "unknown error",
                sizeof(st->last_error));
}

/* Fetches a token (this process's turn, and the claim unless it could not be had) and
 * publishes it or the failure; returns APR_SUCCESS with the state updated. */
static apr_status_t fetch_and_publish(call_t *k)
{
    agw_ccstore_t *store = k->store;
    apr_int64_t now = now_of(k), next_try;
    apr_time_t t0;
    agw_cc_token_t tok = { NULL, 0, 0, 0 };
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    unsigned int failures;
    apr_status_t rv;
    apr_pool_t *p;

    if ((rv = apr_pool_create(&p, k->p)) != APR_SUCCESS)
        return rv;
    t0 = apr_time_now();
    rv = store->fetch(store->fetch_baton, &tok, p, k->c, now, &err);
    if (rv == APR_SUCCESS && (!tok.access_token || tok.expires_at - now <= AGW_CC_EXPIRY_MARGIN)) {
        /* never usable by the next request: without the backoff every request would fetch */
        agw_err_set(&err, NULL, apr_psprintf(p, "token lifetime (expires_in %" APR_INT64_T_FMT
                                                ") too short to use", tok.expires_at - now));
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS && !fits_client(&tok, k->c)) {
        agw_err_set(&err, NULL, "token type does not fit the client (DPoP key or not)");
        rv = APR_EGENERAL;
    }
    /* a failure's backoff counts from when it is known: an endpoint answering slower than
     * the backoff (timeouts, an overloaded issuer) would otherwise be asked again at once */
    if (rv != APR_SUCCESS)
        now += apr_time_sec(apr_time_now() - t0);
    apr_thread_mutex_lock(k->st->mutex);
    record_locked(k->st, k->c, &tok, rv, &err, now);
    failures = k->st->failures;
    next_try = k->st->next_try;
    apr_thread_mutex_unlock(k->st->mutex);
    if (rv == APR_SUCCESS)
        publish_token(k, &tok, p, now);
    else
        publish_failure(k, &err, failures, next_try, p, now);
    apr_pool_destroy(p);
    return rv;
}

/* Early renewal while the token is still valid: one caller per host renews, the others go
 * on with the valid token (out) without waiting. */
static const char *renew(call_t *k, const char *out)
{
    agw_cc_token_t tok;

    if (!take_turn(k->st))
        return out;
    if (shared_token(&tok, k) && agw_client_renew_at(k->c, &tok) > now_of(k)) {
        apr_thread_mutex_lock(k->st->mutex);  /* another process renewed it already */
        adopt_locked(k->st, k->c, &tok);
        out = copy_locked(k, out);
        apr_thread_mutex_unlock(k->st->mutex);
    }
    else if (claim_fetch(k)) {
        if (fetch_and_publish(k) == APR_SUCCESS) {
            apr_thread_mutex_lock(k->st->mutex);
            out = copy_locked(k, out);
            apr_thread_mutex_unlock(k->st->mutex);
        }
        release_fetch(k);
    }
    end_turn(k->st);
    return out;
}

/* One attempt of the caller holding this process's turn: 1 when done (*pout set, or
 * *pretry_after), 0 when another process holds the claim and it should look again. */
static int fetch_step(call_t *k, const char **pout, apr_int64_t *pretry_after,
                      apr_int64_t *pdeadline)
{
    cc_state_t *st = k->st;
    apr_int64_t now = now_of(k);
    int claimed;

    shared_backoff(k);
    apr_thread_mutex_lock(st->mutex);
    if (now < st->next_try) {
        *pretry_after = st->next_try - now;
        apr_thread_mutex_unlock(st->mutex);
        return 1;
    }
    apr_thread_mutex_unlock(st->mutex);
    if (*pdeadline < 0)
        *pdeadline = k->waited_ms + (AGW_CC_CLAIM_TTL + 1) * 1000;
    claimed = claim_fetch(k);
    if (!claimed && k->waited_ms < *pdeadline) {
        nap(k, CLAIM_POLL_MS);
        return 0;               /* another process is fetching: look again shortly */
    }
    if (claimed) {
        /* the claim is ours, but the process (or host) that held it before may have
         * published its token and let the claim go between our last look and our claim:
         * that token is taken, not fetched again */
        adopt_shared(k);
        apr_thread_mutex_lock(st->mutex);
        *pout = serve_locked(k);
        apr_thread_mutex_unlock(st->mutex);
        if (*pout) {
            release_fetch(k);
            return 1;
        }
    }
    if (fetch_and_publish(k) == APR_SUCCESS) {
        apr_thread_mutex_lock(st->mutex);
        *pout = serve_locked(k);
        apr_thread_mutex_unlock(st->mutex);
    }
    else {
        apr_thread_mutex_lock(st->mutex);
        *pretry_after = st->next_try > now ? st->next_try - now : 1;
        apr_thread_mutex_unlock(st->mutex);
    }
    if (claimed)
        release_fetch(k);
    return 1;
}

/* No valid token: this call waits for the one fetch of this client on this host (a thread of
 * this process, or another process that holds the claim). Nothing is locked while it waits,
 * and other clients' calls never wait for it. */
static void wait_for_token(const char **pout, apr_int64_t *pretry_after, call_t *k)
{
    cc_state_t *st = k->st;
    apr_int64_t deadline = -1, turn_waited = 0;
    int mine = 0;

    for (;;) {
        adopt_shared(k);
        apr_thread_mutex_lock(st->mutex);
        if ((*pout = serve_locked(k))) {
            apr_thread_mutex_unlock(st->mutex);
            break;
        }
        if (!mine && st->fetching) {
            /* a fetch of this process ends within the token request's timeouts */
            int waited = wait_turn_locked(k, &turn_waited);
            apr_thread_mutex_unlock(st->mutex);
            if (waited)
                continue;
            *pretry_after = 1;
            break;
        }
        st->fetching = mine = 1;
        apr_thread_mutex_unlock(st->mutex);
        if (fetch_step(k, pout, pretry_after, &deadline))
            break;
    }
    if (mine)
        end_turn(st);
}

/* agw_ccstore_token for the call k (its clock at k->now0). */
static apr_status_t token_call(call_t *k, const char **ptoken, apr_int64_t *pretry_after,
                               agw_err_t *err)
{
    const agw_client_t *c = k->c;
    apr_pool_t *p = k->p;
    apr_int64_t now = k->now0;
    const char *out;
    int due;

    *ptoken = NULL;
    *pretry_after = 1;
    if (!c->cache_key || !(k->st = state_of(k->store, c))) {
        agw_err_set(err, NULL, "no state for the client");
        return APR_ENOMEM;
    }
    apr_thread_mutex_lock(k->st->mutex);
    if (now < k->st->renew_at && (*ptoken = serve_locked(k))) {
        apr_thread_mutex_unlock(k->st->mutex);
        return APR_SUCCESS;
    }
    apr_thread_mutex_unlock(k->st->mutex);
    k->fail_key = apr_pstrcat(p, "fail:", c->cache_key, NULL);
    k->lock_key = apr_pstrcat(p, "lock:", c->cache_key, NULL);
    adopt_shared(k);            /* another process (or host) may have renewed it already */
    apr_thread_mutex_lock(k->st->mutex);
    due = now >= k->st->renew_at && now >= k->st->next_try;
    out = serve_locked(k);
    apr_thread_mutex_unlock(k->st->mutex);
    if (out) {
        *ptoken = due ? renew(k, out) : out;
        return APR_SUCCESS;
    }
    wait_for_token(ptoken, pretry_after, k);
    if (*ptoken)
        return APR_SUCCESS;
    apr_thread_mutex_lock(k->st->mutex);
    k->st->refused++;
    agw_err_set(err, NULL, apr_pstrdup(p, k->st->last_error[0] ? k->st->last_error
                                                                : "no token"));
    apr_thread_mutex_unlock(k->st->mutex);
    return APR_EAGAIN;
}

apr_status_t agw_ccstore_token(const char **ptoken, apr_int64_t *pretry_after,
                               agw_ccstore_t *store, const agw_client_t *c, apr_pool_t *p,
                               apr_int64_t now, void *log_baton, agw_err_t *err)
{
    call_t k = { store, NULL, c, p, log_baton, now, 0, NULL, NULL };

    return token_call(&k, ptoken, pretry_after, err);
}

/* The time after the call k, which began at real time t0: its clock moved on by its (possibly
 * fake) sleeps, and by the real time it took when that is more (a token request's own time). */
static apr_int64_t time_after(const call_t *k, apr_time_t t0)
{
    apr_int64_t slept = now_of(k), real = k->now0 + (apr_int64_t)apr_time_sec(apr_time_now())
                                          - (apr_int64_t)apr_time_sec(t0);

    return real > slept ? real : slept;
}

apr_status_t agw_ccstore_credential(agw_credential_t *out, apr_int64_t *pretry_after,
                                    agw_ccstore_t *store, const agw_client_t *c,
                                    const agw_cred_req_t *req, apr_pool_t *p, apr_int64_t now,
                                    void *log_baton, agw_err_t *err)
{
    call_t k = { store, NULL, c, p, log_baton, now, 0, NULL, NULL };
    apr_time_t t0 = apr_time_now();
    const char *token, *proof;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    if ((rv = token_call(&k, &token, pretry_after, err)) != APR_SUCCESS) {
        out->fail = AGW_CRED_NO_TOKEN;
        return rv;
    }
    if (!c->dpop_key) {
        out->authorization = apr_pstrcat(p, "Bearer ", token, NULL);
        return APR_SUCCESS;
    }
    if (!req || !req->target) {
        agw_err_set(err, NULL, "DPoP proof: the backend URL is not known");
        rv = APR_EINVAL;
    }
    else
        rv = agw_dpopsign_proof(&proof, p, c->dpop_key, req->method, req->target, token, NULL,
                                time_after(&k, t0), err);
    if (rv != APR_SUCCESS) {
        if (err && !err->reason)
            agw_err_set(err, NULL, "signing failed");
        out->fail = AGW_CRED_NO_PROOF;
        return rv;
    }
    out->authorization = apr_pstrcat(p, "DPoP ", token, NULL);
    out->dpop = proof;
    return APR_SUCCESS;
}

void agw_ccstore_stats(agw_ccstore_stats_t *out, agw_ccstore_t *store, const agw_client_t *c,
                       apr_pool_t *p, apr_int64_t now)
{
    cc_state_t *st;

    memset(out, 0, sizeof(*out));
    if (!c->cache_key)
        return;
    apr_thread_mutex_lock(store->mutex);
    st = state_find_locked(store, c);
    apr_thread_mutex_unlock(store->mutex);
    if (!st)
        return;
    apr_thread_mutex_lock(st->mutex);
    out->has_token = usable(st, now);
    out->expires_in = st->token ? st->expires_at - now : 0;
    out->fetches = st->fetches;
    out->failures = st->fetch_failures;
    out->served = st->served;
    out->refused = st->refused;
    out->last_error = st->last_error[0] ? apr_pstrdup(p, st->last_error) : NULL;
    apr_thread_mutex_unlock(st->mutex);
}
