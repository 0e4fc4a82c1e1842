/* registry.c - the table of models; add a line here to add an architecture. */
#include <string.h>

#include "models.h"

int sq_build_lenet5(sq_net *net, sq_shape in, int classes, sq_err *e);
int sq_build_lenet5_classic(sq_net *net, sq_shape in, int classes, sq_err *e);
int sq_build_lenet5_bn(sq_net *net, sq_shape in, int classes, sq_err *e);
int sq_build_vgg7(sq_net *net, sq_shape in, int classes, sq_err *e);
int sq_build_vgg11(sq_net *net, sq_shape in, int classes, sq_err *e);
int sq_build_densenet40(sq_net *net, sq_shape in, int classes, sq_err *e);
int sq_build_densenet_bc100(sq_net *net, sq_shape in, int classes, sq_err *e);

static const sq_model_info models[] = {
    {"lenet5", "conv32-5 MP2 conv64-5 MP2 FC512 FC (the quantization papers' LeNet-5)",
     sq_build_lenet5},
    {"lenet5-classic", "conv6-5 MP2 conv16-5 MP2 FC120 FC84 FC (LeCun's sizes)",
     sq_build_lenet5_classic},
    {"lenet5-bn", "lenet5 with batch norm after conv1, conv2 and fc1 (no biases before BN)",
     sq_build_lenet5_bn},
    {"vgg7", "2x128C3 MP2 2x256C3 MP2 2x512C3 MP2 FC1024 FC, BN+ReLU after each (TWN's VGG-7)",
     sq_build_vgg7},
    {"vgg11", "CIFAR VGG-11 with BN (pytorch-cifar): 64 M 128 M 2x256 M 2x512 M 2x512 M FC",
     sq_build_vgg11},
    {"densenet40", "DenseNet L=40 k=12: 3 blocks of 12 BN-ReLU-conv3x3 layers, 1x1 transitions",
     sq_build_densenet40},
    {"densenet-bc100", "DenseNet-BC L=100 k=12: 3 blocks of 16 bottleneck layers, compression 0.5",
     sq_build_densenet_bc100},
};

const sq_model_info *sq_model_at(int i)
{
    return i >= 0 && i < (int)SQ_COUNT(models) ? &models[i] : NULL;
}

const sq_model_info *sq_model_find(const char *name)
{
    for (size_t i = 0; i < SQ_COUNT(models); i++)
        if (!strcmp(models[i].name, name))
            return &models[i];
    return NULL;
}

int sq_model_check(const char *name, sq_err *e)
{
    if (sq_model_find(name))
        return 0;
    char list[256] = "";
    for (size_t i = 0; i < SQ_COUNT(models); i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, models[i].name, sizeof list - strlen(list) - 1);
    }
    return sq_fail(e, "unknown model '%s' (valid: %s)", name, list);
}

int sq_model_build(const char *name, sq_net *net, sq_shape in, int classes, sq_err *e)
{
    if (sq_model_check(name, e))
        return -1;
    const sq_model_info *m = sq_model_find(name);
    if (m->build(net, in, classes, e)) {
        sq_net_free(net);
        return sq_wrap(e, "building model %s", name);
    }
    return 0;
}
