/* JWT claims: registered-claim validation with time as a parameter, claim paths, scope/role/value matching. */
#ifndef AGW_JWT_H
#define AGW_JWT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "agw_err.h"

/* The largest NumericDate accepted (2^53: every integer up to it is exact in a double). */
#define AGW_JWT_TIME_MAX APR_INT64_C(9007199254740992)

/* Checks registered claims (RFC 7519 4.1) of a claims object at time now (seconds since
 * the epoch) with leeway seconds: iss equals issuer exactly (when issuer is not NULL);
 * aud (string or array of strings) contains at least one of audiences (const char *)
 * (when audiences is not NULL and not empty); exp required and a number, now < exp + leeway;
 * nbf and iat, when present, numbers and <= now + leeway. A time outside 0..AGW_JWT_TIME_MAX
 * is malformed ("exp invalid", "nbf invalid", "iat invalid"). Reasons are short:
 * "token expired", "exp missing", "exp not a number", "issuer mismatch", "audience mismatch",
 * "token not yet valid", "iat in the future", and for malformed input "nbf not a number",
 * "iat not a number", "claims not an object". Order: shape (exp, nbf, iat types and ranges),
 * then iss, aud, then exp, nbf, iat times. Code invalid_token. */
apr_status_t agw_jwt_check_claims(const json_t *claims, const char *issuer,
                                  const apr_array_header_t *audiences,
                                  apr_int64_t now, apr_int64_t leeway, agw_err_t *err);

/* What the host's table keeps of a verified token's claims, so that a token served from it
 * is checked without parsing its payload: the registered claims agw_jwt_check_claims reads
 * and the remote user's text, in a flat record of fixed size (no pointers: it is shared
 * between processes). Only tokens whose claims fit are briefed: exp, nbf and iat integers,
 * iss absent or a string, aud absent, a string or an array of at most AGW_JWT_BRIEF_AUD_MAX
 * strings, no cnf (a sender constraint needs its claims), all text within
 * AGW_JWT_BRIEF_TEXT bytes. */
#define AGW_JWT_BRIEF_AUD_MAX 4
#define AGW_JWT_BRIEF_TEXT 256
typedef struct agw_jwt_brief_t {
    apr_int64_t exp, nbf, iat;
    unsigned char has_nbf, has_iat, has_iss, has_user;
    unsigned char naud, aud_malformed;  /* aud_malformed: an array with a non-string */
    apr_uint16_t iss_len, user_len;
    apr_uint16_t aud_len[AGW_JWT_BRIEF_AUD_MAX];
    char text[AGW_JWT_BRIEF_TEXT];      /* iss, the user, each aud, back to back */
} agw_jwt_brief_t;

/* Briefs claims (verified) into b: 1 when they fit, 0 when not (b is then unusable). */
int agw_jwt_brief_make(agw_jwt_brief_t *b, const json_t *claims, apr_pool_t *p);

/* agw_jwt_check_claims on a brief (its claims had the right shape when briefed): the same
 * rules in the same order, the same reasons. A brief that cannot be read (lengths beyond its
 * text) is refused as malformed. */
apr_status_t agw_jwt_check_brief(const agw_jwt_brief_t *b, const char *issuer,
                                 const apr_array_header_t *audiences,
                                 apr_int64_t now, apr_int64_t leeway, agw_err_t *err);

/* The bytes at the start of b that a copy needs: the fixed part and the text its lengths
 * cover, never more than sizeof(*b) whatever the lengths say (a copy out of shared memory
 * reads them before it knows they are consistent). */
apr_size_t agw_jwt_brief_size(const agw_jwt_brief_t *b);

/* The remote user's text from a brief (agw_jwt_user with the default path), or NULL. */
char *agw_jwt_brief_user(apr_pool_t *p, const agw_jwt_brief_t *b);

/* A NumericDate claim's value in whole seconds (a fraction truncated): APR_SUCCESS, or
 * APR_EINVAL when v is not a number or lies outside 0..AGW_JWT_TIME_MAX (*out untouched). */
apr_status_t agw_jwt_time(apr_int64_t *out, const json_t *v);

/* Explicit typing (RFC 8725 3.11, RFC 9068 2.1): may a token whose JOSE header "typ" is typ
 * (NULL: absent) be taken as an access token? With accepted (const char *; NULL or empty:
 * not configured), typ must be present and name one of them; without, only a typ naming
 * something else than an access token is refused: all but "JWT", "at+jwt" and "JOSE" (so
 * "id_token+jwt", "dpop+jwt", "logout+jwt", "secevent+jwt", "JOSE+JSON" ...). Names compare
 * case-insensitively with an "application/" prefix optional on either side (RFC 7515 4.1.9).
 * APR_SUCCESS, or APR_EINVAL with reason "typ not accepted" (code invalid_token). */
apr_status_t agw_jwt_check_typ(const char *typ, const apr_array_header_t *accepted,
                               agw_err_t *err);

/* 1 when name may be configured as a typ: non-empty, at most 127 characters of RFC 6838's
 * restricted-name (letters, digits, ! # $ & - ^ _ . +) after an optional "application/". */
int agw_jwt_typ_name_ok(const char *name);

/* A claim path compiled once (at config time). SPEC.md: looked up first as one literal
 * top-level name; if absent and it contains '.', walked through nested objects split at
 * '.'; a path starting with '/' is an RFC 6901 JSON Pointer only (~0 and ~1 escapes,
 * array indexes allowed). */
typedef struct agw_claim_path_t agw_claim_path_t;

/* Returns NULL and sets *perr (static string) for an invalid path (empty, bad ~ escape). */
agw_claim_path_t *agw_claim_path_compile(apr_pool_t *p, const char *path, const char **perr);
const char *agw_claim_path_text(const agw_claim_path_t *cp);
/* Borrowed reference into claims, or NULL. */
json_t *agw_claim_path_get(const agw_claim_path_t *cp, const json_t *claims);

/* The text that becomes REMOTE_USER (SPEC.md): the claim at path (sub when path is NULL),
 * a string, number or boolean; when it is absent, null, an object or an array: azp when a
 * string, else client_id unless an object or an array; as agw_json_text gives it. NULL when
 * none of them does. */
char *agw_jwt_user(apr_pool_t *p, const json_t *claims, const agw_claim_path_t *path);

/* 1 when value (a space-separated string or an array of strings) contains the word want. */
int agw_claim_has_word(const json_t *value, const char *want);
/* 1 when value equals want by its JSON text (string raw, number, true/false), or is an
 * array with an element that does. Objects and null never match. */
int agw_claim_equals(const json_t *value, const char *want);

#endif
