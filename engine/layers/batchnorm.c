/* batchnorm.c - batch normalisation over the channels of [B, c, h, w]
 * (PyTorch's BatchNorm2d; on [B, n, 1, 1] vectors it is BatchNorm1d).
 *
 * Parameters "weight" (gamma, init 1) and "bias" (beta, init 0); buffers
 * "running_mean" (init 0) and "running_var" (init 1), contiguous in nd->buf.
 * Training normalises with the batch mean and the biased batch variance and
 * updates running_mean/running_var with momentum, the variance UNBIASED
 * (n/(n-1)), as PyTorch does; evaluation normalises with the running stats.
 *
 * aux keeps, per channel, the mean and 1/sqrt(var+eps) used by forward (the
 * first 2*c reals of the node's aux); backward recomputes x_hat from the
 * input, which the net keeps until backward. Channels are independent, so
 * forward and backward split them over the node's OpenMP threads.
 *
 * sq_bnrelu_ops is the same layer with a ReLU fused on its output (the
 * conv -> BN -> ReLU and BN -> ReLU -> conv of VGG and DenseNet): one pass
 * and one stored tensor (with its gradient) fewer per pair. Its parameters
 * and buffers are the batch norm's, under the node's name, so checkpoints
 * match PyTorch's BatchNorm followed by a ReLU module. Backward masks dy
 * with y > 0 (the gradient at 0 is 0, as for ReLU) inside its own passes. */
#include <math.h>

#include "layers.h"

static int bn_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    int c = nd->ish[0].c;
    if (nd->n_in != 1)
        return sq_fail(e, "batch norm takes 1 input, got %d", nd->n_in);
    if (!(nd->eps > 0) || !(nd->momentum >= 0 && nd->momentum <= 1))
        return sq_fail(e, "bad eps %g or momentum %g", nd->eps, nd->momentum);
    nd->osh = nd->ish[0];
    if (sq_net_param(net, nd, "weight", SQ_BN_WEIGHT, 1, &c, c, c, e) ||
        sq_net_param(net, nd, "bias", SQ_BN_BIAS, 1, &c, c, c, e) ||
        sq_net_buffer(net, nd, "running_mean", 1, &c, e) ||
        sq_net_buffer(net, nd, "running_var", 1, &c, e))
        return -1;
    /* 2*c per sample is more than the 2*c per batch needed; it is small. */
    nd->aux_per_sample = 2 * (size_t)c;
    /* 4 per element (subtract, scale, shift, and the statistics); the ReLU 1 */
    nd->flops_per_sample = (nd->ops == &sq_bnrelu_ops ? 5.0 : 4.0) * (double)sq_numel(nd->osh);
    return 0;
}

static void bn_init(sq_node *nd, sq_rng *rng)
{
    int c = nd->ish[0].c;
    for (int i = 0; i < c; i++) {
        nd->p[0].w[i] = 1;
        nd->p[1].w[i] = 0;
        nd->buf[i] = 0;     /* running_mean */
        nd->buf[c + i] = 1; /* running_var  */
    }
}

/* Sums over one plane in sq_real, vectorized (`omp simd reduction` lets
 * the compiler keep one partial sum per lane; one running sum would be a
 * latency-bound scalar chain), returned as double and combined across the
 * planes in double. */

/* sum of v[0..n) */
static double plane_sum(const sq_real *v, size_t n)
{
    sq_real s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* sum of (v - m)^2 over v[0..n) */
static double plane_sqdev(const sq_real *v, size_t n, sq_real m)
{
    sq_real s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m);
    return s;
}

/* sum of dz and of dz * (x - m) over [0, n), dz = dy where y > 0 when the
 * ReLU mask y is given, else dz = dy */
static void plane_dot(const sq_real *dy, const sq_real *x, const sq_real *y, size_t n, sq_real m,
                      double *sdy, double *sdyc)
{
    sq_real s = 0, t = 0;
    if (y) {
#pragma omp simd reduction(+ : s, t)
        for (size_t i = 0; i < n; i++) {
            sq_real d = y[i] > 0 ? dy[i] : 0;
            s += d;
            t += d * (x[i] - m);
        }
    } else {
#pragma omp simd reduction(+ : s, t)
        for (size_t i = 0; i < n; i++) {
            s += dy[i];
            t += dy[i] * (x[i] - m);
        }
    }
    *sdy += s;
    *sdyc += t;
}

/* x [B, C, HW], channel ch -> mean and biased variance (two passes) */
static void channel_stats(const sq_real *x, int B, int C, size_t hw, int ch, double *mean,
                          double *var)
{
    double s = 0, q = 0;
    for (int b = 0; b < B; b++)
        s += plane_sum(x + ((size_t)b * C + ch) * hw, hw);
    double m = s / ((double)B * hw);
    for (int b = 0; b < B; b++)
        q += plane_sqdev(x + ((size_t)b * C + ch) * hw, hw, (sq_real)m);
    *mean = m;
    *var = q / ((double)B * hw);
}

/* x [B, C, HW] -> y [B, C, HW] = gamma[ch]*(x - mean)*istd + beta[ch], channel ch,
 * then max(0, .) when relu */
static void channel_normalise(const sq_real *x, sq_real *y, int B, int C, size_t hw, int ch,
                              sq_real mean, sq_real istd, sq_real gamma, sq_real beta, int relu)
{
    sq_real a = gamma * istd;
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + ch) * hw;
        const sq_real *xo = x + o;
        sq_real *yo = y + o;
        if (relu) {
#pragma omp simd
            for (size_t i = 0; i < hw; i++) {
                sq_real v = (xo[i] - mean) * a + beta;
                yo[i] = v > 0 ? v : 0;
            }
        } else {
#pragma omp simd
            for (size_t i = 0; i < hw; i++)
                yo[i] = (xo[i] - mean) * a + beta;
        }
    }
}

/* x [B, C, H, W] -> y [B, C, H, W]; aux [2, C] = (mean, istd); buf updated
 * when training. */
static void bn_forward(sq_node *nd)
{
    int B = nd->B, C = nd->ish[0].c;
    size_t hw = (size_t)nd->ish[0].h * nd->ish[0].w, n = (size_t)B * hw;
    sq_real *rmean = nd->buf, *rvar = nd->buf + C;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (int ch = 0; ch < C; ch++) {
        double mean, var;
        if (nd->train) {
            channel_stats(nd->x[0], B, C, hw, ch, &mean, &var);
            double unbiased = n > 1 ? var * (double)n / (double)(n - 1) : var;
            rmean[ch] = (sq_real)((1 - nd->momentum) * rmean[ch] + nd->momentum * mean);
            rvar[ch] = (sq_real)((1 - nd->momentum) * rvar[ch] + nd->momentum * unbiased);
        } else {
            mean = rmean[ch];
            var = rvar[ch];
        }
        sq_real istd = (sq_real)(1.0 / sqrt(var + nd->eps));
        nd->aux[ch] = (sq_real)mean;
        nd->aux[C + ch] = istd;
        channel_normalise(nd->x[0], nd->y, B, C, hw, ch, (sq_real)mean, istd, nd->p[0].wq[ch],
                          nd->p[1].wq[ch], nd->ops == &sq_bnrelu_ops);
    }
}

/* One channel ch of backward. x, dy, dx [B, C, HW]. With batch statistics
 * (train) the gradient flows through the mean and variance:
 *   dx = gamma*istd/n * (n*dz - sum(dz) - x_hat*sum(dz*x_hat));
 * with running statistics it is dx = gamma*istd*dz; dz = dy, or for the
 * fused ReLU dy where y > 0. */
static void bn_channel_back(sq_node *nd, int ch, size_t hw, sq_real mean, sq_real istd)
{
    int B = nd->B, C = nd->ish[0].c;
    const sq_real *x = nd->x[0], *dy = nd->dy, *y = nd->ops == &sq_bnrelu_ops ? nd->y : NULL;
    double sdy = 0, sdyx = 0, n = (double)B * hw;
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + ch) * hw;
        plane_dot(dy + o, x + o, y ? y + o : NULL, hw, mean, &sdy, &sdyx);
    }
    sdyx *= istd;
    nd->p[0].g[ch] += (sq_real)sdyx;
    nd->p[1].g[ch] += (sq_real)sdy;
    if (!nd->dx[0])
        return;
    sq_real a = nd->p[0].wq[ch] * istd;
    sq_real mdy = nd->train ? (sq_real)(sdy / n) : 0, mdyx = nd->train ? (sq_real)(sdyx / n) : 0;
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + ch) * hw;
        sq_real *dx = nd->dx[0] + o;
        const sq_real *xo = x + o, *dyo = dy + o, *yo = y ? y + o : NULL;
        if (yo) {
#pragma omp simd
            for (size_t i = 0; i < hw; i++) {
                sq_real dz = yo[i] > 0 ? dyo[i] : 0;
                dx[i] += a * (dz - mdy - (xo[i] - mean) * istd * mdyx);
            }
        } else {
#pragma omp simd
            for (size_t i = 0; i < hw; i++)
                dx[i] += a * (dyo[i] - mdy - (xo[i] - mean) * istd * mdyx);
        }
    }
}

/* dy [B, C, H, W] -> dgamma [C] +=, dbeta [C] +=, dx [B, C, H, W] += */
static void bn_backward(sq_node *nd)
{
    int C = nd->ish[0].c;
    size_t hw = (size_t)nd->ish[0].h * nd->ish[0].w;
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (int ch = 0; ch < C; ch++)
        bn_channel_back(nd, ch, hw, nd->aux[ch], nd->aux[C + ch]);
}

const sq_layer_ops sq_batchnorm_ops = {"batchnorm", bn_setup, bn_init, bn_forward, bn_backward};
const sq_layer_ops sq_bnrelu_ops = {"batchnorm+relu", bn_setup, bn_init, bn_forward, bn_backward};

int sq_batchnorm(sq_net *net, const char *name, int in)
{
    sq_node h = {0};
    h.eps = 1e-5, h.momentum = 0.1;
    return sq_net_add(net, &sq_batchnorm_ops, name, &in, 1, &h);
}

int sq_batchnorm_relu(sq_net *net, const char *name, int in)
{
    sq_node h = {0};
    h.eps = 1e-5, h.momentum = 0.1;
    return sq_net_add(net, &sq_bnrelu_ops, name, &in, 1, &h);
}
