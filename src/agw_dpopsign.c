/* DPoP proofs (RFC 9449) signed with the gateway's own key: for its token requests and for every proxied request. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "agw_dpopsign.h"
#include "agw_b64.h"
#include "agw_json.h"

struct agw_dpopsign_key_t {
    agw_privkey_t *key;         /* shared read-only; agw_sign makes a context per signature */
    agw_alg_e alg;
    const char *jwk;            /* public, RFC 7638 members */
    const char *jkt;            /* base64url SHA-256 of jwk */
    const char *header_b64;     /* the proof header is the same for every proof: encoded once */
};

apr_status_t agw_dpopsign_load(agw_dpopsign_key_t **pkey, apr_pool_t *p, const char *pem,
                               apr_size_t len, agw_alg_e alg, agw_err_t *err)
{
    agw_dpopsign_key_t *k = apr_pcalloc(p, sizeof(*k));
    unsigned char md[32];
    agw_alg_e dflt;
    const char *hdr;
    apr_status_t rv;

    *pkey = NULL;
    if ((rv = agw_privkey_load(&k->key, p, pem, len, err)) != APR_SUCCESS)
        return rv;
    dflt = agw_privkey_default_alg(k->key);
    if (dflt == AGW_ALG_ES384 || dflt == AGW_ALG_ES512) {
        agw_err_set(err, NULL, "EC key not on P-256 (DPoP proofs use ES256)");
        return APR_EINVAL;
    }
    if (alg != AGW_ALG_NONE && alg != dflt && !(dflt == AGW_ALG_RS256 && alg == AGW_ALG_PS256)) {
        agw_err_set(err, NULL, "alg does not fit the key (EC P-256: ES256; Ed25519: EdDSA; "
                               "RSA: RS256 or PS256)");
        return APR_EINVAL;
    }
    k->alg = alg != AGW_ALG_NONE ? alg : dflt;
    if (!(k->jwk = agw_privkey_public_jwk(p, k->key))
        || agw_crypt_sha256(md, k->jwk, strlen(k->jwk)) != APR_SUCCESS) {
        agw_err_set(err, NULL, "cannot export the public key");
        return APR_EGENERAL;
    }
    k->jkt = agw_b64url_encode(p, md, sizeof(md));
    /* alg and jwk are fixed text (names and base64url): nothing to escape */
    hdr = apr_psprintf(p, "{\"typ\":\"dpop+jwt\",\"alg\":\"%s\",\"jwk\":%s}",
                       agw_alg_name(k->alg), k->jwk);
    k->header_b64 = agw_b64url_encode(p, (const unsigned char *)hdr, strlen(hdr));
    *pkey = k;
    return APR_SUCCESS;
}

agw_alg_e agw_dpopsign_alg(const agw_dpopsign_key_t *key)
{
    return key->alg;
}

const char *agw_dpopsign_jwk(const agw_dpopsign_key_t *key)
{
    return key->jwk;
}

const char *agw_dpopsign_jkt(const agw_dpopsign_key_t *key)
{
    return key->jkt;
}

const char *agw_dpopsign_htu(apr_pool_t *p, const char *url)
{
    return apr_pstrmemdup(p, url, strcspn(url, "?#"));
}

int agw_dpopsign_nonce_ok(const char *nonce)
{
    const char *s;

    if (!nonce || !*nonce || strlen(nonce) > AGW_DPOPSIGN_MAX_NONCE)
        return 0;
    for (s = nonce; *s; s++)
        if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* The payload's JSON text (malloc'd by jansson: the caller frees it), or NULL. */
static char *proof_payload(apr_pool_t *p, const char *method, const char *htu,
                           const char *access_token, const char *nonce, apr_int64_t now,
                           const unsigned char jti[16])
{
    json_t *claims = agw_json_own(p, json_object());
    unsigned char md[32];

    if (!claims)
        return NULL;
    json_object_set_new(claims, "jti", json_string(agw_b64url_encode(p, jti, 16)));
    json_object_set_new(claims, "htm", json_string(method));
    json_object_set_new(claims, "htu", json_string(htu));
    json_object_set_new(claims, "iat", json_integer((json_int_t)now));
    if (access_token) {
        if (agw_crypt_sha256(md, access_token, strlen(access_token)) != APR_SUCCESS)
            return NULL;
        json_object_set_new(claims, "ath", json_string(agw_b64url_encode(p, md, sizeof(md))));
    }
    if (nonce)
        json_object_set_new(claims, "nonce", json_string(nonce));
    if (json_object_size(claims) != (access_token ? 5u : 4u) + (nonce ? 1u : 0u))
        return NULL;            /* a json_string refused its value (not UTF-8) */
    return json_dumps(claims, JSON_COMPACT);
}

apr_status_t agw_dpopsign_proof(const char **pproof, apr_pool_t *p,
                                const agw_dpopsign_key_t *key, const char *method,
                                const char *url, const char *access_token, const char *nonce,
                                apr_int64_t now, agw_err_t *err)
{
    unsigned char jti[16], *sig;
    apr_size_t siglen;
    char *body, *input;
    apr_status_t rv;

    *pproof = NULL;
    if (!method || !*method || !url || !*url || (nonce && !agw_dpopsign_nonce_ok(nonce))) {
        agw_err_set(err, NULL, "DPoP proof: method, URL or nonce unusable");
        return APR_EINVAL;
    }
    if ((rv = agw_sign_random(jti, sizeof(jti))) != APR_SUCCESS) {
        agw_err_set(err, NULL, "DPoP proof: no random bytes for the jti");
        return rv;
    }
    if (!(body = proof_payload(p, method, agw_dpopsign_htu(p, url), access_token, nonce, now,
                               jti))) {
        agw_err_set(err, NULL, "DPoP proof: cannot serialise the payload");
        return APR_EGENERAL;
    }
    input = apr_pstrcat(p, key->header_b64, ".",
                        agw_b64url_encode(p, (unsigned char *)body, strlen(body)), NULL);
    free(body);
    if ((rv = agw_sign(&sig, &siglen, p, key->alg, key->key, (unsigned char *)input,
                       strlen(input), err)) != APR_SUCCESS)
        return rv;
    *pproof = apr_pstrcat(p, input, ".", agw_b64url_encode(p, sig, siglen), NULL);
    return APR_SUCCESS;
}
