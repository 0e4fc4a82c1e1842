/* core.c - errors, the allocator hook, the RNG, logging and the clock. */
#define _POSIX_C_SOURCE 200809L
#include "sq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors ------------------------------------------------------------ */
int sq_fail(sq_err *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int sq_wrap(sq_err *e, const char *fmt, ...)
{
    if (e) {
        char old[SQ_ERR_MSG];
        memcpy(old, e->msg, sizeof old);
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof e->msg - 2)
            snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %.*s", (int)(sizeof e->msg) - n - 3, old);
    }
    return -1;
}

/* ---- allocation -------------------------------------------------------- */
static void *default_alloc(void *ud, size_t n) { (void)ud; return malloc(n); }
static void default_release(void *ud, void *p) { (void)ud; free(p); }
static sq_allocator allocator = {default_alloc, default_release, NULL};

void sq_set_allocator(const sq_allocator *a)
{
    if (a)
        allocator = *a;
    else
        allocator = (sq_allocator){default_alloc, default_release, NULL};
}

/* Every block carries a 16-byte header just before the pointer handed out:
 * the raw pointer from the allocator and a tag, so sq_free works the same
 * for plain and 64-byte aligned blocks. */
#define TAG 0x5351414c4c4f43ULL /* "SQALLOC" */

static void *with_header(size_t n, size_t align)
{
    if (n > SIZE_MAX - align - 16)
        return NULL;
    unsigned char *raw = allocator.alloc(allocator.ud, n + align + 16);
    if (!raw)
        return NULL;
    uintptr_t a = ((uintptr_t)raw + 16 + align - 1) & ~(uintptr_t)(align - 1);
    unsigned char *p = (unsigned char *)a;
    memcpy(p - 8, &raw, sizeof raw);
    uint64_t tag = TAG;
    memcpy(p - 16, &tag, sizeof tag);
    return p;
}

void *sq_malloc(size_t n) { return with_header(n ? n : 1, 16); }

void *sq_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = sq_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *sq_alloc_real(size_t n)
{
    if (n > (SIZE_MAX - 128) / sizeof(sq_real))
        return NULL;
    size_t bytes = (n ? n : 1) * sizeof(sq_real);
    void *p = with_header(bytes, 64);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void sq_free(void *p)
{
    if (!p)
        return;
    unsigned char *q = p, *raw;
    uint64_t tag;
    memcpy(&tag, q - 16, sizeof tag);
    memcpy(&raw, q - 8, sizeof raw);
    if (tag != TAG) /* not ours: a caller bug; leak rather than corrupt */
        return;
    tag = 0;
    memcpy(q - 16, &tag, sizeof tag);
    allocator.release(allocator.ud, raw);
}

char *sq_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sq_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- RNG --------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sq_rng_seed(sq_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sq_rng_u64(sq_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sq_rng_uniform(sq_rng *r) { return (double)(sq_rng_u64(r) >> 11) * 0x1.0p-53; }

double sq_rng_normal(sq_rng *r)
{
    double u1 = sq_rng_uniform(r), u2 = sq_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

uint32_t sq_rng_below(sq_rng *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do
        x = sq_rng_u64(r);
    while (x >= limit);
    return (uint32_t)(x % n);
}

void sq_rng_fork(sq_rng *r, sq_rng *child) { sq_rng_seed(child, sq_rng_u64(r)); }

/* ---- logging ----------------------------------------------------------- */
int sq_log_level = SQ_LOG_INFO;

void sq_log(int level, const char *fmt, ...)
{
    if (level > sq_log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

double sq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
