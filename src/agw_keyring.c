/* A small ring of keys derived from secret material with HKDF-SHA256: the first key is the current one, the others are older ones still accepted while a secret is rotated. */
#include <openssl/crypto.h>
#include <apr_strings.h>

#include "agw_keyring.h"
#include "agw_crypt.h"

struct agw_keyring_t {
    const agw_keyring_spec_t *spec;
    apr_pool_t *pool;                   /* of error reasons */
    unsigned char keys[AGW_KEYRING_MAX][AGW_KEYRING_KEY_MAX];
    int nkeys;
};

static apr_status_t keyring_wipe(void *data)
{
    OPENSSL_cleanse(data, sizeof(agw_keyring_t));
    return APR_SUCCESS;
}

apr_status_t agw_keyring_add_old(agw_keyring_t *r, const unsigned char *secret, apr_size_t len,
                                 agw_err_t *err)
{
    const agw_keyring_spec_t *spec = r->spec;

    if (r->nkeys >= AGW_KEYRING_MAX) {
        agw_err_set(err, NULL, apr_psprintf(r->pool, "too many %s keys", spec->what));
        return APR_EINVAL;
    }
    if (!secret || len < spec->min_secret) {
        agw_err_set(err, NULL, apr_psprintf(r->pool, "%s secret shorter than %" APR_SIZE_T_FMT
                                            " bytes", spec->what, spec->min_secret));
        return APR_EINVAL;
    }
    if (spec->key_bytes < 1 || spec->key_bytes > AGW_KEYRING_KEY_MAX
        || agw_crypt_hkdf_sha256(r->keys[r->nkeys], spec->key_bytes, secret, len, spec->salt,
                                 spec->info) != APR_SUCCESS) {
        agw_err_set(err, NULL, apr_psprintf(r->pool, "cannot derive the %s key", spec->what));
        return APR_EGENERAL;
    }
    r->nkeys++;
    return APR_SUCCESS;
}

apr_status_t agw_keyring_create(agw_keyring_t **pr, apr_pool_t *p, const agw_keyring_spec_t *spec,
                                const unsigned char *secret, apr_size_t len, agw_err_t *err)
{
    agw_keyring_t *r = apr_pcalloc(p, sizeof(*r));
    apr_status_t rv;

    r->spec = spec;
    r->pool = p;
    apr_pool_cleanup_register(p, r, keyring_wipe, apr_pool_cleanup_null);
    rv = agw_keyring_add_old(r, secret, len, err);
    *pr = rv == APR_SUCCESS ? r : NULL;
    return rv;
}

int agw_keyring_count(const agw_keyring_t *r)
{
    return r ? r->nkeys : 0;
}

const unsigned char *agw_keyring_key(const agw_keyring_t *r, int i)
{
    return r && i >= 0 && i < r->nkeys ? r->keys[i] : NULL;
}
