/* The error record every core function fills: an RFC 6750 code plus a short reason for headers and logs. */
#ifndef AGW_ERR_H
#define AGW_ERR_H

#include <apr_errno.h>

/* RFC 6750 error codes */
#define AGW_E_INVALID_TOKEN      "invalid_token"
#define AGW_E_INVALID_REQUEST    "invalid_request"
#define AGW_E_INSUFFICIENT_SCOPE "insufficient_scope"

typedef struct agw_err_t {
    const char *code;   /* one of AGW_E_*, or NULL when no RFC 6750 code applies */
    const char *reason; /* short, printable ASCII, no quotes, never token or key material */
} agw_err_t;

/* Sets both fields when err is not NULL; reason must outlive err (static or pool). */
void agw_err_set(agw_err_t *err, const char *code, const char *reason);

/* Convenience: sets code invalid_token with reason and returns APR_EINVAL. */
apr_status_t agw_err_token(agw_err_t *err, const char *reason);

#endif
