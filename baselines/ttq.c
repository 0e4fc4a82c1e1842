/* ttq.c - Trained Ternary Quantization: ternary weights {+Wp, 0, -Wn} with
 * two learned scales per layer.
 *
 * Source: C. Zhu, S. Han, H. Mao, W. J. Dally, "Trained Ternary
 * Quantization", ICLR 2017, arXiv 1612.01064; official code
 * github.com/czhu95/ternarynet, examples/Ternary-Net/ternary.py,
 * tw_ternarize (also copied into tensorpack's DoReFa-Net/dorefa.py).
 *
 *   thr       = t * max_i |w_i|                  (t = 0.05; recomputed from
 *                                                 the current w every call)
 *   P = {i : w_i > thr},  N = {i : w_i < -thr},  Z = the rest
 *   forward     wq_i = +Wp (P), 0 (Z), -Wn (N)
 *   backward    dL/dWp += sum_{i in P} g_i,  dL/dWn += -sum_{i in N} g_i,
 *               dL/dw_i = g_i * (Wp on P, 1 on Z, Wn on N)
 *   after_step  nothing (the official code neither clips w nor bounds Wp/Wn)
 *   qparam      [0] = Wp, [1] = Wn (learned by the host's optimizer)
 *
 * Initialisation of Wp and Wn, as found in the official code: both are
 * tf.get_variable(..., initializer=1.0), i.e. Wp = Wn = 1 for every layer
 * (init=one, the default). The paper instead describes starting from a
 * full-precision model whose weights were normalised to [-1, 1]; with
 * unnormalised weights Wp = Wn = 1 is a large scale, so init=mean offers
 * Wp = Wn = mean |w_i| over |w_i| > thr (TWN-like) as the alternative.
 * Boundary: |w| == thr counts as zero here (the official code's masks send
 * it to sign(w) * 1, an artefact of its strict comparisons).
 *
 * export: Wp and Wn are unrelated floats, so one scale with codes +-1 is
 * exact only if Wp == Wn (then codes {-1,0,1}, scale Wp). Otherwise the
 * scale is the power of two 2^e of the lowest set bit of Wp and Wn, and
 * codes are Wp / 2^e and -Wn / 2^e (exact integers, e.g. Wp = 1.5, Wn = 0.5:
 * scale 0.5, codes 3 / 0 / -1); it fails if a code would not fit in int32.
 *
 * Only --bits 2. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_T, OPT_INIT };
enum { INIT_ONE, INIT_MEAN };

static const sq_qoption ttq_options[] = {
    {"t", SQ_QOPT_NUM, "0.05", 0.0, 1.0, NULL, "threshold factor: thr = t * max|w| (TTQ: 0.05)"},
    {"init", SQ_QOPT_ENUM, "one", 0, 0, "one|mean",
     "one: Wp = Wn = 1 (official code); mean: Wp = Wn = mean|w| over |w| > thr"},
};

static double ttq_thr(const sq_qtensor *t)
{
    double m = 0;
    for (size_t i = 0; i < t->n; i++)
        m = fabs(t->w[i]) > m ? fabs(t->w[i]) : m;
    return t->opt[OPT_T] * m;
}

static int ttq_nq(const sq_qtensor *t)
{
    (void)t;
    return 2;
}

static int ttq_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits != 2) {
        snprintf(err, errlen, "ttq is ternary: use --bits 2 (got %d)", t->bits);
        return 1;
    }
    if ((int)t->opt[OPT_INIT] == INIT_MEAN) {
        double thr = ttq_thr(t), s = 0;
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++)
            if (fabs(t->w[i]) > thr)
                s += fabs(t->w[i]), k++;
        t->qparam[0] = t->qparam[1] = k ? (float)(s / (double)k) : 1.0f;
    } else {
        t->qparam[0] = t->qparam[1] = 1.0f;
    }
    return 0;
}

static void ttq_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void ttq_quantize(const sq_qtensor *t, float *out)
{
    double thr = ttq_thr(t);
    float wp = t->qparam[0], wn = t->qparam[1];
    for (size_t i = 0; i < t->n; i++)
        out[i] = t->w[i] > thr ? wp : t->w[i] < -thr ? -wn : 0.0f;
}

static void ttq_forward(sq_qtensor *t)
{
    ttq_quantize(t, t->wq);
}

static void ttq_backward(sq_qtensor *t)
{
    double thr = ttq_thr(t), gp = 0, gn = 0;
    float wp = t->qparam[0], wn = t->qparam[1];
    for (size_t i = 0; i < t->n; i++) {
        if (t->w[i] > thr) {
            gp += t->g[i];
            t->g[i] *= wp;
        } else if (t->w[i] < -thr) {
            gn -= t->g[i];
            t->g[i] *= wn;
        }
    }
    t->qgrad[0] += (float)gp;
    t->qgrad[1] += (float)gn;
}

static void ttq_after_step(sq_qtensor *t)
{
    (void)t;
}

/* e with x = m * 2^e, m an odd integer (x a nonzero finite float). */
static int low_bit_exp(float x)
{
    int e;
    double m = frexp(fabs((double)x), &e); /* x = m 2^e, m in [0.5, 1) */
    long long M = (long long)ldexp(m, 24); /* exact: a float has 24 bits */
    e -= 24;
    while (M && (M & 1) == 0)
        M >>= 1, e++;
    return e;
}

static int ttq_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                      char *err, size_t errlen)
{
    float wp = t->qparam[0], wn = t->qparam[1];
    int32_t cp, cn;
    *per_channel = 0;
    if (!isfinite(wp) || !isfinite(wn)) {
        snprintf(err, errlen, "ttq: Wp/Wn not finite (%g, %g)", wp, wn);
        return 1;
    }
    if (wp == wn && wp != 0) {
        cp = 1, cn = -1;
        scale[0] = wp;
        int e;
        double m = frexp(wp, &e);
        *exponent = m == 0.5 ? e - 1 : SQ_QEXP_NONE;
    } else {
        int e = 0, have = 0;
        if (wp != 0)
            e = low_bit_exp(wp), have = 1;
        if (wn != 0) {
            int en = low_bit_exp(wn);
            e = have && e < en ? e : en;
            have = 1;
        }
        if (!have)
            e = 0;
        double p = ldexp(wp, -e), n = ldexp(wn, -e);
        if (fabs(p) > 2147483647.0 || fabs(n) > 2147483647.0) {
            snprintf(err, errlen, "ttq: Wp = %g and Wn = %g are too far apart for integer codes with one scale",
                     wp, wn);
            return 1;
        }
        cp = (int32_t)p, cn = -(int32_t)n;
        scale[0] = ldexpf(1.0f, e);
        *exponent = e;
    }
    double thr = ttq_thr(t);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = t->w[i] > thr ? cp : t->w[i] < -thr ? cn : 0;
    return 0;
}

static void ttq_stats(const sq_qtensor *t, sq_qstats *s)
{
    memset(s, 0, sizeof *s);
    /* the learned levels Wp, Wn are not on the latent weights' scale (the
     * thresholds are): no step; the host uses the initial max|w| instead */
    (void)t;
    s->step = 0.0;
    s->exponent = SQ_QEXP_NONE;
}

static const sq_quantizer ttq_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "ttq",
    .summary = "Trained Ternary Quantization (Zhu et al. 2017): +Wp/0/-Wn, thr 0.05*max|w|, Wp/Wn learned",
    .options = ttq_options,
    .n_options = (int)(sizeof ttq_options / sizeof ttq_options[0]),
    .state_size = NULL,
    .n_qparams = ttq_nq,
    .init = ttq_init,
    .epoch_begin = ttq_epoch_begin,
    .forward = ttq_forward,
    .backward = ttq_backward,
    .after_step = ttq_after_step,
    .quantize = ttq_quantize,
    .export_codes = ttq_export,
    .stats = ttq_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &ttq_quantizer : NULL;
}
