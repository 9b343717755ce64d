/* Strict base64url without padding: one canonical spelling per byte string, so nothing smuggles through. */
#include <apr_strings.h>
#include "agw_b64.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* All-ones when lo <= c <= hi, else zero; branch-free so that decoding a secret ("k" of an
 * oct JWK) does not leak its bytes through timing or a table's cache lines. */
static unsigned int ct_in_range(unsigned int c, unsigned int lo, unsigned int hi)
{
    return ((((c - lo) | (hi - c)) >> 31) & 1u) - 1u;
}

/* The 6-bit value of c, or a value with bit 8 set when c is not in the alphabet. */
static unsigned int b64url_value(unsigned char ch)
{
    unsigned int c = ch, v = 0, ok = 0, m;

    m = ct_in_range(c, 'A', 'Z'); v |= m & (c - 'A');      ok |= m;
    m = ct_in_range(c, 'a', 'z'); v |= m & (c - 'a' + 26); ok |= m;
    m = ct_in_range(c, '0', '9'); v |= m & (c - '0' + 52); ok |= m;
    m = ct_in_range(c, '-', '-'); v |= m & 62u;            ok |= m;
    m = ct_in_range(c, '_', '_'); v |= m & 63u;            ok |= m;
    return (v & 0x3fu) | (~ok & 0x100u);
}

apr_status_t agw_b64url_decode(unsigned char **pout, apr_size_t *poutlen, apr_pool_t *p,
                               const char *in, apr_size_t inlen)
{
    const unsigned char *s = (const unsigned char *)in;
    apr_size_t rem = inlen % 4, full = inlen / 4, outlen, i, o = 0;
    unsigned int bad = 0, a, b, c, d;
    unsigned char *out;

    *pout = NULL;
    *poutlen = 0;
    if (rem == 1 || (inlen > 0 && !in))
        return APR_EINVAL;
    outlen = full * 3 + (rem ? rem - 1 : 0);
    out = apr_palloc(p, outlen + 1);

    for (i = 0; i < full; i++, s += 4) {
        a = b64url_value(s[0]);
        b = b64url_value(s[1]);
        c = b64url_value(s[2]);
        d = b64url_value(s[3]);
        bad |= a | b | c | d;
        out[o++] = (unsigned char)((a << 2) | (b >> 4));
        out[o++] = (unsigned char)((b << 4) | (c >> 2));
        out[o++] = (unsigned char)((c << 6) | d);
    }
    if (rem >= 2) {
        a = b64url_value(s[0]);
        b = b64url_value(s[1]);
        bad |= a | b;
        out[o++] = (unsigned char)((a << 2) | (b >> 4));
        if (rem == 3) {
            c = b64url_value(s[2]);
            bad |= c;
            out[o++] = (unsigned char)((b << 4) | (c >> 2));
            /* The last character carries 2 unused bits; canonical form has them zero. */
            bad |= (c & 0x03u) << 8;
        }
        else {
            /* The last character carries 4 unused bits. */
            bad |= (b & 0x0fu) << 8;
        }
    }
    out[o] = '\0';
    if (bad & ~0x3fu)
        return APR_EINVAL;
    *pout = out;
    *poutlen = outlen;
    return APR_SUCCESS;
}

char *agw_b64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    apr_size_t full = len / 3, rem = len % 3, i, o = 0;
    char *out = apr_palloc(p, full * 4 + (rem ? rem + 1 : 0) + 1);

    for (i = 0; i < full; i++, in += 3) {
        out[o++] = b64url_alphabet[in[0] >> 2];
        out[o++] = b64url_alphabet[((in[0] & 0x03) << 4) | (in[1] >> 4)];
        out[o++] = b64url_alphabet[((in[1] & 0x0f) << 2) | (in[2] >> 6)];
        out[o++] = b64url_alphabet[in[2] & 0x3f];
    }
    if (rem == 1) {
        out[o++] = b64url_alphabet[in[0] >> 2];
        out[o++] = b64url_alphabet[(in[0] & 0x03) << 4];
    }
    else if (rem == 2) {
        out[o++] = b64url_alphabet[in[0] >> 2];
        out[o++] = b64url_alphabet[((in[0] & 0x03) << 4) | (in[1] >> 4)];
        out[o++] = b64url_alphabet[(in[1] & 0x0f) << 2];
    }
    out[o] = '\0';
    return out;
}
