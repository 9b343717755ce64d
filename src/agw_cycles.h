/* Cycle counts of a request's steps on the hit path, for `make bench-cycles` only: in a build without AGW_CYCLES every mark here is empty. */
#ifndef AGW_CYCLES_H
#define AGW_CYCLES_H

/* the steps measured; AGW_CY_AUTHN_* split the whole check_authn by how the token was served */
typedef enum agw_cy_e {
    AGW_CY_AUTHN_HIT = 0,   /* check_authn, the token served from a cache */
    AGW_CY_AUTHN_VERIFIED,  /* check_authn, the signature verified */
    AGW_CY_GATE,            /* agw_gate_check as a whole */
    AGW_CY_SHA256,          /* the token's SHA-256 (the caches' key) */
    AGW_CY_TABLE,           /* the host table's look-up */
    AGW_CY_BRIEF,           /* the key held and the claims checked from the brief */
    AGW_CY_CONF,            /* the glue: the merged configuration's completeness check */
    AGW_CY_FIND,            /* the glue: the token found in the request */
    AGW_CY_ANSWER,          /* the glue: the gate's answer put on the request (user, notes) */
    AGW_CY_COUNT
} agw_cy_e;

#ifdef AGW_CYCLES
#if !defined(__x86_64__) && !defined(__i386__)
#error "AGW_CYCLES (make bench-cycles) reads the x86 time-stamp counter"
#endif
#include <x86intrin.h>

/* Adds one sample of a step (this process's histogram; not thread-safe: prefork). */
void agw_cycles_add(agw_cy_e step, unsigned long long cycles);

/* Calls line() once per step that has samples, with its name, count, median, 90th
 * percentile (bucket midpoints, 64 cycles wide) and the samples beyond the histogram. */
void agw_cycles_report(void (*line)(void *baton, const char *step, unsigned long n,
                                    unsigned long median, unsigned long p90,
                                    unsigned long over), void *baton);

#define AGW_CY_START(v) unsigned long long v = __rdtsc()
#define AGW_CY_END(step, v) agw_cycles_add((step), __rdtsc() - (v))
#else
#define AGW_CY_START(v) do { } while (0)
#define AGW_CY_END(step, v) do { } while (0)
#endif

#endif
