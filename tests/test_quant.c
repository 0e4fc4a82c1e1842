/* test_quant.c - the quantizer host and SYMOG: regulariser gradients
 * against finite differences of the penalty (both forms), the grid after
 * finalize, option parsing, the plugin ABI check, and a sweep of every
 * registered quantizer through a real network. */
#include <math.h>

#include "testutil.h"

#include "models/models.h"
#include "quant/quant.h"

double sq_symog_penalty(const sq_qtensor *t);
extern const sq_quantizer sq_symog_quantizer;

typedef struct qt {
    sq_qtensor t;
    double opt[SQ_QMAX_OPTS];
    int dims[2];
    float *w, *wq, *g;
    unsigned char state[256];
} qt;

static double unif(void *r) { return sq_rng_uniform(r); }

/* A 2-D tensor for SYMOG with its options parsed from kv. */
static void qt_make(qt *q, size_t n, const char *const *kv, int nkv, int bits, sq_rng *rng)
{
    sq_err e = {{0}};
    memset(q, 0, sizeof *q);
    if (sq_qopts_parse(&sq_symog_quantizer, kv, nkv, q->opt, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    q->w = calloc(n, sizeof(float)), q->wq = calloc(n, sizeof(float)), q->g = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        q->w[i] = (float)(0.1 * sq_rng_normal(rng));
    q->dims[0] = 4, q->dims[1] = (int)n / 4;
    q->t = (sq_qtensor){.name = "t.weight", .ndim = 2, .dims = q->dims, .n = n, .per_channel = n / 4,
                        .w = q->w, .wq = q->wq, .g = q->g, .state = q->state, .opt = q->opt,
                        .bits = bits, .count = 1, .steps = 100, .step = 50, .uniform = unif, .rng = rng};
    char msg[256];
    assert_int_equal(sq_symog_quantizer.init(&q->t, msg, sizeof msg), 0);
}

static void qt_free(qt *q) { free(q->w), free(q->wq), free(q->g); }

/* backward adds lambda * dR/dw; compare with central differences of the
 * penalty (lambda constant 1 so g == dR/dw). */
static void check_penalty_gradient(const char *reg, const char *norm)
{
    char r[64], nm[64];
    snprintf(r, sizeof r, "reg=%s", reg);
    snprintf(nm, sizeof nm, "norm=%s", norm);
    const char *kv[] = {r, nm, "lambda=const", "lambdaT=1", "clip=off", "update=grad"};
    sq_rng rng;
    sq_rng_seed(&rng, 3);
    qt q;
    qt_make(&q, 64, kv, 6, 2, &rng);
    sq_qstats st;
    sq_symog_quantizer.stats(&q.t, &st);
    double D = st.step;
    /* keep weights away from the nearest-mode form's kinks (mode midpoints) */
    for (size_t i = 0; i < q.t.n; i++) {
        double u = q.w[i] / D, frac = u - floor(u);
        if (fabs(frac - 0.5) < 0.05)
            q.w[i] = (float)((floor(u) + 0.3) * D);
    }
    sq_symog_quantizer.backward(&q.t);
    double gnorm = 0;
    int checked = 0;
    for (size_t i = 0; i < q.t.n; i++) {
        float w0 = q.w[i];
        double h = 1e-3 * D;
        q.w[i] = (float)(w0 + h);
        double hp = q.w[i] - w0, fp = sq_symog_penalty(&q.t);
        q.w[i] = (float)(w0 - h);
        double hm = w0 - q.w[i], fm = sq_symog_penalty(&q.t);
        q.w[i] = w0;
        double num = (fp - fm) / (hp + hm);
        tu_close(q.g[i], num, 1e-4 * fabs(num) + 1e-6 * (1 + fabs(num)), 2e-3, "dR/dw");
        gnorm += q.g[i] * (double)q.g[i];
        checked++;
    }
    assert_int_equal(checked, 64);
    assert_true(sqrt(gnorm) > 1e-3); /* an all-zero gradient cannot pass */
    qt_free(&q);
}

static void test_grad_nearest_mean(void **s) { check_penalty_gradient("nearest", "mean"); }
static void test_grad_nearest_sum(void **s) { check_penalty_gradient("nearest", "sum"); }
static void test_grad_mixture_mean(void **s) { check_penalty_gradient("mixture", "mean"); }
static void test_grad_mixture_sum(void **s) { check_penalty_gradient("mixture", "sum"); }

/* The nearest-mode gradient in closed form on a hand-made tensor:
 * D = 2^-2 (shift 0), s = D, norm mean over n = 4:
 * w = 0.3 -> Q = 0.25, dR/dw = (0.3 - 0.25) / (4 * 0.0625) = 0.2. */
static void test_grad_known_value(void **s)
{
    const char *kv[] = {"shift=0", "lambda=const", "lambdaT=2", "update=grad"};
    sq_rng rng;
    sq_rng_seed(&rng, 1);
    qt q;
    qt_make(&q, 4, kv, 4, 2, &rng);
    float w[4] = {0.3f, -0.2f, 0.05f, -0.3f};
    memcpy(q.w, w, sizeof w);
    unsigned char *st = q.state;
    memset(st, 0, sizeof q.state);
    char msg[128];
    assert_int_equal(sq_symog_quantizer.init(&q.t, msg, sizeof msg), 0);
    sq_qstats stats;
    sq_symog_quantizer.stats(&q.t, &stats);
    assert_true(stats.step == 0.25); /* MSE step for these weights */
    assert_int_equal(stats.exponent, -2);
    sq_symog_quantizer.backward(&q.t);
    tu_close(q.g[0], 2 * 0.2, 1e-6, 0, "g[0]");
    tu_close(q.g[1], 2 * (-0.2 + 0.25) / (4 * 0.0625), 1e-6, 0, "g[1]");
    tu_close(q.g[2], 2 * 0.05 / (4 * 0.0625), 1e-6, 0, "g[2]");
    qt_free(&q);
}

/* lambda(t): exponential ramp from lambda0 to lambdaT over `ramp` of the
 * steps, then held. */
static void test_lambda_schedule(void **s)
{
    const char *kv[] = {"lambda0=1e-4", "lambdaT=1e2", "ramp=0.5"};
    sq_rng rng;
    sq_rng_seed(&rng, 1);
    qt q;
    qt_make(&q, 8, kv, 3, 2, &rng);
    sq_qstats st;
    q.t.steps = 1000;
    long long at[] = {0, 250, 500, 900};
    double want[] = {1e-4, 1e-1, 1e2, 1e2};
    for (int i = 0; i < 4; i++) {
        q.t.step = at[i];
        sq_symog_quantizer.stats(&q.t, &st);
        tu_close(st.lambda, want[i], 0, 1e-9, "lambda");
    }
    qt_free(&q);
}

/* Clipping after a step: outer modes, half a step beyond, or off. */
static void test_clipping(void **s)
{
    const char *modes[] = {"clip=outer", "clip=half", "clip=off"};
    double want[] = {1.0, 1.5, 7.0}; /* in units of D */
    for (int m = 0; m < 3; m++) {
        const char *kv[] = {modes[m]};
        sq_rng rng;
        sq_rng_seed(&rng, 1);
        qt q;
        qt_make(&q, 8, kv, 1, 2, &rng);
        sq_qstats st;
        sq_symog_quantizer.stats(&q.t, &st);
        q.w[0] = (float)(7 * st.step), q.w[1] = (float)(-7 * st.step);
        sq_symog_quantizer.after_step(&q.t);
        tu_close(q.w[0], want[m] * st.step, 1e-7, 0, "clipped +");
        tu_close(q.w[1], -want[m] * st.step, 1e-7, 0, "clipped -");
        qt_free(&q);
    }
}

/* update=prox: backward adds nothing; after_step moves each weight to the
 * minimiser of lr * lambda * R(w) + (w - w0)^2 / 2, checked through the
 * optimality condition with the gradient form's dR/dw (FD-checked above):
 * lr * lambda * dR/dw(w1) + (w1 - w0) = 0; and a huge lambda lands each
 * weight on its mode without crossing it. */
static void test_prox_step(void **s)
{
    const char *kp[] = {"update=prox", "lambda=const", "lambdaT=3", "clip=off"};
    const char *kg[] = {"update=grad", "lambda=const", "lambdaT=1", "clip=off"};
    sq_rng rng, rng2;
    sq_rng_seed(&rng, 5), sq_rng_seed(&rng2, 5);
    qt p, g;
    qt_make(&p, 64, kp, 4, 2, &rng), qt_make(&g, 64, kg, 4, 2, &rng2);
    float w0[64];
    memcpy(w0, p.w, sizeof w0);
    sq_symog_quantizer.backward(&p.t);
    for (int i = 0; i < 64; i++)
        assert_true(p.g[i] == 0);
    p.t.lr = 0.05;
    sq_symog_quantizer.after_step(&p.t);
    memcpy(g.w, p.w, sizeof w0);
    sq_symog_quantizer.backward(&g.t); /* g.g = dR/dw at the new weights */
    int moved = 0;
    for (int i = 0; i < 64; i++) {
        double r = 0.05 * 3 * g.g[i] + (p.w[i] - w0[i]);
        tu_close(r, 0, 1e-6, 0, "prox optimality");
        moved += p.w[i] != w0[i];
    }
    assert_true(moved > 60);
    sq_qstats st;
    sq_symog_quantizer.stats(&p.t, &st);
    int lt = 0;
    while (strcmp(sq_symog_quantizer.options[lt].key, "lambdaT") != 0)
        lt++;
    p.opt[lt] = 1e12;
    memcpy(p.w, w0, sizeof w0);
    sq_symog_quantizer.after_step(&p.t);
    for (int i = 0; i < 64; i++) {
        double q = st.step * nearbyint(w0[i] / st.step);
        q = fmax(-st.step, fmin(st.step, q));
        tu_close(p.w[i], q, 1e-6, 0, "prox with huge lambda lands on the mode");
    }
    qt_free(&p), qt_free(&g);
    /* both forms: w1 - w0 = -lr lambda dR/dw(w0) / (1 + a), a = lr lambda / (n s^2)
       (for the mixture the step is semi-implicit: m frozen at w0) */
    const char *regs[] = {"reg=nearest", "reg=mixture"};
    for (int f = 0; f < 2; f++) {
        const char *kp2[] = {"update=prox", "lambda=const", "lambdaT=40", "clip=off", "shrink=0", regs[f]};
        const char *kg2[] = {"update=grad", "lambda=const", "lambdaT=40", "clip=off", "shrink=0", regs[f]};
        sq_rng_seed(&rng, 9), sq_rng_seed(&rng2, 9);
        qt_make(&p, 64, kp2, 6, 2, &rng), qt_make(&g, 64, kg2, 6, 2, &rng2);
        sq_symog_quantizer.stats(&p.t, &st);
        double lr = 0.02, a = lr * 40 / (64 * st.step * st.step);
        sq_symog_quantizer.backward(&g.t); /* g.g = 40 dR/dw(w0) */
        memcpy(w0, p.w, sizeof w0);
        p.t.lr = lr;
        sq_symog_quantizer.after_step(&p.t);
        for (int i = 0; i < 64; i++)
            tu_close(p.w[i] - w0[i], -lr * g.g[i] / (1 + a), 1e-6, 1e-5, "prox step");
        qt_free(&p), qt_free(&g);
    }
}

/* After finalize, a real net's quantized weights are integer multiples of
 * 2^exponent and a layer holds at most 2^N - 1 values (3 at 2 bits, 7 at 3). */
static void finalize_case(int bits, const char *const *kv, int nkv, int maxdistinct)
{
    sq_net net;
    sq_err e = {{0}};
    sq_rng rng;
    sq_rng_seed(&rng, 5);
    assert_int_equal(sq_model_build("lenet5", &net, (sq_shape){1, 28, 28}, 10, &e), 0);
    sq_net_init(&net, &rng);
    assert_int_equal(sq_quant_setup(NULL, 0, &e), 0);
    double opt[SQ_QMAX_OPTS];
    assert_int_equal(sq_qopts_parse(&sq_symog_quantizer, kv, nkv, opt, &e), 0);
    sq_qrun q;
    assert_int_equal(sq_qrun_init(&q, &sq_symog_quantizer, bits, opt, 1, &net, NULL, &rng, &e), 0);
    assert_int_equal(q.n, 4);
    sq_qrun_finalize(&q);
    for (int k = 0; k < q.n; k++) {
        sq_qtensor *t = &q.s[k].t;
        size_t d = sq_count_distinct(t->w, t->n);
        assert_true(d >= 2 && (int)d <= maxdistinct);
        /* export: codes * scale reproduce the weights, scale = 2^exponent */
        int32_t *codes = malloc(t->n * sizeof *codes);
        float scale[64];
        int pc, ex;
        char msg[128];
        assert_int_equal(sq_symog_quantizer.export_codes(t, codes, scale, &pc, &ex, msg, sizeof msg), 0);
        assert_true(ex != SQ_QEXP_NONE && scale[0] == ldexp(1.0, ex));
        for (size_t i = 0; i < t->n; i++) {
            double c = t->w[i] / ldexp(1.0, ex);
            if (c != floor(c) || codes[i] * scale[0] != t->w[i]) {
                print_error("%s[%zu] = %g is not code %d times 2^%d\n", t->name, i, t->w[i],
                            codes[i], ex);
                fail();
            }
        }
        free(codes);
    }
    sq_qrun_free(&q);
    sq_net_free(&net);
}

static void test_finalize_grid(void **s)
{
    const char *none[] = {"shift=1"};
    finalize_case(2, none, 1, 3);
    finalize_case(3, none, 1, 7);
    const char *nz[] = {"modes=nozero"};
    finalize_case(2, nz, 1, 4);
    const char *rng[] = {"step=range", "shift=0"};
    finalize_case(2, rng, 2, 3);
}

/* Options: defaults, overrides, and each class of mistake. */
static void test_options(void **s)
{
    double v[SQ_QMAX_OPTS];
    sq_err e = {{0}};
    const sq_quantizer *q = &sq_symog_quantizer;
    const char *ok[] = {"lambdaT=300", "reg=mixture", "shift=-1"};
    assert_int_equal(sq_qopts_parse(q, ok, 3, v, &e), 0);
    const char *bad_key[] = {"lambda_T=3"};
    assert_int_equal(sq_qopts_parse(q, bad_key, 1, v, &e), -1);
    assert_non_null(strstr(e.msg, "no option 'lambda_T'"));
    assert_non_null(strstr(e.msg, "lambdaT"));
    const char *bad_enum[] = {"reg=gaussian"};
    assert_int_equal(sq_qopts_parse(q, bad_enum, 1, v, &e), -1);
    assert_non_null(strstr(e.msg, "nearest|mixture"));
    const char *bad_range[] = {"shift=9"};
    assert_int_equal(sq_qopts_parse(q, bad_range, 1, v, &e), -1);
    assert_non_null(strstr(e.msg, "[-4, 4]"));
    const char *bad_int[] = {"shift=1.5"};
    assert_int_equal(sq_qopts_parse(q, bad_int, 1, v, &e), -1);
    assert_non_null(strstr(e.msg, "integer"));
    const char *no_eq[] = {"shift"};
    assert_int_equal(sq_qopts_parse(q, no_eq, 1, v, &e), -1);
    char buf[64];
    sq_qopt_format(q, 6, 1, buf, sizeof buf); /* reg = index 1 */
    assert_string_equal(buf, "mixture");
}

/* A plugin built against another ABI version is refused, naming both. */
static void test_plugin_abi_refused(void **s)
{
    char *dir = tu_tmpdir(), cmd[1400], so[512];
    snprintf(so, sizeof so, "%s/old.so", dir);
    char src[512];
    snprintf(src, sizeof src, "%s/old.c", dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fprintf(f, "#include \"symog/quant.h\"\n"
               "static const sq_quantizer q = {.abi_version = 999, .struct_size = sizeof(sq_quantizer),"
               " .name = \"old\", .summary = \"x\"};\n"
               "const sq_quantizer *sq_quantizer_entry(int i) { return i ? 0 : &q; }\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -shared -fPIC -Iengine/include -o %s %s", so, src);
    assert_int_equal(system(cmd), 0);
    sq_err e = {{0}};
    assert_int_equal(sq_quant_load_plugin(so, &e), -1);
    assert_non_null(strstr(e.msg, "version 999"));
    assert_non_null(strstr(e.msg, "version 1"));
    assert_null(sq_quant_find("old"));
    /* a file that is no plugin at all */
    assert_int_equal(sq_quant_load_plugin(src, &e), -1);
    tu_rmdir(dir);
}

/* Every registered quantizer through a real net with batch norm: init,
 * forward, backward, step, after_step, hard evaluation and finalize; all
 * finite and deterministic for a seed. */
static void run_quantizer(const sq_quantizer *q, int bits, float *out, size_t *nout, int *ok)
{
    sq_net net;
    sq_err e = {{0}};
    sq_rng rng;
    sq_rng_seed(&rng, 11);
    assert_int_equal(sq_model_build("lenet5-bn", &net, (sq_shape){1, 28, 28}, 10, &e), 0);
    sq_net_init(&net, &rng);
    assert_int_equal(sq_net_reserve(&net, 8, 1, &e), 0);
    double opt[SQ_QMAX_OPTS];
    assert_int_equal(sq_qopts_parse(q, NULL, 0, opt, &e), 0);
    sq_optim o;
    sq_optim_cfg oc;
    sq_optim_defaults(&oc, SQ_SGD);
    assert_int_equal(sq_optim_init(&o, &oc, &net, &e), 0);
    sq_qrun r;
    *ok = sq_qrun_init(&r, q, bits, opt, 1, &net, &o, &rng, &e) == 0;
    if (!*ok) { /* unsupported bit width: the message says so */
        assert_true(strlen(e.msg) > 10);
        sq_qrun_free(&r), sq_optim_free(&o), sq_net_free(&net);
        return;
    }
    sq_real x[8 * 784], dl[80];
    int y[8];
    for (int i = 0; i < 8 * 784; i++)
        x[i] = (sq_real)sq_rng_normal(&rng);
    for (int i = 0; i < 8; i++)
        y[i] = i;
    for (int step = 0; step < 3; step++) {
        sq_qrun_progress(&r, 0, 1, step, 3);
        sq_qrun_forward(&r);
        const sq_real *z = sq_net_forward(&net, x, 8, 1, &rng);
        double loss = sq_softmax_xent(z, y, 8, 10, dl, NULL);
        assert_true(isfinite(loss));
        sq_net_backward(&net, dl);
        sq_qrun_backward(&r);
        sq_optim_step(&o, &net, 0.01);
        sq_qrun_step(&r, &o, 0.01);
        sq_qrun_after_step(&r);
    }
    sq_qrun_hard(&r);
    const sq_real *z = sq_net_forward(&net, x, 8, 0, NULL);
    for (int i = 0; i < 80; i++)
        assert_true(isfinite(z[i]));
    sq_qrun_finalize(&r);
    *nout = 0;
    for (size_t i = 0; i < net.n_weights; i++) {
        assert_true(isfinite(net.params[i]));
        out[(*nout)++] = net.params[i];
    }
    sq_qrun_free(&r);
    sq_optim_free(&o);
    sq_net_free(&net);
}

static void test_sweep_registered(void **s)
{
    sq_err e = {{0}};
    sq_quant_reset();
    setenv("SYMOG_PLUGIN_PATH", SQ_BUILD_DIR "/plugins", 1);
    assert_int_equal(sq_quant_setup(NULL, 0, &e), 0);
    const char *expect[] = {"float", "symog", "binaryconnect", "bwn", "twn", "ttq", "dorefa",
                            "lsq", "fixedpoint", "posttrain"};
    for (size_t i = 0; i < SQ_COUNT(expect); i++)
        if (!sq_quant_find(expect[i])) {
            print_error("quantizer %s is not registered\n", expect[i]);
            fail();
        }
    size_t cap = 600000;
    float *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
    for (int i = 0; i < sq_quant_count(); i++) {
        const sq_quantizer *q = sq_quant_at(i, NULL);
        int ran = 0;
        for (int bits = 1; bits <= 3; bits++) {
            size_t na = 0, nb = 0;
            int ok1, ok2;
            run_quantizer(q, bits, a, &na, &ok1);
            run_quantizer(q, bits, b, &nb, &ok2);
            assert_int_equal(ok1, ok2);
            if (!ok1)
                continue;
            ran++;
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na * sizeof(float)); /* deterministic */
        }
        if (!ran) {
            print_error("quantizer %s accepted none of 1..3 bits\n", q->name);
            fail();
        }
    }
    free(a), free(b);
    sq_quant_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_nearest_mean), cmocka_unit_test(test_grad_nearest_sum),
        cmocka_unit_test(test_grad_mixture_mean), cmocka_unit_test(test_grad_mixture_sum),
        cmocka_unit_test(test_grad_known_value),  cmocka_unit_test(test_lambda_schedule),
        cmocka_unit_test(test_clipping),          cmocka_unit_test(test_finalize_grid),
        cmocka_unit_test(test_options),           cmocka_unit_test(test_plugin_abi_refused),
        cmocka_unit_test(test_sweep_registered),  cmocka_unit_test(test_prox_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
