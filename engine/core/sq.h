/* sq.h - the engine's core vocabulary: the real type, errors, the allocator
 * hook, the seeded RNG and logging. Every other engine file includes this.
 *
 * sq_real is float in the engine. The gradient-check build compiles the same
 * sources with -DSQ_F64 so every layer also exists in double precision and
 * finite differences can be checked to ~1e-7 instead of ~1e-2. */
#ifndef SQ_CORE_H
#define SQ_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef SQ_F64
typedef double sq_real;
#else
typedef float sq_real;
#endif

/* ---- errors: return codes plus a message the caller can print ---------- */
#define SQ_ERR_MSG 512
typedef struct sq_err {
    char msg[SQ_ERR_MSG];
} sq_err;

/* Format a message into e (if non-NULL) and return -1, so callers can write
 * `return sq_fail(e, "...", ...)`. */
int sq_fail(sq_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message: "context: old message". Returns -1. */
int sq_wrap(sq_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- allocation: every engine allocation goes through these ------------ */
/* Tests install a failing allocator to inject faults (fail the n-th call). */
typedef struct sq_allocator {
    void *(*alloc)(void *ud, size_t n);   /* like malloc; may return NULL   */
    void (*release)(void *ud, void *p);   /* like free                      */
    void *ud;
} sq_allocator;

void sq_set_allocator(const sq_allocator *a); /* NULL restores malloc/free */
void *sq_malloc(size_t n);                    /* NULL on failure            */
void *sq_calloc(size_t n, size_t size);       /* zeroed; overflow-checked   */
void *sq_alloc_real(size_t n);                /* n sq_reals, 64-byte aligned, zeroed */
void sq_free(void *p);
char *sq_strdup(const char *s);

/* ---- RNG: xoshiro256**, seeded by splitmix64; passed explicitly -------- */
typedef struct sq_rng {
    uint64_t s[4];
} sq_rng;

void sq_rng_seed(sq_rng *r, uint64_t seed);
uint64_t sq_rng_u64(sq_rng *r);
double sq_rng_uniform(sq_rng *r);          /* [0, 1)                        */
double sq_rng_normal(sq_rng *r);           /* N(0, 1), Box-Muller           */
uint32_t sq_rng_below(sq_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
/* Derive an independent stream (e.g. per epoch or per data loader). */
void sq_rng_fork(sq_rng *r, sq_rng *child);

/* ---- logging ----------------------------------------------------------- */
enum { SQ_LOG_QUIET = 0, SQ_LOG_INFO = 1, SQ_LOG_DEBUG = 2 };
extern int sq_log_level;
void sq_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- time -------------------------------------------------------------- */
double sq_now(void); /* monotonic seconds */

#define SQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SQ_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
