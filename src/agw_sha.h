/* SHA-256 on the x86 SHA extensions, for the token digest on every request's path. */
#ifndef AGW_SHA_H
#define AGW_SHA_H

#include <stddef.h>
#include <stdint.h>

/* SHA-256 on the CPU's SHA extensions (x86-64), for the token digest on every request's path
 * (agw_crypt_sha256). 1 with out filled; 0 when the CPU lacks them (or on another
 * architecture): the caller then takes OpenSSL's. */
int agw_sha256_ni(unsigned char out[32], const void *data, size_t len);

/* 1 when agw_sha256_ni can run here (the CPU's answer, asked once). */
int agw_sha256_ni_available(void);

#endif
