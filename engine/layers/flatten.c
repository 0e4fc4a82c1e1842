/* flatten.c - [B, c, h, w] -> [B, c*h*w, 1, 1]. NCHW memory is already in
 * PyTorch's flatten order, so forward and backward are copies. */
#include <string.h>

#include "layers.h"

static int flatten_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (nd->n_in != 1)
        return sq_fail(e, "flatten takes 1 input, got %d", nd->n_in);
    nd->osh = (sq_shape){(int)sq_numel(nd->ish[0]), 1, 1};
    return 0;
}

/* x [B, c, h, w] -> y [B, c*h*w] */
static void flatten_forward(sq_node *nd)
{
    memcpy(nd->y, nd->x[0], (size_t)nd->B * sq_numel(nd->osh) * sizeof(sq_real));
}

/* dy [B, c*h*w] -> dx [B, c, h, w] += */
static void flatten_backward(sq_node *nd)
{
    if (!nd->dx[0])
        return;
    size_t n = (size_t)nd->B * sq_numel(nd->osh);
    for (size_t i = 0; i < n; i++)
        nd->dx[0][i] += nd->dy[i];
}

const sq_layer_ops sq_flatten_ops = {"flatten", flatten_setup, NULL, flatten_forward,
                                     flatten_backward};

int sq_flatten(sq_net *net, const char *name, int in)
{
    return sq_net_add(net, &sq_flatten_ops, name, &in, 1, NULL);
}
