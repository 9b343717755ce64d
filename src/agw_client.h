/* The OAuth2 client-credentials client: token requests, responses, renewal times, backoff, cache records. */
#ifndef AGW_CLIENT_H
#define AGW_CLIENT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "agw_err.h"
#include "agw_crypt.h"
#include "agw_http.h"
#include "agw_sign.h"
#include "agw_dpopsign.h"

typedef enum {
    AGW_CLIENT_AUTH_POST = 1,   /* client_secret_post: id and secret in the form */
    AGW_CLIENT_AUTH_BASIC,      /* client_secret_basic: RFC 6749 2.3.1 */
    AGW_CLIENT_AUTH_PKJWT       /* private_key_jwt: RFC 7523 assertion signed with our key */
} agw_client_auth_e;

#define AGW_CC_MAX_TOKEN 16384  /* an access token longer than this is refused */
#define AGW_CC_MAX_LIFETIME (10 * 365 * 86400)  /* a longer expires_in is refused */
#define AGW_CC_CLOCK_SKEW 60    /* how far another host's clock may run ahead of ours */

typedef struct agw_client_t {
    const char *name;
    const char *token_url;
    const char *client_id;
    const char *secret;         /* client_secret_post / basic */
    const char *audience;       /* Auth0's audience parameter; NULL: none */
    const char *scope;          /* NULL: none */
    agw_client_auth_e auth;
    apr_array_header_t *params; /* const char *: name, value, name, value ... */
    agw_privkey_t *sign_key;    /* private_key_jwt */
    agw_alg_e sign_alg;
    const char *sign_kid;       /* NULL: no kid in the assertion header */
    int renew_percent;          /* renew when this share of the lifetime has passed */
    agw_http_opts_t http;
    const char *cache_key;      /* set by agw_client_finish */
    apr_array_header_t *backends; /* const char *: "scheme://host:port" origins the token may
                                   * go to (Auth0ClientBackend, the glue's); NULL: any */
    agw_dpopsign_key_t *dpop_key; /* Auth0ClientDPoPKey: DPoP-bound tokens; NULL: Bearer */
} agw_client_t;

typedef struct agw_cc_token_t {
    const char *access_token;
    apr_int64_t obtained_at;
    apr_int64_t expires_at;
    int dpop;                   /* token_type DPoP: bound to the client's DPoP key */
} agw_cc_token_t;

/* Checks a configured client and computes its cache key (SHA-256 over token URL, client id,
 * audience, scope and extra parameters, and the DPoP key's thumbprint when it has one). Returns NULL or what is missing and how to fix it. */
const char *agw_client_finish(agw_client_t *c, apr_pool_t *p);

/* The form fields of the token request (for tests, and used by agw_client_fetch); for
 * private_key_jwt the assertion is signed at time now with a fresh jti. */
apr_status_t agw_client_form(apr_table_t **pform, apr_pool_t *p, const agw_client_t *c,
                             apr_int64_t now, agw_err_t *err);

/* Interprets a token endpoint response. Needs HTTP 200, a JSON object with a string
 * access_token (<= AGW_CC_MAX_TOKEN), a positive numeric expires_in, and token_type Bearer
 * when present. Errors carry the endpoint's error / error_description (sanitised). */
apr_status_t agw_client_parse(agw_cc_token_t *tok, apr_pool_t *p, long status,
                              const char *body, apr_size_t len, apr_int64_t now,
                              agw_err_t *err);

/* The same for a client with a DPoP key when dpop: token_type must be DPoP (a Bearer answer
 * means the server did not bind the token; it is refused, not used as a bearer token). */
apr_status_t agw_client_parse_as(agw_cc_token_t *tok, apr_pool_t *p, long status,
                                 const char *body, apr_size_t len, apr_int64_t now, int dpop,
                                 agw_err_t *err);

/* Requests a token now. With a DPoP key the request carries a proof (htm POST, htu the token
 * URL); a 400 use_dpop_nonce answer with a DPoP-Nonce header is retried once with a new proof
 * that carries the nonce (RFC 9449 section 8). */
apr_status_t agw_client_fetch(agw_cc_token_t *tok, apr_pool_t *p, const agw_client_t *c,
                              apr_int64_t now, agw_err_t *err);

/* When the token should be renewed: obtained_at + percent of its lifetime. */
apr_int64_t agw_client_renew_at(const agw_client_t *c, const agw_cc_token_t *tok);

/* Seconds to wait after the n-th consecutive failure (n >= 1): 2, 4, 8 ... capped at 60. */
apr_int64_t agw_client_backoff(unsigned int failures);

/* The cache record of a token: "1 <obtained_at> <expires_at> <token>" for a Bearer token,
 * "2 <obtained_at> <expires_at> DPoP <token>" for a DPoP-bound one (version 1 records, as
 * earlier versions wrote them, stay readable and are Bearer). Decoding reads it as
 * hostile: besides its form, obtained_at must not be later than now + AGW_CC_CLOCK_SKEW,
 * expires_at must be after now, and the lifetime at most AGW_CC_MAX_LIFETIME (one write of
 * far-future times must not pin a token in every process). */
char *agw_cc_token_encode(apr_pool_t *p, const agw_cc_token_t *tok, apr_size_t *plen);
apr_status_t agw_cc_token_decode(agw_cc_token_t *tok, apr_pool_t *p, const char *data,
                                 apr_size_t len, apr_int64_t now);

#endif
