/* The fetcher: one process per host that makes every HTTP transfer of the module (key sets, client tokens), so that the children that serve requests never load libcurl; the channel to it and its request loop. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <openssl/crypto.h>
#include "agw_fetchd.h"

/* The wire, over one request's own stream socket: the asker writes the request and shuts
 * its side down; the fetcher answers and closes. Integers are native (both ends are the same
 * build on the same host); a string is its length (u64, UINT64_MAX for NULL), its bytes and
 * a NUL. */
#define REQ_MAGIC  0x41475751u  /* "AGWQ" */
#define RESP_MAGIC 0x41475752u  /* "AGWR" */
#define NO_STRING  UINT64_MAX
#define IO_TIMEOUT_S 10         /* the fetcher's reads and writes of one request */
#define REPLY_SLACK_MS 2000     /* what the asker waits beyond the transfer's own timeouts */
#define ACCEPT_WAIT_MS 3000     /* for the fetcher's acceptance byte: else made by the asker */
#define ACCEPTED 'A'

typedef struct {
    unsigned char *data;        /* malloc'ed, wiped before it is freed: it may hold a secret */
    size_t len, cap;
    int failed;
} buf_t;

static void buf_free(buf_t *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    memset(b, 0, sizeof(*b));
}

static void buf_put(buf_t *b, const void *src, size_t n)
{
    size_t ncap;
    unsigned char *nd;

    if (b->failed)
        return;
    if (n > b->cap - b->len) {
        ncap = b->cap ? b->cap : 4096;
        while (ncap - b->len < n) {
            if (ncap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            ncap *= 2;
        }
        /* not realloc: the old block may hold a secret and is wiped before it goes */
        if ((nd = malloc(ncap)) == NULL) {
            b->failed = 1;
            return;
        }
        if (b->len)
            memcpy(nd, b->data, b->len);
        if (b->data) {
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u32(buf_t *b, uint32_t v) { buf_put(b, &v, sizeof(v)); }
static void put_u64(buf_t *b, uint64_t v) { buf_put(b, &v, sizeof(v)); }

static void put_bytes(buf_t *b, const char *s, size_t n)
{
    if (!s) {
        put_u64(b, NO_STRING);
        return;
    }
    put_u64(b, (uint64_t)n);
    buf_put(b, s, n);
    buf_put(b, "", 1);
}

static void put_str(buf_t *b, const char *s)
{
    put_bytes(b, s, s ? strlen(s) : 0);
}

typedef struct {
    const unsigned char *p;
    size_t n;
    int bad;
} cur_t;

static void get_n(cur_t *c, void *out, size_t n)
{
    memset(out, 0, n);
    if (c->bad || c->n < n) {
        c->bad = 1;
        return;
    }
    memcpy(out, c->p, n);
    c->p += n;
    c->n -= n;
}

static uint64_t get_u64(cur_t *c)
{
    uint64_t v;

    get_n(c, &v, sizeof(v));
    return v;
}

static uint32_t get_u32(cur_t *c)
{
    uint32_t v;

    get_n(c, &v, sizeof(v));
    return v;
}

/* A string or blob in place (the buffer holds its NUL): NULL for an absent one. A string
 * (blob 0) with a NUL inside, or anything longer than max, marks the cursor bad. */
static const char *get_bytes(cur_t *c, size_t max, int blob, size_t *plen)
{
    uint64_t n = get_u64(c);
    const char *s;

    if (plen)
        *plen = 0;
    if (c->bad || n == NO_STRING)
        return NULL;
    if (n > max || n >= c->n || c->p[n] != '\0'
        || (!blob && memchr(c->p, '\0', (size_t)n) != NULL)) {
        c->bad = 1;
        return NULL;
    }
    s = (const char *)c->p;
    c->p += n + 1;
    c->n -= (size_t)n + 1;
    if (plen)
        *plen = (size_t)n;
    return s;
}

/* ---- the asker -------------------------------------------------------------------------- */

apr_status_t agw_fetchd_channel(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        return APR_FROM_OS_ERROR(errno);
    return APR_SUCCESS;
}

int agw_fetchd_send_socket(int chan, int fd)
{
    char one = 'F';
    struct iovec iov = { &one, 1 };
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m;
    struct cmsghdr *cm;

    memset(&m, 0, sizeof(m));
    memset(&u, 0, sizeof(u));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.space;
    m.msg_controllen = sizeof(u.space);
    cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    while (sendmsg(chan, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

typedef enum { IO_OK, IO_EOF, IO_FAILED, IO_TIMEOUT, IO_CANCELLED } io_e;

/* Waits for fd until deadline, in steps of at most a second so that an asker (asker 1) whose
 * process is ending (agw_http_cancel_all) stops waiting. */
static io_e wait_fd(int fd, short events, apr_time_t deadline, int asker)
{
    struct pollfd pf;
    apr_time_t left;
    int ms, rc;

    for (;;) {
        if (asker && agw_http_cancelled())
            return IO_CANCELLED;
        if ((left = deadline - apr_time_now()) <= 0)
            return IO_TIMEOUT;
        ms = left > apr_time_from_sec(1) ? 1000 : (int)(apr_time_as_msec(left) + 1);
        pf.fd = fd;
        pf.events = events;
        pf.revents = 0;
        rc = poll(&pf, 1, ms);
        if (rc > 0)
            return IO_OK;
        if (rc < 0 && errno != EINTR)
            return IO_FAILED;
    }
}

static io_e write_all(int fd, const unsigned char *p, size_t n, apr_time_t deadline, int asker)
{
    ssize_t w;
    io_e st;

    while (n > 0) {
        if ((st = wait_fd(fd, POLLOUT, deadline, asker)) != IO_OK)
            return st;
        w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return IO_FAILED;
        }
        p += w;
        n -= (size_t)w;
    }
    return IO_OK;
}

/* Reads until the peer closes, at most max bytes (more is IO_FAILED); with want > 0, stops
 * once b holds want bytes. */
static io_e read_some(int fd, buf_t *b, size_t max, size_t want, apr_time_t deadline,
                      int asker)
{
    unsigned char chunk[16384];
    ssize_t r;
    io_e st = IO_OK;

    while (!want || b->len < want) {
        if ((st = wait_fd(fd, POLLIN, deadline, asker)) != IO_OK)
            break;
        r = recv(fd, chunk, want ? want - b->len : sizeof(chunk), MSG_DONTWAIT);
        if (r == 0) {
            st = want ? IO_EOF : IO_OK;
            break;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            st = IO_FAILED;
            break;
        }
        if ((size_t)r > max - b->len) {
            st = IO_FAILED;
            break;
        }
        buf_put(b, chunk, (size_t)r);
        if (b->failed) {
            st = IO_FAILED;
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));      /* a secret, a token: whatever the way out */
    return st;
}

static io_e read_all(int fd, buf_t *b, size_t max, apr_time_t deadline, int asker)
{
    return read_some(fd, b, max, 0, deadline, asker);
}

static void encode_request(buf_t *b, const agw_fetchd_req_t *req)
{
    put_u32(b, REQ_MAGIC);
    put_u64(b, (uint64_t)req->opts.connect_timeout_ms);
    put_u64(b, (uint64_t)req->opts.timeout_ms);
    put_u64(b, (uint64_t)req->opts.max_body);
    put_u32(b, req->opts.allow_http ? 1 : 0);
    put_str(b, req->url);
    put_str(b, req->opts.ca_file);
    put_bytes(b, req->post, req->post_len);
    put_str(b, req->auth_header);
    put_str(b, req->extra_header);
}

static int fits(const char *s)
{
    return !s || strlen(s) <= AGW_FETCHD_MAX_FIELD;
}

/* The answer after the fetcher's acceptance byte, parsed into *presp. */
static apr_status_t parse_answer(const buf_t *in, agw_http_resp_t **presp, apr_pool_t *p,
                                 const agw_http_opts_t *o, agw_err_t *err)
{
    agw_http_resp_t *resp = apr_pcalloc(p, sizeof(*resp));
    const char *reason, *ctype, *nonce, *body;
    size_t body_len;
    apr_status_t rv;
    cur_t c = { in->data + 1, in->len - 1, 0 };

    if (get_u32(&c) != RESP_MAGIC)
        c.bad = 1;
    rv = (apr_status_t)get_u32(&c);
    reason = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    resp->status = (long)get_u64(&c);
    ctype = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    nonce = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    body = get_bytes(&c, agw_http_body_max(o), 1, &body_len);
    if (c.bad || c.n != 0) {
        agw_err_set(err, NULL, "malformed answer from the fetcher");
        return APR_EGENERAL;
    }
    if (rv != APR_SUCCESS) {
        agw_err_set(err, NULL, reason ? apr_pstrdup(p, reason) : "HTTP transfer failed");
        return rv;
    }
    resp->content_type = ctype ? apr_pstrdup(p, ctype) : NULL;
    resp->dpop_nonce = nonce ? apr_pstrdup(p, nonce) : NULL;
    resp->len = body_len;
    resp->body = apr_pstrmemdup(p, body ? body : "", body_len);
    *presp = resp;
    return APR_SUCCESS;
}

/* Sends the request on its own socket and reads the answer. IO_EOF: not taken (no
 * acceptance byte came within ACCEPT_WAIT_MS); otherwise in holds what came. */
static io_e exchange(int chan, const agw_fetchd_req_t *req, buf_t *in, apr_time_t deadline)
{
    apr_time_t accept_by = apr_time_now() + apr_time_from_msec(ACCEPT_WAIT_MS);
    buf_t out = { 0 };
    int sv[2];
    io_e st;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return IO_EOF;
    encode_request(&out, req);
    if (out.failed || agw_fetchd_send_socket(chan, sv[1]) != 0) {
        close(sv[1]);
        close(sv[0]);
        buf_free(&out);
        return IO_EOF;
    }
    close(sv[1]);
    st = write_all(sv[0], out.data, out.len, accept_by < deadline ? accept_by : deadline, 1);
    buf_free(&out);
    if (st == IO_OK) {
        shutdown(sv[0], SHUT_WR);
        st = read_some(sv[0], in, 1, 1, accept_by < deadline ? accept_by : deadline, 1);
    }
    if (st == IO_OK)
        st = read_all(sv[0], in, agw_http_body_max(&req->opts) + 4 * AGW_FETCHD_MAX_FIELD + 256,
                      deadline, 1);
    else if (st != IO_CANCELLED)
        st = IO_EOF;            /* not taken: not accepted in time */
    close(sv[0]);
    return st;
}

apr_status_t agw_fetchd_call(int chan, agw_http_resp_t **presp, apr_pool_t *p,
                             const agw_fetchd_req_t *req, agw_err_t *err, int *unanswered)
{
    const agw_http_opts_t *o = &req->opts;
    buf_t in = { 0 };
    apr_status_t rv = APR_EGENERAL;
    io_e st;

    *presp = NULL;
    *unanswered = 0;
    if (chan < 0 || !fits(req->url) || !fits(o->ca_file) || !fits(req->auth_header)
        || !fits(req->extra_header) || req->post_len > AGW_FETCHD_MAX_POST) {
        *unanswered = 1;
        return APR_EGENERAL;
    }
    if (agw_http_cancelled()) {
        agw_err_set(err, NULL, "cancelled: the process is ending");
        return APR_EGENERAL;
    }
    st = exchange(chan, req, &in,
                  apr_time_now()
                  + apr_time_from_msec(agw_http_transfer_ms(o) + REPLY_SLACK_MS));
    if (st == IO_EOF)
        *unanswered = 1;        /* not taken (busy, gone, stuck): the caller makes it */
    else if (st == IO_CANCELLED || st == IO_TIMEOUT)
        agw_err_set(err, NULL, st == IO_TIMEOUT ? "timeout" : "cancelled: the process is ending");
    else if (st != IO_OK || in.len < 2)
        /* taken, then no answer: not made again here (a token request may have reached the
         * endpoint, and its DPoP proof may not be sent twice) */
        agw_err_set(err, NULL, "the fetcher ended during the transfer");
    else
        rv = parse_answer(&in, presp, p, o, err);
    buf_free(&in);
    return rv;
}

/* ---- the fetcher ------------------------------------------------------------------------ */

static volatile apr_uint32_t in_flight;
static volatile apr_uint32_t answered;

unsigned long agw_fetchd_answered(void)
{
    return apr_atomic_read32(&answered);
}

unsigned long agw_fetchd_in_flight(void)
{
    return apr_atomic_read32(&in_flight);
}

static void answer(int fd, apr_status_t rv, const agw_err_t *err, const agw_http_resp_t *resp)
{
    buf_t b = { 0 };

    put_u32(&b, RESP_MAGIC);
    put_u32(&b, (uint32_t)rv);
    put_str(&b, rv == APR_SUCCESS ? NULL : (err->reason ? err->reason : "HTTP transfer failed"));
    put_u64(&b, (uint64_t)(resp ? resp->status : 0));
    /* a header longer than the wire allows is dropped, not the answer */
    put_str(&b, resp && fits(resp->content_type) ? resp->content_type : NULL);
    put_str(&b, resp && fits(resp->dpop_nonce) ? resp->dpop_nonce : NULL);
    put_bytes(&b, resp ? resp->body : NULL, resp ? resp->len : 0);
    if (!b.failed
        && write_all(fd, b.data, b.len, apr_time_now() + apr_time_from_sec(IO_TIMEOUT_S), 0)
               == IO_OK)
        apr_atomic_inc32(&answered);
    buf_free(&b);
}

/* One request: read, made, answered. A request that does not parse is closed unanswered. */
static void serve_one(int fd)
{
    buf_t in = { 0 };
    agw_fetchd_req_t req;
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    apr_pool_t *p = NULL;
    apr_status_t rv;
    const unsigned char accepted = ACCEPTED;
    cur_t c;

    if (read_all(fd, &in, AGW_FETCHD_MAX_POST + 4 * AGW_FETCHD_MAX_FIELD + 256,
                 apr_time_now() + apr_time_from_sec(IO_TIMEOUT_S), 0) != IO_OK)
        goto leave;
    memset(&req, 0, sizeof(req));
    c.p = in.data;
    c.n = in.len;
    c.bad = 0;
    if (get_u32(&c) != REQ_MAGIC)
        c.bad = 1;
    req.opts.connect_timeout_ms = (long)get_u64(&c);
    req.opts.timeout_ms = (long)get_u64(&c);
    req.opts.max_body = (apr_size_t)get_u64(&c);
    req.opts.allow_http = get_u32(&c) ? 1 : 0;
    req.url = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    req.opts.ca_file = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    req.post = get_bytes(&c, AGW_FETCHD_MAX_POST, 1, &req.post_len);
    req.auth_header = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    req.extra_header = get_bytes(&c, AGW_FETCHD_MAX_FIELD, 0, NULL);
    if (c.bad || c.n != 0 || !req.url || req.opts.connect_timeout_ms < 0
        || req.opts.timeout_ms < 0)
        goto leave;
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS)
        goto leave;
    /* taken: from here the asker does not make it itself (an asker that gave up waiting has
     * closed its socket, and nothing is made) */
    if (write_all(fd, &accepted, 1, apr_time_now() + apr_time_from_sec(1), 0) != IO_OK)
        goto leave;
    rv = agw_http_perform_local(&resp, p, &req, &err);
    answer(fd, rv, &err, resp);
    if (resp && resp->body)
        OPENSSL_cleanse(resp->body, resp->len);

leave:
    if (p)
        apr_pool_destroy(p);
    buf_free(&in);
    close(fd);
}

static void *serve_thread(void *data)
{
    int fd = (int)(intptr_t)data;

    serve_one(fd);
    apr_atomic_dec32(&in_flight);
    return NULL;
}

/* The request socket of one datagram, or -1 (every other descriptor it carried is closed). */
static int received_socket(struct msghdr *m)
{
    struct cmsghdr *cm;
    int fd = -1, extra, i, *fds;
    size_t n;

    for (cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        fds = (int *)(void *)CMSG_DATA(cm);
        for (i = 0; i < (int)n; i++) {
            memcpy(&extra, &fds[i], sizeof(int));
            if (fd < 0)
                fd = extra;
            else
                close(extra);
        }
    }
    return fd;
}

static volatile sig_atomic_t retiring;

void agw_fetchd_retire(int on)
{
    retiring = on ? 1 : 0;
}

/* One datagram of the channel: 1 with *fd (-1 for one that carried none), 0 at the end of
 * the channel, -1 on an error. A datagram of no bytes is not the end: only a hang-up is. */
static int next_request(int chan, int *fd)
{
    char one, space[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = { &one, 1 };
    struct msghdr m;
    struct pollfd pf = { chan, POLLIN, 0 };
    ssize_t n;
    int rc;

    *fd = -1;
    /* a second at most, so that a retirement is seen */
    if ((rc = poll(&pf, 1, 1000)) <= 0)
        return rc < 0 && errno != EINTR ? -1 : 1;
    memset(&m, 0, sizeof(m));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = space;
    m.msg_controllen = sizeof(space);
    n = recvmsg(chan, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    *fd = received_socket(&m);
    if (n == 0 && *fd < 0 && (pf.revents & POLLHUP))
        return 0;               /* every process that could ask has closed the channel */
    if (*fd >= 0 && (m.msg_flags & MSG_CTRUNC)) {
        close(*fd);
        *fd = -1;
    }
    return 1;
}

int agw_fetchd_serve(int chan)
{
    pthread_attr_t ta;
    pthread_t t;
    int fd, rc = 1, i;

    if (pthread_attr_init(&ta) != 0)
        return -1;
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&ta, 512 * 1024);
    while (!retiring && (rc = next_request(chan, &fd)) > 0) {
        if (fd < 0)
            continue;
        if (apr_atomic_inc32(&in_flight) >= AGW_FETCHD_MAX_THREADS
            || pthread_create(&t, &ta, serve_thread, (void *)(intptr_t)fd) != 0) {
            apr_atomic_dec32(&in_flight);
            close(fd);          /* not taken: the asker makes the transfer itself */
        }
    }
    pthread_attr_destroy(&ta);
    if (!retiring)
        return rc < 0 ? -1 : 0;     /* transfers still in flight have no one left to answer */
    /* retired (a restart made a new fetcher): nothing more is taken, as the channel closes;
     * what is in flight is answered, for as long as a transfer may last */
    close(chan);
    for (i = 0; i < 600 && apr_atomic_read32(&in_flight) > 0; i++)
        usleep(100000);
    return 0;
}

int agw_fetchd_close_sockets(int keep)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    struct stat st;
    int fd, n = 0, dfd = d ? dirfd(d) : -1;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        fd = atoi(e->d_name);
        if (fd > 2 && fd != keep && fd != dfd && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
            close(fd);
            n++;
        }
    }
    closedir(d);
    return n;
}
