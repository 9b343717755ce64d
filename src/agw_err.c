/* The error record every core function fills: an RFC 6750 code plus a short reason. */
#include "agw_err.h"

void agw_err_set(agw_err_t *err, const char *code, const char *reason)
{
    if (err) {
        err->code = code;
        err->reason = reason;
    }
}

apr_status_t agw_err_token(agw_err_t *err, const char *reason)
{
    agw_err_set(err, AGW_E_INVALID_TOKEN, reason);
    return APR_EINVAL;
}
