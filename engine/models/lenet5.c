/* lenet5.c - the two LeNet-5 variants. Layer names match the PyTorch module
 * in tests/torch_models.py so checkpoints load there unchanged. */
#include "layers/layers.h"
#include "models.h"

/* conv 32 5x5, MP2, conv 64 5x5, MP2, FC 512, FC classes: the variant
 * quantization papers (TWN, SYMOG) use. */
int sq_build_lenet5(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    sq_net_begin(net, in);
    int x = sq_conv2d(net, "conv1", 0, 32, 5, 1, 0, 1);
    x = sq_relu(net, "relu1", x);
    x = sq_maxpool(net, "pool1", x, 2, 2);
    x = sq_conv2d(net, "conv2", x, 64, 5, 1, 0, 1);
    x = sq_relu(net, "relu2", x);
    x = sq_maxpool(net, "pool2", x, 2, 2);
    x = sq_flatten(net, "flatten", x);
    x = sq_dense(net, "fc1", x, 512, 1);
    x = sq_relu(net, "relu3", x);
    x = sq_dense(net, "fc2", x, classes, 1);
    return sq_net_finish(net, x, e);
}

/* The classic 6/16/120/84 LeNet-5 with max pooling and ReLU. */
int sq_build_lenet5_classic(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    sq_net_begin(net, in);
    int x = sq_conv2d(net, "conv1", 0, 6, 5, 1, 0, 1);
    x = sq_relu(net, "relu1", x);
    x = sq_maxpool(net, "pool1", x, 2, 2);
    x = sq_conv2d(net, "conv2", x, 16, 5, 1, 0, 1);
    x = sq_relu(net, "relu2", x);
    x = sq_maxpool(net, "pool2", x, 2, 2);
    x = sq_flatten(net, "flatten", x);
    x = sq_dense(net, "fc1", x, 120, 1);
    x = sq_relu(net, "relu3", x);
    x = sq_dense(net, "fc2", x, 84, 1);
    x = sq_relu(net, "relu4", x);
    x = sq_dense(net, "fc3", x, classes, 1);
    return sq_net_finish(net, x, e);
}

/* lenet5 with batch norm after every conv and the first dense layer: the
 * arrangement +-1-weight methods (BinaryConnect, TTQ, DoReFa) need to train
 * at all. */
int sq_build_lenet5_bn(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    sq_net_begin(net, in);
    int x = sq_conv2d(net, "conv1", 0, 32, 5, 1, 0, 0);
    x = sq_batchnorm(net, "bn1", x);
    x = sq_relu(net, "relu1", x);
    x = sq_maxpool(net, "pool1", x, 2, 2);
    x = sq_conv2d(net, "conv2", x, 64, 5, 1, 0, 0);
    x = sq_batchnorm(net, "bn2", x);
    x = sq_relu(net, "relu2", x);
    x = sq_maxpool(net, "pool2", x, 2, 2);
    x = sq_flatten(net, "flatten", x);
    x = sq_dense(net, "fc1", x, 512, 0);
    x = sq_batchnorm(net, "bn3", x);
    x = sq_relu(net, "relu3", x);
    x = sq_dense(net, "fc2", x, classes, 1);
    return sq_net_finish(net, x, e);
}
