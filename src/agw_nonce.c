/* Stateless DPoP nonces (RFC 9449 sections 8 and 9): a time slot and its HMAC under a key that every process, and with a shared secret every host, derives alike. */
#include <string.h>
#include <openssl/crypto.h>

#include "agw_nonce.h"
#include "agw_crypt.h"
#include "agw_b64.h"

#define KEY_BYTES  32
#define SLOT_BYTES 8
#define MAC_BYTES  16
#define LABEL      "dpop-nonce"

struct agw_nonce_t {
    unsigned char keys[AGW_NONCE_MAX_KEYS][KEY_BYTES];
    int nkeys;
};

static apr_status_t nonce_wipe(void *data)
{
    OPENSSL_cleanse(data, sizeof(agw_nonce_t));
    return APR_SUCCESS;
}

apr_status_t agw_nonce_add_old(agw_nonce_t *n, const unsigned char *secret, apr_size_t len,
                               agw_err_t *err)
{
    if (n->nkeys >= AGW_NONCE_MAX_KEYS) {
        agw_err_set(err, NULL, "too many DPoP nonce keys");
        return APR_EINVAL;
    }
    if (!secret || len < AGW_NONCE_MIN_SECRET) {
        agw_err_set(err, NULL, "DPoP nonce secret shorter than 32 bytes");
        return APR_EINVAL;
    }
    if (agw_crypt_hkdf_sha256(n->keys[n->nkeys], KEY_BYTES, secret, len,
                              "mod_auth0gw DPoP nonce", "HMAC-SHA256 nonce key v1")
        != APR_SUCCESS) {
        agw_err_set(err, NULL, "cannot derive the DPoP nonce key");
        return APR_EGENERAL;
    }
    n->nkeys++;
    return APR_SUCCESS;
}

apr_status_t agw_nonce_create(agw_nonce_t **pn, apr_pool_t *p, const unsigned char *secret,
                              apr_size_t len, agw_err_t *err)
{
    agw_nonce_t *n = apr_pcalloc(p, sizeof(*n));
    apr_status_t rv;

    apr_pool_cleanup_register(p, n, nonce_wipe, apr_pool_cleanup_null);
    rv = agw_nonce_add_old(n, secret, len, err);
    *pn = rv == APR_SUCCESS ? n : NULL;
    return rv;
}

/* The MAC of a slot (its 8 big-endian bytes) under key k, truncated to MAC_BYTES. */
static apr_status_t slot_mac(unsigned char mac[MAC_BYTES], const unsigned char *key,
                             const unsigned char slot[SLOT_BYTES])
{
    unsigned char msg[sizeof(LABEL) - 1 + SLOT_BYTES], full[32];
    apr_status_t rv;

    memcpy(msg, LABEL, sizeof(LABEL) - 1);
    memcpy(msg + sizeof(LABEL) - 1, slot, SLOT_BYTES);
    rv = agw_crypt_hmac_sha256(full, key, KEY_BYTES, msg, sizeof(msg));
    memcpy(mac, full, MAC_BYTES);
    OPENSSL_cleanse(full, sizeof(full));
    return rv;
}

static apr_uint64_t slot_of(apr_int64_t now)
{
    return now > 0 ? (apr_uint64_t)now / AGW_NONCE_SLOT : 0;
}

const char *agw_nonce_make(apr_pool_t *p, const agw_nonce_t *n, apr_int64_t now)
{
    unsigned char raw[SLOT_BYTES + MAC_BYTES];
    apr_uint64_t slot = slot_of(now);
    int i;

    for (i = SLOT_BYTES - 1; i >= 0; i--, slot >>= 8)
        raw[i] = (unsigned char)(slot & 0xff);
    if (!n || !n->nkeys || slot_mac(raw + SLOT_BYTES, n->keys[0], raw) != APR_SUCCESS)
        return NULL;
    return agw_b64url_encode(p, raw, sizeof(raw));
}

static apr_status_t nonce_refuse(agw_err_t *err, const char *reason)
{
    apr_status_t rv = agw_err_refuse(err, AGW_R_DPOP, reason);
    err->code = AGW_E_USE_DPOP_NONCE;
    return rv;
}

/* 1 when mac is that of slot under one of n's keys; every key is tried (no early exit). */
static int mac_holds(const agw_nonce_t *n, const unsigned char *slot, const unsigned char *mac)
{
    unsigned char want[MAC_BYTES];
    int i, ok = 0;

    for (i = 0; i < n->nkeys; i++)
        if (slot_mac(want, n->keys[i], slot) == APR_SUCCESS)
            ok |= CRYPTO_memcmp(want, mac, MAC_BYTES) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}

apr_status_t agw_nonce_check(const agw_nonce_t *n, apr_pool_t *p, const char *nonce,
                             apr_int64_t now, apr_int64_t skew, agw_err_t *err)
{
    unsigned char *raw = NULL;
    apr_size_t len = 0;
    apr_uint64_t slot = 0, cur = slot_of(now), ahead = slot_of(now + (skew > 0 ? skew : 0));
    int i;

    if (!nonce || !*nonce)
        return nonce_refuse(err, "DPoP proof nonce missing");
    if (strlen(nonce) != AGW_NONCE_CHARS
        || agw_b64url_decode(&raw, &len, p, nonce, AGW_NONCE_CHARS) != APR_SUCCESS
        || len != SLOT_BYTES + MAC_BYTES)
        return nonce_refuse(err, "DPoP proof nonce malformed");
    if (!n || !mac_holds(n, raw, raw + SLOT_BYTES))
        return nonce_refuse(err, "DPoP proof nonce was not issued here");
    for (i = 0; i < SLOT_BYTES; i++)
        slot = (slot << 8) | raw[i];
    if (slot > ahead || slot + 1 < cur)
        return nonce_refuse(err, "DPoP proof nonce expired");
    return APR_SUCCESS;
}
