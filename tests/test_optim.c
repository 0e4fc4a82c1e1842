/* test_optim.c - optimizers (SGD, momentum, Nesterov, weight decay, Adam) and
 * learning-rate schedules against hand-computed PyTorch values. */
#include "testutil.h"

#include <math.h>

#include "optim/optim.h"

#define TOL 1e-6 /* float state: a few ulps over three steps */

/* ---- helpers ------------------------------------------------------------ */
/* A two-parameter net without layers: "fc.weight" (2 values, decayed) and
 * "fc.bias" (1 value, no_decay), which is all sq_optim_step looks at. */
typedef struct fake_net {
    sq_net net;
    sq_param par[2];
    sq_real params[3], grads[3];
} fake_net;

static void fake_net_init(fake_net *f)
{
    memset(f, 0, sizeof *f);
    f->net.par = f->par;
    f->net.n_par = 2;
    f->net.params = f->params;
    f->net.grads = f->grads;
    f->net.n_weights = 3;
    f->par[0] = (sq_param){.name = "fc.weight", .role = SQ_WEIGHT, .off = 0, .n = 2};
    f->par[1] = (sq_param){.name = "fc.bias", .role = SQ_BIAS, .off = 2, .n = 1, .no_decay = 1};
    for (int i = 0; i < 2; i++) {
        f->par[i].w = f->par[i].wq = f->params + f->par[i].off;
        f->par[i].g = f->grads + f->par[i].off;
    }
}

static sq_optim_cfg sgd_cfg(double momentum, int nesterov, double wd)
{
    sq_optim_cfg c;
    sq_optim_defaults(&c, SQ_SGD);
    c.momentum = momentum;
    c.nesterov = nesterov;
    c.weight_decay = wd;
    return c;
}

static sq_optim_cfg adam_cfg(double wd)
{
    sq_optim_cfg c;
    sq_optim_defaults(&c, SQ_ADAM);
    c.weight_decay = wd;
    return c;
}

/* One slice-only step of a single value with gradient g. */
static void step1(sq_optim *o, sq_real *w, double g, double lr)
{
    sq_real gr = (sq_real)g;
    sq_optim_tick(o);
    assert_int_equal(sq_optim_step_slice(o, 0, w, &gr, 1, 1, lr), 0);
}

/* ---- SGD ---------------------------------------------------------------- */
static void test_sgd_plain(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = sgd_cfg(0, 0, 0);
    assert_int_equal(sq_optim_init_n(&o, &c, 2, &e), 0);
    assert_null(o.m); /* plain SGD keeps no state */
    assert_null(o.v);
    sq_real w[2] = {1, -2}, g[2] = {0.5f, 0.25f};
    sq_optim_tick(&o);
    assert_int_equal(sq_optim_step_slice(&o, 0, w, g, 2, 1, 0.1), 0);
    tu_close(w[0], 0.95, TOL, TOL, "1 - 0.1*0.5");
    tu_close(w[1], -2.025, TOL, TOL, "-2 - 0.1*0.25");
    tu_close(g[0], 0.5, 0, 0, "gradient unchanged");
    sq_optim_free(&o);
}

/* lr 0.1, momentum 0.9, w0 = 1, gradients 1, 2, -1:
 *   buf1 = 1                     w1 = 1    - 0.1*1    = 0.9
 *   buf2 = 0.9*1    + 2 = 2.9    w2 = 0.9  - 0.1*2.9  = 0.61
 *   buf3 = 0.9*2.9  - 1 = 1.61   w3 = 0.61 - 0.1*1.61 = 0.449 */
static void test_sgd_momentum(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = sgd_cfg(0.9, 0, 0);
    assert_int_equal(sq_optim_init_n(&o, &c, 1, &e), 0);
    assert_non_null(o.m);
    assert_null(o.v);
    const double g[3] = {1, 2, -1}, buf[3] = {1, 2.9, 1.61}, w_want[3] = {0.9, 0.61, 0.449};
    sq_real w = 1;
    for (int k = 0; k < 3; k++) {
        step1(&o, &w, g[k], 0.1);
        tu_close(o.m[0], buf[k], TOL, TOL, "momentum buffer");
        tu_close(w, w_want[k], TOL, TOL, "weight");
    }
    assert_int_equal(o.t, 3);
    sq_optim_free(&o);
}

/* Same gradients with Nesterov: d = g + 0.9*buf, w -= 0.1*d:
 *   buf1 = 1     d1 =  1 + 0.9*1    = 1.9     w1 = 1     - 0.19   = 0.81
 *   buf2 = 2.9   d2 =  2 + 0.9*2.9  = 4.61    w2 = 0.81  - 0.461  = 0.349
 *   buf3 = 1.61  d3 = -1 + 0.9*1.61 = 0.449   w3 = 0.349 - 0.0449 = 0.3041 */
static void test_sgd_nesterov(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = sgd_cfg(0.9, 1, 0);
    assert_int_equal(sq_optim_init_n(&o, &c, 1, &e), 0);
    const double g[3] = {1, 2, -1}, w_want[3] = {0.81, 0.349, 0.3041};
    sq_real w = 1;
    for (int k = 0; k < 3; k++) {
        step1(&o, &w, g[k], 0.1);
        tu_close(w, w_want[k], TOL, TOL, "nesterov weight");
    }
    sq_optim_free(&o);
}

/* wd 0.1, lr 0.1, no momentum, every value 2 with gradient 0.5:
 *   decayed:  d = 0.5 + 0.1*2 = 0.7   w = 2 - 0.07 = 1.93
 *   exempt:   d = 0.5                 w = 2 - 0.05 = 1.95 */
static void test_weight_decay_skips_no_decay(void **st)
{
    for (int all = 0; all <= 1; all++) {
        fake_net f;
        fake_net_init(&f);
        for (int i = 0; i < 3; i++) {
            f.params[i] = 2;
            f.grads[i] = 0.5f;
        }
        sq_optim o;
        sq_err e;
        sq_optim_cfg c = sgd_cfg(0, 0, 0.1);
        c.decay_all = all;
        assert_int_equal(sq_optim_init(&o, &c, &f.net, &e), 0);
        assert_int_equal(o.n, 3);
        assert_int_equal(sq_optim_step(&o, &f.net, 0.1), 0);
        tu_close(f.params[0], 1.93, TOL, TOL, "fc.weight[0] decayed");
        tu_close(f.params[1], 1.93, TOL, TOL, "fc.weight[1] decayed");
        tu_close(f.params[2], all ? 1.93 : 1.95, TOL, TOL, "fc.bias decayed only if decay_all");
        sq_optim_free(&o);
    }
}

/* Decay enters the momentum buffer (PyTorch adds it to the gradient first).
 * wd 0.1, momentum 0.9, lr 0.1, w0 = 2, gradient 0.5 twice:
 *   d1 = 0.5 + 0.1*2    = 0.7     buf1 = 0.7                      w1 = 2 - 0.07 = 1.93
 *   d2 = 0.5 + 0.1*1.93 = 0.693   buf2 = 0.9*0.7 + 0.693 = 1.323  w2 = 1.93 - 0.1323 = 1.7977
 * The bias (no decay): buf1 = 0.5, w1 = 1.95; buf2 = 0.95, w2 = 1.855. */
static void test_weight_decay_with_momentum(void **st)
{
    fake_net f;
    fake_net_init(&f);
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = sgd_cfg(0.9, 0, 0.1);
    assert_int_equal(sq_optim_init(&o, &c, &f.net, &e), 0);
    for (int i = 0; i < 3; i++)
        f.params[i] = 2;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++)
            f.grads[i] = 0.5f;
        assert_int_equal(sq_optim_step(&o, &f.net, 0.1), 0);
    }
    tu_close(o.m[0], 1.323, TOL, TOL, "weight momentum");
    tu_close(f.params[0], 1.7977, TOL, TOL, "weight");
    tu_close(o.m[2], 0.95, TOL, TOL, "bias momentum");
    tu_close(f.params[2], 1.855, TOL, TOL, "bias");
    sq_optim_free(&o);
}

/* ---- Adam --------------------------------------------------------------- */
/* Reference written the textbook way (Kingma & Ba, bias-corrected moments
 * m_hat, v_hat, eps outside the sqrt), in double. PyTorch's form divides
 * sqrt(v) by sqrt(1 - b2^t) instead; the two are the same value. */
typedef struct ref_adam {
    double m, v, w;
    int t;
} ref_adam;

static void ref_adam_step(ref_adam *r, double g, double lr, double b1, double b2, double eps,
                          double wd)
{
    g += wd * r->w;
    r->t++;
    r->m = b1 * r->m + (1 - b1) * g;
    r->v = b2 * r->v + (1 - b2) * g * g;
    double m_hat = r->m / (1 - pow(b1, r->t));
    double v_hat = r->v / (1 - pow(b2, r->t));
    r->w -= lr * m_hat / (sqrt(v_hat) + eps);
}

/* lr 0.01, betas 0.9/0.999, eps 1e-8, w0 = 1, gradients 0.5, -0.25, 1:
 *   t1: m = 0.1*0.5 = 0.05,  v = 0.001*0.25 = 0.00025
 *       m_hat = 0.05/0.1 = 0.5, v_hat = 0.00025/0.001 = 0.25, sqrt 0.5
 *       w = 1 - 0.01*0.5/(0.5 + 1e-8) = 0.9900000002
 *   t2: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225
 *       m_hat = 0.02/0.19 = 0.1052632, v_hat = 0.00031225/0.001999 = 0.1562031
 *       w = 0.99 - 0.01*0.1052632/0.3952254 = 0.9873366
 *   t3: m = 0.018 + 0.1 = 0.118, v = 0.000311938 + 0.001 = 0.0013119378
 *       (python3, same formulas) w = 0.980755514 */
static void test_adam_three_steps(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = adam_cfg(0);
    assert_int_equal(sq_optim_init_n(&o, &c, 1, &e), 0);
    assert_non_null(o.m);
    assert_non_null(o.v);
    const double g[3] = {0.5, -0.25, 1};
    const double m[3] = {0.05, 0.02, 0.118}, v[3] = {0.00025, 0.00031225, 0.0013119378};
    const double w_want[3] = {0.9900000002, 0.9873366299, 0.980755514};
    sq_real w = 1;
    for (int k = 0; k < 3; k++) {
        step1(&o, &w, g[k], 0.01);
        tu_close(o.m[0], m[k], 1e-9, TOL, "adam m");
        tu_close(o.v[0], v[k], 1e-12, TOL, "adam v");
        tu_close(w, w_want[k], TOL, TOL, "adam w");
    }
    sq_optim_free(&o);
}

/* Many values, other hyper-parameters, weight decay: against ref_adam.
 * Hand check of element 0 (w0 -0.5, g 0.1, lr 0.1, b1 0.5, b2 0.9, eps 1e-3):
 * m = 0.05, v = 0.001, m_hat = 0.1, sqrt(v_hat) = 0.1,
 * w = -0.5 - 0.1*0.1/(0.1 + 0.001) = -0.5990099 (with wd 0 for element 0). */
static void test_adam_matches_reference(void **st)
{
    enum { N = 7, STEPS = 5 };
    sq_optim_cfg c = adam_cfg(0.05);
    c.beta1 = 0.5;
    c.beta2 = 0.9;
    c.eps = 1e-3;
    sq_optim o;
    sq_err e;
    assert_int_equal(sq_optim_init_n(&o, &c, N, &e), 0);
    sq_real w[N], g[N];
    ref_adam ref[N];
    for (int i = 0; i < N; i++) {
        w[i] = (sq_real)(-0.5 + 0.3 * i);
        ref[i] = (ref_adam){.w = w[i]};
    }
    for (int k = 0; k < STEPS; k++) {
        for (int i = 0; i < N; i++) {
            double gi = i == 0 ? 0.1 * (k + 1) : 0.1 * (k + 1) * (i % 3 - 1) + 0.01 * k;
            g[i] = (sq_real)gi;
            ref_adam_step(&ref[i], g[i], 0.1, 0.5, 0.9, 1e-3, i == 0 ? 0 : 0.05);
        }
        sq_optim_tick(&o);
        sq_optim_step_slice(&o, 0, w, g, 1, 0, 0.1); /* element 0: not decayed */
        sq_optim_step_slice(&o, 1, w + 1, g + 1, N - 1, 1, 0.1);
        if (k == 0)
            tu_close(w[0], -0.599009901, TOL, TOL, "hand-checked element 0");
        for (int i = 0; i < N; i++) {
            tu_close(w[i], ref[i].w, TOL, TOL, "adam vs reference");
            tu_close(o.m[i], ref[i].m, 1e-7, TOL, "adam m vs reference");
            tu_close(o.v[i], ref[i].v, 1e-9, TOL, "adam v vs reference");
        }
    }
    sq_optim_free(&o);
}

/* Adam's weight decay through sq_optim_step: the bias is exempt.
 * w0 = 2, gradients 0.5, -0.25, 1; decayed values from python3:
 * 1.990000000142857, 1.983858141529367, 1.9759468447554827. */
static void test_adam_net_weight_decay(void **st)
{
    fake_net f;
    fake_net_init(&f);
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = adam_cfg(0.1);
    assert_int_equal(sq_optim_init(&o, &c, &f.net, &e), 0);
    const double g[3] = {0.5, -0.25, 1};
    const double w_want[3] = {1.990000000142857, 1.983858141529367, 1.9759468447554827};
    ref_adam bias = {.w = 2};
    for (int i = 0; i < 3; i++)
        f.params[i] = 2;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 3; i++)
            f.grads[i] = (sq_real)g[k];
        assert_int_equal(sq_optim_step(&o, &f.net, 0.01), 0);
        ref_adam_step(&bias, g[k], 0.01, 0.9, 0.999, 1e-8, 0);
        tu_close(f.params[0], w_want[k], TOL, TOL, "decayed weight");
        tu_close(f.params[1], w_want[k], TOL, TOL, "decayed weight");
        tu_close(f.params[2], bias.w, TOL, TOL, "bias without decay");
    }
    sq_optim_free(&o);
}

/* ---- state: extension, bounds, reset, errors ------------------------------ */
/* An extra parameter (e.g. an LSQ step size) appended after the net's ones is
 * stepped after sq_optim_step with the same t, like a fourth net value. */
static void test_extend_for_extra_params(void **st)
{
    fake_net f;
    fake_net_init(&f);
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = adam_cfg(0);
    assert_int_equal(sq_optim_init(&o, &c, &f.net, &e), 0);
    size_t off = 99;
    assert_int_equal(sq_optim_extend(&o, 2, &off, &e), 0);
    assert_int_equal(off, 3);
    assert_int_equal(o.n, 5);
    sq_real extra[2] = {1, 1};
    ref_adam ref = {.w = 1};
    const double g[3] = {0.5, -0.25, 1};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 3; i++)
            f.grads[i] = 1;
        sq_real eg[2] = {(sq_real)g[k], (sq_real)g[k]};
        assert_int_equal(sq_optim_step(&o, &f.net, 0.01), 0);
        assert_int_equal(sq_optim_step_slice(&o, off, extra, eg, 2, 0, 0.01), 0);
        ref_adam_step(&ref, g[k], 0.01, 0.9, 0.999, 1e-8, 0);
        tu_close(extra[1], ref.w, TOL, TOL, "extra parameter shares the step count");
        tu_close(o.m[off + 1], ref.m, 1e-9, TOL, "extra state at its offset");
    }
    /* growing again keeps what is there and zeroes the new part */
    double m3 = o.m[3], v4 = o.v[4];
    assert_int_equal(sq_optim_extend(&o, 1, &off, &e), 0);
    assert_int_equal(off, 5);
    tu_close(o.m[3], m3, 0, 0, "m kept");
    tu_close(o.v[4], v4, 0, 0, "v kept");
    tu_close(o.m[5], 0, 0, 0, "new m zero");
    tu_close(o.v[5], 0, 0, 0, "new v zero");
    sq_optim_free(&o);
}

static void test_slice_out_of_range(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = sgd_cfg(0.9, 0, 0);
    assert_int_equal(sq_optim_init_n(&o, &c, 2, &e), 0);
    sq_real w[3] = {1, 1, 1}, g[3] = {1, 1, 1};
    assert_int_equal(sq_optim_step_slice(&o, 1, w, g, 2, 1, 0.1), -1);
    assert_int_equal(sq_optim_step_slice(&o, 3, w, g, 0, 1, 0.1), -1);
    assert_int_equal(sq_optim_step_slice(&o, 2, w, g, 0, 1, 0.1), 0); /* empty, at the end */
    tu_close(w[0], 1, 0, 0, "untouched");
    /* a net with more parameters than the state: nothing moves, no tick */
    fake_net f;
    fake_net_init(&f);
    f.params[0] = 1;
    f.grads[0] = 1;
    assert_int_equal(sq_optim_step(&o, &f.net, 0.1), -1);
    assert_int_equal(o.t, 0);
    tu_close(f.params[0], 1, 0, 0, "net untouched");
    sq_optim_free(&o);
}

/* Before the first tick a slice uses t = 1 (no division by 1 - b^0 = 0). */
static void test_adam_slice_before_tick(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = adam_cfg(0);
    assert_int_equal(sq_optim_init_n(&o, &c, 1, &e), 0);
    sq_real w = 1, g = 0.5f;
    assert_int_equal(sq_optim_step_slice(&o, 0, &w, &g, 1, 1, 0.01), 0);
    tu_close(w, 0.9900000002, TOL, TOL, "first Adam step");
    sq_optim_free(&o);
}

static void test_reset(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = adam_cfg(0);
    assert_int_equal(sq_optim_init_n(&o, &c, 1, &e), 0);
    sq_real w = 1;
    step1(&o, &w, 0.5, 0.01);
    step1(&o, &w, 0.5, 0.01);
    sq_optim_reset(&o);
    assert_int_equal(o.t, 0);
    tu_close(o.m[0], 0, 0, 0, "m zeroed");
    tu_close(o.v[0], 0, 0, 0, "v zeroed");
    w = 1;
    step1(&o, &w, 0.5, 0.01);
    tu_close(w, 0.9900000002, TOL, TOL, "fresh first step after reset");
    sq_optim_free(&o);
    sq_optim_free(&o); /* idempotent */
}

static void test_init_rejects_bad_config(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c;
    const struct {
        sq_optim_cfg cfg;
        const char *msg;
    } bad[] = {
        {sgd_cfg(0, 1, 0), "Nesterov"},
        {sgd_cfg(1.0, 0, 0), "momentum"},
        {sgd_cfg(-0.1, 0, 0), "momentum"},
        {sgd_cfg(0.9, 0, -1e-4), "weight decay"},
        {sgd_cfg(0.9, 0, NAN), "weight decay"},
    };
    for (size_t i = 0; i < SQ_COUNT(bad); i++) {
        e.msg[0] = 0;
        assert_int_equal(sq_optim_init_n(&o, &bad[i].cfg, 4, &e), -1);
        assert_non_null(strstr(e.msg, bad[i].msg));
        assert_null(o.m);
    }
    c = adam_cfg(0);
    c.beta2 = 1;
    assert_int_equal(sq_optim_init_n(&o, &c, 4, &e), -1);
    assert_non_null(strstr(e.msg, "betas"));
    c = adam_cfg(0);
    c.eps = 0;
    assert_int_equal(sq_optim_init_n(&o, &c, 4, &e), -1);
    assert_non_null(strstr(e.msg, "eps"));
    c = adam_cfg(0);
    c.kind = 7;
    assert_int_equal(sq_optim_init_n(&o, &c, 4, &e), -1);
    assert_non_null(strstr(e.msg, "unknown optimizer kind"));
}

/* An allocator that fails from the n-th call on. */
static int allocs_left;
static void *failing_alloc(void *ud, size_t n) { return allocs_left-- > 0 ? malloc(n) : NULL; }
static void failing_release(void *ud, void *p) { free(p); }
static const sq_allocator failing = {failing_alloc, failing_release, NULL};

static void test_out_of_memory(void **st)
{
    sq_optim o;
    sq_err e;
    sq_optim_cfg c = adam_cfg(0);
    for (int ok = 0; ok < 2; ok++) { /* fail m, then v */
        allocs_left = ok;
        sq_set_allocator(&failing);
        int rc = sq_optim_init_n(&o, &c, 16, &e);
        sq_set_allocator(NULL);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(e.msg, "out of memory"));
        assert_null(o.m);
        assert_null(o.v);
    }
    assert_int_equal(sq_optim_init_n(&o, &c, 4, &e), 0);
    o.m[3] = 5;
    sq_real *m = o.m;
    size_t off = 0;
    for (int ok = 0; ok < 2; ok++) { /* fail the new m, then the new v */
        allocs_left = ok;
        sq_set_allocator(&failing);
        int rc = sq_optim_extend(&o, 8, &off, &e);
        sq_set_allocator(NULL);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(e.msg, "out of memory"));
        assert_int_equal(o.n, 4);
        assert_ptr_equal(o.m, m);
        tu_close(o.m[3], 5, 0, 0, "state kept after a failed extend");
    }
    sq_optim_free(&o);
}

/* ---- optimizer strings -------------------------------------------------- */
static void test_optim_parse(void **st)
{
    sq_optim_cfg c;
    sq_err e;
    char buf[SQ_OPTIM_STR];
    assert_int_equal(sq_optim_parse("sgd", &c, &e), 0);
    assert_int_equal(c.kind, SQ_SGD);
    tu_close(c.momentum, 0.9, 0, 0, "default momentum");
    assert_int_equal(c.nesterov, 0);
    tu_close(c.weight_decay, 0, 0, 0, "no decay from the string");
    assert_string_equal(sq_optim_str(&c, buf), "sgd:0.9");

    assert_int_equal(sq_optim_parse("nesterov", &c, &e), 0);
    assert_int_equal(c.nesterov, 1);
    assert_string_equal(sq_optim_str(&c, buf), "nesterov:0.9");
    assert_int_equal(sq_optim_parse("nesterov:0.95", &c, &e), 0);
    tu_close(c.momentum, 0.95, 0, 0, "nesterov momentum");

    assert_int_equal(sq_optim_parse("sgd:0", &c, &e), 0);
    tu_close(c.momentum, 0, 0, 0, "plain sgd");
    assert_string_equal(sq_optim_str(&c, buf), "sgd:0");

    assert_int_equal(sq_optim_parse("adam", &c, &e), 0);
    assert_int_equal(c.kind, SQ_ADAM);
    tu_close(c.beta1, 0.9, 0, 0, "beta1");
    tu_close(c.beta2, 0.999, 0, 0, "beta2");
    tu_close(c.eps, 1e-8, 0, 0, "eps");
    assert_string_equal(sq_optim_str(&c, buf), "adam:0.9,0.999,1e-08");
    assert_int_equal(sq_optim_parse("adam:0.5,0.99", &c, &e), 0);
    tu_close(c.beta1, 0.5, 0, 0, "beta1");
    tu_close(c.eps, 1e-8, 0, 0, "eps default");
    assert_int_equal(sq_optim_parse("adam:0.5,0.99,1e-6", &c, &e), 0);
    assert_string_equal(sq_optim_str(&c, buf), "adam:0.5,0.99,1e-06");
    sq_optim_cfg back;
    assert_int_equal(sq_optim_parse(buf, &back, &e), 0);
    assert_int_equal(back.kind, c.kind);
    tu_close(back.beta1, c.beta1, 0, 0, "beta1 round trip");
    tu_close(back.beta2, c.beta2, 0, 0, "beta2 round trip");
    tu_close(back.eps, c.eps, 0, 0, "eps round trip");

    const char *bad[] = {"", "rmsprop", "SGD", "sgd:", "sgd:1.5", "sgd:0.9x", "sgd:0.9,0.1",
                         "nesterov:0", "adam:0.9", "adam:0.9,1", "adam:0.9,0.999,0",
                         "adam:0.9,0.999,1e-8,3", "adam:,0.9", "sgd: 0.9", "sgdx"};
    for (size_t i = 0; i < SQ_COUNT(bad); i++) {
        e.msg[0] = 0;
        if (sq_optim_parse(bad[i], &c, &e) != -1)
            fail_msg("'%s' should not parse", bad[i]);
        assert_non_null(strstr(e.msg, "bad optimizer"));
    }
    assert_int_equal(sq_optim_parse("rmsprop", &c, &e), -1);
    assert_non_null(strstr(e.msg, "adam[:BETA1,BETA2[,EPS]]")); /* lists the forms */
    assert_int_equal(sq_optim_parse(NULL, &c, &e), -1);
}

/* ---- schedules ---------------------------------------------------------- */
static sq_sched sched(const char *str)
{
    sq_sched s;
    sq_err e;
    if (sq_sched_parse(str, &s, &e))
        fail_msg("'%s': %s", str, e.msg);
    return s;
}

static void check_lr(const char *str, int epochs, int epoch, double want)
{
    sq_sched s = sched(str);
    char what[128];
    snprintf(what, sizeof what, "%s at epoch %d of %d", str, epoch, epochs);
    tu_close(sq_sched_lr(&s, 0.1, epoch, epochs), want, 1e-15, 1e-12, what);
}

static void test_sched_const_step_exp(void **st)
{
    check_lr("const", 100, 0, 0.1);
    check_lr("const", 100, 99, 0.1);
    /* StepLR(step_size=30, gamma=0.1): 0.1 for 0..29, 0.01 for 30..59, ... */
    check_lr("step:30:0.1", 100, 0, 0.1);
    check_lr("step:30:0.1", 100, 29, 0.1);
    check_lr("step:30:0.1", 100, 30, 0.01);
    check_lr("step:30:0.1", 100, 59, 0.01);
    check_lr("step:30:0.1", 100, 60, 0.001);
    check_lr("step:2:0.5", 10, 5, 0.1 * 0.25); /* floor(5/2) = 2 halvings */
    check_lr("step:30", 100, 30, 0.01);        /* gamma defaults to 0.1 */
    /* ExponentialLR(0.95): 0.1 * 0.95^e */
    check_lr("exp:0.95", 100, 0, 0.1);
    check_lr("exp:0.95", 100, 1, 0.095);
    check_lr("exp:0.95", 100, 2, 0.09025);
}

/* MultiStepLR([50, 75], 0.1): the decay applies from the milestone epoch. */
static void test_sched_multistep(void **st)
{
    const char *s = "multistep:50,75:0.1";
    check_lr(s, 100, 0, 0.1);
    check_lr(s, 100, 49, 0.1);
    check_lr(s, 100, 50, 0.01);
    check_lr(s, 100, 74, 0.01);
    check_lr(s, 100, 75, 0.001);
    check_lr(s, 100, 99, 0.001);
    check_lr("multistep:1,2,3:0.5", 10, 2, 0.025); /* 0.1 * 0.5^2 */
    check_lr("multistep:5", 10, 5, 0.01);
}

/* CosineAnnealingLR(T_max=100): eta_min + (0.1 - eta_min)(1 + cos(pi e/100))/2. */
static void test_sched_cosine(void **st)
{
    check_lr("cosine", 100, 0, 0.1);
    check_lr("cosine", 100, 25, 0.05 * (1 + sqrt(0.5))); /* cos(pi/4) = 0.70710678 */
    check_lr("cosine", 100, 50, 0.05);                   /* cos(pi/2) = 0 */
    check_lr("cosine", 100, 99, 0.05 * (1 + cos(3.14159265358979323846 * 0.99)));
    check_lr("cosine", 100, 100, 0.0);
    /* eta_min 1e-5: at the middle 1e-5 + (0.1 - 1e-5)/2 = 0.050005 */
    check_lr("cosine:1e-5", 100, 0, 0.1);
    check_lr("cosine:1e-5", 100, 50, 0.050005);
    check_lr("cosine:1e-5", 100, 100, 1e-5);
    sq_sched s = sched("cosine");
    tu_close(sq_sched_lr(&s, 0.1, 0, 0), 0.1, 0, 0, "no epochs: base");
    tu_close(sq_sched_lr(&s, 0.1, -3, 100), 0.1, 0, 0, "negative epoch counts as 0");
}

/* Warmup W: base*(e+1)/(W+1) for e < W, then the schedule on e - W over
 * epochs - W (SequentialLR with LinearLR(1/(W+1), total_iters=W)). */
static void test_sched_warmup(void **st)
{
    const char *c = "cosine+warmup:4"; /* 104 epochs: 4 warmup + 100 cosine */
    check_lr(c, 104, 0, 0.02);           /* 0.1 * 1/5 */
    check_lr(c, 104, 1, 0.04);
    check_lr(c, 104, 3, 0.08);           /* 0.1 * 4/5 */
    check_lr(c, 104, 4, 0.1);            /* cosine epoch 0 */
    check_lr(c, 104, 54, 0.05);          /* cosine epoch 50 of 100 */
    check_lr(c, 104, 104, 0.0);
    check_lr("step:10:0.5+warmup:2", 50, 0, 0.1 / 3);
    check_lr("step:10:0.5+warmup:2", 50, 1, 0.2 / 3);
    check_lr("step:10:0.5+warmup:2", 50, 2, 0.1);
    check_lr("step:10:0.5+warmup:2", 50, 11, 0.1);
    check_lr("step:10:0.5+warmup:2", 50, 12, 0.05);
    check_lr("multistep:50,75+warmup:5", 100, 54, 0.1); /* milestones after warmup */
    check_lr("multistep:50,75+warmup:5", 100, 55, 0.01);
    check_lr("cosine:1e+1+warmup:1", 10, 0, 0.05); /* '+' inside a number is fine */
    check_lr("const+warmup:0", 10, 0, 0.1);
}

static void assert_same_sched(const sq_sched *a, const sq_sched *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->every, b->every);
    assert_int_equal(a->n_milestones, b->n_milestones);
    for (int i = 0; i < a->n_milestones; i++)
        assert_int_equal(a->milestones[i], b->milestones[i]);
    tu_close(a->gamma, b->gamma, 0, 0, "gamma");
    tu_close(a->eta_min, b->eta_min, 0, 0, "eta_min");
    assert_int_equal(a->warmup, b->warmup);
}

static void test_sched_canonical(void **st)
{
    const struct {
        const char *in, *out;
    } cases[] = {
        {"const", "const"},
        {"step:30", "step:30:0.1"},
        {"step:30:0.5", "step:30:0.5"},
        {"multistep:50,75", "multistep:50,75:0.1"},
        {"multistep:1,2,3:0.2+warmup:3", "multistep:1,2,3:0.2+warmup:3"},
        {"cosine", "cosine:0"},
        {"cosine:1e-5", "cosine:1e-05"},
        {"exp:0.95", "exp:0.95"},
        {"cosine+warmup:5", "cosine:0+warmup:5"},
        {"const+warmup:0", "const"},
    };
    char buf[SQ_SCHED_STR];
    for (size_t i = 0; i < SQ_COUNT(cases); i++) {
        sq_sched s = sched(cases[i].in);
        assert_string_equal(sq_sched_str(&s, buf), cases[i].out);
        sq_sched back = sched(buf);
        assert_same_sched(&back, &s);
    }
    /* the longest schedule fits */
    sq_sched s = sched("multistep:1");
    s.n_milestones = SQ_SCHED_MAX_MILESTONES;
    for (int i = 0; i < s.n_milestones; i++)
        s.milestones[i] = 2000000000 + i;
    s.gamma = 0.123456789012345678;
    s.warmup = 2000000000;
    sq_sched_str(&s, buf);
    sq_sched back = sched(buf);
    assert_same_sched(&back, &s);
}

static void test_sched_parse_errors(void **st)
{
    const char *bad[] = {
        "", "bogus", "const:1", "step", "step:", "step:0", "step:-3", "step:abc",
        "step:10:", "step:10:-1", "step:10:0", "step:10:0.1x", "step:10:0.1:3", "step:1.5",
        "multistep", "multistep:", "multistep:50,40", "multistep:50,50", "multistep:50,,75",
        "multistep:0,5", "multistep:50,75:", "cosine:", "cosine:-1", "cosine:x", "cosine:nan",
        "exp", "exp:", "exp:0", "exp:inf", "cosine+warmup:", "cosine+warmup:-1",
        "cosine+warmup:2x", "cosine+warmup:2+warmup:3", "+warmup:2", "Cosine", " cosine",
        "step: 10", "multistep:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
                    "25,26,27,28,29,30,31,32,33",
    };
    for (size_t i = 0; i < SQ_COUNT(bad); i++) {
        sq_sched s;
        sq_err e = {{0}};
        if (sq_sched_parse(bad[i], &s, &e) != -1)
            fail_msg("'%s' should not parse", bad[i]);
        if (!strstr(e.msg, "multistep:E1,E2,...[:GAMMA]") || !strstr(e.msg, "+warmup:EPOCHS"))
            fail_msg("'%s': message does not list the forms: %s", bad[i], e.msg);
    }
    sq_sched s;
    sq_err e;
    assert_int_equal(sq_sched_parse(NULL, &s, &e), -1);
    char huge[SQ_SCHED_STR + 8];
    memset(huge, '1', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    memcpy(huge, "step:", 5);
    assert_int_equal(sq_sched_parse(huge, &s, &e), -1);
    assert_non_null(strstr(e.msg, "too long"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_weight_decay_skips_no_decay),
        cmocka_unit_test(test_weight_decay_with_momentum),
        cmocka_unit_test(test_adam_three_steps),
        cmocka_unit_test(test_adam_matches_reference),
        cmocka_unit_test(test_adam_net_weight_decay),
        cmocka_unit_test(test_extend_for_extra_params),
        cmocka_unit_test(test_slice_out_of_range),
        cmocka_unit_test(test_adam_slice_before_tick),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_init_rejects_bad_config),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_optim_parse),
        cmocka_unit_test(test_sched_const_step_exp),
        cmocka_unit_test(test_sched_multistep),
        cmocka_unit_test(test_sched_cosine),
        cmocka_unit_test(test_sched_warmup),
        cmocka_unit_test(test_sched_canonical),
        cmocka_unit_test(test_sched_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
