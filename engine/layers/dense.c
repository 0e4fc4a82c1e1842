/* dense.c - fully connected layer: y = x W^T + b, W [out, in] (PyTorch's
 * nn.Linear layout). The input may be any [B, c, h, w]; it is read as
 * [B, c*h*w] (what flatten would give). */
#include <string.h>

#include "core/gemm.h"
#include "layers.h"

static int dense_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    int nin = (int)sq_numel(nd->ish[0]), nout = nd->out_c;
    if (nout < 1)
        return sq_fail(e, "output size %d", nout);
    nd->osh = (sq_shape){nout, 1, 1};
    int wd[2] = {nout, nin};
    if (sq_net_param(net, nd, "weight", SQ_WEIGHT, 2, wd, nin, nout, e))
        return -1;
    if (nd->bias && sq_net_param(net, nd, "bias", SQ_BIAS, 1, &nout, nin, nout, e))
        return -1;
    nd->flops_per_sample = 2.0 * nin * nout;
    return 0;
}

static void dense_init(sq_node *nd, sq_rng *rng)
{
    sq_init_he(&nd->p[0], rng);
    if (nd->bias)
        memset(nd->p[1].w, 0, nd->p[1].n * sizeof(sq_real));
}

/* x [B, nin] -> y [B, nout] */
static void dense_forward(sq_node *nd)
{
    int B = nd->B, nin = (int)sq_numel(nd->ish[0]), nout = nd->out_c;
    if (nd->bias)
        for (int b = 0; b < B; b++)
            memcpy(nd->y + (size_t)b * nout, nd->p[1].wq, sizeof(sq_real) * nout);
    sq_gemm(0, 1, B, nout, nin, 1, nd->x[0], nin, nd->p[0].wq, nin, nd->bias ? 1 : 0, nd->y, nout);
}

/* dy [B, nout] -> dW [nout, nin] +=, db [nout] +=, dx [B, nin] += */
static void dense_backward(sq_node *nd)
{
    int B = nd->B, nin = (int)sq_numel(nd->ish[0]), nout = nd->out_c;
    sq_gemm(1, 0, nout, nin, B, 1, nd->dy, nout, nd->x[0], nin, 1, nd->p[0].g, nin);
    if (nd->bias)
        for (int b = 0; b < B; b++)
            for (int o = 0; o < nout; o++)
                nd->p[1].g[o] += nd->dy[(size_t)b * nout + o];
    if (nd->dx[0])
        sq_gemm(0, 0, B, nin, nout, 1, nd->dy, nout, nd->p[0].wq, nin, 1, nd->dx[0], nin);
}

const sq_layer_ops sq_dense_ops = {"dense", dense_setup, dense_init, dense_forward, dense_backward};

int sq_dense(sq_net *net, const char *name, int in, int out, int bias)
{
    sq_node h = {0};
    h.out_c = out, h.bias = bias;
    return sq_net_add(net, &sq_dense_ops, name, &in, 1, &h);
}
