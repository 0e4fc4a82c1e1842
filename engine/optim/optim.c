/* optim.c - SGD (momentum, Nesterov) and Adam over the flat parameter block,
 * with torch.optim's update rules; their config strings. See optim.h. */
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIM_FORMS "sgd[:MOMENTUM], nesterov[:MOMENTUM], adam[:BETA1,BETA2[,EPS]]"

/* ---- configuration ----------------------------------------------------- */
void sq_optim_defaults(sq_optim_cfg *c, int kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->momentum = 0.9;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
}

static int in_unit(double x) { return x >= 0 && x < 1; } /* false for NaN */

static int check_cfg(const sq_optim_cfg *c, sq_err *e)
{
    if (c->kind != SQ_SGD && c->kind != SQ_ADAM)
        return sq_fail(e, "unknown optimizer kind %d", c->kind);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return sq_fail(e, "weight decay %g must be finite and >= 0", c->weight_decay);
    if (c->kind == SQ_SGD) {
        if (!in_unit(c->momentum))
            return sq_fail(e, "SGD momentum %g must be in [0, 1)", c->momentum);
        if (c->nesterov && c->momentum <= 0)
            return sq_fail(e, "Nesterov momentum needs momentum > 0");
        return 0;
    }
    if (!in_unit(c->beta1) || !in_unit(c->beta2))
        return sq_fail(e, "Adam betas %g, %g must be in [0, 1)", c->beta1, c->beta2);
    if (!(c->eps > 0) || !isfinite(c->eps))
        return sq_fail(e, "Adam eps %g must be finite and > 0", c->eps);
    return 0;
}

/* Comma-separated numbers: the count read, or -1 if malformed or > max. */
static int parse_numbers(const char *s, double *out, int max)
{
    for (int n = 0; n < max;) {
        if (!*s || strchr(" \t\n,", *s))
            return -1;
        char *end;
        out[n++] = strtod(s, &end);
        if (end == s)
            return -1;
        if (!*end)
            return n;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
    return -1;
}

static int parse_fail(sq_err *e, const char *str, const char *why)
{
    return sq_fail(e, "bad optimizer '%.64s': %s (valid: " OPTIM_FORMS ")", str, why);
}

int sq_optim_parse(const char *str, sq_optim_cfg *c, sq_err *e)
{
    if (!str)
        return parse_fail(e, "", "missing");
    const char *colon = strchr(str, ':');
    size_t len = colon ? (size_t)(colon - str) : strlen(str);
    double x[3];
    int nx = 0;
    if (colon && (nx = parse_numbers(colon + 1, x, 3)) < 0)
        return parse_fail(e, str, "its arguments are not a list of numbers");
    if (len == 3 && !strncmp(str, "sgd", 3)) {
        sq_optim_defaults(c, SQ_SGD);
    } else if (len == 8 && !strncmp(str, "nesterov", 8)) {
        sq_optim_defaults(c, SQ_SGD);
        c->nesterov = 1;
    } else if (len == 4 && !strncmp(str, "adam", 4)) {
        sq_optim_defaults(c, SQ_ADAM);
    } else {
        return parse_fail(e, str, "unknown optimizer");
    }
    if (c->kind == SQ_SGD) {
        if (nx > 1)
            return parse_fail(e, str, "SGD takes one argument, the momentum");
        if (nx == 1)
            c->momentum = x[0];
    } else {
        if (nx == 1)
            return parse_fail(e, str, "Adam takes BETA1,BETA2 and optionally EPS");
        if (nx >= 2) {
            c->beta1 = x[0];
            c->beta2 = x[1];
        }
        if (nx == 3)
            c->eps = x[2];
    }
    if (check_cfg(c, e))
        return sq_wrap(e, "bad optimizer '%.64s'", str);
    return 0;
}

const char *sq_optim_str(const sq_optim_cfg *c, char buf[SQ_OPTIM_STR])
{
    char a[32], b[32], d[32];
    if (c->kind == SQ_ADAM)
        snprintf(buf, SQ_OPTIM_STR, "adam:%s,%s,%s", sq_optim_fmt_num(c->beta1, a),
                 sq_optim_fmt_num(c->beta2, b), sq_optim_fmt_num(c->eps, d));
    else
        snprintf(buf, SQ_OPTIM_STR, "%s:%s", c->nesterov ? "nesterov" : "sgd",
                 sq_optim_fmt_num(c->momentum, a));
    return buf;
}

/* ---- state ------------------------------------------------------------- */
static int needs_m(const sq_optim_cfg *c) { return c->kind == SQ_ADAM || c->momentum > 0; }
static int needs_v(const sq_optim_cfg *c) { return c->kind == SQ_ADAM; }

int sq_optim_init_n(sq_optim *o, const sq_optim_cfg *c, size_t n, sq_err *e)
{
    memset(o, 0, sizeof *o);
    if (check_cfg(c, e))
        return -1;
    o->cfg = *c;
    o->n = n;
    if (needs_m(c) && !(o->m = sq_alloc_real(n)))
        goto oom;
    if (needs_v(c) && !(o->v = sq_alloc_real(n)))
        goto oom;
    return 0;
oom:
    sq_optim_free(o);
    return sq_fail(e, "out of memory allocating optimizer state for %zu parameters", n);
}

int sq_optim_init(sq_optim *o, const sq_optim_cfg *c, const sq_net *net, sq_err *e)
{
    return sq_optim_init_n(o, c, net->n_weights, e);
}

/* A copy of old (n_old reals) in a zeroed block of n; NULL stays NULL. */
static int grown(const sq_real *old, size_t n_old, size_t n, sq_real **out)
{
    *out = NULL;
    if (!old)
        return 0;
    if (!(*out = sq_alloc_real(n)))
        return -1;
    memcpy(*out, old, n_old * sizeof(sq_real));
    return 0;
}

int sq_optim_extend(sq_optim *o, size_t n_extra, size_t *off, sq_err *e)
{
    if (n_extra > SIZE_MAX / sizeof(sq_real) - o->n)
        return sq_fail(e, "optimizer state of %zu + %zu entries is too large", o->n, n_extra);
    size_t n = o->n + n_extra;
    sq_real *m, *v = NULL;
    if (grown(o->m, o->n, n, &m) || grown(o->v, o->n, n, &v)) {
        sq_free(m);
        return sq_fail(e, "out of memory growing optimizer state to %zu entries", n);
    }
    sq_free(o->m);
    sq_free(o->v);
    o->m = m;
    o->v = v;
    *off = o->n;
    o->n = n;
    return 0;
}

void sq_optim_reset(sq_optim *o)
{
    if (o->m)
        memset(o->m, 0, o->n * sizeof(sq_real));
    if (o->v)
        memset(o->v, 0, o->n * sizeof(sq_real));
    o->t = 0;
}

void sq_optim_free(sq_optim *o)
{
    sq_free(o->m);
    sq_free(o->v);
    o->m = o->v = NULL;
    o->n = 0;
    o->t = 0;
}

/* ---- steps ------------------------------------------------------------- */
/* torch.optim.SGD, dampening 0. buf is NULL when momentum is 0. Like
 * PyTorch, the update uses the momentum buffer as stored (rounded). */
static void sgd_slice(const sq_optim_cfg *c, sq_real *buf, sq_real *w, const sq_real *g,
                      size_t n, double wd, double lr)
{
    const double mu = c->momentum;
    for (size_t i = 0; i < n; i++) {
        double d = (double)g[i] + wd * (double)w[i];
        if (buf) {
            buf[i] = (sq_real)(mu * (double)buf[i] + d);
            d = c->nesterov ? d + mu * (double)buf[i] : (double)buf[i];
        }
        w[i] = (sq_real)((double)w[i] - lr * d);
    }
}

/* torch.optim.Adam (amsgrad off) at step t >= 1. */
static void adam_slice(const sq_optim_cfg *c, long long t, sq_real *m, sq_real *v, sq_real *w,
                       const sq_real *g, size_t n, double wd, double lr)
{
    const double b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    const double step_size = lr / (1 - pow(b1, (double)t));
    const double bc2_sqrt = sqrt(1 - pow(b2, (double)t));
    for (size_t i = 0; i < n; i++) {
        double d = (double)g[i] + wd * (double)w[i];
        m[i] = (sq_real)(b1 * (double)m[i] + (1 - b1) * d);
        v[i] = (sq_real)(b2 * (double)v[i] + (1 - b2) * d * d);
        double denom = sqrt((double)v[i]) / bc2_sqrt + eps;
        w[i] = (sq_real)((double)w[i] - step_size * (double)m[i] / denom);
    }
}

void sq_optim_tick(sq_optim *o) { o->t++; }

int sq_optim_step_slice(sq_optim *o, size_t off, sq_real *w, const sq_real *g, size_t n,
                        int decay, double lr)
{
    if (off > o->n || n > o->n - off)
        return -1;
    const sq_optim_cfg *c = &o->cfg;
    double wd = (decay || c->decay_all) ? c->weight_decay : 0.0;
    sq_real *m = o->m ? o->m + off : NULL;
    if (c->kind == SQ_ADAM)
        adam_slice(c, o->t > 0 ? o->t : 1, m, o->v + off, w, g, n, wd, lr);
    else
        sgd_slice(c, m, w, g, n, wd, lr);
    return 0;
}

int sq_optim_step(sq_optim *o, sq_net *net, double lr)
{
    for (int i = 0; i < net->n_par; i++) {
        const sq_param *p = &net->par[i];
        if (p->off > o->n || p->n > o->n - p->off)
            return -1;
    }
    sq_optim_tick(o);
    for (int i = 0; i < net->n_par; i++) {
        const sq_param *p = &net->par[i];
        sq_optim_step_slice(o, p->off, net->params + p->off, net->grads + p->off, p->n,
                            !p->no_decay, lr);
    }
    return 0;
}
