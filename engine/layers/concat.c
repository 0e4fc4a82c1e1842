/* concat.c - concatenation along channels (torch.cat(dim=1)) of inputs with
 * equal h and w: [B, c0, h, w] ++ [B, c1, h, w] -> [B, c0+c1, h, w]. The
 * builder joins two inputs; the ops accept up to SQ_MAX_IN. Backward splits
 * dy and adds each slice into its input's gradient. Samples are split over
 * the node's OpenMP threads. */
#include <string.h>

#include "layers.h"

static int concat_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    int c = 0;
    for (int i = 0; i < nd->n_in; i++) {
        if (nd->ish[i].h != nd->ish[0].h || nd->ish[i].w != nd->ish[0].w)
            return sq_fail(e,
                           "cannot concatenate along channels: input %d is %dx%d, input 0 is %dx%d",
                           i, nd->ish[i].h, nd->ish[i].w, nd->ish[0].h, nd->ish[0].w);
        c += nd->ish[i].c;
    }
    nd->osh = (sq_shape){c, nd->ish[0].h, nd->ish[0].w};
    return 0;
}

/* x_i [B, c_i, h, w] for each input -> y [B, sum c_i, h, w] */
static void concat_forward(sq_node *nd)
{
    size_t out = sq_numel(nd->osh);
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (int b = 0; b < nd->B; b++) {
        sq_real *y = nd->y + (size_t)b * out;
        for (int i = 0; i < nd->n_in; i++) {
            size_t n = sq_numel(nd->ish[i]);
            memcpy(y, nd->x[i] + (size_t)b * n, n * sizeof(sq_real));
            y += n;
        }
    }
}

/* dy [B, sum c_i, h, w] -> dx_i [B, c_i, h, w] += its channel slice */
static void concat_backward(sq_node *nd)
{
    size_t out = sq_numel(nd->osh);
#pragma omp parallel for num_threads(nd->threads) schedule(static)
    for (int b = 0; b < nd->B; b++) {
        const sq_real *dy = nd->dy + (size_t)b * out;
        for (int i = 0; i < nd->n_in; i++) {
            size_t n = sq_numel(nd->ish[i]);
            sq_real *dx = nd->dx[i] ? nd->dx[i] + (size_t)b * n : NULL;
            for (size_t j = 0; dx && j < n; j++)
                dx[j] += dy[j];
            dy += n;
        }
    }
}

const sq_layer_ops sq_concat_ops = {"concat", concat_setup, NULL, concat_forward, concat_backward};

int sq_concat(sq_net *net, const char *name, int a, int b)
{
    int in[2] = {a, b};
    return sq_net_add(net, &sq_concat_ops, name, in, 2, NULL);
}
