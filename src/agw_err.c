/* The error record every core function fills: an RFC 6750 code, a refusal kind and a short reason. */
#include "agw_err.h"

void agw_err_set(agw_err_t *err, const char *code, const char *reason)
{
    if (err) {
        err->code = code;
        err->reason = reason;
        err->kind = AGW_R_NONE;
    }
}

apr_status_t agw_err_refuse(agw_err_t *err, agw_refusal_e kind, const char *reason)
{
    if (err) {
        err->code = AGW_E_INVALID_TOKEN;
        err->reason = reason;
        err->kind = kind;
    }
    return APR_EINVAL;
}
