/* Small helpers every room uses, written once: text made safe by purpose, hex, and bounded file reading. */
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include "agw_util.h"
#include "agw_hot.h"

const char *agw_text_log(apr_pool_t *p, const char *s, apr_size_t max, int flags)
{
    apr_size_t len, n, i;
    char *out;

    if (!s)
        return NULL;
    len = strlen(s);
    n = len > max ? max : len;
    out = apr_palloc(p, n + 4);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int bad = c < 0x20 || c > 0x7e || c == '"' || c == '\\'
                  || (c == ' ' && (flags & AGW_TEXT_WORD));
        out[i] = bad ? '?' : (char)c;
    }
    if (n < len && (flags & AGW_TEXT_MARK_CUT))
        memcpy(out + n, "...", 4);
    else
        out[n] = '\0';
    return out;
}

AGW_HOT const char *agw_text_header(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t i;
    char *out;

    /* most values need nothing: then s itself, without a copy */
    for (i = 0; s[i] && i < max; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            break;
    if (!s[i])
        return s;
    out = apr_pstrndup(p, s, max);
    for (; out[i]; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = ' ';
    return out;
}

const char *agw_text_quoted(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s ? s : "");
    char *c;

    for (c = out; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '\'';
    return out;
}

AGW_HOT char *agw_hex_put(char *out, const void *in, apr_size_t n, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    const unsigned char *b = in;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        *out++ = digits[b[i] >> 4];
        *out++ = digits[b[i] & 15];
    }
    *out = '\0';
    return out;
}

AGW_HOT char *agw_hex(apr_pool_t *p, const void *in, apr_size_t n)
{
    char *out = apr_palloc(p, n * 2 + 1);

    agw_hex_put(out, in, n, 0);
    return out;
}

/* Reads f to its end into a buffer that grows up to max + 1 bytes (one more than allowed
 * tells "too large" from "exactly at the limit"); the buffers given up are wiped. */
static apr_status_t read_all(char **pbuf, apr_size_t *plen, apr_pool_t *p, apr_file_t *f,
                             apr_size_t cap, apr_size_t max)
{
    apr_status_t rv = APR_SUCCESS;
    apr_size_t len = 0, n;
    char *buf = apr_palloc(p, cap + 1), *bigger;

    for (;;) {
        if (len == cap) {
            if (cap > max)
                break;
            n = cap > max / 2 ? max + 1 : cap * 2;
            bigger = apr_palloc(p, n + 1);
            memcpy(bigger, buf, len);
            memset(buf, 0, len);
            buf = bigger;
            cap = n;
        }
        n = cap - len;
        rv = apr_file_read(f, buf + len, &n);
        len += n;
        if (rv != APR_SUCCESS)
            break;
    }
    *pbuf = buf;
    *plen = len;
    return rv == APR_EOF ? APR_SUCCESS : rv;
}

apr_status_t agw_file_read(char **pdata, apr_size_t *plen, agw_file_step_e *pstep,
                           apr_pool_t *p, const char *path, apr_size_t max)
{
    agw_file_step_e step = AGW_FILE_OPEN;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t len = 0, cap = 4096;
    char *buf = NULL;

    *pdata = NULL;
    *plen = 0;
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        step = AGW_FILE_READ;
        /* the size stat tells is only where to start */
        if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS && fi.size > 0
            && (apr_uint64_t)fi.size <= (apr_uint64_t)max)
            cap = (apr_size_t)fi.size + 1;
        if (cap > max)
            cap = max + 1;
        rv = read_all(&buf, &len, p, f, cap, max);
        apr_file_close(f);
    }
    if (rv == APR_SUCCESS && len > max) {
        step = AGW_FILE_TOO_LARGE;
        rv = APR_ENOSPC;
    }
    if (rv != APR_SUCCESS) {
        if (buf)
            memset(buf, 0, len);
    }
    else {
        step = AGW_FILE_OK;
        buf[len] = '\0';
        *pdata = buf;
        *plen = len;
    }
    if (pstep)
        *pstep = step;
    return rv;
}
