/* guard.h - numerical faults of a training run: where NaN/Inf first
 * appeared (gradients, weights, the quantized weights the layers compute
 * with, learned quantizer parameters, batch-norm statistics, layer outputs),
 * told as a sentence, and the record of a diverged run, DIR/diverged.yaml.
 * Used by train.c after every batch (the loss) and every epoch (the state),
 * and on weights loaded from --init or --resume. */
#ifndef SQ_GUARD_H
#define SQ_GUARD_H

#include "core/net.h"
#include "quant/quant.h"

typedef struct sq_fault {
    const char *kind;          /* "gradient", "weights", ...; NULL: none found */
    char tensor[SQ_NAME + 32]; /* parameter, buffer or layer name              */
    double value;              /* the first non-finite value                  */
} sq_fault;

enum { SQ_SCAN_WEIGHTS, SQ_SCAN_GRADIENTS, SQ_SCAN_QUANTIZED };

/* 1 and f filled at the first parameter tensor whose weights, gradients or
 * quantized weights (where they differ from the weights) hold NaN/Inf. */
int sq_scan_params(const sq_net *net, int which, sq_fault *f);
/* Weights, then q's learned parameters (q may be NULL), then buffers. */
int sq_scan_state(const sq_net *net, const sq_qrun *q, sq_fault *f);
/* The first layer whose output for the last forward batch of nb is bad. */
int sq_scan_outputs(const sq_net *net, int nb, sq_fault *f);

/* The loss of the last forward pass (nb images) is not finite: find the
 * cause in causal order (the previous step's gradients, the weights after
 * its update, the quantized weights, the layer outputs) and describe it. */
void sq_fault_explain_loss(const sq_net *net, const sq_qrun *q, int nb, double loss, sq_fault *f,
                           char *detail, size_t n);

/* Where and how a run diverged, for diverged.yaml. */
typedef struct sq_divergence {
    int epoch, step;           /* 1-based; step: the batch of the epoch      */
    int steps_per_epoch, last_checkpoint_epoch;
    double loss, lr;
    unsigned long long seed;
    const char *model, *quantizer, *detail;
} sq_divergence;

/* Write DIR/diverged.yaml atomically. */
int sq_write_diverged(const char *dir, const sq_divergence *d, const sq_fault *f, sq_err *e);

/* %g, but NaN of either sign as "nan"; returns buf. */
const char *sq_gnum(double v, char buf[32]);

#endif
