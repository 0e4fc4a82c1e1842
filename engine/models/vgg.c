/* vgg.c - the VGG networks of the quantization papers on CIFAR.
 *
 *   vgg7   the TWN / BinaryConnect net: 2x128C3 MP2 2x256C3 MP2 2x512C3 MP2
 *          FC1024 FC classes; every conv is conv3x3 (pad 1, no bias) -> batch
 *          norm -> ReLU; FC1024 (no bias) -> batch norm -> ReLU.
 *   vgg11  the CIFAR VGG-11 with batch norm of kuangliu/pytorch-cifar
 *          (models/vgg.py): 64 M 128 M 256 256 M 512 512 M 512 512 M, each
 *          number conv3x3 (pad 1, with bias) -> batch norm -> ReLU, M a 2x2
 *          max-pool, then one Linear(512, classes).
 *
 * Node names are those of the PyTorch module (tools/torch_eval.py): the
 * convolutional part is nn.Sequential `features` (features.0 conv,
 * features.1 batch norm, features.2 ReLU, ...), the classifier is
 * `classifier` (vgg11) or nn.Sequential `classifier.N` (vgg7). Each batch
 * norm and the ReLU after it are one fused node (sq_batchnorm_relu) named
 * as the batch norm; the ReLU's index is skipped (it holds no tensors). The
 * classifier reads the flattened last map, so other input sizes work too
 * (28x28 gives vgg7 a 512x3x3 map); a size the pools cannot halve often
 * enough is refused with a message naming the minimum. */
#include <stdio.h>

#include "layers/layers.h"
#include "models.h"

#define POOL (-1) /* a 2x2 max-pool in a configuration list */

/* Append cfg (channel counts and POOLs) as `features.N` nodes to x. */
static int features(sq_net *net, int x, const int *cfg, int n, int conv_bias)
{
    char name[32];
    int idx = 0;
    for (int i = 0; i < n; i++) {
        if (cfg[i] == POOL) {
            snprintf(name, sizeof name, "features.%d", idx++);
            x = sq_maxpool(net, name, x, 2, 2);
            continue;
        }
        snprintf(name, sizeof name, "features.%d", idx++);
        x = sq_conv2d(net, name, x, cfg[i], 3, 1, 1, conv_bias);
        snprintf(name, sizeof name, "features.%d", idx);
        x = sq_batchnorm_relu(net, name, x); /* features.N and the ReLU features.N+1 */
        idx += 2;
    }
    return x;
}

/* The input must survive `pools` halvings. */
static int check_input(const char *model, sq_shape in, int pools, sq_err *e)
{
    int min = 1 << pools;
    if (in.h < min || in.w < min)
        return sq_fail(e, "%s needs inputs of at least %dx%d (%d 2x2 max-pools), got %dx%d; "
                          "use lenet5 or vgg7 for smaller images",
                       model, min, min, pools, in.h, in.w);
    return 0;
}

int sq_build_vgg7(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    static const int cfg[] = {128, 128, POOL, 256, 256, POOL, 512, 512, POOL};
    sq_net_begin(net, in);
    if (check_input("vgg7", in, 3, e))
        return -1;
    int x = features(net, 0, cfg, (int)SQ_COUNT(cfg), 0);
    x = sq_dense(net, "classifier.0", x, 1024, 0);
    x = sq_batchnorm_relu(net, "classifier.1", x); /* and the ReLU classifier.2 */
    x = sq_dense(net, "classifier.3", x, classes, 1);
    return sq_net_finish(net, x, e);
}

int sq_build_vgg11(sq_net *net, sq_shape in, int classes, sq_err *e)
{
    static const int cfg[] = {64,  POOL, 128, POOL, 256, 256, POOL,
                              512, 512,  POOL, 512, 512, POOL};
    sq_net_begin(net, in);
    if (check_input("vgg11", in, 5, e))
        return -1;
    int x = features(net, 0, cfg, (int)SQ_COUNT(cfg), 1);
    /* pytorch-cifar's AvgPool2d(1, 1) at the end of features is the identity */
    x = sq_dense(net, "classifier", x, classes, 1);
    return sq_net_finish(net, x, e);
}
