/* DPoP proofs (RFC 9449) verified against the request, and a token's cnf checked against the proof's key or the TLS client certificate (RFC 8705). */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_base64.h>
#include "agw_b64.h"
#include "agw_json.h"
#include "agw_jwk.h"
#include "agw_jws.h"
#include "agw_jwt.h"
#include "agw_dpop.h"

static const agw_alg_e dpop_alg_list[] = {
    AGW_ALG_ES256, AGW_ALG_ES384, AGW_ALG_ES512, AGW_ALG_RS256, AGW_ALG_RS384, AGW_ALG_RS512,
    AGW_ALG_PS256, AGW_ALG_PS384, AGW_ALG_PS512, AGW_ALG_EDDSA,
};
#define DPOP_NALGS (sizeof(dpop_alg_list) / sizeof(dpop_alg_list[0]))

agw_alg_set_t agw_dpop_algs(void)
{
    agw_alg_set_t set = 0;
    apr_size_t i;

    for (i = 0; i < DPOP_NALGS; i++)
        set |= AGW_ALG_BIT(dpop_alg_list[i]);
    return set;
}

const char *agw_dpop_alg_names(apr_pool_t *p)
{
    const char *out = "";
    apr_size_t i;

    for (i = 0; i < DPOP_NALGS; i++)
        out = apr_pstrcat(p, out, i ? " " : "", agw_alg_name(dpop_alg_list[i]), NULL);
    return out;
}

static apr_status_t dpop_refuse(agw_err_t *err, const char *reason)
{
    apr_status_t rv = agw_err_refuse(err, AGW_R_DPOP, reason);
    if (err)
        err->code = AGW_E_INVALID_DPOP_PROOF;
    return rv;
}

static apr_status_t bind_refuse(agw_err_t *err, const char *reason)
{
    return agw_err_refuse(err, AGW_R_BINDING, reason);
}

/* ---- htu ------------------------------------------------------------------------------------ */

typedef struct {
    const char *scheme, *host, *path;   /* scheme and host lower-cased; path "/" when empty */
    int port;
} dpop_url_t;

/* scheme://host[:port][/path]; 0 for anything else (query, fragment, userinfo included). */
static int dpop_url_parse(dpop_url_t *u, apr_pool_t *p, const char *url)
{
    const char *sep = strstr(url, "://"), *auth, *end, *colon;
    char *s;

    if (!sep || strpbrk(url, "?#"))
        return 0;
    u->scheme = s = apr_pstrmemdup(p, url, (apr_size_t)(sep - url));
    for (; *s; s++)
        *s = (char)apr_tolower(*s);
    if (strcmp(u->scheme, "https") && strcmp(u->scheme, "http"))
        return 0;
    auth = sep + 3;
    end = auth + strcspn(auth, "/");
    if (end == auth || memchr(auth, '@', (apr_size_t)(end - auth)))
        return 0;
    /* the last colon outside an IPv6 literal's brackets starts the port */
    colon = NULL;
    for (s = (char *)auth; s < end; s++)
        if (*s == ':')
            colon = s;
        else if (*s == ']')
            colon = NULL;
    u->port = strcmp(u->scheme, "https") ? 80 : 443;
    if (colon && colon + 1 < end) {
        const char *d;
        int port = 0;
        for (d = colon + 1; d < end; d++) {
            if (*d < '0' || *d > '9' || port > 65535)
                return 0;
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535)
            return 0;
        u->port = port;
    }
    else if (colon)
        return 0;
    u->host = s = apr_pstrmemdup(p, auth, (apr_size_t)((colon ? colon : end) - auth));
    for (; *s; s++)
        *s = (char)apr_tolower(*s);
    u->path = *end ? end : "/";
    return *u->host != '\0';
}

int agw_dpop_htu_match(const char *htu, const char *url)
{
    dpop_url_t a, b;
    apr_pool_t *p;
    int same;

    if (!htu || !url || apr_pool_create(&p, NULL) != APR_SUCCESS)
        return 0;
    same = dpop_url_parse(&a, p, htu) && dpop_url_parse(&b, p, url)
           && !strcmp(a.scheme, b.scheme) && !strcmp(a.host, b.host) && a.port == b.port
           && !strcmp(a.path, b.path);
    apr_pool_destroy(p);
    return same;
}

/* ---- the proof ------------------------------------------------------------------------------- */

/* The header's jwk as a verification key: public members only. */
static apr_status_t dpop_jwk(agw_jwk_t **pjwk, apr_pool_t *p, const agw_jws_t *jws,
                             agw_pkcache_t *keys, agw_err_t *err)
{
    static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };
    agw_err_t jerr = { NULL, NULL, AGW_R_NONE };
    json_t *obj = json_object_get(jws->header, "jwk");
    agw_jwk_t *jwk = NULL;
    apr_size_t i;

    if (!obj)
        return dpop_refuse(err, "DPoP proof jwk missing");
    if (!json_is_object(obj))
        return dpop_refuse(err, "DPoP proof jwk is not an object");
    for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (json_object_get(obj, private_members[i]))
            return dpop_refuse(err, "DPoP proof jwk holds a private key");
    /* after the private members' refusal: a cached key never stands in for a refused object */
    if (agw_pkcache_jwk(&jwk, keys, p, obj, &jerr) != APR_SUCCESS)
        return dpop_refuse(err, apr_pstrcat(p, "DPoP proof jwk: ", jerr.reason, NULL));
    /* the proof names its key by value: a kid or x5t in it selects nothing */
    jwk->kid = NULL;
    jwk->x5t = NULL;
    *pjwk = jwk;
    return APR_SUCCESS;
}

/* Decoding, typ, alg, jwk and signature: the proof's key holds what signed it. */
static apr_status_t dpop_signed(agw_jws_t **pjws, apr_pool_t *p, const char *proof,
                                apr_size_t len, agw_pkcache_t *keys, agw_err_t *err)
{
    agw_err_t jerr = { NULL, NULL, AGW_R_NONE };
    agw_jwks_t set;
    agw_jwk_t *jwk = NULL;
    agw_jws_t *jws = NULL;

    if (!proof || len == 0)
        return dpop_refuse(err, "DPoP proof empty");
    if (len > AGW_DPOP_MAX_BYTES)
        return dpop_refuse(err, "DPoP proof too large");
    if (agw_jws_decode_header(&jws, p, proof, len, AGW_DPOP_MAX_BYTES, &jerr) != APR_SUCCESS)
        return dpop_refuse(err, apr_pstrcat(p, "DPoP proof ", jerr.reason, NULL));
    if (!jws->typ || strcmp(jws->typ, "dpop+jwt") != 0)
        return dpop_refuse(err, "DPoP proof typ is not dpop+jwt");
    if (!(agw_dpop_algs() & AGW_ALG_BIT(jws->alg)))
        return dpop_refuse(err, "DPoP proof alg not allowed");
    if (dpop_jwk(&jwk, p, jws, keys, err) != APR_SUCCESS)
        return APR_EINVAL;
    set.keys = apr_array_make(p, 1, sizeof(agw_jwk_t *));
    set.skipped = NULL;
    APR_ARRAY_PUSH(set.keys, agw_jwk_t *) = jwk;
    jws->kid = NULL;
    jws->x5t = NULL;
    if (agw_jws_verify(jws, &set, agw_dpop_algs(), &jerr) != APR_SUCCESS)
        return dpop_refuse(err, apr_pstrcat(p, "DPoP proof ", jerr.reason, NULL));
    if (agw_jws_claims(jws, p, &jerr) != APR_SUCCESS)
        return dpop_refuse(err, apr_pstrcat(p, "DPoP proof ", jerr.reason, NULL));
    *pjws = jws;
    return APR_SUCCESS;
}

/* ath: base64url(SHA-256(token)), compared in constant time. */
static apr_status_t dpop_ath(const json_t *claims, const agw_dpop_req_t *req, apr_pool_t *p,
                             agw_err_t *err)
{
    const char *ath = agw_json_str(claims, "ath"), *want;
    unsigned char h[32];

    if (!ath)
        return dpop_refuse(err, json_object_get(claims, "ath") ? "DPoP proof ath is not a string"
                                                               : "DPoP proof ath missing");
    if (agw_crypt_sha256(h, req->token, req->token_len) != APR_SUCCESS)
        return dpop_refuse(err, "DPoP proof ath cannot be checked (hash failed)");
    want = agw_b64url_encode(p, h, sizeof(h));
    if (strlen(ath) != strlen(want) || !agw_crypt_memeq(ath, want, strlen(want)))
        return dpop_refuse(err, "DPoP proof ath does not match the token");
    return APR_SUCCESS;
}

/* The payload against the request: htm, htu, iat, jti, ath. */
static apr_status_t dpop_claims(agw_dpop_t *out, const json_t *claims,
                                const agw_dpop_req_t *req, apr_pool_t *p, agw_err_t *err)
{
    const char *htm = agw_json_str(claims, "htm"), *htu = agw_json_str(claims, "htu");
    apr_int64_t window = req->window > 0 ? req->window : AGW_DPOP_WINDOW;
    apr_int64_t leeway = req->leeway > 0 ? req->leeway : 0;
    json_t *iat = json_object_get(claims, "iat");

    if (!htm || !req->method || strcmp(htm, req->method) != 0)
        return dpop_refuse(err, htm ? "DPoP proof htm does not match the request"
                                    : "DPoP proof htm missing");
    if (!htu || !agw_dpop_htu_match(htu, req->url))
        return dpop_refuse(err, htu ? "DPoP proof htu does not match the request"
                                    : "DPoP proof htu missing");
    if (!iat)
        return dpop_refuse(err, "DPoP proof iat missing");
    if (agw_jwt_time(&out->iat, iat) != APR_SUCCESS)
        return dpop_refuse(err, "DPoP proof iat is not a number");
    if (out->iat > req->now + leeway)
        return dpop_refuse(err, "DPoP proof iat is in the future");
    if (req->now - out->iat > window + leeway)
        return dpop_refuse(err, "DPoP proof is too old");
    out->replay_until = out->iat + window + leeway + 1;
    out->nonce = agw_json_str(claims, "nonce");
    out->jti = agw_json_str(claims, "jti");
    if (!out->jti || !*out->jti)
        return dpop_refuse(err, "DPoP proof jti missing");
    if (strlen(out->jti) > AGW_DPOP_JTI_MAX)
        return dpop_refuse(err, "DPoP proof jti too long");
    if (req->token)
        return dpop_ath(claims, req, p, err);
    return APR_SUCCESS;
}

apr_status_t agw_dpop_verify(agw_dpop_t **pproof, apr_pool_t *p, const char *proof,
                             apr_size_t len, const agw_dpop_req_t *req, agw_err_t *err)
{
    agw_dpop_t *out;
    agw_jws_t *jws = NULL;

    *pproof = NULL;
    if (dpop_signed(&jws, p, proof, len, req->keys, err) != APR_SUCCESS)
        return APR_EINVAL;
    out = apr_pcalloc(p, sizeof(*out));
    if (dpop_claims(out, jws->payload, req, p, err) != APR_SUCCESS)
        return APR_EINVAL;
    memcpy(out->jkt, jws->key->thumbprint, sizeof(out->jkt));
    out->alg = jws->alg;
    *pproof = out;
    return APR_SUCCESS;
}

const char *agw_dpop_replay_key(apr_pool_t *p, const agw_dpop_t *proof)
{
    static const char hexd[] = "0123456789abcdef";
    apr_size_t jlen = strlen(proof->jti), i;
    unsigned char *buf = apr_palloc(p, sizeof(proof->jkt) + jlen), h[32];
    char *out = apr_palloc(p, sizeof("dpop-jti:") + 64), *o;

    memcpy(buf, proof->jkt, sizeof(proof->jkt));
    memcpy(buf + sizeof(proof->jkt), proof->jti, jlen);
    if (agw_crypt_sha256(h, buf, sizeof(proof->jkt) + jlen) != APR_SUCCESS)
        return NULL;
    strcpy(out, "dpop-jti:");
    o = out + strlen(out);
    for (i = 0; i < sizeof(h); i++) {
        *o++ = hexd[h[i] >> 4];
        *o++ = hexd[h[i] & 15];
    }
    *o = '\0';
    return out;
}

/* ---- cnf --------------------------------------------------------------------------------------- */

apr_status_t agw_cnf_read(agw_cnf_t *cnf, const json_t *claims, agw_err_t *err)
{
    json_t *c = json_object_get(claims, "cnf"), *v;

    cnf->jkt = cnf->x5t_s256 = NULL;
    if (!c)
        return APR_SUCCESS;
    if (!json_is_object(c))
        return bind_refuse(err, "cnf is not an object");
    if ((v = json_object_get(c, "jkt")) && !(cnf->jkt = json_string_value(v)))
        return bind_refuse(err, "cnf.jkt is not a string");
    if ((v = json_object_get(c, "x5t#S256")) && !(cnf->x5t_s256 = json_string_value(v)))
        return bind_refuse(err, "cnf x5t#S256 is not a string");
    return APR_SUCCESS;
}

/* A base64url SHA-256 thumbprint against 32 bytes, in constant time for the bytes. */
static int same_thumbprint(const char *b64, const unsigned char want[32], apr_pool_t *p)
{
    unsigned char *got;
    apr_size_t len;

    if (!b64 || agw_b64url_decode(&got, &len, p, b64, strlen(b64)) != APR_SUCCESS
        || len != 32)
        return 0;
    return agw_crypt_memeq(got, want, 32);
}

apr_status_t agw_cnf_jkt_check(const char *jkt, const agw_dpop_t *proof, agw_err_t *err)
{
    apr_pool_t *p;
    int same;

    if (!proof || apr_pool_create(&p, NULL) != APR_SUCCESS)
        return bind_refuse(err, "token is bound to another DPoP key");
    same = same_thumbprint(jkt, proof->jkt, p);
    apr_pool_destroy(p);
    return same ? APR_SUCCESS : bind_refuse(err, "token is bound to another DPoP key");
}

/* The DER of the first certificate in PEM text (the body between its BEGIN and END lines). */
static unsigned char *pem_der(apr_size_t *plen, apr_pool_t *p, const char *pem)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    const char *b = strstr(pem, begin), *e;
    char *body, *o;
    unsigned char *der;
    const char *c;
    int n;

    if (!b || !(e = strstr(b, end)))
        return NULL;
    b += sizeof(begin) - 1;
    body = o = apr_palloc(p, (apr_size_t)(e - b) + 1);
    for (c = b; c < e; c++) {
        if (*c == '\r' || *c == '\n' || *c == ' ' || *c == '\t')
            continue;
        if (!apr_isalnum(*c) && *c != '+' && *c != '/' && *c != '=')
            return NULL;
        *o++ = *c;
    }
    *o = '\0';
    if (o == body)
        return NULL;
    der = apr_palloc(p, (apr_size_t)apr_base64_decode_len(body));
    n = apr_base64_decode_binary(der, body);
    if (n <= 0)
        return NULL;
    *plen = (apr_size_t)n;
    return der;
}

apr_status_t agw_cnf_x5t_check(const char *x5t_s256, const char *cert_pem, apr_pool_t *p,
                               agw_err_t *err)
{
    unsigned char *der, h[32];
    apr_size_t len = 0;

    if (!cert_pem || !*cert_pem)
        return bind_refuse(err, "token is bound to a client certificate and none was presented");
    if (!(der = pem_der(&len, p, cert_pem)) || agw_crypt_sha256(h, der, len) != APR_SUCCESS)
        return bind_refuse(err, "client certificate unreadable");
    if (!same_thumbprint(x5t_s256, h, p))
        return bind_refuse(err, "token is bound to another client certificate");
    return APR_SUCCESS;
}
