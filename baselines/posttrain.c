/* posttrain.c - post-training quantization: the net trains in float, and
 * only the evaluated / final weights are put on SYMOG's fixed-point grid,
 * once, without retraining (METHOD.md: "shows why training matters").
 *
 * Grid: L. Enderich, F. Timm, W. Burgard, "SYMOG: learning symmetric
 * mixture of Gaussian modes for improved fixed-point quantization",
 * Neurocomputing 2020, arXiv 2002.08204, as specified in METHOD.md (the
 * sq_fp_* helpers of symog/quant.h):
 *   modes=zero    mu_k = k D, k = -K..K, K = 2^(N-1) - 1
 *   modes=nozero  mu_k = (k + 1/2) D, k = -2^(N-1)..2^(N-1)-1
 *   D = 2^-f * 2^shift, f in [fmin, fmax] minimising sum_i (w_i - Q(w_i))^2
 *   of the weights at the moment quantize/export is called (ties: the larger
 *   step); Q(w) = nearest mode, outer mode outside.
 *
 *   forward     wq = w (float training)
 *   backward    g unchanged (plain float gradient)
 *   after_step  nothing (no clipping)
 *   quantize    Q(w) on the grid chosen on the current w (nothing stored)
 *   export      as fixedpoint: zero grid codes k, scale D, exponent
 *               -f + shift; nozero codes 2k + 1, scale D/2, exponent
 *               -f + shift - 1
 *
 * --bits 1..8; 1 bit needs modes=nozero. No state. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_MODES, OPT_SHIFT, OPT_FMIN, OPT_FMAX };
enum { MODES_ZERO, MODES_NOZERO };

static const sq_qoption pt_options[] = {
    {"modes", SQ_QOPT_ENUM, "zero", 0, 0, "zero|nozero",
     "zero: 2^N-1 modes k*D incl. 0; nozero: 2^N modes (k+1/2)*D"},
    {"shift", SQ_QOPT_INT, "0", -4, 4, NULL, "multiply the MSE step by 2^shift (0: as chosen)"},
    {"fmin", SQ_QOPT_INT, "-4", -30, 30, NULL, "smallest fractional length searched (largest step 2^-fmin)"},
    {"fmax", SQ_QOPT_INT, "16", -30, 30, NULL, "largest fractional length searched (smallest step 2^-fmax)"},
};

/* The grid of the current weights and its fractional length. */
static sq_fpgrid pt_grid(const sq_qtensor *t, int *f_out)
{
    int zero = (int)t->opt[OPT_MODES] == MODES_ZERO;
    int f = sq_fp_best_f(t->w, t->n, t->bits, zero, (int)t->opt[OPT_FMIN], (int)t->opt[OPT_FMAX]);
    if (f_out)
        *f_out = f;
    return sq_fp_grid(t->bits, zero, ldexp(1.0, -f + (int)t->opt[OPT_SHIFT]));
}

static int pt_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits < 1 || t->bits > 8) {
        snprintf(err, errlen, "posttrain supports --bits 1..8 (got %d)", t->bits);
        return 1;
    }
    if (t->bits == 1 && (int)t->opt[OPT_MODES] == MODES_ZERO) {
        snprintf(err, errlen, "posttrain at --bits 1 needs modes=nozero (the grid with zero has only the mode 0)");
        return 1;
    }
    if (t->opt[OPT_FMIN] > t->opt[OPT_FMAX]) {
        snprintf(err, errlen, "posttrain: fmin (%d) > fmax (%d)", (int)t->opt[OPT_FMIN], (int)t->opt[OPT_FMAX]);
        return 1;
    }
    return 0;
}

static void pt_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

static void pt_forward(sq_qtensor *t)
{
    if (t->wq != t->w)
        memcpy(t->wq, t->w, t->n * sizeof *t->w);
}

static void pt_backward(sq_qtensor *t)
{
    (void)t; /* float training: dL/dw = dL/dwq */
}

static void pt_after_step(sq_qtensor *t)
{
    (void)t; /* no clipping */
}

static void pt_quantize(const sq_qtensor *t, float *out)
{
    sq_fpgrid g = pt_grid(t, NULL);
    float s = sq_fp_export_scale(&g);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)sq_fp_export_code(&g, t->w[i]) * s;
}

static int pt_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                     char *err, size_t errlen)
{
    (void)err, (void)errlen;
    int f;
    sq_fpgrid g = pt_grid(t, &f);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = sq_fp_export_code(&g, t->w[i]);
    scale[0] = sq_fp_export_scale(&g);
    *per_channel = 0;
    *exponent = -f + (int)t->opt[OPT_SHIFT] - (g.zero ? 0 : 1);
    return 0;
}

static void pt_stats(const sq_qtensor *t, sq_qstats *s)
{
    int f;
    sq_fpgrid g = pt_grid(t, &f);
    memset(s, 0, sizeof *s);
    s->step = g.step;
    s->exponent = -f + (int)t->opt[OPT_SHIFT];
}

static const sq_quantizer pt_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "posttrain",
    .summary = "post-training quantization: float training, Q(w) on SYMOG's fixed-point grid (MSE step) at the end",
    .options = pt_options,
    .n_options = (int)(sizeof pt_options / sizeof pt_options[0]),
    .state_size = NULL,
    .n_qparams = NULL,
    .init = pt_init,
    .epoch_begin = pt_epoch_begin,
    .forward = pt_forward,
    .backward = pt_backward,
    .after_step = pt_after_step,
    .quantize = pt_quantize,
    .export_codes = pt_export,
    .stats = pt_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &pt_quantizer : NULL;
}
