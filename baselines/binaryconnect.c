/* binaryconnect.c - BinaryConnect: binary {-1, +1} weights with a straight-
 * through estimator on latent float weights.
 *
 * Source: M. Courbariaux, Y. Bengio, J.-P. David, "BinaryConnect: Training
 * Deep Neural Networks with binary weights during propagations", NeurIPS
 * 2015, arXiv 1511.00363; official code github.com/MatthieuCourbariaux/
 * BinaryConnect (binary_net.py: H = 1, weights clipped to [-H, H]).
 *
 *   forward, mode=det    wb = sign(w)                 (sign(0) = +1)
 *   forward, mode=stoch  wb = +1 with probability p = clip((w + 1) / 2, 0, 1)
 *                        ("hard sigmoid"), else -1; one draw per weight and
 *                        step from the host's seeded RNG
 *   backward             straight-through: dL/dw = dL/dwb (g unchanged)
 *   after_step           latent w clipped to [-1, 1] (official code, H = 1)
 *   quantize / export    sign(w) for both modes (the deterministic form);
 *                        codes +-1, scale 1 = 2^0
 *
 * Note: for the stochastic form the paper evaluates with the real-valued
 * weights (its section 2.6); this harness evaluates every method with
 * binary weights, so its stochastic numbers are not the paper's 8.27 %.
 *
 * Only --bits 1. No state, no learned parameters. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_MODE };
enum { MODE_DET, MODE_STOCH };

static const sq_qoption bc_options[] = {
    {"mode", SQ_QOPT_ENUM, "det", 0, 0, "det|stoch",
     "det: wb = sign(w); stoch: wb = +1 with p = clip((w+1)/2, 0, 1)"},
};

static int bc_mode(const sq_qtensor *t)
{
    return (int)t->opt[OPT_MODE];
}

static int bc_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits != 1) {
        snprintf(err, errlen, "binaryconnect is binary: use --bits 1 (got %d)", t->bits);
        return 1;
    }
    if (bc_mode(t) == MODE_STOCH && !t->uniform) {
        snprintf(err, errlen, "binaryconnect mode=stoch needs the host's random numbers (uniform is NULL)");
        return 1;
    }
    return 0;
}

static void bc_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void bc_forward(sq_qtensor *t)
{
    if (bc_mode(t) == MODE_STOCH) {
        for (size_t i = 0; i < t->n; i++) {
            double p = (t->w[i] + 1.0) / 2.0;
            p = p < 0 ? 0 : p > 1 ? 1 : p;
            t->wq[i] = t->uniform(t->rng) < p ? 1.0f : -1.0f;
        }
    } else {
        for (size_t i = 0; i < t->n; i++)
            t->wq[i] = t->w[i] >= 0 ? 1.0f : -1.0f;
    }
}

static void bc_backward(sq_qtensor *t)
{
    (void)t; /* straight-through: dL/dw = dL/dwb */
}

static void bc_after_step(sq_qtensor *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->w[i] > 1.0f)
            t->w[i] = 1.0f;
        else if (t->w[i] < -1.0f)
            t->w[i] = -1.0f;
    }
}

static void bc_quantize(const sq_qtensor *t, float *out)
{
    for (size_t i = 0; i < t->n; i++)
        out[i] = t->w[i] >= 0 ? 1.0f : -1.0f;
}

static int bc_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                     char *err, size_t errlen)
{
    (void)err, (void)errlen;
    for (size_t i = 0; i < t->n; i++)
        codes[i] = t->w[i] >= 0 ? 1 : -1;
    scale[0] = 1.0f;
    *per_channel = 0;
    *exponent = 0;
    return 0;
}

static void bc_stats(const sq_qtensor *t, sq_qstats *s)
{
    (void)t;
    memset(s, 0, sizeof *s);
    /* the levels +-1 do not scale with the latent weights: no step (the host
     * then measures the weight histogram in units of the initial max|w|) */
    s->step = 0.0;
    s->exponent = SQ_QEXP_NONE;
}

static const sq_quantizer bc_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "binaryconnect",
    .summary = "BinaryConnect (Courbariaux et al. 2015): sign(w) or stochastic +-1, STE, w clipped to [-1,1]",
    .options = bc_options,
    .n_options = (int)(sizeof bc_options / sizeof bc_options[0]),
    .state_size = NULL,
    .n_qparams = NULL,
    .init = bc_init,
    .epoch_begin = bc_epoch_begin,
    .forward = bc_forward,
    .backward = bc_backward,
    .after_step = bc_after_step,
    .quantize = bc_quantize,
    .export_codes = bc_export,
    .stats = bc_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &bc_quantizer : NULL;
}
