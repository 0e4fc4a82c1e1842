/* fuzz_sched.c - libFuzzer target for the optimizer and learning-rate
 * schedule strings (--optim, --schedule, and the same in experiment
 * files): sq_optim_parse and sq_sched_parse.
 *
 * Input: a selector byte (even: optimizer, odd: schedule), then the string.
 * What is accepted must have a canonical spelling that parses to the same
 * thing, and a schedule must never give a NaN learning rate. */
#include "fuzz.h"

#include <math.h>

#include "optim/optim.h"

static void sc_optim(const char *s)
{
    sq_optim_cfg c, d;
    sq_err e = {{0}};
    char a[SQ_OPTIM_STR], b[SQ_OPTIM_STR];
    if (sq_optim_parse(s, &c, &e)) {
        FUZZ_CHECK(e.msg[0] != '\0');
        return;
    }
    sq_optim_str(&c, a);
    if (sq_optim_parse(a, &d, &e)) {
        fprintf(stderr, "optimizer '%s' accepted, its canonical form '%s' is not: %s\n", s, a,
                e.msg);
        abort();
    }
    FUZZ_CHECK(!strcmp(sq_optim_str(&d, b), a));
    FUZZ_CHECK(c.kind == d.kind && c.nesterov == d.nesterov);
}

static void sc_sched(const char *s)
{
    sq_sched c, d;
    sq_err e = {{0}};
    char a[SQ_SCHED_STR], b[SQ_SCHED_STR];
    if (sq_sched_parse(s, &c, &e)) {
        FUZZ_CHECK(e.msg[0] != '\0');
        return;
    }
    sq_sched_str(&c, a);
    if (sq_sched_parse(a, &d, &e)) {
        fprintf(stderr, "schedule '%s' accepted, its canonical form '%s' is not: %s\n", s, a,
                e.msg);
        abort();
    }
    FUZZ_CHECK(!strcmp(sq_sched_str(&d, b), a));
    static const int runs[] = {1, 2, 3, 10, 100, 1000};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
        for (int ep = 0; ep < runs[r]; ep += 1 + ep / 16) {
            /* never NaN; a rate that overflows or turns negative (cosine:1e308)
               is refused by sq_train and `symog train` before any work */
            double lr = sq_sched_lr(&c, 0.1, ep, runs[r]);
            FUZZ_CHECK(!isnan(lr));
        }
}

FUZZ_TARGET(sched)
{
    if (size < 1 || size > 2048)
        return 0;
    char *s = malloc(size);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    fuzz_begin();
    if (data[0] & 1)
        sc_sched(s);
    else
        sc_optim(s);
    fuzz_end();
    free(s);
    return 0;
}
