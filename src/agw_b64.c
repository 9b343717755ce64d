/* Strict base64url without padding: one canonical spelling per byte string, so nothing smuggles through. */
#include <apr_strings.h>
#include "agw_b64.h"
#include "agw_hot.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of each byte, or X (bit 8 set) for bytes outside the alphabet. A table,
 * not constant-time arithmetic: every token passes through here and it is 5x faster; what
 * we decode is public (tokens, public keys) except the rare oct "k", read once at load. */
#define X 0x100
static const unsigned short b64url_values[256] = {
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X

#define b64url_value(c) ((unsigned int)b64url_values[(unsigned char)(c)])

AGW_HOT apr_status_t agw_b64url_decode(unsigned char **pout, apr_size_t *poutlen, apr_pool_t *p,
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
