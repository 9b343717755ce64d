/* The histograms behind `make bench-cycles` (a build with AGW_CYCLES); empty in every other build. */
#include "agw_cycles.h"

#ifdef AGW_CYCLES
#define WIDTH 64
#define BUCKETS 1024    /* up to 65,536 cycles; beyond: "over" */

static unsigned long hist[AGW_CY_COUNT][BUCKETS + 1];
static unsigned long count[AGW_CY_COUNT];

static const char *const names[AGW_CY_COUNT] = {
    "authn-hit", "authn-verified", "gate", "sha256", "table", "brief", "conf", "find", "answer"
};

void agw_cycles_add(agw_cy_e step, unsigned long long cycles)
{
    unsigned long long b = cycles / WIDTH;

    if (step < 0 || step >= AGW_CY_COUNT)
        return;
    hist[step][b > BUCKETS ? BUCKETS : b]++;
    count[step]++;
}

void agw_cycles_report(void (*line)(void *baton, const char *step, unsigned long n,
                                    unsigned long median, unsigned long p90,
                                    unsigned long over), void *baton)
{
    int s, i;

    for (s = 0; s < AGW_CY_COUNT; s++) {
        unsigned long acc = 0, median = 0, p90 = 0, n = count[s];
        int have_median = 0, have_p90 = 0;
        if (!n)
            continue;
        for (i = 0; i <= BUCKETS; i++) {
            acc += hist[s][i];
            if (!have_median && acc * 2 >= n) {
                median = (unsigned long)i * WIDTH + WIDTH / 2;
                have_median = 1;
            }
            if (!have_p90 && acc * 10 >= n * 9) {
                p90 = (unsigned long)i * WIDTH + WIDTH / 2;
                have_p90 = 1;
            }
        }
        line(baton, names[s], n, median, p90, hist[s][BUCKETS]);
    }
}
#else
/* ISO C wants a translation unit to declare something */
typedef int agw_cycles_unused_t;
#endif
