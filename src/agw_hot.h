/* Marks for the code a request runs when its token is served from a cache (the hit path), so that the linker keeps it together and the rest apart. */
#ifndef AGW_HOT_H
#define AGW_HOT_H

/* A prefork child's caches and TLB are cold at each of its requests (the other children ran in
 * between): a hit path spread over the module's 260 KB of code touched about 25 pages of it.
 * GCC and clang put functions marked hot into .text.hot, which the linker lays out together:
 * about 5 pages (nm -n). What that saves is below this machine's noise (README, Performance).
 * AGW_COLD keeps a large function that a hot one calls rarely (the status page) out of that
 * range; AGW_NOINLINE keeps one that a hot entry calls only for some locations (a proxied
 * request's credential) from being inlined into it. */
#if defined(__GNUC__) || defined(__clang__)
#define AGW_HOT __attribute__((hot))
#define AGW_COLD __attribute__((cold, noinline))
#define AGW_NOINLINE __attribute__((noinline))
#else
#define AGW_HOT
#define AGW_COLD
#define AGW_NOINLINE
#endif

#endif
