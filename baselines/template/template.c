/* template.c - a minimal, complete quantizer plugin to copy: "uniform", a
 * symmetric uniform quantizer with a max-abs scale and a straight-through
 * estimator. See README.md next to this file for the rules of the ABI.
 *
 *   QP    = 2^(b-1) - 1                  (b = --bits, 2..8)
 *   s     = clip * max_i |w_i| / QP      (recomputed from the current w)
 *   wq_i  = clamp(round(w_i / s), -QP, QP) * s      (2^b - 1 levels, 0 incl.)
 *   backward: straight-through, dL/dw = dL/dwq
 *
 * Build out of tree (nothing but the one public header is needed):
 *   cc -std=c11 -O2 -shared -fPIC -I<repo>/engine/include -o uniform.so template.c -lm
 * Run:
 *   symog train --plugin ./uniform.so --quantizer uniform --bits 4
 */
#include <stdio.h>  /* snprintf for error messages */
#include <string.h> /* memset */

#include "symog/quant.h" /* the only header a plugin needs */

/* ---- options: the host parses "key=value" and hands us numbers in
 * t->opt[], in the order of this table. Give each an index. */
enum { OPT_CLIP };

static const sq_qoption uniform_options[] = {
    /* key,  type,          default, min,  max, choices, help */
    {"clip", SQ_QOPT_NUM, "1.0", 0.01, 1.0, NULL,
     "outer level at clip * max|w| (1.0: no weight is clipped)"},
};

/* ---- state: per tensor, state_size() bytes, zeroed by the host before
 * init. Everything a quantizer remembers lives here: no globals. */
typedef struct uniform_state {
    float last_scale; /* the scale the last forward used (for stats) */
} uniform_state;

static size_t uniform_state_size(const sq_qtensor *t)
{
    (void)t;
    return sizeof(uniform_state);
}

/* ---- helpers --------------------------------------------------------- */
static int uniform_qp(const sq_qtensor *t)
{
    return (1 << (t->bits - 1)) - 1;
}

/* The scale s of the current weights. */
static float uniform_scale(const sq_qtensor *t)
{
    double m = 0;
    for (size_t i = 0; i < t->n; i++)
        m = fabs(t->w[i]) > m ? fabs(t->w[i]) : m;
    double s = t->opt[OPT_CLIP] * m / uniform_qp(t);
    return s > 0 ? (float)s : 1.0f; /* all-zero weights: any scale works */
}

/* Integer code of one weight; NaN maps to 0. */
static int32_t uniform_code(float w, float s, int qp)
{
    double u = (double)w / s;
    if (!(u == u))
        return 0;
    if (u > qp)
        return qp;
    if (u < -qp)
        return -qp;
    return (int32_t)nearbyint(u); /* half to even */
}

/* ---- hooks ----------------------------------------------------------- */

/* init: once per tensor, after the weights are set. Reject what the method
 * cannot do with a message the user can act on. */
static int uniform_init(sq_qtensor *t, char *err, size_t errlen)
{
    if (t->bits < 2 || t->bits > 8) {
        snprintf(err, errlen, "uniform needs --bits 2..8 (got %d)", t->bits);
        return 1;
    }
    uniform_state *st = t->state;
    st->last_scale = uniform_scale(t);
    return 0;
}

/* epoch_begin: schedules, re-estimation. Nothing to do here. */
static void uniform_epoch_begin(sq_qtensor *t)
{
    (void)t;
}

/* quantize: Q(w) into out; must not change state (the tensor is const).
 * Computing code * scale in float makes export reproduce it exactly. */
static void uniform_quantize(const sq_qtensor *t, float *out)
{
    float s = uniform_scale(t);
    int qp = uniform_qp(t);
    for (size_t i = 0; i < t->n; i++)
        out[i] = (float)uniform_code(t->w[i], s, qp) * s;
}

/* forward: the weights the layer computes with, every training step. */
static void uniform_forward(sq_qtensor *t)
{
    uniform_state *st = t->state;
    st->last_scale = uniform_scale(t);
    uniform_quantize(t, t->wq);
}

/* backward: g holds dL/dwq; turn it into dL/dw in place. Straight-through:
 * leave it as it is. (Learned parameters would ADD into t->qgrad here.) */
static void uniform_backward(sq_qtensor *t)
{
    (void)t;
}

/* after_step: after the optimizer moved w; clipping would go here. */
static void uniform_after_step(sq_qtensor *t)
{
    (void)t;
}

/* export: integer codes and scale(s) with Q(w)_i == codes_i * scale exactly. */
static int uniform_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel,
                          int *exponent, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    float s = uniform_scale(t);
    int qp = uniform_qp(t);
    for (size_t i = 0; i < t->n; i++)
        codes[i] = uniform_code(t->w[i], s, qp);
    scale[0] = s;
    *per_channel = 0;            /* one scale for the tensor            */
    *exponent = SQ_QEXP_NONE;    /* s is not a power of two in general  */
    return 0;
}

/* stats: optional per-epoch diagnostics. */
static void uniform_stats(const sq_qtensor *t, sq_qstats *s)
{
    const uniform_state *st = t->state;
    memset(s, 0, sizeof *s);
    s->step = st->last_scale;
    s->exponent = SQ_QEXP_NONE;
}

/* ---- the table and the entry point ----------------------------------- */
static const sq_quantizer uniform_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION, /* the header's version, as compiled */
    .struct_size = sizeof(sq_quantizer), /* the struct's size, as compiled   */
    .name = "uniform",
    .summary = "example plugin: symmetric uniform quantizer, max-abs scale, STE",
    .options = uniform_options,
    .n_options = (int)(sizeof uniform_options / sizeof uniform_options[0]),
    .state_size = uniform_state_size,
    .n_qparams = NULL, /* no learned parameters */
    .init = uniform_init,
    .epoch_begin = uniform_epoch_begin,
    .forward = uniform_forward,
    .backward = uniform_backward,
    .after_step = uniform_after_step,
    .quantize = uniform_quantize,
    .export_codes = uniform_export,
    .stats = uniform_stats,
};

/* The one exported symbol: the i-th quantizer of this plugin, NULL past the
 * last. A plugin may export several. */
const sq_quantizer *sq_quantizer_entry(int i)
{
    return i == 0 ? &uniform_quantizer : NULL;
}
