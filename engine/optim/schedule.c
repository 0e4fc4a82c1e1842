/* schedule.c - per-epoch learning-rate schedules with PyTorch's values
 * (StepLR, MultiStepLR, CosineAnnealingLR, ExponentialLR, linear warmup),
 * their string grammar and canonical spelling. See optim.h. */
#include "optim/optim.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_FORMS                                                                 \
    "const | step:EVERY[:GAMMA] | multistep:E1,E2,...[:GAMMA] | cosine[:ETA_MIN] | " \
    "exp:GAMMA, optionally followed by +warmup:EPOCHS"

static const double PI = 3.14159265358979323846;

const char *sq_optim_fmt_num(double x, char buf[32])
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return buf;
    }
    return buf; /* NaN: no spelling reads back equal */
}

/* ---- parsing ----------------------------------------------------------- */
/* The whole of s as a number / an integer >= lo; -1 if it is not one. */
static int whole_double(const char *s, double *x)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    *x = strtod(s, &end);
    return (*end || !isfinite(*x)) ? -1 : 0;
}

static int whole_int(const char *s, int lo, int *x)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > INT_MAX)
        return -1;
    *x = (int)v;
    return 0;
}

/* Split "a:b" at the first ':'; returns b or NULL (and leaves a whole). */
static char *split(char *s, int sep)
{
    char *p = strchr(s, sep);
    if (!p)
        return NULL;
    *p = 0;
    return p + 1;
}

static int parse_gamma(const char *s, double *gamma)
{
    return s && (whole_double(s, gamma) || !(*gamma > 0)) ? -1 : 0;
}

/* "E1,E2,..." strictly increasing integers >= 1. */
static int parse_milestones(char *s, sq_sched *sc)
{
    sc->n_milestones = 0;
    for (char *next; s; s = next) {
        next = split(s, ',');
        int *ms = sc->milestones;
        int k = sc->n_milestones;
        if (k == SQ_SCHED_MAX_MILESTONES || whole_int(s, 1, &ms[k]) ||
            (k > 0 && ms[k] <= ms[k - 1]))
            return -1;
        sc->n_milestones++;
    }
    return 0;
}

/* The main schedule (no warmup suffix) in buf, modified in place. */
static int parse_main(char *buf, sq_sched *s)
{
    char *arg = split(buf, ':');
    if (!strcmp(buf, "const")) {
        s->kind = SQ_SCHED_CONST;
        return arg ? -1 : 0;
    }
    if (!strcmp(buf, "step")) {
        s->kind = SQ_SCHED_STEP;
        if (!arg)
            return -1;
        char *gamma = split(arg, ':');
        return whole_int(arg, 1, &s->every) || parse_gamma(gamma, &s->gamma) ? -1 : 0;
    }
    if (!strcmp(buf, "multistep")) {
        s->kind = SQ_SCHED_MULTISTEP;
        if (!arg)
            return -1;
        char *gamma = split(arg, ':');
        return parse_milestones(arg, s) || parse_gamma(gamma, &s->gamma) ? -1 : 0;
    }
    if (!strcmp(buf, "cosine")) {
        s->kind = SQ_SCHED_COSINE;
        return arg && (whole_double(arg, &s->eta_min) || s->eta_min < 0) ? -1 : 0;
    }
    if (!strcmp(buf, "exp")) {
        s->kind = SQ_SCHED_EXP;
        return arg ? parse_gamma(arg, &s->gamma) : -1;
    }
    return -1;
}

int sq_sched_parse(const char *str, sq_sched *s, sq_err *e)
{
    char buf[SQ_SCHED_STR];
    if (!str || strlen(str) >= sizeof buf)
        return sq_fail(e, "bad lr schedule: %s; valid forms: " SCHED_FORMS,
                       str ? "too long" : "missing");
    memcpy(buf, str, strlen(str) + 1);
    memset(s, 0, sizeof *s);
    s->gamma = 0.1;
    char *warm = strstr(buf, "+warmup:");
    if (warm) {
        *warm = 0;
        warm += strlen("+warmup:");
    }
    if (parse_main(buf, s) || (warm && whole_int(warm, 0, &s->warmup)))
        return sq_fail(e, "bad lr schedule '%.64s'; valid forms: " SCHED_FORMS, str);
    return 0;
}

/* ---- canonical string -------------------------------------------------- */
const char *sq_sched_str(const sq_sched *s, char buf[SQ_SCHED_STR])
{
    char g[32], w[32] = "";
    size_t at;
    if (s->warmup > 0)
        snprintf(w, sizeof w, "+warmup:%d", s->warmup);
    switch (s->kind) {
    case SQ_SCHED_STEP:
        snprintf(buf, SQ_SCHED_STR, "step:%d:%s%s", s->every, sq_optim_fmt_num(s->gamma, g), w);
        break;
    case SQ_SCHED_MULTISTEP:
        at = (size_t)snprintf(buf, SQ_SCHED_STR, "multistep:");
        for (int i = 0; i < s->n_milestones && at < SQ_SCHED_STR; i++)
            at += (size_t)snprintf(buf + at, SQ_SCHED_STR - at, "%s%d", i ? "," : "",
                                   s->milestones[i]);
        if (at < SQ_SCHED_STR)
            snprintf(buf + at, SQ_SCHED_STR - at, ":%s%s", sq_optim_fmt_num(s->gamma, g), w);
        break;
    case SQ_SCHED_COSINE:
        snprintf(buf, SQ_SCHED_STR, "cosine:%s%s", sq_optim_fmt_num(s->eta_min, g), w);
        break;
    case SQ_SCHED_EXP:
        snprintf(buf, SQ_SCHED_STR, "exp:%s%s", sq_optim_fmt_num(s->gamma, g), w);
        break;
    default:
        snprintf(buf, SQ_SCHED_STR, "const%s", w);
    }
    return buf;
}

/* ---- values ------------------------------------------------------------ */
static int passed_milestones(const sq_sched *s, int epoch)
{
    int k = 0;
    while (k < s->n_milestones && s->milestones[k] <= epoch)
        k++;
    return k;
}

/* The main schedule at epoch e of a run of T epochs. */
static double main_lr(const sq_sched *s, double base, int e, int T)
{
    switch (s->kind) {
    case SQ_SCHED_STEP:
        return s->every > 0 ? base * pow(s->gamma, (double)(e / s->every)) : base;
    case SQ_SCHED_MULTISTEP:
        return base * pow(s->gamma, (double)passed_milestones(s, e));
    case SQ_SCHED_COSINE:
        if (T <= 0)
            return base;
        return s->eta_min + (base - s->eta_min) * (1 + cos(PI * e / T)) / 2;
    case SQ_SCHED_EXP:
        return base * pow(s->gamma, (double)e);
    default:
        return base;
    }
}

double sq_sched_lr(const sq_sched *s, double base_lr, int epoch, int epochs)
{
    if (epoch < 0)
        epoch = 0;
    if (epoch < s->warmup)
        return base_lr * (epoch + 1.0) / (s->warmup + 1.0); /* no int overflow at INT_MAX */
    return main_lr(s, base_lr, epoch - s->warmup, epochs - s->warmup);
}
