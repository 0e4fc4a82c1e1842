/* float.c - the identity "quantizer": the float reference run. Registered
 * like every other quantizer, so a float run takes the same code path. */
#include <stdio.h>
#include <string.h>

#include "symog/quant.h"

static int f_init(sq_qtensor *t, char *err, size_t n) { return 0; }
static void f_forward(sq_qtensor *t) { memcpy(t->wq, t->w, t->n * sizeof(float)); }
static void f_backward(sq_qtensor *t) {}
static void f_quantize(const sq_qtensor *t, float *out) { memcpy(out, t->w, t->n * sizeof(float)); }

static int f_export(const sq_qtensor *t, int32_t *codes, float *scale, int *per_channel,
                    int *exponent, char *err, size_t n)
{
    (void)codes, (void)scale, (void)per_channel, (void)exponent;
    snprintf(err, n, "float weights have no integer codes");
    return -1;
}

const sq_quantizer sq_float_quantizer = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "float",
    .summary = "full-precision reference: weights stay float32",
    .init = f_init,
    .forward = f_forward,
    .backward = f_backward,
    .quantize = f_quantize,
    .export_codes = f_export,
};
