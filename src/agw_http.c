/* A small HTTP client over libcurl for the key and token endpoints: TLS verified, timeouts, size cap. */
#include <dlfcn.h>
#include <pthread.h>
#ifdef __GLIBC__
#include <gnu/lib-names.h>
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_base64.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <curl/curl.h>
#include "agw_http.h"
#include "agw_fetchd.h"
#include "agw_util.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85 or later is needed (CURLOPT_PROTOCOLS_STR, CURLINFO_CAINFO)"
#endif

#define AGW_HTTP_CONNECT_MS  3000
#define AGW_HTTP_TIMEOUT_MS  10000
#define AGW_HTTP_MAX_BODY    (1024 * 1024)
#define AGW_HTTP_MAX_BODY_LIMIT ((apr_size_t)256 * 1024 * 1024)
#define AGW_CA_FILE_MAX      (8 * 1024 * 1024)  /* the Debian bundle is ~200 KiB */
#define AGW_SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define AGW_USER_AGENT       "mod_auth0gw"
/* The oldest libcurl the module runs on: CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR
 * (7.85.0) hold transfers to https. The header check above is at build time; the library a
 * process opens may be another one, so it is checked again when it is opened. */
#define AGW_LIBCURL_MIN      0x075500
#define AGW_LIBCURL_MIN_TEXT "7.85.0"

#ifndef AGW_LIBCURL_SONAME
#define AGW_LIBCURL_SONAME "libcurl.so.4"   /* libcurl's soname since 7.16 (2006) */
#endif

/* libcurl's entry points. The module does not link libcurl: a process opens it, RTLD_LOCAL,
 * at its first transfer. On Debian libcurl brings about 30 libraries (gnutls, LDAP, Kerberos,
 * SSH, IDN ...). Loaded in the parent, as linking did, every child of every generation
 * inherited them: each new prefork child faulted in a page of each (the dynamic linker reads
 * their names when initgroups opens the NSS modules in the child) and ran their fork
 * handlers, and the parent's fork copied their mappings; most children never fetch anything,
 * as one process per host fetches the keys. RTLD_LOCAL keeps them out of httpd's global
 * symbol scope; RTLD_NODELETE keeps them mapped in that process until it ends. */
static struct {
    curl_version_info_data *(*version_info)(CURLversion age);
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    CURLHcode (*easy_header)(CURL *curl, const char *name, size_t index, unsigned int origin,
                             int request, struct curl_header **hout);
    void (*easy_cleanup)(CURL *curl);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *data);
    void (*slist_free_all)(struct curl_slist *list);
} cu;

static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static int cu_loaded;
static char cu_error[256];

static void load_libcurl(void)
{
    void *h = dlopen(AGW_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    const curl_version_info_data *v;
    const char *e;

    if (!h) {
        e = dlerror();
        snprintf(cu_error, sizeof(cu_error), "%s", e ? e : "cannot open " AGW_LIBCURL_SONAME);
        return;
    }
    /* POSIX: a function pointer converts from dlsym's void * (the union keeps -Wpedantic quiet) */
#define CU_SYM(field, name)                                                        \
    do {                                                                           \
        union { void *obj; __typeof__(cu.field) fn; } u_;                          \
        if ((u_.obj = dlsym(h, name)) == NULL) {                                   \
            snprintf(cu_error, sizeof(cu_error), "%s: no symbol %s",               \
                     AGW_LIBCURL_SONAME, name);                                    \
            return;                                                                \
        }                                                                          \
        cu.field = u_.fn;                                                          \
    } while (0)
    CU_SYM(version_info, "curl_version_info");
    /* every age of the structure starts with version and version_num */
    v = cu.version_info(CURLVERSION_NOW);
    if (!v || v->version_num < AGW_LIBCURL_MIN) {
        snprintf(cu_error, sizeof(cu_error), "%s is libcurl %.32s: %s or later is needed",
                 AGW_LIBCURL_SONAME, v && v->version ? v->version : "(unknown)",
                 AGW_LIBCURL_MIN_TEXT);
        return;
    }
    CU_SYM(global_init, "curl_global_init");
    CU_SYM(easy_init, "curl_easy_init");
    CU_SYM(easy_setopt, "curl_easy_setopt");
    CU_SYM(easy_perform, "curl_easy_perform");
    CU_SYM(easy_getinfo, "curl_easy_getinfo");
    CU_SYM(easy_header, "curl_easy_header");
    CU_SYM(easy_cleanup, "curl_easy_cleanup");
    CU_SYM(slist_append, "curl_slist_append");
    CU_SYM(slist_free_all, "curl_slist_free_all");
#undef CU_SYM
    /* thread-safe in libcurl 7.84 and later, but done once per process anyway */
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(cu_error, sizeof(cu_error), "curl_global_init failed");
        return;
    }
    cu_loaded = 1;
}

static volatile apr_uint32_t http_cancelled;    /* agw_http_cancel_all: no transfer goes on */

apr_status_t agw_http_load(const char **why)
{
    pthread_once(&cu_once, load_libcurl);
    if (why)
        *why = cu_loaded ? NULL : cu_error;
    return cu_loaded ? APR_SUCCESS : APR_EGENERAL;
}

void agw_http_cancel_all(int cancel)
{
    apr_atomic_set32(&http_cancelled, cancel ? 1 : 0);
}

int agw_http_cancelled(void)
{
    return apr_atomic_read32(&http_cancelled) != 0;
}

/* libcurl calls it at least once a second during a transfer, connect and TLS included. */
static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    return apr_atomic_read32(&http_cancelled) != 0;
}

/* Clears memory that held a secret; volatile so the compiler keeps the stores. */
static void wipe(void *buf, apr_size_t len)
{
    volatile unsigned char *v = buf;

    while (len--)
        *v++ = 0;
}

typedef struct {
    char *data;                 /* malloc'ed: a pool cannot give back the steps of growth */
    apr_size_t len, cap, max;
    int too_large;
} body_buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buf_t *b = userdata;
    size_t n = size * nmemb;
    apr_size_t ncap;
    char *nd;

    if (n > b->max - b->len) {
        b->too_large = 1;
        return 0;               /* a short count makes curl abort with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        ncap = b->cap ? b->cap : 16384;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        if (ncap > b->max + 1)
            ncap = b->max + 1;
        if ((nd = realloc(b->data, ncap)) == NULL)
            return 0;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}


/* CURLOPT_CAINFO would replace the system CAs; the administrator wants to add one. So the
 * handle gets a PEM blob of libcurl's default bundle followed by the extra file. The system
 * bundle missing is tolerated (then only the extra CAs, plus any default CA path, apply). */
static apr_status_t set_ca_bundle(CURL *curl, apr_pool_t *p, const char *ca_file, agw_err_t *err)
{
    struct curl_blob blob;
    char *sys = NULL, *extra = NULL, *all;
    const char *sys_path = NULL;
    apr_size_t sys_len = 0, extra_len = 0;
    CURLcode rc;

    if (agw_file_read(&extra, &extra_len, NULL, p, ca_file, AGW_CA_FILE_MAX) != APR_SUCCESS
        || extra_len == 0) {
        agw_err_set(err, NULL, "cannot read CA file");
        return APR_EGENERAL;
    }
    if (cu.easy_getinfo(curl, CURLINFO_CAINFO, &sys_path) != CURLE_OK || !sys_path)
        sys_path = AGW_SYSTEM_CA_BUNDLE;
    if (agw_file_read(&sys, &sys_len, NULL, p, sys_path, AGW_CA_FILE_MAX) != APR_SUCCESS)
        sys_len = 0;
    all = malloc(sys_len + 1 + extra_len);
    if (!all) {
        agw_err_set(err, NULL, "out of memory");
        return APR_ENOMEM;
    }
    if (sys_len)
        memcpy(all, sys, sys_len);
    all[sys_len] = '\n';        /* a bundle without a final newline must not glue PEM lines */
    memcpy(all + sys_len + 1, extra, extra_len);
    blob.data = all;
    blob.len = sys_len + 1 + extra_len;
    blob.flags = CURL_BLOB_COPY;
    rc = cu.easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    free(all);
    if (rc != CURLE_OK) {
        agw_err_set(err, NULL, "CA bundle not supported by libcurl");
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* Env proxies are honoured (enterprise egress), but never for loopback. Setting
 * CURLOPT_NOPROXY replaces curl's reading of NO_PROXY, so that list is carried over. */
static const char *noproxy_list(apr_pool_t *p)
{
    const char *env = getenv("no_proxy");

    if (!env || !*env)
        env = getenv("NO_PROXY");
    if (env && strcmp(env, "*") == 0)
        return "*";
    if (env && *env)
        return apr_pstrcat(p, env, ",localhost,127.0.0.1,::1", NULL);
    return "localhost,127.0.0.1,::1";
}

static const char *curl_reason(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:      return "timeout";
    case CURLE_ABORTED_BY_CALLBACK:     return "cancelled: the process is ending";
    case CURLE_COULDNT_RESOLVE_HOST:    return "DNS lookup failed";
    case CURLE_COULDNT_RESOLVE_PROXY:   return "proxy DNS lookup failed";
    case CURLE_COULDNT_CONNECT:         return "connect failed";
    case CURLE_PEER_FAILED_VERIFICATION: return "TLS certificate verification failed";
    case CURLE_SSL_CONNECT_ERROR:       return "TLS handshake failed";
    case CURLE_SSL_CACERT_BADFILE:      return "CA bundle unusable";
    case CURLE_UNSUPPORTED_PROTOCOL:    return "URL scheme not allowed";
    case CURLE_URL_MALFORMAT:           return "malformed URL";
    case CURLE_FILESIZE_EXCEEDED:       return "response too large";
    case CURLE_TOO_MANY_REDIRECTS:      return "too many redirects";
    case CURLE_GOT_NOTHING:             return "empty reply";
    case CURLE_RECV_ERROR:              return "receive failed";
    case CURLE_SEND_ERROR:              return "send failed";
    case CURLE_WEIRD_SERVER_REPLY:      return "malformed HTTP response";
    case CURLE_OUT_OF_MEMORY:           return "out of memory";
    default:                            return "HTTP transfer failed";
    }
}

static int scheme_is(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);

    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

/* The last value of a response header of the final response, bounded, or NULL. */
static const char *response_header(apr_pool_t *p, CURL *curl, const char *name)
{
    struct curl_header *h = NULL;

    if (cu.easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h || !h->value
        || strlen(h->value) > 1024)
        return NULL;
    return apr_pstrdup(p, h->value);
}

/* The first option libcurl refused: was, else name when rc says this one was refused. */
static const char *first_refused(const char *was, CURLcode rc, const char *name)
{
    return was ? was : rc != CURLE_OK ? name : NULL;
}

/* The options of every transfer: protocols, TLS verification, no redirects, timeouts, the
 * body limit and sink, our user agent, no proxy for loopback. NULL when libcurl took them
 * all, else the name of the first it refused: the transfer is then not made, as one of them
 * missing (a build without a protocol, a libcurl that lies about its version) could let it
 * go where the module promises it never goes. */
static const char *set_transfer_options(CURL *curl, apr_pool_t *p, const char *url,
                                        const agw_http_opts_t *opts, body_buf_t *body)
{
    const char *refused = NULL;
    /* every option is set; the first refused is the answer */
#define SET_OPT(opt, val) refused = first_refused(refused, cu.easy_setopt(curl, opt, val), #opt)
    CURLcode rc;

    SET_OPT(CURLOPT_URL, url);
    /* Enforced by libcurl too: neither a redirect nor a typo reaches another protocol. The
     * caller checked that the URL is https, or http where allowed: only that scheme. */
    SET_OPT(CURLOPT_PROTOCOLS_STR, scheme_is(url, "https") ? "https" : "http");
    SET_OPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET_OPT(CURLOPT_FOLLOWLOCATION, 0L);
    SET_OPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SET_OPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SET_OPT(CURLOPT_NOSIGNAL, 1L);
    SET_OPT(CURLOPT_CONNECTTIMEOUT_MS,
            opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : AGW_HTTP_CONNECT_MS);
    SET_OPT(CURLOPT_TIMEOUT_MS, opts->timeout_ms > 0 ? opts->timeout_ms : AGW_HTTP_TIMEOUT_MS);
    /* Fails early when Content-Length already says too much; on_body catches the rest. */
    SET_OPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)body->max);
    SET_OPT(CURLOPT_WRITEFUNCTION, on_body);
    SET_OPT(CURLOPT_WRITEDATA, body);
    SET_OPT(CURLOPT_USERAGENT, AGW_USER_AGENT);
    /* a libcurl built without proxy support has no such option, and no proxy to bypass */
    rc = cu.easy_setopt(curl, CURLOPT_NOPROXY, noproxy_list(p));
    refused = first_refused(refused, rc == CURLE_UNKNOWN_OPTION || rc == CURLE_NOT_BUILT_IN
                                     ? CURLE_OK : rc, "CURLOPT_NOPROXY");
    SET_OPT(CURLOPT_NOPROGRESS, 0L);
    SET_OPT(CURLOPT_XFERINFOFUNCTION, on_progress);
#undef SET_OPT
    return refused;
}

/* Frees request header lines, wiping them first: one may be an Authorization line. */
static void release_headers(struct curl_slist *headers)
{
    struct curl_slist *h;

    for (h = headers; h; h = h->next)
        wipe(h->data, strlen(h->data));
    cu.slist_free_all(headers);
}

/* Accept, and for a POST the form's type (no Expect: token endpoints never send 100
 * Continue) and body, set on the handle. NULL with *refused NULL when out of memory, NULL
 * with *refused the option's name when libcurl refused one. */
static struct curl_slist *request_headers(CURL *curl, const char *post, apr_size_t post_len,
                                          const char *auth_header, const char *extra_header,
                                          const char **refused)
{
    struct curl_slist *headers = cu.slist_append(NULL, "Accept: application/json");

    *refused = NULL;
    if (post) {
        headers = cu.slist_append(headers, "Expect:");
        headers = cu.slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
        if (cu.easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK)
            *refused = "CURLOPT_POST";
        else if (cu.easy_setopt(curl, CURLOPT_POSTFIELDS, post) != CURLE_OK)
            *refused = "CURLOPT_POSTFIELDS";
        else if (cu.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len)
                 != CURLE_OK)
            *refused = "CURLOPT_POSTFIELDSIZE_LARGE";
    }
    if (auth_header && headers)
        headers = cu.slist_append(headers, auth_header);
    if (extra_header && headers)
        headers = cu.slist_append(headers, extra_header);
    if (headers && !*refused && cu.easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
        *refused = "CURLOPT_HTTPHEADER";
    if (*refused && headers) {
        release_headers(headers);
        headers = NULL;
    }
    return headers;
}

/* Frees a transfer, wiping what held credentials: the Authorization line (curl's copy) and
 * the response body (token responses carry access tokens; the caller has its own copy). */
static void release_transfer(CURL *curl, struct curl_slist *headers, body_buf_t *body)
{
    release_headers(headers);
    cu.easy_cleanup(curl);
    if (body->data) {
        wipe(body->data, body->len);
        free(body->data);
    }
}

/* A transfer makes and frees about 1.5 MiB (OpenSSL parses the whole CA bundle into objects
 * for each handle). glibc keeps the freed pages in the arena of the thread that fetched,
 * written and so private to the process for good: a prefork child would carry them from its
 * first key refresh or token fetch on. malloc_trim hands the whole free pages of every arena
 * back (only free memory; no malloc setting changes), once per transfer, which is rare.
 *
 * Only while glibc's malloc is the process's malloc. With another one in front of it
 * (ASan's, or a preloaded jemalloc or tcmalloc) glibc's arenas hold nothing of ours, and
 * they are still uninitialized: malloc_trim's first call initializes them and marks the
 * calling thread as a user of the main arena without counting it. Two threads of the
 * fetcher making that first call together are two uncounted users; the second to exit
 * aborted the process in glibc ("a->attached_threads > 0"). */
static pthread_once_t trim_once = PTHREAD_ONCE_INIT;
static int trim_glibc;

static void decide_trim(void)
{
#ifdef __GLIBC__
    void *libc = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
    void *(*own_malloc)(size_t) = NULL;

    if (!libc)
        return;
    /* POSIX's way from dlsym's void * to a function pointer */
    *(void **)&own_malloc = dlsym(libc, "malloc");
    trim_glibc = own_malloc != NULL && own_malloc == malloc;
    dlclose(libc);
#endif
}

int agw_http_give_back_freed(void)
{
    pthread_once(&trim_once, decide_trim);
    if (!trim_glibc)
        return 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    return 1;
}

apr_status_t agw_http_perform_local(agw_http_resp_t **presp, apr_pool_t *p,
                                    const agw_fetchd_req_t *req, agw_err_t *err)
{
    const char *url = req->url, *post = req->post, *auth_header = req->auth_header;
    const char *extra_header = req->extra_header;
    apr_size_t post_len = req->post_len;
    const agw_http_opts_t *opts = &req->opts;
    body_buf_t body = { 0 };
    struct curl_slist *headers = NULL;
    agw_http_resp_t *resp;
    const char *ctype = NULL, *why = NULL, *refused;
    CURL *curl = NULL;
    CURLcode rc;
    apr_status_t rv = APR_EGENERAL;

    *presp = NULL;
    if (!url || !(scheme_is(url, "https") || (opts->allow_http && scheme_is(url, "http")))) {
        agw_err_set(err, NULL, url && scheme_is(url, "http") ? "http URL not allowed"
                                                             : "URL scheme not allowed");
        return APR_EINVAL;
    }
    if (agw_http_load(&why) != APR_SUCCESS) {
        agw_err_set(err, NULL, why);    /* the dynamic linker's reason (static storage) */
        return APR_EGENERAL;
    }
    body.max = agw_http_body_max(opts);

    if ((curl = cu.easy_init()) == NULL) {
        agw_err_set(err, NULL, "out of memory");
        return APR_ENOMEM;
    }
    if ((refused = set_transfer_options(curl, p, url, opts, &body)) != NULL) {
        agw_err_set(err, NULL, apr_pstrcat(p, "libcurl refused ", refused, NULL));
        goto leave;
    }
    if (opts->ca_file && *opts->ca_file
        && (rv = set_ca_bundle(curl, p, opts->ca_file, err)) != APR_SUCCESS)
        goto leave;
    rv = APR_EGENERAL;

    if (!(headers = request_headers(curl, post, post_len, auth_header, extra_header,
                                    &refused))) {
        agw_err_set(err, NULL, refused ? apr_pstrcat(p, "libcurl refused ", refused, NULL)
                                       : "out of memory");
        rv = refused ? APR_EGENERAL : APR_ENOMEM;
        goto leave;
    }

    rc = cu.easy_perform(curl);
    if (rc != CURLE_OK) {
        agw_err_set(err, NULL, body.too_large ? "response too large" : curl_reason(rc));
        goto leave;
    }
    resp = apr_pcalloc(p, sizeof(*resp));
    cu.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cu.easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK && ctype)
        resp->content_type = apr_pstrdup(p, ctype);
    resp->dpop_nonce = response_header(p, curl, "DPoP-Nonce");
    resp->len = body.len;
    resp->body = apr_pstrmemdup(p, body.data ? body.data : "", body.len);
    *presp = resp;
    rv = APR_SUCCESS;

leave:
    release_transfer(curl, headers, &body);
    agw_http_give_back_freed();
    return rv;
}

apr_size_t agw_http_body_max(const agw_http_opts_t *opts)
{
    apr_size_t m = opts->max_body ? opts->max_body : AGW_HTTP_MAX_BODY;

    /* the limit keeps max + 1 and the buffer's doubling from overflowing */
    return m > AGW_HTTP_MAX_BODY_LIMIT ? AGW_HTTP_MAX_BODY_LIMIT : m;
}

long agw_http_transfer_ms(const agw_http_opts_t *opts)
{
    return (opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : AGW_HTTP_CONNECT_MS)
           + (opts->timeout_ms > 0 ? opts->timeout_ms : AGW_HTTP_TIMEOUT_MS);
}

static int fetcher_chan = -1;

void agw_http_use_fetcher(int chan)
{
    fetcher_chan = chan;
}

/* To the fetcher when this process has one (the children of httpd), else here. */
static apr_status_t perform(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                            const char *post, apr_size_t post_len, const char *auth_header,
                            const char *extra_header, const agw_http_opts_t *opts,
                            agw_err_t *err)
{
    agw_fetchd_req_t req;
    apr_status_t rv;
    int unanswered = 1;

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.post = post;
    req.post_len = post_len;
    req.auth_header = auth_header;
    req.extra_header = extra_header;
    if (opts)
        req.opts = *opts;
    *presp = NULL;
    /* the scheme is refused here, before anything is sent */
    if (fetcher_chan >= 0 && url
        && (scheme_is(url, "https") || (req.opts.allow_http && scheme_is(url, "http")))) {
        rv = agw_fetchd_call(fetcher_chan, presp, p, &req, err, &unanswered);
        if (!unanswered)
            return rv;
    }
    return agw_http_perform_local(presp, p, &req, err);
}

apr_status_t agw_http_get(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                          const agw_http_opts_t *opts, agw_err_t *err)
{
    return perform(presp, p, url, NULL, 0, NULL, NULL, opts, err);
}

/* application/x-www-form-urlencoded (RFC 6749 appendix B): unreserved bytes as they are,
 * space as '+', every other byte %XX. */
static char *form_encode(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
            *o++ = (char)c;
        else if (c == ' ')
            *o++ = '+';
        else {
            *o++ = '%';
            o = agw_hex_put(o, &c, 1, 1);
        }
    }
    *o = '\0';
    return out;
}

apr_status_t agw_http_post_form(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                                const apr_table_t *form, const char *basic_user,
                                const char *basic_pass, const agw_http_opts_t *opts,
                                agw_err_t *err)
{
    return agw_http_post_form_hdr(presp, p, url, form, basic_user, basic_pass, NULL, opts, err);
}

apr_status_t agw_http_post_form_hdr(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                                    const apr_table_t *form, const char *basic_user,
                                    const char *basic_pass, const char *extra_header,
                                    const agw_http_opts_t *opts, agw_err_t *err)
{
    static const char basic[] = "Authorization: Basic ";
    const apr_array_header_t *elts = form ? apr_table_elts(form) : NULL;
    const apr_table_entry_t *e;
    char **enc = NULL, *body, *o, *cred = NULL, *auth = NULL;
    apr_size_t body_len = 0;
    apr_status_t rv;
    int i, n = 0, len;

    /* Encoded once into one buffer, so no partial copy of a secret lingers in the pool. */
    if (elts && elts->nelts > 0) {
        enc = apr_pcalloc(p, sizeof(*enc) * 2 * (apr_size_t)elts->nelts);
        for (i = 0; i < elts->nelts; i++) {
            e = &APR_ARRAY_IDX(elts, i, apr_table_entry_t);
            if (!e->key)
                continue;
            enc[2 * n] = form_encode(p, e->key);
            enc[2 * n + 1] = form_encode(p, e->val ? e->val : "");
            body_len += (n ? 1 : 0) + strlen(enc[2 * n]) + 1 + strlen(enc[2 * n + 1]);
            n++;
        }
    }
    o = body = apr_palloc(p, body_len + 1);
    for (i = 0; i < n; i++) {
        o += sprintf(o, "%s%s=%s", i ? "&" : "", enc[2 * i], enc[2 * i + 1]);
        wipe(enc[2 * i + 1], strlen(enc[2 * i + 1]));
    }
    *o = '\0';
    if (basic_user) {
        /* RFC 6749 2.3.1: id and secret are form-encoded before they are joined by ':'. */
        char *pass = form_encode(p, basic_pass ? basic_pass : "");
        cred = apr_pstrcat(p, form_encode(p, basic_user), ":", pass, NULL);
        wipe(pass, strlen(pass));
        len = (int)strlen(cred);
        auth = apr_palloc(p, sizeof(basic) - 1 + (apr_size_t)apr_base64_encode_len(len));
        memcpy(auth, basic, sizeof(basic) - 1);
        apr_base64_encode(auth + sizeof(basic) - 1, cred, len);
    }
    rv = perform(presp, p, url, body, body_len, auth, extra_header, opts, err);
    /* Pool memory is not cleared when the pool goes, and these hold the client secret. */
    wipe(body, body_len);
    if (cred)
        wipe(cred, strlen(cred));
    if (auth)
        wipe(auth, strlen(auth));
    return rv;
}
