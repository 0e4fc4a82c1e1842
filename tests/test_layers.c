/* test_layers.c - known-value tests of the layers in the float build:
 * pooling on a hand-made 4x4 input, batch norm (evaluation with running
 * statistics; training updates running_var with the unbiased variance),
 * dropout statistics and scaling, concat ordering, flatten/relu, the
 * initialisers' statistics, setup errors and their messages, and conv2d /
 * dense against naive direct implementations (forward and backward). The
 * gradients themselves are checked by finite differences in f64_gradcheck. */
#include <math.h>

#include "testutil.h"
#include "layers/layers.h"

/* ---- helpers ---------------------------------------------------------- */

/* Finish the net with output `out`, reserve B for training, initialise. */
static void finish(sq_net *net, int out, int B)
{
    sq_err e = {{0}};
    if (out < 0 || sq_net_finish(net, out, &e) || sq_net_reserve(net, B, 1, &e)) {
        print_error("building the net: %s %s\n", net->err.msg, e.msg);
        fail();
    }
    sq_rng rng;
    sq_rng_seed(&rng, 99);
    sq_net_init(net, &rng);
}

static void expect_values(const sq_real *got, const double *want, size_t n, double tol,
                          const char *what)
{
    for (size_t i = 0; i < n; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s[%zu]", what, i);
        tu_close(got[i], want[i], tol, tol, msg);
    }
}

static sq_real *buffer_of(sq_net *net, const char *name)
{
    for (int i = 0; i < net->n_buf; i++)
        if (!strcmp(net->buf[i].name, name))
            return net->buffers + net->buf[i].off;
    print_error("no buffer %s\n", name);
    fail();
    return NULL;
}

/* The hand-made 4x4 plane used by the pooling tests. */
static const sq_real X44[16] = {1, 3, 2, 0, /**/ 4, 2, 6, 5, /**/ 7, 0, 1, 9, /**/ 3, 8, 2, 4};

/* ---- pooling ---------------------------------------------------------- */

static void test_maxpool_k2s2(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){1, 4, 4});
    int p = sq_maxpool(&net, "pool", 0, 2, 2);
    finish(&net, p, 1);
    assert_int_equal(net.nodes[p].osh.h, 2);
    assert_int_equal(net.nodes[p].osh.w, 2);
    const sq_real *y = sq_net_forward(&net, X44, 1, 1, NULL);
    expect_values(y, (double[]){4, 6, 8, 9}, 4, 0, "maxpool y");
    sq_net_backward(&net, (sq_real[]){1, 2, 3, 4});
    double dx[16] = {0};
    dx[4] = 1, dx[6] = 2, dx[13] = 3, dx[11] = 4;
    expect_values(sq_net_dy(&net, 0), dx, 16, 0, "maxpool dx");
    sq_net_free(&net);
}

/* overlapping windows share a maximum: its gradient is the sum */
static void test_maxpool_k3s1_overlap(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){1, 4, 4});
    int p = sq_maxpool(&net, "pool", 0, 3, 1);
    finish(&net, p, 1);
    const sq_real *y = sq_net_forward(&net, X44, 1, 1, NULL);
    expect_values(y, (double[]){7, 9, 8, 9}, 4, 0, "maxpool y");
    sq_net_backward(&net, (sq_real[]){1, 1, 1, 1});
    double dx[16] = {0};
    dx[8] = 1, dx[11] = 2, dx[13] = 1;
    expect_values(sq_net_dy(&net, 0), dx, 16, 0, "maxpool dx");
    sq_net_free(&net);
}

/* floor mode (4-3)/2+1 = 1, two channels, two samples, ties: first wins */
static void test_maxpool_floor_ties(void **state)
{
    sq_net net;
    sq_real x[2 * 2 * 16];
    sq_net_begin(&net, (sq_shape){2, 4, 4});
    int p = sq_maxpool(&net, "pool", 0, 3, 2);
    finish(&net, p, 2);
    assert_int_equal(net.nodes[p].osh.h, 1);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            x[i * 16 + j] = i == 3 ? 5 : X44[j] + i; /* last plane all equal */
    const sq_real *y = sq_net_forward(&net, x, 2, 1, NULL);
    expect_values(y, (double[]){7, 8, 9, 5}, 4, 0, "maxpool y");
    sq_net_backward(&net, (sq_real[]){1, 1, 1, 1});
    const sq_real *dx = sq_net_dy(&net, 0);
    assert_true(dx[8] == 1 && dx[16 + 8] == 1 && dx[32 + 8] == 1);
    assert_true(dx[48 + 0] == 1); /* the tie goes to the first element */
    double s = 0;
    for (int j = 0; j < 64; j++)
        s += dx[j];
    assert_true(s == 4);
    sq_net_free(&net);
}

static void test_avgpool_gap(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){1, 4, 4});
    int a = sq_avgpool(&net, "avg", 0, 2, 2);
    int g = sq_gap(&net, "gap", 0);
    int cat = sq_concat(&net, "cat", sq_flatten(&net, "fa", a), sq_flatten(&net, "fg", g));
    finish(&net, cat, 1);
    assert_int_equal(net.nodes[g].osh.c, 1);
    assert_int_equal(net.nodes[g].osh.h, 1);
    assert_int_equal(net.nodes[cat].osh.c, 5);
    const sq_real *y = sq_net_forward(&net, X44, 1, 1, NULL);
    expect_values(y, (double[]){2.5, 3.25, 4.5, 4, 57.0 / 16}, 5, 1e-6, "avgpool/gap y");
    sq_net_backward(&net, (sq_real[]){4, 8, 12, 16, 32});
    double dx[16];
    for (int i = 0; i < 16; i++)
        dx[i] = (1 + (i % 4) / 2 + 2 * (i / 8)) + 2; /* window share + gap share */
    expect_values(sq_net_dy(&net, 0), dx, 16, 1e-6, "avgpool/gap dx");
    sq_net_free(&net);
}

/* ---- batch norm ------------------------------------------------------- */

static void test_batchnorm_names_init(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){3, 2, 2});
    int b = sq_batchnorm(&net, "bn1", 0);
    finish(&net, b, 2);
    sq_param *w = sq_net_find_param(&net, "bn1.weight"), *bi = sq_net_find_param(&net, "bn1.bias");
    assert_non_null(w);
    assert_non_null(bi);
    assert_int_equal(w->role, SQ_BN_WEIGHT);
    assert_int_equal(bi->role, SQ_BN_BIAS);
    assert_true(w->no_decay && !w->quantizable);
    assert_int_equal(net.n_buf, 2);
    assert_string_equal(net.buf[0].name, "bn1.running_mean");
    assert_string_equal(net.buf[1].name, "bn1.running_var");
    for (int c = 0; c < 3; c++) {
        assert_true(w->w[c] == 1 && bi->w[c] == 0);
        assert_true(net.buffers[net.buf[0].off + c] == 0);
        assert_true(net.buffers[net.buf[1].off + c] == 1);
    }
    assert_true(net.nodes[b].eps == 1e-5 && net.nodes[b].momentum == 0.1);
    sq_net_free(&net);
}

/* evaluation: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta */
static void test_batchnorm_eval(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){2, 1, 2});
    int b = sq_batchnorm(&net, "bn", 0);
    finish(&net, b, 2);
    double g[2] = {2, 0.5}, be[2] = {1, -1}, rm[2] = {0.5, -1}, rv[2] = {4, 0.25};
    sq_real *mean = buffer_of(&net, "bn.running_mean"), *var = buffer_of(&net, "bn.running_var");
    for (int c = 0; c < 2; c++) {
        net.nodes[b].p[0].w[c] = g[c], net.nodes[b].p[1].w[c] = be[c];
        mean[c] = rm[c], var[c] = rv[c];
    }
    sq_real x[8] = {1, 2, 3, 4, -1, 0, 5, 7};
    double want[8];
    for (int i = 0; i < 8; i++) {
        int c = (i / 2) % 2;
        want[i] = g[c] * (x[i] - rm[c]) / sqrt(rv[c] + 1e-5) + be[c];
    }
    const sq_real *y = sq_net_forward(&net, x, 2, 0, NULL);
    expect_values(y, want, 8, 1e-5, "bn eval y");
    /* evaluation leaves the running statistics alone */
    expect_values(mean, rm, 2, 0, "running_mean");
    expect_values(var, rv, 2, 0, "running_var");
    sq_net_free(&net);
}

/* training: batch statistics; running_var gets the unbiased variance */
static void test_batchnorm_train(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){2, 1, 2});
    int b = sq_batchnorm(&net, "bn", 0);
    finish(&net, b, 2);
    /* channel 0: 1 2 3 4 (mean 2.5, var 1.25, unbiased 5/3);
     * channel 1: 10 20 30 60 (mean 30, var 350, unbiased 1400/3) */
    sq_real x[8] = {1, 2, 10, 20, 3, 4, 30, 60};
    const sq_real *y = sq_net_forward(&net, x, 2, 1, NULL);
    double want[8];
    for (int i = 0; i < 8; i++) {
        int c = (i / 2) % 2;
        want[i] = c == 0 ? (x[i] - 2.5) / sqrt(1.25 + 1e-5) : (x[i] - 30) / sqrt(350 + 1e-5);
    }
    expect_values(y, want, 8, 1e-5, "bn train y");
    sq_real *mean = buffer_of(&net, "bn.running_mean"), *var = buffer_of(&net, "bn.running_var");
    expect_values(mean, (double[]){0.25, 3.0}, 2, 1e-6, "running_mean after 1 step");
    expect_values(var, (double[]){0.9 + 0.1 * 5.0 / 3, 0.9 + 0.1 * 1400.0 / 3}, 2, 1e-6,
                  "running_var after 1 step");
    sq_net_forward(&net, x, 2, 1, NULL);
    expect_values(mean, (double[]){0.9 * 0.25 + 0.25, 0.9 * 3 + 3}, 2, 1e-6,
                  "running_mean after 2 steps");
    expect_values(var,
                  (double[]){0.9 * (0.9 + 0.5 / 3) + 0.5 / 3, 0.9 * (0.9 + 140.0 / 3) + 140.0 / 3},
                  2, 1e-5, "running_var after 2 steps");
    /* the normalised output has zero mean, so d(sum y)/dx = 0 and
     * d(sum y)/d beta = n */
    sq_real ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    sq_net_backward(&net, ones);
    for (int i = 0; i < 8; i++)
        tu_close(sq_net_dy(&net, 0)[i], 0, 1e-5, 0, "bn d(sum y)/dx");
    expect_values(net.nodes[b].p[1].g, (double[]){4, 4}, 2, 0, "bn dbeta");
    sq_net_free(&net);
}

/* ---- dropout, relu, flatten, concat ------------------------------------ */

static void test_dropout(void **state)
{
    enum { B = 10, N = 1000 };
    sq_net net;
    sq_rng rng;
    static sq_real x[B * N], ones[B * N];
    sq_net_begin(&net, (sq_shape){N, 1, 1});
    int d = sq_dropout(&net, "drop", 0, 0.3);
    finish(&net, d, B);
    for (int i = 0; i < B * N; i++)
        x[i] = 1 + (i % 7), ones[i] = 1;
    sq_rng_seed(&rng, 5);
    const sq_real *y = sq_net_forward(&net, x, B, 1, &rng);
    int kept = 0;
    for (int i = 0; i < B * N; i++) {
        if (y[i] != 0) {
            kept++;
            tu_close(y[i], x[i] / 0.7, 1e-6, 1e-6, "kept value scaled by 1/(1-p)");
        }
    }
    /* 7000 expected, sd sqrt(10000*0.21) ~ 46 */
    assert_in_range(kept, 7000 - 250, 7000 + 250);
    sq_net_backward(&net, ones);
    for (int i = 0; i < B * N; i++)
        tu_close(sq_net_dy(&net, 0)[i], y[i] / x[i], 1e-6, 1e-6, "dropout dx = mask");
    /* the same seed draws the same mask */
    sq_rng_seed(&rng, 5);
    y = sq_net_forward(&net, x, B, 1, &rng);
    int again = 0;
    for (int i = 0; i < B * N; i++)
        again += y[i] != 0;
    assert_int_equal(again, kept);
    /* evaluation is the identity */
    y = sq_net_forward(&net, x, B, 0, &rng);
    for (int i = 0; i < B * N; i++)
        assert_true(y[i] == x[i]);
    sq_net_free(&net);
}

static void test_relu_flatten(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){2, 1, 2});
    int f = sq_flatten(&net, "flat", sq_relu(&net, "relu", 0));
    finish(&net, f, 2);
    assert_int_equal(net.nodes[f].osh.c, 4);
    assert_int_equal(net.nodes[f].osh.h * net.nodes[f].osh.w, 1);
    sq_real x[8] = {-1, 2, 0, 3, 4, -5, 6, -0.5};
    const sq_real *y = sq_net_forward(&net, x, 2, 1, NULL);
    expect_values(y, (double[]){0, 2, 0, 3, 4, 0, 6, 0}, 8, 0, "relu y");
    sq_net_backward(&net, (sq_real[]){1, 2, 3, 4, 5, 6, 7, 8});
    expect_values(sq_net_dy(&net, 0), (double[]){0, 2, 0, 4, 5, 0, 7, 0}, 8, 0, "relu dx");
    sq_net_free(&net);
}

/* y[b] = [x[b] (2 channels), relu(x[b]) (2 channels)] per sample */
static void test_concat_order(void **state)
{
    sq_net net;
    sq_net_begin(&net, (sq_shape){2, 1, 2});
    int c = sq_concat(&net, "cat", 0, sq_relu(&net, "relu", 0));
    finish(&net, c, 2);
    assert_int_equal(net.nodes[c].osh.c, 4);
    sq_real x[8] = {-1, 2, -3, 4, 5, -6, 7, -8};
    const sq_real *y = sq_net_forward(&net, x, 2, 1, NULL);
    expect_values(y, (double[]){-1, 2, -3, 4, 0, 2, 0, 4, 5, -6, 7, -8, 5, 0, 7, 0}, 16, 0,
                  "concat y");
    sq_real dy[16];
    for (int i = 0; i < 16; i++)
        dy[i] = i + 1;
    sq_net_backward(&net, dy);
    /* both paths reach the input: dx = dy(first half) + dy(second half)*(x>0) */
    expect_values(sq_net_dy(&net, 0), (double[]){1, 2 + 6, 3, 4 + 8, 9 + 13, 10, 11 + 15, 12}, 8,
                  0, "concat dx");
    sq_net_free(&net);
}

/* ---- initialisers ----------------------------------------------------- */

static void moments(const sq_real *w, size_t n, double *mean, double *sd, double *amax)
{
    double s = 0, q = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i], m = SQ_MAX(m, fabs(w[i]));
    *mean = s / n;
    for (size_t i = 0; i < n; i++)
        q += (w[i] - *mean) * (w[i] - *mean);
    *sd = sqrt(q / n);
    *amax = m;
}

static void test_init_statistics(void **state)
{
    enum { N = 200000 };
    sq_param p = {0};
    sq_rng rng;
    double mean, sd, amax;
    p.w = sq_alloc_real(N);
    assert_non_null(p.w);
    p.n = N, p.fan_in = 50, p.fan_out = 30;
    sq_rng_seed(&rng, 3);
    sq_init_he(&p, &rng);
    moments(p.w, N, &mean, &sd, &amax);
    tu_close(sd, sqrt(2.0 / 50), 0, 0.01, "He std");
    tu_close(mean, 0, 4 * sqrt(2.0 / 50) / sqrt(N), 0, "He mean");
    sq_init_glorot(&p, &rng);
    moments(p.w, N, &mean, &sd, &amax);
    double a = sqrt(6.0 / 80);
    assert_true(amax <= a);
    assert_true(amax > 0.999 * a);
    tu_close(sd, a / sqrt(3), 0, 0.01, "Glorot std");
    tu_close(mean, 0, 4 * a / sqrt(3 * (double)N), 0, "Glorot mean");
    sq_free(p.w);
}

/* the layers hand their own fan_in to the initialiser */
static void test_layer_init_fan_in(void **state)
{
    sq_net net;
    double mean, sd, amax;
    sq_net_begin(&net, (sq_shape){16, 5, 5});
    int c = sq_conv2d(&net, "conv", 0, 64, 3, 1, 1, 1);
    int d = sq_dense(&net, "fc", sq_flatten(&net, "flat", c), 40, 1);
    finish(&net, d, 1);
    sq_param *cw = sq_net_find_param(&net, "conv.weight");
    sq_param *dw = sq_net_find_param(&net, "fc.weight");
    assert_non_null(cw);
    assert_non_null(dw);
    assert_int_equal(cw->fan_in, 16 * 9);
    assert_int_equal(dw->fan_in, 64 * 25);
    moments(cw->w, cw->n, &mean, &sd, &amax);
    tu_close(sd, sqrt(2.0 / 144), 0, 0.05, "conv He std");
    moments(dw->w, dw->n, &mean, &sd, &amax);
    tu_close(sd, sqrt(2.0 / 1600), 0, 0.05, "dense He std");
    sq_net_free(&net);
}

/* ---- setup errors ----------------------------------------------------- */

static void expect_failure(sq_net *net, int node, const char *part1, const char *part2)
{
    assert_int_equal(node, -1);
    if (!strstr(net->err.msg, part1) || !strstr(net->err.msg, part2)) {
        print_error("message \"%s\" lacks \"%s\" or \"%s\"\n", net->err.msg, part1, part2);
        fail();
    }
}

static void test_setup_errors(void **state)
{
    sq_net net;
    sq_err e = {{0}};
    sq_net_begin(&net, (sq_shape){2, 4, 4});
    expect_failure(&net, sq_maxpool(&net, "pool1", 0, 5, 1), "pool1 (maxpool)",
                   "larger than the input 4x4");
    sq_net_free(&net);

    sq_net_begin(&net, (sq_shape){2, 4, 6});
    expect_failure(&net, sq_avgpool(&net, "avg", 0, 5, 2), "avg (avgpool)", "5x5 is larger");
    /* the failure is sticky and reaches sq_net_finish */
    assert_int_equal(sq_relu(&net, "relu", 0), -1);
    assert_int_equal(sq_net_finish(&net, 0, &e), -1);
    assert_non_null(strstr(e.msg, "larger than the input"));
    sq_net_free(&net);

    sq_net_begin(&net, (sq_shape){2, 4, 4});
    expect_failure(&net, sq_maxpool(&net, "p0", 0, 2, 0), "p0 (maxpool)", "stride=0");
    sq_net_free(&net);

    sq_net_begin(&net, (sq_shape){2, 4, 4});
    int p = sq_maxpool(&net, "pool", 0, 2, 2);
    assert_true(p > 0);
    expect_failure(&net, sq_concat(&net, "cat", 0, p), "cat (concat)",
                   "input 1 is 2x2, input 0 is 4x4");
    sq_net_free(&net);

    sq_net_begin(&net, (sq_shape){2, 4, 4});
    expect_failure(&net, sq_dropout(&net, "drop", 0, 1.5), "drop (dropout)",
                   "1.5 is outside [0, 1]");
    sq_net_free(&net);

    sq_net_begin(&net, (sq_shape){2, 4, 4});
    sq_node h = {0}; /* batch norm without eps */
    int in = 0;
    expect_failure(&net, sq_net_add(&net, &sq_batchnorm_ops, "bn", &in, 1, &h), "bn (batchnorm)",
                   "bad eps");
    sq_net_free(&net);
}

/* ---- conv2d and dense against naive implementations ------------------- */

typedef struct conv_case {
    int B, C, H, W, O, k, s, p, bias;
} conv_case;

#define X4(b, c, i, j) x[(((size_t)(b) * cc->C + (c)) * cc->H + (i)) * cc->W + (j)]
#define W4(o, c, i, j) w[(((size_t)(o) * cc->C + (c)) * cc->k + (i)) * cc->k + (j)]

/* x [B,C,H,W], w [O,C,k,k], bias [O] or NULL -> y [B,O,Ho,Wo] (double) */
static void naive_conv(const conv_case *cc, const sq_real *x, const sq_real *w,
                       const sq_real *bias, int Ho, int Wo, double *y)
{
    for (int b = 0; b < cc->B; b++)
        for (int o = 0; o < cc->O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = bias ? bias[o] : 0;
                    for (int c = 0; c < cc->C; c++)
                        for (int i = 0; i < cc->k; i++)
                            for (int j = 0; j < cc->k; j++) {
                                int ih = oh * cc->s - cc->p + i, iw = ow * cc->s - cc->p + j;
                                if (ih >= 0 && ih < cc->H && iw >= 0 && iw < cc->W)
                                    s += (double)X4(b, c, ih, iw) * W4(o, c, i, j);
                            }
                    y[(((size_t)b * cc->O + o) * Ho + oh) * Wo + ow] = s;
                }
}

/* dy [B,O,Ho,Wo] -> dw [O,C,k,k], dx [B,C,H,W], db [O] (double, zeroed here) */
static void naive_conv_back(const conv_case *cc, const sq_real *x, const sq_real *w,
                            const sq_real *dy, int Ho, int Wo, double *dw, double *dx, double *db)
{
    memset(dw, 0, sizeof(double) * cc->O * cc->C * cc->k * cc->k);
    memset(dx, 0, sizeof(double) * cc->B * cc->C * cc->H * cc->W);
    memset(db, 0, sizeof(double) * cc->O);
    for (int b = 0; b < cc->B; b++)
        for (int o = 0; o < cc->O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double g = dy[(((size_t)b * cc->O + o) * Ho + oh) * Wo + ow];
                    db[o] += g;
                    for (int c = 0; c < cc->C; c++)
                        for (int i = 0; i < cc->k; i++)
                            for (int j = 0; j < cc->k; j++) {
                                int ih = oh * cc->s - cc->p + i, iw = ow * cc->s - cc->p + j;
                                if (ih < 0 || ih >= cc->H || iw < 0 || iw >= cc->W)
                                    continue;
                                dw[(((size_t)o * cc->C + c) * cc->k + i) * cc->k + j] +=
                                    g * X4(b, c, ih, iw);
                                dx[(((size_t)b * cc->C + c) * cc->H + ih) * cc->W + iw] +=
                                    g * W4(o, c, i, j);
                            }
                }
}

static sq_real *random_reals(size_t n, sq_rng *rng)
{
    sq_real *v = sq_alloc_real(n);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (sq_real)sq_rng_normal(rng);
    return v;
}

static void check_conv_case(const conv_case *cc)
{
    sq_net net;
    sq_rng rng;
    sq_net_begin(&net, (sq_shape){cc->C, cc->H, cc->W});
    int n = sq_conv2d(&net, "conv", 0, cc->O, cc->k, cc->s, cc->p, cc->bias);
    finish(&net, n, cc->B);
    int Ho = (cc->H + 2 * cc->p - cc->k) / cc->s + 1, Wo = (cc->W + 2 * cc->p - cc->k) / cc->s + 1;
    assert_int_equal(net.nodes[n].osh.h, Ho);
    assert_int_equal(net.nodes[n].osh.w, Wo);
    sq_rng_seed(&rng, 11);
    sq_real *w = net.nodes[n].p[0].w, *bias = cc->bias ? net.nodes[n].p[1].w : NULL;
    for (int o = 0; bias && o < cc->O; o++)
        bias[o] = (sq_real)sq_rng_normal(&rng);
    size_t nx = (size_t)cc->B * cc->C * cc->H * cc->W, ny = (size_t)cc->B * cc->O * Ho * Wo;
    size_t nw = (size_t)cc->O * cc->C * cc->k * cc->k;
    sq_real *x = random_reals(nx, &rng), *dy = random_reals(ny, &rng);
    double *want = sq_malloc(sizeof(double) * (ny + nw + nx + cc->O));
    assert_non_null(want);
    naive_conv(cc, x, w, bias, Ho, Wo, want);
    expect_values(sq_net_forward(&net, x, cc->B, 1, NULL), want, ny, 1e-4, "conv y");
    sq_net_backward(&net, dy);
    double *dw = want + ny, *dx = dw + nw, *db = dx + nx;
    naive_conv_back(cc, x, w, dy, Ho, Wo, dw, dx, db);
    expect_values(net.nodes[n].p[0].g, dw, nw, 1e-3, "conv dW");
    expect_values(sq_net_dy(&net, 0), dx, nx, 1e-4, "conv dX");
    if (bias)
        expect_values(net.nodes[n].p[1].g, db, cc->O, 1e-3, "conv dbias");
    sq_free(want);
    sq_free(x);
    sq_free(dy);
    sq_net_free(&net);
}

static void test_conv2d_naive(void **state)
{
    static const conv_case cases[] = {
        {2, 3, 5, 7, 4, 3, 1, 0, 1}, /* odd, non-square */
        {3, 2, 7, 5, 3, 3, 2, 1, 0}, /* stride 2, padding */
        {2, 1, 8, 8, 2, 5, 1, 2, 1}, /* big kernel, "same" padding */
        {2, 4, 6, 9, 5, 2, 2, 0, 1}, /* even kernel */
        {2, 3, 9, 9, 6, 3, 3, 1, 1}, /* stride 3 */
        {2, 3, 4, 4, 3, 1, 1, 0, 0}, /* 1x1 */
        {1, 2, 5, 6, 3, 3, 2, 2, 1}, /* padding 2, stride 2 */
        {300, 1, 4, 4, 2, 3, 1, 0, 1}, /* more images than one chunk (256) */
    };
    for (size_t i = 0; i < SQ_COUNT(cases); i++)
        check_conv_case(&cases[i]);
}

/* y = x W^T + b on a 4-D input read as [B, c*h*w] */
static void test_dense_naive(void **state)
{
    enum { B = 3, C = 2, H = 2, W = 3, IN = C * H * W, OUT = 4 };
    sq_net net;
    sq_rng rng;
    sq_net_begin(&net, (sq_shape){C, H, W});
    int d = sq_dense(&net, "fc", 0, OUT, 1);
    finish(&net, d, B);
    sq_rng_seed(&rng, 13);
    sq_real *w = net.nodes[d].p[0].w, *bias = net.nodes[d].p[1].w;
    for (int o = 0; o < OUT; o++)
        bias[o] = (sq_real)sq_rng_normal(&rng);
    sq_real *x = random_reals(B * IN, &rng), *dy = random_reals(B * OUT, &rng);
    double y[B * OUT], dw[OUT * IN] = {0}, dx[B * IN] = {0}, db[OUT] = {0};
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OUT; o++) {
            double s = bias[o], g = dy[b * OUT + o];
            for (int i = 0; i < IN; i++) {
                s += (double)x[b * IN + i] * w[o * IN + i];
                dw[o * IN + i] += g * x[b * IN + i];
                dx[b * IN + i] += g * w[o * IN + i];
            }
            y[b * OUT + o] = s;
            db[o] += g;
        }
    expect_values(sq_net_forward(&net, x, B, 1, NULL), y, B * OUT, 1e-5, "dense y");
    sq_net_backward(&net, dy);
    expect_values(net.nodes[d].p[0].g, dw, OUT * IN, 1e-5, "dense dW");
    expect_values(net.nodes[d].p[1].g, db, OUT, 1e-5, "dense db");
    expect_values(sq_net_dy(&net, 0), dx, B * IN, 1e-5, "dense dX");
    sq_free(x);
    sq_free(dy);
    sq_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_k2s2),
        cmocka_unit_test(test_maxpool_k3s1_overlap),
        cmocka_unit_test(test_maxpool_floor_ties),
        cmocka_unit_test(test_avgpool_gap),
        cmocka_unit_test(test_batchnorm_names_init),
        cmocka_unit_test(test_batchnorm_eval),
        cmocka_unit_test(test_batchnorm_train),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_relu_flatten),
        cmocka_unit_test(test_concat_order),
        cmocka_unit_test(test_init_statistics),
        cmocka_unit_test(test_layer_init_fan_in),
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_conv2d_naive),
        cmocka_unit_test(test_dense_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
