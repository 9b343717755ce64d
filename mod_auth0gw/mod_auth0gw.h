/* Types shared by the httpd glue files of mod_auth0gw: per-directory and per-server configuration, request state. */
#ifndef MOD_AUTH0GW_H
#define MOD_AUTH0GW_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "agw_err.h"
#include "agw_crypt.h"
#include "agw_jwk.h"
#include "agw_jwt.h"
#include "agw_conf.h"
#include "agw_keys.h"

extern module AP_MODULE_DECLARE_DATA auth0gw_module;


#define AGW_AUTH_TYPE "Auth0"
#define AGW_UNSET (-1)

#define AGW_DEFAULT_LEEWAY     30
#define AGW_DEFAULT_REFRESH    900
#define AGW_DEFAULT_COOLDOWN   30
#define AGW_DEFAULT_MAX_STALE  86400

/* A claim copied to a header or an environment variable. */
typedef struct agw_claim_copy_t {
    agw_claim_path_t *path;
    const char *name;
} agw_claim_copy_t;

typedef struct agw_dir_conf_t {
    const char *domain;
    const char *domain_issuer;          /* https://DOMAIN/ */
    const char *domain_jwks;            /* https://DOMAIN/.well-known/jwks.json */
    const char *issuer;
    apr_array_header_t *audiences;      /* const char *; NULL: unset */
    const char *jwks;                   /* URL or file:PATH; NULL: from domain or discovery */
    agw_alg_set_t algs;                 /* 0: unset */
    const unsigned char *hmac;          /* HS* secret; NULL: unset */
    apr_size_t hmac_len;
    agw_jwks_t *hmac_jwks;              /* built once from hmac */
    apr_int64_t leeway;
    apr_array_header_t *sources;        /* agw_token_src_t; NULL: unset */
    agw_claim_path_t *scope_claim;
    agw_claim_path_t *roles_claim;
    agw_claim_path_t *user_claim;
    apr_array_header_t *claim_headers;  /* agw_claim_copy_t; added to the parent's */
    apr_array_header_t *claim_envs;     /* agw_claim_copy_t; added to the parent's */
    apr_int64_t refresh;
    apr_int64_t cooldown;
    apr_int64_t max_stale;
    const char *ca_file;
    int insecure_http;
} agw_dir_conf_t;

typedef struct agw_srv_conf_t {
    int unused;
} agw_srv_conf_t;

/* What check_authn learned, for the authz providers and later phases of one request. */
typedef struct agw_req_t {
    json_t *claims;
    const char *fingerprint;
    const agw_dir_conf_t *conf;
} agw_req_t;

/* config.c */
extern const command_rec agw_cmds[];
void *agw_dir_create(apr_pool_t *p, char *dir);
void *agw_dir_merge(apr_pool_t *p, void *basev, void *addv);
int agw_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
/* The effective issuer and key URL (explicit, else from Auth0Domain; NULL key URL: discovery). */
const char *agw_conf_issuer(const agw_dir_conf_t *c);
const char *agw_conf_jwks(const agw_dir_conf_t *c);
apr_int64_t agw_conf_get(apr_int64_t v, apr_int64_t dflt);
/* Why this merged configuration cannot run, or NULL. For .htaccess, checked per request. */
const char *agw_conf_incomplete(apr_pool_t *p, const agw_dir_conf_t *c);

/* authn.c */
void agw_authn_register_hooks(apr_pool_t *p);
agw_req_t *agw_req_get(request_rec *r);
void agw_child_init(apr_pool_t *pchild, server_rec *s);

/* authz.c */
void agw_authz_register_hooks(apr_pool_t *p);

#endif
