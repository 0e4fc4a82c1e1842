/* bwn.c - Binary-Weight-Networks (the weight half of XNOR-Net): scaled
 * binary weights alpha * sign(w), straight-through estimator.
 *
 * Source: M. Rastegari, V. Ordonez, J. Redmon, A. Farhadi, "XNOR-Net:
 * ImageNet Classification Using Binary Convolutional Neural Networks",
 * ECCV 2016, arXiv 1603.05279, section 3.1: W ~ alpha B, B = sign(W),
 * alpha = ||W||_l1 / n, one alpha per output filter.
 *
 *   forward     wq_i = alpha_c * sign(w_i), sign(0) = +1, for i in output
 *               channel c (the dims[0] slice of per_channel weights),
 *               alpha_c = mean_{i in c} |w_i|   (scope=channel, default)
 *               or one alpha = mean |w| over the tensor (scope=tensor)
 *   backward    straight-through: dL/dw = dL/dwq (g unchanged). The
 *               XNOR-Net paper also back-propagates through alpha (a 1/n
 *               term); like most reproductions (and as METHOD.md's
 *               "straight-through estimator on latent float weights" says)
 *               we use the plain STE.
 *   after_step  nothing
 *   export      codes +-1, one scale per output channel (scope=channel) or
 *               one scale (scope=tensor); not a power of two.
 *
 * alpha is recomputed from the current w at every call, so there is no
 * state. Only --bits 1. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_SCOPE };
enum { SCOPE_CHANNEL, SCOPE_TENSOR };

static const sq_qoption bwn_options[] = {
    {"scope", SQ_QOPT_ENUM, "channel", 0, 0, "channel|tensor",
     "channel: one alpha = mean|w| per output channel (XNOR-Net); tensor: one per tensor"},
};

static int bwn_per_channel(const sq_qtensor *t)
{
    return (int)t->opt[OPT_SCOPE] == SCOPE_CHANNEL;
}

/* Number of scale groups and weights per group. */
static void bwn_groups(const sq_qtensor *t, size_t *ng, size_t *per)
{
    if (bwn_per_channel(t) && t->per_channel > 0) {
        *ng = t->n / t->per_channel;
        *per = t->per_channel;
    } else {
        *ng = 1;
        *per = t->n;
    }
}

static float bwn_alpha(const float *w, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += fabs(w[i]);
    return n ? (float)(s / (double)n) : 0.0f;
}

static int bwn_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits != 1) {
        snprintf(err, errlen, "bwn is binary: use --bits 1 (got %d)", t->bits);
        return 1;
    }
    if (bwn_per_channel(t) && (t->ndim < 1 || t->per_channel == 0 || t->per_channel * (size_t)t->dims[0] != t->n)) {
        snprintf(err, errlen, "bwn scope=channel: tensor %s has no output-channel layout",
                 t->name ? t->name : "?");
        return 1;
    }
    return 0;
}

static void bwn_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void bwn_apply(const sq_qtensor *t, float *out)
{
    size_t ng, per;
    bwn_groups(t, &ng, &per);
    for (size_t c = 0; c < ng; c++) {
        const float *w = t->w + c * per;
        float a = bwn_alpha(w, per);
        for (size_t i = 0; i < per; i++)
            out[c * per + i] = (w[i] >= 0 ? 1.0f : -1.0f) * a;
    }
}

static void bwn_forward(sq_qtensor *t)
{
    bwn_apply(t, t->wq);
}

static void bwn_backward(sq_qtensor *t)
{
    (void)t; /* straight-through */
}

static void bwn_after_step(sq_qtensor *t)
{
    (void)t;
}

static void bwn_quantize(const sq_qtensor *t, float *out)
{
    bwn_apply(t, out);
}

static int bwn_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                      char *err, size_t errlen)
{
    (void)err, (void)errlen;
    size_t ng, per;
    bwn_groups(t, &ng, &per);
    for (size_t c = 0; c < ng; c++) {
        scale[c] = bwn_alpha(t->w + c * per, per);
        for (size_t i = 0; i < per; i++)
            codes[c * per + i] = t->w[c * per + i] >= 0 ? 1 : -1;
    }
    *per_channel = bwn_per_channel(t);
    *exponent = SQ_QEXP_NONE;
    return 0;
}

static void bwn_stats(const sq_qtensor *t, sq_qstats *s)
{
    memset(s, 0, sizeof *s);
    /* spacing of the levels -alpha and +alpha; none for per-channel alphas */
    s->step = bwn_per_channel(t) ? 0.0 : 2.0 * bwn_alpha(t->w, t->n);
    s->exponent = SQ_QEXP_NONE;
}

static const sq_quantizer bwn_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "bwn",
    .summary = "Binary-Weight-Networks (XNOR-Net, Rastegari et al. 2016): alpha*sign(w), alpha = mean|w| per channel, STE",
    .options = bwn_options,
    .n_options = (int)(sizeof bwn_options / sizeof bwn_options[0]),
    .state_size = NULL,
    .n_qparams = NULL,
    .init = bwn_init,
    .epoch_begin = bwn_epoch_begin,
    .forward = bwn_forward,
    .backward = bwn_backward,
    .after_step = bwn_after_step,
    .quantize = bwn_quantize,
    .export_codes = bwn_export,
    .stats = bwn_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &bwn_quantizer : NULL;
}
