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
 * input, which the net keeps until backward. */
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
    nd->flops_per_sample = 4.0 * (double)sq_numel(nd->osh);
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

/* x [B, C, HW], channel ch -> mean and biased variance (two passes, double) */
static void channel_stats(const sq_real *x, int B, int C, size_t hw, int ch, double *mean,
                          double *var)
{
    double s = 0, q = 0;
    for (int b = 0; b < B; b++) {
        const sq_real *xp = x + ((size_t)b * C + ch) * hw;
        for (size_t i = 0; i < hw; i++)
            s += xp[i];
    }
    double m = s / ((double)B * hw);
    for (int b = 0; b < B; b++) {
        const sq_real *xp = x + ((size_t)b * C + ch) * hw;
        for (size_t i = 0; i < hw; i++)
            q += ((double)xp[i] - m) * ((double)xp[i] - m);
    }
    *mean = m;
    *var = q / ((double)B * hw);
}

/* x [B, C, HW] -> y [B, C, HW] = gamma[ch]*(x - mean)*istd + beta[ch], channel ch */
static void channel_normalise(const sq_real *x, sq_real *y, int B, int C, size_t hw, int ch,
                              sq_real mean, sq_real istd, sq_real gamma, sq_real beta)
{
    sq_real a = gamma * istd;
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + ch) * hw;
        for (size_t i = 0; i < hw; i++)
            y[o + i] = (x[o + i] - mean) * a + beta;
    }
}

/* x [B, C, H, W] -> y [B, C, H, W]; aux [2, C] = (mean, istd); buf updated
 * when training. */
static void bn_forward(sq_node *nd)
{
    int B = nd->B, C = nd->ish[0].c;
    size_t hw = (size_t)nd->ish[0].h * nd->ish[0].w, n = (size_t)B * hw;
    sq_real *rmean = nd->buf, *rvar = nd->buf + C;
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
                          nd->p[1].wq[ch]);
    }
}

/* One channel ch of backward. x, dy, dx [B, C, HW]. With batch statistics
 * (train) the gradient flows through the mean and variance:
 *   dx = gamma*istd/n * (n*dy - sum(dy) - x_hat*sum(dy*x_hat));
 * with running statistics it is dx = gamma*istd*dy. */
static void bn_channel_back(sq_node *nd, int ch, size_t hw, sq_real mean, sq_real istd)
{
    int B = nd->B, C = nd->ish[0].c;
    const sq_real *x = nd->x[0], *dy = nd->dy;
    double sdy = 0, sdyx = 0, n = (double)B * hw;
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + ch) * hw;
        for (size_t i = 0; i < hw; i++) {
            sdy += dy[o + i];
            sdyx += (double)dy[o + i] * (double)((x[o + i] - mean) * istd);
        }
    }
    nd->p[0].g[ch] += (sq_real)sdyx;
    nd->p[1].g[ch] += (sq_real)sdy;
    if (!nd->dx[0])
        return;
    sq_real a = nd->p[0].wq[ch] * istd;
    sq_real mdy = nd->train ? (sq_real)(sdy / n) : 0, mdyx = nd->train ? (sq_real)(sdyx / n) : 0;
    for (int b = 0; b < B; b++) {
        size_t o = ((size_t)b * C + ch) * hw;
        for (size_t i = 0; i < hw; i++) {
            sq_real xh = (x[o + i] - mean) * istd;
            nd->dx[0][o + i] += a * (dy[o + i] - mdy - xh * mdyx);
        }
    }
}

/* dy [B, C, H, W] -> dgamma [C] +=, dbeta [C] +=, dx [B, C, H, W] += */
static void bn_backward(sq_node *nd)
{
    int C = nd->ish[0].c;
    size_t hw = (size_t)nd->ish[0].h * nd->ish[0].w;
    for (int ch = 0; ch < C; ch++)
        bn_channel_back(nd, ch, hw, nd->aux[ch], nd->aux[C + ch]);
}

const sq_layer_ops sq_batchnorm_ops = {"batchnorm", bn_setup, bn_init, bn_forward, bn_backward};

int sq_batchnorm(sq_net *net, const char *name, int in)
{
    sq_node h = {0};
    h.eps = 1e-5, h.momentum = 0.1;
    return sq_net_add(net, &sq_batchnorm_ops, name, &in, 1, &h);
}
