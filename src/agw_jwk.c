/* JWK and JWK Set parsing: each published key becomes a verification key or a reason it cannot be one. */
#include <string.h>
#include <apr_strings.h>
#include "agw_b64.h"
#include "agw_json.h"
#include "agw_hot.h"
#include "agw_jwk.h"
#include "agw_util.h"

#define SKIP_KID_MAX 64 /* how much of a kid is quoted in a skip line */

/* A required base64url member, decoded strictly. */
static apr_status_t jwk_bytes(const unsigned char **pout, apr_size_t *plen, apr_pool_t *p,
                              const json_t *jwk, const char *name)
{
    json_t *v = json_object_get(jwk, name);
    unsigned char *out;
    apr_status_t rv;

    *pout = NULL;
    *plen = 0;
    if (!json_is_string(v))
        return APR_EINVAL;
    rv = agw_b64url_decode(&out, plen, p, json_string_value(v), json_string_length(v));
    if (rv == APR_SUCCESS)
        *pout = out;
    return rv;
}

/* An optional member that must be a string when present: 0 bad, 1 fine (*pval may be NULL). */
static int jwk_opt_string(const char **pval, const json_t *jwk, const char *name)
{
    json_t *v = json_object_get(jwk, name);

    *pval = NULL;
    if (!v)
        return 1;
    if (!json_is_string(v))
        return 0;
    *pval = json_string_value(v);
    return 1;
}

static agw_kty_e kty_from_name(const char *kty)
{
    if (!strcmp(kty, "RSA"))
        return AGW_KTY_RSA;
    if (!strcmp(kty, "EC"))
        return AGW_KTY_EC;
    if (!strcmp(kty, "OKP"))
        return AGW_KTY_OKP;
    if (!strcmp(kty, "oct"))
        return AGW_KTY_OCT;
    return AGW_KTY_NONE;
}

/* "key_ops", when present, must be an array of strings that includes "verify". */
static const char *jwk_check_key_ops(const json_t *ops)
{
    size_t i;
    int verify = 0;

    if (!json_is_array(ops))
        return "key_ops is not an array";
    for (i = 0; i < json_array_size(ops); i++) {
        json_t *op = json_array_get(ops, i);

        if (!json_is_string(op))
            return "key_ops is not an array of strings";
        if (!strcmp(json_string_value(op), "verify"))
            verify = 1;
    }
    return verify ? NULL : "key_ops lacks verify";
}

static apr_status_t jwk_import(agw_jwk_t *jwk, apr_pool_t *p, const json_t *obj,
                               agw_err_t *err)
{
    const unsigned char *a, *b;
    apr_size_t alen, blen;
    apr_status_t rv;

    switch (jwk->kty) {
    case AGW_KTY_RSA:
        if (jwk_bytes(&a, &alen, p, obj, "n") != APR_SUCCESS)
            return agw_err_refuse(err, AGW_R_KEY, "RSA n missing or not base64url");
        if (jwk_bytes(&b, &blen, p, obj, "e") != APR_SUCCESS)
            return agw_err_refuse(err, AGW_R_KEY, "RSA e missing or not base64url");
        if ((rv = agw_pkey_rsa(&jwk->pkey, p, a, alen, b, blen, err)) != APR_SUCCESS)
            return rv;
        break;
    case AGW_KTY_EC:
        if (!jwk->crv)
            return agw_err_refuse(err, AGW_R_KEY, "EC crv missing");
        if (jwk_bytes(&a, &alen, p, obj, "x") != APR_SUCCESS)
            return agw_err_refuse(err, AGW_R_KEY, "EC x missing or not base64url");
        if (jwk_bytes(&b, &blen, p, obj, "y") != APR_SUCCESS)
            return agw_err_refuse(err, AGW_R_KEY, "EC y missing or not base64url");
        if ((rv = agw_pkey_ec(&jwk->pkey, p, jwk->crv, a, alen, b, blen, err)) != APR_SUCCESS)
            return rv;
        break;
    case AGW_KTY_OKP:
        if (!jwk->crv)
            return agw_err_refuse(err, AGW_R_KEY, "OKP crv missing");
        if (jwk_bytes(&a, &alen, p, obj, "x") != APR_SUCCESS)
            return agw_err_refuse(err, AGW_R_KEY, "OKP x missing or not base64url");
        if ((rv = agw_pkey_okp(&jwk->pkey, p, jwk->crv, a, alen, err)) != APR_SUCCESS)
            return rv;
        break;
    case AGW_KTY_OCT:
        if (jwk_bytes(&a, &alen, p, obj, "k") != APR_SUCCESS)
            return agw_err_refuse(err, AGW_R_KEY, "oct k missing or not base64url");
        if (alen == 0)
            return agw_err_refuse(err, AGW_R_KEY, "oct k is empty");
        jwk->secret = a;
        jwk->secret_len = alen;
        jwk->bits = (int)(alen > 0x0fffffff ? 0x7ffffff8 : alen * 8);
        return APR_SUCCESS;
    default:
        return agw_err_refuse(err, AGW_R_KEY, "kty not supported");
    }
    jwk->bits = agw_pkey_bits(jwk->pkey);
    return APR_SUCCESS;
}

/* RFC 7638: the required members in lexical order, no whitespace; crv as given (NULL: obj's). */
static const char *thumbprint_text(apr_pool_t *p, agw_kty_e kty, const char *crv,
                                   const json_t *obj)
{
    if (!crv)
        crv = agw_json_str(obj, "crv");
    switch (kty) {
    case AGW_KTY_RSA:
        return apr_psprintf(p, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                            agw_json_str(obj, "e"), agw_json_str(obj, "n"));
    case AGW_KTY_EC:
        return apr_psprintf(p, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                            crv, agw_json_str(obj, "x"), agw_json_str(obj, "y"));
    case AGW_KTY_OKP:
        return apr_psprintf(p, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}", crv,
                            agw_json_str(obj, "x"));
    default:
        return NULL;
    }
}

/* RFC 7638: SHA-256 over the required members. The values were checked as strict base64url
 * (and crv as a known curve) on import, so they need no escaping. */
static apr_status_t jwk_thumbprint(agw_jwk_t *jwk, apr_pool_t *p, const json_t *obj)
{
    const char *text = thumbprint_text(p, jwk->kty, jwk->crv, obj);

    if (!text)
        return agw_crypt_sha256(jwk->thumbprint, jwk->secret, jwk->secret_len);
    return agw_crypt_sha256(jwk->thumbprint, text, strlen(text));
}

/* A required member as written: a non-empty string of base64url characters only. */
static int b64url_member(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    const char *s = json_string_value(v);
    size_t i, n = json_string_length(v);

    if (!s || n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

apr_status_t agw_jwk_thumbprint_of(unsigned char out[32], apr_pool_t *p,
                                   const void *json_object)
{
    static const char *const need[][4] = {
        [AGW_KTY_RSA] = { "e", "n" }, [AGW_KTY_EC] = { "crv", "x", "y" },
        [AGW_KTY_OKP] = { "crv", "x" },
    };
    const json_t *obj = json_object;
    const char *kty = agw_json_str(obj, "kty"), *text;
    agw_kty_e t = kty ? kty_from_name(kty) : AGW_KTY_NONE;
    int i;

    if (t != AGW_KTY_RSA && t != AGW_KTY_EC && t != AGW_KTY_OKP)
        return APR_EINVAL;
    for (i = 0; need[t][i]; i++)
        if (!b64url_member(obj, need[t][i]))
            return APR_EINVAL;
    text = thumbprint_text(p, t, NULL, obj);
    return agw_crypt_sha256(out, text, strlen(text)) == APR_SUCCESS ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t agw_jwk_check(agw_jwk_t *jwk, const void *json_object, agw_err_t *err)
{
    const json_t *obj = json_object;
    const char *kty, *use, *alg_name, *reason;
    json_t *v;

    memset(jwk, 0, sizeof(*jwk));
    if (!json_is_object(obj))
        return agw_err_refuse(err, AGW_R_KEY, "JWK is not an object");

    if (!(v = json_object_get(obj, "kty")))
        return agw_err_refuse(err, AGW_R_KEY, "kty missing");
    if (!json_is_string(v))
        return agw_err_refuse(err, AGW_R_KEY, "kty is not a string");
    kty = json_string_value(v);
    if ((jwk->kty = kty_from_name(kty)) == AGW_KTY_NONE)
        return agw_err_refuse(err, AGW_R_KEY, "kty not supported");

    if (!jwk_opt_string(&jwk->kid, obj, "kid"))
        return agw_err_refuse(err, AGW_R_KEY, "kid is not a string");
    if (!jwk_opt_string(&jwk->x5t, obj, "x5t"))
        return agw_err_refuse(err, AGW_R_KEY, "x5t is not a string");
    if (!jwk_opt_string(&use, obj, "use"))
        return agw_err_refuse(err, AGW_R_KEY, "use is not a string");
    if (use && strcmp(use, "sig") != 0)
        return agw_err_refuse(err, AGW_R_KEY, "use is not sig");
    if ((v = json_object_get(obj, "key_ops")) && (reason = jwk_check_key_ops(v)) != NULL)
        return agw_err_refuse(err, AGW_R_KEY, reason);
    if (!jwk_opt_string(&jwk->crv, obj, "crv"))
        return agw_err_refuse(err, AGW_R_KEY, "crv is not a string");
    if (jwk->kty != AGW_KTY_EC && jwk->kty != AGW_KTY_OKP)
        jwk->crv = NULL;

    if (!jwk_opt_string(&alg_name, obj, "alg"))
        return agw_err_refuse(err, AGW_R_KEY, "alg is not a string");
    if (alg_name) {
        /* "none" in any casing maps to AGW_ALG_NONE here, like every unknown name. */
        if ((jwk->alg = agw_alg_from_name(alg_name, (apr_size_t)-1)) == AGW_ALG_NONE)
            return agw_err_refuse(err, AGW_R_KEY, "alg unknown");
        if (agw_alg_kty(jwk->alg) != jwk->kty)
            return agw_err_refuse(err, AGW_R_KEY, "alg does not fit kty");
        if (agw_alg_curve(jwk->alg) && (!jwk->crv || strcmp(agw_alg_curve(jwk->alg), jwk->crv)))
            return agw_err_refuse(err, AGW_R_KEY, "alg does not fit crv");
    }
    return APR_SUCCESS;
}

apr_status_t agw_jwk_parse(agw_jwk_t **pjwk, apr_pool_t *p, const void *json_object,
                           agw_err_t *err)
{
    const json_t *obj = json_object;
    agw_jwk_t *jwk;
    apr_status_t rv;

    *pjwk = NULL;
    jwk = apr_palloc(p, sizeof(*jwk));
    if ((rv = agw_jwk_check(jwk, obj, err)) != APR_SUCCESS)
        return rv;
    if ((rv = jwk_import(jwk, p, obj, err)) != APR_SUCCESS)
        return rv;
    /* Whatever the document said, the curve we report is the one the key was imported as. */
    if (jwk->pkey)
        jwk->crv = agw_pkey_curve(jwk->pkey);
    if (jwk_thumbprint(jwk, p, obj) != APR_SUCCESS)
        return agw_err_refuse(err, AGW_R_KEY, "JWK thumbprint failed");
    *pjwk = jwk;
    return APR_SUCCESS;
}

/* A kid fit for a log line: printable ASCII without quotes or backslashes, bounded. */
static const char *skip_kid_text(apr_pool_t *p, const char *kid)
{
    return agw_text_log(p, kid, SKIP_KID_MAX, 0);
}

static const char *skip_line(apr_pool_t *p, size_t index, const json_t *obj, const char *reason)
{
    const char *kid = agw_json_str(obj, "kid");

    if (kid)
        return apr_psprintf(p, "key #%lu (kid %s): %s", (unsigned long)(index + 1),
                            skip_kid_text(p, kid), reason);
    return apr_psprintf(p, "key #%lu: %s", (unsigned long)(index + 1), reason);
}

/* A kid names one key per key type: when usable keys of the same type (kty and curve) under
 * the same kid differ in key material (the same key listed twice, e.g. for two algs, is fine;
 * an RSA and an EC key under one kid, as in RFC 7520, are told apart by the token's alg),
 * none of them is used, so that a token never verifies under "whichever of them works". */
static void drop_ambiguous_kids(agw_jwks_t *jwks, apr_pool_t *p)
{
    int i, j, n = jwks->keys->nelts, kept = 0;
    agw_jwk_t **k = (agw_jwk_t **)jwks->keys->elts;
    char *doomed = apr_pcalloc(p, (apr_size_t)n + 1);

    for (i = 0; i < n; i++)
        for (j = i + 1; j < n && k[i]->kid; j++)
            if (k[j]->kid && !strcmp(k[i]->kid, k[j]->kid) && k[i]->kty == k[j]->kty
                && (k[i]->crv == k[j]->crv
                    || (k[i]->crv && k[j]->crv && !strcmp(k[i]->crv, k[j]->crv)))
                && memcmp(k[i]->thumbprint, k[j]->thumbprint, 32) != 0)
                doomed[i] = doomed[j] = 1;
    for (i = 0; i < n; i++) {
        if (doomed[i])
            APR_ARRAY_PUSH(jwks->skipped, const char *) = apr_psprintf(
                p, "kid %s: %s", skip_kid_text(p, k[i]->kid),
                "another key of the same type has the same kid: none of them is used");
        else
            k[kept++] = k[i];
    }
    jwks->keys->nelts = kept;
}

apr_status_t agw_jwks_parse(agw_jwks_t **pjwks, apr_pool_t *p, const char *text,
                            apr_size_t len, agw_err_t *err)
{
    agw_jwks_t *jwks;
    json_t *doc, *keys;
    apr_status_t rv;
    size_t i, n;

    *pjwks = NULL;
    if (len > AGW_JWKS_MAX_BYTES) {
        agw_err_set(err, NULL, "JWKS too large");
        return APR_EINVAL;
    }
    if ((rv = agw_json_parse(&doc, p, text, len, AGW_JSON_MAX_DEPTH, err)) != APR_SUCCESS) {
        /* A key document is not a token: no RFC 6750 code applies. */
        agw_err_set(err, NULL, err ? err->reason : NULL);
        return rv;
    }
    if (!json_is_object(doc)) {
        agw_err_set(err, NULL, "JWKS is not a JSON object");
        return APR_EINVAL;
    }
    keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        agw_err_set(err, NULL, "JWKS has no keys array");
        return APR_EINVAL;
    }

    n = json_array_size(keys);
    jwks = apr_pcalloc(p, sizeof(*jwks));
    jwks->keys = apr_array_make(p, (int)(n < AGW_JWKS_MAX_KEYS ? n : AGW_JWKS_MAX_KEYS) + 1,
                                sizeof(agw_jwk_t *));
    jwks->skipped = apr_array_make(p, 2, sizeof(const char *));
    for (i = 0; i < n && i < AGW_JWKS_MAX_KEYS; i++) {
        json_t *obj = json_array_get(keys, i);
        agw_err_t kerr = { NULL, NULL, AGW_R_NONE };
        agw_jwk_t *jwk;

        if (agw_jwk_parse(&jwk, p, obj, &kerr) != APR_SUCCESS) {
            APR_ARRAY_PUSH(jwks->skipped, const char *) = skip_line(p, i, obj, kerr.reason);
        }
        else if (jwk->kty == AGW_KTY_OCT) {
            /* A key set is published; a shared secret in it is no secret. HMAC keys come
             * only from the administrator's own secret (agw_jwks_from_secret). */
            APR_ARRAY_PUSH(jwks->skipped, const char *) =
                skip_line(p, i, obj, "symmetric key in a key set");
        }
        else {
            APR_ARRAY_PUSH(jwks->keys, agw_jwk_t *) = jwk;
        }
    }
    if (n > AGW_JWKS_MAX_KEYS)
        APR_ARRAY_PUSH(jwks->skipped, const char *) =
            apr_psprintf(p, "keys #%d to #%lu: more than %d keys", AGW_JWKS_MAX_KEYS + 1,
                         (unsigned long)n, AGW_JWKS_MAX_KEYS);
    drop_ambiguous_kids(jwks, p);
    *pjwks = jwks;
    return APR_SUCCESS;
}

agw_jwks_t *agw_jwks_from_secret(apr_pool_t *p, const unsigned char *secret, apr_size_t len)
{
    agw_jwks_t *jwks = apr_pcalloc(p, sizeof(*jwks));
    agw_jwk_t *jwk = apr_pcalloc(p, sizeof(*jwk));

    jwk->kty = AGW_KTY_OCT;
    jwk->alg = AGW_ALG_NONE;
    jwk->secret = (secret && len) ? apr_pmemdup(p, secret, len) : (const unsigned char *)"";
    len = (secret && len) ? len : 0;
    jwk->secret_len = len;
    jwk->bits = (int)(len > 0x0fffffff ? 0x7ffffff8 : len * 8);
    if (agw_crypt_sha256(jwk->thumbprint, jwk->secret, len) != APR_SUCCESS)
        memset(jwk->thumbprint, 0xff, sizeof(jwk->thumbprint));
    jwks->keys = apr_array_make(p, 1, sizeof(agw_jwk_t *));
    jwks->skipped = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(jwks->keys, agw_jwk_t *) = jwk;
    return jwks;
}

AGW_HOT int agw_jwk_is_key(const unsigned char key_thumbprint[32], const char *key_kid,
                   agw_kty_e key_kty, agw_alg_e key_alg, const unsigned char thumbprint[32],
                   const char *kid, agw_alg_e alg)
{
    return memcmp(key_thumbprint, thumbprint, 32) == 0
           && (*kid ? key_kid && !strcmp(key_kid, kid) : !key_kid)
           && key_kty == agw_alg_kty(alg) && (key_alg == AGW_ALG_NONE || key_alg == alg);
}
