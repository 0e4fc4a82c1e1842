/* symog.c - SYMOG (Enderich, Timm, Burgard, Neurocomputing 2020): soft
 * quantization by a regulariser that pulls every weight towards the nearest
 * mode of a symmetric power-of-two fixed-point grid, with a strength lambda(t)
 * that rises during training, plus clipping at the outer modes. The weights
 * move from one Gaussian to a mixture of Gaussians centred on the grid; at
 * the end they are snapped onto it. ../shared/METHOD.md is the specification;
 * every choice it leaves open is an option below.
 *
 * Grid (per tensor l, N bits): modes k*D, k = -K..K, K = 2^(N-1)-1 (or the
 * 2^N half-integer modes without zero), D = 2^-f * 2^shift, f chosen to
 * minimise sum (w - Q(w))^2 over integers in [fmin, fmax] ("mse"), or the
 * smallest step whose outer mode covers max|w| ("range"), or a free real
 * step ("free", the ablation of the power-of-two constraint).
 *
 * Penalty, nearest-mode form (default), with s = sigma * D ("relative") or
 * s = sigma ("absolute"), and n_l = n (norm=mean) or 1 (norm=sum):
 *     R_l = (1/n_l) sum_i (w_i - Q(w_i))^2 / (2 s^2)
 *     dR_l/dw_i = (w_i - Q(w_i)) / (n_l s^2)
 * Full-mixture form: R_l = -(1/n_l) sum_i log sum_k exp(-(w_i - mu_k)^2 / (2 s_t^2))
 *     dR_l/dw_i = (1/n_l) sum_k r_ik (w_i - mu_k) / s_t^2,  r_ik the responsibilities,
 *     s_t = s * (1 - shrink * p) narrowing as the ramp progresses (p in [0, 1]).
 * The training gradient becomes dL/dw = dL_task/dw + lambda(t) dR_l/dw, with
 * lambda rising per step over the first `ramp` share of all steps, then held:
 *     exp: lambda0 (lambdaT/lambda0)^p, linear: lambda0 + (lambdaT - lambda0) p,
 *     const: lambdaT.
 * update=prox (the default) applies the penalty as a proximal (implicit)
 * step after the optimizer's instead of through the gradient. Both forms
 * have dR_l/dw = (w - m(w)) / (n_l s^2), m the nearest mode Q(w) or the
 * responsibility-weighted mean of the modes; with a = lr lambda / (n_l s^2)
 *     w <- (w + a m(w)) / (1 + a)
 * which for the nearest form is the exact minimiser of lr lambda R_l plus
 * the squared distance moved (w stays in its mode's cell, so Q is fixed)
 * and for the mixture the semi-implicit step with m frozen at the step's
 * start. It never overshoots a mode, however large lambda gets, where the
 * gradient form oscillates across modes once lr lambda / (n_l s^2) passes
 * SGD-with-momentum's stability limit (small layers, late in the ramp;
 * measured on LeNet5: 24.7 % of fc2's weights switched modes in epoch 9
 * with grad, none with prox).
 * After every optimizer step w is clipped to the outer modes (or half a step
 * beyond them, or not at all). The layer computes with w itself (soft);
 * evaluation and the final model use Q(w). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

enum { O_MODES, O_STEP, O_SHIFT, O_FMIN, O_FMAX, O_REEST, O_REG, O_NORM, O_WIDTH, O_SIGMA,
       O_LAMBDA, O_LAMBDA0, O_LAMBDAT, O_RAMP, O_SHRINK, O_CLIP, O_UPDATE, O_COUNT };

static const sq_qoption options[O_COUNT] = {
    [O_MODES] = {"modes", SQ_QOPT_ENUM, "zero", 0, 0, "zero|nozero",
                 "zero: 2^N-1 modes k*D incl. 0; nozero: 2^N modes (k+1/2)*D"},
    [O_STEP] = {"step", SQ_QOPT_ENUM, "mse", 0, 0, "mse|range|free",
                "mse: power-of-two step of least squared error; range: outer mode covers max|w|; "
                "free: real MSE step (ablation)"},
    [O_SHIFT] = {"shift", SQ_QOPT_INT, "0", -4, 4, NULL,
                 "multiply the chosen step by 2^shift (0: the MSE step itself)"},
    [O_FMIN] = {"fmin", SQ_QOPT_INT, "-4", -30, 30, NULL, "smallest fractional length searched"},
    [O_FMAX] = {"fmax", SQ_QOPT_INT, "16", -30, 30, NULL, "largest fractional length searched"},
    [O_REEST] = {"reestimate", SQ_QOPT_ENUM, "once", 0, 0, "once|epoch",
                 "choose the step once at the start, or again at every epoch"},
    [O_REG] = {"reg", SQ_QOPT_ENUM, "nearest", 0, 0, "nearest|mixture",
               "penalty: squared distance to the nearest mode, or the full mixture"},
    [O_NORM] = {"norm", SQ_QOPT_ENUM, "mean", 0, 0, "mean|sum",
                "penalty averaged over each layer's weights, or summed"},
    [O_WIDTH] = {"width", SQ_QOPT_ENUM, "relative", 0, 0, "relative|absolute",
                 "Gaussian width s = sigma*D (relative) or s = sigma (absolute)"},
    [O_SIGMA] = {"sigma", SQ_QOPT_NUM, "1", 1e-6, 1e6, NULL, "the width factor / value"},
    [O_LAMBDA] = {"lambda", SQ_QOPT_ENUM, "exp", 0, 0, "exp|linear|const",
                  "how lambda rises from lambda0 to lambdaT"},
    [O_LAMBDA0] = {"lambda0", SQ_QOPT_NUM, "1e-6", 0, 1e12, NULL, "lambda at the first step"},
    [O_LAMBDAT] = {"lambdaT", SQ_QOPT_NUM, "1e5", 0, 1e12, NULL,
                   "lambda at the end of the ramp (1e5: with norm=mean and SGD the largest layer "
                   "must still converge onto the grid)"},
    [O_RAMP] = {"ramp", SQ_QOPT_NUM, "0.85", 0.01, 1, NULL,
                "share of all steps over which lambda rises; held after"},
    [O_SHRINK] = {"shrink", SQ_QOPT_NUM, "0.75", 0, 0.99, NULL,
                  "mixture form: the width narrows by this share over the ramp"},
    [O_CLIP] = {"clip", SQ_QOPT_ENUM, "outer", 0, 0, "outer|half|off",
                "after each step clip w to the outer modes, half a step beyond, or not at all"},
    [O_UPDATE] = {"update", SQ_QOPT_ENUM, "prox", 0, 0, "grad|prox",
                  "prox: implicit penalty step w <- (w + a m(w))/(1 + a), a = lr lambda/(n s^2), "
                  "after the optimizer's (stable for any lambda); grad: lambda dR/dw added to "
                  "the task gradient (the paper's form)"},
};

typedef struct state {
    int f;          /* fractional length of the MSE/range step          */
    double step;    /* D actually used                                  */
} state;

static int opt_i(const sq_qtensor *t, int o) { return (int)t->opt[o]; }

static sq_fpgrid grid(const sq_qtensor *t)
{
    const state *s = t->state;
    return sq_fp_grid(t->bits, opt_i(t, O_MODES) == 0, s->step);
}

static void choose_step(sq_qtensor *t)
{
    state *s = t->state;
    int zero = opt_i(t, O_MODES) == 0, fmin = opt_i(t, O_FMIN), fmax = opt_i(t, O_FMAX);
    double scale = ldexp(1.0, opt_i(t, O_SHIFT));
    switch (opt_i(t, O_STEP)) {
    case 0:
        s->f = sq_fp_best_f(t->w, t->n, t->bits, zero, fmin, fmax);
        s->step = ldexp(1.0, -s->f) * scale;
        break;
    case 1:
        s->f = sq_fp_range_f(t->w, t->n, t->bits, zero, fmin, fmax);
        s->step = ldexp(1.0, -s->f) * scale;
        break;
    default:
        s->f = 0;
        s->step = sq_fp_free_step(t->w, t->n, t->bits, zero) * scale;
    }
}

static int s_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits < 1 || t->bits > 8)
        return snprintf(err, errlen, "--bits %d: symog supports 1..8", t->bits), -1;
    if (t->bits == 1 && opt_i(t, O_MODES) == 0)
        return snprintf(err, errlen, "1 bit with modes=zero leaves only the mode 0; use "
                                     "--q-opt modes=nozero for {-D/2, +D/2}"), -1;
    if (opt_i(t, O_FMIN) > opt_i(t, O_FMAX))
        return snprintf(err, errlen, "fmin %d > fmax %d", opt_i(t, O_FMIN), opt_i(t, O_FMAX)), -1;
    choose_step(t);
    return 0;
}

static size_t s_state_size(const sq_qtensor *t) { return sizeof(state); }

static void s_epoch_begin(sq_qtensor *t)
{
    if (opt_i(t, O_REEST) == 1 && t->epoch > 0)
        choose_step(t);
}

static void s_forward(sq_qtensor *t) { memcpy(t->wq, t->w, t->n * sizeof(float)); }

/* Ramp progress p in [0, 1] and lambda(t). */
static double progress(const sq_qtensor *t)
{
    double ramp = t->opt[O_RAMP] * (double)(t->steps > 0 ? t->steps : 1);
    double p = (double)t->step / ramp;
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

static double lambda_now(const sq_qtensor *t)
{
    double l0 = t->opt[O_LAMBDA0], lT = t->opt[O_LAMBDAT], p = progress(t);
    switch (opt_i(t, O_LAMBDA)) {
    case 0:
        return l0 > 0 ? l0 * pow(lT / l0, p) : lT * p;
    case 1:
        return l0 + (lT - l0) * p;
    default:
        return lT;
    }
}

/* n_l: the penalty is averaged over the layer's weights (norm=mean) or summed. */
static double layer_norm(const sq_qtensor *t)
{
    return opt_i(t, O_NORM) == 0 ? (double)t->n : 1.0;
}

static double width(const sq_qtensor *t)
{
    const state *s = t->state;
    double w = opt_i(t, O_WIDTH) == 0 ? t->opt[O_SIGMA] * s->step : t->opt[O_SIGMA];
    if (opt_i(t, O_REG) == 1)
        w *= 1 - t->opt[O_SHRINK] * progress(t);
    return w;
}

/* Mixture penalty of one weight and its derivative. */
static double mixture(const sq_fpgrid *g, double w, double s2, double *dw)
{
    int lo = -g->levels, hi = g->zero ? g->levels : g->levels - 1;
    double best = INFINITY;
    for (int k = lo; k <= hi; k++) {
        double d = w - sq_fp_value(g, k);
        best = fmin(best, d * d);
    }
    double z = 0, num = 0;
    for (int k = lo; k <= hi; k++) {
        double d = w - sq_fp_value(g, k);
        double r = exp(-(d * d - best) / (2 * s2)); /* shifted for stability */
        z += r;
        num += r * d;
    }
    *dw = num / z / s2;
    return best / (2 * s2) - log(z);
}

/* sum over the tensor of the per-weight penalty; grad (optional) gets
 * scale * dR/dw added. */
static double penalty(const sq_qtensor *t, float *grad, double scale)
{
    sq_fpgrid g = grid(t);
    double s = width(t), s2 = s * s, norm = layer_norm(t), sum = 0;
    int mix = opt_i(t, O_REG) == 1;
    for (size_t i = 0; i < t->n; i++) {
        double w = t->w[i], r, d;
        if (mix) {
            r = mixture(&g, w, s2, &d);
        } else {
            double e = w - sq_fp_quant(&g, w);
            r = e * e / (2 * s2);
            d = e / s2;
        }
        sum += r;
        if (grad)
            grad[i] += (float)(scale * d / norm);
    }
    return sum / norm;
}

static void s_backward(sq_qtensor *t)
{
    double lambda = lambda_now(t);
    if (lambda > 0 && opt_i(t, O_UPDATE) == 0)
        penalty(t, t->g, lambda);
}

/* update=prox: the proximal step of lr * lambda * R_l (exact for the
 * nearest form, m frozen at the current w for the mixture). */
static void prox(sq_qtensor *t)
{
    double s = width(t), s2 = s * s, norm = layer_norm(t);
    double a = t->lr * lambda_now(t) / (norm * s2);
    if (!(a > 0))
        return;
    sq_fpgrid g = grid(t);
    int mix = opt_i(t, O_REG) == 1;
    for (size_t i = 0; i < t->n; i++) {
        double w = t->w[i], m, d;
        if (mix) {
            mixture(&g, w, s2, &d);
            m = w - d * s2; /* d = (w - m) / s^2 */
        } else {
            m = sq_fp_quant(&g, w);
        }
        t->w[i] = (float)((w + a * m) / (1 + a));
    }
}

static void s_after_step(sq_qtensor *t)
{
    const state *s = t->state;
    if (opt_i(t, O_UPDATE) == 1)
        prox(t);
    int clip = opt_i(t, O_CLIP);
    if (clip == 2)
        return;
    sq_fpgrid g = grid(t);
    float c = (float)(sq_fp_outer(&g) + (clip == 1 ? 0.5 * s->step : 0));
    for (size_t i = 0; i < t->n; i++)
        t->w[i] = t->w[i] > c ? c : t->w[i] < -c ? -c : t->w[i];
}

static void s_quantize(const sq_qtensor *t, float *out)
{
    sq_fpgrid g = grid(t);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)sq_fp_quant(&g, t->w[i]);
}

static int s_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel,
                    int *exponent, char *err, size_t n)
{
    const state *s = t->state;
    sq_fpgrid g = grid(t);
    int zero = g.zero;
    for (size_t i = 0; i < t->n; i++)
        codes[i] = sq_fp_export_code(&g, t->w[i]);
    scale[0] = sq_fp_export_scale(&g);
    *per_channel = 0;
    *exponent = opt_i(t, O_STEP) == 2 ? SQ_QEXP_NONE
                                      : -s->f + opt_i(t, O_SHIFT) - (zero ? 0 : 1);
    return 0;
}

static void s_stats(const sq_qtensor *t, sq_qstats *st)
{
    const state *s = t->state;
    st->step = s->step;
    st->exponent = opt_i(t, O_STEP) == 2 ? SQ_QEXP_NONE : -s->f + opt_i(t, O_SHIFT);
    st->lambda = lambda_now(t);
    st->penalty = penalty(t, NULL, 0);
}

const sq_quantizer sq_symog_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "symog",
    .summary = "SYMOG: soft fixed-point quantization by a rising mixture-of-Gaussians penalty "
               "+ clipping",
    .options = options,
    .n_options = O_COUNT,
    .state_size = s_state_size,
    .init = s_init,
    .epoch_begin = s_epoch_begin,
    .forward = s_forward,
    .backward = s_backward,
    .after_step = s_after_step,
    .quantize = s_quantize,
    .export_codes = s_export,
    .stats = s_stats,
};

/* For tests: the penalty of a tensor as the gradient sees it. */
double sq_symog_penalty(const sq_qtensor *t) { return penalty(t, NULL, 0); }
