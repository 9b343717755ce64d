/* Strict base64url (RFC 7515 section 2 / RFC 4648 section 5) without padding. */
#ifndef AGW_B64_H
#define AGW_B64_H

#include <apr_pools.h>

/* Decodes in[0..inlen). Refuses '=', whitespace, any byte outside A-Z a-z 0-9 - _,
 * a length with inlen % 4 == 1, and non-zero unused trailing bits (non-canonical).
 * *pout is NUL-terminated (not counted in *poutlen). Returns APR_SUCCESS or APR_EINVAL. */
apr_status_t agw_b64url_decode(unsigned char **pout, apr_size_t *poutlen, apr_pool_t *p,
                               const char *in, apr_size_t inlen);

/* Encodes without padding; returns a NUL-terminated string from p. */
char *agw_b64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len);

#endif
