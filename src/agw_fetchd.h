/* The fetcher: one process per host that makes every HTTP transfer of the module (key sets, client tokens), so that the children that serve requests never load libcurl; the channel to it and its request loop. */
#ifndef AGW_FETCHD_H
#define AGW_FETCHD_H

#include <apr_pools.h>
#include "agw_err.h"
#include "agw_http.h"

/* One transfer as agw_http makes it: the body already form-encoded, the Authorization
 * header already built. post NULL: a GET. */
typedef struct agw_fetchd_req_t {
    const char *url;
    const char *post;
    apr_size_t post_len;
    const char *auth_header;    /* "Authorization: ..." or NULL */
    const char *extra_header;   /* "Name: value" or NULL */
    agw_http_opts_t opts;
} agw_fetchd_req_t;

/* Bounds of one request on the channel; a larger one is made in the process itself. */
#define AGW_FETCHD_MAX_FIELD   (64 * 1024)
#define AGW_FETCHD_MAX_POST    (1024 * 1024)
#define AGW_FETCHD_MAX_THREADS 32

/* The channel: fds[0] for the fetcher, fds[1] for the processes that ask it (both
 * close-on-exec). A datagram on it carries one request's own socket. */
apr_status_t agw_fetchd_channel(int fds[2]);

/* Serves the channel until every process holding its other end has closed it, or until
 * agw_fetchd_retire: each request in a thread of its own (at most AGW_FETCHD_MAX_THREADS;
 * beyond them a request is closed unanswered and its process makes the transfer itself),
 * made by agw_http_perform_local after one acceptance byte: an asker that sees no such byte
 * within 3 s makes the transfer itself; one that saw it does not.
 * Returns 0 at the end of the channel (transfers still in flight are not waited for: the
 * caller ends the process), -1 on an error of the channel. */
int agw_fetchd_serve(int chan);

/* Makes the transfer in this process, with libcurl (loaded at the first one): what the
 * fetcher does for each request, and what agw_http does without a fetcher. */
apr_status_t agw_http_perform_local(agw_http_resp_t **presp, apr_pool_t *p,
                                    const agw_fetchd_req_t *req, agw_err_t *err);

/* Sends this process's transfers to the fetcher on chan (-1: none, the default; each
 * transfer then loads and uses libcurl here). A transfer the fetcher cannot take is made
 * here. */
void agw_http_use_fetcher(int chan);

/* With on 1 (async-signal-safe): the serving loop stops taking requests (within a second),
 * closes its end of the channel and returns once the transfers in flight are answered (at
 * most 60 s). 0 lifts it (tests). */
void agw_fetchd_retire(int on);

/* Hands a request's own socket (fd) to the fetcher on chan: one datagram. Never blocks (a
 * full channel means the fetcher is stuck or gone). 0, or -1 with errno. */
int agw_fetchd_send_socket(int chan, int fd);

/* Asks the fetcher on chan. APR_SUCCESS with *presp, or an error with err set, as
 * agw_http_get; *unanswered 1 (and APR_EGENERAL) when the fetcher could not be asked or did
 * not answer, and the caller should make the transfer itself. Waits at most the transfer's
 * timeouts plus 2 s; agw_http_cancel_all ends the wait. */
apr_status_t agw_fetchd_call(int chan, agw_http_resp_t **presp, apr_pool_t *p,
                             const agw_fetchd_req_t *req, agw_err_t *err, int *unanswered);

/* In the fetcher at its start: closes every socket of this process but keep (and stdio):
 * the parent's listeners and connections. Files and pipes stay (logs; a file the dynamic
 * linker may write to, LD_DEBUG_OUTPUT). The number closed, or -1 without /proc. */
int agw_fetchd_close_sockets(int keep);

/* Requests this process's fetcher answered, and those it holds now (tests). */
unsigned long agw_fetchd_answered(void);
unsigned long agw_fetchd_in_flight(void);

#endif
