/* fixedpoint.c - fixed-point straight-through baseline: the hard quantizer
 * Q(w) on exactly SYMOG's fixed-point grid from the first step, with a
 * straight-through estimator; the ablation that isolates SYMOG's soft
 * mixture-of-Gaussians regulariser (METHOD.md, "fixed-point STE").
 *
 * Source of the grid: L. Enderich, F. Timm, W. Burgard, "SYMOG: learning
 * symmetric mixture of Gaussian modes for improved fixed-point
 * quantization", Neurocomputing 2020, arXiv 2002.08204; the grid rules are
 * METHOD.md's (the sq_fp_* helpers of symog/quant.h, shared with SYMOG).
 *
 * Grid of a tensor at N = --bits bits with step D:
 *   modes=zero    mu_k = k D, k = -K..K, K = 2^(N-1) - 1 (2^N - 1 modes)
 *   modes=nozero  mu_k = (k + 1/2) D, k = -2^(N-1)..2^(N-1)-1 (2^N modes)
 *   Q(w) = the nearest mode (outside: the outer mode)
 * Step D:
 *   step=mse    D = 2^-f * 2^shift, f in [fmin, fmax] minimising
 *               sum_i (w_i - Q(w_i))^2 at shift 0 (ties: the larger step)
 *   step=range  D = 2^-f * 2^shift, f the largest whose outer mode covers
 *               max |w| (no weight clipped)
 *   step=free   D = the real MSE-optimal step (Lloyd iterations) * 2^shift,
 *               not a power of two (ablation: what the power of two costs)
 *   reestimate=once   D chosen at init; epoch: chosen again in epoch_begin
 *               of every later epoch (epoch >= 1) on the current (clipped)
 *               weights
 * Training:
 *   forward     wq = Q(w)
 *   backward    straight-through: dL/dw = dL/dwq (g unchanged)
 *   after_step  clip=outer: w clamped to [-outer, outer] (outer = K D, or
 *               (2^(N-1) - 1/2) D without zero); half: to outer + D/2 (the
 *               rounding boundary of the outer mode); off: no clipping
 * export:
 *   zero        codes k, scale D, exponent -f + shift
 *   nozero      codes 2k + 1 (odd), scale D/2, exponent -f + shift - 1:
 *               (k + 1/2) D is not an integer multiple of D
 *   step=free   exponent SQ_QEXP_NONE
 *
 * --bits 1..8; 1 bit needs modes=nozero (the zero grid has K = 0). */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { OPT_MODES, OPT_STEP, OPT_SHIFT, OPT_FMIN, OPT_FMAX, OPT_REEST, OPT_CLIP };
enum { MODES_ZERO, MODES_NOZERO };
enum { STEP_MSE, STEP_RANGE, STEP_FREE };
enum { REEST_ONCE, REEST_EPOCH };
enum { CLIP_OUTER, CLIP_HALF, CLIP_OFF };

static const sq_qoption fp_options[] = {
    {"modes", SQ_QOPT_ENUM, "zero", 0, 0, "zero|nozero",
     "zero: 2^N-1 modes k*D incl. 0; nozero: 2^N modes (k+1/2)*D"},
    {"step", SQ_QOPT_ENUM, "mse", 0, 0, "mse|range|free",
     "mse: power-of-two step of least squared error; range: outer mode covers max|w|; free: real MSE step"},
    {"shift", SQ_QOPT_INT, "0", -4, 4, NULL, "multiply the chosen step by 2^shift (0: as chosen)"},
    {"fmin", SQ_QOPT_INT, "-4", -30, 30, NULL, "smallest fractional length searched (largest step 2^-fmin)"},
    {"fmax", SQ_QOPT_INT, "16", -30, 30, NULL, "largest fractional length searched (smallest step 2^-fmax)"},
    {"reestimate", SQ_QOPT_ENUM, "once", 0, 0, "once|epoch",
     "once: step chosen at init; epoch: chosen again at every epoch start"},
    {"clip", SQ_QOPT_ENUM, "outer", 0, 0, "outer|half|off",
     "outer: clip w to the outer modes after each step; half: to outer + D/2; off: no clipping"},
};

typedef struct fp_state {
    double step; /* D                                        */
    int f;       /* fractional length: D = 2^(-f + shift)    */
} fp_state;

static size_t fp_state_size(const sq_qtensor *t)
{
    (void)t;
    return sizeof(fp_state);
}

static int fp_zero(const sq_qtensor *t)
{
    return (int)t->opt[OPT_MODES] == MODES_ZERO;
}

static int fp_free(const sq_qtensor *t)
{
    return (int)t->opt[OPT_STEP] == STEP_FREE;
}

static void fp_choose(sq_qtensor *t)
{
    fp_state *st = t->state;
    int zero = fp_zero(t), shift = (int)t->opt[OPT_SHIFT];
    int fmin = (int)t->opt[OPT_FMIN], fmax = (int)t->opt[OPT_FMAX];
    switch ((int)t->opt[OPT_STEP]) {
    case STEP_RANGE:
        st->f = sq_fp_range_f(t->w, t->n, t->bits, zero, fmin, fmax);
        st->step = ldexp(1.0, -st->f + shift);
        break;
    case STEP_FREE:
        st->f = 0;
        st->step = ldexp(sq_fp_free_step(t->w, t->n, t->bits, zero), shift);
        break;
    default:
        st->f = sq_fp_best_f(t->w, t->n, t->bits, zero, fmin, fmax);
        st->step = ldexp(1.0, -st->f + shift);
        break;
    }
    /* the scale travels as a float: keep D exactly representable */
    st->step = (float)st->step;
    if (!(st->step > 0))
        st->step = 1.0; /* degenerate free step; cannot happen for 2^-f */
}

static sq_fpgrid fp_grid(const sq_qtensor *t)
{
    const fp_state *st = t->state;
    return sq_fp_grid(t->bits, fp_zero(t), st->step);
}

static int fp_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits < 1 || t->bits > 8) {
        snprintf(err, errlen, "fixedpoint supports --bits 1..8 (got %d)", t->bits);
        return 1;
    }
    if (t->bits == 1 && fp_zero(t)) {
        snprintf(err, errlen,
                 "fixedpoint at --bits 1 needs modes=nozero (the grid with zero has only the mode 0)");
        return 1;
    }
    if (t->opt[OPT_FMIN] > t->opt[OPT_FMAX]) {
        snprintf(err, errlen, "fixedpoint: fmin (%d) > fmax (%d)", (int)t->opt[OPT_FMIN], (int)t->opt[OPT_FMAX]);
        return 1;
    }
    fp_choose(t);
    return 0;
}

static void fp_epoch_begin(sq_qtensor *t)
{
    /* epoch 0 starts right after init, on the same weights */
    if ((int)t->opt[OPT_REEST] == REEST_EPOCH && t->epoch > 0)
        fp_choose(t);
}

static void fp_quantize(const sq_qtensor *t, float *out)
{
    sq_fpgrid g = fp_grid(t);
    float s = sq_fp_export_scale(&g);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)sq_fp_export_code(&g, t->w[i]) * s;
}

static void fp_forward(sq_qtensor *t)
{
    fp_quantize(t, t->wq);
}

static void fp_backward(sq_qtensor *t)
{
    (void)t; /* straight-through */
}

static void fp_after_step(sq_qtensor *t)
{
    int clip = (int)t->opt[OPT_CLIP];
    if (clip == CLIP_OFF)
        return;
    sq_fpgrid g = fp_grid(t);
    double lim = sq_fp_outer(&g) + (clip == CLIP_HALF ? g.step / 2 : 0.0);
    float hi = (float)lim, lo = -hi;
    for (size_t i = 0; i < t->n; i++) {
        if (t->w[i] > hi)
            t->w[i] = hi;
        else if (t->w[i] < lo)
            t->w[i] = lo;
    }
}

static int fp_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel, int *exponent,
                     char *err, size_t errlen)
{
    (void)err, (void)errlen;
    const fp_state *st = t->state;
    sq_fpgrid g = fp_grid(t);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = sq_fp_export_code(&g, t->w[i]);
    scale[0] = sq_fp_export_scale(&g);
    *per_channel = 0;
    if (fp_free(t))
        *exponent = SQ_QEXP_NONE;
    else
        *exponent = -st->f + (int)t->opt[OPT_SHIFT] - (g.zero ? 0 : 1);
    return 0;
}

static void fp_stats(const sq_qtensor *t, sq_qstats *s)
{
    const fp_state *st = t->state;
    memset(s, 0, sizeof *s);
    s->step = st->step;
    s->exponent = fp_free(t) ? SQ_QEXP_NONE : -st->f + (int)t->opt[OPT_SHIFT];
}

static const sq_quantizer fp_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "fixedpoint",
    .summary = "fixed-point STE: hard Q(w) on SYMOG's grid (power-of-two step) from the start, STE, clipping",
    .options = fp_options,
    .n_options = (int)(sizeof fp_options / sizeof fp_options[0]),
    .state_size = fp_state_size,
    .n_qparams = NULL,
    .init = fp_init,
    .epoch_begin = fp_epoch_begin,
    .forward = fp_forward,
    .backward = fp_backward,
    .after_step = fp_after_step,
    .quantize = fp_quantize,
    .export_codes = fp_export,
    .stats = fp_stats,
};

const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &fp_quantizer : NULL;
}
