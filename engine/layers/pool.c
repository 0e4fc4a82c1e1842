/* pool.c - spatial pooling layers: max pooling and average pooling with a
 * k x k window and a stride (no padding, floor mode, as PyTorch's
 * MaxPool2d/AvgPool2d defaults), and global average pooling [B,c,h,w] ->
 * [B,c,1,1]. Max pooling keeps, per output element, the index of the chosen
 * input inside its h*w plane in aux so backward can route the gradient.
 * Planes are independent and split over the node's OpenMP threads. */
#include <math.h>
#include <string.h>

#include "layers.h"

/* Geometry of one pooling plane. */
typedef struct pgeom {
    int H, W, k, s, Ho, Wo;
} pgeom;

static pgeom pool_geometry(const sq_node *nd)
{
    pgeom g = {nd->ish[0].h, nd->ish[0].w, nd->k, nd->stride, 0, 0};
    g.Ho = (g.H - g.k) / g.s + 1;
    g.Wo = (g.W - g.k) / g.s + 1;
    return g;
}

/* Shared setup of max and average pooling: check the window, set osh. */
static int pool_setup_common(sq_node *nd, sq_err *e)
{
    if (nd->n_in != 1)
        return sq_fail(e, "pooling takes 1 input, got %d", nd->n_in);
    if (nd->k < 1 || nd->stride < 1)
        return sq_fail(e, "bad pooling window k=%d stride=%d (both must be >= 1)", nd->k,
                       nd->stride);
    if (nd->k > nd->ish[0].h || nd->k > nd->ish[0].w)
        return sq_fail(e, "pooling window %dx%d is larger than the input %dx%d", nd->k, nd->k,
                       nd->ish[0].h, nd->ish[0].w);
    pgeom g = pool_geometry(nd);
    nd->osh = (sq_shape){nd->ish[0].c, g.Ho, g.Wo};
    nd->flops_per_sample = (double)sq_numel(nd->osh) * g.k * g.k;
    return 0;
}

/* ---- max pooling ------------------------------------------------------ */

/* x [H, W] -> y [Ho, Wo]; arg [Ho, Wo] gets the index into x of each max.
 * Ties keep the first maximum in row-major window order; a NaN wins (the
 * test is PyTorch's CPU one: val > max || isnan(val)). */
static void maxpool_plane(const pgeom *g, const sq_real *x, sq_real *y, sq_real *arg)
{
    for (int oh = 0; oh < g->Ho; oh++)
        for (int ow = 0; ow < g->Wo; ow++) {
            int h0 = oh * g->s, w0 = ow * g->s, best = h0 * g->W + w0;
            sq_real m = x[best];
            for (int i = 0; i < g->k; i++)
                for (int j = 0; j < g->k; j++) {
                    int idx = (h0 + i) * g->W + w0 + j;
                    if (x[idx] > m || isnan(x[idx])) {
                        m = x[idx];
                        best = idx;
                    }
                }
            y[oh * g->Wo + ow] = m;
            arg[oh * g->Wo + ow] = (sq_real)best;
        }
}

/* maxpool_plane for the common 2x2 window with stride 2, unrolled; the
 * same comparisons in the same window order, so ties and NaNs agree
 * (v != v is isnan(v)). */
static void maxpool_plane_2x2(const pgeom *g, const sq_real *x, sq_real *y, sq_real *arg)
{
    for (int oh = 0; oh < g->Ho; oh++) {
        const sq_real *r0 = x + (size_t)2 * oh * g->W, *r1 = r0 + g->W;
        sq_real *yo = y + (size_t)oh * g->Wo, *ao = arg + (size_t)oh * g->Wo;
        int base = 2 * oh * g->W;
        /* vectorized: compares become masks (branches on random data
         * mispredict every other time) */
#pragma omp simd
        for (int ow = 0; ow < g->Wo; ow++) {
            int j = 2 * ow, best = base + j;
            sq_real m = r0[j], v = r0[j + 1];
            int c = (v > m) | (v != v);
            m = c ? v : m, best = c ? base + j + 1 : best;
            v = r1[j], c = (v > m) | (v != v);
            m = c ? v : m, best = c ? base + g->W + j : best;
            v = r1[j + 1], c = (v > m) | (v != v);
            m = c ? v : m, best = c ? base + g->W + j + 1 : best;
            yo[ow] = m;
            ao[ow] = (sq_real)best;
        }
    }
}

/* dy [Ho, Wo], arg [Ho, Wo] -> dx [H, W] += */
static void maxpool_plane_back(const pgeom *g, const sq_real *dy, const sq_real *arg,
                               sq_real *dx)
{
    for (int i = 0; i < g->Ho * g->Wo; i++)
        dx[(size_t)arg[i]] += dy[i];
}

static int maxpool_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (pool_setup_common(nd, e))
        return -1;
    nd->aux_per_sample = sq_numel(nd->osh);
    return 0;
}

/* x [B, C, H, W] -> y [B, C, Ho, Wo], aux [B, C, Ho, Wo] (argmax) */
static void maxpool_forward(sq_node *nd)
{
    pgeom g = pool_geometry(nd);
    size_t planes = (size_t)nd->B * nd->ish[0].c, in = (size_t)g.H * g.W, out = (size_t)g.Ho * g.Wo;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (size_t p = 0; p < planes; p++) {
        if (g.k == 2 && g.s == 2)
            maxpool_plane_2x2(&g, nd->x[0] + p * in, nd->y + p * out, nd->aux + p * out);
        else
            maxpool_plane(&g, nd->x[0] + p * in, nd->y + p * out, nd->aux + p * out);
    }
}

/* dy [B, C, Ho, Wo] -> dx [B, C, H, W] += */
static void maxpool_backward(sq_node *nd)
{
    if (!nd->dx[0])
        return;
    pgeom g = pool_geometry(nd);
    size_t planes = (size_t)nd->B * nd->ish[0].c, in = (size_t)g.H * g.W, out = (size_t)g.Ho * g.Wo;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (size_t p = 0; p < planes; p++)
        maxpool_plane_back(&g, nd->dy + p * out, nd->aux + p * out, nd->dx[0] + p * in);
}

const sq_layer_ops sq_maxpool_ops = {"maxpool", maxpool_setup, NULL, maxpool_forward,
                                     maxpool_backward};

int sq_maxpool(sq_net *net, const char *name, int in, int k, int stride)
{
    sq_node h = {0};
    h.k = k, h.stride = stride;
    return sq_net_add(net, &sq_maxpool_ops, name, &in, 1, &h);
}

/* ---- average pooling -------------------------------------------------- */

/* x [H, W] -> y [Ho, Wo], each the mean of its k x k window */
static void avgpool_plane(const pgeom *g, const sq_real *x, sq_real *y)
{
    double inv = 1.0 / ((double)g->k * g->k);
    for (int oh = 0; oh < g->Ho; oh++)
        for (int ow = 0; ow < g->Wo; ow++) {
            const sq_real *x0 = x + (size_t)oh * g->s * g->W + (size_t)ow * g->s;
            double s = 0;
            for (int i = 0; i < g->k; i++)
                for (int j = 0; j < g->k; j++)
                    s += x0[(size_t)i * g->W + j];
            y[oh * g->Wo + ow] = (sq_real)(s * inv);
        }
}

/* dy [Ho, Wo] -> dx [H, W] += dy / k^2 over each window */
static void avgpool_plane_back(const pgeom *g, const sq_real *dy, sq_real *dx)
{
    sq_real inv = (sq_real)(1.0 / ((double)g->k * g->k));
    for (int oh = 0; oh < g->Ho; oh++)
        for (int ow = 0; ow < g->Wo; ow++) {
            sq_real *d0 = dx + (size_t)oh * g->s * g->W + (size_t)ow * g->s;
            sq_real v = dy[oh * g->Wo + ow] * inv;
            for (int i = 0; i < g->k; i++)
                for (int j = 0; j < g->k; j++)
                    d0[(size_t)i * g->W + j] += v;
        }
}

static int avgpool_setup(sq_net *net, sq_node *nd, sq_err *e) { return pool_setup_common(nd, e); }

/* x [B, C, H, W] -> y [B, C, Ho, Wo] */
static void avgpool_forward(sq_node *nd)
{
    pgeom g = pool_geometry(nd);
    size_t planes = (size_t)nd->B * nd->ish[0].c, in = (size_t)g.H * g.W, out = (size_t)g.Ho * g.Wo;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (size_t p = 0; p < planes; p++)
        avgpool_plane(&g, nd->x[0] + p * in, nd->y + p * out);
}

/* dy [B, C, Ho, Wo] -> dx [B, C, H, W] += */
static void avgpool_backward(sq_node *nd)
{
    if (!nd->dx[0])
        return;
    pgeom g = pool_geometry(nd);
    size_t planes = (size_t)nd->B * nd->ish[0].c, in = (size_t)g.H * g.W, out = (size_t)g.Ho * g.Wo;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (size_t p = 0; p < planes; p++)
        avgpool_plane_back(&g, nd->dy + p * out, nd->dx[0] + p * in);
}

const sq_layer_ops sq_avgpool_ops = {"avgpool", avgpool_setup, NULL, avgpool_forward,
                                     avgpool_backward};

int sq_avgpool(sq_net *net, const char *name, int in, int k, int stride)
{
    sq_node h = {0};
    h.k = k, h.stride = stride;
    return sq_net_add(net, &sq_avgpool_ops, name, &in, 1, &h);
}

/* ---- global average pooling ------------------------------------------- */

static int gap_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (nd->n_in != 1)
        return sq_fail(e, "global average pooling takes 1 input, got %d", nd->n_in);
    nd->osh = (sq_shape){nd->ish[0].c, 1, 1};
    nd->flops_per_sample = (double)sq_numel(nd->ish[0]);
    return 0;
}

/* x [B, C, H, W] -> y [B, C, 1, 1] (the mean of each plane) */
static void gap_forward(sq_node *nd)
{
    size_t planes = (size_t)nd->B * nd->ish[0].c, hw = (size_t)nd->ish[0].h * nd->ish[0].w;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (size_t p = 0; p < planes; p++) {
        const sq_real *x = nd->x[0] + p * hw;
        double s = 0;
        for (size_t i = 0; i < hw; i++)
            s += x[i];
        nd->y[p] = (sq_real)(s / (double)hw);
    }
}

/* dy [B, C, 1, 1] -> dx [B, C, H, W] += dy / (H*W) */
static void gap_backward(sq_node *nd)
{
    if (!nd->dx[0])
        return;
    size_t planes = (size_t)nd->B * nd->ish[0].c, hw = (size_t)nd->ish[0].h * nd->ish[0].w;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (size_t p = 0; p < planes; p++) {
        sq_real *dx = nd->dx[0] + p * hw, v = nd->dy[p] / (sq_real)hw;
        for (size_t i = 0; i < hw; i++)
            dx[i] += v;
    }
}

const sq_layer_ops sq_gap_ops = {"gap", gap_setup, NULL, gap_forward, gap_backward};

int sq_gap(sq_net *net, const char *name, int in)
{
    return sq_net_add(net, &sq_gap_ops, name, &in, 1, NULL);
}
