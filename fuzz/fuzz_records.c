/* libFuzzer target: what the shared cache hands back, read as hostile: sealed records (agw_unseal), the key store's "<time> <jwks>" record (agw_keys_record_parse, then agw_jwks_parse). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "agw_jwk.h"
#include "agw_keys.h"
#include "agw_seal.h"

#define NAME "cc:0123456789abcdef"

static const unsigned char fleet[32] = "fuzz-fleet-key-0123456789abcdef";
static const unsigned char older[32] = "fuzz-older-key-0123456789abcdef";
static apr_pool_t *root;
static agw_seal_t *seal, *seal_old;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    agw_err_t err = { 0 };

    apr_initialize();
    apr_pool_create(&root, NULL);
    if (agw_seal_create(&seal, root, fleet, sizeof(fleet), &err) != APR_SUCCESS
        || agw_seal_add_old(seal, older, sizeof(older), &err) != APR_SUCCESS
        || agw_seal_create(&seal_old, root, older, sizeof(older), &err) != APR_SUCCESS)
        abort();
    return 0;
}

/* The input as a sealed record: hostile bytes must fail authentication, never crash. */
static void unseal_hostile(apr_pool_t *p, const uint8_t *data, size_t size)
{
    agw_err_t err = { 0 };
    apr_size_t len = 0;
    char *out = NULL;

    if (agw_unseal(&out, &len, p, seal, NAME, data, size, &err) == APR_SUCCESS)
        abort();    /* nobody without the key makes a record that opens */
    if (out || !err.reason)
        abort();
}

/* The input as plaintext: sealed and opened back, by this key and the older one; then
 * one byte of the record flipped (the position from the input) must make it fail. */
static void seal_roundtrip(apr_pool_t *p, const uint8_t *data, size_t size)
{
    unsigned char *rec;
    apr_size_t rlen, len;
    agw_err_t err = { 0 };
    const agw_seal_t *by = size && (data[0] & 1) ? seal_old : seal;
    char *out;

    if (agw_seal(&rec, &rlen, p, by, NAME, data, size) != APR_SUCCESS)
        abort();
    if (rlen != size + AGW_SEAL_OVERHEAD
        || agw_unseal(&out, &len, p, seal, NAME, rec, rlen, &err) != APR_SUCCESS
        || len != size || memcmp(out, data, size) || out[len] != '\0')
        abort();
    if (agw_unseal(&out, &len, p, seal, "cc:another", rec, rlen, &err) == APR_SUCCESS)
        abort();    /* bound to its name */
    if (size) {
        apr_size_t at = ((apr_size_t)data[size - 1] * 7919u) % rlen;
        rec[at] ^= (unsigned char)(data[0] | 1);
        if (agw_unseal(&out, &len, p, seal, NAME, rec, rlen, &err) == APR_SUCCESS)
            abort();
    }
}

static void jwks_record(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const char *body;
    apr_size_t blen;
    apr_int64_t t;
    agw_jwks_t *jwks = NULL;
    agw_err_t err = { 0 };

    if (!agw_keys_record_parse(&t, &body, &blen, (const char *)data, size))
        return;
    if (t < 0 || body < (const char *)data || body + blen != (const char *)data + size)
        abort();
    (void)agw_jwks_parse(&jwks, p, body, blen, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;

    if (size > 20000)
        return 0;
    apr_pool_create(&p, root);
    unseal_hostile(p, data, size);
    seal_roundtrip(p, data, size);
    jwks_record(p, data, size);
    apr_pool_destroy(p);
    return 0;
}
