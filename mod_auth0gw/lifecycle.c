/* A process's life with mod_auth0gw: OpenSSL set up before the children fork (libcurl too under ChrootDir; otherwise a process loads it at its first transfer); what a child makes at start (shared-cache mutexes, client store, key store and caches), the key refresher thread, that thread's prompt stop when the child exits, and the child's end through _exit. */
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <grp.h>
#include <pwd.h>
#endif
#include <apr_errno.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_core.h>
#include <unixd.h>
#include <mod_unixd.h>

#include "mod_auth0gw.h"
#include "messages.h"
#include "agw_http.h"
#include "agw_crypt.h"
#include "agw_fetchd.h"
#include "agw_version.h"
#include <apr_thread_proc.h>
#include <ap_mpm.h>
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

/* ---- the fetcher ------------------------------------------------------------------------
 * One process per host and generation, forked by the parent, makes every HTTP transfer
 * (key sets, client tokens) for the children: they hand it each request's own socket over a
 * channel they inherit. So no child that serves requests loads libcurl, which costs the
 * process that loads it about 2.5 MiB private (its ~30 libraries' relocated data and their
 * set-up): as the claim of a refresh moves from child to child over hours, every child would
 * carry one. The parent starts it again when it ends (the MPM reports its death, as mod_cgid's
 * daemon's). A restart starts a new one, with the new configuration and whatever libcurl is
 * installed then, and retires the old one (SIGUSR2): it stops taking requests, finishes those
 * in flight and ends; the old generation's children make their rare transfers themselves
 * meanwhile. A request it does not take, or any failure to reach it, is made by the child
 * itself, as without it. Not for httpd -X. */
typedef struct {
    int fds[2];                 /* [0] the fetcher's end, [1] the children's; -1 once closed */
    apr_proc_t proc;
    int running;
    int quick_deaths;           /* ended within 10 s of its start (as reaped), in a row */
    apr_time_t started;
    apr_pool_t *pconf;          /* the generation it is registered with */
    server_rec *s;
    apr_proc_t retired;         /* the generation before's, until it has ended */
    int has_retired;
} fetcher_t;

/* per module version: a restart into another build does not read an older layout */
#define FETCHER_KEY "auth0gw-fetcher-" AGW_VERSION

static fetcher_t *fetcher;      /* in the parent (the process pool) and inherited */

static void on_retire(int sig)
{
    agw_fetchd_retire(1);
}

static void fetcher_main(int chan)
{
    struct sigaction sa;
    sigset_t none;

    /* the parent's handlers (restart, graceful stop) are not this process's */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGWINCH, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_retire;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_NAME, "agw-fetcher", 0, 0, 0);
    /* no socket of the parent's stays open but the channel: not the listeners (a fetcher
     * outliving the parent by a moment would hold the port) nor any connection. Files and
     * pipes (logs) stay: it writes nothing to them, and a file may be one the dynamic linker
     * writes to (LD_DEBUG_OUTPUT). */
    agw_fetchd_close_sockets(chan);
    /* under ChrootDir libcurl's files are out of reach after the chroot (the parent has
     * loaded it already; this only makes sure) */
    if (ap_unixd_config.chroot_dir)
        agw_http_load(NULL);
    if (ap_unixd_setup_child() != 0)    /* User, Group, and ChrootDir as the children have */
        _exit(1);
    agw_fetchd_serve(chan);
#ifdef AGW_COVERAGE
    __gcov_dump();
#endif
    _exit(0);
}

static void fetcher_maintenance(int reason, void *data, apr_wait_t status);

static void fetcher_give_up(const char *why, apr_status_t rv)
{
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, fetcher->s, AGW_M_FETCHER
                 ": the fetcher process %s: each child makes its own transfers until the "
                 "next restart", why);
    /* the children's sends now fail, or go unaccepted, and each makes the transfer itself */
    if (fetcher->fds[0] >= 0)
        close(fetcher->fds[0]);
    fetcher->fds[0] = -1;
    fetcher->running = 0;
}

static void fetcher_start(void)
{
    pid_t pid;

    if ((pid = fork()) < 0) {
        fetcher_give_up("could not be started", APR_FROM_OS_ERROR(errno));
        return;
    }
    if (pid == 0) {
        close(fetcher->fds[1]);
        fetcher_main(fetcher->fds[0]);
    }
    fetcher->proc.pid = pid;
    fetcher->running = 1;
    fetcher->started = apr_time_now();
    apr_proc_other_child_register(&fetcher->proc, fetcher_maintenance, fetcher, NULL,
                                  fetcher->pconf);
}

static void fetcher_maintenance(int reason, void *data, apr_wait_t status)
{
    int state = AP_MPMQ_STOPPING;

    if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST)
        return;     /* _RESTART, _UNREGISTER (the generation's pool goes): retired then */
    apr_proc_other_child_unregister(data);
    fetcher->running = 0;
    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS || state == AP_MPMQ_STOPPING
        || fetcher->fds[0] < 0)
        return;
    fetcher->quick_deaths = apr_time_now() - fetcher->started < apr_time_from_sec(10)
                            ? fetcher->quick_deaths + 1 : 0;
    if (fetcher->quick_deaths >= 5) {
        fetcher_give_up("ended within 10 s of its start 5 times in a row", APR_SUCCESS);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, fetcher->s, AGW_M_FETCHER_DIED
                 ": the fetcher process %" APR_PID_T_FMT " ended (%s %d); started again",
                 fetcher->proc.pid, WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    fetcher_start();
}

/* The retired fetcher of the generation before: reaped here, not started again. */
static void retired_maintenance(int reason, void *data, apr_wait_t status)
{
    if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST)
        return;
    apr_proc_other_child_unregister(data);
    fetcher->has_retired = 0;
}

/* In the parent at each generation's post_config (not the first, configuration-only pass). */
static void fetcher_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_pool_t *pproc = s->process->pool;
    void *kept = NULL;
    apr_status_t rv;
    int st;

    if (ap_exists_config_define("ONE_PROCESS"))
        return;
    apr_pool_userdata_get(&kept, FETCHER_KEY, pproc);
    if (!(fetcher = kept)) {
        fetcher = apr_pcalloc(pproc, sizeof(*fetcher));
        fetcher->fds[0] = fetcher->fds[1] = -1;
        apr_pool_userdata_set(fetcher, FETCHER_KEY, apr_pool_cleanup_null, pproc);
    }
    fetcher->pconf = pconf;
    fetcher->s = s;
    /* the generation before's fetcher, if alive, retires (a retired one still alive from a
     * restart before that is left to end alone) */
    if (fetcher->running && waitpid(fetcher->proc.pid, &st, WNOHANG) == 0) {
        kill(fetcher->proc.pid, SIGUSR2);
        fetcher->retired = fetcher->proc;
        fetcher->has_retired = 1;
    }
    else if (fetcher->has_retired && waitpid(fetcher->retired.pid, &st, WNOHANG) != 0)
        fetcher->has_retired = 0;
    if (fetcher->has_retired)
        apr_proc_other_child_register(&fetcher->retired, retired_maintenance, &fetcher->retired,
                                      NULL, pconf);
    fetcher->running = 0;
    /* a new channel: the old generation's children keep theirs, which no one reads any more
     * once the retired fetcher has closed it */
    if (fetcher->fds[0] >= 0)
        close(fetcher->fds[0]);
    if (fetcher->fds[1] >= 0)
        close(fetcher->fds[1]);
    fetcher->fds[0] = fetcher->fds[1] = -1;
    fetcher->quick_deaths = 0;
    if ((rv = agw_fetchd_channel(fetcher->fds)) != APR_SUCCESS) {
        fetcher_give_up("could not be started (no channel)", rv);
        return;
    }
    fetcher_start();
}

/* In a child: its transfers go to the fetcher. */
static void fetcher_child_init(void)
{
    if (!fetcher || fetcher->fds[1] < 0)
        return;
    if (fetcher->fds[0] >= 0)
        close(fetcher->fds[0]);
    fetcher->fds[0] = -1;
    agw_http_use_fetcher(fetcher->fds[1]);
}

void gw_child_init_hook(apr_pool_t *pchild, server_rec *s)
{
    fetcher_child_init();
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

#if defined(__GLIBC__)
/* The group database, looked up once in the parent before the fetcher and the children fork.
 * Each child that starts as root calls initgroups(User) (mod_unixd), and glibc then loads the
 * group database's NSS modules (libnss_systemd on Debian, or sss, ldap, winbind): a dlopen
 * whose relocations search the whole global scope, to which the module adds OpenSSL and
 * jansson. That cost each new prefork child about 2 ms of CPU more than plain Apache's (8.7
 * against 6.6 ms from fork to idle), on the cores a graceful restart's new generation needs.
 * Loaded here, the modules are inherited: the child's initgroups reads the database as before
 * (so group changes still apply) without loading anything. The answer itself is not used. */
static void preload_group_lookup(void)
{
    const char *user = ap_unixd_config.user_name;
    gid_t groups[64];
    int n = 64;

    if (geteuid() != 0 || !user || !*user)
        return;
    if (*user == '#') {
        /* as mod_unixd does for a numeric User: the name of that uid */
        struct passwd *pw = getpwuid(ap_unixd_config.user_id);
        if (!pw || !pw->pw_name)
            return;
        user = pw->pw_name;
    }
    /* more than 64 groups: -1, the modules loaded all the same */
    (void)getgrouplist(user, ap_unixd_config.group_id, groups, &n);
}
#endif

int gw_lifecycle_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    const char *why = NULL;

    /* Under ChrootDir a process cannot open libcurl's files after mod_unixd's chroot: the
     * parent opens it then, before the fetcher and the children fork, and they inherit it (it
     * stays mapped across restarts). */
    if (ap_unixd_config.chroot_dir && agw_http_load(&why) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AGW_M_NO_CURL
                     ": ChrootDir is set and libcurl could not be loaded before it (%s); "
                     "mod_auth0gw could not fetch keys or tokens", why);
        return DONE;
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
#if defined(__GLIBC__)
    if (!ap_exists_config_define("ONE_PROCESS"))
        preload_group_lookup();
#endif
    /* OpenSSL's tables built here, once, for every child to inherit */
    agw_crypt_warm(ptemp);
    fetcher_post_config(pconf, s);
    return OK;
}
