/* Sealed records for the shared cache: AES-256-GCM under a fleet key, the cache key bound as associated data, a version byte and a key id for rotation. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "agw_seal.h"
#include "agw_crypt.h"

#define KEY_BYTES   32
#define KID_BYTES   4
#define NONCE_BYTES 12
#define TAG_BYTES   16

typedef struct seal_key_t {
    unsigned char key[KEY_BYTES];
    unsigned char kid[KID_BYTES];
} seal_key_t;

struct agw_seal_t {
    seal_key_t keys[AGW_SEAL_MAX_KEYS];
    int nkeys;
};

static apr_status_t seal_wipe(void *data)
{
    OPENSSL_cleanse(data, sizeof(agw_seal_t));
    return APR_SUCCESS;
}

/* HKDF-SHA256(secret) -> 32 key bytes and a 4-byte key id that names the key in records. */
static apr_status_t derive(seal_key_t *k, const unsigned char *secret, apr_size_t len)
{
    unsigned char out[KEY_BYTES + KID_BYTES];
    apr_status_t rv = agw_crypt_hkdf_sha256(out, sizeof(out), secret, len,
                                            "mod_auth0gw shared cache",
                                            "AES-256-GCM record key v1");

    if (rv == APR_SUCCESS) {
        memcpy(k->key, out, KEY_BYTES);
        memcpy(k->kid, out + KEY_BYTES, KID_BYTES);
    }
    OPENSSL_cleanse(out, sizeof(out));
    return rv;
}

static apr_status_t add_key(agw_seal_t *s, const unsigned char *secret, apr_size_t len,
                            agw_err_t *err)
{
    if (s->nkeys >= AGW_SEAL_MAX_KEYS) {
        agw_err_set(err, NULL, "too many cache keys");
        return APR_EINVAL;
    }
    if (!secret || len < AGW_SEAL_MIN_SECRET) {
        agw_err_set(err, NULL, "cache secret shorter than 32 bytes");
        return APR_EINVAL;
    }
    if (derive(&s->keys[s->nkeys], secret, len) != APR_SUCCESS) {
        agw_err_set(err, NULL, "cannot derive the cache key");
        return APR_EGENERAL;
    }
    s->nkeys++;
    return APR_SUCCESS;
}

apr_status_t agw_seal_create(agw_seal_t **ps, apr_pool_t *p, const unsigned char *secret,
                             apr_size_t len, agw_err_t *err)
{
    agw_seal_t *s = apr_pcalloc(p, sizeof(*s));
    apr_status_t rv;

    apr_pool_cleanup_register(p, s, seal_wipe, apr_pool_cleanup_null);
    rv = add_key(s, secret, len, err);
    *ps = rv == APR_SUCCESS ? s : NULL;
    return rv;
}

apr_status_t agw_seal_add_old(agw_seal_t *s, const unsigned char *secret, apr_size_t len,
                              agw_err_t *err)
{
    return add_key(s, secret, len, err);
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
    const seal_key_t *k = &s->keys[0];
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *out, *nonce, *ct;
    apr_status_t rv = APR_EGENERAL;
    int n, fin;

    if (len > (apr_size_t)INT32_MAX - AGW_SEAL_OVERHEAD || s->nkeys < 1)
        return APR_EINVAL;
    out = apr_palloc(p, len + AGW_SEAL_OVERHEAD);
    out[0] = AGW_SEAL_VERSION;
    memcpy(out + 1, k->kid, KID_BYTES);
    nonce = out + 1 + KID_BYTES;
    ct = nonce + NONCE_BYTES;
    if (RAND_bytes(nonce, NONCE_BYTES) != 1 || !(ctx = EVP_CIPHER_CTX_new()))
        goto leave;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, nonce) != 1
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
    const seal_key_t *k = NULL;
    const unsigned char *nonce, *ct;
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
    for (i = 0; i < s->nkeys && !k; i++)
        if (CRYPTO_memcmp(s->keys[i].kid, rec + 1, KID_BYTES) == 0)
            k = &s->keys[i];
    if (!k) {
        agw_err_set(err, NULL, "record key unknown");
        return APR_EINVAL;
    }
    nonce = rec + 1 + KID_BYTES;
    ct = nonce + NONCE_BYTES;
    ctlen = len - AGW_SEAL_OVERHEAD;
    out = apr_palloc(p, ctlen + 1);
    if (!(ctx = EVP_CIPHER_CTX_new())
        || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, nonce) != 1
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
