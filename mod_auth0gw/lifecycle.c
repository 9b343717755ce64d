/* A process's life with mod_auth0gw: libcurl kept loaded across restarts and set up before the children fork; what a child makes at start (shared-cache mutexes, client store, key store and caches), the key refresher thread, and that thread's prompt stop when the child exits. */
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "mod_auth0gw.h"
#include "messages.h"
#include "agw_http.h"

APLOG_USE_MODULE(auth0gw);

/* The refresher: ticks once a second and is woken at once to stop, so that a child exits
 * (graceful restart, MaxConnectionsPerChild) without waiting for it. */
static apr_thread_mutex_t *refresher_mutex;
static apr_thread_cond_t *refresher_wake;
static apr_thread_t *refresher;
static int refresher_stopping;
static void (*refresher_tick)(void);

static void *APR_THREAD_FUNC refresh_loop(apr_thread_t *t, void *data)
{
    apr_thread_mutex_lock(refresher_mutex);
    while (!refresher_stopping) {
        apr_thread_cond_timedwait(refresher_wake, refresher_mutex, apr_time_from_sec(1));
        if (refresher_stopping)
            break;
        apr_thread_mutex_unlock(refresher_mutex);
        refresher_tick();       /* never under the mutex: a refresh may take seconds */
        apr_thread_mutex_lock(refresher_mutex);
    }
    apr_thread_mutex_unlock(refresher_mutex);
    /* a return, not apr_thread_exit: pthread_exit unwinds the stack with libgcc_s, which the
     * dynamic linker maps into every exiting child (its thread's pool goes with pchild) */
    return NULL;
}

static apr_status_t stop_refresher(void *data)
{
    apr_status_t trv;

    if (!refresher)
        return APR_SUCCESS;
    apr_thread_mutex_lock(refresher_mutex);
    refresher_stopping = 1;
    apr_thread_cond_signal(refresher_wake);
    apr_thread_mutex_unlock(refresher_mutex);
    apr_thread_join(&trv, refresher);
    refresher = NULL;
    return APR_SUCCESS;
}

void gw_refresher_start(apr_pool_t *pchild, server_rec *s, void (*tick)(void))
{
    apr_status_t rv;

    refresher_tick = tick;
    refresher_stopping = 0;
    if ((rv = apr_thread_mutex_create(&refresher_mutex, APR_THREAD_MUTEX_DEFAULT, pchild))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&refresher_wake, pchild)) != APR_SUCCESS
        || (rv = apr_thread_create(&refresher, NULL, refresh_loop, NULL, pchild))
            != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     AGW_M_NO_REFRESHER ": cannot start the JWKS refresh thread; keys will "
                     "refresh only on unknown kid");
        refresher = NULL;
        return;
    }
    /* before pchild's subpools go: the thread's own pool is one of them */
    apr_pool_pre_cleanup_register(pchild, NULL, stop_refresher);
}

void gw_child_init_hook(apr_pool_t *pchild, server_rec *s)
{
    gw_cache_child_init(pchild, s);
    gw_proxy_child_init(pchild, s);
    gw_child_init(pchild, s);
}

int gw_lifecycle_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    /* the next restart unloads this module but no longer libcurl's tree: the parent forks
     * the new generation as soon as plain Apache would */
    if (agw_http_pin() != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, NULL, AGW_M_NO_PIN
                     ": libcurl could not be kept loaded across restarts; a restart maps it "
                     "again");
    /* libcurl and OpenSSL set up once, here, before the children fork: each child then
     * inherits them instead of setting them up at its start (its own call in child_init is
     * then a no-op, and tries again if this one failed) */
    (void)agw_http_init();
    return OK;
}
