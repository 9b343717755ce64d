/* The OAuth2 client-credentials client: token requests, responses, renewal times, backoff, cache records. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>

#include "agw_client.h"
#include "agw_b64.h"
#include "agw_json.h"
#include "agw_util.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* One field of the cache key material: "<length>:<value>;" or "-;" when absent. */
static const char *field(apr_pool_t *p, const char *v)
{
    return v ? apr_psprintf(p, "%" APR_SIZE_T_FMT ":%s;", strlen(v), v) : "-;";
}

/* RFC 6750's b64token characters: a token with anything else (space, quote, CR, LF, control
 * or non-ASCII bytes) could end or split the Authorization header line it is put in. */
static int bearer_chars(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!apr_isalnum(*s) && !strchr("-._~+/=", *s))
            return 0;
    return 1;
}

/* A plain decimal of 1 to 18 digits (no sign, no blanks, no overflow); returns the end or NULL. */
static const char *decimal(apr_int64_t *pv, const char *s)
{
    apr_int64_t v = 0;
    int n = 0;

    while (apr_isdigit(*s)) {
        if (++n > 18)
            return NULL;
        v = v * 10 + (*s++ - '0');
    }
    if (n == 0)
        return NULL;
    *pv = v;
    return s;
}

const char *agw_client_finish(agw_client_t *c, apr_pool_t *p)
{
    unsigned char md[32];
    const char *material;
    int i;

    if (!c->token_url)
        return "no token URL: set Auth0TokenURL, or Auth0Domain for Auth0's /oauth/token";
    if (!c->client_id)
        return "Auth0ClientID is missing";
    if (!c->auth)
        c->auth = AGW_CLIENT_AUTH_POST;
    if ((c->auth == AGW_CLIENT_AUTH_POST || c->auth == AGW_CLIENT_AUTH_BASIC) && !c->secret)
        return "Auth0ClientSecret is missing (file:PATH or env:VAR)";
    if (c->auth == AGW_CLIENT_AUTH_PKJWT && !c->sign_key)
        return "private_key_jwt needs Auth0ClientKey file:PATH (a PEM private key)";
    if (c->auth == AGW_CLIENT_AUTH_PKJWT && c->sign_alg == AGW_ALG_NONE)
        c->sign_alg = agw_privkey_default_alg(c->sign_key);
    if (c->renew_percent <= 0)
        c->renew_percent = 80;
    /* each field length-prefixed ("-" when absent), so that no value can shift into the next
     * and an absent field differs from an empty one */
    material = apr_pstrcat(p, field(p, c->token_url), field(p, c->client_id),
                           field(p, c->audience), field(p, c->scope), NULL);
    /* the credential is part of the key: a block with another (or a wrong) secret must never
     * be handed a token that its own credential did not obtain */
    if (agw_crypt_sha256(md, c->secret ? c->secret : "", c->secret ? strlen(c->secret) : 0)
        != APR_SUCCESS)
        return "cannot hash the client's credential (libcrypto failed)";
    material = apr_pstrcat(p, material, field(p, apr_itoa(p, (int)c->auth)),
                           field(p, agw_b64url_encode(p, md, sizeof(md))),
                           field(p, c->sign_kid), NULL);
    for (i = 0; c->params && i + 1 < c->params->nelts; i += 2)
        material = apr_pstrcat(p, material, field(p, APR_ARRAY_IDX(c->params, i, const char *)),
                               field(p, APR_ARRAY_IDX(c->params, i + 1, const char *)), NULL);
    /* a DPoP-bound token works only with its key: another key (or none) is another token;
     * appended only with a key, so that a Bearer client's key stays what it was */
    if (c->dpop_key)
        material = apr_pstrcat(p, material, "dpop:", field(p, agw_dpopsign_jkt(c->dpop_key)),
                               NULL);
    if (agw_crypt_sha256(md, material, strlen(material)) != APR_SUCCESS)
        return "cannot hash the client's settings (libcrypto failed)";
    c->cache_key = apr_pstrcat(p, "cc:", agw_b64url_encode(p, md, sizeof(md)), NULL);
    return NULL;
}

static apr_status_t assertion(const char **pjwt, apr_pool_t *p, const agw_client_t *c,
                              apr_int64_t now, agw_err_t *err)
{
    json_t *hdr = agw_json_own(p, json_object()), *claims = agw_json_own(p, json_object());
    unsigned char jti[16], *sig;
    apr_size_t siglen;
    char *h, *b, *input;
    apr_status_t rv;

    if ((rv = agw_sign_random(jti, sizeof(jti))) != APR_SUCCESS) {
        agw_err_set(err, NULL, "no random bytes for the assertion jti");
        return rv;
    }
    json_object_set_new(hdr, "alg", json_string(agw_alg_name(c->sign_alg)));
    json_object_set_new(hdr, "typ", json_string("JWT"));
    if (c->sign_kid)
        json_object_set_new(hdr, "kid", json_string(c->sign_kid));
    json_object_set_new(claims, "iss", json_string(c->client_id));
    json_object_set_new(claims, "sub", json_string(c->client_id));
    json_object_set_new(claims, "aud", json_string(c->token_url));
    json_object_set_new(claims, "jti", json_string(agw_b64url_encode(p, jti, sizeof(jti))));
    json_object_set_new(claims, "iat", json_integer((json_int_t)now));
    json_object_set_new(claims, "exp", json_integer((json_int_t)now + 60));
    h = json_dumps(hdr, JSON_COMPACT);
    b = json_dumps(claims, JSON_COMPACT);
    if (!h || !b) {
        free(h);
        free(b);
        agw_err_set(err, NULL, "cannot serialise the assertion");
        return APR_ENOMEM;
    }
    input = apr_pstrcat(p, agw_b64url_encode(p, (unsigned char *)h, strlen(h)), ".",
                        agw_b64url_encode(p, (unsigned char *)b, strlen(b)), NULL);
    free(h);
    free(b);
    if ((rv = agw_sign(&sig, &siglen, p, c->sign_alg, c->sign_key,
                             (unsigned char *)input, strlen(input), err)) != APR_SUCCESS)
        return rv;
    *pjwt = apr_pstrcat(p, input, ".", agw_b64url_encode(p, sig, siglen), NULL);
    return APR_SUCCESS;
}

apr_status_t agw_client_form(apr_table_t **pform, apr_pool_t *p, const agw_client_t *c,
                             apr_int64_t now, agw_err_t *err)
{
    apr_table_t *form = apr_table_make(p, 8);
    apr_status_t rv;
    int i;

    /* extra parameters first, so that none can replace the ones the grant needs */
    for (i = 0; c->params && i + 1 < c->params->nelts; i += 2)
        apr_table_set(form, APR_ARRAY_IDX(c->params, i, const char *),
                      APR_ARRAY_IDX(c->params, i + 1, const char *));
    apr_table_setn(form, "grant_type", "client_credentials");
    if (c->audience)
        apr_table_setn(form, "audience", c->audience);
    else
        apr_table_unset(form, "audience");
    if (c->scope)
        apr_table_setn(form, "scope", c->scope);
    else
        apr_table_unset(form, "scope");
    apr_table_unset(form, "client_secret");
    apr_table_unset(form, "client_assertion");
    apr_table_unset(form, "client_assertion_type");
    switch (c->auth) {
    case AGW_CLIENT_AUTH_BASIC:
        apr_table_unset(form, "client_id");
        break;
    case AGW_CLIENT_AUTH_PKJWT: {
        const char *jwt;
        if ((rv = assertion(&jwt, p, c, now, err)) != APR_SUCCESS)
            return rv;
        apr_table_setn(form, "client_id", c->client_id);
        apr_table_setn(form, "client_assertion_type", ASSERTION_TYPE);
        apr_table_setn(form, "client_assertion", jwt);
        break;
    }
    default:
        apr_table_setn(form, "client_id", c->client_id);
        apr_table_setn(form, "client_secret", c->secret);
        break;
    }
    *pform = form;
    return APR_SUCCESS;
}

/* A value from the endpoint made fit for a log line: printable ASCII, bounded. */
static const char *printable(apr_pool_t *p, const char *s, apr_size_t max)
{
    return agw_text_log(p, s, max, 0);
}

apr_status_t agw_client_parse(agw_cc_token_t *tok, apr_pool_t *p, long status,
                              const char *body, apr_size_t len, apr_int64_t now,
                              agw_err_t *err)
{
    return agw_client_parse_as(tok, p, status, body, len, now, 0, err);
}

/* token_type: Bearer (or none, as some servers send) for a Bearer client, exactly DPoP
 * (case-insensitive) for a DPoP client; NULL or why not. */
static const char *token_type_refused(const char *type, int dpop)
{
    if (!dpop)
        return type && strcasecmp(type, "Bearer") != 0
                   ? "token response has a token_type other than Bearer" : NULL;
    if (type && !strcasecmp(type, "DPoP"))
        return NULL;
    if (!type || !strcasecmp(type, "Bearer"))
        return "token endpoint did not bind the token to the DPoP key (token_type Bearer or "
               "none): it is not used; check that the server supports DPoP for this client";
    return "token response has a token_type other than DPoP";
}

apr_status_t agw_client_parse_as(agw_cc_token_t *tok, apr_pool_t *p, long status,
                                 const char *body, apr_size_t len, apr_int64_t now, int dpop,
                                 agw_err_t *err)
{
    json_t *doc = NULL, *exp;
    const char *at, *type, *e, *ed;
    agw_err_t jerr = { NULL, NULL, AGW_R_NONE };
    apr_int64_t life_s;
    double lifetime;

    if (agw_json_parse(&doc, p, body, len, AGW_JSON_MAX_DEPTH, &jerr) != APR_SUCCESS
        || !json_is_object(doc))
        doc = NULL;
    if (status != 200 || !doc) {
        e = doc ? printable(p, agw_json_str(doc, "error"), 64) : NULL;
        ed = doc ? printable(p, agw_json_str(doc, "error_description"), 160) : NULL;
        agw_err_set(err, NULL, apr_psprintf(p, "token endpoint answered HTTP %ld%s%s%s%s",
                                            status, e ? ", error " : "", e ? e : "",
                                            ed ? ": " : "", ed ? ed : ""));
        if (status == 200)
            agw_err_set(err, NULL, "token endpoint answered 200 without a JSON object");
        return APR_EGENERAL;
    }
    if ((e = agw_json_str(doc, "error"))) {
        ed = agw_json_str(doc, "error_description");
        agw_err_set(err, NULL, apr_psprintf(p, "token endpoint error %s%s%s", printable(p, e, 64),
                                            ed ? ": " : "", ed ? printable(p, ed, 160) : ""));
        return APR_EGENERAL;
    }
    at = agw_json_str(doc, "access_token");
    if (!at || strlen(at) > AGW_CC_MAX_TOKEN || !bearer_chars(at)) {
        agw_err_set(err, NULL, "token response has no usable access_token");
        return APR_EGENERAL;
    }
    exp = json_object_get(doc, "expires_in");
    lifetime = json_is_number(exp) ? json_number_value(exp) : -1;
    if (json_is_string(exp)) {  /* some servers send "3600" */
        const char *end = decimal(&life_s, json_string_value(exp));
        lifetime = end && !*end ? (double)life_s : -1;
    }
    if (!(lifetime >= 1 && lifetime <= (double)AGW_CC_MAX_LIFETIME)) {
        agw_err_set(err, NULL, "token response has no usable expires_in");
        return APR_EGENERAL;
    }
    type = agw_json_str(doc, "token_type");
    if ((e = token_type_refused(type, dpop))) {
        agw_err_set(err, NULL, e);
        return APR_EGENERAL;
    }
    tok->dpop = dpop;
    tok->access_token = apr_pstrdup(p, at);
    tok->obtained_at = now;
    tok->expires_at = now + (apr_int64_t)lifetime;
    return APR_SUCCESS;
}

/* RFC 9449 section 8: the server wants a nonce in the proof; 1 when resp says so with one
 * we can use. */
static int wants_nonce(apr_pool_t *p, const agw_http_resp_t *resp)
{
    json_t *doc = NULL;
    agw_err_t jerr = { NULL, NULL, AGW_R_NONE };
    const char *e;

    if (resp->status != 400 || !agw_dpopsign_nonce_ok(resp->dpop_nonce)
        || agw_json_parse(&doc, p, resp->body, resp->len, AGW_JSON_MAX_DEPTH, &jerr)
           != APR_SUCCESS)
        return 0;
    e = json_is_object(doc) ? agw_json_str(doc, "error") : NULL;
    return e && !strcmp(e, "use_dpop_nonce");
}

/* One token request; with a DPoP key, with a fresh proof (and the server's nonce, if any). */
static apr_status_t post_once(agw_http_resp_t **presp, apr_pool_t *p, const agw_client_t *c,
                              apr_int64_t now, const char *nonce, agw_err_t *err)
{
    const char *proof = NULL;
    apr_table_t *form;
    apr_status_t rv;

    if ((rv = agw_client_form(&form, p, c, now, err)) != APR_SUCCESS)
        return rv;
    if (c->dpop_key
        && (rv = agw_dpopsign_proof(&proof, p, c->dpop_key, "POST", c->token_url, NULL, nonce,
                                    now, err)) != APR_SUCCESS)
        return rv;
    return agw_http_post_form_hdr(presp, p, c->token_url, form,
                                  c->auth == AGW_CLIENT_AUTH_BASIC ? c->client_id : NULL,
                                  c->auth == AGW_CLIENT_AUTH_BASIC ? c->secret : NULL,
                                  proof ? apr_pstrcat(p, "DPoP: ", proof, NULL) : NULL,
                                  &c->http, err);
}

apr_status_t agw_client_fetch(agw_cc_token_t *tok, apr_pool_t *p, const agw_client_t *c,
                              apr_int64_t now, agw_err_t *err)
{
    agw_http_resp_t *resp;
    apr_status_t rv;

    if ((rv = post_once(&resp, p, c, now, NULL, err)) != APR_SUCCESS)
        return rv;
    /* once only: a server that wants yet another nonce fails like any 400 */
    if (c->dpop_key && wants_nonce(p, resp)
        && (rv = post_once(&resp, p, c, now, resp->dpop_nonce, err)) != APR_SUCCESS)
        return rv;
    return agw_client_parse_as(tok, p, resp->status, resp->body, resp->len, now,
                               c->dpop_key != NULL, err);
}

apr_int64_t agw_client_renew_at(const agw_client_t *c, const agw_cc_token_t *tok)
{
    apr_int64_t life = tok->expires_at - tok->obtained_at;
    int pct = c->renew_percent > 0 && c->renew_percent <= 100 ? c->renew_percent : 80;
    return tok->obtained_at + life * pct / 100;
}

apr_int64_t agw_client_backoff(unsigned int failures)
{
    if (failures == 0)
        return 0;
    if (failures >= 6)
        return 60;
    return (apr_int64_t)1 << failures;
}

char *agw_cc_token_encode(apr_pool_t *p, const agw_cc_token_t *tok, apr_size_t *plen)
{
    char *s = apr_psprintf(p, "%s %" APR_INT64_T_FMT " %" APR_INT64_T_FMT " %s%s",
                           tok->dpop ? "2" : "1", tok->obtained_at, tok->expires_at,
                           tok->dpop ? "DPoP " : "", tok->access_token);
    *plen = strlen(s);
    return s;
}

apr_status_t agw_cc_token_decode(agw_cc_token_t *tok, apr_pool_t *p, const char *data,
                                 apr_size_t len, apr_int64_t now)
{
    const char *s, *at;
    apr_int64_t got, exp;
    int dpop;

    /* the record comes from a shared cache: read it as hostile */
    if (len < 7 || len > AGW_CC_MAX_TOKEN + 64 || memchr(data, '\0', len))
        return APR_EINVAL;
    s = apr_pstrmemdup(p, data, len);
    dpop = strncmp(s, "2 ", 2) == 0;
    if ((strncmp(s, "1 ", 2) != 0 && !dpop) || !(at = decimal(&got, s + 2)) || *at != ' '
        || !(at = decimal(&exp, at + 1)) || *at != ' ')
        return APR_EINVAL;
    at++;
    if (dpop && strncmp(at, "DPoP ", 5) != 0)
        return APR_EINVAL;
    at += dpop ? 5 : 0;
    if (exp <= got || strlen(at) > AGW_CC_MAX_TOKEN || !bearer_chars(at))
        return APR_EINVAL;
    /* times as a token endpoint could have given them: obtained no later than now (give or
     * take the clock skew between hosts), not yet expired, a lifetime parse would accept */
    if (got > now + AGW_CC_CLOCK_SKEW || exp <= now || exp - got > AGW_CC_MAX_LIFETIME)
        return APR_EINVAL;
    tok->obtained_at = got;
    tok->expires_at = exp;
    tok->access_token = at;
    tok->dpop = dpop;
    return APR_SUCCESS;
}
