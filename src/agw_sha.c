/* SHA-256 (FIPS 180-4) on the x86 SHA extensions, for the one digest on every request's path:
 * the token's, the key of the verified-token caches.
 *
 * Why not OpenSSL's, which runs the same instructions: a prefork child's TLB is empty at each
 * of its requests (the other children ran in between, and these CPUs have no PCID), and
 * SHA256_Init/Update/Final, the block function, the CPU capability word and OPENSSL_cleanse
 * are spread over about 10 of libcrypto's pages: 10 TLB misses per request, each about 50 ns
 * here (`make bench-pages`, README Performance). This code sits in the module's hot pages.
 *
 * Everything else (signatures, HMAC, HKDF, AES-GCM, and SHA-256 itself on a CPU without the
 * extensions, under valgrind, or on another architecture) stays with OpenSSL. The unit tests
 * compare this function with OpenSSL's on the FIPS 180-4 examples and on every length from 0 to
 * 1,100 bytes and random ones up to 64 KiB. */
#include <string.h>

#include "agw_hot.h"
#include "agw_sha.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

#define SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* FIPS 180-4, 4.2.2: the first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes */
static const uint32_t K256[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* 4.2.2/5.3.3: the initial hash value H(0), a to h */
static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* -1: not asked yet; 0: no SHA extensions; 1: they are there */
static int have_ni = -1;

static int cpu_has_sha_ni(void)
{
    unsigned int a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_SHA) != 0;
}

int agw_sha256_ni_available(void)
{
    int h = __atomic_load_n(&have_ni, __ATOMIC_RELAXED);

    if (h < 0) {
        h = cpu_has_sha_ni();
        __atomic_store_n(&have_ni, h, __ATOMIC_RELAXED);
    }
    return h;
}

/* Four rounds: the message words (plus constants) of rounds i..i+3 in wk. The state is kept as
 * the instructions want it: st0 = (A, B, E, F), st1 = (C, D, G, H), A in the top lane.
 * SHA256RNDS2 does two rounds and returns the new (A, B, E, F); the old one is then
 * (C, D, G, H). */
#define FOUR_ROUNDS(wk)                                                                       \
    do {                                                                                      \
        __m128i k_ = (wk);                                                                    \
        st1 = _mm_sha256rnds2_epu32(st1, st0, k_);                                            \
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(k_, 0x0e));                   \
    } while (0)

/* Round constants i*4 .. i*4+3 */
#define K4(i) _mm_load_si128((const __m128i *)(const void *)(K256 + 4 * (i)))

/* The compression function over n 64-byte blocks. */
SHA_TARGET AGW_HOT static void blocks(uint32_t h[8], const unsigned char *p, size_t n)
{
    /* each 32-bit word of the message is big-endian */
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i st0 = _mm_set_epi32((int)h[0], (int)h[1], (int)h[4], (int)h[5]);
    __m128i st1 = _mm_set_epi32((int)h[2], (int)h[3], (int)h[6], (int)h[7]);

    for (; n; n--, p += 64) {
        const __m128i save0 = st0, save1 = st1;
        __m128i w0 = _mm_setzero_si128(), w1 = w0, w2 = w0, w3 = w0, t;
        int i;

        /* four words at a time, the last four in w0..w3: the block's 16 words, then 6.2.2
         * step 1, W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]: SHA256MSG1 adds s0,
         * the shifted pair W[t-7..t-4], SHA256MSG2 adds s1 */
        for (i = 0; i < 16; i++) {
            if (i < 4)
                t = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)),
                                     bswap);
            else
                t = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w0, w1),
                                                       _mm_alignr_epi8(w3, w2, 4)), w3);
            w0 = w1;
            w1 = w2;
            w2 = w3;
            w3 = t;
            FOUR_ROUNDS(_mm_add_epi32(t, K4(i)));
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    h[0] = (uint32_t)_mm_extract_epi32(st0, 3);
    h[1] = (uint32_t)_mm_extract_epi32(st0, 2);
    h[4] = (uint32_t)_mm_extract_epi32(st0, 1);
    h[5] = (uint32_t)_mm_extract_epi32(st0, 0);
    h[2] = (uint32_t)_mm_extract_epi32(st1, 3);
    h[3] = (uint32_t)_mm_extract_epi32(st1, 2);
    h[6] = (uint32_t)_mm_extract_epi32(st1, 1);
    h[7] = (uint32_t)_mm_extract_epi32(st1, 0);
}

AGW_HOT static void put_be32(unsigned char *out, uint32_t v)
{
    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
}

AGW_HOT int agw_sha256_ni(unsigned char out[32], const void *data, size_t len)
{
    const unsigned char *p = data;
    unsigned char tail[128];
    uint32_t h[8];
    size_t full = len / 64, rest = len % 64, tail_len;
    uint64_t bits = (uint64_t)len * 8;
    int i;

    if (!agw_sha256_ni_available() || len > ((size_t)-1) / 8)
        return 0;
    memcpy(h, H0, sizeof(h));
    blocks(h, p, full);
    /* 5.1.1: the rest, a 1 bit, zeros, and the length in bits (64 bits, big-endian), in one
     * block or, when the rest leaves fewer than 9 bytes, two */
    tail_len = rest < 56 ? 64 : 128;
    memset(tail, 0, sizeof(tail));
    if (rest)
        memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    for (i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (unsigned char)(bits >> (8 * i));
    blocks(h, tail, tail_len / 64);
    /* it held the end of the input (a token); the empty asm keeps the compiler from dropping
     * a store to memory nothing reads again (libc's memset: no page of its own to touch) */
    memset(tail, 0, sizeof(tail));
    __asm__ __volatile__("" : : "r"(tail) : "memory");
    for (i = 0; i < 8; i++)
        put_be32(out + 4 * i, h[i]);
    return 1;
}

#else

int agw_sha256_ni_available(void)
{
    return 0;
}

int agw_sha256_ni(unsigned char out[32], const void *data, size_t len)
{
    (void)out;
    (void)data;
    (void)len;
    return 0;
}

#endif
