/* dorefa.c - DoReFa-Net weight quantization (weights only): k-bit weights in
 * [-1, 1] through a tanh normalisation, straight-through rounding.
 *
 * Source: S. Zhou, Y. Wu, Z. Ni, X. Zhou, H. Wen, Y. Zou, "DoReFa-Net:
 * Training Low Bitwidth Convolutional Neural Networks with Low Bitwidth
 * Gradients", arXiv 1606.06160, section 2.3; official code
 * github.com/tensorpack/tensorpack examples/DoReFa-Net/dorefa.py (fw).
 *
 * k = --bits, n = 2^k - 1, quantize_k(x) = round(n x) / n (x in [0, 1]):
 *   k >= 2:  M  = max_i |tanh w_i|
 *            x  = tanh(w) / (2 M) + 1/2
 *            wq = 2 quantize_k(x) - 1        levels (2j - n) / n, j = 0..n
 *   backward: quantize_k is straight-through (d round(y)/dy = 1), so
 *            dwq/dw = 2 * (1 - tanh^2 w) / (2 M) = (1 - tanh^2 w) / M
 *            with M treated as a constant (maxgrad=const, the default; the
 *            brief's choice). The official TensorFlow code has no
 *            stop_gradient on reduce_max, so autodiff also sends
 *            dL/dM = sum_i g_i * (-tanh w_i / M^2) to the weight(s) holding
 *            the maximum (times sign(tanh w_j) (1 - tanh^2 w_j), split
 *            evenly among ties as TF does): maxgrad=through.
 *   k = 1:   the paper and the official code special-case one bit
 *            ("if bitW == 1: # BWN"): wq = E(|w|) * sign(w), E the mean of
 *            |w| over the tensor, a constant for the gradient, and sign's
 *            gradient overridden by the identity, so dL/dw = g (k1=mean,
 *            default). k1=formula uses the general formula instead (+-1).
 *   sign(0) = +1 here (TF's sign(0) = 0 would make a third level).
 *   Rounding: half to even (nearbyint), as tf.round.
 *
 * export: codes 2j - n (odd integers), scale 1/n (k >= 2 or k1=formula); codes
 * +-1, scale E (k = 1, k1=mean). quantize computes code * scale in float, so
 * export reproduces it exactly.
 *
 * --bits 1..8. No state, no learned parameters. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_K1, OPT_MAXGRAD };
enum { K1_MEAN, K1_FORMULA };
enum { MAXGRAD_CONST, MAXGRAD_THROUGH };

static const sq_qoption dorefa_options[] = {
    {"k1", SQ_QOPT_ENUM, "mean", 0, 0, "mean|formula",
     "1 bit: mean = E|w| * sign(w) (DoReFa's own special case); formula = the k-bit formula (+-1)"},
    {"maxgrad", SQ_QOPT_ENUM, "const", 0, 0, "const|through",
     "const: max|tanh w| is a constant in backward; through: differentiate it too (TF autodiff)"},
};

static int dorefa_mean_mode(const sq_qtensor *t)
{
    return t->bits == 1 && (int)t->opt[OPT_K1] == K1_MEAN;
}

static double dorefa_maxtanh(const sq_qtensor *t)
{
    double m = 0;
    for (size_t i = 0; i < t->n; i++) {
        double a = fabs(tanh((double)t->w[i]));
        m = a > m ? a : m;
    }
    return m;
}

static float dorefa_meanabs(const sq_qtensor *t)
{
    double s = 0;
    for (size_t i = 0; i < t->n; i++)
        s += fabs(t->w[i]);
    return t->n ? (float)(s / (double)t->n) : 0.0f;
}

/* What the codes of the current weights depend on. */
typedef struct dorefa_prep {
    int mean;   /* 1-bit mean mode                                          */
    int n;      /* 2^k - 1                                                  */
    double m;   /* max |tanh w|                                             */
    float scale;
} dorefa_prep;

static dorefa_prep dorefa_prepare(const sq_qtensor *t)
{
    dorefa_prep p;
    p.mean = dorefa_mean_mode(t);
    p.n = (1 << t->bits) - 1;
    p.m = p.mean ? 0.0 : dorefa_maxtanh(t);
    p.scale = p.mean ? dorefa_meanabs(t) : (float)(1.0 / p.n);
    return p;
}

static int32_t dorefa_code(const dorefa_prep *p, float w)
{
    if (p->mean)
        return w >= 0 ? 1 : -1;
    double x = p->m > 0 ? tanh((double)w) / (2 * p->m) + 0.5 : 0.5;
    double j = nearbyint(p->n * x);
    if (!(j >= 0)) /* also NaN */
        j = 0;
    if (j > p->n)
        j = p->n;
    return 2 * (int32_t)j - p->n;
}

static void dorefa_apply(const sq_qtensor *t, float *out)
{
    dorefa_prep p = dorefa_prepare(t);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)dorefa_code(&p, t->w[i]) * p.scale;
}

static int dorefa_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits < 1 || t->bits > 8) {
        snprintf(err, errlen, "dorefa supports --bits 1..8 (got %d)", t->bits);
        return 1;
    }
    return 0;
}

static void dorefa_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void dorefa_forward(sq_qtensor *t)
{
    dorefa_apply(t, t->wq);
}

static void dorefa_backward(sq_qtensor *t)
{
    if (dorefa_mean_mode(t))
        return; /* identity (sign overridden by identity, E constant) */
    double m = dorefa_maxtanh(t);
    if (!(m > 0))
        return; /* all weights zero: fall back to straight-through */
    double dm = 0; /* dL/dM, only for maxgrad=through */
    int through = (int)t->opt[OPT_MAXGRAD] == MAXGRAD_THROUGH;
    size_t nmax = 0;
    if (through) {
        for (size_t i = 0; i < t->n; i++) {
            double th = tanh((double)t->w[i]);
            dm += t->g[i] * (-th / (m * m));
            if (fabs(th) == m)
                nmax++;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        double th = tanh((double)t->w[i]);
        double d = t->g[i] * (1 - th * th) / m;
        if (through && fabs(th) == m)
            d += dm * (th > 0 ? 1.0 : -1.0) * (1 - th * th) / (double)nmax;
        t->g[i] = (float)d;
    }
}

static void dorefa_after_step(sq_qtensor *t)
{
    (void)t;
}

static void dorefa_quantize(const sq_qtensor *t, float *out)
{
    dorefa_apply(t, out);
}

static int dorefa_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                         char *err, size_t errlen)
{
    (void)err, (void)errlen;
    dorefa_prep p = dorefa_prepare(t);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = dorefa_code(&p, t->w[i]);
    scale[0] = p.scale;
    *per_channel = 0;
    /* 1/n is a power of two only for n = 1 (k = 1, formula) */
    *exponent = !dorefa_mean_mode(t) && t->bits == 1 ? 0 : SQ_QEXP_NONE;
    return 0;
}

static void dorefa_stats(const sq_qtensor *t, sq_qstats *s)
{
    memset(s, 0, sizeof *s);
    /* k = 1 (mean): the levels +-E|w| live on the weights' scale, spacing
     * 2 E|w|; otherwise the levels lie in [-1, 1] whatever the scale of w:
     * no step (the host then uses the initial max|w| as histogram unit) */
    s->step = dorefa_mean_mode(t) ? 2.0 * dorefa_meanabs(t) : 0.0;
    s->exponent = SQ_QEXP_NONE;
}

static const sq_quantizer dorefa_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "dorefa",
    .summary = "DoReFa-Net weights (Zhou et al. 2016): 2*quantize_k(tanh(w)/(2max|tanh w|)+1/2)-1, STE",
    .options = dorefa_options,
    .n_options = (int)(sizeof dorefa_options / sizeof dorefa_options[0]),
    .state_size = NULL,
    .n_qparams = NULL,
    .init = dorefa_init,
    .epoch_begin = dorefa_epoch_begin,
    .forward = dorefa_forward,
    .backward = dorefa_backward,
    .after_step = dorefa_after_step,
    .quantize = dorefa_quantize,
    .export_codes = dorefa_export,
    .stats = dorefa_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &dorefa_quantizer : NULL;
}
