/* dropout.c - inverted dropout with drop probability p (nd->rate), as
 * PyTorch's nn.Dropout: in training each element is kept with probability
 * 1-p (drawn from nd->rng) and scaled by 1/(1-p), so evaluation is the
 * identity. The mask (0 or 1/(1-p) per element) is kept in aux for
 * backward. p = 1 drops everything. A training forward without an rng
 * (nd->rng NULL) cannot draw a mask and acts as the identity. */
#include <string.h>

#include "layers.h"

static int dropout_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (nd->n_in != 1)
        return sq_fail(e, "dropout takes 1 input, got %d", nd->n_in);
    if (!(nd->rate >= 0 && nd->rate <= 1))
        return sq_fail(e, "dropout probability %g is outside [0, 1]", nd->rate);
    nd->osh = nd->ish[0];
    nd->aux_per_sample = sq_numel(nd->osh);
    nd->flops_per_sample = (double)sq_numel(nd->osh);
    return 0;
}

/* mask [n] <- 0 with probability p, else 1/(1-p) */
static void draw_mask(sq_real *mask, size_t n, double p, sq_rng *rng)
{
    sq_real scale = p < 1 ? (sq_real)(1.0 / (1.0 - p)) : 0;
    for (size_t i = 0; i < n; i++)
        mask[i] = sq_rng_uniform(rng) >= p ? scale : 0;
}

/* a [n], b [n] -> out [n] (+)= a * b */
static void mul_kernel(const sq_real *a, const sq_real *b, sq_real *out, size_t n, int accumulate)
{
    if (accumulate)
        for (size_t i = 0; i < n; i++)
            out[i] += a[i] * b[i];
    else
        for (size_t i = 0; i < n; i++)
            out[i] = a[i] * b[i];
}

/* x [B, c, h, w] -> y [B, c, h, w]; aux [B, c, h, w] = mask (training) */
static void dropout_forward(sq_node *nd)
{
    size_t n = (size_t)nd->B * sq_numel(nd->osh);
    if (!nd->train) {
        memcpy(nd->y, nd->x[0], n * sizeof(sq_real));
        return;
    }
    if (nd->rate == 0 || !nd->rng)
        for (size_t i = 0; i < n; i++)
            nd->aux[i] = 1;
    else
        draw_mask(nd->aux, n, nd->rate, nd->rng);
    mul_kernel(nd->x[0], nd->aux, nd->y, n, 0);
}

/* dy [B, c, h, w] -> dx [B, c, h, w] += dy * mask (+= dy in evaluation) */
static void dropout_backward(sq_node *nd)
{
    size_t n = (size_t)nd->B * sq_numel(nd->osh);
    if (!nd->dx[0])
        return;
    if (nd->train)
        mul_kernel(nd->dy, nd->aux, nd->dx[0], n, 1);
    else
        for (size_t i = 0; i < n; i++)
            nd->dx[0][i] += nd->dy[i];
}

const sq_layer_ops sq_dropout_ops = {"dropout", dropout_setup, NULL, dropout_forward,
                                     dropout_backward};

int sq_dropout(sq_net *net, const char *name, int in, double rate)
{
    sq_node h = {0};
    h.rate = rate;
    return sq_net_add(net, &sq_dropout_ops, name, &in, 1, &h);
}
