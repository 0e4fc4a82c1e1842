/* qrun.c - drives one quantizer over every quantized weight tensor of a
 * net, at the fixed points of a training step, and keeps the per-epoch
 * diagnostics:
 *   diag.csv           epoch, tensor, lambda, step, exponent, mode_switch
 *                      (share of weights whose Q(w) changed since the last
 *                      epoch), mean_abs_err (mean |w - Q(w)| in units),
 *                      penalty, distinct (values of Q(w)), unit
 *   hist/<tensor>.dat  the weight histogram per epoch, in units of the
 *                      tensor's step (or of its initial max |w| when the
 *                      quantizer has no step): one gnuplot data block per
 *                      epoch ("index" selects it), columns x, density.
 * Epoch 0 is the state before training. Both files are rewritten whole and
 * atomically each epoch from memory, so a resumed run writes the same. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "quant.h"

_Static_assert(sizeof(sq_real) == sizeof(float), "the quantizer ABI works on float weights");

static double host_uniform(void *rng) { return sq_rng_uniform(rng); }

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Which params are quantized: conv/dense weights, the first and the last
 * only if first_last. */
static int selected(const sq_net *net, int i, int first_last)
{
    int first = -1, last = -1;
    for (int j = 0; j < net->n_par; j++)
        if (net->par[j].quantizable) {
            if (first < 0)
                first = j;
            last = j;
        }
    return net->par[i].quantizable && (first_last || (i != first && i != last));
}

static int alloc_slots(sq_qrun *r, sq_net *net, sq_err *e)
{
    size_t nw = 0;
    r->n = 0;
    for (int i = 0; i < net->n_par; i++)
        if (selected(net, i, r->first_last))
            r->n++, nw += net->par[i].n;
    if (r->n == 0)
        return sq_fail(e, "no weight tensor to quantize (first and last layers excluded?)");
    r->s = sq_calloc((size_t)r->n, sizeof *r->s);
    r->wq = sq_alloc_real(nw);
    if (!r->s || !r->wq)
        return sq_fail(e, "out of memory for quantized weights");
    size_t off = 0;
    int k = 0;
    for (int i = 0; i < net->n_par; i++) {
        if (!selected(net, i, r->first_last))
            continue;
        sq_param *p = &net->par[i];
        sq_qtensor *t = &r->s[k].t;
        r->s[k].p = p;
        t->name = p->name, t->ndim = p->ndim, t->dims = p->dims, t->n = p->n;
        t->per_channel = p->n / (size_t)p->dims[0];
        t->w = p->w, t->g = p->g, t->wq = r->wq + off;
        t->opt = r->opt, t->bits = r->bits, t->index = k, t->count = r->n;
        t->uniform = host_uniform, t->rng = r->rng;
        off += p->n;
        k++;
    }
    return 0;
}

static int alloc_state(sq_qrun *r, sq_err *e)
{
    size_t bytes = 0, nq = 0;
    for (int k = 0; k < r->n; k++) {
        sq_qtensor *t = &r->s[k].t;
        bytes += align64(r->q->state_size ? r->q->state_size(t) : 0);
        nq += r->q->n_qparams ? (size_t)r->q->n_qparams(t) : 0;
    }
    r->state_bytes = bytes;
    r->n_qparams = nq;
    r->state = sq_calloc(bytes ? bytes : 1, 1);
    r->qparams = sq_alloc_real(nq);
    r->qgrads = sq_alloc_real(nq);
    if (!r->state || !r->qparams || !r->qgrads)
        return sq_fail(e, "out of memory for quantizer state");
    size_t so = 0, qo = 0;
    for (int k = 0; k < r->n; k++) {
        sq_qtensor *t = &r->s[k].t;
        t->state = r->state + so;
        t->qparam = r->qparams + qo, t->qgrad = r->qgrads + qo;
        so += align64(r->q->state_size ? r->q->state_size(t) : 0);
        qo += r->q->n_qparams ? (size_t)r->q->n_qparams(t) : 0;
    }
    return 0;
}

int sq_qrun_init(sq_qrun *r, const sq_quantizer *q, int bits, const double *opt, int first_last,
                 sq_net *net, sq_optim *o, sq_rng *rng, sq_err *e)
{
    memset(r, 0, sizeof *r);
    r->q = q, r->bits = bits, r->first_last = first_last, r->rng = rng;
    memcpy(r->opt, opt, sizeof(double) * (size_t)q->n_options);
    if (alloc_slots(r, net, e) || alloc_state(r, e))
        return -1;
    for (int k = 0; k < r->n; k++) {
        sq_qtensor *t = &r->s[k].t;
        char msg[SQ_ERR_MSG / 2] = "";
        if (q->init(t, msg, sizeof msg))
            return sq_fail(e, "quantizer %s on %s: %s", q->name, t->name, msg[0] ? msg : "init failed");
        r->s[k].p->wq = t->wq;
        q->forward(t);
        sq_qstats st = {0};
        if (q->stats)
            q->stats(t, &st);
        double m = 0;
        for (size_t i = 0; i < t->n; i++)
            m = fmax(m, fabs(t->w[i]));
        r->s[k].hist_unit = st.step > 0 ? st.step : (m > 0 ? m : 1);
    }
    if (o && r->n_qparams && sq_optim_extend(o, r->n_qparams, &r->optim_off, e))
        return -1;
    return 0;
}

void sq_qrun_free(sq_qrun *r)
{
    if (r->s)
        for (int k = 0; k < r->n; k++) {
            if (r->s[k].p) /* NULL when allocation failed before the slots were filled */
                r->s[k].p->wq = r->s[k].p->w;
            sq_free(r->s[k].prev);
        }
    sq_free(r->s);
    sq_free(r->wq);
    sq_free(r->state);
    sq_free(r->qparams);
    sq_free(r->qgrads);
    sq_free(r->diag);
    sq_free(r->hist);
    memset(r, 0, sizeof *r);
}

void sq_qrun_progress(sq_qrun *r, int epoch, int epochs, long long step, long long steps)
{
    for (int k = 0; k < r->n; k++) {
        sq_qtensor *t = &r->s[k].t;
        t->epoch = epoch, t->epochs = epochs, t->step = step, t->steps = steps;
    }
}

void sq_qrun_epoch_begin(sq_qrun *r)
{
    for (int k = 0; k < r->n && r->q->epoch_begin; k++)
        r->q->epoch_begin(&r->s[k].t);
}

void sq_qrun_forward(sq_qrun *r)
{
    for (int k = 0; k < r->n && !r->final; k++)
        r->q->forward(&r->s[k].t);
}

void sq_qrun_backward(sq_qrun *r)
{
    if (r->n_qparams)
        memset(r->qgrads, 0, r->n_qparams * sizeof(float));
    for (int k = 0; k < r->n; k++)
        r->q->backward(&r->s[k].t);
}

void sq_qrun_step(sq_qrun *r, sq_optim *o, double lr)
{
    for (int k = 0; k < r->n; k++)
        r->s[k].t.lr = lr;
    if (r->n_qparams && o)
        sq_optim_step_slice(o, r->optim_off, r->qparams, r->qgrads, r->n_qparams, 0, lr);
}

void sq_qrun_after_step(sq_qrun *r)
{
    for (int k = 0; k < r->n && r->q->after_step; k++)
        r->q->after_step(&r->s[k].t);
}

void sq_qrun_hard(sq_qrun *r)
{
    for (int k = 0; k < r->n; k++)
        r->q->quantize(&r->s[k].t, r->s[k].t.wq);
}

void sq_qrun_finalize(sq_qrun *r)
{
    for (int k = 0; k < r->n; k++) {
        sq_qtensor *t = &r->s[k].t;
        r->q->quantize(t, t->wq);
        memcpy(t->w, t->wq, t->n * sizeof(float));
    }
    r->final = 1;
}

/* ---- diagnostics ------------------------------------------------------- */
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

size_t sq_count_distinct(const float *x, size_t n)
{
    float *c = sq_malloc(n * sizeof(float));
    if (!c || !n) {
        sq_free(c);
        return 0;
    }
    memcpy(c, x, n * sizeof(float));
    qsort(c, n, sizeof(float), cmp_float);
    size_t d = 1;
    for (size_t i = 1; i < n; i++)
        d += c[i] != c[i - 1];
    sq_free(c);
    return d;
}

static int grow_history(sq_qrun *r, int epoch, sq_err *e)
{
    if (epoch < r->diag_cap)
        return 0;
    int cap = SQ_MAX(epoch + 1, 2 * r->diag_cap);
    double *d = sq_calloc((size_t)cap * r->n * SQ_QDIAG_COLS, sizeof(double));
    double *h = sq_calloc((size_t)cap * r->n * SQ_QHIST_BINS, sizeof(double));
    if (!d || !h) {
        sq_free(d), sq_free(h);
        return sq_fail(e, "out of memory for diagnostics");
    }
    if (r->diag) {
        memcpy(d, r->diag, sizeof(double) * (size_t)r->diag_cap * r->n * SQ_QDIAG_COLS);
        memcpy(h, r->hist, sizeof(double) * (size_t)r->diag_cap * r->n * SQ_QHIST_BINS);
    }
    sq_free(r->diag), sq_free(r->hist);
    r->diag = d, r->hist = h, r->diag_cap = cap;
    return 0;
}

/* Fill row `epoch` of slot k; q is scratch for Q(w). -1: out of memory. */
static int measure(sq_qrun *r, int k, int epoch, float *q)
{
    sq_qslot *s = &r->s[k];
    sq_qtensor *t = &s->t;
    double *row = r->diag + ((size_t)epoch * r->n + k) * SQ_QDIAG_COLS;
    double *h = r->hist + ((size_t)epoch * r->n + k) * SQ_QHIST_BINS;
    sq_qstats st = {0, SQ_QEXP_NONE, 0, 0};
    if (r->q->stats)
        r->q->stats(t, &st);
    r->q->quantize(t, q);
    double unit = epoch ? r->diag[k * SQ_QDIAG_COLS + SQ_QD_UNIT] : s->hist_unit;
    double range = epoch ? r->diag[k * SQ_QDIAG_COLS + SQ_QD_RANGE] : 0;
    if (!epoch) { /* fixed for the whole run: the outer value of Q plus one unit */
        for (size_t i = 0; i < t->n; i++)
            range = fmax(range, fabs(q[i]) / unit);
        range = ceil(range) + 1;
    }
    size_t switched = 0;
    double err = 0;
    for (size_t i = 0; i < t->n; i++) {
        switched += s->prev && s->prev[i] != q[i];
        err += fabs(t->w[i] - q[i]);
        double x = t->w[i] / unit;
        int b = (int)floor((x + range) / (2 * range) * SQ_QHIST_BINS);
        if (b >= 0 && b < SQ_QHIST_BINS)
            h[b] += 1.0 / t->n;
    }
    row[SQ_QD_LAMBDA] = st.lambda, row[SQ_QD_STEP] = st.step, row[SQ_QD_EXP] = st.exponent;
    row[SQ_QD_SWITCH] = s->prev ? (double)switched / t->n : 0;
    row[SQ_QD_ERR] = err / t->n / unit, row[SQ_QD_PENALTY] = st.penalty;
    size_t distinct = sq_count_distinct(q, t->n);
    if (!distinct && t->n)
        return -1;
    row[SQ_QD_DISTINCT] = (double)distinct;
    row[SQ_QD_UNIT] = unit, row[SQ_QD_RANGE] = range;
    if (!s->prev)
        s->prev = sq_malloc(t->n * sizeof(float));
    if (!s->prev)
        return -1;
    memcpy(s->prev, q, t->n * sizeof(float));
    return 0;
}

static int write_diag(sq_qrun *r, const char *dir, sq_err *e)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/diag.csv", dir);
    sq_afile *a = sq_afile_open(path, e);
    if (!a)
        return -1;
    FILE *f = sq_afile_fp(a);
    fprintf(f, "epoch,tensor,lambda,step,exponent,mode_switch,mean_abs_err,penalty,distinct,unit\n");
    for (int ep = 0; ep < r->diag_n; ep++)
        for (int k = 0; k < r->n; k++) {
            const double *d = r->diag + ((size_t)ep * r->n + k) * SQ_QDIAG_COLS;
            fprintf(f, "%d,%s,%.6g,%.6g,%d,%.6f,%.6f,%.6g,%.0f,%.6g\n", ep, r->s[k].t.name,
                    d[SQ_QD_LAMBDA], d[SQ_QD_STEP], (int)d[SQ_QD_EXP], d[SQ_QD_SWITCH],
                    d[SQ_QD_ERR], d[SQ_QD_PENALTY], d[SQ_QD_DISTINCT], d[SQ_QD_UNIT]);
        }
    if (sq_afile_commit(a, e))
        return -1;
    for (int k = 0; k < r->n; k++) {
        snprintf(path, sizeof path, "%s/hist/%s.dat", dir, r->s[k].t.name);
        if (!(a = sq_afile_open(path, e)))
            return -1;
        f = sq_afile_fp(a);
        double range = r->diag[k * SQ_QDIAG_COLS + SQ_QD_RANGE];
        fprintf(f, "# %s: weight histogram per epoch; x in units of %s (%.6g)\n", r->s[k].t.name,
                r->diag[k * SQ_QDIAG_COLS + SQ_QD_STEP] > 0 ? "the step" : "the initial max |w|",
                r->diag[k * SQ_QDIAG_COLS + SQ_QD_UNIT]);
        for (int ep = 0; ep < r->diag_n; ep++) {
            const double *h = r->hist + ((size_t)ep * r->n + k) * SQ_QHIST_BINS;
            fprintf(f, "%s# epoch %d\n", ep ? "\n\n" : "", ep);
            for (int b = 0; b < SQ_QHIST_BINS; b++)
                fprintf(f, "%.5f %.6g\n", -range + (b + 0.5) * 2 * range / SQ_QHIST_BINS, h[b]);
        }
        if (sq_afile_commit(a, e))
            return -1;
    }
    return 0;
}

int sq_qrun_diagnostics(sq_qrun *r, const char *dir, int epoch, sq_err *e)
{
    char hdir[1100];
    snprintf(hdir, sizeof hdir, "%s/hist", dir);
    if (sq_mkdir_p(hdir, e) || grow_history(r, epoch, e))
        return -1;
    size_t maxn = 0;
    for (int k = 0; k < r->n; k++)
        maxn = SQ_MAX(maxn, r->s[k].t.n);
    float *q = sq_malloc(maxn * sizeof(float));
    if (!q)
        return sq_fail(e, "out of memory for diagnostics");
    for (int k = 0; k < r->n; k++) {
        if (!epoch || r->diag_n < epoch) { /* no previous epoch to compare with */
            sq_free(r->s[k].prev);
            r->s[k].prev = NULL;
        }
        if (measure(r, k, epoch, q)) {
            sq_free(q);
            return sq_fail(e, "out of memory for diagnostics (%s)", r->s[k].t.name);
        }
    }
    sq_free(q);
    r->diag_n = epoch + 1;
    return write_diag(r, dir, e);
}

int sq_qrun_restore(sq_qrun *r, const void *state, size_t state_bytes, const float *qparams,
                    size_t n_qparams, const double *diag, const double *hist, int diag_n, sq_err *e)
{
    if (state_bytes != r->state_bytes || n_qparams != r->n_qparams)
        return sq_fail(e, "quantizer state of %zu bytes and %zu parameters, this run has %zu and %zu",
                       state_bytes, n_qparams, r->state_bytes, r->n_qparams);
    if (state_bytes) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(r->state, state, state_bytes);
    if (n_qparams)
        memcpy(r->qparams, qparams, n_qparams * sizeof(float));
    if (diag_n > 0) {
        if (grow_history(r, diag_n - 1, e))
            return -1;
        memcpy(r->diag, diag, sizeof(double) * (size_t)diag_n * r->n * SQ_QDIAG_COLS);
        memcpy(r->hist, hist, sizeof(double) * (size_t)diag_n * r->n * SQ_QHIST_BINS);
        r->diag_n = diag_n;
    }
    /* Q(w) now is what the last epoch ended with: the mode-switch reference */
    for (int k = 0; k < r->n; k++) {
        sq_free(r->s[k].prev);
        r->s[k].prev = sq_calloc(r->s[k].t.n, sizeof(float));
        if (!r->s[k].prev)
            return sq_fail(e, "out of memory for diagnostics");
        r->q->quantize(&r->s[k].t, r->s[k].prev);
        r->q->forward(&r->s[k].t);
    }
    return 0;
}
