/* layers.h - the layer kinds and the builders models use.
 * Each kind lives in its own file and exports a const sq_layer_ops.
 * Builders return the new node's index (or -1, net->err set). */
#ifndef SQ_LAYERS_H
#define SQ_LAYERS_H

#include "core/net.h"

extern const sq_layer_ops sq_conv2d_ops, sq_dense_ops, sq_maxpool_ops, sq_avgpool_ops,
    sq_gap_ops, sq_batchnorm_ops, sq_relu_ops, sq_dropout_ops, sq_flatten_ops, sq_concat_ops,
    sq_bnrelu_ops;

int sq_conv2d(sq_net *net, const char *name, int in, int out_c, int k, int stride, int pad, int bias);
int sq_dense(sq_net *net, const char *name, int in, int out, int bias);
int sq_maxpool(sq_net *net, const char *name, int in, int k, int stride);
int sq_avgpool(sq_net *net, const char *name, int in, int k, int stride);
int sq_gap(sq_net *net, const char *name, int in);          /* global average pool */
int sq_batchnorm(sq_net *net, const char *name, int in);    /* eps 1e-5, momentum 0.1 (PyTorch) */
int sq_batchnorm_relu(sq_net *net, const char *name, int in); /* batch norm, then ReLU, fused */
int sq_relu(sq_net *net, const char *name, int in);
int sq_dropout(sq_net *net, const char *name, int in, double rate);
int sq_flatten(sq_net *net, const char *name, int in);
int sq_concat(sq_net *net, const char *name, int a, int b); /* along channels */

/* Initialisers for weights (fan_in/fan_out from the sq_param). */
void sq_init_he(sq_param *p, sq_rng *rng);      /* N(0, 2/fan_in)        */
void sq_init_glorot(sq_param *p, sq_rng *rng);  /* U(+-sqrt(6/(in+out))) */

#endif
