/* A process's life with mod_auth0gw: OpenSSL set up before the children fork (libcurl too under ChrootDir; otherwise a process loads it at its first transfer); what a child makes at start (shared-cache mutexes, client store, key store and caches), the key refresher thread, that thread's prompt stop when the child exits, and the child's end through _exit. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <apr_errno.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_core.h>
#include <unixd.h>

#include "mod_auth0gw.h"
#include "messages.h"
#include "agw_http.h"
#include "agw_crypt.h"
#ifdef AGW_COVERAGE
#include <gcov.h>
#endif

APLOG_USE_MODULE(auth0gw);

/* The refresher: ticks once a second. Its mutex and conditions are static and never
 * destroyed, so that a child that ends (graceful restart, MaxConnectionsPerChild) does not
 * wait for an idle refresher: that thread may still wake on them while pchild goes, sees
 * refresher_stopping and returns, touching nothing of pchild; the process's exit ends it
 * otherwise. Only a tick in flight (it uses the key store, in pchild) is waited for, and its
 * transfer is cancelled. A join cost an exiting child one wake-up of that thread: on a
 * loaded host, a wait in the run queue of up to tens of ms per child. */
static pthread_mutex_t refresher_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t refresher_wake;       /* its tick's timer (CLOCK_MONOTONIC) */
static pthread_cond_t refresher_idle = PTHREAD_COND_INITIALIZER;  /* from it: tick over */
static int refresher_started;
static int refresher_stopping;
static int refresher_ticking;
static void (*refresher_tick)(void);

static void *refresh_loop(void *data)
{
    struct timespec until;

    pthread_mutex_lock(&refresher_mutex);
    while (!refresher_stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&refresher_wake, &refresher_mutex, &until);
        if (refresher_stopping)
            break;
        refresher_ticking = 1;
        pthread_mutex_unlock(&refresher_mutex);
        refresher_tick();       /* never under the mutex: a refresh may take seconds */
        pthread_mutex_lock(&refresher_mutex);
        refresher_ticking = 0;
        pthread_cond_broadcast(&refresher_idle);
    }
    pthread_mutex_unlock(&refresher_mutex);
    /* a return, not pthread_exit: that one unwinds the stack with libgcc_s, which the
     * dynamic linker would map into every exiting child */
    return NULL;
}

static apr_status_t stop_refresher(void *data)
{
    if (!refresher_started)
        return APR_SUCCESS;
    pthread_mutex_lock(&refresher_mutex);
    /* not woken: an idle refresher sees the flag at its next tick, or ends with the process
     * (a wake-up would only add a task for the scheduler while 32 children end at once) */
    refresher_stopping = 1;
    if (refresher_ticking) {
        /* the tick's fetch ends at once (cancelled) instead of at its timeout */
        agw_http_cancel_all(1);
        while (refresher_ticking)
            pthread_cond_wait(&refresher_idle, &refresher_mutex);
    }
    pthread_mutex_unlock(&refresher_mutex);
    refresher_started = 0;
    return APR_SUCCESS;
}

/* Starts the detached thread with every signal blocked: signals for the child (graceful stop,
 * SIGTERM) go to the thread that serves. */
static int start_thread(void)
{
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t t;
    sigset_t all, old;
    int rc;

    if ((rc = pthread_condattr_init(&ca)) != 0)
        return rc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&refresher_wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0 || (rc = pthread_attr_init(&ta)) != 0)
        return rc;
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, &ta, refresh_loop, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&ta);
    return rc;
}

void gw_refresher_start(apr_pool_t *pchild, server_rec *s, void (*tick)(void))
{
    int rc;

    refresher_tick = tick;
    refresher_stopping = 0;
    refresher_ticking = 0;
    if ((rc = start_thread()) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, APR_FROM_OS_ERROR(rc), s,
                     AGW_M_NO_REFRESHER ": cannot start the JWKS refresh thread; keys will "
                     "refresh only on unknown kid");
        return;
    }
    refresher_started = 1;
    /* before pchild's cleanups free the key store a tick in flight uses */
    apr_pool_pre_cleanup_register(pchild, NULL, stop_refresher);
}

#if defined(__GLIBC__)
/* The child's last exit handler: by the time exit() runs it, the MPM has destroyed pchild,
 * so every module's cleanup (logs, pipes, interpreters) is done. What exit() would still do
 * is run the exit handlers inherited from the parent and the destructors of every library
 * (libcurl's dependency tree alone is some 30: gnutls frees its ASN.1 trees, krb5, ldap and
 * p11-kit theirs). In a forked child each of those touches pages it never used, and pays a
 * page fault, or a copy-on-write of the parent's heap, for each: 32 prefork children ending
 * at a graceful restart spent about 6.6 ms more CPU each than plain Apache's, on the two
 * cores the new generation needs. The kernel frees the memory anyway; stdio is flushed. */
static void exit_now(int status, void *data)
{
    fflush(NULL);
#ifdef AGW_COVERAGE
    __gcov_dump();
#endif
    _exit(status);
}
#endif

void gw_child_init_hook(apr_pool_t *pchild, server_rec *s)
{
#if defined(__GLIBC__)
    /* a child only (not httpd -X, whose process is also the parent) */
    if (!ap_exists_config_define("ONE_PROCESS"))
        on_exit(exit_now, NULL);
#endif
    gw_metrics_child_init(pchild, s);
    gw_cache_child_init(pchild, s);
    gw_proxy_child_init(pchild, s);
    gw_child_init(pchild, s);
}

int gw_lifecycle_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    /* OpenSSL set up once, here, before the children fork: each child then inherits it
     * instead of setting it up at its start. libcurl is not loaded here: a process opens it
     * at its first transfer (agw_http_load), so that the children that never fetch, most of
     * them, do not carry its library tree. */
    agw_crypt_init_no_atexit();
    return OK;
}

int gw_lifecycle_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    const char *why = NULL;

    /* Under ChrootDir a child cannot open libcurl's files after mod_unixd's chroot: the
     * parent opens it then, and every child inherits it (it stays mapped across restarts). */
    if (!ap_unixd_config.chroot_dir)
        return OK;
    if (agw_http_load(&why) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AGW_M_NO_CURL
                     ": ChrootDir is set and libcurl could not be loaded before it (%s); "
                     "mod_auth0gw could not fetch keys or tokens", why);
        return DONE;
    }
    return OK;
}
