/* test_train.c - integration: real training on a Fashion-MNIST subset,
 * checkpoint round trips, and bit-exact resume. Needs Debian's
 * dataset-fashion-mnist (installed by `make deps`). */
#include <math.h>

#include "testutil.h"

#include "data/data.h"
#include "io/yamlio.h"
#include "models/models.h"
#include "train/checkpoint.h"
#include "train/train.h"

static void cfg_small(sq_train_cfg *c, const char *out, int epochs, int subset)
{
    sq_train_defaults(c);
    snprintf(c->out, sizeof c->out, "%s", out);
    c->epochs = epochs;
    c->train_subset = subset;
    c->test_subset = 1000;
    c->threads = 1;
    c->progress = 0;
}

static double yaml_num(const char *path, const char *key)
{
    sq_ykv *kv = NULL;
    int n = 0;
    sq_err e;
    if (sq_yaml_load(path, &kv, &n, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    const char *v = sq_ykv_get(kv, n, key);
    assert_non_null(v);
    double x = atof(v);
    sq_ykv_free(kv, n);
    return x;
}

/* A short LeNet5 run on 2,000 images must beat 50 % test accuracy, and
 * result.yaml must say what the run measured. */
static void test_lenet5_learns(void **state)
{
    char *dir = tu_tmpdir(), path[512];
    sq_train_cfg c;
    cfg_small(&c, dir, 2, 2000);
    sq_train_result r;
    sq_err e = {{0}};
    sq_log_level = SQ_LOG_QUIET;
    if (sq_train(&c, &r, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_true(r.test_error < 50.0);
    snprintf(path, sizeof path, "%s/result.yaml", dir);
    assert_true(fabs(yaml_num(path, "test_error") - r.test_error) < 1e-9);
    assert_int_equal((int)yaml_num(path, "epochs"), 2);
    assert_int_equal((int)yaml_num(path, "params"), 582026);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    assert_true(fabs(yaml_num(path, "data.norm_mean.0") - 0.286) < 1e-6);
    tu_rmdir(dir);
}

/* Save a randomly initialised net (with batch-norm buffers) and load it
 * into a fresh one: every tensor comes back bit for bit. */
static void test_checkpoint_roundtrip(void **state)
{
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    sq_net a, b;
    sq_err e = {{0}};
    sq_rng rng;
    sq_rng_seed(&rng, 7);
    assert_int_equal(sq_model_build("lenet5-bn", &a, (sq_shape){1, 28, 28}, 10, &e), 0);
    assert_int_equal(sq_model_build("lenet5-bn", &b, (sq_shape){1, 28, 28}, 10, &e), 0);
    sq_net_init(&a, &rng);
    for (size_t i = 0; i < a.n_buffer_reals; i++)
        a.buffers[i] = (sq_real)sq_rng_normal(&rng);
    long long nb = 0;
    assert_int_equal(sq_ckpt_save(path, &a, 1234, NULL, NULL, &e), 0);
    if (sq_ckpt_load_net(path, &b, &nb, NULL, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_int_equal(nb, 1234);
    assert_memory_equal(a.params, b.params, a.n_weights * sizeof(sq_real));
    assert_memory_equal(a.buffers, b.buffers, a.n_buffer_reals * sizeof(sq_real));
    /* a checkpoint of another model is refused with a message */
    sq_net c;
    assert_int_equal(sq_model_build("lenet5-classic", &c, (sq_shape){1, 28, 28}, 10, &e), 0);
    assert_int_equal(sq_ckpt_load_net(path, &c, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "conv1.weight"));
    sq_net_free(&a), sq_net_free(&b), sq_net_free(&c);
    tu_rmdir(dir);
}

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *d = malloc(*n);
    assert_int_equal(fread(d, 1, *n, f), *n);
    fclose(f);
    return d;
}

/* Stopping after epoch 1 and resuming gives exactly the weights of an
 * uninterrupted run (one thread), for float and for SYMOG. */
static void resume_case(const char *quantizer)
{
    char *tmp = tu_tmpdir(), a[512], b[512], pa[600], pb[600];
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    sq_log_level = SQ_LOG_QUIET;
    cfg_small(&c, a, 2, 600);
    snprintf(c.quantizer, sizeof c.quantizer, "%s", quantizer);
    assert_int_equal(sq_train(&c, &r, &e), 0);
    cfg_small(&c, b, 2, 600);
    snprintf(c.quantizer, sizeof c.quantizer, "%s", quantizer);
    c.stop_after = 1;
    assert_int_equal(sq_train(&c, &r, &e), 0);
    assert_int_equal(r.epochs_done, 1);
    snprintf(pb, sizeof pb, "%s/result.yaml", b);
    assert_int_equal(access(pb, F_OK), -1); /* interrupted: no result */
    c.stop_after = 0;
    c.resume = 1;
    if (sq_train(&c, &r, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    size_t na, nb;
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    void *da = slurp(pa, &na), *db = slurp(pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    free(da), free(db);
    /* the training state too (latent weights, moments, quantizer state,
     * diagnostics), all but the wall-clock column of the metrics */
    snprintf(pa, sizeof pa, "%s/state.safetensors", a);
    snprintf(pb, sizeof pb, "%s/state.safetensors", b);
    sq_st_file fa, fb;
    assert_int_equal(sq_st_read(pa, &fa, &e), 0);
    assert_int_equal(sq_st_read(pb, &fb, &e), 0);
    assert_int_equal(fa.n, fb.n);
    for (int i = 0; i < fa.n; i++) {
        assert_string_equal(fa.t[i].name, fb.t[i].name);
        assert_int_equal(fa.t[i].nbytes, fb.t[i].nbytes);
        if (strcmp(fa.t[i].name, "metrics")) {
            assert_memory_equal(fa.t[i].data, fb.t[i].data, fa.t[i].nbytes);
            continue;
        }
        const double *ma = fa.t[i].data, *mb = fb.t[i].data;
        int cols = (int)fa.t[i].shape[1];
        for (int k = 0; k < (int)(fa.t[i].nbytes / sizeof(double)); k++)
            if (k % cols != cols - 1) /* the last column is seconds */
                assert_true(ma[k] == mb[k]);
    }
    sq_st_free(&fa), sq_st_free(&fb);
    tu_rmdir(tmp);
}

static void test_resume_float(void **state) { resume_case("float"); }
static void test_resume_symog(void **state) { resume_case("symog"); }

/* Bad settings are refused with a message naming them. */
static void test_bad_config(void **state)
{
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    cfg_small(&c, "/tmp/never-written", 1, 100);
    snprintf(c.model, sizeof c.model, "resnet9000");
    assert_int_equal(sq_train(&c, &r, &e), -1);
    assert_non_null(strstr(e.msg, "unknown model 'resnet9000'"));
    assert_non_null(strstr(e.msg, "lenet5"));
    cfg_small(&c, "/tmp/never-written", 1, 100);
    snprintf(c.data, sizeof c.data, "imagenet");
    assert_int_equal(sq_train(&c, &r, &e), -1);
    assert_non_null(strstr(e.msg, "imagenet"));
    cfg_small(&c, "/tmp/never-written", 1, 100);
    snprintf(c.quantizer, sizeof c.quantizer, "nosuch");
    assert_int_equal(sq_train(&c, &r, &e), -1);
    assert_non_null(strstr(e.msg, "unknown quantizer 'nosuch'"));
    cfg_small(&c, "/tmp/never-written", 1, 100);
    snprintf(c.quantizer, sizeof c.quantizer, "symog");
    snprintf(c.qopts[c.n_qopts++], sizeof c.qopts[0], "lambdaX=3");
    assert_int_equal(sq_train(&c, &r, &e), -1);
    assert_non_null(strstr(e.msg, "no option 'lambdaX'"));
    assert_non_null(strstr(e.msg, "lambdaT"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet5_learns),
        cmocka_unit_test(test_checkpoint_roundtrip),
        cmocka_unit_test(test_resume_float),
        cmocka_unit_test(test_resume_symog),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
