/* lsq.c - Learned Step Size Quantization (weights only): a uniform signed
 * b-bit grid whose step s is learned with the task.
 *
 * Source: S. K. Esser, J. L. McKinstry, D. Bablani, R. Appuswamy,
 * D. S. Modha, "Learned Step Size Quantization", ICLR 2020, arXiv 1902.08153
 * (equations 1-3, section 2.2 step size gradient scale).
 *
 *   Q_N = 2^(b-1), Q_P = 2^(b-1) - 1, b = --bits (2..8), v = w / s
 *   forward     wq = round(clip(v, -Q_N, Q_P)) * s      (round: half to even)
 *   backward    dL/dw = g where -Q_N < v < Q_P, else 0
 *               dL/ds += gscale * sum_i g_i * ( round(v_i) - v_i  inside
 *                                               -Q_N              v_i <= -Q_N
 *                                               Q_P               v_i >= Q_P )
 *               gscale = 1 / sqrt(N_w * Q_P) (N_w = weights of the tensor);
 *               gradscale=off uses 1 (the paper's ablation)
 *   init        s = 2 * mean|w| / sqrt(Q_P)
 *   after_step  s = max(s, 1e-8): the host's optimizer must not drive the
 *               step to zero or below (a NaN step also becomes 1e-8)
 *   qparam      [0] = s
 *   export      codes round(clip(v)) in -Q_N..Q_P (2^b values), scale s
 *
 * No state. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

#define LSQ_TINY 1e-8f

enum { OPT_GRADSCALE };
enum { GS_ON, GS_OFF };

static const sq_qoption lsq_options[] = {
    {"gradscale", SQ_QOPT_ENUM, "on", 0, 0, "on|off",
     "on: scale the step's gradient by 1/sqrt(N_w Q_P) (LSQ); off: unscaled"},
};

static int lsq_qn(const sq_qtensor *t)
{
    return 1 << (t->bits - 1);
}

static int lsq_qp(const sq_qtensor *t)
{
    return (1 << (t->bits - 1)) - 1;
}

static int lsq_nq(const sq_qtensor *t)
{
    (void)t;
    return 1;
}

static int32_t lsq_code(double v, int qn, int qp)
{
    if (!(v > -qn)) /* also NaN: the lowest code is as good as any */
        return v == v ? -qn : 0;
    if (v >= qp)
        return qp;
    return (int32_t)nearbyint(v);
}

static int lsq_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits < 2 || t->bits > 8) {
        snprintf(err, errlen, "lsq needs --bits 2..8 (got %d; at 1 bit Q_P = 0)", t->bits);
        return 1;
    }
    double s = 0;
    for (size_t i = 0; i < t->n; i++)
        s += fabs(t->w[i]);
    s = t->n ? 2.0 * (s / (double)t->n) / sqrt((double)lsq_qp(t)) : 0.0;
    t->qparam[0] = s > LSQ_TINY ? (float)s : LSQ_TINY;
    return 0;
}

static void lsq_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void lsq_quantize(const sq_qtensor *t, float *out)
{
    float s = t->qparam[0];
    int qn = lsq_qn(t), qp = lsq_qp(t);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)lsq_code((double)t->w[i] / s, qn, qp) * s;
}

static void lsq_forward(sq_qtensor *t)
{
    lsq_quantize(t, t->wq);
}

static void lsq_backward(sq_qtensor *t)
{
    float s = t->qparam[0];
    int qn = lsq_qn(t), qp = lsq_qp(t);
    double gs = 0;
    for (size_t i = 0; i < t->n; i++) {
        double v = (double)t->w[i] / s;
        if (v <= -qn) {
            gs += t->g[i] * (double)-qn;
            t->g[i] = 0;
        } else if (v >= qp) {
            gs += t->g[i] * (double)qp;
            t->g[i] = 0;
        } else if (v == v) {
            gs += t->g[i] * (nearbyint(v) - v);
        }
    }
    double scale = (int)t->opt[OPT_GRADSCALE] == GS_ON && t->n ? 1.0 / sqrt((double)t->n * qp) : 1.0;
    t->qgrad[0] += (float)(scale * gs);
}

static void lsq_after_step(sq_qtensor *t)
{
    if (!(t->qparam[0] >= LSQ_TINY))
        t->qparam[0] = LSQ_TINY;
}

static int lsq_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                      char *err, size_t errlen)
{
    (void)err, (void)errlen;
    float s = t->qparam[0];
    int qn = lsq_qn(t), qp = lsq_qp(t);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = lsq_code((double)t->w[i] / s, qn, qp);
    scale[0] = s;
    *per_channel = 0;
    *exponent = SQ_QEXP_NONE;
    return 0;
}

static void lsq_stats(const sq_qtensor *t, sq_qstats *s)
{
    memset(s, 0, sizeof *s);
    s->step = t->qparam[0];
    s->exponent = SQ_QEXP_NONE;
}

static const sq_quantizer lsq_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "lsq",
    .summary = "Learned Step Size Quantization (Esser et al. 2020): round(clip(w/s,-QN,QP))*s, s learned",
    .options = lsq_options,
    .n_options = (int)(sizeof lsq_options / sizeof lsq_options[0]),
    .state_size = NULL,
    .n_qparams = lsq_nq,
    .init = lsq_init,
    .epoch_begin = lsq_epoch_begin,
    .forward = lsq_forward,
    .backward = lsq_backward,
    .after_step = lsq_after_step,
    .quantize = lsq_quantize,
    .export_codes = lsq_export,
    .stats = lsq_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &lsq_quantizer : NULL;
}
