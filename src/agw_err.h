/* The error record every core function fills: an RFC 6750 code plus a short reason for headers and logs. */
#ifndef AGW_ERR_H
#define AGW_ERR_H

#include <apr_errno.h>

/* RFC 6750 error codes */
#define AGW_E_INVALID_TOKEN      "invalid_token"
#define AGW_E_INVALID_REQUEST    "invalid_request"
#define AGW_E_INSUFFICIENT_SCOPE "insufficient_scope"

/* Why a token was refused, set where the refusal arises, next to its text. Decisions
 * (counters, the negative cache, the challenge's error=, the log's refusal=) read this,
 * never the reason's text. Append new kinds before AGW_R_COUNT. */
typedef enum agw_refusal_e {
    AGW_R_NONE = 0,      /* not a token refusal (a fetch, configuration or cache failure) */
    AGW_R_MALFORMED,     /* not a well-formed JWS/JWT: size, segments, base64url, JSON, a
                          * header member of the wrong type, no signature, unknown crit,
                          * claims not an object, a malformed Authorization header */
    AGW_R_SIGNATURE,     /* a key fits the token and the signature does not verify (or has
                          * the wrong length for it): stays bad while the key set is the same */
    AGW_R_ALG,           /* alg none, unknown, not allowed, not supported, or not fitting the
                          * key its kid selects (key type, curve, the JWK's alg, an HMAC key
                          * shorter than the hash) */
    AGW_R_UNKNOWN_KEY,   /* no key carries the token's kid (after the refetch the cooldown
                          * allows), or the token's x5t names another key */
    AGW_R_EXPIRED,       /* exp is past beyond the leeway */
    AGW_R_NOT_YET_VALID, /* nbf or iat is in the future beyond the leeway */
    AGW_R_ISSUER,        /* iss is not the configured issuer */
    AGW_R_AUDIENCE,      /* aud names none of the configured audiences */
    AGW_R_TYPE,          /* the header's typ is not accepted (Auth0TokenType, or not an
                          * access token's typ by default) */
    AGW_R_CLAIM,         /* a registered claim is missing or not of its type: exp missing,
                          * exp/nbf/iat not a number or out of range */
    AGW_R_KEY,           /* a key, not a token, is unusable (JWK member, key size, curve
                          * point): the key set skips it */
    AGW_R_OTHER,         /* a token refusal of no kind above */
    AGW_R_DPOP,          /* a DPoP proof (RFC 9449) missing, malformed, not verifying, not
                          * fitting the request, or replayed: code invalid_dpop_proof */
    AGW_R_BINDING,       /* the token's cnf binds it to a key or client certificate the
                          * request does not prove (a DPoP-bound token sent as Bearer, another
                          * proof key, another or no client certificate) */
    AGW_R_COUNT
} agw_refusal_e;

typedef struct agw_err_t {
    const char *code;   /* one of AGW_E_*, or NULL when no RFC 6750 code applies */
    const char *reason; /* short, printable ASCII, no quotes, never token or key material */
    agw_refusal_e kind; /* AGW_R_NONE unless a token (or key) was refused */
} agw_err_t;

/* Sets both fields and kind AGW_R_NONE when err is not NULL; reason must outlive err
 * (static or pool). For failures that are not token refusals. */
void agw_err_set(agw_err_t *err, const char *code, const char *reason);

/* A token refusal: sets kind, code invalid_token and reason; returns APR_EINVAL. The glue
 * names kinds (counters, log) in one table: mod_auth0gw/status.c. */
apr_status_t agw_err_refuse(agw_err_t *err, agw_refusal_e kind, const char *reason);

#endif
