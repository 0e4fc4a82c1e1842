/* relu.c - the rectifier y = max(0, x), elementwise on any [B, c, h, w].
 * Backward passes dy where the output is positive (the gradient at 0 is 0,
 * as in PyTorch). No aux: the output itself is the mask. Large tensors are
 * split over the node's OpenMP threads. */
#include "layers.h"

static int relu_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (nd->n_in != 1)
        return sq_fail(e, "relu takes 1 input, got %d", nd->n_in);
    nd->osh = nd->ish[0];
    nd->flops_per_sample = (double)sq_numel(nd->osh);
    return 0;
}

/* x [n] -> y [n] */
static void relu_kernel(const sq_real *x, sq_real *y, size_t n, int threads)
{
#pragma omp parallel for simd num_threads(threads) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

/* y [n], dy [n] -> dx [n] += dy * (y > 0) */
static void relu_back_kernel(const sq_real *y, const sq_real *dy, sq_real *dx, size_t n,
                             int threads)
{
#pragma omp parallel for simd num_threads(threads) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        dx[i] += y[i] > 0 ? dy[i] : 0;
}

/* x [B, c, h, w] -> y [B, c, h, w] */
static void relu_forward(sq_node *nd)
{
    relu_kernel(nd->x[0], nd->y, (size_t)nd->B * sq_numel(nd->osh), nd->threads);
}

/* dy [B, c, h, w] -> dx [B, c, h, w] += */
static void relu_backward(sq_node *nd)
{
    if (nd->dx[0])
        relu_back_kernel(nd->y, nd->dy, nd->dx[0], (size_t)nd->B * sq_numel(nd->osh),
                         nd->threads);
}

const sq_layer_ops sq_relu_ops = {"relu", relu_setup, NULL, relu_forward, relu_backward};

int sq_relu(sq_net *net, const char *name, int in)
{
    return sq_net_add(net, &sq_relu_ops, name, &in, 1, NULL);
}
