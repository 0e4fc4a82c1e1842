/* densenet.c - DenseNets for CIFAR (Huang et al., "Densely Connected
 * Convolutional Networks"; the layout of liuzhuang13/DenseNet,
 * models/densenet.lua, with its CIFAR+ settings: no dropout).
 *
 *   conv0            3x3 conv, 2*growth channels
 *   3 dense blocks   n layers each; a layer is pre-activation
 *                      BN-ReLU-conv3x3(growth)                     (basic)
 *                      BN-ReLU-conv1x1(4*growth)-BN-ReLU-conv3x3   (bottleneck)
 *                    and its output is concat(input, new) along channels
 *   2 transitions    BN-ReLU-conv1x1(floor(c*compression))-avgpool2
 *   head             BN-ReLU-global average pool-Linear(classes)
 * Convolutions have no bias; the classifier has one.
 *
 *   densenet40      depth 40, growth 12, basic layers (12 per block),
 *                   compression 1: 1,059,298 parameters on CIFAR-10
 *   densenet-bc100  depth 100, growth 12, bottleneck layers (16 per
 *                   block), compression 0.5: 769,162 parameters
 *
 * Node names follow the torchvision DenseNet modules without the
 * `features.` prefix (tools/torch_eval.py has the matching torch module):
 * conv0, denseblockB.denselayerL.{norm1,conv1,norm2,conv2,cat},
 * transitionB.{norm,conv,pool}, norm_final, pool_final, classifier; each
 * batch norm is fused with the ReLU after it (sq_batchnorm_relu).
 *
 * Memory: every concat holds a fresh copy of all the block's features, so
 * activations grow with the square of the layers per block (the naive
 * DenseNet implementation; see the bench for the measured peak). */
#include <stdio.h>

#include "layers/layers.h"
#include "models.h"

typedef struct dn_cfg {
    int layers, growth, bottleneck;
    double compression;
} dn_cfg;

/* Batch norm `pre`+`norm` and its ReLU, fused into one node (the ReLU has
 * no tensors, so the torch module's reluN needs no node of its own). */
static int bn_relu(sq_net *net, const char *pre, const char *norm, int x)
{
    char name[2 * SQ_NAME];
    snprintf(name, sizeof name, "%s%s", pre, norm);
    return sq_batchnorm_relu(net, name, x);
}

/* One dense layer of block b (1-based), layer l: returns concat(x, new). */
static int dense_layer(sq_net *net, int x, int b, int l, const dn_cfg *c)
{
    char pre[SQ_NAME], name[2 * SQ_NAME];
    snprintf(pre, sizeof pre, "denseblock%d.denselayer%d.", b, l);
    int h = bn_relu(net, pre, "norm1", x);
    snprintf(name, sizeof name, "%sconv1", pre);
    if (c->bottleneck) {
        h = sq_conv2d(net, name, h, 4 * c->growth, 1, 1, 0, 0);
        h = bn_relu(net, pre, "norm2", h);
        snprintf(name, sizeof name, "%sconv2", pre);
    }
    h = sq_conv2d(net, name, h, c->growth, 3, 1, 1, 0);
    snprintf(name, sizeof name, "%scat", pre);
    return sq_concat(net, name, x, h);
}

/* Transition b: BN-ReLU-conv1x1(out)-avgpool2. */
static int transition(sq_net *net, int x, int b, int out)
{
    char pre[SQ_NAME], name[2 * SQ_NAME];
    snprintf(pre, sizeof pre, "transition%d.", b);
    x = bn_relu(net, pre, "norm", x);
    snprintf(name, sizeof name, "%sconv", pre);
    x = sq_conv2d(net, name, x, out, 1, 1, 0, 0);
    snprintf(name, sizeof name, "%spool", pre);
    return sq_avgpool(net, name, x, 2, 2);
}

static int build(sq_net *net, sq_shape in, int classes, const dn_cfg *c, const char *model,
                 sq_err *e)
{
    sq_net_begin(net, in);
    if (in.h < 4 || in.w < 4)
        return sq_fail(e, "%s needs inputs of at least 4x4 (two 2x2 average pools), got %dx%d",
                       model, in.h, in.w);
    int ch = 2 * c->growth;
    int x = sq_conv2d(net, "conv0", 0, ch, 3, 1, 1, 0);
    for (int b = 1; b <= 3; b++) {
        for (int l = 1; l <= c->layers; l++)
            x = dense_layer(net, x, b, l, c);
        ch += c->layers * c->growth;
        if (b < 3) {
            ch = (int)(ch * c->compression); /* floor, as math.floor in the reference */
            x = transition(net, x, b, ch);
        }
    }
    x = bn_relu(net, "", "norm_final", x);
    x = sq_gap(net, "pool_final", x);
    x = sq_dense(net, "classifier", x, classes, 1);
    return sq_net_finish(net, x, e);
}

int sq_build_densenet40(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    static const dn_cfg c = {12, 12, 0, 1.0}; /* (40 - 4) / 3 layers per block */
    return build(net, in, classes, &c, "densenet40", e);
}

int sq_build_densenet_bc100(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    static const dn_cfg c = {16, 12, 1, 0.5}; /* (100 - 4) / 6 bottleneck layers */
    return build(net, in, classes, &c, "densenet-bc100", e);
}
