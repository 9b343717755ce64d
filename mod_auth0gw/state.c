/* Keys and backend tokens kept across restarts: sealed files, written atomically, in a directory only root and httpd's child user can enter (Auth0StateDir). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_lib.h>
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <unixd.h>

#include "mod_auth0gw.h"
#include "agw_seal.h"

APLOG_USE_MODULE(auth0gw);

#define STATE_KEY_FILE  "key"   /* without Auth0CacheSecret: the random key the files are sealed with */
#define STATE_KEY_BYTES 32
#define STATE_NAME_MAX  96
/* a record holds a JWK Set and its time, or a client token */
#define STATE_MAX_FILE  (AGW_JWKS_MAX_BYTES + 64 + AGW_SEAL_OVERHEAD)

static const char *dir_conf;            /* Auth0StateDir: a path, "" for off, NULL: default */
static const char *dir_where;           /* its file:line */
static const char *state_dir;           /* the directory in use (NULL: nothing is kept) */
static agw_seal_t *state_seal;
static apr_time_t last_write_log;
static agw_persist_t persist_ops;

const char *gw_state_dir_set(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err)
        return err;
    dir_where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                             cmd->directive->line_num);
    if (strcasecmp(arg, "off") == 0) {
        dir_conf = "";
        return NULL;
    }
    dir_conf = ap_server_root_relative(cmd->pool, arg);
    if (!dir_conf || !*dir_conf)
        return apr_psprintf(cmd->pool, "Auth0StateDir: '%s' is not a usable path; give a "
                                       "directory such as /var/cache/apache2/auth0gw, or off",
                            arg);
    return NULL;
}

int gw_state_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    dir_conf = dir_where = state_dir = NULL;
    state_seal = NULL;
    return OK;
}

/* The directory, made if need be: a directory itself (no link), mode 0700, owned by the child
 * user when httpd starts as root, so that the children write there and nobody else reads. */
static const char *prepare_dir(apr_pool_t *p, const char *dir)
{
    struct stat st;
    int fd;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return apr_psprintf(p, "cannot make %s: %s", dir, strerror(errno));
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return apr_psprintf(p, "%s is not a directory (or a link to one): %s", dir,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        close(fd);
        return apr_psprintf(p, "%s is not a directory", dir);
    }
    if (geteuid() == 0 && (st.st_uid != ap_unixd_config.user_id
                           || st.st_gid != ap_unixd_config.group_id)
        && fchown(fd, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
        close(fd);
        return apr_psprintf(p, "cannot give %s to the child user: %s", dir, strerror(errno));
    }
    if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) != 0) {
        close(fd);
        return apr_psprintf(p, "cannot make %s mode 0700: %s", dir, strerror(errno));
    }
    close(fd);
    return NULL;
}

/* A new random key file (mode 0600, owned by whoever starts httpd: root). */
static const char *new_key(unsigned char *key, apr_pool_t *p, const char *path)
{
    int fd;
    ssize_t n;

    if (apr_generate_random_bytes(key, STATE_KEY_BYTES) != APR_SUCCESS)
        return "no random bytes for the state key";
    unlink(path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return apr_psprintf(p, "cannot create %s: %s", path, strerror(errno));
    n = write(fd, key, STATE_KEY_BYTES);
    if (n != STATE_KEY_BYTES || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return apr_psprintf(p, "cannot write %s", path);
    }
    close(fd);
    return NULL;
}

/* The key of the state files without a fleet secret: read by the parent before the children
 * start (they inherit it; as root, the file stays unreadable to them). A key file that is
 * not a regular file of this user with no group or other bits is replaced (its files are then
 * ignored: they no longer open). */
static const char *read_key(unsigned char *key, apr_pool_t *p, server_rec *s, const char *dir)
{
    const char *path = apr_pstrcat(p, dir, "/" STATE_KEY_FILE, NULL);
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = -1;

    if (fd < 0 && errno == ENOENT)
        return new_key(key, p, path);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()
        && (st.st_mode & 077) == 0 && st.st_size == STATE_KEY_BYTES)
        n = read(fd, key, STATE_KEY_BYTES);
    if (fd >= 0)
        close(fd);
    if (n == STATE_KEY_BYTES)
        return NULL;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AGW_M_STATE_DIR ": %s is not a key file of "
                 "this user (mode 0600, %d bytes): replaced; the keys kept before are not used",
                 path, STATE_KEY_BYTES);
    return new_key(key, p, path);
}

int gw_state_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    unsigned char key[STATE_KEY_BYTES];
    const char *dir, *why;
    apr_status_t rv;

    state_dir = NULL;
    state_seal = NULL;
    /* httpd reads its configuration twice at start: the directory is made on the pass that
     * serves; "off" keeps nothing */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || (dir_conf && !*dir_conf))
        return OK;
    dir = dir_conf ? dir_conf : ap_runtime_dir_relative(pconf, "auth0gw");
    if ((why = prepare_dir(ptemp, dir)))
        goto fail;
    rv = gw_cache_fleet_seal(&state_seal, pconf, &err);
    if (rv == APR_NOTFOUND) {
        if ((why = read_key(key, ptemp, s, dir)))
            goto fail;
        rv = agw_seal_create(&state_seal, pconf, key, sizeof(key), &err);
        memset(key, 0, sizeof(key));
    }
    if (rv != APR_SUCCESS) {
        why = err.reason ? err.reason : "cannot make the state key";
        goto fail;
    }
    state_dir = apr_pstrdup(pconf, dir);
    return OK;
fail:
    /* keeping keys is a help in an outage, not a reason not to start */
    state_seal = NULL;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AGW_M_STATE_DIR ": %s%s: keys and tokens are "
                 "not kept across restarts; set Auth0StateDir to a directory root can make, "
                 "or off", dir_where ? apr_psprintf(ptemp, "Auth0StateDir (%s): ", dir_where) : "",
                 why);
    return OK;
}

/* "jwks:Ab_9-" -> DIR/jwks-Ab_9-; NULL for a name that is not of that alphabet. */
static const char *file_of(apr_pool_t *p, const char *name)
{
    char *f;
    apr_size_t i, n = strlen(name);

    if (!n || n > STATE_NAME_MAX)
        return NULL;
    f = apr_pstrdup(p, name);
    for (i = 0; i < n; i++) {
        if (f[i] == ':')
            f[i] = '-';
        else if (!apr_isalnum(f[i]) && f[i] != '-' && f[i] != '_')
            return NULL;
    }
    return apr_pstrcat(p, state_dir, "/", f, NULL);
}

static apr_status_t state_load(void *baton, const char *name, char **pdata, apr_size_t *plen,
                               apr_pool_t *p)
{
    server_rec *s = baton;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *path = file_of(p, name);
    const char *aad = apr_pstrcat(p, "state:", name, NULL);
    unsigned char *buf;
    struct stat st;
    apr_size_t got = 0;
    int fd;

    if (!path)
        return APR_NOTFOUND;
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return APR_NOTFOUND;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX_FILE) {
        close(fd);
        err.reason = "not a regular file of at most the size of a JWK Set";
        goto forged;
    }
    buf = apr_palloc(p, (apr_size_t)st.st_size + 1);
    while (got < (apr_size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (apr_size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (apr_size_t)n;
    }
    close(fd);
    if (agw_unseal(pdata, plen, p, state_seal, aad, buf, got, &err) == APR_SUCCESS)
        return APR_SUCCESS;
forged:
    gw_count(AGW_COUNT_CACHE_REJECTED);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AGW_M_STATE_FORGED ": %s ignored: %s "
                 "(sealed with another key, or tampered with); what it held is fetched anew",
                 path, err.reason ? err.reason : "unreadable");
    return APR_NOTFOUND;
}

static apr_status_t state_save(void *baton, const char *name, const char *data, apr_size_t len,
                               apr_pool_t *p)
{
    server_rec *s = baton;
    const char *path = file_of(p, name);
    const char *aad = apr_pstrcat(p, "state:", name, NULL);
    char *tmp;
    unsigned char *rec;
    apr_size_t reclen;
    apr_file_t *f = NULL;
    apr_status_t rv;

    if (!path)
        return APR_EINVAL;
    if ((rv = agw_seal(&rec, &reclen, p, state_seal, aad, data, len)) != APR_SUCCESS)
        goto leave;
    /* a temporary file of mode 0600 renamed over the old one: readers see one or the other */
    tmp = apr_pstrcat(p, state_dir, "/.tmp-XXXXXX", NULL);
    if ((rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL, p))
        != APR_SUCCESS)
        goto leave;
    /* no fsync: a file cut short by a power loss fails to open and is ignored (AGW0304) */
    if ((rv = apr_file_write_full(f, rec, reclen, NULL)) != APR_SUCCESS) {
        apr_file_close(f);
        apr_file_remove(tmp, p);
        goto leave;
    }
    apr_file_close(f);
    if ((rv = apr_file_rename(tmp, path, p)) != APR_SUCCESS)
        apr_file_remove(tmp, p);
leave:
    if (rv != APR_SUCCESS && apr_time_now() - last_write_log > apr_time_from_sec(60)) {
        last_write_log = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, AGW_M_STATE_WRITE ": cannot write %s: "
                     "it is not kept across a restart", path ? path : name);
    }
    return rv;
}

const agw_persist_t *gw_state_persist(server_rec *s)
{
    if (!state_dir || !state_seal)
        return NULL;
    persist_ops.load = state_load;
    persist_ops.save = state_save;
    persist_ops.baton = s;
    return &persist_ops;
}

const char *gw_state_dir(void)
{
    return state_dir;
}
