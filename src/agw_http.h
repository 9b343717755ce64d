/* A small HTTP client over libcurl for the key and token endpoints: TLS verified, timeouts, size cap. */
#ifndef AGW_HTTP_H
#define AGW_HTTP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "agw_err.h"

typedef struct agw_http_opts_t {
    long connect_timeout_ms;    /* 0: 3000 */
    long timeout_ms;            /* 0: 10000 */
    apr_size_t max_body;        /* 0: 1 MiB; a longer response fails */
    const char *ca_file;        /* extra CA bundle (NULL: system CAs only) */
    int allow_http;             /* 0: http:// URLs are refused */
} agw_http_opts_t;

typedef struct agw_http_resp_t {
    long status;                /* HTTP status */
    char *body;                 /* NUL-terminated, from the caller's pool */
    apr_size_t len;
    const char *content_type;   /* may be NULL */
    const char *dpop_nonce;     /* the DPoP-Nonce response header (RFC 9449 8), or NULL */
} agw_http_resp_t;

/* Opens libcurl, local to the module (RTLD_LOCAL), sets it up (curl_global_init) and keeps it
 * mapped until the process ends: once per process, thread-safe. APR_SUCCESS, or APR_EGENERAL
 * with *why (when why is not NULL) set to the reason (the dynamic linker's). Every transfer
 * calls it first, so a process that never fetches never maps libcurl's library tree. */
apr_status_t agw_http_load(const char **why);

/* The longest body a transfer with opts takes (max_body, its default and its limit), and
 * the longest it may last (connect and transfer timeouts, their defaults). */
apr_size_t agw_http_body_max(const agw_http_opts_t *opts);
long agw_http_transfer_ms(const agw_http_opts_t *opts);

/* With cancel 1: ends every transfer of this process, those in flight (within about a second:
 * libcurl's progress calls) and those to come, with an error: for a process that is ending,
 * whose threads should not wait for a network timeout. 0 allows transfers again (tests). */
void agw_http_cancel_all(int cancel);

/* Whether agw_http_cancel_all(1) is in force: a wait for another process's transfer ends too. */
int agw_http_cancelled(void);

/* Hands the whole free pages of glibc's arenas back to the system (malloc_trim), when glibc's
 * malloc is the process's malloc: 1. With another malloc in front of glibc's (a sanitizer's,
 * a preloaded jemalloc or tcmalloc) it does nothing and returns 0. Every transfer ends with
 * it; thread-safe. */
int agw_http_give_back_freed(void);

/* GET url. Transport errors (DNS, connect, TLS, timeout, too large) return APR_EGENERAL with
 * err->reason naming the failure; an HTTP error status is APR_SUCCESS with resp->status set. */
apr_status_t agw_http_get(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                          const agw_http_opts_t *opts, agw_err_t *err);

/* POST application/x-www-form-urlencoded of form (values url-encoded here); when basic_user
 * is not NULL, adds HTTP Basic with user and pass form-url-encoded first (RFC 6749 2.3.1). */
apr_status_t agw_http_post_form(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                                const apr_table_t *form, const char *basic_user,
                                const char *basic_pass, const agw_http_opts_t *opts,
                                agw_err_t *err);

/* The same with one more request header line, "Name: value" (NULL: none). */
apr_status_t agw_http_post_form_hdr(agw_http_resp_t **presp, apr_pool_t *p, const char *url,
                                    const apr_table_t *form, const char *basic_user,
                                    const char *basic_pass, const char *extra_header,
                                    const agw_http_opts_t *opts, agw_err_t *err);

#endif
