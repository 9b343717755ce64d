/* Sealed records for the shared cache: AES-256-GCM under a fleet key, the cache key bound as associated data, a version byte and a key id for rotation. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "agw_seal.h"
#include "agw_keyring.h"

#define KEY_BYTES   32
#define KID_BYTES   4
#define NONCE_BYTES 12
#define TAG_BYTES   16

struct agw_seal_t {
    agw_keyring_t *ring;    /* each key: KEY_BYTES of AES key, then the KID_BYTES naming it */
};

static const agw_keyring_spec_t seal_keys = {
    KEY_BYTES + KID_BYTES, AGW_SEAL_MIN_SECRET, "mod_auth0gw shared cache",
    "AES-256-GCM record key v1", "cache"
};

apr_status_t agw_seal_create(agw_seal_t **ps, apr_pool_t *p, const unsigned char *secret,
                             apr_size_t len, agw_err_t *err)
{
    agw_seal_t *s = apr_pcalloc(p, sizeof(*s));
    apr_status_t rv = agw_keyring_create(&s->ring, p, &seal_keys, secret, len, err);

    *ps = rv == APR_SUCCESS ? s : NULL;
    return rv;
}

apr_status_t agw_seal_add_old(agw_seal_t *s, const unsigned char *secret, apr_size_t len,
                              agw_err_t *err)
{
    return agw_keyring_add_old(s->ring, secret, len, err);
}

apr_status_t agw_seal_create_random(agw_seal_t **ps, apr_pool_t *p, agw_err_t *err)
{
    unsigned char secret[KEY_BYTES];
    apr_status_t rv;

    if (RAND_bytes(secret, sizeof(secret)) != 1) {
        ERR_clear_error();
        agw_err_set(err, NULL, "no random bytes for the cache key");
        *ps = NULL;
        return APR_EGENERAL;
    }
    rv = agw_seal_create(ps, p, secret, sizeof(secret), err);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rv;
}

/* The associated data: version, key id and the record's name. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, const unsigned char *head, const char *name)
{
    int n;
    return EVP_CipherUpdate(ctx, NULL, &n, head, 1 + KID_BYTES) == 1
           && EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)name, (int)strlen(name)) == 1;
}

apr_status_t agw_seal(unsigned char **pout, apr_size_t *plen, apr_pool_t *p,
                      const agw_seal_t *s, const char *name, const void *data, apr_size_t len)
{
    const unsigned char *k = agw_keyring_key(s->ring, 0);
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *out, *nonce, *ct;
    apr_status_t rv = APR_EGENERAL;
    int n, fin;

    if (len > (apr_size_t)INT32_MAX - AGW_SEAL_OVERHEAD || !k)
        return APR_EINVAL;
    out = apr_palloc(p, len + AGW_SEAL_OVERHEAD);
    out[0] = AGW_SEAL_VERSION;
    memcpy(out + 1, k + KEY_BYTES, KID_BYTES);
    nonce = out + 1 + KID_BYTES;
    ct = nonce + NONCE_BYTES;
    if (RAND_bytes(nonce, NONCE_BYTES) != 1 || !(ctx = EVP_CIPHER_CTX_new()))
        goto leave;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k, nonce) != 1
        || !gcm_aad(ctx, out, name)
        || EVP_EncryptUpdate(ctx, ct, &n, data, (int)len) != 1
        || EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, ct + len) != 1)
        goto leave;
    *pout = out;
    *plen = len + AGW_SEAL_OVERHEAD;
    rv = APR_SUCCESS;
leave:
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    return rv;
}

apr_status_t agw_unseal(char **pout, apr_size_t *plen, apr_pool_t *p, const agw_seal_t *s,
                        const char *name, const unsigned char *rec, apr_size_t len,
                        agw_err_t *err)
{
    const unsigned char *k = NULL, *nonce, *ct;
    EVP_CIPHER_CTX *ctx = NULL;
    apr_size_t ctlen;
    unsigned char *out;
    int i, n, fin;

    if (!rec || len < AGW_SEAL_OVERHEAD || len > (apr_size_t)INT32_MAX) {
        agw_err_set(err, NULL, "record too short");
        return APR_EINVAL;
    }
    if (rec[0] != AGW_SEAL_VERSION) {
        agw_err_set(err, NULL, "record version unknown");
        return APR_EINVAL;
    }
    for (i = 0; i < agw_keyring_count(s->ring) && !k; i++)
        if (CRYPTO_memcmp(agw_keyring_key(s->ring, i) + KEY_BYTES, rec + 1, KID_BYTES) == 0)
            k = agw_keyring_key(s->ring, i);
    if (!k) {
        agw_err_set(err, NULL, "record key unknown");
        return APR_EINVAL;
    }
    nonce = rec + 1 + KID_BYTES;
    ct = nonce + NONCE_BYTES;
    ctlen = len - AGW_SEAL_OVERHEAD;
    out = apr_palloc(p, ctlen + 1);
    if (!(ctx = EVP_CIPHER_CTX_new())
        || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k, nonce) != 1
        || !gcm_aad(ctx, rec, name)
        || EVP_DecryptUpdate(ctx, out, &n, ct, (int)ctlen) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES,
                               (void *)(ct + ctlen)) != 1
        || EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        ERR_clear_error();
        OPENSSL_cleanse(out, ctlen);
        agw_err_set(err, NULL, "record fails authentication");
        return APR_EINVAL;
    }
    EVP_CIPHER_CTX_free(ctx);
    out[ctlen] = '\0';
    *pout = (char *)out;
    *plen = ctlen;
    return APR_SUCCESS;
}
