/* Shared state through mod_socache (shmcb by default, redis or memcache for a fleet) and the host-wide renewal lock. */
#include <string.h>
#include <apr_strings.h>
#include <apr_global_mutex.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>

#include "mod_auth0gw.h"
#include "agw_seal.h"
#include "agw_nonce.h"

APLOG_USE_MODULE(auth0gw);

#define CACHE_MUTEX "auth0gw-cache"
#define FETCH_MUTEX "auth0gw-fetch"
/* What a record may hold: a JWK Set and its time; anything else is a few KiB at most. */
#define CACHE_MAX_VALUE (AGW_JWKS_MAX_BYTES + 64 + AGW_SEAL_OVERHEAD)
#define CACHE_SMALL_VALUE (32 * 1024)

static const ap_socache_provider_t *provider;
static ap_socache_instance_t *instance;
static apr_global_mutex_t *cache_mutex;   /* guards providers that are not MP-safe (shmcb) */
static apr_global_mutex_t *fetch_mutex;   /* one token fetch at a time per host */
static const char *provider_name = "shmcb";
static apr_time_t last_outage_log, last_forged_log;
/* Auth0CacheSecret: the fleet key's material (and an older one that still opens records) */
static const char *secret_new, *secret_old;
static apr_size_t secret_new_len, secret_old_len;
static const char *cache_where;           /* file:line of Auth0Cache, for configtest messages */
static agw_seal_t *seal;                  /* seals every record; made in post_config */
static agw_nonce_t *nonces;               /* issues and checks DPoP nonces; made in post_config */

#define NONCE_RETAINED_KEY "auth0gw-dpop-nonce-secret"
/* Kept by httpd across restarts (the module is unloaded and loaded again): the host's random
 * nonce secret, so that a graceful restart does not make every client's nonce stale. */
typedef struct nonce_secret_t {
    unsigned char bytes[AGW_NONCE_MIN_SECRET];
    int made;
} nonce_secret_t;

const char *gw_cache_set(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *sep, *name, *args = NULL;
    agw_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &auth0gw_module);

    if (err)
        return err;
    sep = ap_strchr_c(arg, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, arg, sep - arg) : arg;
    args = sep ? sep + 1 : NULL;
    if (!ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION))
        return apr_psprintf(cmd->pool, "Auth0Cache: no socache provider '%s'; load "
                                       "mod_socache_%s (LoadModule socache_%s_module ...) "
                                       "or use shmcb, redis:HOST:PORT or memcache:HOST:PORT",
                            name, name, name);
    sc->cache_provider = name;
    sc->cache_args = args;
    cache_where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                               cmd->directive->line_num);
    return NULL;
}

const char *gw_cache_secret_set(cmd_parms *cmd, void *dc, const char *cur, const char *old)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int literal;

    if (err)
        return err;
    if ((err = agw_conf_secret(&secret_new, &secret_new_len, &literal, cmd->pool, cur, 0))
        || (old && (err = agw_conf_secret(&secret_old, &secret_old_len, &literal, cmd->pool,
                                          old, 0))))
        return apr_psprintf(cmd->pool, "Auth0CacheSecret: %s", err);
    if (secret_new_len < AGW_SEAL_MIN_SECRET || (old && secret_old_len < AGW_SEAL_MIN_SECRET))
        return apr_psprintf(cmd->pool, "Auth0CacheSecret: the secret has fewer than %d bytes; "
                                       "make one with `openssl rand -hex 32 > FILE` and give "
                                       "every host the same file", AGW_SEAL_MIN_SECRET);
    if (!old)
        secret_old = NULL;
    return NULL;
}

static int needs_secret(const char *name)
{
    /* shmcb lives in this server's own memory; every other provider is a file or a server */
    return name && strcmp(name, "shmcb") != 0;
}

int gw_cache_check(server_rec *s)
{
    agw_srv_conf_t *sc = ap_get_module_config(s->module_config, &auth0gw_module);

    if (!needs_secret(sc->cache_provider) || secret_new)
        return 0;
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                 AGW_M_CONFIG ": %s: Auth0Cache %s needs Auth0CacheSecret file:PATH: records in a "
                 "shared cache are authenticated and encrypted with a fleet key; make one with "
                 "`openssl rand -hex 32 > /etc/apache2/auth0/cache.key` (readable by root only) "
                 "and give every host the same file", cache_where ? cache_where : "?",
                 sc->cache_provider);
    return 1;
}

/* The sealer every record goes through: the fleet key, else a random one for this host. */
static int make_seal(apr_pool_t *pconf, server_rec *s)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_status_t rv;

    if (secret_new) {
        rv = agw_seal_create(&seal, pconf, (const unsigned char *)secret_new, secret_new_len,
                             &err);
        if (rv == APR_SUCCESS && secret_old)
            rv = agw_seal_add_old(seal, (const unsigned char *)secret_old, secret_old_len, &err);
    }
    else {
        rv = agw_seal_create_random(&seal, pconf, &err);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AGW_M_CACHE_KEY ": cannot make the shared-cache "
                     "key: %s", err.reason ? err.reason : "unknown error");
        seal = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

apr_status_t gw_cache_fleet_seal(agw_seal_t **ps, apr_pool_t *p, agw_err_t *err)
{
    apr_status_t rv;

    if (!secret_new)
        return APR_NOTFOUND;
    rv = agw_seal_create(ps, p, (const unsigned char *)secret_new, secret_new_len, err);
    if (rv == APR_SUCCESS && secret_old)
        rv = agw_seal_add_old(*ps, (const unsigned char *)secret_old, secret_old_len, err);
    return rv;
}

/* The host's random nonce secret: made once in the parent, inherited by every child. */
static const unsigned char *host_nonce_secret(void)
{
    nonce_secret_t *kept = ap_retained_data_get(NONCE_RETAINED_KEY);

    if (!kept)
        kept = ap_retained_data_create(NONCE_RETAINED_KEY, sizeof(*kept));
    if (!kept->made && apr_generate_random_bytes(kept->bytes, sizeof(kept->bytes)) == APR_SUCCESS)
        kept->made = 1;
    return kept->made ? kept->bytes : NULL;
}

/* The DPoP nonce keys: from the fleet secret (every host issues and accepts the same nonces;
 * an older secret's nonces stay accepted), else from the host's random secret. */
static int make_nonces(apr_pool_t *pconf, server_rec *s)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const unsigned char *host;
    apr_status_t rv;

    if (secret_new) {
        rv = agw_nonce_create(&nonces, pconf, (const unsigned char *)secret_new, secret_new_len,
                              &err);
        if (rv == APR_SUCCESS && secret_old)
            rv = agw_nonce_add_old(nonces, (const unsigned char *)secret_old, secret_old_len,
                                   &err);
    }
    else if ((host = host_nonce_secret()))
        rv = agw_nonce_create(&nonces, pconf, host, AGW_NONCE_MIN_SECRET, &err);
    else {
        agw_err_set(&err, NULL, "no random bytes for the DPoP nonce key");
        rv = APR_EGENERAL;
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AGW_M_NONCE_KEY ": cannot make the DPoP "
                     "nonce key: %s", err.reason ? err.reason : "unknown error");
        nonces = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

const agw_nonce_t *gw_cache_dpop_nonces(void)
{
    return nonces;
}

int gw_cache_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    apr_status_t rv;

    secret_new = secret_old = NULL;
    secret_new_len = secret_old_len = 0;
    cache_where = NULL;
    seal = NULL;
    nonces = NULL;
    if ((rv = ap_mutex_register(pconf, CACHE_MUTEX, NULL, APR_LOCK_DEFAULT, 0)) != APR_SUCCESS)
        return 500;
    if ((rv = ap_mutex_register(pconf, FETCH_MUTEX, NULL, APR_LOCK_DEFAULT, 0)) != APR_SUCCESS)
        return 500;
    return OK;
}

static apr_status_t destroy_cache(void *data)
{
    if (provider && instance)
        provider->destroy(instance, (server_rec *)data);
    instance = NULL;
    return APR_SUCCESS;
}

int gw_cache_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    agw_srv_conf_t *sc = ap_get_module_config(s->module_config, &auth0gw_module);
    struct ap_socache_hints hints = { 64, 8192, 3600 * APR_USEC_PER_SEC };
    const char *err, *args;
    apr_status_t rv;

    if (make_nonces(pconf, s) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    provider_name = sc->cache_provider ? sc->cache_provider : "shmcb";
    args = sc->cache_args;
    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, provider_name,
                                  AP_SOCACHE_PROVIDER_VERSION);
    if ((rv = ap_global_mutex_create(&fetch_mutex, NULL, FETCH_MUTEX, NULL, s, pconf, 0))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AGW_M_FETCH_MUTEX
                     ": cannot create the global mutex of key and token fetches");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!provider && !sc->cache_provider) {
        /* the gate alone needs no shared cache: each process then keeps its own state */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     AGW_M_NO_SHMCB ": mod_socache_shmcb is not loaded: keys and backend tokens are "
                     "kept per process; `a2enmod socache_shmcb` shares them on this host");
        instance = NULL;
        return OK;
    }
    if (make_seal(pconf, s) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (!provider) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     AGW_M_CACHE_PROVIDER ": Auth0Cache %s: provider not loaded; add `LoadModule "
                     "socache_%s_module modules/mod_socache_%s.so`",
                     provider_name, provider_name, provider_name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((err = provider->create(&instance, args, ptemp, pconf))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AGW_M_CACHE_CREATE ": Auth0Cache %s: %s",
                     provider_name, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, s, destroy_cache, apr_pool_cleanup_null);
    if ((rv = ap_global_mutex_create(&cache_mutex, NULL, CACHE_MUTEX, NULL, s, pconf, 0))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AGW_M_CACHE_MUTEX
                     ": cannot create the global mutex of the shared cache");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((rv = provider->init(instance, "auth0gw", &hints, s, pconf)) != APR_SUCCESS) {
        /* a network cache that is down at start is an outage, not a reason to stay down */
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     AGW_M_CACHE_INIT ": Auth0Cache %s could not be initialised; each process will "
                     "keep its own state until it can", provider_name);
    }
    return OK;
}

void gw_cache_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (cache_mutex)
        apr_global_mutex_child_init(&cache_mutex, apr_global_mutex_lockfile(cache_mutex),
                                    pchild);
    if (fetch_mutex)
        apr_global_mutex_child_init(&fetch_mutex, apr_global_mutex_lockfile(fetch_mutex),
                                    pchild);
}

int gw_cache_is_network(void)
{
    return provider && !(provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE)
           && strcmp(provider_name, "shmcb") != 0;
}

const char *gw_cache_name(void)
{
    return provider_name;
}

static void outage(server_rec *s, apr_status_t rv, const char *what)
{
    apr_time_t now = apr_time_now();

    /* one line per half minute per process is enough to see an outage and its end */
    if (now - last_outage_log > apr_time_from_sec(30)) {
        last_outage_log = now;
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     AGW_M_CACHE_OUTAGE ": shared cache %s failed to %s; continuing with this process's "
                     "own state", provider_name, what);
    }
}

static void lock_cache(void)
{
    if (provider && (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE))
        apr_global_mutex_lock(cache_mutex);
}

static void unlock_cache(void)
{
    if (provider && (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE))
        apr_global_mutex_unlock(cache_mutex);
}

/* A record that fails authentication is someone else's writing: ignored, counted, logged. */
static void forged(server_rec *s, const char *key, const char *why)
{
    apr_time_t now = apr_time_now();

    gw_count(AGW_COUNT_CACHE_REJECTED);
    if (now - last_forged_log > apr_time_from_sec(30)) {
        last_forged_log = now;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     AGW_M_CACHE_FORGED ": shared cache %s: record %.80s ignored: %s (written by a host "
                     "without this Auth0CacheSecret, or tampered with); using the network "
                     "instead", provider_name, key, why);
    }
}

apr_status_t gw_cache_get_max(char **pdata, apr_size_t *plen, const char *key,
                               apr_size_t max, apr_pool_t *p, server_rec *s)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    unsigned int len;
    unsigned char *buf;
    apr_status_t rv;

    if (!instance || !seal)
        return APR_NOTFOUND;
    len = (unsigned int)(max + AGW_SEAL_OVERHEAD);
    buf = apr_palloc(p, len);
    lock_cache();
    rv = provider->retrieve(instance, s, (const unsigned char *)key, strlen(key), buf, &len, p);
    unlock_cache();
    if (rv == APR_NOTFOUND)
        return rv;
    if (rv != APR_SUCCESS) {
        outage(s, rv, "read");
        return rv;
    }
    if (agw_unseal(pdata, plen, p, seal, key, buf, len, &err) != APR_SUCCESS) {
        forged(s, key, err.reason);
        return APR_NOTFOUND;
    }
    return APR_SUCCESS;
}

apr_status_t gw_cache_get(char **pdata, apr_size_t *plen, const char *key, apr_pool_t *p,
                           server_rec *s)
{
    return gw_cache_get_max(pdata, plen, key, CACHE_SMALL_VALUE, p, s);
}

apr_status_t gw_cache_put(const char *key, const char *data, apr_size_t len,
                           apr_int64_t expires_at, apr_pool_t *p, server_rec *s)
{
    unsigned char *rec;
    apr_size_t reclen;
    apr_status_t rv;

    if (!instance || !seal || len + AGW_SEAL_OVERHEAD > CACHE_MAX_VALUE)
        return APR_EINVAL;
    if ((rv = agw_seal(&rec, &reclen, p, seal, key, data, len)) != APR_SUCCESS)
        return rv;
    lock_cache();
    rv = provider->store(instance, s, (const unsigned char *)key, strlen(key),
                         apr_time_from_sec(expires_at), rec, (unsigned int)reclen, p);
    unlock_cache();
    if (rv != APR_SUCCESS && gw_cache_is_network())
        outage(s, rv, "store");
    else if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, s, AGW_M_CACHE_NOT_STORED ": %s did not take an entry of %"
                     APR_SIZE_T_FMT " bytes (too large for its size?)", provider_name, len);
    return rv;
}

apr_status_t gw_cache_del(const char *key, apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!instance)
        return APR_NOTFOUND;
    lock_cache();
    rv = provider->remove(instance, s, (const unsigned char *)key, strlen(key), p);
    unlock_cache();
    return rv;
}

apr_status_t gw_cache_add(const char *key, apr_int64_t expires_at, apr_pool_t *p,
                           server_rec *s)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    unsigned int len = 64 + AGW_SEAL_OVERHEAD;
    unsigned char *rec, *buf = apr_palloc(p, len);
    apr_size_t reclen, dlen;
    char *data;
    apr_status_t rv;

    if (!instance || !seal)
        return APR_ENOTIMPL;
    if ((rv = agw_seal(&rec, &reclen, p, seal, key, "1", 1)) != APR_SUCCESS)
        return rv;
    /* one hold of the lock across look-up and store: for shmcb, the add is atomic on the
     * host; a network store takes no lock here (never held across a network call) */
    lock_cache();
    rv = provider->retrieve(instance, s, (const unsigned char *)key, strlen(key), buf, &len, p);
    if (rv == APR_SUCCESS && agw_unseal(&data, &dlen, p, seal, key, buf, len, &err)
                             == APR_SUCCESS)
        rv = APR_EEXIST;
    else if (rv == APR_SUCCESS || rv == APR_NOTFOUND)
        rv = provider->store(instance, s, (const unsigned char *)key, strlen(key),
                             apr_time_from_sec(expires_at), rec, (unsigned int)reclen, p);
    unlock_cache();
    if (rv != APR_SUCCESS && rv != APR_EEXIST)
        outage(s, rv, "remember a DPoP proof");
    return rv;
}

apr_status_t gw_fetch_lock(int wait)
{
    if (!fetch_mutex)
        return APR_SUCCESS;
    return wait ? apr_global_mutex_lock(fetch_mutex) : apr_global_mutex_trylock(fetch_mutex);
}

void gw_fetch_unlock(void)
{
    if (fetch_mutex)
        apr_global_mutex_unlock(fetch_mutex);
}
