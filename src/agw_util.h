/* Small helpers every room uses, written once: text made safe by purpose, hex, and bounded file reading. */
#ifndef AGW_UTIL_H
#define AGW_UTIL_H

#include <apr_pools.h>
#include <apr_errno.h>

/* agw_text_log flags */
#define AGW_TEXT_WORD     1     /* a space also becomes '?': the value stays one log field */
#define AGW_TEXT_MARK_CUT 2     /* "..." follows a value that was cut at max */

/* For a log line, and for a message that repeats input (a configuration error): at most max
 * bytes of s, each byte outside printable ASCII, '"' and '\\' as '?'. NULL s: NULL. */
const char *agw_text_log(apr_pool_t *p, const char *s, apr_size_t max, int flags);

/* For a request header value or an environment variable: at most max bytes of s, control
 * bytes and DEL as spaces (no line breaks, no NUL); other bytes, UTF-8 included, kept. s
 * itself when it needs no change (it must then live as long as the result is used), else
 * a copy in p. */
const char *agw_text_header(apr_pool_t *p, const char *s, apr_size_t max);

/* For the inside of a quoted-string (RFC 9110 section 5.6.4) in WWW-Authenticate: '"', '\\',
 * control and non-ASCII bytes as '\''. NULL s: "". */
const char *agw_text_quoted(apr_pool_t *p, const char *s);

/* Hex of in[0..n) at out (2 * n digits and a NUL), lower case unless upper; returns the end
 * of the digits (out + 2 * n). */
char *agw_hex_put(char *out, const void *in, apr_size_t n, int upper);
/* The same, lower case, in a string from p. */
char *agw_hex(apr_pool_t *p, const void *in, apr_size_t n);

/* Where agw_file_read stopped. */
typedef enum agw_file_step_e {
    AGW_FILE_OK = 0,
    AGW_FILE_OPEN,              /* the file could not be opened */
    AGW_FILE_READ,              /* reading failed (a directory, an I/O error) */
    AGW_FILE_TOO_LARGE          /* the file holds more than max bytes: APR_ENOSPC */
} agw_file_step_e;

/* Reads the whole file at path into *pdata (from p, NUL-terminated, the NUL not counted in
 * *plen), at most max bytes. Reads to the end, so a pipe or a file whose size stat does not
 * tell works too. What was read is wiped on failure (the file may hold a secret). pstep, if
 * not NULL, says where it stopped. */
apr_status_t agw_file_read(char **pdata, apr_size_t *plen, agw_file_step_e *pstep,
                           apr_pool_t *p, const char *path, apr_size_t max);

#endif
