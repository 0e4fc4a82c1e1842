/* twn.c - Ternary Weight Networks: alpha * {-1, 0, +1} with a threshold,
 * straight-through estimator.
 *
 * Source: F. Li, B. Zhang, B. Liu, "Ternary Weight Networks", NIPS 2016
 * workshop EMDNN, arXiv 1605.04711; official code github.com/fengfu-chris/
 * caffe-twns (src/caffe/blob.cpp: set_delta and ternarize_data work on the
 * whole blob, i.e. one threshold and one alpha per layer).
 *
 *   d      = delta * mean_i |w_i|                (delta = 0.7, per tensor)
 *   t_i    = +1 if w_i > d, -1 if w_i < -d, else 0
 *   alpha  = mean of |w_i| over {i : |w_i| > d}  (= <t, w> / <t, t>)
 *   forward     wq = alpha * t                   (all zero if no |w_i| > d)
 *   backward    straight-through: dL/dw = dL/dwq (g unchanged)
 *   after_step  nothing
 *   export      codes t in {-1, 0, 1}, one scale alpha (not a power of two)
 *
 * d and alpha are recomputed from the current w at every call (no state).
 * Only --bits 2 (three levels). */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_DELTA };

static const sq_qoption twn_options[] = {
    {"delta", SQ_QOPT_NUM, "0.7", 0.0, 10.0, NULL,
     "threshold factor: d = delta * mean|w| (0.7: the TWN paper's Gaussian approximation)"},
};

/* Threshold d and scale alpha of the current weights. */
static void twn_params(const sq_qtensor *t, double *d, float *alpha)
{
    double s = 0;
    for (size_t i = 0; i < t->n; i++)
        s += fabs(t->w[i]);
    *d = t->n ? t->opt[OPT_DELTA] * s / (double)t->n : 0.0;
    double sa = 0;
    size_t na = 0;
    for (size_t i = 0; i < t->n; i++) {
        double a = fabs(t->w[i]);
        if (a > *d)
            sa += a, na++;
    }
    *alpha = na ? (float)(sa / (double)na) : 0.0f;
}

static int twn_code(float w, double d)
{
    return w > d ? 1 : w < -d ? -1 : 0;
}

static int twn_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits != 2) {
        snprintf(err, errlen, "twn is ternary: use --bits 2 (got %d)", t->bits);
        return 1;
    }
    return 0;
}

static void twn_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void twn_quantize(const sq_qtensor *t, float *out)
{
    double d;
    float a;
    twn_params(t, &d, &a);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)twn_code(t->w[i], d) * a;
}

static void twn_forward(sq_qtensor *t)
{
    twn_quantize(t, t->wq);
}

static void twn_backward(sq_qtensor *t)
{
    (void)t; /* straight-through */
}

static void twn_after_step(sq_qtensor *t)
{
    (void)t;
}

static int twn_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                      char *err, size_t errlen)
{
    (void)err, (void)errlen;
    double d;
    float a;
    twn_params(t, &d, &a);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = twn_code(t->w[i], d);
    scale[0] = a;
    *per_channel = 0;
    *exponent = SQ_QEXP_NONE;
    return 0;
}

static void twn_stats(const sq_qtensor *t, sq_qstats *s)
{
    double d;
    float a;
    twn_params(t, &d, &a);
    memset(s, 0, sizeof *s);
    s->step = a;
    s->exponent = SQ_QEXP_NONE;
}

static const sq_quantizer twn_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "twn",
    .summary = "Ternary Weight Networks (Li et al. 2016): alpha*{-1,0,1}, threshold 0.7*mean|w| per layer, STE",
    .options = twn_options,
    .n_options = (int)(sizeof twn_options / sizeof twn_options[0]),
    .state_size = NULL,
    .n_qparams = NULL,
    .init = twn_init,
    .epoch_begin = twn_epoch_begin,
    .forward = twn_forward,
    .backward = twn_backward,
    .after_step = twn_after_step,
    .quantize = twn_quantize,
    .export_codes = twn_export,
    .stats = twn_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &twn_quantizer : NULL;
}
