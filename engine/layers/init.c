/* init.c - weight initialisers used by the layers' init().
 * sq_init_he: N(0, 2/fan_in), PyTorch's kaiming_normal_(mode="fan_in",
 * nonlinearity="relu"). sq_init_glorot: U(-a, a) with
 * a = sqrt(6/(fan_in+fan_out)), PyTorch's xavier_uniform_ (gain 1). */
#include <math.h>

#include "layers.h"

void sq_init_he(sq_param *p, sq_rng *rng)
{
    double std = sqrt(2.0 / (double)SQ_MAX(p->fan_in, 1));
    for (size_t i = 0; i < p->n; i++)
        p->w[i] = (sq_real)(std * sq_rng_normal(rng));
}

void sq_init_glorot(sq_param *p, sq_rng *rng)
{
    double a = sqrt(6.0 / (double)SQ_MAX(p->fan_in + p->fan_out, 1));
    for (size_t i = 0; i < p->n; i++)
        p->w[i] = (sq_real)(a * (2.0 * sq_rng_uniform(rng) - 1.0));
}
