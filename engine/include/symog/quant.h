/* symog/quant.h - the quantizer ABI: the one header a quantizer plugin
 * includes. Self-contained (C99, no engine headers).
 *
 * A quantizer is a table of hooks the engine calls for every quantized weight
 * tensor (conv and dense weights; first/last layer by a host switch) at fixed
 * points of each training step:
 *
 *   init         once, after the host zeroed `state` (state_size bytes) and
 *                `qparam` (n_qparams floats): choose the grid / step /
 *                thresholds, initialise learned parameters
 *   epoch_begin  at the start of each epoch (schedules, step re-estimation)
 *   forward      write the weights the layer computes with into wq, from w
 *                (STE methods: Q(w); SYMOG: w itself)
 *   backward     on entry g holds dL/dwq; turn it into dL/dw in place
 *                (straight-through, masked, plus any regulariser gradient)
 *                and fill qgrad (gradients of the learned qparams)
 *   after_step   after the optimizer updated w (and qparam): clipping
 *   quantize     the hard-quantized weights Q(w) into out, state unchanged;
 *                used for evaluation, the final model and diagnostics
 *   export       integer codes and scale(s) of Q(w): Q(w)_i = codes_i *
 *                scale[channel(i)] (one scale, or one per output channel)
 *
 * Versioning, SQLite-style: the struct only ever grows at its end. A plugin
 * sets abi_version = SQ_QUANT_ABI_VERSION and struct_size =
 * sizeof(sq_quantizer) as it was compiled; the host refuses a different
 * major version and never calls a hook beyond struct_size. Optional hooks
 * may be NULL.
 *
 * A plugin is a shared object exporting
 *     const sq_quantizer *sq_quantizer_entry(int i);
 * returning its i-th quantizer (i = 0, 1, ...) and NULL past the last.
 * Errors: return non-zero and write a message into err (errlen bytes). */
#ifndef SYMOG_QUANT_H
#define SYMOG_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define SQ_QUANT_ABI_VERSION 1

/* Option types; the host parses and range-checks `key=value` strings and
 * hands the plugin numbers (an enum arrives as the index of its choice). */
enum { SQ_QOPT_NUM = 0, SQ_QOPT_INT = 1, SQ_QOPT_BOOL = 2, SQ_QOPT_ENUM = 3 };

typedef struct sq_qoption {
    const char *key;     /* e.g. "lambda0"                                  */
    int type;            /* SQ_QOPT_*                                       */
    const char *def;     /* default, as it would be written after key=      */
    double min, max;     /* NUM / INT range (inclusive)                      */
    const char *choices; /* ENUM: "a|b|c"                                    */
    const char *help;    /* one line, says what the default means           */
} sq_qoption;

/* One quantized weight tensor as a quantizer sees it. The host owns every
 * pointer. */
typedef struct sq_qtensor {
    const char *name;      /* PyTorch name, e.g. "conv1.weight"             */
    int ndim;              /* 4 conv [out,in,kh,kw] or 2 dense [out,in]     */
    const int *dims;
    size_t n;              /* number of weights                            */
    size_t per_channel;    /* weights per output channel: n / dims[0]      */
    float *w;              /* latent weights                                */
    float *wq;             /* weights the layer computes with              */
    float *g;              /* gradient, see backward                        */
    float *qparam, *qgrad; /* learned quantizer parameters and gradients   */
    void *state;           /* state_size bytes, zeroed before init          */
    const double *opt;     /* option values, in the order of `options`      */
    int bits;              /* --bits                                        */
    int index, count;      /* this tensor's place among quantized tensors   */
    /* progress, updated by the host before every hook */
    int epoch, epochs;     /* 0-based epoch, total                          */
    long long step, steps; /* optimizer steps done, total planned           */
    /* the host's seeded RNG, for stochastic methods: uniform in [0, 1)     */
    double (*uniform)(void *rng);
    void *rng;
    /* appended in ABI 1 (plugins built before it never read it): the
       learning rate of the optimizer step that after_step follows */
    double lr;
} sq_qtensor;

/* Per-epoch diagnostics a quantizer may report (optional hook `stats`). */
typedef struct sq_qstats {
    double step;      /* grid step D (0 if the grid has no single step)    */
    int exponent;     /* D = 2^exponent, or SQ_QEXP_NONE                    */
    double lambda;    /* regulariser strength now (0 if none)              */
    double penalty;   /* regulariser value of this tensor (0 if none)      */
} sq_qstats;

#define SQ_QEXP_NONE (-1000)

typedef struct sq_quantizer {
    int abi_version;       /* SQ_QUANT_ABI_VERSION when compiled            */
    int struct_size;       /* sizeof(sq_quantizer) when compiled            */
    const char *name;      /* unique, lower-case, e.g. "twn"               */
    const char *summary;   /* one line for `symog quantizers`               */
    const sq_qoption *options;
    int n_options;

    size_t (*state_size)(const sq_qtensor *t);        /* NULL: no state     */
    int (*n_qparams)(const sq_qtensor *t);            /* NULL: none         */
    int (*init)(sq_qtensor *t, char *err, size_t errlen);
    void (*epoch_begin)(sq_qtensor *t);
    void (*forward)(sq_qtensor *t);
    void (*backward)(sq_qtensor *t);
    void (*after_step)(sq_qtensor *t);
    void (*quantize)(const sq_qtensor *t, float *out);
    /* codes[n]; scale[1] or scale[dims[0]] (set *per_channel); *exponent =
     * power-of-two exponent of a fixed-point scale or SQ_QEXP_NONE */
    int (*export_codes)(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel,
                        int *exponent, char *err, size_t errlen);
    void (*stats)(const sq_qtensor *t, sq_qstats *s);
    /* version 1 ends here; append only */
} sq_quantizer;

/* The symbol a plugin exports. */
typedef const sq_quantizer *(*sq_quantizer_entry_fn)(int i);
#define SQ_QUANTIZER_ENTRY "sq_quantizer_entry"

/* ---- fixed-point grid helpers (shared by SYMOG and the fixed-point STE) --
 * The grid of one tensor at N bits with step D:
 *   with zero (default): modes k*D, k = -K..K, K = 2^(N-1) - 1 (2^N - 1 modes)
 *   without zero:        modes (k + 1/2) D, k = -2^(N-1)..2^(N-1)-1 (2^N modes)
 * A fixed-point step is D = 2^-f for an integer fractional length f. */
#include <math.h>

typedef struct sq_fpgrid {
    double step;   /* D                                                     */
    int zero;      /* 1: modes k*D with zero; 0: half-integer modes         */
    int levels;    /* K: largest |k| (zero) or 2^(N-1) (no zero)            */
} sq_fpgrid;

static inline sq_fpgrid sq_fp_grid(int bits, int zero, double step)
{
    sq_fpgrid g;
    g.step = step;
    g.zero = zero;
    g.levels = zero ? (1 << (bits - 1)) - 1 : 1 << (bits - 1);
    return g;
}

/* Largest mode magnitude: K*D, or (2^(N-1) - 1/2) D without zero. */
static inline double sq_fp_outer(const sq_fpgrid *g)
{
    return g->zero ? g->levels * g->step : (g->levels - 0.5) * g->step;
}

/* Index of the nearest mode: -K..K (zero) or -2^(N-1)..2^(N-1)-1. */
static inline int sq_fp_code(const sq_fpgrid *g, double w)
{
    double u = w / g->step;
    int k, lo = -g->levels, hi = g->zero ? g->levels : g->levels - 1;
    k = g->zero ? (int)lrint(u) : (int)floor(u);
    if (u != u)
        k = 0;
    if (k < lo)
        k = lo;
    if (k > hi)
        k = hi;
    return k;
}

static inline double sq_fp_value(const sq_fpgrid *g, int code)
{
    return g->zero ? code * g->step : (code + 0.5) * g->step;
}

static inline double sq_fp_quant(const sq_fpgrid *g, double w)
{
    return sq_fp_value(g, sq_fp_code(g, w));
}

/* Integer export of a grid value: Q(w) = code * scale exactly, with
 * code = k and scale = D on the grid with zero, code = 2k + 1 and
 * scale = D/2 without zero. */
static inline int32_t sq_fp_export_code(const sq_fpgrid *g, double w)
{
    int k = sq_fp_code(g, w);
    return g->zero ? k : 2 * k + 1;
}

static inline float sq_fp_export_scale(const sq_fpgrid *g)
{
    return g->zero ? (float)g->step : (float)(g->step / 2);
}

/* Sum of squared quantization errors of n weights on grid g. */
static inline double sq_fp_sse(const sq_fpgrid *g, const float *w, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = w[i] - sq_fp_quant(g, w[i]);
        s += d * d;
    }
    return s;
}

/* The fractional length f in [fmin, fmax] whose step 2^-f minimises the
 * squared error of w (ties: the larger step). */
static inline int sq_fp_best_f(const float *w, size_t n, int bits, int zero, int fmin, int fmax)
{
    int best = fmin;
    double best_e = INFINITY;
    for (int f = fmin; f <= fmax; f++) {
        sq_fpgrid g = sq_fp_grid(bits, zero, ldexp(1.0, -f));
        double e = sq_fp_sse(&g, w, n);
        if (e < best_e)
            best_e = e, best = f;
    }
    return best;
}

/* The largest fractional length (the finest step) whose outer mode still
 * covers max |w| (the "range" rule: no weight is clipped). */
static inline int sq_fp_range_f(const float *w, size_t n, int bits, int zero, int fmin, int fmax)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs(w[i]) > m ? fabs(w[i]) : m;
    for (int f = fmax; f >= fmin; f--) {
        sq_fpgrid g = sq_fp_grid(bits, zero, ldexp(1.0, -f));
        if (sq_fp_outer(&g) >= m)
            return f;
    }
    return fmin;
}

/* A free (real) MSE-optimal step: Lloyd-style iterations from the range
 * step; for the ablation that measures what the power of two costs. */
static inline double sq_fp_free_step(const float *w, size_t n, int bits, int zero)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs(w[i]) > m ? fabs(w[i]) : m;
    sq_fpgrid g = sq_fp_grid(bits, zero, 1);
    double D = m > 0 ? m / sq_fp_outer(&g) : 1;
    for (int it = 0; it < 50; it++) {
        /* minimise sum (w - c_i D)^2 over D for fixed codes: D = sum w c / sum c^2 */
        g.step = D;
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double c = sq_fp_value(&g, sq_fp_code(&g, w[i])) / D;
            num += w[i] * c;
            den += c * c;
        }
        if (den <= 0)
            break;
        double nd = num / den;
        if (fabs(nd - D) <= 1e-9 * D) {
            D = nd;
            break;
        }
        D = nd;
    }
    return D;
}

#endif
