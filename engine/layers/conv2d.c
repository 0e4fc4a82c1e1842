/* conv2d.c - 2-D convolution as im2col + one GEMM over a chunk of images.
 *
 * Weights [out_c, in_c, k, k] (PyTorch's layout) are a row-major matrix
 * W[O, K] with K = in_c*k*k. A chunk of nb images is unfolded into
 * col[K, nb*P] (P = output pixels per image), so one GEMM computes
 * Y'[O, nb*P] = W col with a wide N even when P is small (LeNet's conv2 has
 * P = 64). Y' is then scattered into y[nb, O, P]. Backward recomputes col
 * rather than keeping it (memory stays proportional to one chunk). */
#include <string.h>

#include "core/gemm.h"
#include "layers.h"

/* Scratch per chunk is capped near this many reals (32 MiB of floats). */
#define COL_BUDGET (8u << 20)

typedef struct geom {
    int C, H, W, O, k, s, p, Ho, Wo, K, P;
} geom;

static geom geometry(const sq_node *nd)
{
    geom g = {nd->ish[0].c, nd->ish[0].h, nd->ish[0].w, nd->out_c, nd->k, nd->stride, nd->pad, 0, 0, 0, 0};
    g.Ho = (g.H + 2 * g.p - g.k) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.k) / g.s + 1;
    g.K = g.C * g.k * g.k;
    g.P = g.Ho * g.Wo;
    return g;
}

static int chunk_images(const geom *g)
{
    size_t per = (size_t)(g->K + g->O) * g->P;
    size_t n = COL_BUDGET / per;
    return (int)SQ_MAX(1, SQ_MIN(n, 256));
}

/* x [C, H, W] -> col rows K, columns P, written at col + b0 with row stride ld. */
static void im2col(const geom *g, const sq_real *x, sq_real *col, int ld)
{
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->k; ki++)
            for (int kj = 0; kj < g->k; kj++) {
                sq_real *row = col + (size_t)((c * g->k + ki) * g->k + kj) * ld;
                const sq_real *xc = x + (size_t)c * g->H * g->W;
                /* output columns [lo, hi) read inside the image */
                int lo = 0, hi = g->Wo;
                while (lo < hi && lo * g->s - g->p + kj < 0)
                    lo++;
                while (hi > lo && (hi - 1) * g->s - g->p + kj >= g->W)
                    hi--;
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->s - g->p + ki;
                    sq_real *r = row + oh * g->Wo;
                    if (ih < 0 || ih >= g->H) {
                        memset(r, 0, sizeof(sq_real) * g->Wo);
                        continue;
                    }
                    const sq_real *xr = xc + (size_t)ih * g->W - g->p + kj;
                    for (int ow = 0; ow < lo; ow++)
                        r[ow] = 0;
                    if (g->s == 1)
                        memcpy(r + lo, xr + lo, sizeof(sq_real) * (size_t)(hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++)
                            r[ow] = xr[ow * g->s];
                    for (int ow = hi; ow < g->Wo; ow++)
                        r[ow] = 0;
                }
            }
}

/* The adjoint of im2col: dx [C, H, W] += fold(dcol). */
static void col2im(const geom *g, const sq_real *dcol, int ld, sq_real *dx)
{
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->k; ki++)
            for (int kj = 0; kj < g->k; kj++) {
                const sq_real *row = dcol + (size_t)((c * g->k + ki) * g->k + kj) * ld;
                sq_real *xc = dx + (size_t)c * g->H * g->W;
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->s - g->p + ki;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    const sq_real *r = row + oh * g->Wo;
                    sq_real *xr = xc + (size_t)ih * g->W;
                    for (int ow = 0; ow < g->Wo; ow++) {
                        int iw = ow * g->s - g->p + kj;
                        if (iw >= 0 && iw < g->W)
                            xr[iw] += r[ow];
                    }
                }
            }
}

static int conv_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (nd->k < 1 || nd->stride < 1 || nd->pad < 0 || nd->out_c < 1)
        return sq_fail(e, "bad hyper-parameters k=%d stride=%d pad=%d out=%d", nd->k, nd->stride,
                       nd->pad, nd->out_c);
    if (nd->ish[0].h + 2 * nd->pad < nd->k || nd->ish[0].w + 2 * nd->pad < nd->k)
        return sq_fail(e, "kernel %d larger than the padded input %dx%d", nd->k, nd->ish[0].h,
                       nd->ish[0].w);
    geom g = geometry(nd);
    nd->osh = (sq_shape){g.O, g.Ho, g.Wo};
    int wd[4] = {g.O, g.C, g.k, g.k};
    if (sq_net_param(net, nd, "weight", SQ_WEIGHT, 4, wd, g.K, g.O * g.k * g.k, e))
        return -1;
    if (nd->bias && sq_net_param(net, nd, "bias", SQ_BIAS, 1, &g.O, g.K, g.O, e))
        return -1;
    nd->ws_fixed = (size_t)chunk_images(&g) * (g.K + g.O) * g.P;
    nd->flops_per_sample = 2.0 * g.O * g.K * g.P;
    return 0;
}

static void conv_init(sq_node *nd, sq_rng *rng)
{
    sq_init_he(&nd->p[0], rng);
    if (nd->bias)
        memset(nd->p[1].w, 0, nd->p[1].n * sizeof(sq_real));
}

/* x [B, C, H, W] -> y [B, O, Ho, Wo] */
static void conv_forward(sq_node *nd)
{
    geom g = geometry(nd);
    int chunk = chunk_images(&g);
    const sq_real *w = nd->p[0].wq, *bias = nd->bias ? nd->p[1].wq : NULL;
    for (int b0 = 0; b0 < nd->B; b0 += chunk) {
        int nb = SQ_MIN(chunk, nd->B - b0), ld = nb * g.P;
        sq_real *col = nd->ws, *out = nd->ws + (size_t)g.K * ld;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
        for (int b = 0; b < nb; b++)
            im2col(&g, nd->x[0] + (size_t)(b0 + b) * g.C * g.H * g.W, col + (size_t)b * g.P, ld);
        sq_gemm(0, 0, g.O, ld, g.K, 1, w, g.K, col, ld, 0, out, ld);
#pragma omp parallel for num_threads(nd->threads) schedule(static)
        for (int b = 0; b < nb; b++)
            for (int o = 0; o < g.O; o++) {
                sq_real *y = nd->y + ((size_t)(b0 + b) * g.O + o) * g.P;
                const sq_real *src = out + (size_t)o * ld + (size_t)b * g.P;
                sq_real bo = bias ? bias[o] : 0;
                for (int i = 0; i < g.P; i++)
                    y[i] = src[i] + bo;
            }
    }
}

/* dy [B, O, Ho, Wo] -> dW [O, K] +=, dbias [O] +=, dx [B, C, H, W] += */
static void conv_backward(sq_node *nd)
{
    geom g = geometry(nd);
    int chunk = chunk_images(&g);
    const sq_real *w = nd->p[0].wq;
    sq_real *dw = nd->p[0].g, *db = nd->bias ? nd->p[1].g : NULL;
    for (int b0 = 0; b0 < nd->B; b0 += chunk) {
        int nb = SQ_MIN(chunk, nd->B - b0), ld = nb * g.P;
        sq_real *col = nd->ws, *dout = nd->ws + (size_t)g.K * ld;
        for (int b = 0; b < nb; b++)
            for (int o = 0; o < g.O; o++) {
                const sq_real *dy = nd->dy + ((size_t)(b0 + b) * g.O + o) * g.P;
                memcpy(dout + (size_t)o * ld + (size_t)b * g.P, dy, sizeof(sq_real) * g.P);
                if (db) {
                    sq_real s = 0;
                    for (int i = 0; i < g.P; i++)
                        s += dy[i];
                    db[o] += s;
                }
            }
#pragma omp parallel for num_threads(nd->threads) schedule(static)
        for (int b = 0; b < nb; b++)
            im2col(&g, nd->x[0] + (size_t)(b0 + b) * g.C * g.H * g.W, col + (size_t)b * g.P, ld);
        sq_gemm(0, 1, g.O, g.K, ld, 1, dout, ld, col, ld, 1, dw, g.K);
        if (!nd->dx[0])
            continue;
        sq_gemm(1, 0, g.K, ld, g.O, 1, w, g.K, dout, ld, 0, col, ld);
#pragma omp parallel for num_threads(nd->threads) schedule(static)
        for (int b = 0; b < nb; b++)
            col2im(&g, col + (size_t)b * g.P, ld, nd->dx[0] + (size_t)(b0 + b) * g.C * g.H * g.W);
    }
}

const sq_layer_ops sq_conv2d_ops = {"conv2d", conv_setup, conv_init, conv_forward, conv_backward};

int sq_conv2d(sq_net *net, const char *name, int in, int out_c, int k, int stride, int pad, int bias)
{
    sq_node h = {0};
    h.out_c = out_c, h.k = k, h.stride = stride, h.pad = pad, h.bias = bias;
    return sq_net_add(net, &sq_conv2d_ops, name, &in, 1, &h);
}
