/* test_models.c - the CIFAR networks (vgg7, vgg11, densenet40,
 * densenet-bc100) and the code paths they train through:
 *   - parameter counts and forward FLOPs against counts computed here
 *     independently from the layer shapes, and against the published
 *     parameter counts;
 *   - tensor names (PyTorch's, unique, none truncated), the classes
 *     following the dataset, clear refusals of inputs too small;
 *   - conv2d's fast paths (direct, pointwise, batched; several chunks; 1-3
 *     threads; the stencil kernels) against a naive convolution, forward
 *     and backward; the 2x2 max-pool fast path's tie and NaN rule;
 *   - a one-batch overfit per model: the loss halves within a few dozen
 *     steps on 16 images;
 *   - equivalence with PyTorch: random weights and statistics, a random
 *     batch, logits from symog and from tools/torch_eval.py's module loaded
 *     with strict=True (skipped where no python3 has torch);
 *   - training recipes, and `symog train` end to end on generated files in
 *     the CIFAR-10 / CIFAR-100 binary formats (the real data are not needed). */
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#include "data/data.h"
#include "io/yamlio.h"
#include "layers/layers.h"
#include "models/models.h"
#include "optim/optim.h"
#include "train/checkpoint.h"
#include "train/train.h"

#ifndef SQ_BUILD_DIR
#define SQ_BUILD_DIR "build"
#endif

static const char *const MODELS[] = {"vgg7", "vgg11", "densenet40", "densenet-bc100"};

/* ---- counts computed from the layer shapes --------------------------------
 * The engine's conventions (each layer's setup): a multiply-add is 2 FLOPs,
 * batch norm 4 per element, ReLU 1, a k x k pool k*k per output, global
 * pooling 1 per input, concat 0. */
typedef struct counts {
    double params, flops;
    int c, h, w; /* the current feature map */
} counts;

static void c_conv(counts *n, int out, int k, int pad, int bias)
{
    n->h = n->h + 2 * pad - k + 1, n->w = n->w + 2 * pad - k + 1;
    n->params += (double)out * n->c * k * k + (bias ? out : 0);
    n->flops += 2.0 * out * n->c * k * k * n->h * n->w;
    n->c = out;
}

static void c_bn_relu(counts *n)
{
    n->params += 2.0 * n->c;
    n->flops += 5.0 * n->c * n->h * n->w;
}

static void c_pool2(counts *n)
{
    n->h /= 2, n->w /= 2;
    n->flops += 4.0 * n->c * n->h * n->w;
}

static void c_fc(counts *n, int out, int bias)
{
    double in = (double)n->c * n->h * n->w;
    n->params += in * out + (bias ? out : 0);
    n->flops += 2.0 * in * out;
    n->c = out, n->h = n->w = 1;
}

static counts count_vgg(const int *cfg, int ncfg, int bias, int fc1024, sq_shape in, int classes)
{
    counts n = {0, 0, in.c, in.h, in.w};
    for (int i = 0; i < ncfg; i++) {
        if (cfg[i] < 0) {
            c_pool2(&n);
        } else {
            c_conv(&n, cfg[i], 3, 1, bias);
            c_bn_relu(&n);
        }
    }
    if (fc1024) {
        c_fc(&n, 1024, 0);
        c_bn_relu(&n);
    }
    c_fc(&n, classes, 1);
    return n;
}

static counts count_densenet(int layers, int bottleneck, double compression, sq_shape in,
                             int classes)
{
    const int k = 12;
    counts n = {0, 0, in.c, in.h, in.w};
    c_conv(&n, 2 * k, 3, 1, 0);
    for (int b = 0; b < 3; b++) {
        for (int l = 0; l < layers; l++) {
            counts t = n;
            c_bn_relu(&t);
            if (bottleneck) {
                c_conv(&t, 4 * k, 1, 0, 0);
                c_bn_relu(&t);
            }
            c_conv(&t, k, 3, 1, 0);
            n.params = t.params, n.flops = t.flops, n.c += k; /* concat */
        }
        if (b < 2) {
            c_bn_relu(&n);
            c_conv(&n, (int)floor(n.c * compression), 1, 0, 0);
            c_pool2(&n);
        }
    }
    c_bn_relu(&n);
    n.flops += (double)n.c * n.h * n.w; /* global average pool */
    n.h = n.w = 1;
    c_fc(&n, classes, 1);
    return n;
}

static counts expected(const char *model, sq_shape in, int classes)
{
    static const int vgg7[] = {128, 128, -1, 256, 256, -1, 512, 512, -1};
    static const int vgg11[] = {64, -1, 128, -1, 256, 256, -1, 512, 512, -1, 512, 512, -1};
    if (!strcmp(model, "vgg7"))
        return count_vgg(vgg7, (int)SQ_COUNT(vgg7), 0, 1, in, classes);
    if (!strcmp(model, "vgg11"))
        return count_vgg(vgg11, (int)SQ_COUNT(vgg11), 1, 0, in, classes);
    if (!strcmp(model, "densenet40"))
        return count_densenet(12, 0, 1.0, in, classes);
    return count_densenet(16, 1, 0.5, in, classes);
}

static void build(const char *model, sq_net *net, sq_shape in, int classes)
{
    sq_err e = {{0}};
    memset(net, 0, sizeof *net);
    if (sq_model_build(model, net, in, classes, &e))
        fail_msg("building %s: %s", model, e.msg);
}

/* ---- counts, names, shapes ---------------------------------------------------- */

static void test_registry(void **state)
{
    for (size_t i = 0; i < SQ_COUNT(MODELS); i++) {
        const sq_model_info *m = sq_model_find(MODELS[i]);
        assert_non_null(m);
        assert_non_null(m->summary);
    }
    int n = 0;
    while (sq_model_at(n))
        n++;
    assert_true(n >= 7);
}

/* The published parameter counts (CIFAR-10, 10 classes):
 *   DenseNet (L=40, k=12): 1.0M (Huang et al. 2017, Table 2); the reference
 *     implementation's layout (liuzhuang13/DenseNet) gives 1,059,298;
 *   DenseNet-BC (L=100, k=12): 0.8M, exactly 769,162;
 *   VGG-11 with BN of kuangliu/pytorch-cifar: 9,231,114 (~9.2M);
 *   VGG-7 of TWN (2x128C3 ... FC1024, BN after each): 12,979,082.
 * CIFAR-100 changes only the classifier: +90 * its input. */
static void test_param_counts_published(void **state)
{
    static const struct {
        const char *model;
        double c10, c100;
    } pub[] = {
        {"vgg7", 12979082, 12979082 + 90.0 * 1025},
        {"vgg11", 9231114, 9231114 + 90.0 * 513},
        {"densenet40", 1059298, 1059298 + 90.0 * 457},
        {"densenet-bc100", 769162, 769162 + 90.0 * 343},
    };
    for (size_t i = 0; i < SQ_COUNT(pub); i++) {
        sq_net a, b;
        build(pub[i].model, &a, (sq_shape){3, 32, 32}, 10);
        build(pub[i].model, &b, (sq_shape){3, 32, 32}, 100);
        printf("  %-16s %10zu parameters (CIFAR-10), %10zu (CIFAR-100), %8.2f MFLOPs\n",
               pub[i].model, sq_net_param_count(&a), sq_net_param_count(&b),
               sq_net_flops(&a) / 1e6);
        assert_true((double)sq_net_param_count(&a) == pub[i].c10);
        assert_true((double)sq_net_param_count(&b) == pub[i].c100);
        assert_int_equal(a.classes, 10);
        assert_int_equal(b.classes, 100);
        sq_net_free(&a);
        sq_net_free(&b);
    }
}

/* Parameters and FLOPs of every model for several inputs, against the
 * counts derived here from the layer shapes. */
static void test_counts_from_shapes(void **state)
{
    static const sq_shape ins[] = {{3, 32, 32}, {1, 28, 28}, {3, 64, 48}};
    for (size_t i = 0; i < SQ_COUNT(MODELS); i++)
        for (size_t j = 0; j < SQ_COUNT(ins); j++) {
            if (!strcmp(MODELS[i], "vgg11") && ins[j].h < 32)
                continue; /* refused, see test_small_inputs */
            sq_net net;
            int classes = j == 2 ? 7 : 10;
            build(MODELS[i], &net, ins[j], classes);
            counts c = expected(MODELS[i], ins[j], classes);
            char what[96];
            snprintf(what, sizeof what, "%s %dx%dx%d params", MODELS[i], ins[j].c, ins[j].h,
                     ins[j].w);
            tu_close((double)sq_net_param_count(&net), c.params, 0, 0, what);
            snprintf(what, sizeof what, "%s %dx%dx%d FLOPs", MODELS[i], ins[j].c, ins[j].h,
                     ins[j].w);
            tu_close(sq_net_flops(&net), c.flops, 0, 1e-12, what);
            sq_net_free(&net);
        }
}

static sq_param *param(sq_net *net, const char *name)
{
    sq_param *p = sq_net_find_param(net, name);
    if (!p)
        fail_msg("no parameter %s", name);
    return p;
}

static void expect_dims(sq_param *p, int ndim, int d0, int d1, int d2, int d3)
{
    int d[4] = {d0, d1, d2, d3};
    assert_int_equal(p->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        if (p->dims[i] != d[i])
            fail_msg("%s: dimension %d is %d, expected %d", p->name, i, p->dims[i], d[i]);
}

/* PyTorch's names and layouts (tools/torch_eval.py), unique, never cut by
 * the 63-character limit; the first and last quantizable tensors are the
 * first conv and the classifier. */
static void test_names(void **state)
{
    sq_net net;
    build("vgg7", &net, (sq_shape){3, 32, 32}, 10);
    expect_dims(param(&net, "features.0.weight"), 4, 128, 3, 3, 3);
    expect_dims(param(&net, "features.1.weight"), 1, 128, 0, 0, 0);
    expect_dims(param(&net, "features.17.weight"), 4, 512, 512, 3, 3);
    expect_dims(param(&net, "classifier.0.weight"), 2, 1024, 8192, 0, 0);
    expect_dims(param(&net, "classifier.1.bias"), 1, 1024, 0, 0, 0);
    expect_dims(param(&net, "classifier.3.weight"), 2, 10, 1024, 0, 0);
    assert_null(sq_net_find_param(&net, "features.0.bias"));
    sq_net_free(&net);
    build("vgg11", &net, (sq_shape){3, 32, 32}, 10);
    expect_dims(param(&net, "features.0.bias"), 1, 64, 0, 0, 0);
    expect_dims(param(&net, "features.25.weight"), 4, 512, 512, 3, 3);
    expect_dims(param(&net, "features.26.weight"), 1, 512, 0, 0, 0);
    expect_dims(param(&net, "classifier.weight"), 2, 10, 512, 0, 0);
    sq_net_free(&net);
    build("densenet40", &net, (sq_shape){3, 32, 32}, 10);
    expect_dims(param(&net, "conv0.weight"), 4, 24, 3, 3, 3);
    expect_dims(param(&net, "denseblock1.denselayer1.norm1.weight"), 1, 24, 0, 0, 0);
    expect_dims(param(&net, "denseblock1.denselayer12.conv1.weight"), 4, 12, 156, 3, 3);
    expect_dims(param(&net, "transition1.conv.weight"), 4, 168, 168, 1, 1);
    expect_dims(param(&net, "denseblock3.denselayer12.conv1.weight"), 4, 12, 444, 3, 3);
    expect_dims(param(&net, "norm_final.weight"), 1, 456, 0, 0, 0);
    expect_dims(param(&net, "classifier.weight"), 2, 10, 456, 0, 0);
    sq_net_free(&net);
    build("densenet-bc100", &net, (sq_shape){3, 32, 32}, 10);
    expect_dims(param(&net, "denseblock1.denselayer1.conv1.weight"), 4, 48, 24, 1, 1);
    expect_dims(param(&net, "denseblock3.denselayer16.conv2.weight"), 4, 12, 48, 3, 3);
    expect_dims(param(&net, "denseblock3.denselayer16.norm2.bias"), 1, 48, 0, 0, 0);
    expect_dims(param(&net, "transition1.conv.weight"), 4, 108, 216, 1, 1);
    expect_dims(param(&net, "transition2.conv.weight"), 4, 150, 300, 1, 1);
    expect_dims(param(&net, "classifier.weight"), 2, 10, 342, 0, 0);
    sq_net_free(&net);
    for (size_t m = 0; m < SQ_COUNT(MODELS); m++) {
        build(MODELS[m], &net, (sq_shape){3, 32, 32}, 10);
        int first = -1, last = -1;
        for (int i = 0; i < net.n_par; i++) {
            const char *n = net.par[i].name, *dot = strrchr(n, '.');
            assert_true(strlen(n) < SQ_NAME - 1);
            assert_non_null(dot);
            assert_true(!strcmp(dot, ".weight") || !strcmp(dot, ".bias"));
            for (int j = 0; j < i; j++)
                if (!strcmp(net.par[j].name, n))
                    fail_msg("%s: parameter name %s twice", MODELS[m], n);
            if (net.par[i].quantizable)
                last = i, first = first < 0 ? i : first;
        }
        for (int i = 0; i < net.n_buf; i++) {
            const char *dot = strrchr(net.buf[i].name, '.');
            assert_true(!strcmp(dot, ".running_mean") || !strcmp(dot, ".running_var"));
        }
        assert_true(strstr(net.par[first].name, "0.weight") != NULL);
        assert_true(!strncmp(net.par[last].name, "classifier", 10));
        sq_net_free(&net);
    }
}

/* Classes follow the dataset; inputs the pools cannot shrink are refused
 * with a message naming the minimum; 28x28x1 works where it can. */
static void test_small_inputs(void **state)
{
    sq_net net;
    sq_err e = {{0}};
    memset(&net, 0, sizeof net);
    assert_int_equal(sq_model_build("vgg11", &net, (sq_shape){1, 28, 28}, 10, &e), -1);
    assert_non_null(strstr(e.msg, "vgg11 needs inputs of at least 32x32"));
    assert_non_null(strstr(e.msg, "got 28x28"));
    memset(&net, 0, sizeof net);
    assert_int_equal(sq_model_build("vgg7", &net, (sq_shape){3, 7, 7}, 10, &e), -1);
    assert_non_null(strstr(e.msg, "at least 8x8"));
    memset(&net, 0, sizeof net);
    assert_int_equal(sq_model_build("densenet40", &net, (sq_shape){3, 3, 8}, 10, &e), -1);
    assert_non_null(strstr(e.msg, "at least 4x4"));
    build("vgg7", &net, (sq_shape){1, 28, 28}, 10); /* Fashion-MNIST: 512x3x3 before FC */
    expect_dims(param(&net, "features.0.weight"), 4, 128, 1, 3, 3);
    expect_dims(param(&net, "classifier.0.weight"), 2, 1024, 512 * 9, 0, 0);
    sq_net_free(&net);
    build("densenet-bc100", &net, (sq_shape){1, 28, 28}, 100);
    assert_int_equal(net.classes, 100);
    sq_net_free(&net);
}

/* ---- conv2d's fast paths against a naive convolution ----------------------- */

typedef struct conv_case {
    int B, C, H, W, O, k, s, p, bias, threads;
    const char *what;
} conv_case;

/* y = conv(x) and, for dy, dW, db, dx in double */
static void naive(const conv_case *c, const sq_real *x, const sq_real *w, const sq_real *bias,
                  const sq_real *dy, double *y, double *dw, double *db, double *dx)
{
    int Ho = (c->H + 2 * c->p - c->k) / c->s + 1, Wo = (c->W + 2 * c->p - c->k) / c->s + 1;
    for (int b = 0; b < c->B; b++)
        for (int o = 0; o < c->O; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    size_t yi = (((size_t)b * c->O + o) * Ho + i) * Wo + j;
                    double s = bias ? bias[o] : 0, g = dy[yi];
                    db[o] += g;
                    for (int ch = 0; ch < c->C; ch++)
                        for (int u = 0; u < c->k; u++)
                            for (int v = 0; v < c->k; v++) {
                                int ih = i * c->s - c->p + u, iw = j * c->s - c->p + v;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                size_t xi = (((size_t)b * c->C + ch) * c->H + ih) * c->W + iw;
                                size_t wi = (((size_t)o * c->C + ch) * c->k + u) * c->k + v;
                                s += (double)x[xi] * w[wi];
                                dw[wi] += g * x[xi];
                                dx[xi] += g * w[wi];
                            }
                    y[yi] = s;
                }
}

static void compare(const sq_real *got, const double *want, size_t n, double tol,
                    const conv_case *c, const char *what)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = SQ_MAX(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + scale)))
            fail_msg("%s, %d threads: %s[%zu] = %.7g, naive %.7g", c->what, c->threads, what, i,
                     (double)got[i], want[i]);
}

static void check_conv(const conv_case *c)
{
    sq_net net;
    sq_err e = {{0}};
    sq_rng rng;
    sq_net_begin(&net, (sq_shape){c->C, c->H, c->W});
    int n = sq_conv2d(&net, "conv", 0, c->O, c->k, c->s, c->p, c->bias);
    if (n < 0 || sq_net_finish(&net, n, &e) || sq_net_reserve(&net, c->B, 1, &e))
        fail_msg("%s: %s%s", c->what, net.err.msg, e.msg);
    net.threads = c->threads;
    sq_rng_seed(&rng, 5);
    sq_net_init(&net, &rng);
    sq_node *nd = &net.nodes[n];
    if (c->bias)
        for (int o = 0; o < c->O; o++)
            nd->p[1].w[o] = (sq_real)sq_rng_normal(&rng);
    size_t nx = (size_t)c->B * c->C * c->H * c->W, ny = (size_t)c->B * sq_numel(nd->osh);
    size_t nw = nd->p[0].n;
    sq_real *x = sq_alloc_real(nx), *dy = sq_alloc_real(ny);
    double *y = calloc(ny, sizeof *y), *dw = calloc(nw, sizeof *dw), *dx = calloc(nx, sizeof *dx);
    double *db = calloc((size_t)c->O, sizeof *db);
    assert_true(x && dy && y && dw && dx && db);
    for (size_t i = 0; i < nx; i++)
        x[i] = (sq_real)sq_rng_normal(&rng);
    for (size_t i = 0; i < ny; i++)
        dy[i] = (sq_real)sq_rng_normal(&rng);
    naive(c, x, nd->p[0].w, c->bias ? nd->p[1].w : NULL, dy, y, dw, db, dx);
    compare(sq_net_forward(&net, x, c->B, 1, NULL), y, ny, 1e-5, c, "y");
    sq_net_backward(&net, dy);
    compare(nd->p[0].g, dw, nw, 1e-5, c, "dW");
    compare(sq_net_dy(&net, 0), dx, nx, 1e-5, c, "dx");
    if (c->bias)
        compare(nd->p[1].g, db, (size_t)c->O, 1e-5, c, "dbias");
    sq_free(x);
    sq_free(dy);
    free(y), free(dw), free(dx), free(db);
    sq_net_free(&net);
}

/* Shapes that reach every layout of conv2d.c with several chunks per batch
 * (its scratch holds 8M reals) and batches that do not divide evenly. A
 * stride-1 3x3 or 5x5 convolution takes the stencil path forward up to 64
 * outputs and backward up to 16, so the GEMM layouts need 65 outputs there;
 * the stencil cases have widths with vector tails, rows narrower than two
 * vectors (paired), and output counts that are not a multiple of its 6. */
static void test_conv_paths(void **state)
{
    static const conv_case cases[] = {
        {15, 64, 32, 32, 65, 3, 1, 1, 1, 0, "direct, 2 chunks"},
        {5, 16, 32, 32, 8, 3, 2, 1, 0, 0, "direct, stride 2"},
        {7, 32, 16, 16, 24, 1, 1, 0, 1, 0, "pointwise 1x1"},
        {9, 16, 16, 16, 8, 1, 2, 0, 0, 0, "1x1 stride 2 (direct, unfolded)"},
        {37, 512, 8, 8, 65, 3, 1, 1, 0, 0, "batched, 2 chunks"},
        {11, 24, 8, 8, 65, 3, 1, 1, 1, 0, "batched, odd batch"},
        {3, 4, 8, 8, 5, 3, 2, 0, 1, 0, "batched, stride 2"},
        {5, 20, 32, 32, 12, 3, 1, 1, 1, 0, "stencil 32x32"},
        {7, 30, 8, 8, 12, 3, 1, 1, 0, 0, "stencil 8x8"},
        {3, 5, 7, 13, 7, 3, 1, 1, 1, 0, "stencil 7x13, 7 outputs"},
        {4, 9, 14, 14, 16, 3, 1, 1, 0, 0, "stencil 14x14, 16 outputs"},
        {2, 3, 5, 3, 1, 3, 1, 1, 1, 0, "stencil 5x3, 1 output"},
        {4, 3, 28, 28, 6, 5, 1, 0, 1, 0, "stencil 5x5 valid (LeNet conv1)"},
        {5, 6, 12, 12, 16, 5, 1, 0, 1, 0, "stencil 5x5 valid (LeNet conv2)"},
        {3, 4, 11, 19, 5, 5, 1, 2, 0, 0, "stencil 5x5 same"},
        {3, 4, 9, 10, 7, 5, 1, 4, 1, 0, "stencil 5x5 padding 4"},
        {3, 5, 9, 21, 3, 3, 1, 0, 1, 0, "stencil 3x3 valid"},
        {3, 5, 6, 9, 8, 3, 1, 2, 0, 0, "stencil 3x3 padding 2"},
        {6, 1, 28, 28, 32, 5, 1, 0, 1, 0, "stencil forward, GEMM backward (lenet5 conv1)"},
        {5, 32, 12, 12, 64, 5, 1, 0, 1, 0, "stencil forward, GEMM backward (lenet5 conv2)"},
        {4, 3, 32, 32, 40, 3, 1, 1, 0, 0, "stencil forward, direct GEMM backward"},
    };
    for (int threads = 1; threads <= 3; threads++)
        for (size_t i = 0; i < SQ_COUNT(cases); i++) {
            conv_case c = cases[i];
            c.threads = threads;
            check_conv(&c);
        }
    conv_case tiny = {1, 3, 16, 16, 4, 3, 1, 1, 1, 2, "batch smaller than the threads"};
    check_conv(&tiny);
}

/* ---- the 2x2 max-pool fast path ------------------------------------------------ */

/* The rule of the generic path (PyTorch's CPU kernel): scanning a window
 * in row-major order, a value wins if it is greater than the maximum so
 * far or NaN; so ties go to the first and the last NaN wins. Windows with
 * ties, NaNs and infinities; the gradient goes where the argmax points. */
static void test_maxpool_2x2_rule(void **state)
{
    enum { H = 6, W = 10, Ho = 3, Wo = 5 };
    const sq_real nan = NAN, inf = INFINITY;
    sq_real x[H * W];
    sq_rng rng;
    sq_rng_seed(&rng, 17);
    for (int i = 0; i < H * W; i++)
        x[i] = (sq_real)(int)(3 * sq_rng_uniform(&rng)); /* many ties */
    x[0] = nan;                         /* window 0: NaN first, then ties */
    x[3] = nan, x[12] = nan;            /* window 1: two NaNs, the last wins */
    x[5] = -inf, x[4] = -inf, x[14] = -inf, x[15] = -inf; /* window 2: all -inf */
    x[27] = inf;                        /* window 8: +inf in the second row */
    sq_net net;
    sq_err e = {{0}};
    sq_net_begin(&net, (sq_shape){1, H, W});
    int p = sq_maxpool(&net, "pool", 0, 2, 2);
    if (p < 0 || sq_net_finish(&net, p, &e) || sq_net_reserve(&net, 1, 1, &e))
        fail_msg("%s%s", net.err.msg, e.msg);
    const sq_real *y = sq_net_forward(&net, x, 1, 1, NULL);
    sq_real dy[Ho * Wo];
    for (int i = 0; i < Ho * Wo; i++)
        dy[i] = (sq_real)(i + 1);
    sq_net_backward(&net, dy);
    const sq_real *dx = sq_net_dy(&net, 0);
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            int idx[4] = {2 * oh * W + 2 * ow, 2 * oh * W + 2 * ow + 1, (2 * oh + 1) * W + 2 * ow,
                          (2 * oh + 1) * W + 2 * ow + 1};
            int best = idx[0];
            for (int j = 1; j < 4; j++)
                if (x[idx[j]] > x[best] || isnan(x[idx[j]]))
                    best = idx[j];
            sq_real got = y[oh * Wo + ow];
            if (!(got == x[best] || (isnan(got) && isnan(x[best]))))
                fail_msg("window %d,%d: %g, expected %g", oh, ow, got, x[best]);
            for (int j = 0; j < 4; j++)
                if (dx[idx[j]] != (idx[j] == best ? dy[oh * Wo + ow] : 0))
                    fail_msg("window %d,%d: gradient at %d is %g", oh, ow, idx[j], dx[idx[j]]);
        }
    assert_true(isnan(y[0]) && isnan(y[1]) && y[2] == -inf);
    assert_true(dx[12] == 2 && dx[3] == 0 && dx[4] == 3);
    sq_net_free(&net);
}

/* ---- one-batch overfit ----------------------------------------------------------- */

/* 16 images with random labels, SGD with momentum on the same batch: the
 * training loss must fall to half its first value within 40 steps. Small
 * inputs keep it quick (vgg11 needs 32x32). */
static void overfit(const char *model, sq_shape in, double lr, int threads)
{
    enum { B = 16, C = 10, STEPS = 40 };
    sq_net net;
    sq_optim opt = {0};
    sq_optim_cfg oc;
    sq_err e = {{0}};
    sq_rng rng;
    build(model, &net, in, C);
    net.threads = threads;
    if (sq_net_reserve(&net, B, 1, &e))
        fail_msg("%s", e.msg);
    sq_rng_seed(&rng, 21);
    sq_net_init(&net, &rng);
    sq_optim_defaults(&oc, SQ_SGD);
    oc.momentum = 0.9;
    assert_int_equal(sq_optim_init(&opt, &oc, &net, &e), 0);
    size_t nx = (size_t)B * sq_numel(in);
    sq_real *x = sq_alloc_real(nx), *dl = sq_alloc_real(B * C);
    int y[B];
    assert_true(x && dl);
    for (size_t i = 0; i < nx; i++)
        x[i] = (sq_real)sq_rng_normal(&rng);
    for (int i = 0; i < B; i++)
        y[i] = (int)sq_rng_below(&rng, C);
    double first = 0, loss = 0;
    int step;
    for (step = 0; step < STEPS; step++) {
        loss = sq_softmax_xent(sq_net_forward(&net, x, B, 1, &rng), y, B, C, dl, NULL);
        assert_true(isfinite(loss));
        if (step == 0)
            first = loss;
        if (loss <= first / 2)
            break;
        sq_net_backward(&net, dl);
        sq_optim_step(&opt, &net, lr);
    }
    printf("  %-16s %dx%dx%d: loss %.3f -> %.3f in %d steps\n", model, in.c, in.h, in.w, first,
           loss, step);
    if (!(loss <= first / 2))
        fail_msg("%s: the loss fell only from %.4f to %.4f in %d steps", model, first, loss, STEPS);
    sq_free(x);
    sq_free(dl);
    sq_optim_free(&opt);
    sq_net_free(&net);
}

static void test_overfit_vgg7(void **state) { overfit("vgg7", (sq_shape){3, 8, 8}, 0.01, 2); }
static void test_overfit_vgg11(void **state) { overfit("vgg11", (sq_shape){3, 32, 32}, 0.01, 1); }
static void test_overfit_densenet40(void **state)
{
    overfit("densenet40", (sq_shape){3, 8, 8}, 0.05, 1);
}
static void test_overfit_densenet_bc100(void **state)
{
    overfit("densenet-bc100", (sq_shape){3, 8, 8}, 0.05, 1);
}

/* ---- equivalence with PyTorch ----------------------------------------------------- */

/* A python3 that can import torch ("python3" first, then the system one). */
static const char *find_torch(void)
{
    static const char *const cands[] = {"python3", "/usr/bin/python3"};
    for (size_t i = 0; i < SQ_COUNT(cands); i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch, numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0)
            return cands[i];
    }
    return NULL;
}

/* Random weights and batch-norm statistics, a random batch in evaluation
 * mode; the checkpoint carries the batch and symog's logits. */
static void write_compare_file(const char *path, const char *model, sq_shape in, int classes)
{
    enum { B = 3 };
    sq_net net;
    sq_err e = {{0}};
    sq_rng rng;
    build(model, &net, in, classes);
    net.threads = 2;
    if (sq_net_reserve(&net, B, 0, &e))
        fail_msg("%s", e.msg);
    sq_rng_seed(&rng, 99);
    sq_net_init(&net, &rng);
    for (int i = 0; i < net.n_par; i++) {
        sq_param *p = &net.par[i];
        for (size_t j = 0; j < p->n; j++)
            if (p->role == SQ_BN_WEIGHT)
                p->w[j] = (sq_real)(0.5 + sq_rng_uniform(&rng));
            else if (p->role != SQ_WEIGHT)
                p->w[j] = (sq_real)(0.1 * sq_rng_normal(&rng));
    }
    for (int i = 0; i < net.n_buf; i++) {
        sq_buffer *b = &net.buf[i];
        int var = strstr(b->name, "running_var") != NULL;
        for (size_t j = 0; j < b->n; j++)
            net.buffers[b->off + j] =
                (sq_real)(var ? 0.5 + sq_rng_uniform(&rng) : 0.1 * sq_rng_normal(&rng));
    }
    size_t nx = (size_t)B * sq_numel(in);
    sq_real *x = sq_alloc_real(nx);
    assert_non_null(x);
    for (size_t i = 0; i < nx; i++)
        x[i] = (sq_real)sq_rng_normal(&rng);
    const sq_real *z = sq_net_forward(&net, x, B, 0, NULL);
    sq_ckpt_extra ex = {0};
    int64_t xs[4] = {B, in.c, in.h, in.w}, zs[2] = {B, classes};
    const char *meta[] = {"format", "symog-model-1", "model", model, NULL};
    if (sq_ckpt_extra_add(&ex, "test.input", "F32", 4, xs, x, &e) ||
        sq_ckpt_extra_add(&ex, "test.logits", "F32", 2, zs, z, &e) ||
        sq_ckpt_save(path, &net, 7, &ex, meta, &e))
        fail_msg("%s", e.msg);
    sq_ckpt_extra_free(&ex);
    sq_free(x);
    sq_net_free(&net);
}

static void test_torch_equivalence(void **state)
{
    static const struct {
        const char *model;
        sq_shape in;
        int classes;
    } cases[] = {
        {"vgg7", {3, 32, 32}, 10},        {"vgg7", {1, 28, 28}, 10},
        {"vgg11", {3, 32, 32}, 100},      {"densenet40", {3, 32, 32}, 10},
        {"densenet-bc100", {3, 32, 32}, 100},
    };
    const char *py = find_torch();
    struct stat st;
    if (!py || stat("tools/torch_eval.py", &st) != 0) {
        printf("  skipped: no python3 with torch and numpy, or not run from the source tree\n");
        skip();
    }
    char *dir = tu_tmpdir(), cmd[4096], out[4096] = "";
    int at = snprintf(cmd, sizeof cmd, "%s tools/torch_eval.py --compare", py);
    for (size_t i = 0; i < SQ_COUNT(cases); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%zu.safetensors", dir, i);
        write_compare_file(path, cases[i].model, cases[i].in, cases[i].classes);
        at += snprintf(cmd + at, sizeof cmd - at, " %s='%s'", cases[i].model, path);
    }
    snprintf(cmd + at, sizeof cmd - at, " 2>&1");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    printf("%s", out);
    int ok = 0;
    for (const char *q = out; (q = strstr(q, " OK\n")); q++)
        ok++;
    if (rc != 0 || ok != (int)SQ_COUNT(cases))
        fail_msg("torch disagrees (%d of %zu agree):\n%s", ok, SQ_COUNT(cases), out);
    tu_rmdir(dir);
}

/* ---- recipes, and training on CIFAR-format files ---------------------------------- */

static void test_recipes(void **state)
{
    sq_train_cfg c;
    sq_err e = {{0}};
    sq_train_defaults(&c);
    assert_string_equal(c.recipe, "mnist");
    assert_string_equal(sq_train_recipe_for("cifar10"), "cifar");
    assert_string_equal(sq_train_recipe_for("cifar100"), "cifar");
    assert_string_equal(sq_train_recipe_for("fashion-mnist"), "mnist");
    snprintf(c.data, sizeof c.data, "cifar100");
    assert_int_equal(sq_train_recipe(&c, "auto", &e), 0);
    assert_string_equal(c.recipe, "cifar");
    assert_true(c.lr == 0.1 && c.momentum == 0.9 && c.weight_decay == 5e-4);
    assert_true(c.batch == 128 && c.augment == 1 && !strcmp(c.schedule, "cosine"));
    assert_int_equal(sq_train_recipe(&c, "twn", &e), 0);
    assert_true(c.weight_decay == 1e-4 && c.lr == 0.1);
    assert_int_equal(sq_train_recipe(&c, "mnist", &e), 0);
    assert_true(c.lr == 0.01 && c.batch == 64 && c.augment == -1 && c.eval_batch == 500);
    assert_int_equal(sq_train_recipe(&c, "imagenet", &e), -1);
    assert_non_null(strstr(e.msg, "unknown recipe 'imagenet'"));
    assert_non_null(strstr(e.msg, "cifar"));
    const char *summary;
    int n = 0;
    while (sq_train_recipe_at(n, &summary))
        assert_non_null(summary), n++;
    assert_int_equal(n, 3);
}

/* n records of `label_bytes` label bytes + 3x32x32 pixels: a class-coloured
 * image (learnable) with noise. */
static void write_cifar(const char *path, int n, int label_bytes, int classes, unsigned seed)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        int y = (int)((i * 7 + seed) % (unsigned)classes);
        unsigned char rec[2 + 3072];
        rec[0] = (unsigned char)(y / 5);
        rec[label_bytes - 1] = (unsigned char)y;
        for (int p = 0; p < 3072; p++) {
            seed = seed * 1103515245u + 12345u;
            int v = (p / 1024 == y % 3 ? 200 : 40) + (int)((seed >> 16) % 40);
            rec[label_bytes + p] = (unsigned char)v;
        }
        assert_int_equal(fwrite(rec, 1, (size_t)label_bytes + 3072, f), (size_t)label_bytes + 3072);
    }
    assert_int_equal(fclose(f), 0);
}

static char *yaml_get(const char *path, const char *key)
{
    static char v[256];
    sq_ykv *kv = NULL;
    int n = 0;
    sq_err e = {{0}};
    if (sq_yaml_load(path, &kv, &n, &e))
        fail_msg("%s", e.msg);
    const char *s = sq_ykv_get(kv, n, key);
    if (!s)
        fail_msg("%s has no %s", path, key);
    snprintf(v, sizeof v, "%s", s);
    sq_ykv_free(kv, n);
    return v;
}

static void train_on(const char *dir, const char *data, const char *model, int subset, int *rc,
                     sq_train_result *r, sq_err *e, int threads)
{
    sq_train_cfg c;
    sq_train_defaults(&c);
    snprintf(c.data, sizeof c.data, "%s", data);
    assert_int_equal(sq_train_recipe(&c, "auto", e), 0);
    snprintf(c.model, sizeof c.model, "%s", model);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    snprintf(c.out, sizeof c.out, "%s/run-%s", dir, model);
    c.epochs = 1, c.batch = 8, c.eval_batch = 8, c.lr = 0.02;
    c.train_subset = subset, c.progress = 0, c.threads = threads;
    sq_log_level = SQ_LOG_QUIET;
    *rc = sq_train(&c, r, e);
}

/* `symog train`'s path on CIFAR files made here: the recipe, the
 * augmentation, the classes of CIFAR-100; a missing CIFAR is a clear error. */
static void test_train_cifar_files(void **state)
{
    char *tmp = tu_tmpdir(), dir[512], sub[600], p[700], path[800];
    snprintf(dir, sizeof dir, "%s", tmp);
    sq_train_result r;
    sq_err e = {{0}};
    int rc;
    train_on(dir, "cifar10", "vgg11", 0, &rc, &r, &e, 2);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "cifar10 (train split) not found"));
    assert_non_null(strstr(e.msg, "cifar-10-binary.tar.gz"));

    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", sub, b);
        write_cifar(p, 8, 1, 10, (unsigned)b);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", sub);
    write_cifar(p, 16, 1, 10, 99);
    train_on(dir, "cifar10", "vgg11", 32, &rc, &r, &e, 2);
    if (rc)
        fail_msg("%s", e.msg);
    assert_int_equal(r.epochs_done, 1);
    assert_true(r.test_error >= 0 && r.test_error <= 100);
    snprintf(path, sizeof path, "%s/run-vgg11/config.yaml", dir);
    assert_string_equal(yaml_get(path, "recipe"), "cifar");
    assert_string_equal(yaml_get(path, "data.augment"), "true");
    assert_string_equal(yaml_get(path, "params"), "9231114");
    snprintf(path, sizeof path, "%s/run-vgg11/result.yaml", dir);
    assert_string_equal(yaml_get(path, "train_size"), "32");

    snprintf(sub, sizeof sub, "%s/cifar-100-binary", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(p, sizeof p, "%s/train.bin", sub);
    write_cifar(p, 8, 2, 100, 5);
    snprintf(p, sizeof p, "%s/test.bin", sub);
    write_cifar(p, 8, 2, 100, 6);
    train_on(dir, "cifar100", "densenet-bc100", 0, &rc, &r, &e, 1);
    if (rc)
        fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/run-densenet-bc100/result.yaml", dir);
    assert_string_equal(yaml_get(path, "params"), "800032"); /* 769,162 + 90 * (342 + 1) */
    tu_rmdir(tmp);
}

/* The command line: --recipe picks the settings, explicit options win
 * wherever they stand, and config.yaml records both. */
static void test_cli_recipe(void **state)
{
    char *tmp = tu_tmpdir(), dir[512], sub[600], p[700], cmd[2000], path[800];
    snprintf(dir, sizeof dir, "%s", tmp);
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", sub, b);
        write_cifar(p, 2, 1, 10, (unsigned)b);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", sub);
    write_cifar(p, 4, 1, 10, 7);
    snprintf(cmd, sizeof cmd,
             "%s/symog train --wd 0.003 --model lenet5 --data cifar10 --data-dir %s "
             "--recipe twn --epochs 1 --batch 5 --train-subset 10 --out %s/cli --quiet "
             "--progress 0 >/dev/null 2>&1",
             SQ_BUILD_DIR, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/cli/config.yaml", dir);
    assert_string_equal(yaml_get(path, "recipe"), "twn");
    assert_true(fabs(atof(yaml_get(path, "weight_decay")) - 0.003) < 1e-12);
    assert_true(fabs(atof(yaml_get(path, "lr")) - 0.1) < 1e-12);
    assert_int_equal(atoi(yaml_get(path, "batch")), 5);
    snprintf(cmd, sizeof cmd, "%s/symog train --recipe nope --out %s/x >/dev/null 2>&1",
             SQ_BUILD_DIR, dir);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    tu_rmdir(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_param_counts_published),
        cmocka_unit_test(test_counts_from_shapes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_small_inputs),
        cmocka_unit_test(test_conv_paths),
        cmocka_unit_test(test_maxpool_2x2_rule),
        cmocka_unit_test(test_overfit_vgg7),
        cmocka_unit_test(test_overfit_vgg11),
        cmocka_unit_test(test_overfit_densenet40),
        cmocka_unit_test(test_overfit_densenet_bc100),
        cmocka_unit_test(test_torch_equivalence),
        cmocka_unit_test(test_recipes),
        cmocka_unit_test(test_train_cifar_files),
        cmocka_unit_test(test_cli_recipe),
    };
    setvbuf(stdout, NULL, _IONBF, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
