/* Stateless DPoP nonces (RFC 9449 sections 8 and 9): a time slot and its HMAC under a key that every process, and with a shared secret every host, derives alike. */
#include <string.h>
#include <openssl/crypto.h>

#include "agw_nonce.h"
#include "agw_crypt.h"
#include "agw_b64.h"
#include "agw_keyring.h"

#define KEY_BYTES  32
#define SLOT_BYTES 8
#define MAC_BYTES  16
#define LABEL      "dpop-nonce"

struct agw_nonce_t {
    agw_keyring_t *ring;
};

static const agw_keyring_spec_t nonce_keys = {
    KEY_BYTES, AGW_NONCE_MIN_SECRET, "mod_auth0gw DPoP nonce", "HMAC-SHA256 nonce key v1",
    "DPoP nonce"
};

apr_status_t agw_nonce_add_old(agw_nonce_t *n, const unsigned char *secret, apr_size_t len,
                               agw_err_t *err)
{
    return agw_keyring_add_old(n->ring, secret, len, err);
}

apr_status_t agw_nonce_create(agw_nonce_t **pn, apr_pool_t *p, const unsigned char *secret,
                              apr_size_t len, agw_err_t *err)
{
    agw_nonce_t *n = apr_pcalloc(p, sizeof(*n));
    apr_status_t rv = agw_keyring_create(&n->ring, p, &nonce_keys, secret, len, err);

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
    if (!n || !agw_keyring_count(n->ring)
        || slot_mac(raw + SLOT_BYTES, agw_keyring_key(n->ring, 0), raw) != APR_SUCCESS)
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

    for (i = 0; i < agw_keyring_count(n->ring); i++)
        if (slot_mac(want, agw_keyring_key(n->ring, i), slot) == APR_SUCCESS)
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
