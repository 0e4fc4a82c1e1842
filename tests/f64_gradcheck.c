/* f64_gradcheck.c - finite-difference gradient checks of every layer kind,
 * in double precision (this file is compiled with -DSQ_F64 and linked with
 * the double build of the library).
 *
 * Each case builds a tiny net (input node + the layer(s) under test, the last
 * one the output), draws a random input x and a fixed random r, and takes
 * the loss L = sum_i y_i r_i, so dL/dy = r is what sq_net_backward gets. The
 * analytical gradients of every parameter and of the input are compared with
 * central differences (step 1e-6):
 *     |a - n| <= ATOL + RTOL * max(|a|, |n|).
 * Guards: each analytical gradient must have norm > 1e-6 (a layer that
 * forgets a gradient cannot pass), and calling the output node's backward a
 * second time must add the same amount again (+= not =).
 * Non-smooth layers: a coordinate whose +-step changes the active set (a relu
 * output sign or a maxpool argmax anywhere in the net) is skipped and counted;
 * few skips are allowed. Dropout: the rng is reseeded before every forward
 * so the mask is fixed. Batch-norm running statistics are restored before
 * every forward, so evaluation mode sees the same statistics each time. */
#include <math.h>

#include "testutil.h"
#include "layers/layers.h"
#include "models/models.h"

#define STEP 1e-6
#define ATOL 1e-7
#define RTOL 1e-5
#define DROP_SEED 4242

typedef int (*build_fn)(sq_net *net); /* adds layers; returns the output node */

typedef struct gc_case {
    const char *name;
    sq_shape in;
    int B;
    build_fn build;
    int eval;        /* run every node in evaluation mode */
    double max_skip; /* fraction of coordinates allowed to be skipped */
    int kinks;       /* put the first `kinks` inputs within STEP of 0 (must be skipped) */
    int tie;         /* make x[0], x[1] the near-tied maximum of the first window */
    int threads;     /* net->threads (0: 1) */
} gc_case;

typedef struct gc {
    const gc_case *c;
    sq_net net;
    sq_real *x, *r, *buf0;
    size_t nx, ny;
    uint64_t sig0;          /* active-set signature at the unperturbed point */
    int checked, skipped;
    double worst_abs, worst_rel, worst_ratio; /* ratio: |a-n| / tolerance */
} gc;

static double worst_ratio_all; /* over every case, printed at the end */

/* ---- running the net -------------------------------------------------- */

/* FNV-1a over relu (and fused batch norm + relu) output signs and maxpool
 * argmaxes of every such node. */
static uint64_t signature(sq_net *net)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 1; i < net->n_nodes; i++) {
        sq_node *nd = &net->nodes[i];
        size_t n = (size_t)nd->B * sq_numel(nd->osh);
        for (size_t j = 0; j < n; j++) {
            uint64_t v;
            if (nd->ops == &sq_relu_ops || nd->ops == &sq_bnrelu_ops)
                v = nd->y[j] > 0;
            else if (nd->ops == &sq_maxpool_ops)
                v = (uint64_t)nd->aux[j];
            else
                break;
            h = (h ^ v) * 1099511628211ULL;
        }
    }
    return h;
}

/* Forward at the current x and parameters; returns L = sum y*r. */
static double loss(gc *g, uint64_t *sig)
{
    sq_net *net = &g->net;
    sq_rng drng;
    size_t nb = net->n_buffer_reals * sizeof(sq_real);
    if (nb)
        memcpy(net->buffers, g->buf0, nb);
    sq_rng_seed(&drng, DROP_SEED);
    const sq_real *y = sq_net_forward(net, g->x, g->c->B, 1, &drng);
    if (g->c->eval) { /* rebind done by the call above; rerun in eval mode */
        if (nb)
            memcpy(net->buffers, g->buf0, nb);
        for (int i = 1; i < net->n_nodes; i++)
            net->nodes[i].train = 0;
        for (int i = 1; i < net->n_nodes; i++)
            net->nodes[i].ops->forward(&net->nodes[i]);
    }
    long double L = 0;
    for (size_t i = 0; i < g->ny; i++)
        L += (long double)y[i] * g->r[i];
    if (sig)
        *sig = signature(net);
    return (double)L;
}

/* Non-trivial values for what init leaves at 0 or 1. */
static void randomise(sq_net *net, sq_rng *rng)
{
    for (int i = 0; i < net->n_par; i++) {
        sq_param *p = &net->par[i];
        for (size_t j = 0; j < p->n; j++) {
            if (p->role == SQ_BN_WEIGHT)
                p->w[j] = 0.5 + sq_rng_uniform(rng);
            else if (p->role != SQ_WEIGHT)
                p->w[j] = 0.3 * sq_rng_normal(rng);
        }
    }
    for (int i = 0; i < net->n_buf; i++) {
        sq_buffer *b = &net->buf[i];
        int var = strstr(b->name, "running_var") != NULL;
        for (size_t j = 0; j < b->n; j++)
            net->buffers[b->off + j] =
                var ? 0.5 + 1.5 * sq_rng_uniform(rng) : 0.5 * sq_rng_normal(rng);
    }
}

/* N(0,1) values kept away from 0 (relu kinks) by at least 1e-3. */
static void fill_away_from_zero(sq_real *v, size_t n, sq_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        double z;
        do
            z = sq_rng_normal(rng);
        while (fabs(z) < 1e-3);
        v[i] = z;
    }
}

/* ---- the check -------------------------------------------------------- */

static double norm(const sq_real *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

/* Compare analytical ga [n] with central differences over v [n]. */
static void check_tensor(gc *g, sq_real *v, const sq_real *ga, size_t n, const char *what)
{
    if (!(norm(ga, n) > 1e-6)) {
        print_error("%s: analytical gradient of %s is all zero (norm %.3g)\n", g->c->name, what,
                    norm(ga, n));
        fail();
    }
    for (size_t i = 0; i < n; i++) {
        sq_real save = v[i];
        uint64_t sp, sm;
        v[i] = save + STEP;
        double lp = loss(g, &sp);
        v[i] = save - STEP;
        double lm = loss(g, &sm);
        v[i] = save;
        if (sp != g->sig0 || sm != g->sig0) {
            g->skipped++;
            continue;
        }
        double num = (lp - lm) / (2 * STEP), a = ga[i], d = fabs(a - num);
        double mx = SQ_MAX(fabs(a), fabs(num)), tol = ATOL + RTOL * mx;
        g->checked++;
        g->worst_abs = SQ_MAX(g->worst_abs, d);
        g->worst_rel = SQ_MAX(g->worst_rel, d / SQ_MAX(mx, 1e-12));
        g->worst_ratio = SQ_MAX(g->worst_ratio, d / tol);
        if (!(d <= tol)) {
            print_error("%s: d/d %s[%zu]: analytical %.12g, numerical %.12g (diff %.3g)\n",
                        g->c->name, what, i, a, num, d);
            fail();
        }
    }
}

/* True if no node other than the output consumes the output's inputs. */
static int inputs_private(const sq_net *net)
{
    const sq_node *o = &net->nodes[net->output];
    for (int j = 0; j < o->n_in; j++)
        for (int i = 1; i < net->n_nodes; i++)
            for (int k = 0; k < net->nodes[i].n_in; k++)
                if (net->nodes[i].in[k] == o->in[j] && (i != net->output || k != j))
                    return 0;
    return 1;
}

/* Running the output node's backward again must add the same gradients. */
static void check_accumulates(gc *g)
{
    sq_net *net = &g->net;
    sq_node *o = &net->nodes[net->output];
    if (!inputs_private(net))
        return;
    size_t np = net->n_weights;
    sq_real *g1 = sq_alloc_real(np + 1);
    assert_non_null(g1);
    memcpy(g1, net->grads, np * sizeof(sq_real));
    sq_real *d1[SQ_MAX_IN];
    for (int j = 0; j < o->n_in; j++) {
        size_t n = (size_t)o->B * sq_numel(o->ish[j]);
        d1[j] = sq_alloc_real(n);
        assert_non_null(d1[j]);
        memcpy(d1[j], o->dx[j], n * sizeof(sq_real));
    }
    o->ops->backward(o);
    for (int i = 0; i < o->n_params; i++)
        for (size_t k = 0; k < o->p[i].n; k++)
            tu_close(o->p[i].g[k], 2 * g1[o->p[i].off + k], 1e-12, 1e-12, "param grad +=");
    for (int j = 0; j < o->n_in; j++) {
        for (size_t k = 0; k < (size_t)o->B * sq_numel(o->ish[j]); k++)
            tu_close(o->dx[j][k], 2 * d1[j][k], 1e-12, 1e-12, "input grad +=");
        sq_free(d1[j]);
    }
    sq_free(g1);
}

/* Build, initialise, draw x and r; analytical gradients are then in the net. */
static void setup_case(gc *g, const gc_case *c)
{
    sq_err e = {{0}};
    sq_rng rng;
    memset(g, 0, sizeof *g);
    g->c = c;
    assert_int_equal(sq_net_begin(&g->net, c->in), 0);
    g->net.threads = c->threads > 0 ? c->threads : 1;
    int out = c->build(&g->net);
    if (out < 0 || sq_net_finish(&g->net, out, &e) || sq_net_reserve(&g->net, c->B, 1, &e)) {
        print_error("%s: %s%s\n", c->name, g->net.err.msg, e.msg);
        fail();
    }
    sq_rng_seed(&rng, 12345);
    sq_net_init(&g->net, &rng);
    randomise(&g->net, &rng);
    g->nx = (size_t)c->B * sq_numel(c->in);
    g->ny = (size_t)c->B * sq_numel(g->net.nodes[out].osh);
    g->x = sq_alloc_real(g->nx);
    g->r = sq_alloc_real(g->ny);
    g->buf0 = sq_alloc_real(g->net.n_buffer_reals + 1);
    assert_true(g->x && g->r && g->buf0);
    fill_away_from_zero(g->x, g->nx, &rng);
    for (int i = 0; i < c->kinks; i++)
        g->x[i] = (i % 2 ? -0.5 : 0.5) * STEP;
    if (c->tie) /* both coordinates flip the argmax when stepped */
        g->x[0] = 5, g->x[1] = 5 + 0.5 * STEP;
    for (size_t i = 0; i < g->ny; i++)
        g->r[i] = sq_rng_normal(&rng);
    memcpy(g->buf0, g->net.buffers, g->net.n_buffer_reals * sizeof(sq_real));
}

static void run_case(void **state)
{
    const gc_case *c = *state;
    gc g;
    setup_case(&g, c);
    sq_net *net = &g.net;
    loss(&g, &g.sig0);
    sq_net_backward(net, g.r);
    /* copies: the finite differences overwrite the net's gradients */
    sq_real *grads = sq_alloc_real(net->n_weights + 1), *dx = sq_alloc_real(g.nx);
    assert_true(grads && dx);
    memcpy(grads, net->grads, net->n_weights * sizeof(sq_real));
    memcpy(dx, sq_net_dy(net, 0), g.nx * sizeof(sq_real));
    check_accumulates(&g);
    for (int i = 0; i < net->n_par; i++)
        check_tensor(&g, net->par[i].w, grads + net->par[i].off, net->par[i].n, net->par[i].name);
    check_tensor(&g, g.x, dx, g.nx, "input");
    printf("  %-24s %5d checked %3d skipped  worst |a-n| %.2e  rel %.2e  (%.3f of tol)\n", c->name,
           g.checked, g.skipped, g.worst_abs, g.worst_rel, g.worst_ratio);
    worst_ratio_all = SQ_MAX(worst_ratio_all, g.worst_ratio);
    assert_true(g.checked > 0);
    if (g.skipped < c->kinks + 2 * c->tie) {
        print_error("%s: only %d of the %d planted kinks were skipped\n", c->name, g.skipped,
                    c->kinks + 2 * c->tie);
        fail();
    }
    if (g.skipped > c->max_skip * (g.checked + g.skipped)) {
        print_error("%s: %d of %d coordinates skipped at kinks\n", c->name, g.skipped,
                    g.checked + g.skipped);
        fail();
    }
    sq_free(grads);
    sq_free(dx);
    sq_free(g.x);
    sq_free(g.r);
    sq_free(g.buf0);
    sq_net_free(net);
}

/* ---- the nets under test ---------------------------------------------- */

static int conv_s1_p0_bias(sq_net *n) { return sq_conv2d(n, "conv", 0, 4, 3, 1, 0, 1); }
static int conv_s1_p1_nobias(sq_net *n) { return sq_conv2d(n, "conv", 0, 3, 3, 1, 1, 0); }
static int conv_s2_p1_bias(sq_net *n) { return sq_conv2d(n, "conv", 0, 2, 3, 2, 1, 1); }
static int conv_s2_p0_k2(sq_net *n) { return sq_conv2d(n, "conv", 0, 3, 2, 2, 0, 0); }
static int conv_k1(sq_net *n) { return sq_conv2d(n, "conv", 0, 5, 1, 1, 0, 1); }
static int conv_k5_s2_p2(sq_net *n) { return sq_conv2d(n, "conv", 0, 2, 5, 2, 2, 1); }
static int dense_bias(sq_net *n) { return sq_dense(n, "fc", 0, 5, 1); }
static int dense_nobias(sq_net *n) { return sq_dense(n, "fc", 0, 4, 0); }
static int maxpool_k2s2(sq_net *n) { return sq_maxpool(n, "pool", 0, 2, 2); }
static int maxpool_k3s1(sq_net *n) { return sq_maxpool(n, "pool", 0, 3, 1); }
static int maxpool_k3s2(sq_net *n) { return sq_maxpool(n, "pool", 0, 3, 2); }
static int avgpool_k2s2(sq_net *n) { return sq_avgpool(n, "pool", 0, 2, 2); }
static int avgpool_k3s1(sq_net *n) { return sq_avgpool(n, "pool", 0, 3, 1); }
static int gap(sq_net *n) { return sq_gap(n, "gap", 0); }
static int bn(sq_net *n) { return sq_batchnorm(n, "bn", 0); }
/* no dense bias: in training batch norm removes it, its gradient is 0 */
static int dense_bn(sq_net *n) { return sq_batchnorm(n, "bn", sq_dense(n, "fc", 0, 5, 0)); }
static int relu(sq_net *n) { return sq_relu(n, "relu", 0); }
static int dropout(sq_net *n) { return sq_dropout(n, "drop", 0, 0.3); }
static int flatten(sq_net *n) { return sq_flatten(n, "flat", 0); }

/* two different producers: both halves of dy must reach their convs */
static int concat2(sq_net *n)
{
    int a = sq_conv2d(n, "a", 0, 2, 3, 1, 1, 1);
    int b = sq_conv2d(n, "b", 0, 3, 1, 1, 0, 0);
    return sq_concat(n, "cat", a, b);
}

/* the input itself and a conv of it */
static int concat_input(sq_net *n)
{
    return sq_concat(n, "cat", 0, sq_conv2d(n, "a", 0, 2, 3, 1, 1, 0));
}

/* conv -> bn -> relu -> maxpool -> flatten -> dense */
static int lenet_like(sq_net *n)
{
    int x = sq_conv2d(n, "conv", 0, 4, 3, 1, 1, 0);
    x = sq_relu(n, "relu", sq_batchnorm(n, "bn", x));
    x = sq_flatten(n, "flat", sq_maxpool(n, "pool", x, 2, 2));
    return sq_dense(n, "fc", x, 5, 1);
}

/* DenseNet-like: c1 feeds bn and a concat, the input feeds c1 and a concat */
static int dense_block(sq_net *n)
{
    int c1 = sq_conv2d(n, "c1", 0, 4, 3, 1, 1, 0);
    int h = sq_relu(n, "relu", sq_batchnorm(n, "bn", c1));
    int c2 = sq_conv2d(n, "c2", h, 2, 3, 1, 1, 1);
    int cat = sq_concat(n, "cat1", c1, c2);
    return sq_concat(n, "cat2", 0, cat);
}

/* dense block with dropout and global pooling in front of a classifier */
static int dense_block_head(sq_net *n)
{
    int c1 = sq_conv2d(n, "c1", 0, 3, 3, 1, 1, 0);
    int cat = sq_concat(n, "cat", 0, sq_relu(n, "relu", c1));
    int p = sq_avgpool(n, "pool", sq_batchnorm(n, "bn", cat), 2, 2);
    int d = sq_dropout(n, "drop", sq_gap(n, "gap", p), 0.25);
    return sq_dense(n, "fc", d, 3, 1);
}

/* conv2d's layouts: 16x16 outputs (P = 256) take the direct per-image
 * path, a 1x1 stride-1 conv there uses x as its columns (pointwise); a
 * stride-1 3x3 or 5x5 conv with 17..64 outputs takes the stencil forward
 * and the GEMM path backward (stride 2 keeps both on GEMM) */
static int conv_direct(sq_net *n) { return sq_conv2d(n, "conv", 0, 17, 3, 1, 1, 1); }
static int conv_wide(sq_net *n) { return sq_conv2d(n, "conv", 0, 17, 3, 1, 0, 1); }
static int conv_pointwise(sq_net *n) { return sq_conv2d(n, "conv", 0, 4, 1, 1, 0, 1); }
static int conv_direct_s2(sq_net *n) { return sq_conv2d(n, "conv", 0, 2, 3, 2, 1, 0); }
/* the stencil path's other kernels: 5x5, and paddings other than 1 */
static int stencil_k5_p0(sq_net *n) { return sq_conv2d(n, "conv", 0, 7, 5, 1, 0, 1); }
static int stencil_k5_p2(sq_net *n) { return sq_conv2d(n, "conv", 0, 3, 5, 1, 2, 0); }
static int stencil_k3_p2(sq_net *n) { return sq_conv2d(n, "conv", 0, 4, 3, 1, 2, 1); }

/* ---- DenseNet arrangements (engine/models/densenet.c) ------------------ */

static int fused; /* the DenseNet builders below use sq_batchnorm_relu */

static int bn_relu(sq_net *n, const char *name, int x)
{
    char b[32];
    snprintf(b, sizeof b, "%s.norm", name);
    if (fused)
        return sq_batchnorm_relu(n, b, x);
    x = sq_batchnorm(n, b, x);
    snprintf(b, sizeof b, "%s.relu", name);
    return sq_relu(n, b, x);
}

/* a basic dense layer: concat(x, conv3x3(relu(bn(x)))) */
static int dn_basic(sq_net *n, int x, const char *name, int growth)
{
    char b[32];
    snprintf(b, sizeof b, "%s.conv", name);
    int h = sq_conv2d(n, b, bn_relu(n, name, x), growth, 3, 1, 1, 0);
    snprintf(b, sizeof b, "%s.cat", name);
    return sq_concat(n, b, x, h);
}

/* a bottleneck layer: concat(x, conv3x3(relu(bn(conv1x1(relu(bn(x))))))) */
static int dn_bottleneck(sq_net *n, int x, const char *name, int growth)
{
    char b[32], b2[32];
    snprintf(b, sizeof b, "%s.conv1", name);
    int h = sq_conv2d(n, b, bn_relu(n, name, x), 4 * growth, 1, 1, 0, 0);
    snprintf(b2, sizeof b2, "%s.2", name);
    snprintf(b, sizeof b, "%s.conv2", name);
    h = sq_conv2d(n, b, bn_relu(n, b2, h), growth, 3, 1, 1, 0);
    snprintf(b, sizeof b, "%s.cat", name);
    return sq_concat(n, b, x, h);
}

/* a transition: avgpool2(conv1x1(relu(bn(x)))) */
static int dn_transition(sq_net *n, int x, const char *name, int out)
{
    char b[32];
    snprintf(b, sizeof b, "%s.conv", name);
    x = sq_conv2d(n, b, bn_relu(n, name, x), out, 1, 1, 0, 0);
    snprintf(b, sizeof b, "%s.pool", name);
    return sq_avgpool(n, b, x, 2, 2);
}

/* the head: dense(gap(relu(bn(x)))) */
static int dn_head(sq_net *n, int x, int classes)
{
    return sq_dense(n, "fc", sq_gap(n, "gap", bn_relu(n, "final", x)), classes, 1);
}

/* two basic layers in a row: the first concat feeds a bn and a concat */
static int dn_block2(sq_net *n) { return dn_basic(n, dn_basic(n, 0, "l1", 2), "l2", 2); }
static int dn_bottleneck2(sq_net *n)
{
    return dn_bottleneck(n, dn_bottleneck(n, 0, "l1", 2), "l2", 2);
}
static int dn_transition_only(sq_net *n) { return dn_transition(n, 0, "t", 2); }
static int dn_transition_half(sq_net *n) /* compression 0.5 of a block output */
{
    return dn_transition(n, dn_basic(n, 0, "l1", 2), "t", 2);
}
static int dn_head_only(sq_net *n) { return dn_head(n, 0, 3); }

/* a whole miniature DenseNet-BC: conv0, a block, a transition, a block, the
 * head (the structure of densenet-bc100 with 1 layer per block) */
static int dn_mini(sq_net *n)
{
    int x = sq_conv2d(n, "conv0", 0, 3, 3, 1, 1, 0);
    x = dn_bottleneck(n, x, "b1", 2);
    x = dn_transition(n, x, "t1", 2);
    x = dn_bottleneck(n, x, "b2", 2);
    return dn_head(n, x, 3);
}

static int bnrelu(sq_net *n) { return sq_batchnorm_relu(n, "bn", 0); }
static int dense_bnrelu(sq_net *n) { return sq_batchnorm_relu(n, "bn", sq_dense(n, "fc", 0, 5, 0)); }
static int dn_mini_fused(sq_net *n)
{
    fused = 1;
    int out = dn_mini(n);
    fused = 0;
    return out;
}
static int dn_bottleneck2_fused(sq_net *n)
{
    fused = 1;
    int out = dn_bottleneck2(n);
    fused = 0;
    return out;
}

static const gc_case cases[] = {
    {"conv s1 p0 bias", {3, 5, 7}, 2, conv_s1_p0_bias, 0, 0, 0, 0},
    {"conv s1 p1 nobias", {2, 5, 7}, 2, conv_s1_p1_nobias, 0, 0, 0, 0},
    {"conv s2 p1 bias", {3, 5, 7}, 2, conv_s2_p1_bias, 0, 0, 0, 0},
    {"conv s2 p0 k2 nobias", {2, 7, 5}, 2, conv_s2_p0_k2, 0, 0, 0, 0},
    {"conv k1", {3, 4, 4}, 2, conv_k1, 0, 0, 0, 0},
    {"conv k5 s2 p2", {2, 6, 7}, 2, conv_k5_s2_p2, 0, 0, 0, 0},
    {"dense bias", {7, 1, 1}, 3, dense_bias, 0, 0, 0, 0},
    {"dense nobias 4-D input", {2, 3, 3}, 3, dense_nobias, 0, 0, 0, 0},
    {"maxpool k2 s2", {2, 5, 7}, 2, maxpool_k2s2, 0, 0.02, 0, 0},
    {"maxpool k3 s1 overlap", {2, 5, 7}, 2, maxpool_k3s1, 0, 0.02, 0, 0},
    {"maxpool k3 s2", {2, 7, 7}, 2, maxpool_k3s2, 0, 0.02, 0, 0},
    {"maxpool planted tie", {2, 4, 4}, 2, maxpool_k2s2, 0, 0.1, 0, 1},
    {"avgpool k2 s2", {2, 5, 7}, 2, avgpool_k2s2, 0, 0, 0, 0},
    {"avgpool k3 s1", {2, 5, 7}, 2, avgpool_k3s1, 0, 0, 0, 0},
    {"gap", {3, 4, 5}, 2, gap, 0, 0, 0, 0},
    {"batchnorm 4-D train", {3, 4, 5}, 3, bn, 0, 0, 0, 0},
    {"batchnorm 4-D eval", {3, 4, 5}, 3, bn, 1, 0, 0, 0},
    {"batchnorm 1-D train", {6, 1, 1}, 4, dense_bn, 0, 0, 0, 0},
    {"batchnorm 1-D eval", {6, 1, 1}, 4, dense_bn, 1, 0, 0, 0},
    {"relu", {3, 4, 5}, 2, relu, 0, 0.02, 0, 0},
    {"relu planted kinks", {3, 4, 5}, 2, relu, 0, 0.1, 6, 0},
    {"dropout train", {3, 4, 5}, 2, dropout, 0, 0, 0, 0},
    {"dropout eval", {3, 4, 5}, 2, dropout, 1, 0, 0, 0},
    {"flatten", {3, 4, 5}, 2, flatten, 0, 0, 0, 0},
    {"concat two convs", {3, 4, 5}, 2, concat2, 0, 0, 0, 0},
    {"concat input+conv", {2, 4, 5}, 2, concat_input, 0, 0, 0, 0},
    {"conv-bn-relu-pool-fc", {2, 6, 6}, 3, lenet_like, 0, 0.02, 0, 0},
    {"conv-bn-relu-pool-fc eval", {2, 6, 6}, 3, lenet_like, 1, 0.02, 0, 0},
    {"densenet block", {2, 4, 5}, 2, dense_block, 0, 0.02, 0, 0},
    {"densenet block+head", {2, 4, 6}, 3, dense_block_head, 0, 0.02, 0, 0},
    {"conv 17 out: direct bwd", {1, 16, 16}, 2, conv_direct, 0, 0, 0, 0},
    {"conv 17 out: 2 threads", {1, 16, 16}, 2, conv_direct, 0, 0, 0, 0, 2},
    {"conv 17 out: 3 threads B=4", {1, 16, 16}, 4, conv_direct, 0, 0, 0, 0, 3},
    {"conv pointwise 16x16", {3, 16, 16}, 2, conv_pointwise, 0, 0, 0, 0},
    {"conv pointwise 2 threads", {3, 16, 16}, 3, conv_pointwise, 0, 0, 0, 0, 2},
    {"conv direct s2 32x32", {2, 32, 32}, 2, conv_direct_s2, 0, 0, 0, 0},
    {"conv 17 out: batched bwd", {2, 5, 7}, 2, conv_wide, 0, 0, 0, 0},
    {"conv 17 out: batched 2 thr", {2, 5, 7}, 4, conv_wide, 0, 0, 0, 0, 2},
    {"stencil 5x5 valid", {2, 9, 14}, 2, stencil_k5_p0, 0, 0, 0, 0},
    {"stencil 5x5 same 2 threads", {2, 7, 11}, 3, stencil_k5_p2, 0, 0, 0, 0, 2},
    {"stencil 3x3 padding 2", {3, 5, 6}, 2, stencil_k3_p2, 0, 0, 0, 0},
    {"dense layers basic x2", {3, 4, 5}, 3, dn_block2, 0, 0.02, 0, 0},
    {"dense layers basic eval", {3, 4, 5}, 3, dn_block2, 1, 0.02, 0, 0},
    {"dense layers bottleneck x2", {3, 4, 4}, 3, dn_bottleneck2, 0, 0.02, 0, 0},
    {"dense bottleneck 2 threads", {3, 4, 4}, 4, dn_bottleneck2, 0, 0.02, 0, 0, 2},
    {"transition", {4, 4, 6}, 3, dn_transition_only, 0, 0.02, 0, 0},
    {"layer + transition", {3, 4, 4}, 3, dn_transition_half, 0, 0.02, 0, 0},
    {"densenet head", {4, 3, 3}, 4, dn_head_only, 0, 0.02, 0, 0},
    {"mini densenet-bc", {2, 6, 6}, 3, dn_mini, 0, 0.02, 0, 0},
    {"mini densenet-bc eval", {2, 6, 6}, 3, dn_mini, 1, 0.02, 0, 0},
    {"bn+relu 4-D train", {3, 4, 5}, 3, bnrelu, 0, 0.02, 0, 0},
    {"bn+relu 4-D eval", {3, 4, 5}, 3, bnrelu, 1, 0.02, 0, 0},
    {"bn+relu 1-D train", {6, 1, 1}, 5, dense_bnrelu, 0, 0.05, 0, 0},
    {"bn+relu 2 threads", {5, 4, 5}, 3, bnrelu, 0, 0.02, 0, 0, 2},
    {"bn+relu bottleneck x2", {3, 4, 4}, 3, dn_bottleneck2_fused, 0, 0.02, 0, 0},
    {"mini densenet-bc fused", {2, 6, 6}, 3, dn_mini_fused, 0, 0.02, 0, 0},
    {"mini densenet-bc fused eval", {2, 6, 6}, 3, dn_mini_fused, 1, 0.02, 0, 0},
};

/* ---- whole models: a directional derivative ------------------------------- */

/* For the registered CIFAR models at tiny inputs: along a random direction
 * v over every parameter and the input, the central difference of L = sum
 * y*r must match g.v (kann's cheap check; one number per model, so it
 * catches a missing or doubled path anywhere in the DAG). A step that
 * crosses a ReLU kink or a max-pool tie is redrawn. */
typedef struct model_case {
    const char *name;
    sq_shape in;
    int B;
} model_case;

static const model_case model_cases[] = {
    {"vgg7", {3, 8, 8}, 2},
    {"vgg11", {3, 32, 32}, 2},
    {"densenet40", {3, 8, 8}, 2},
    {"densenet-bc100", {3, 8, 8}, 2},
};

static void test_model_directional(void **state)
{
    const model_case *mc = *state;
    gc g;
    gc_case c = {mc->name, mc->in, mc->B, NULL, 0, 0, 0, 0, 2};
    sq_err e = {{0}};
    sq_rng rng;
    memset(&g, 0, sizeof g);
    g.c = &c;
    if (sq_model_build(mc->name, &g.net, mc->in, 5, &e) || sq_net_reserve(&g.net, mc->B, 1, &e))
        fail_msg("%s: %s", mc->name, e.msg);
    g.net.threads = 2;
    sq_rng_seed(&rng, 777);
    sq_net_init(&g.net, &rng);
    randomise(&g.net, &rng);
    sq_net *net = &g.net;
    g.nx = (size_t)mc->B * sq_numel(mc->in);
    g.ny = (size_t)mc->B * net->classes;
    g.x = sq_alloc_real(g.nx);
    g.r = sq_alloc_real(g.ny);
    g.buf0 = sq_alloc_real(net->n_buffer_reals + 1);
    sq_real *v = sq_alloc_real(net->n_weights + g.nx), *w0 = sq_alloc_real(net->n_weights);
    assert_true(g.x && g.r && g.buf0 && v && w0);
    fill_away_from_zero(g.x, g.nx, &rng);
    for (size_t i = 0; i < g.ny; i++)
        g.r[i] = sq_rng_normal(&rng);
    memcpy(g.buf0, net->buffers, net->n_buffer_reals * sizeof(sq_real));
    memcpy(w0, net->params, net->n_weights * sizeof(sq_real));
    loss(&g, &g.sig0);
    sq_net_backward(net, g.r);
    const sq_real *gx = sq_net_dy(net, 0);
    int tries = 0, ok = 0;
    while (!ok && tries++ < 20) {
        double gv = 0, h = 1e-6;
        for (size_t i = 0; i < net->n_weights + g.nx; i++)
            v[i] = sq_rng_normal(&rng) / sqrt((double)(net->n_weights + g.nx));
        for (size_t i = 0; i < net->n_weights; i++)
            gv += (double)net->grads[i] * v[i];
        for (size_t i = 0; i < g.nx; i++)
            gv += (double)gx[i] * v[net->n_weights + i];
        sq_real *x0 = sq_alloc_real(g.nx);
        assert_non_null(x0);
        memcpy(x0, g.x, g.nx * sizeof(sq_real));
        double l[2];
        uint64_t sig[2];
        for (int s = 0; s < 2; s++) {
            double sign = s ? -h : h;
            for (size_t i = 0; i < net->n_weights; i++)
                net->params[i] = w0[i] + sign * v[i];
            for (size_t i = 0; i < g.nx; i++)
                g.x[i] = x0[i] + sign * v[net->n_weights + i];
            l[s] = loss(&g, &sig[s]);
        }
        memcpy(net->params, w0, net->n_weights * sizeof(sq_real));
        memcpy(g.x, x0, g.nx * sizeof(sq_real));
        sq_free(x0);
        if (sig[0] != g.sig0 || sig[1] != g.sig0)
            continue; /* crossed a kink: another direction */
        double num = (l[0] - l[1]) / (2 * h);
        printf("  %-24s g.v %.10g  numerical %.10g  rel %.2e  (%zu parameters, try %d)\n",
               mc->name, gv, num, fabs(gv - num) / SQ_MAX(fabs(num), 1e-12), net->n_weights,
               tries);
        tu_close(gv, num, 1e-8, 1e-5, mc->name);
        assert_true(fabs(gv) > 1e-6);
        ok = 1;
    }
    assert_true(ok);
    sq_free(v);
    sq_free(w0);
    sq_free(g.x);
    sq_free(g.r);
    sq_free(g.buf0);
    sq_net_free(net);
}

/* ---- softmax cross-entropy ---------------------------------------------- */

static void test_softmax_xent(void **state)
{
    enum { B = 4, C = 6 };
    sq_real z[B * C], dz[B * C];
    int labels[B] = {0, 5, 2, 2}, wrong = -1;
    sq_rng rng;
    sq_rng_seed(&rng, 7);
    for (int i = 0; i < B * C; i++)
        z[i] = 2 * sq_rng_normal(&rng);
    double l0 = sq_softmax_xent(z, labels, B, C, dz, &wrong);
    assert_true(l0 > 0 && wrong >= 0 && wrong <= B);
    double worst = 0;
    for (int i = 0; i < B * C; i++) {
        sq_real save = z[i];
        z[i] = save + STEP;
        double lp = sq_softmax_xent(z, labels, B, C, NULL, NULL);
        z[i] = save - STEP;
        double lm = sq_softmax_xent(z, labels, B, C, NULL, NULL);
        z[i] = save;
        double num = (lp - lm) / (2 * STEP), d = fabs(dz[i] - num);
        worst = SQ_MAX(worst, d);
        tu_close(dz[i], num, ATOL, RTOL, "softmax xent dlogits");
    }
    /* each row of the gradient sums to 0 */
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int c = 0; c < C; c++)
            s += dz[b * C + c];
        tu_close(s, 0, 1e-12, 0, "softmax xent row sum");
    }
    printf("  %-24s %5d checked   0 skipped  worst |a-n| %.2e\n", "softmax xent", B * C, worst);
}

int main(void)
{
    static struct CMUnitTest tests[SQ_COUNT(cases) + SQ_COUNT(model_cases) + 1];
    size_t n = 0;
    setvbuf(stdout, NULL, _IONBF, 0); /* keep the lines in order with cmocka's */
    for (size_t i = 0; i < SQ_COUNT(cases); i++)
        tests[n++] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, (void *)&cases[i]};
    for (size_t i = 0; i < SQ_COUNT(model_cases); i++)
        tests[n++] = (struct CMUnitTest){model_cases[i].name, test_model_directional, NULL, NULL,
                                         (void *)&model_cases[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_softmax_xent);
    int rc = cmocka_run_group_tests_name("f64_gradcheck", tests, NULL, NULL);
    printf("worst |a-n| over all cases: %.3f of the tolerance (atol %g, rtol %g, step %g)\n",
           worst_ratio_all, ATOL, RTOL, STEP);
    return rc;
}
