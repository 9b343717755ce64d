/* Compact JWS: strict decoding of the three segments, then key selection and signature verify. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include "agw_b64.h"
#include "agw_json.h"
#include "agw_hot.h"
#include "agw_jws.h"

/* Parses one decoded JSON segment; a failure's reason names the segment ("header JSON: ..."). */
static apr_status_t jws_json(json_t **pjson, apr_pool_t *p, const unsigned char *raw,
                             apr_size_t rawlen, const char *what, agw_err_t *err)
{
    agw_err_t jerr = { NULL, NULL, AGW_R_NONE };

    *pjson = NULL;
    if (agw_json_parse(pjson, p, (const char *)raw, rawlen, AGW_JSON_MAX_DEPTH, &jerr)
        != APR_SUCCESS)
        return agw_err_refuse(err, AGW_R_MALFORMED, apr_pstrcat(p, what, " ", jerr.reason, NULL));
    if (!json_is_object(*pjson)) {
        *pjson = NULL;          /* the pool still owns it; a caller must not take it as parsed */
        return agw_err_refuse(err, AGW_R_MALFORMED,
                              apr_pstrcat(p, what, " is not a JSON object", NULL));
    }
    return APR_SUCCESS;
}

/* An optional header member that must be a string when present: 0 when it is not. */
static int jws_opt_string(const char **pval, const json_t *hdr, const char *name)
{
    json_t *v = json_object_get(hdr, name);

    *pval = NULL;
    if (!v)
        return 1;
    if (!json_is_string(v))
        return 0;
    *pval = json_string_value(v);
    return 1;
}

/* The three segments of a compact JWS: a new jws with its signing input set, and the dots. */
AGW_HOT static apr_status_t jws_split(agw_jws_t **pjws, const char **pdot1, const char **pdot2,
                              apr_pool_t *p, const char *token, apr_size_t len,
                              apr_size_t max_len, agw_err_t *err)
{
    const char *dot1, *dot2, *end;

    if (!token || len == 0)
        return agw_err_refuse(err, AGW_R_MALFORMED, "token empty");
    if (max_len == 0)
        max_len = AGW_TOKEN_MAX_BYTES;
    if (len > max_len)
        return agw_err_refuse(err, AGW_R_MALFORMED, "token too large");
    end = token + len;
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', (apr_size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (apr_size_t)(end - dot2 - 1)))
        return agw_err_refuse(err, AGW_R_MALFORMED, "token is not three segments");
    if (dot2 + 1 == end)
        return agw_err_refuse(err, AGW_R_MALFORMED, "signature missing");
    *pjws = apr_pcalloc(p, sizeof(**pjws));
    (*pjws)->signing_input = token;
    (*pjws)->signing_input_len = (apr_size_t)(dot2 - token);
    *pdot1 = dot1;
    *pdot2 = dot2;
    return APR_SUCCESS;
}

apr_status_t agw_jws_decode_header(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                                   apr_size_t len, apr_size_t max_len, agw_err_t *err)
{
    const char *dot1, *dot2, *end, *alg;
    unsigned char *raw;
    apr_size_t rawlen;
    agw_jws_t *jws;
    json_t *v;
    apr_status_t rv;

    *pjws = NULL;
    if ((rv = jws_split(&jws, &dot1, &dot2, p, token, len, max_len, err)) != APR_SUCCESS)
        return rv;
    end = token + len;
    if (agw_b64url_decode(&jws->sig, &jws->sig_len, p, dot2 + 1, (apr_size_t)(end - dot2 - 1))
        != APR_SUCCESS)
        return agw_err_refuse(err, AGW_R_MALFORMED, "signature is not base64url");

    if (agw_b64url_decode(&raw, &rawlen, p, token, (apr_size_t)(dot1 - token)) != APR_SUCCESS)
        return agw_err_refuse(err, AGW_R_MALFORMED, "header is not base64url");
    if ((rv = jws_json(&jws->header, p, raw, rawlen, "header", err)) != APR_SUCCESS)
        return rv;
    v = json_object_get(jws->header, "alg");
    if (!v)
        return agw_err_refuse(err, AGW_R_MALFORMED, "alg missing");
    if (!json_is_string(v))
        return agw_err_refuse(err, AGW_R_MALFORMED, "alg is not a string");
    alg = json_string_value(v);
    if (strcasecmp(alg, "none") == 0)
        return agw_err_refuse(err, AGW_R_ALG, "alg none refused");
    if ((jws->alg = agw_alg_from_name(alg, json_string_length(v))) == AGW_ALG_NONE)
        return agw_err_refuse(err, AGW_R_ALG, "alg unknown");
    /* RFC 7515 4.1.11: a recipient that does not understand a listed extension must reject;
     * we implement none, so any "crit" at all is refused. */
    if (json_object_get(jws->header, "crit"))
        return agw_err_refuse(err, AGW_R_MALFORMED, "crit not supported");
    if (!jws_opt_string(&jws->kid, jws->header, "kid"))
        return agw_err_refuse(err, AGW_R_MALFORMED, "kid is not a string");
    if (!jws_opt_string(&jws->x5t, jws->header, "x5t"))
        return agw_err_refuse(err, AGW_R_MALFORMED, "x5t is not a string");
    if (!jws_opt_string(&jws->typ, jws->header, "typ"))
        return agw_err_refuse(err, AGW_R_MALFORMED, "typ is not a string");
    /* jwk, jku, x5u and x5c are ignored on purpose: keys come only from the configured set. */

    if (agw_b64url_decode(&jws->payload_raw, &jws->payload_raw_len, p, dot1 + 1,
                          (apr_size_t)(dot2 - dot1 - 1)) != APR_SUCCESS)
        return agw_err_refuse(err, AGW_R_MALFORMED, "payload is not base64url");
    *pjws = jws;
    return APR_SUCCESS;
}

AGW_HOT apr_status_t agw_jws_decode_verified(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                                     apr_size_t len, agw_alg_e alg, const char *kid,
                                     agw_err_t *err)
{
    const char *dot1, *dot2;
    agw_jws_t *jws;
    apr_status_t rv;

    *pjws = NULL;
    if ((rv = jws_split(&jws, &dot1, &dot2, p, token, len, 0, err)) != APR_SUCCESS)
        return rv;
    jws->payload_b64 = dot1 + 1;
    jws->payload_b64_len = (apr_size_t)(dot2 - dot1 - 1);
    jws->alg = alg;
    jws->kid = kid;
    *pjws = jws;
    return APR_SUCCESS;
}

apr_status_t agw_jws_claims(agw_jws_t *jws, apr_pool_t *p, agw_err_t *err)
{
    if (!jws)
        return agw_err_refuse(err, AGW_R_MALFORMED, "token missing");
    if (jws->payload)
        return APR_SUCCESS;
    if (!jws->payload_raw && jws->payload_b64
        && agw_b64url_decode(&jws->payload_raw, &jws->payload_raw_len, p, jws->payload_b64,
                             jws->payload_b64_len) != APR_SUCCESS)
        return agw_err_refuse(err, AGW_R_MALFORMED, "payload is not base64url");
    return jws_json(&jws->payload, p, jws->payload_raw, jws->payload_raw_len, "payload", err);
}

apr_status_t agw_jws_decode(agw_jws_t **pjws, apr_pool_t *p, const char *token,
                            apr_size_t len, apr_size_t max_len, agw_err_t *err)
{
    apr_status_t rv = agw_jws_decode_header(pjws, p, token, len, max_len, err);

    if (rv == APR_SUCCESS && (rv = agw_jws_claims(*pjws, p, err)) != APR_SUCCESS)
        *pjws = NULL;
    return rv;
}

/* How far a key got through the filters; the furthest explains a refusal best. */
enum {
    FIT_NONE = -1, FIT_X5T, FIT_KTY, FIT_CURVE, FIT_ALG, FIT_OK
};

static int jws_key_fit(const agw_jws_t *jws, const agw_jwk_t *k)
{
    const char *curve = agw_alg_curve(jws->alg);

    if (jws->x5t && k->x5t && strcmp(jws->x5t, k->x5t) != 0)
        return FIT_X5T;
    if (agw_alg_kty(jws->alg) != k->kty)
        return FIT_KTY;
    if (curve && (!k->crv || strcmp(curve, k->crv) != 0))
        return FIT_CURVE;
    if (jws->alg == AGW_ALG_EDDSA && (!k->crv || strcmp(k->crv, "Ed25519") != 0))
        return FIT_CURVE;
    if (k->alg != AGW_ALG_NONE && k->alg != jws->alg)
        return FIT_ALG;
    return FIT_OK;
}

/* A token's kid selects the keys that carry it; when none does, the keys without a kid (such
 * as the configured shared secret); no kid selects every key. */
static int jws_kid_selects(const agw_jws_t *jws, const agw_jwk_t *k, int kid_known)
{
    if (!jws->kid)
        return 1;
    if (kid_known)
        return k->kid && strcmp(k->kid, jws->kid) == 0;
    return k->kid == NULL;
}

apr_status_t agw_jws_verify(agw_jws_t *jws, const agw_jwks_t *keys, agw_alg_set_t allowed,
                            agw_err_t *err)
{
    static const char *const unfit_reason[] = {
        "x5t does not match key", "key type does not match alg",
        "key curve does not match alg", "key alg does not match token alg",
    };
    /* x5t names another key than the kid's; the others fit the key, not the token's alg */
    static const agw_refusal_e unfit_kind[] = {
        AGW_R_UNKNOWN_KEY, AGW_R_ALG, AGW_R_ALG, AGW_R_ALG,
    };
    agw_err_t fail = { NULL, NULL, AGW_R_NONE };
    int i, n, kid_known = 0, best = FIT_NONE;

    if (!jws)
        return agw_err_refuse(err, AGW_R_MALFORMED, "token missing");
    jws->key = NULL;
    if (jws->alg <= AGW_ALG_NONE || jws->alg >= AGW_ALG_COUNT
        || !(allowed & AGW_ALG_BIT(jws->alg)))
        return agw_err_refuse(err, AGW_R_ALG, "alg not allowed");
    n = (keys && keys->keys) ? keys->keys->nelts : 0;
    for (i = 0; jws->kid && i < n && !kid_known; i++) {
        const agw_jwk_t *k = APR_ARRAY_IDX(keys->keys, i, const agw_jwk_t *);

        kid_known = k->kid && strcmp(k->kid, jws->kid) == 0;
    }

    for (i = 0; i < n; i++) {
        const agw_jwk_t *k = APR_ARRAY_IDX(keys->keys, i, const agw_jwk_t *);
        agw_err_t kerr = { NULL, NULL, AGW_R_NONE };
        int fit;

        if (!jws_kid_selects(jws, k, kid_known))
            continue;
        fit = jws_key_fit(jws, k);
        if (fit != FIT_OK) {
            if (fit > best)
                best = fit;
            continue;
        }
        best = FIT_OK;
        /* HMAC takes only k->secret and the others only k->pkey; agw_crypt_verify refuses
         * any other pairing, so an RSA key's bytes can never become an HMAC secret. */
        if (agw_crypt_verify(jws->alg, k->pkey, k->secret, k->secret_len,
                             (const unsigned char *)jws->signing_input, jws->signing_input_len,
                             jws->sig, jws->sig_len, &kerr) == APR_SUCCESS) {
            jws->key = k;
            return APR_SUCCESS;
        }
        if (!fail.reason)
            fail = kerr;
    }

    if (best == FIT_OK)
        return fail.reason ? agw_err_refuse(err, fail.kind, fail.reason)
                           : agw_err_refuse(err, AGW_R_SIGNATURE, "signature invalid");
    if (best == FIT_NONE) {
        /* No key carries the kid (nor lacks one), or the set is empty: it may be stale. */
        agw_err_refuse(err, AGW_R_UNKNOWN_KEY, "unknown key");
        return APR_NOTFOUND;
    }
    return agw_err_refuse(err, unfit_kind[best], unfit_reason[best]);
}
