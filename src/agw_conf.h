/* Parsers of directive values, shared by the httpd setters and the unit tests: string in, error out. */
#ifndef AGW_CONF_H
#define AGW_CONF_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "agw_crypt.h"

/* Every parser returns NULL on success or an error message (from p) that says what is
 * wrong and how to fix it, without the directive name (the setter prefixes it). */

/* Auth0Algorithms: names from RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA
 * HS256 HS384 HS512, exact case; "none" (any casing) refused with its own message. */
const char *agw_conf_algorithms(agw_alg_set_t *out, apr_pool_t *p, int argc,
                                char *const argv[]);

/* A non-negative number of seconds no larger than max. */
const char *agw_conf_seconds(apr_int64_t *out, apr_pool_t *p, const char *arg, apr_int64_t max);

typedef enum { AGW_SRC_HEADER = 1, AGW_SRC_COOKIE, AGW_SRC_QUERY } agw_src_kind_e;
typedef struct agw_token_src_t {
    agw_src_kind_e kind;
    const char *name;           /* header (default "Authorization": Bearer scheme), cookie or query name */
    int bearer;                 /* 1: value must be "Bearer <token>" (only the plain `header` form) */
} agw_token_src_t;
/* Auth0TokenFrom: `header`, `header=NAME`, `cookie=NAME`, `query=NAME`. */
const char *agw_conf_token_from(agw_token_src_t *out, apr_pool_t *p, const char *arg);

/* One keyword of a directive's fixed set and the value it stands for. */
typedef struct agw_conf_word_t {
    const char *word;
    int value;
} agw_conf_word_t;

/* One of the keywords of words (ended by a NULL word), in any case: *out its value. Else
 * "'ARG' is not WHAT; give A, B or C" (the keywords in table order); *out is left alone. */
const char *agw_conf_keyword(int *out, apr_pool_t *p, const char *arg,
                             const agw_conf_word_t *words, const char *what);

/* A secret reference `file:PATH` or `env:VAR` (or, when allow_literal, anything else as the
 * literal value, *pliteral set to 1). Reads the file now; trailing CR/LF are stripped;
 * empty or unreadable is an error naming the path (never the content). */
const char *agw_conf_secret(const char **psecret, apr_size_t *plen, int *pliteral,
                            apr_pool_t *p, const char *arg, int allow_literal);

/* A key or token URL: must be https://, or http:// only when allow_http; `file:PATH` is
 * accepted when allow_file. */
const char *agw_conf_url(apr_pool_t *p, const char *arg, int allow_http, int allow_file);

#endif
