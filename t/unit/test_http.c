/* Unit tests of the HTTP client against a loopback server in a thread: bodies, limits, form and Basic encoding, TLS. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "tests.h"
#include "agw_http.h"
#include "agw_fetchd.h"

/* ---- a tiny loopback HTTP(S) server ------------------------------------------------- */

typedef struct {
    int lfd;
    int port;
    pthread_t thread;
    volatile int stop;
    volatile int connections;   /* accepted connections, to prove a refusal never connected */
    SSL_CTX *tls;               /* NULL: plain HTTP */
} srv_t;

typedef struct {
    int fd;
    SSL *ssl;
} conn_t;

static srv_t srv;

static int conn_read(conn_t *c, char *buf, int len)
{
    return c->ssl ? SSL_read(c->ssl, buf, len) : (int)recv(c->fd, buf, (size_t)len, 0);
}

static void conn_write(conn_t *c, const char *buf, size_t len)
{
    size_t off = 0;
    int n;

    while (off < len) {
        n = c->ssl ? SSL_write(c->ssl, buf + off, (int)(len - off))
                   : (int)send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void conn_printf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_printf(conn_t *c, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        conn_write(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Reads one request (headers and a Content-Length body) into req; returns its length or -1. */
static int read_request(conn_t *c, char *req, int cap)
{
    int len = 0, n, want = -1;
    char *eoh, *cl;

    while (len < cap - 1) {
        n = conn_read(c, req + len, cap - 1 - len);
        if (n <= 0)
            return -1;
        len += n;
        req[len] = '\0';
        if ((unsigned char)req[0] == 0x16)   /* a TLS ClientHello on the plain port */
            return -1;
        if (want < 0 && (eoh = strstr(req, "\r\n\r\n")) != NULL) {
            cl = strcasestr(req, "\r\nContent-Length:");
            want = (int)(eoh + 4 - req) + (cl && cl < eoh ? atoi(cl + 17) : 0);
        }
        if (want >= 0 && len >= want)
            return len;
    }
    return -1;
}

static void respond(conn_t *c, const char *req, int reqlen)
{
    char path[256] = "";
    char *body;
    int i;

    sscanf(req, "%*s %255s", path);
    if (strcmp(path, "/ok") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 12\r\nConnection: close\r\n\r\n{\"keys\":[]}\n");
    }
    else if (strcmp(path, "/404") == 0) {
        conn_printf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n"
                       "\r\nnope");
    }
    else if (strcmp(path, "/redirect") == 0) {
        conn_printf(c, "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n");
    }
    else if (strcmp(path, "/empty") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    else if (strncmp(path, "/size/", 6) == 0 || strncmp(path, "/stream/", 8) == 0) {
        /* /size/N announces its length; /stream/N does not, so only the callback can stop it. */
        int stream = path[1] == 's' && path[2] == 't';
        int n = atoi(path + (stream ? 8 : 6));
        body = malloc((size_t)n);
        memset(body, 'a', (size_t)n);
        if (stream)
            conn_printf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        else
            conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", n);
        for (i = 0; i < n; i += 1000)
            conn_write(c, body + i, (size_t)(n - i < 1000 ? n - i : 1000));
        free(body);
    }
    else if (strcmp(path, "/slow") == 0) {
        for (i = 0; i < 100 && !srv.stop; i++)
            usleep(20000);
    }
    else if (strcmp(path, "/echo") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                       "Connection: close\r\n\r\n", reqlen);
        conn_write(c, req, (size_t)reqlen);
    }
    else {
        conn_printf(c, "HTTP/1.1 500 Unexpected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

static void *serve(void *arg)
{
    static char req[65536];
    struct pollfd pfd;
    conn_t c;
    int reqlen;
    struct timeval tv = { 2, 0 };

    (void)arg;
    while (!srv.stop) {
        pfd.fd = srv.lfd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        memset(&c, 0, sizeof(c));
        if ((c.fd = accept(srv.lfd, NULL, NULL)) < 0)
            continue;
        srv.connections++;
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (srv.tls) {
            c.ssl = SSL_new(srv.tls);
            SSL_set_fd(c.ssl, c.fd);
            if (SSL_accept(c.ssl) != 1) {
                ERR_clear_error();
                goto done;
            }
        }
        if ((reqlen = read_request(&c, req, sizeof(req))) > 0)
            respond(&c, req, reqlen);
        if (c.ssl)
            SSL_shutdown(c.ssl);
done:
        if (c.ssl)
            SSL_free(c.ssl);
        close(c.fd);
    }
    return NULL;
}

static int listen_loopback(int *pport)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
    *pport = ntohs(sa.sin_port);
    return fd;
}

static void server_start(SSL_CTX *tls)
{
    /* OpenSSL writes with write(2): a client hanging up must not kill the test process. */
    signal(SIGPIPE, SIG_IGN);
    memset(&srv, 0, sizeof(srv));
    srv.tls = tls;
    srv.lfd = listen_loopback(&srv.port);
    ck_assert_int_eq(pthread_create(&srv.thread, NULL, serve, NULL), 0);
}

static void server_stop(void)
{
    srv.stop = 1;
    pthread_join(srv.thread, NULL);
    close(srv.lfd);
    if (srv.tls)
        SSL_CTX_free(srv.tls);
    srv.tls = NULL;
}

static void plain_setup(void)
{
    agw_test_pool_setup();
    ck_assert_int_eq(agw_http_load(NULL), APR_SUCCESS);
    server_start(NULL);
}

static void plain_teardown(void)
{
    server_stop();
    agw_test_pool_teardown();
}

static const char *url(const char *scheme, const char *path)
{
    return apr_psprintf(agw_test_pool, "%s://127.0.0.1:%d%s", scheme, srv.port, path);
}

static agw_http_opts_t http_opts(void)
{
    agw_http_opts_t o = { 0 };

    o.allow_http = 1;
    o.timeout_ms = 3000;
    return o;
}

static void expect_fail(apr_status_t rv, agw_http_resp_t *resp, agw_err_t *err,
                        apr_status_t want_rv, const char *reason)
{
    ck_assert_int_eq(rv, want_rv);
    ck_assert_ptr_null(resp);
    ck_assert_ptr_nonnull(err->reason);
    ck_assert_str_eq(err->reason, reason);
    ck_assert_ptr_null(err->code);
}

/* ---- GET ---------------------------------------------------------------------------- */

START_TEST(get_ok)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_str_eq(resp->body, "{\"keys\":[]}\n");
    ck_assert_uint_eq(resp->len, 12);
    ck_assert_str_eq(resp->content_type, "application/json");
}
END_TEST

START_TEST(get_status_and_empty)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/404"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 404);
    ck_assert_str_eq(resp->body, "nope");
    ck_assert_ptr_null(resp->content_type);
    /* Redirects are not followed: the caller sees the 302. */
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/redirect"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 302);
    ck_assert_uint_eq(resp->len, 0);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/empty"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_str_eq(resp->body, "");
    ck_assert_uint_eq(resp->len, 0);
    ck_assert_int_eq(srv.connections, 3);
}
END_TEST

START_TEST(request_headers)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/echo"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_msg(strncmp(resp->body, "GET /echo HTTP/1.1\r\n", 20) == 0, "%s", resp->body);
    ck_assert_ptr_nonnull(strstr(resp->body, "\r\nUser-Agent: mod_auth0gw\r\n"));
    ck_assert_ptr_nonnull(strstr(resp->body, "\r\nAccept: application/json\r\n"));
    ck_assert_ptr_null(strcasestr(resp->body, "Authorization"));
    ck_assert_ptr_null(strcasestr(resp->body, "Accept-Encoding"));
}
END_TEST

START_TEST(size_cap)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    o.max_body = 1000;
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/size/1000"), &o, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(resp->len, 1000);
    ck_assert_uint_eq(strlen(resp->body), 1000);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/stream/1000"), &o, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(resp->len, 1000);

    rv = agw_http_get(&resp, agw_test_pool, url("http", "/size/1001"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "response too large");
    err.reason = NULL;
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/stream/1001"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "response too large");
    err.reason = NULL;
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/stream/300000"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "response too large");
}
END_TEST

START_TEST(size_cap_default)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/stream/1048576"), &o,
                                  &err), APR_SUCCESS);
    ck_assert_uint_eq(resp->len, 1048576);
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/stream/1048577"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "response too large");
}
END_TEST

START_TEST(timeout)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_time_t t0 = apr_time_now();
    apr_status_t rv;

    o.timeout_ms = 300;
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/slow"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "timeout");
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(1500));
    ck_assert_int_ge(apr_time_now() - t0, apr_time_from_msec(250));
}
END_TEST

static void *cancel_later(void *data)
{
    usleep(200000);
    agw_http_cancel_all(1);
    return NULL;
}

/* A child that ends cancels the fetch of its key refresher: the fetch ends within about a
 * second (libcurl's progress calls), not at its timeout nor when the server gives up (2 s). */
START_TEST(cancel_ends_transfer_in_flight)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_time_t t0 = apr_time_now();
    pthread_t t;
    apr_status_t rv;

    o.timeout_ms = 10000;
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, NULL), 0);
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/slow"), &o, &err);
    pthread_join(t, NULL);
    agw_http_cancel_all(0);
    expect_fail(rv, resp, &err, APR_EGENERAL, "cancelled: the process is ending");
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(1900));
    /* lifted: transfers work again */
    resp = NULL;
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
}
END_TEST

START_TEST(cancel_before_start)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    agw_http_cancel_all(1);
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err);
    agw_http_cancel_all(0);
    expect_fail(rv, resp, &err, APR_EGENERAL, "cancelled: the process is ending");
}
END_TEST

START_TEST(connect_refused)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    int port, fd = listen_loopback(&port);
    apr_status_t rv;

    close(fd);                  /* the port is now known to be closed */
    rv = agw_http_get(&resp, agw_test_pool,
                      apr_psprintf(agw_test_pool, "http://127.0.0.1:%d/ok", port), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "connect failed");
}
END_TEST

START_TEST(scheme_policy)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    o.allow_http = 0;
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "http URL not allowed");
    rv = agw_http_get(&resp, agw_test_pool, url("HTTP", "/ok"), &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "http URL not allowed");
    rv = agw_http_post_form(&resp, agw_test_pool, url("http", "/echo"), NULL, "id", "secret",
                            &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "http URL not allowed");
    /* The defaults (NULL opts) refuse http:// too. */
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/ok"), NULL, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "http URL not allowed");
    o.allow_http = 1;
    rv = agw_http_get(&resp, agw_test_pool, "file:///etc/passwd", &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "URL scheme not allowed");
    rv = agw_http_get(&resp, agw_test_pool, url("ftp", "/x"), &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "URL scheme not allowed");
    rv = agw_http_get(&resp, agw_test_pool, url("gopher", "/x"), &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "URL scheme not allowed");
    rv = agw_http_get(&resp, agw_test_pool, "127.0.0.1/ok", &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "URL scheme not allowed");
    rv = agw_http_get(&resp, agw_test_pool, NULL, &o, &err);
    expect_fail(rv, resp, &err, APR_EINVAL, "URL scheme not allowed");
    ck_assert_int_eq(srv.connections, 0);
}
END_TEST

START_TEST(env_proxy_skipped_for_loopback)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    /* A dead proxy: if it were used for loopback, the request would fail. */
    setenv("http_proxy", "http://127.0.0.1:9/", 1);
    setenv("NO_PROXY", "example.internal", 1);
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err);
    unsetenv("http_proxy");
    unsetenv("NO_PROXY");
    ck_assert_msg(rv == APR_SUCCESS, "failed: %s", err.reason);
    ck_assert_int_eq(resp->status, 200);
}
END_TEST

/* ---- POST form ---------------------------------------------------------------------- */

/* The body of an echoed request (after the blank line). */
static const char *echoed_body(const agw_http_resp_t *resp)
{
    const char *eoh = strstr(resp->body, "\r\n\r\n");

    ck_assert_ptr_nonnull(eoh);
    return eoh + 4;
}

/* The value of an echoed request header, or NULL. */
static const char *echoed_header(const agw_http_resp_t *resp, const char *name)
{
    const char *h = strcasestr(resp->body, apr_pstrcat(agw_test_pool, "\r\n", name, ": ", NULL));
    const char *end;

    if (!h)
        return NULL;
    h += strlen(name) + 4;
    end = strstr(h, "\r\n");
    return apr_pstrmemdup(agw_test_pool, h, (apr_size_t)(end - h));
}

START_TEST(post_form_encoding)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_table_t *form = apr_table_make(agw_test_pool, 4);

    apr_table_add(form, "grant_type", "client_credentials");
    apr_table_add(form, "audience", "https://api.example/x y");
    apr_table_add(form, "client_secret", "a+b&c=d%e f:~._-");
    apr_table_add(form, "na me&", "\xc3\xa9\r\n");
    apr_table_add(form, "empty", "");
    ck_assert_int_eq(agw_http_post_form(&resp, agw_test_pool, url("http", "/echo"), form, NULL,
                                        NULL, &o, &err), APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_msg(strncmp(resp->body, "POST /echo HTTP/1.1\r\n", 21) == 0, "%s", resp->body);
    ck_assert_str_eq(echoed_body(resp),
                     "grant_type=client_credentials"
                     "&audience=https%3A%2F%2Fapi.example%2Fx+y"
                     "&client_secret=a%2Bb%26c%3Dd%25e+f%3A~._-"
                     "&na+me%26=%C3%A9%0D%0A"
                     "&empty=");
    ck_assert_str_eq(echoed_header(resp, "Content-Type"), "application/x-www-form-urlencoded");
    ck_assert_ptr_null(echoed_header(resp, "Expect"));
    ck_assert_ptr_null(echoed_header(resp, "Authorization"));
}
END_TEST

START_TEST(post_empty_form)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };

    ck_assert_int_eq(agw_http_post_form(&resp, agw_test_pool, url("http", "/echo"), NULL, NULL,
                                        NULL, &o, &err), APR_SUCCESS);
    ck_assert_str_eq(echoed_body(resp), "");
    ck_assert_str_eq(echoed_header(resp, "Content-Length"), "0");
}
END_TEST

START_TEST(post_basic_auth)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_table_t *form = apr_table_make(agw_test_pool, 1);

    apr_table_add(form, "grant_type", "client_credentials");
    /* RFC 6749 2.3.1: each part form-encoded, then "id:secret", then base64. The expected
     * value is base64("my%3Aclient%2Bid:p%40ss+w%25rd%3A%2B%2F%3D") computed independently. */
    ck_assert_int_eq(agw_http_post_form(&resp, agw_test_pool, url("http", "/echo"), form,
                                        "my:client+id", "p@ss w%rd:+/=", &o, &err), APR_SUCCESS);
    ck_assert_str_eq(echoed_header(resp, "Authorization"),
                     "Basic bXklM0FjbGllbnQlMkJpZDpwJTQwc3Mrdy"
                     "UyNXJkJTNBJTJCJTJGJTNE");
    ck_assert_str_eq(echoed_body(resp), "grant_type=client_credentials");
    /* Plain values stay as they are. */
    ck_assert_int_eq(agw_http_post_form(&resp, agw_test_pool, url("http", "/echo"), form,
                                        "Xy12", "s3cr3t", &o, &err), APR_SUCCESS);
    ck_assert_str_eq(echoed_header(resp, "Authorization"), "Basic WHkxMjpzM2NyM3Q=");
    /* A NULL password is an empty one. */
    ck_assert_int_eq(agw_http_post_form(&resp, agw_test_pool, url("http", "/echo"), form,
                                        "id", NULL, &o, &err), APR_SUCCESS);
    ck_assert_str_eq(echoed_header(resp, "Authorization"), "Basic aWQ6");
}
END_TEST

START_TEST(post_error_keeps_secret_out)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_table_t *form = apr_table_make(agw_test_pool, 1);
    apr_status_t rv;

    apr_table_add(form, "client_secret", "TOPSECRET");
    o.timeout_ms = 200;
    rv = agw_http_post_form(&resp, agw_test_pool, url("http", "/slow"), form, "id", "TOPSECRET",
                            &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "timeout");
    ck_assert_ptr_null(strstr(err.reason, "TOPSECRET"));
}
END_TEST

START_TEST(https_to_plain_server)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    rv = agw_http_get(&resp, agw_test_pool, url("https", "/ok"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "TLS handshake failed");
}
END_TEST

/* ---- TLS ---------------------------------------------------------------------------- */

static char ca_path[64];
static EVP_PKEY *tls_key;
static X509 *tls_cert;

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ck_assert_ptr_nonnull(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A self-signed P-256 certificate for IP 127.0.0.1, written as the "extra CA" file. */
static void make_cert(void)
{
    X509_NAME *name;
    FILE *f;
    int fd;

    tls_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ck_assert_ptr_nonnull(tls_key);
    tls_cert = X509_new();
    X509_set_version(tls_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(tls_cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(tls_cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(tls_cert), 86400);
    X509_set_pubkey(tls_cert, tls_key);
    name = X509_get_subject_name(tls_cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"agw test CA",
                               -1, -1, 0);
    X509_set_issuer_name(tls_cert, name);
    add_ext(tls_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(tls_cert, NID_key_usage, "critical,keyCertSign,digitalSignature");
    add_ext(tls_cert, NID_subject_alt_name, "IP:127.0.0.1");
    ck_assert_int_gt(X509_sign(tls_cert, tls_key, EVP_sha256()), 0);

    snprintf(ca_path, sizeof(ca_path), "/tmp/agw_http_ca_XXXXXX");
    fd = mkstemp(ca_path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_X509(f, tls_cert);
    fclose(f);
}

static void tls_setup(void)
{
    SSL_CTX *ctx;

    agw_test_pool_setup();
    ck_assert_int_eq(agw_http_load(NULL), APR_SUCCESS);
    make_cert();
    ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, tls_cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, tls_key), 1);
    server_start(ctx);
}

static void tls_teardown(void)
{
    server_stop();
    unlink(ca_path);
    X509_free(tls_cert);
    EVP_PKEY_free(tls_key);
    agw_test_pool_teardown();
}

START_TEST(tls_untrusted_refused)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    o.allow_http = 0;
    rv = agw_http_get(&resp, agw_test_pool, url("https", "/ok"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "TLS certificate verification failed");
}
END_TEST

START_TEST(tls_extra_ca_trusted)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    o.allow_http = 0;
    o.ca_file = ca_path;
    rv = agw_http_get(&resp, agw_test_pool, url("https", "/ok"), &o, &err);
    ck_assert_msg(rv == APR_SUCCESS, "failed: %s", err.reason);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_str_eq(resp->body, "{\"keys\":[]}\n");
}
END_TEST

START_TEST(tls_hostname_checked)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    /* Trusted CA, but the certificate names 127.0.0.1, not localhost. */
    o.allow_http = 0;
    o.ca_file = ca_path;
    rv = agw_http_get(&resp, agw_test_pool,
                      apr_psprintf(agw_test_pool, "https://localhost:%d/ok", srv.port), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "TLS certificate verification failed");
}
END_TEST

START_TEST(tls_bad_ca_file)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_status_t rv;

    o.ca_file = "/nonexistent/ca.pem";
    rv = agw_http_get(&resp, agw_test_pool, url("https", "/ok"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "cannot read CA file");
    o.ca_file = "/tmp";
    rv = agw_http_get(&resp, agw_test_pool, url("https", "/ok"), &o, &err);
    expect_fail(rv, resp, &err, APR_EGENERAL, "cannot read CA file");
    ck_assert_int_eq(srv.connections, 0);
}
END_TEST

/* ---- the same transfers through the fetcher (its loop in a thread of this process) ------ */

static int fetch_fds[2] = { -1, -1 };
static pthread_t fetch_thread;

static void *fetcher_loop(void *data)
{
    agw_fetchd_serve(fetch_fds[0]);
    return NULL;
}

static void fetcher_up(void)
{
    ck_assert_int_eq(agw_fetchd_channel(fetch_fds), APR_SUCCESS);
    ck_assert_int_eq(pthread_create(&fetch_thread, NULL, fetcher_loop, NULL), 0);
    agw_http_use_fetcher(fetch_fds[1]);
}

static void fetcher_down(void)
{
    agw_http_use_fetcher(-1);
    if (fetch_fds[1] >= 0)
        close(fetch_fds[1]);        /* the loop sees the channel's end */
    pthread_join(fetch_thread, NULL);
    if (fetch_fds[0] >= 0)
        close(fetch_fds[0]);
    fetch_fds[0] = fetch_fds[1] = -1;
}

static void plain_fetcher_setup(void)
{
    plain_setup();
    fetcher_up();
}

static void plain_fetcher_teardown(void)
{
    fetcher_down();
    plain_teardown();
}

static void tls_fetcher_setup(void);
static void tls_fetcher_teardown(void);

/* The GET went through the fetcher: it answered one more request. */
START_TEST(fetcher_answers)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    unsigned long before = agw_fetchd_answered();

    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_str_eq(resp->body, "{\"keys\":[]}\n");
    ck_assert_uint_eq(agw_fetchd_answered(), before + 1);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/404"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 404);
    ck_assert_uint_eq(agw_fetchd_answered(), before + 2);
}
END_TEST

/* A fetcher that is gone (its end of the channel closed): the transfer is made here. */
START_TEST(fetcher_gone_transfer_made_here)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    unsigned long before;
    int chan[2];

    ck_assert_int_eq(agw_fetchd_channel(chan), APR_SUCCESS);
    close(chan[0]);
    agw_http_use_fetcher(chan[1]);
    before = agw_fetchd_answered();
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_uint_eq(agw_fetchd_answered(), before);
    close(chan[1]);
    agw_http_use_fetcher(fetch_fds[1]);
}
END_TEST

/* Whatever arrives on a request's socket, the fetcher closes what does not parse, answers
 * nothing and goes on serving. */
static int hand_socket(void)
{
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(agw_fetchd_send_socket(fetch_fds[1], sv[1]), 0);
    close(sv[1]);
    return sv[0];
}

static void send_raw(const void *bytes, size_t n)
{
    char buf[64];
    int sv[1];

    sv[0] = hand_socket();
    if (n)
        ck_assert_int_eq(send(sv[0], bytes, n, MSG_NOSIGNAL), (ssize_t)n);
    shutdown(sv[0], SHUT_WR);
    ck_assert_int_eq(recv(sv[0], buf, sizeof(buf), 0), 0);     /* closed, nothing said */
    close(sv[0]);
}

START_TEST(fetcher_refuses_malformed)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    unsigned char req[64];
    uint32_t magic = 0x41475751u;
    uint64_t huge = (uint64_t)1 << 40;
    unsigned long before = agw_fetchd_answered();
    char one = 'x';

    send_raw(NULL, 0);                          /* nothing */
    send_raw("GET / HTTP/1.1\r\n\r\n", 18);   /* not the protocol */
    memset(req, 0, sizeof(req));
    memcpy(req, &magic, 4);
    send_raw(req, sizeof(req));                 /* the magic, then zeros: too short */
    memcpy(req + 4 + 8 + 8 + 8 + 4, &huge, 8);  /* a URL of 1 TiB */
    send_raw(req, sizeof(req));
    /* a datagram with no descriptor is ignored */
    ck_assert_int_eq(send(fetch_fds[1], &one, 1, 0), 1);
    ck_assert_uint_eq(agw_fetchd_answered(), before);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_uint_eq(agw_fetchd_answered(), before + 1);
}
END_TEST
static void tls_fetcher_setup(void)
{
    tls_setup();
    fetcher_up();
}

static void tls_fetcher_teardown(void)
{
    fetcher_down();
    tls_teardown();
}

/* With AGW_FETCHD_MAX_THREADS requests held (their sockets handed over, nothing written), the
 * next transfer is not taken: it is made here, and succeeds. */
START_TEST(fetcher_full_transfer_made_here)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    int held[AGW_FETCHD_MAX_THREADS], i;
    unsigned long before = agw_fetchd_answered();
    apr_time_t until = apr_time_now() + apr_time_from_sec(5);

    for (i = 0; i < AGW_FETCHD_MAX_THREADS; i++)
        held[i] = hand_socket();
    while (agw_fetchd_in_flight() < AGW_FETCHD_MAX_THREADS && apr_time_now() < until)
        usleep(5000);
    ck_assert_uint_eq(agw_fetchd_in_flight(), AGW_FETCHD_MAX_THREADS);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_uint_eq(agw_fetchd_answered(), before);
    for (i = 0; i < AGW_FETCHD_MAX_THREADS; i++)
        close(held[i]);
    until = apr_time_now() + apr_time_from_sec(5);
    while (agw_fetchd_in_flight() > 0 && apr_time_now() < until)
        usleep(5000);
    ck_assert_uint_eq(agw_fetchd_in_flight(), 0);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(agw_fetchd_answered(), before + 1);
}
END_TEST

/* In a forked process (the test's own sockets stay): a listener and a socket pair closed but
 * the one kept, a pipe and a file left open. */
START_TEST(fetcher_closes_sockets_only)
{
    int lfd, port, sp[2], pp[2], ffd, report[2], st = 0, r[6] = { 0 };
    pid_t pid;

    lfd = listen_loopback(&port);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ck_assert_int_eq(pipe(pp), 0);
    ck_assert_int_ge(ffd = open("/dev/null", O_RDONLY), 0);
    ck_assert_int_eq(pipe(report), 0);
    if ((pid = fork()) == 0) {
        int out[6];
        out[0] = agw_fetchd_close_sockets(sp[1]);
        out[1] = fcntl(lfd, F_GETFD) != -1;
        out[2] = fcntl(sp[0], F_GETFD) != -1;
        out[3] = fcntl(sp[1], F_GETFD) != -1;
        out[4] = fcntl(pp[1], F_GETFD) != -1;
        out[5] = fcntl(ffd, F_GETFD) != -1;
        _exit(write(report[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
    }
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(read(report[0], r, sizeof(r)), (ssize_t)sizeof(r));
    waitpid(pid, &st, 0);
    ck_assert_int_ge(r[0], 2);          /* at least the listener and sp[0] */
    ck_assert_int_eq(r[1], 0);          /* the listener: closed */
    ck_assert_int_eq(r[2], 0);          /* the other end of the pair: closed */
    ck_assert_int_eq(r[3], 1);          /* the one kept */
    ck_assert_int_eq(r[4], 1);          /* a pipe stays */
    ck_assert_int_eq(r[5], 1);          /* a file stays */
    close(lfd);
    close(sp[0]);
    close(sp[1]);
    close(pp[0]);
    close(pp[1]);
    close(ffd);
    close(report[0]);
    close(report[1]);
}
END_TEST

/* A fetcher that accepts a request (its acceptance byte) and then ends without an answer:
 * the transfer is not made again here (the server sees no connection). */
static void *accept_then_die(void *data)
{
    int chan = *(int *)data, fd = -1;
    char buf[4096], space[CMSG_SPACE(sizeof(int))], one;
    struct iovec iov = { &one, 1 };
    struct msghdr m;
    struct cmsghdr *cm;

    memset(&m, 0, sizeof(m));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = space;
    m.msg_controllen = sizeof(space);
    if (recvmsg(chan, &m, 0) > 0 && (cm = CMSG_FIRSTHDR(&m)) != NULL)
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    if (fd >= 0) {
        while (recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        ck_assert_int_eq(send(fd, "A", 1, MSG_NOSIGNAL), 1);
        close(fd);
    }
    return NULL;
}

START_TEST(fetcher_dies_after_accepting)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    int chan[2], before = srv.connections;
    pthread_t t;
    apr_status_t rv;

    ck_assert_int_eq(agw_fetchd_channel(chan), APR_SUCCESS);
    ck_assert_int_eq(pthread_create(&t, NULL, accept_then_die, &chan[0]), 0);
    agw_http_use_fetcher(chan[1]);
    rv = agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err);
    pthread_join(t, NULL);
    agw_http_use_fetcher(fetch_fds[1]);
    close(chan[0]);
    close(chan[1]);
    expect_fail(rv, resp, &err, APR_EGENERAL, "the fetcher ended during the transfer");
    ck_assert_int_eq(srv.connections, before);
}
END_TEST

/* A channel nobody reads (a fetcher stuck, or its end held by another process): after the 3 s
 * acceptance wait the transfer is made here, not at the transfer's timeout. */
START_TEST(fetcher_stuck_transfer_made_here)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    apr_time_t t0 = apr_time_now();
    int chan[2];

    o.timeout_ms = 10000;
    ck_assert_int_eq(agw_fetchd_channel(chan), APR_SUCCESS);
    agw_http_use_fetcher(chan[1]);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(resp->status, 200);
    ck_assert_int_ge(apr_time_now() - t0, apr_time_from_msec(2900));
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(6000));
    agw_http_use_fetcher(fetch_fds[1]);
    close(chan[0]);
    close(chan[1]);
}
END_TEST

/* A datagram of no bytes is not the channel's end; a retirement ends the loop and closes its
 * end, and a transfer then is made here at once. */
START_TEST(fetcher_empty_datagram_and_retirement)
{
    agw_http_opts_t o = http_opts();
    agw_http_resp_t *resp = NULL;
    agw_err_t err = { 0 };
    unsigned long before = agw_fetchd_answered();
    apr_time_t t0;

    ck_assert_int_eq(send(fetch_fds[1], "", 0, 0), 0);
    usleep(100000);
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(agw_fetchd_answered(), before + 1);
    agw_fetchd_retire(1);
    pthread_join(fetch_thread, NULL);       /* within a second */
    agw_fetchd_retire(0);
    fetch_fds[0] = -1;                      /* closed by the loop */
    t0 = apr_time_now();
    ck_assert_int_eq(agw_http_get(&resp, agw_test_pool, url("http", "/ok"), &o, &err),
                     APR_SUCCESS);
    ck_assert_uint_eq(agw_fetchd_answered(), before + 1);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(1000));
    /* the fixture's teardown joins the loop again: a new one on a new channel */
    close(fetch_fds[1]);
    fetcher_up();
}
END_TEST

/* ---- giving freed memory back, from many threads at once -------------------------------- */

#define RACE_THREADS 16
#define RACE_PROCESSES 30

/* glibc's malloc_trim is safe only when glibc's malloc is the malloc: under ASan (the
 * unit-asan build, whose runtime comes first) the module must leave it alone. */
#if defined(__SANITIZE_ADDRESS__)
#define EXPECT_TRIM 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)     /* clang's spelling */
#define EXPECT_TRIM 0
#endif
#endif
#ifndef EXPECT_TRIM
#define EXPECT_TRIM 1                   /* (so: not run under valgrind or a preloaded malloc) */
#endif

static pthread_barrier_t race_barrier;

static void *give_back_at_once(void *arg)
{
    pthread_barrier_wait(&race_barrier);
    *(int *)arg = agw_http_give_back_freed();
    return NULL;
}

/* `unit_tests --give-back-race`: RACE_THREADS threads make the process's first call together
 * and exit. Before the fix, a sanitizer's process aborted in glibc at a thread's exit in
 * about 15% of runs ("a->attached_threads > 0"), as the key fetcher did once in CI. */
int agw_test_give_back_race(void)
{
    pthread_t t[RACE_THREADS];
    int got[RACE_THREADS], i, bad = 0;

    if (pthread_barrier_init(&race_barrier, NULL, RACE_THREADS) != 0)
        return 2;
    for (i = 0; i < RACE_THREADS; i++)
        if (pthread_create(&t[i], NULL, give_back_at_once, &got[i]) != 0)
            return 2;
    for (i = 0; i < RACE_THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += got[i] != EXPECT_TRIM;
    }
    return bad ? 3 : 0;
}

START_TEST(give_back_only_under_glibc_malloc)
{
    ck_assert_int_eq(agw_http_give_back_freed(), EXPECT_TRIM);
    ck_assert_int_eq(agw_http_give_back_freed(), EXPECT_TRIM);
}
END_TEST

START_TEST(give_back_from_threads_at_once)
{
    int i, status;
    pid_t pid;

    /* a new process each time: what can go wrong is in a process's first call */
    for (i = 0; i < RACE_PROCESSES; i++) {
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);

            if (devnull >= 0)
                dup2(devnull, 2);   /* glibc's abort message is the failure, not noise */
            execl("/proc/self/exe", "unit_tests", "--give-back-race", (char *)NULL);
            _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "process %d of %d: %s %d", i + 1, RACE_PROCESSES,
                      WIFSIGNALED(status) ? "killed by signal" : "exit status",
                      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
}
END_TEST

/* The transfers every client case runs, without and with the fetcher. */
static void add_transfer_tests(TCase *tc)
{
    tcase_add_test(tc, get_ok);
    tcase_add_test(tc, get_status_and_empty);
    tcase_add_test(tc, request_headers);
    tcase_add_test(tc, size_cap);
    tcase_add_test(tc, size_cap_default);
    tcase_add_test(tc, timeout);
    tcase_add_test(tc, connect_refused);
    tcase_add_test(tc, cancel_ends_transfer_in_flight);
    tcase_add_test(tc, cancel_before_start);
    tcase_add_test(tc, scheme_policy);
    tcase_add_test(tc, env_proxy_skipped_for_loopback);
    tcase_add_test(tc, post_form_encoding);
    tcase_add_test(tc, post_empty_form);
    tcase_add_test(tc, post_basic_auth);
    tcase_add_test(tc, post_error_keeps_secret_out);
    tcase_add_test(tc, https_to_plain_server);
}

static void add_tls_tests(TCase *tt)
{
    tcase_add_test(tt, tls_untrusted_refused);
    tcase_add_test(tt, tls_extra_ca_trusted);
    tcase_add_test(tt, tls_hostname_checked);
    tcase_add_test(tt, tls_bad_ca_file);
}

Suite *agw_suite_http(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("plain");
    TCase *tt = tcase_create("tls");

    tcase_add_checked_fixture(tc, plain_setup, plain_teardown);
    tcase_set_timeout(tc, 20);
    add_transfer_tests(tc);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tt, tls_setup, tls_teardown);
    tcase_set_timeout(tt, 20);
    add_tls_tests(tt);
    suite_add_tcase(s, tt);

    /* every transfer above again, through the fetcher: the same answers and errors */
    tc = tcase_create("plain-fetcher");
    tcase_add_checked_fixture(tc, plain_fetcher_setup, plain_fetcher_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fetcher_answers);
    tcase_add_test(tc, fetcher_gone_transfer_made_here);
    tcase_add_test(tc, fetcher_refuses_malformed);
    tcase_add_test(tc, fetcher_full_transfer_made_here);
    tcase_add_test(tc, fetcher_closes_sockets_only);
    tcase_add_test(tc, fetcher_dies_after_accepting);
    tcase_add_test(tc, fetcher_stuck_transfer_made_here);
    tcase_add_test(tc, fetcher_empty_datagram_and_retirement);
    add_transfer_tests(tc);
    suite_add_tcase(s, tc);

    tc = tcase_create("give-back");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, give_back_only_under_glibc_malloc);
    tcase_add_test(tc, give_back_from_threads_at_once);
    suite_add_tcase(s, tc);

    tt = tcase_create("tls-fetcher");
    tcase_add_checked_fixture(tt, tls_fetcher_setup, tls_fetcher_teardown);
    tcase_set_timeout(tt, 30);
    add_tls_tests(tt);
    suite_add_tcase(s, tt);
    return s;
}
