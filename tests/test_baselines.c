/* test_baselines.c - the baseline quantizer plugins (baselines/NAME.c) loaded
 * as the host loads them (dlopen + sq_quantizer_entry), driven by hand
 * through the hooks, and checked against values computed by hand; then a
 * sweep over every plugin, quantizer, bit width and option set; then the
 * template plugin built out of tree with the README's own cc line. */
#include "testutil.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "quant/quant.h" /* the host's option parser, registry, sq_count_distinct */

#ifndef SQ_BUILD_DIR
#define SQ_BUILD_DIR "build"
#endif

#define MAXN 256

/* ---- loading ------------------------------------------------------------ */
typedef struct plug {
    char path[600];
    void *h;
} plug;
static plug plugs[32];
static int n_plugs;

static int file_exists(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0;
}

/* Directory of the test binary, e.g. build/tests. */
static int exe_dir(char *buf, size_t n)
{
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    if (k <= 0)
        return 0;
    buf[k] = 0;
    char *s = strrchr(buf, '/');
    if (!s)
        return 0;
    *s = 0;
    return 1;
}

static void plugin_path(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, SQ_BUILD_DIR "/plugins/%s.so", name);
    if (file_exists(buf))
        return;
    char d[400]; /* run from elsewhere: build/tests/../plugins */
    if (exe_dir(d, sizeof d))
        snprintf(buf, n, "%s/../plugins/%s.so", d, name);
}

static sq_quantizer_entry_fn open_entry(const char *path)
{
    void *h = NULL;
    for (int i = 0; i < n_plugs; i++)
        if (!strcmp(plugs[i].path, path))
            h = plugs[i].h;
    if (!h) {
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            print_error("dlopen %s: %s\n", path, dlerror());
            fail();
        }
        assert_true(n_plugs < 32);
        snprintf(plugs[n_plugs].path, sizeof plugs[n_plugs].path, "%s", path);
        plugs[n_plugs++].h = h;
    }
    sq_quantizer_entry_fn e = (sq_quantizer_entry_fn)dlsym(h, SQ_QUANTIZER_ENTRY);
    if (!e) {
        print_error("%s exports no %s\n", path, SQ_QUANTIZER_ENTRY);
        fail();
    }
    return e;
}

static const sq_quantizer *find_q(sq_quantizer_entry_fn e, const char *name)
{
    for (int i = 0; e(i); i++)
        if (!strcmp(e(i)->name, name))
            return e(i);
    print_error("no quantizer %s\n", name);
    fail();
    return NULL;
}

/* The quantizer NAME from build/plugins/NAME.so. */
static const sq_quantizer *plugin(const char *name)
{
    char path[600];
    plugin_path(name, path, sizeof path);
    return find_q(open_entry(path), name);
}

static int teardown_all(void **st)
{
    (void)st;
    for (int i = 0; i < n_plugs; i++)
        dlclose(plugs[i].h);
    n_plugs = 0;
    return 0;
}

/* ---- options ------------------------------------------------------------ */
/* opt[] as the host parses it: the defaults, then the space-separated
 * "key=value" items of kv. */
static void set_opts(const sq_quantizer *q, double *opt, const char *kv)
{
    char buf[256], *items[16], *save = NULL;
    int n = 0;
    snprintf(buf, sizeof buf, "%s", kv ? kv : "");
    for (char *tok = strtok_r(buf, " ", &save); tok && n < 16; tok = strtok_r(NULL, " ", &save))
        items[n++] = tok;
    sq_err e;
    if (sq_qopts_parse(q, (const char *const *)items, n, opt, &e)) {
        print_error("%s: %s\n", q->name, e.msg);
        fail();
    }
}

/* ---- a tensor driven by hand ---------------------------------------------- */
static double host_uniform(void *rng)
{
    return sq_rng_uniform(rng);
}

typedef struct qt {
    const sq_quantizer *q;
    sq_qtensor t;
    int dims[4];
    float *w, *wq, *g, *qparam, *qgrad;
    unsigned char *state;
    size_t state_bytes;
    int nq;
    double opt[SQ_QMAX_OPTS];
    sq_rng rng;
    char err[256];
} qt;

/* Set up a tensor of shape dims holding w (NULL: zeros), options kv over the
 * defaults, and call init; returns init's result (the message in x->err). */
static int qt_open(qt *x, const sq_quantizer *q, int ndim, const int *dims, const float *w, int bits,
                   const char *kv)
{
    memset(x, 0, sizeof *x);
    x->q = q;
    assert_true(q->n_options <= SQ_QMAX_OPTS);
    set_opts(q, x->opt, kv);
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        x->dims[i] = dims[i], n *= (size_t)dims[i];
    assert_true(n <= MAXN);
    x->w = calloc(n, sizeof(float));
    x->wq = calloc(n, sizeof(float));
    x->g = calloc(n, sizeof(float));
    if (w)
        memcpy(x->w, w, n * sizeof(float));
    sq_rng_seed(&x->rng, 42);
    sq_qtensor *t = &x->t;
    t->name = "test.weight";
    t->ndim = ndim;
    t->dims = x->dims;
    t->n = n;
    t->per_channel = n / (size_t)dims[0];
    t->w = x->w;
    t->wq = x->wq;
    t->g = x->g;
    t->opt = x->opt;
    t->bits = bits;
    t->index = 0;
    t->count = 1;
    t->epochs = 3;
    t->steps = 6;
    t->uniform = host_uniform;
    t->rng = &x->rng;
    x->state_bytes = q->state_size ? q->state_size(t) : 0;
    x->nq = q->n_qparams ? q->n_qparams(t) : 0;
    assert_true(x->nq >= 0 && x->nq < 1000);
    x->state = calloc(x->state_bytes ? x->state_bytes : 1, 1);
    x->qparam = calloc((size_t)x->nq + 1, sizeof(float));
    x->qgrad = calloc((size_t)x->nq + 1, sizeof(float));
    t->state = x->state;
    t->qparam = x->qparam;
    t->qgrad = x->qgrad;
    return q->init(t, x->err, sizeof x->err);
}

static void qt_close(qt *x)
{
    free(x->w), free(x->wq), free(x->g), free(x->qparam), free(x->qgrad), free(x->state);
    memset(x, 0, sizeof *x);
}

/* forward, then backward with gradient g (qgrad zeroed first, as the host). */
static void qt_fwd_bwd(qt *x, const float *g)
{
    x->q->forward(&x->t);
    memcpy(x->g, g, x->t.n * sizeof(float));
    memset(x->qgrad, 0, (size_t)x->nq * sizeof(float));
    x->q->backward(&x->t);
}

/* quantize and export; asserts export reproduces quantize exactly and that
 * neither changes state, w or qparam. Returns the exponent. */
static int qt_export(qt *x, float *out, int32_t *codes, float *scale, int *per_channel)
{
    size_t n = x->t.n;
    unsigned char *st0 = malloc(x->state_bytes + 1);
    float w0[MAXN], qp0[8];
    memcpy(st0, x->state, x->state_bytes);
    memcpy(w0, x->w, n * sizeof(float));
    memcpy(qp0, x->qparam, (size_t)(x->nq < 8 ? x->nq : 8) * sizeof(float));
    x->q->quantize(&x->t, out);
    int exponent = 12345, pc = -1;
    char err[256] = "";
    int rc = x->q->export_codes(&x->t, codes, scale, &pc, &exponent, err, sizeof err);
    if (rc) {
        print_error("%s export failed: %s\n", x->q->name, err);
        fail();
    }
    assert_true(pc == 0 || pc == 1);
    assert_true(exponent != 12345);
    for (size_t i = 0; i < n; i++) {
        size_t ch = pc ? i / x->t.per_channel : 0;
        if (!(out[i] == codes[i] * scale[ch])) {
            print_error("%s: quantize[%zu] = %.9g but code %d * scale %.9g = %.9g\n", x->q->name, i, out[i],
                        codes[i], scale[ch], codes[i] * scale[ch]);
            fail();
        }
    }
    if (exponent != SQ_QEXP_NONE)
        for (size_t c = 0; c < (pc ? (size_t)x->t.dims[0] : 1); c++)
            assert_true(scale[c] == ldexpf(1.0f, exponent));
    assert_memory_equal(st0, x->state, x->state_bytes);
    assert_memory_equal(w0, x->w, n * sizeof(float));
    if (x->nq)
        assert_memory_equal(qp0, x->qparam, (size_t)(x->nq < 8 ? x->nq : 8) * sizeof(float));
    free(st0);
    if (per_channel)
        *per_channel = pc;
    return exponent;
}

static void expect_vec(const float *got, const double *want, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s[%zu]", what, i);
        tu_close(got[i], want[i], tol, 0, msg);
    }
}

static void expect_codes(const int32_t *got, const int *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            print_error("%s[%zu] = %d, want %d\n", what, i, got[i], want[i]);
            fail();
        }
}

/* init must fail with a message containing `needle`. */
static void expect_reject(const sq_quantizer *q, int bits, const char *kv, const char *needle)
{
    static const float w[4] = {0.5f, -0.25f, 0.1f, -1.0f};
    static const int dims[2] = {2, 2};
    qt x;
    int rc = qt_open(&x, q, 2, dims, w, bits, kv);
    if (rc == 0 || !strstr(x.err, needle)) {
        print_error("%s bits=%d %s: rc %d, message \"%s\" (want one with \"%s\")\n", q->name, bits,
                    kv ? kv : "", rc, x.err, needle);
        fail();
    }
    qt_close(&x);
}

/* ---- TWN ------------------------------------------------------------------ */
static void test_twn(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("twn");
    /* mean|w| = (0.9+0.2+0.05+1.2+0.4+0+0.45+0.1)/8 = 3.3/8 = 0.4125
     * d = 0.7 * 0.4125 = 0.28875; |w| > d: 0.9, 1.2, 0.4, 0.45
     * alpha = (0.9+1.2+0.4+0.45)/4 = 2.95/4 = 0.7375 */
    static const float w[8] = {0.9f, -0.2f, 0.05f, -1.2f, 0.4f, 0.0f, -0.45f, 0.1f};
    static const int dims[2] = {2, 4};
    static const int want_codes[8] = {1, 0, 0, -1, 1, 0, -1, 0};
    float out[8], scale[2];
    int32_t codes[8];
    qt x;
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, NULL), 0);
    static const float g[8] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f, 0.7f, -0.8f};
    qt_fwd_bwd(&x, g);
    double a = 0.7375, want[8];
    for (int i = 0; i < 8; i++)
        want[i] = want_codes[i] * a;
    expect_vec(x.wq, want, 8, 1e-6, "twn wq");
    assert_memory_equal(x.g, g, sizeof g); /* straight-through */
    int pc;
    assert_int_equal(qt_export(&x, out, codes, scale, &pc), SQ_QEXP_NONE);
    assert_int_equal(pc, 0);
    expect_codes(codes, want_codes, 8, "twn codes");
    tu_close(scale[0], a, 1e-6, 0, "twn alpha");
    expect_vec(out, want, 8, 1e-6, "twn quantize");
    sq_qstats s;
    q->stats(&x.t, &s);
    tu_close(s.step, a, 1e-6, 0, "twn stats step");
    qt_close(&x);

    /* delta=0.4: d = 0.165; now 0.2 is above too: alpha = 3.15/5 = 0.63 */
    static const int want2[8] = {1, -1, 0, -1, 1, 0, -1, 0};
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, "delta=0.4"), 0);
    qt_export(&x, out, codes, scale, NULL);
    expect_codes(codes, want2, 8, "twn delta=0.4 codes");
    tu_close(scale[0], 0.63, 1e-6, 0, "twn delta=0.4 alpha");
    qt_close(&x);

    expect_reject(q, 1, NULL, "--bits 2");
    expect_reject(q, 3, NULL, "--bits 2");
}

/* ---- DoReFa --------------------------------------------------------------- */
static void test_dorefa(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("dorefa");
    /* w = -2, -0.5, 0, 0.5, 2: M = tanh 2 = 0.964028;
     * x = tanh(w)/(2M) + 1/2 = 0, 0.260320, 0.5, 0.739680, 1
     * k=2 (n=3): 3x = 0, 0.781, 1.5, 2.219, 3 -> round (1.5 to even: 2)
     *   0, 1, 2, 2, 3 -> 2j/3 - 1 = -1, -1/3, 1/3, 1/3, 1; codes 2j-3
     * k=3 (n=7): 7x = 0, 1.822, 3.5, 5.178, 7 -> 0, 2, 4, 5, 7
     *   -> -1, -3/7, 1/7, 3/7, 1; codes 2j-7 = -7, -3, 1, 3, 7 */
    static const float w[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 2.0f};
    static const int dims[2] = {5, 1};
    static const float ones[5] = {1, 1, 1, 1, 1};
    float out[MAXN], scale[MAXN];
    int32_t codes[MAXN];
    qt x;

    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, NULL), 0);
    qt_fwd_bwd(&x, ones);
    static const double want2[5] = {-1, -1.0 / 3, 1.0 / 3, 1.0 / 3, 1};
    expect_vec(x.wq, want2, 5, 1e-6, "dorefa k=2 wq");
    /* dwq/dw = (1 - tanh^2 w) / M: (1-0.929352)/0.964028 = 0.0732871,
     * (1-0.213552)/0.964028 = 0.815794, 1/0.964028 = 1.037315 */
    static const double dw2[5] = {0.0732871, 0.815794, 1.037315, 0.815794, 0.0732871};
    expect_vec(x.g, dw2, 5, 2e-6, "dorefa k=2 dL/dw");
    static const int c2[5] = {-3, -1, 1, 1, 3};
    qt_export(&x, out, codes, scale, NULL);
    expect_codes(codes, c2, 5, "dorefa k=2 codes");
    tu_close(scale[0], 1.0 / 3, 1e-7, 0, "dorefa k=2 scale");
    qt_close(&x);

    assert_int_equal(qt_open(&x, q, 2, dims, w, 3, NULL), 0);
    x.q->forward(&x.t);
    static const double want3[5] = {-1, -3.0 / 7, 1.0 / 7, 3.0 / 7, 1};
    expect_vec(x.wq, want3, 5, 1e-6, "dorefa k=3 wq");
    static const int c3[5] = {-7, -3, 1, 3, 7};
    qt_export(&x, out, codes, scale, NULL);
    expect_codes(codes, c3, 5, "dorefa k=3 codes");
    qt_close(&x);

    /* the exact level sets: 41 weights from -2 to 2 hit every level */
    for (int k = 2; k <= 3; k++) {
        float lw[41];
        int ld[2] = {41, 1};
        for (int i = 0; i < 41; i++)
            lw[i] = -2.0f + 0.1f * (float)i;
        assert_int_equal(qt_open(&x, q, 2, ld, lw, k, NULL), 0);
        qt_export(&x, out, codes, scale, NULL);
        int n = (1 << k) - 1, seen[16] = {0};
        for (int i = 0; i < 41; i++) {
            int found = 0;
            for (int j = 0; j <= n; j++) {
                double level = (2.0 * j - n) / n; /* -1, ..., 1 */
                if (fabs(out[i] - level) < 1e-6)
                    seen[j] = 1, found = 1;
            }
            if (!found) {
                print_error("dorefa k=%d: %.9g is no level\n", k, out[i]);
                fail();
            }
        }
        for (int j = 0; j <= n; j++)
            if (!seen[j]) {
                print_error("dorefa k=%d: level %d/%d never produced\n", k, 2 * j - n, n);
                fail();
            }
        qt_close(&x);
    }

    /* maxgrad=through on w = 1, -0.5 (k=2), g = 1: M = tanh 1 = 0.761594,
     * const part (1 - th^2)/M = 0.551441, 1.032634;
     * dL/dM = sum g (-th / M^2) = -(0.761594 - 0.462117)/0.580026 = -0.516317,
     * goes to w0 (the max) times dM/dw0 = 1 - th0^2 = 0.419974:
     * 0.551441 - 0.216840 = 0.334601 */
    static const float w2[2] = {1.0f, -0.5f};
    static const int d2[2] = {2, 1};
    assert_int_equal(qt_open(&x, q, 2, d2, w2, 2, "maxgrad=through"), 0);
    qt_fwd_bwd(&x, ones);
    static const double dthrough[2] = {0.334601, 1.032634};
    expect_vec(x.g, dthrough, 2, 2e-6, "dorefa maxgrad=through");
    qt_close(&x);
    assert_int_equal(qt_open(&x, q, 2, d2, w2, 2, NULL), 0);
    qt_fwd_bwd(&x, ones);
    static const double dconst[2] = {0.551441, 1.032634};
    expect_vec(x.g, dconst, 2, 2e-6, "dorefa maxgrad=const");
    qt_close(&x);

    /* k = 1, DoReFa's special case: E|w| * sign(w); w = -2, -0.5, 0.25, 0.5,
     * 2: E = 5.25/5 = 1.05; identity gradient */
    static const float w1[5] = {-2.0f, -0.5f, 0.25f, 0.5f, 2.0f};
    assert_int_equal(qt_open(&x, q, 2, dims, w1, 1, NULL), 0);
    static const float g5[5] = {0.5f, -1.5f, 2.0f, 0.25f, -3.0f};
    qt_fwd_bwd(&x, g5);
    static const double want1[5] = {-1.05, -1.05, 1.05, 1.05, 1.05};
    expect_vec(x.wq, want1, 5, 1e-6, "dorefa k=1 wq");
    assert_memory_equal(x.g, g5, sizeof g5);
    int pc;
    qt_export(&x, out, codes, scale, &pc);
    static const int c1[5] = {-1, -1, 1, 1, 1};
    expect_codes(codes, c1, 5, "dorefa k=1 codes");
    tu_close(scale[0], 1.05, 1e-6, 0, "dorefa k=1 E|w|");
    qt_close(&x);
    /* k1=formula: the general formula at one bit: +-1 */
    assert_int_equal(qt_open(&x, q, 2, dims, w1, 1, "k1=formula"), 0);
    x.q->forward(&x.t);
    static const double wantf[5] = {-1, -1, 1, 1, 1};
    expect_vec(x.wq, wantf, 5, 0, "dorefa k1=formula wq");
    qt_close(&x);

    expect_reject(q, 0, NULL, "--bits");
    expect_reject(q, 9, NULL, "--bits");
}

/* ---- BWN ------------------------------------------------------------------ */
static void test_bwn(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("bwn");
    /* channel 0: 0.5, -1.0, 0.3 -> alpha0 = 1.8/3 = 0.6
     * channel 1: -0.2, 0.0, 0.1 -> alpha1 = 0.3/3 = 0.1; sign(0) = +1 */
    static const float w[6] = {0.5f, -1.0f, 0.3f, -0.2f, 0.0f, 0.1f};
    static const int d2[2] = {2, 3}, d4[4] = {2, 1, 3, 1};
    static const double want[6] = {0.6, -0.6, 0.6, -0.1, 0.1, 0.1};
    static const int want_codes[6] = {1, -1, 1, -1, 1, 1};
    static const float g[6] = {1, -2, 3, -4, 5, -6};
    float out[6], scale[2];
    int32_t codes[6];
    for (int shape = 0; shape < 2; shape++) {
        qt x;
        assert_int_equal(qt_open(&x, q, shape ? 4 : 2, shape ? d4 : d2, w, 1, NULL), 0);
        qt_fwd_bwd(&x, g);
        expect_vec(x.wq, want, 6, 1e-6, "bwn wq");
        assert_memory_equal(x.g, g, sizeof g);
        int pc;
        assert_int_equal(qt_export(&x, out, codes, scale, &pc), SQ_QEXP_NONE);
        assert_int_equal(pc, 1);
        tu_close(scale[0], 0.6, 1e-6, 0, "bwn alpha0");
        tu_close(scale[1], 0.1, 1e-6, 0, "bwn alpha1");
        expect_codes(codes, want_codes, 6, "bwn codes");
        qt_close(&x);
    }
    /* scope=tensor: alpha = 2.1/6 = 0.35 */
    qt x;
    assert_int_equal(qt_open(&x, q, 2, d2, w, 1, "scope=tensor"), 0);
    int pc;
    qt_export(&x, out, codes, scale, &pc);
    assert_int_equal(pc, 0);
    tu_close(scale[0], 0.35, 1e-6, 0, "bwn scope=tensor alpha");
    qt_close(&x);
    expect_reject(q, 2, NULL, "--bits 1");
}

/* ---- LSQ ------------------------------------------------------------------ */
static void test_lsq(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("lsq");
    static const float w[3] = {0.3f, -1.5f, 0.8f};
    static const int dims[2] = {3, 1};
    static const float ones[3] = {1, 1, 1};
    qt x;
    /* init s = 2 mean|w| / sqrt(QP), mean|w| = 2.6/3 = 0.866667:
     * bits 3 (QP = 3): 1.7333/1.73205 = 1.000740; bits 2 (QP = 1): 1.733333 */
    assert_int_equal(qt_open(&x, q, 2, dims, w, 3, NULL), 0);
    assert_int_equal(x.nq, 1);
    tu_close(x.qparam[0], 1.000740, 1e-6, 0, "lsq init s (3 bits)");
    qt_close(&x);
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, NULL), 0);
    tu_close(x.qparam[0], 1.733333, 1e-6, 0, "lsq init s (2 bits)");

    /* s = 0.5, bits 2: QN = 2, QP = 1; v = w/s = 0.6 (inside), -3 (below),
     * 1.6 (above) -> wq = 1*0.5, -2*0.5, 1*0.5
     * dL/dw = g inside, 0 outside: 1, 0, 0
     * dL/ds = gscale * (g0 (round(0.6) - 0.6) + g1 (-QN) + g2 QP)
     *       = (0.4 - 2 + 1) / sqrt(N_w QP) = -0.6 / sqrt(3) = -0.346410 */
    x.qparam[0] = 0.5f;
    qt_fwd_bwd(&x, ones);
    static const double wq[3] = {0.5, -1.0, 0.5};
    expect_vec(x.wq, wq, 3, 0, "lsq wq");
    static const double dw[3] = {1, 0, 0};
    expect_vec(x.g, dw, 3, 0, "lsq dL/dw");
    tu_close(x.qgrad[0], -0.6 / sqrt(3.0), 1e-6, 0, "lsq dL/ds");
    /* qgrad is accumulated (+=), not overwritten */
    memcpy(x.g, ones, sizeof ones);
    x.qgrad[0] = 1.0f;
    q->backward(&x.t);
    tu_close(x.qgrad[0], 1.0 - 0.6 / sqrt(3.0), 1e-6, 0, "lsq dL/ds accumulates");
    float out[3], scale[1];
    int32_t codes[3];
    static const int want_codes[3] = {1, -2, 1};
    qt_export(&x, out, codes, scale, NULL);
    expect_codes(codes, want_codes, 3, "lsq codes");
    assert_true(scale[0] == 0.5f);
    /* the step is kept positive */
    x.qparam[0] = -1.0f;
    q->after_step(&x.t);
    assert_true(x.qparam[0] > 0 && x.qparam[0] <= 1e-6f);
    x.qparam[0] = NAN;
    q->after_step(&x.t);
    assert_true(x.qparam[0] > 0 && x.qparam[0] <= 1e-6f);
    qt_close(&x);

    /* gradscale=off: the plain sum -0.6 */
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, "gradscale=off"), 0);
    x.qparam[0] = 0.5f;
    qt_fwd_bwd(&x, ones);
    tu_close(x.qgrad[0], -0.6, 1e-6, 0, "lsq dL/ds unscaled");
    qt_close(&x);

    expect_reject(q, 1, NULL, "--bits 2..8");
    expect_reject(q, 9, NULL, "--bits 2..8");
}

/* ---- BinaryConnect -------------------------------------------------------- */
static void test_binaryconnect(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("binaryconnect");
    static const float w[5] = {0.3f, -0.7f, 0.0f, 1.5f, -2.0f};
    static const int dims[2] = {5, 1};
    static const float g[5] = {0.5f, -0.25f, 1.0f, 2.0f, -3.0f};
    qt x;
    assert_int_equal(qt_open(&x, q, 2, dims, w, 1, NULL), 0);
    qt_fwd_bwd(&x, g);
    static const double sign[5] = {1, -1, 1, 1, -1}; /* sign(0) = +1 */
    expect_vec(x.wq, sign, 5, 0, "binaryconnect wq");
    assert_memory_equal(x.g, g, sizeof g);
    q->after_step(&x.t);
    static const double clipped[5] = {0.3, -0.7, 0.0, 1.0, -1.0};
    expect_vec(x.w, clipped, 5, 1e-7, "binaryconnect clipped w");
    float out[5], scale[1];
    int32_t codes[5];
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), 0);
    expect_vec(out, sign, 5, 0, "binaryconnect quantize");
    assert_true(scale[0] == 1.0f);
    qt_close(&x);

    /* stochastic: p(+1) = clip((w+1)/2, 0, 1) = 1, 0, 0.5, 0.75 */
    static const float ws[4] = {1.5f, -2.0f, 0.0f, 0.5f};
    static const int ds[2] = {4, 1};
    qt y;
    assert_int_equal(qt_open(&x, q, 2, ds, ws, 1, "mode=stoch"), 0);
    assert_int_equal(qt_open(&y, q, 2, ds, ws, 1, "mode=stoch"), 0);
    int plus[4] = {0}, differs = 0, N = 4000;
    for (int r = 0; r < N; r++) {
        q->forward(&x.t);
        q->forward(&y.t);
        for (int i = 0; i < 4; i++) {
            assert_true(x.wq[i] == 1.0f || x.wq[i] == -1.0f);
            plus[i] += x.wq[i] > 0;
        }
        differs |= memcmp(x.wq, y.wq, sizeof ws) != 0;
    }
    assert_int_equal(plus[0], N);
    assert_int_equal(plus[1], 0);
    tu_close(plus[2] / (double)N, 0.5, 0.04, 0, "binaryconnect stoch p(w=0)");
    tu_close(plus[3] / (double)N, 0.75, 0.04, 0, "binaryconnect stoch p(w=0.5)");
    assert_false(differs); /* same seed, same draws */
    qt_export(&x, out, codes, scale, NULL);
    static const double sign4[4] = {1, -1, 1, 1};
    expect_vec(out, sign4, 4, 0, "binaryconnect stoch quantize (deterministic form)");
    qt_close(&x);
    qt_close(&y);
    expect_reject(q, 2, NULL, "--bits 1");
}

/* ---- TTQ ------------------------------------------------------------------ */
static void test_ttq(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("ttq");
    /* max|w| = 1 -> thr = 0.05; P = {0.8, 0.5}, N = {-0.6, -1.0},
     * Z = {-0.03, 0.02} */
    static const float w[6] = {0.8f, -0.03f, 0.02f, -0.6f, 0.5f, -1.0f};
    static const int dims[2] = {2, 3};
    qt x;
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, NULL), 0);
    assert_int_equal(x.nq, 2);
    assert_true(x.qparam[0] == 1.0f && x.qparam[1] == 1.0f); /* official init */
    x.qparam[0] = 1.5f; /* Wp */
    x.qparam[1] = 0.5f; /* Wn */
    static const float g[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    qt_fwd_bwd(&x, g);
    static const double wq[6] = {1.5, 0, 0, -0.5, 1.5, -0.5};
    expect_vec(x.wq, wq, 6, 0, "ttq wq");
    /* dL/dWp = 0.1 + 0.5 = 0.6; dL/dWn = -(0.4 + 0.6) = -1.0;
     * dL/dw = g * (Wp, 1, 1, Wn, Wp, Wn) */
    tu_close(x.qgrad[0], 0.6, 1e-6, 0, "ttq dL/dWp");
    tu_close(x.qgrad[1], -1.0, 1e-6, 0, "ttq dL/dWn");
    static const double dw[6] = {0.15, 0.2, 0.3, 0.2, 0.75, 0.3};
    expect_vec(x.g, dw, 6, 1e-6, "ttq dL/dw");
    /* export: Wp = 3 * 2^-1, Wn = 1 * 2^-1: scale 0.5, codes 3, 0, -1 */
    float out[6], scale[1];
    int32_t codes[6];
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -1);
    static const int c[6] = {3, 0, 0, -1, 3, -1};
    expect_codes(codes, c, 6, "ttq codes");
    assert_true(scale[0] == 0.5f);
    /* Wp == Wn: ternary codes with scale Wp */
    x.qparam[0] = x.qparam[1] = 0.75f;
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), SQ_QEXP_NONE);
    static const int c3[6] = {1, 0, 0, -1, 1, -1};
    expect_codes(codes, c3, 6, "ttq codes Wp == Wn");
    assert_true(scale[0] == 0.75f);
    qt_close(&x);

    /* init=mean: mean|w| over |w| > 0.05 = (0.8+0.6+0.5+1.0)/4 = 0.725 */
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, "init=mean"), 0);
    tu_close(x.qparam[0], 0.725, 1e-6, 0, "ttq init=mean Wp");
    tu_close(x.qparam[1], 0.725, 1e-6, 0, "ttq init=mean Wn");
    qt_close(&x);

    /* t=0.5: thr = 0.5, strict: 0.5 itself is zero */
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, "t=0.5"), 0);
    x.qparam[0] = 1.5f;
    x.qparam[1] = 0.5f;
    q->forward(&x.t);
    static const double wq5[6] = {1.5, 0, 0, -0.5, 0, -0.5};
    expect_vec(x.wq, wq5, 6, 0, "ttq t=0.5 wq");
    qt_close(&x);
    expect_reject(q, 1, NULL, "--bits 2");
    expect_reject(q, 3, NULL, "--bits 2");
}

/* ---- fixed point ---------------------------------------------------------- */
/* w6 at 2 bits, grid with zero (modes -D, 0, D), squared error per f:
 *   f=0 (D=1):     0.3034
 *   f=1 (D=0.5):   .3->.5 .04, -.35->-.5 .0225, .05->0 .0025, -.1->0 .01,
 *                  .28->.5 .0484, 0 -> 0.1234
 *   f=2 (D=0.25):  .3->.25 .0025, -.35->-.25 .01, .05->0 .0025, -.1->0 .01,
 *                  .28->.25 .0009, 0 -> 0.0259   <- the minimum
 *   f=3 (D=0.125): everything beyond .0625 clips at +-.125 -> 0.1084
 * without zero (modes +-D/2, +-3D/2): f=1 0.1384, f=2 0.03715 (min),
 *   f=3 0.05309 */
static const float w6[6] = {0.3f, -0.35f, 0.05f, -0.1f, 0.28f, 0.0f};
static const int d6[2] = {2, 3};

static void test_fixedpoint(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("fixedpoint");
    float out[6], scale[1];
    int32_t codes[6];
    sq_qstats s;
    qt x;

    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, NULL), 0);
    q->stats(&x.t, &s);
    assert_true(s.step == 0.25 && s.exponent == -2);
    static const float g[6] = {1, -2, 3, -4, 5, -6};
    qt_fwd_bwd(&x, g);
    static const double wq[6] = {0.25, -0.25, 0, 0, 0.25, 0};
    expect_vec(x.wq, wq, 6, 0, "fixedpoint wq");
    assert_memory_equal(x.g, g, sizeof g);
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -2);
    static const int c[6] = {1, -1, 0, 0, 1, 0};
    expect_codes(codes, c, 6, "fixedpoint codes");
    assert_true(scale[0] == 0.25f);
    /* clip=outer: w clamped to +-0.25 */
    q->after_step(&x.t);
    static const double wc[6] = {0.25, -0.25, 0.05, -0.1, 0.25, 0};
    expect_vec(x.w, wc, 6, 1e-7, "fixedpoint clip=outer");
    qt_close(&x);

    /* clip=half: to +-(0.25 + 0.125) = 0.375; clip=off: nothing */
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "clip=half"), 0);
    x.w[0] = 0.5f;
    q->after_step(&x.t);
    assert_true(x.w[0] == 0.375f && x.w[1] == -0.35f);
    qt_close(&x);
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "clip=off"), 0);
    x.w[0] = 9.0f;
    q->after_step(&x.t);
    assert_true(x.w[0] == 9.0f);
    qt_close(&x);

    /* step=range: max|w| = 0.35 <= K D needs D >= 0.35: f = 1, D = 0.5 */
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "step=range"), 0);
    static const double wr[6] = {0.5, -0.5, 0, 0, 0.5, 0};
    q->forward(&x.t);
    expect_vec(x.wq, wr, 6, 0, "fixedpoint step=range");
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -1);
    qt_close(&x);

    /* shift=-1: D = 0.25/2 = 0.125; -0.1/0.125 = -0.8 -> -1 */
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "shift=-1"), 0);
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -3);
    static const int cs[6] = {1, -1, 0, -1, 1, 0};
    expect_codes(codes, cs, 6, "fixedpoint shift=-1 codes");
    assert_true(scale[0] == 0.125f);
    qt_close(&x);
    /* shift=1: D = 0.5 */
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "shift=1"), 0);
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -1);
    expect_vec(out, wr, 6, 0, "fixedpoint shift=1");
    qt_close(&x);

    /* modes=nozero: f = 2, modes +-0.125, +-0.375; codes 2k+1, scale D/2 */
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "modes=nozero"), 0);
    q->stats(&x.t, &s);
    assert_true(s.step == 0.25 && s.exponent == -2);
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -3);
    static const double wn[6] = {0.375, -0.375, 0.125, -0.125, 0.375, 0.125};
    expect_vec(out, wn, 6, 0, "fixedpoint modes=nozero");
    static const int cn[6] = {3, -3, 1, -1, 3, 1};
    expect_codes(codes, cn, 6, "fixedpoint modes=nozero codes");
    assert_true(scale[0] == 0.125f);
    x.w[0] = 0.5f; /* outer mode 0.375 */
    q->after_step(&x.t);
    assert_true(x.w[0] == 0.375f);
    qt_close(&x);

    /* one bit needs modes=nozero: +-D/2 */
    expect_reject(q, 1, NULL, "modes=nozero");
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 1, "modes=nozero"), 0);
    qt_export(&x, out, codes, scale, NULL);
    for (int i = 0; i < 6; i++)
        assert_true(fabsf(out[i]) == scale[0] && (codes[i] == 1 || codes[i] == -1));
    qt_close(&x);

    /* step=free: Lloyd from the range step 0.35: codes 1,-1,0,0,1,0,
     * D = (0.3 + 0.35 + 0.28)/3 = 0.31, a fixed point; no exponent */
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "step=free"), 0);
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), SQ_QEXP_NONE);
    tu_close(scale[0], 0.31, 1e-6, 0, "fixedpoint step=free D");
    expect_codes(codes, c, 6, "fixedpoint step=free codes");
    qt_close(&x);

    /* reestimate: doubled weights pick f = 1 only with reestimate=epoch */
    for (int re = 0; re < 2; re++) {
        assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, re ? "reestimate=epoch" : "reestimate=once"), 0);
        for (int i = 0; i < 6; i++)
            x.w[i] *= 2;
        x.t.epoch = 1;
        q->epoch_begin(&x.t);
        q->stats(&x.t, &s);
        assert_true(s.step == (re ? 0.5 : 0.25));
        qt_close(&x);
    }
    expect_reject(q, 9, NULL, "--bits");
    expect_reject(q, 2, "fmin=5 fmax=4", "fmin");
}

/* ---- post-training -------------------------------------------------------- */
static void test_posttrain(void **st)
{
    (void)st;
    const sq_quantizer *q = plugin("posttrain");
    float out[6], scale[1];
    int32_t codes[6];
    qt x;
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, NULL), 0);
    static const float g[6] = {1, -2, 3, -4, 5, -6};
    /* training is float: wq = w, g unchanged, no clipping */
    qt_fwd_bwd(&x, g);
    assert_memory_equal(x.wq, w6, sizeof w6);
    assert_memory_equal(x.g, g, sizeof g);
    x.w[0] = 7.0f;
    q->after_step(&x.t);
    assert_true(x.w[0] == 7.0f);
    memcpy(x.w, w6, sizeof w6);
    /* at the end: SYMOG's grid on the weights of that moment (f = 2) */
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -2);
    static const double wq[6] = {0.25, -0.25, 0, 0, 0.25, 0};
    expect_vec(out, wq, 6, 0, "posttrain quantize");
    /* the weights move on: the grid follows them (doubled: f = 1) */
    for (int i = 0; i < 6; i++)
        x.w[i] *= 2;
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -1);
    static const double wq2[6] = {0.5, -0.5, 0, 0, 0.5, 0};
    expect_vec(out, wq2, 6, 0, "posttrain quantize, doubled weights");
    qt_close(&x);
    assert_int_equal(qt_open(&x, q, 2, d6, w6, 2, "modes=nozero"), 0);
    assert_int_equal(qt_export(&x, out, codes, scale, NULL), -3);
    static const double wn[6] = {0.375, -0.375, 0.125, -0.125, 0.375, 0.125};
    expect_vec(out, wn, 6, 0, "posttrain modes=nozero");
    qt_close(&x);
    expect_reject(q, 1, NULL, "modes=nozero");
    expect_reject(q, 9, NULL, "--bits");
}

/* ---- finite-difference checks of the smooth parts ------------------------- */
/* DoReFa's surrogate: with round() straight-through, wq acts like
 * 2x - 1 = tanh(w) / M, so backward must be the exact gradient of
 * S(w) = sum_i g_i tanh(w_i) / M, with M = max|tanh w| held fixed
 * (maxgrad=const) or differentiated (maxgrad=through). */
static double dorefa_surrogate(const double *w, const float *g, int n, double mfixed)
{
    double m = mfixed, s = 0;
    if (m <= 0)
        for (int i = 0; i < n; i++)
            m = fmax(m, fabs(tanh(w[i])));
    for (int i = 0; i < n; i++)
        s += g[i] * tanh(w[i]) / m;
    return s;
}

static void test_gradients_fd(void **st)
{
    (void)st;
    /* the max |tanh| sits at the negative -1.1, away from ties */
    static const float w[5] = {0.7f, -0.3f, 0.15f, -1.1f, 0.4f};
    static const float g[5] = {0.3f, -0.5f, 0.8f, 0.2f, -0.4f};
    static const int dims[2] = {5, 1};
    const sq_quantizer *q = plugin("dorefa");
    for (int through = 0; through < 2; through++) {
        qt x;
        assert_int_equal(qt_open(&x, q, 2, dims, w, 3, through ? "maxgrad=through" : NULL), 0);
        qt_fwd_bwd(&x, g);
        double wd[5], m0 = through ? 0 : tanh(1.1), h = 1e-6;
        for (int i = 0; i < 5; i++)
            wd[i] = w[i];
        int nonzero = 0;
        for (int i = 0; i < 5; i++) {
            double keep = wd[i];
            wd[i] = keep + h;
            double up = dorefa_surrogate(wd, g, 5, m0);
            wd[i] = keep - h;
            double dn = dorefa_surrogate(wd, g, 5, m0);
            wd[i] = keep;
            double fd = (up - dn) / (2 * h);
            nonzero += fabs(fd) > 1e-3;
            tu_close(x.g[i], fd, 1e-6, 1e-5, through ? "dorefa through vs FD" : "dorefa const vs FD");
        }
        assert_int_equal(nonzero, 5); /* an all-zero gradient cannot pass */
        qt_close(&x);
    }

    /* TTQ: wq is linear in Wp and Wn, so L = sum g wq has exact
     * derivatives; compare the qgrad with central differences */
    static const float wt[6] = {0.8f, -0.03f, 0.02f, -0.6f, 0.5f, -1.0f};
    static const int dt[2] = {2, 3};
    q = plugin("ttq");
    qt x;
    assert_int_equal(qt_open(&x, q, 2, dt, wt, 2, NULL), 0);
    x.qparam[0] = 1.25f, x.qparam[1] = 0.75f;
    static const float gt[6] = {0.3f, -0.5f, 0.8f, 0.2f, -0.4f, 0.9f};
    qt_fwd_bwd(&x, gt);
    float dwp = x.qgrad[0], dwn = x.qgrad[1];
    for (int k = 0; k < 2; k++) {
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float keep = x.qparam[k];
            x.qparam[k] = keep + (sgn ? -0.125f : 0.125f);
            q->forward(&x.t);
            l[sgn] = 0;
            for (int i = 0; i < 6; i++)
                l[sgn] += gt[i] * x.wq[i];
            x.qparam[k] = keep;
        }
        tu_close(k ? dwn : dwp, (l[0] - l[1]) / 0.25, 1e-6, 0, k ? "ttq dL/dWn vs FD" : "ttq dL/dWp vs FD");
    }
    assert_true(dwp != 0 && dwn != 0);
    qt_close(&x);
}

/* ---- the sweep ------------------------------------------------------------ */
typedef struct sweep_case {
    const char *name, *kv; /* quantizer and an option set (NULL: defaults) */
    int bmin, bmax;        /* supported bit widths                          */
    int zero_grid;         /* levels <= 2^bits - 1                           */
} sweep_case;

static const sweep_case cases[] = {
    {"binaryconnect", NULL, 1, 1, 0},
    {"binaryconnect", "mode=stoch", 1, 1, 0},
    {"bwn", NULL, 1, 1, 0},
    {"bwn", "scope=tensor", 1, 1, 0},
    {"twn", NULL, 2, 2, 1},
    {"twn", "delta=0.5", 2, 2, 1},
    {"ttq", NULL, 2, 2, 1},
    {"ttq", "init=mean t=0.1", 2, 2, 1},
    {"dorefa", NULL, 1, 8, 0},
    {"dorefa", "k1=formula maxgrad=through", 1, 8, 0},
    {"lsq", NULL, 2, 8, 0},
    {"lsq", "gradscale=off", 2, 8, 0},
    {"fixedpoint", NULL, 2, 8, 1},
    {"fixedpoint", "modes=nozero", 1, 8, 0},
    {"fixedpoint", "step=range clip=half reestimate=epoch", 2, 8, 1},
    {"fixedpoint", "step=free clip=off shift=1 modes=nozero", 1, 8, 0},
    {"fixedpoint", "shift=-2 fmin=0 fmax=8", 2, 8, 1},
    {"posttrain", NULL, 2, 8, 1},
    {"posttrain", "modes=nozero shift=-1", 1, 8, 0},
};

/* Random weights of about 0.1, with an exact zero and an outlier. */
static void rand_weights(float *w, size_t n, uint64_t seed)
{
    sq_rng r;
    sq_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(0.1 * sq_rng_normal(&r));
    w[0] = 0.0f;
    w[n / 2] = 0.9f;
}

static void assert_finite(const float *v, size_t n, const char *what, const char *qname)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            print_error("%s: %s[%zu] = %g\n", qname, what, i, v[i]);
            fail();
        }
}

/* The hooks as the host calls them, on one tensor; the outputs go to trace
 * (for the determinism check). */
typedef struct trace {
    float w[MAXN], wq[MAXN], out[MAXN], scale[MAXN], qparam[8];
    int32_t codes[MAXN];
    int exponent, per_channel;
} trace;

static void run_hooks(const sq_quantizer *q, const sweep_case *c, int ndim, const int *dims, int bits, trace *tr)
{
    qt x;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    float w[MAXN], g[MAXN];
    rand_weights(w, n, 1234 + (uint64_t)bits);
    int rc = qt_open(&x, q, ndim, dims, w, bits, c->kv);
    if (rc) {
        print_error("%s %s bits=%d: init failed: %s\n", q->name, c->kv ? c->kv : "", bits, x.err);
        fail();
    }
    sq_rng gs;
    sq_rng_seed(&gs, 99);
    for (int e = 0; e < 3; e++) {
        x.t.epoch = e;
        q->epoch_begin(&x.t);
        for (int s = 0; s < 2; s++) {
            x.t.step = e * 2 + s;
            for (size_t i = 0; i < n; i++)
                g[i] = (float)(sq_rng_uniform(&gs) - 0.5);
            qt_fwd_bwd(&x, g);
            assert_finite(x.wq, n, "wq", q->name);
            assert_finite(x.g, n, "g", q->name);
            assert_finite(x.qgrad, (size_t)x.nq, "qgrad", q->name);
            for (size_t i = 0; i < n; i++) /* plain SGD, lr 0.01 */
                x.w[i] -= 0.01f * x.g[i];
            for (int i = 0; i < x.nq; i++)
                x.qparam[i] -= 0.01f * x.qgrad[i];
            q->after_step(&x.t);
            assert_finite(x.w, n, "w", q->name);
            assert_finite(x.qparam, (size_t)x.nq, "qparam", q->name);
        }
    }
    memset(tr, 0, sizeof *tr);
    tr->exponent = qt_export(&x, tr->out, tr->codes, tr->scale, &tr->per_channel);
    assert_finite(tr->out, n, "quantize", q->name);
    /* distinct levels: per channel when the scale is */
    size_t limit = (size_t)1 << bits, groups = tr->per_channel ? (size_t)dims[0] : 1;
    if (c->zero_grid)
        limit--;
    for (size_t gi = 0; gi < groups; gi++) {
        size_t per = n / groups, d = sq_count_distinct(tr->out + gi * per, per);
        if (d > limit) {
            print_error("%s %s bits=%d: %zu distinct values (max %zu)\n", q->name, c->kv ? c->kv : "", bits, d,
                        limit);
            fail();
        }
    }
    if (q->stats) {
        sq_qstats s;
        q->stats(&x.t, &s);
        assert_true(isfinite(s.step) && s.step >= 0);
    }
    memcpy(tr->w, x.w, n * sizeof(float));
    memcpy(tr->wq, x.wq, n * sizeof(float));
    memcpy(tr->qparam, x.qparam, (size_t)(x.nq < 8 ? x.nq : 8) * sizeof(float));
    qt_close(&x);
}

/* The table itself: what the host's registry and option parser accept,
 * plus the hooks this harness relies on. */
static void check_meta(const sq_quantizer *q, const char *origin)
{
    assert_int_equal(q->abi_version, SQ_QUANT_ABI_VERSION);
    assert_int_equal(q->struct_size, (int)sizeof(sq_quantizer));
    sq_err e;
    sq_quant_reset();
    if (sq_quant_register(q, origin, &e)) {
        print_error("the registry refuses it: %s\n", e.msg);
        fail();
    }
    sq_quant_reset();
    for (const char *p = q->name; *p; p++)
        assert_false(*p >= 'A' && *p <= 'Z');
    assert_non_null(q->epoch_begin);
    assert_non_null(q->after_step);
    double opt[SQ_QMAX_OPTS];
    set_opts(q, opt, NULL); /* every default parses and lies in its range */
    for (int i = 0; i < q->n_options; i++) {
        assert_non_null(q->options[i].help);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(q->options[i].key, q->options[j].key);
    }
}

/* Every hook on 4-D and 2-D random tensors at every bit width. */
static void sweep(const sq_quantizer *q, const sweep_case *c)
{
    static const int d4[4] = {4, 3, 3, 3}, d2[2] = {5, 7};
    for (int bits = 0; bits <= 9; bits++) {
        int supported = bits >= c->bmin && bits <= c->bmax;
        if (!supported) {
            qt x;
            float w[35];
            rand_weights(w, 35, 7);
            int rc = qt_open(&x, q, 2, d2, w, bits, c->kv);
            if (rc == 0 || !x.err[0] || !strstr(x.err, "bits")) {
                print_error("%s %s: bits=%d accepted or rejected without a message (\"%s\")\n", q->name,
                            c->kv ? c->kv : "", bits, x.err);
                fail();
            }
            qt_close(&x);
            continue;
        }
        for (int shape = 0; shape < 2; shape++) {
            trace *a = malloc(sizeof *a), *b = malloc(sizeof *b);
            run_hooks(q, c, shape ? 2 : 4, shape ? d2 : d4, bits, a);
            run_hooks(q, c, shape ? 2 : 4, shape ? d2 : d4, bits, b);
            if (memcmp(a, b, sizeof *a)) {
                print_error("%s %s bits=%d: two runs with the same seed differ\n", q->name, c->kv ? c->kv : "",
                            bits);
                fail();
            }
            free(a);
            free(b);
        }
    }
}

static void test_sweep(void **st)
{
    (void)st;
    /* every quantizer every plugin exports has a case */
    static const char *const names[] = {"binaryconnect", "bwn", "twn", "ttq",
                                        "dorefa", "lsq", "fixedpoint", "posttrain"};
    for (size_t p = 0; p < sizeof names / sizeof names[0]; p++) {
        char path[600];
        plugin_path(names[p], path, sizeof path);
        sq_quantizer_entry_fn e = open_entry(path);
        int k = 0;
        for (; e(k); k++) {
            const sq_quantizer *q = e(k);
            check_meta(q, path);
            int found = 0;
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
                if (!strcmp(cases[c].name, q->name)) {
                    sweep(q, &cases[c]);
                    found = 1;
                }
            if (!found) {
                print_error("%s exports %s, which the sweep does not know\n", path, q->name);
                fail();
            }
        }
        assert_true(k >= 1);
        assert_null(e(k + 1));
    }
}

/* ---- the template, built out of tree with the README's line -------------- */
static int repo_root(char *buf, size_t n)
{
    char d[400];
    if (file_exists("baselines/template/template.c"))
        return getcwd(buf, n) != NULL && strlen(buf) < 400;
    if (exe_dir(d, sizeof d)) { /* build/tests -> the repository */
        char p[600];
        snprintf(p, sizeof p, "%s/../../baselines/template/template.c", d);
        if (file_exists(p) && strlen(d) + 6 < n) {
            snprintf(buf, n, "%s/../..", d);
            return 1;
        }
    }
    return 0;
}

/* The README's build line (the one starting with "cc -std=c11"), with
 * <repo> replaced by root. */
static void readme_cc_line(const char *root, char *out, size_t n)
{
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/baselines/template/README.md", root);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    out[0] = 0;
    int runline = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ')
            p++;
        p[strcspn(p, "\n")] = 0;
        if (strstr(p, "symog train --plugin ./uniform.so --quantizer uniform --bits 4"))
            runline = 1;
        if (!out[0] && !strncmp(p, "cc -std=c11", 11)) {
            char *r = strstr(p, "<repo>");
            assert_non_null(r);
            *r = 0;
            snprintf(out, n, "%s%s%s", p, root, r + 6);
        }
    }
    fclose(f);
    assert_true(out[0] != 0);
    assert_true(runline);
}

static void test_template(void **st)
{
    (void)st;
    char root[512], line[2048], cmd[4096], so[600];
    if (!repo_root(root, sizeof root)) {
        print_error("cannot find the repository (run from its root)\n");
        fail();
    }
    readme_cc_line(root, line, sizeof line);
    assert_non_null(strstr(line, "-o uniform.so template.c"));
    char *tmp = tu_tmpdir();
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp);
    snprintf(cmd, sizeof cmd, "cd '%s' && cp '%s/baselines/template/template.c' . && %s", dir, root, line);
    if (system(cmd) != 0) {
        print_error("template build failed: %s\n", cmd);
        fail();
    }
    /* and warning-free with the project's warnings */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cc -std=c11 -O2 -shared -fPIC -Wall -Wextra -Werror -I'%s/engine/include' "
             "-o strict.so template.c -lm",
             dir, root);
    if (system(cmd) != 0) {
        print_error("template has warnings: %s\n", cmd);
        fail();
    }
    snprintf(so, sizeof so, "%s/uniform.so", dir);
    sq_quantizer_entry_fn e = open_entry(so);
    const sq_quantizer *q = find_q(e, "uniform");
    assert_null(e(1));
    check_meta(q, so);

    /* known values: w = 1, -0.6, 0.2, 0 at 2 bits: QP = 1, s = max|w| = 1:
     * round(-0.6) = -1, round(0.2) = 0 -> 1, -1, 0, 0; STE */
    static const float w[4] = {1.0f, -0.6f, 0.2f, 0.0f};
    static const int dims[2] = {2, 2};
    static const float g[4] = {1, 2, 3, 4};
    qt x;
    assert_int_equal(qt_open(&x, q, 2, dims, w, 2, NULL), 0);
    qt_fwd_bwd(&x, g);
    static const double wq[4] = {1, -1, 0, 0};
    expect_vec(x.wq, wq, 4, 0, "uniform wq");
    assert_memory_equal(x.g, g, sizeof g);
    float out[4], scale[1];
    int32_t codes[4];
    qt_export(&x, out, codes, scale, NULL);
    assert_true(scale[0] == 1.0f);
    qt_close(&x);
    expect_reject(q, 1, NULL, "--bits");

    static const sweep_case c = {"uniform", NULL, 2, 8, 1}, c2 = {"uniform", "clip=0.5", 2, 8, 1};
    sweep(q, &c);
    sweep(q, &c2);
    /* close it before its directory goes */
    for (int i = 0; i < n_plugs; i++)
        if (!strcmp(plugs[i].path, so)) {
            dlclose(plugs[i].h);
            plugs[i] = plugs[--n_plugs];
        }
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twn),        cmocka_unit_test(test_dorefa),
        cmocka_unit_test(test_bwn),        cmocka_unit_test(test_lsq),
        cmocka_unit_test(test_binaryconnect), cmocka_unit_test(test_ttq),
        cmocka_unit_test(test_fixedpoint), cmocka_unit_test(test_posttrain),
        cmocka_unit_test(test_gradients_fd), cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_template),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
