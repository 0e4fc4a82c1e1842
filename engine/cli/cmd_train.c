/* cmd_train.c - `symog train`, `symog eval` and `symog models`. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/data.h"
#include "models/models.h"
#include "opts.h"
#include "train/checkpoint.h"
#include "quant/quant.h"
#include "train/train.h"

const char *cli_data_dir(void)
{
    const char *d = getenv("SYMOG_DATA");
    return d && *d ? d : "data";
}

#define STR(field) (field), sizeof(field)

static int add_qopt(void *ctx, const char *v, char *err, size_t n)
{
    sq_train_cfg *c = ctx;
    if (c->n_qopts == (int)(sizeof c->qopts / sizeof c->qopts[0]))
        return snprintf(err, n, "at most %d --q-opt", c->n_qopts), -1;
    if (!strchr(v, '=') || strlen(v) >= sizeof c->qopts[0])
        return snprintf(err, n, "expected key=value (see `symog quantizers`)"), -1;
    snprintf(c->qopts[c->n_qopts++], sizeof c->qopts[0], "%s", v);
    return 0;
}

static int add_plugin(void *ctx, const char *v, char *err, size_t n)
{
    sq_train_cfg *c = ctx;
    if (c->n_plugins == (int)(sizeof c->plugins / sizeof c->plugins[0]) ||
        strlen(v) >= sizeof c->plugins[0])
        return snprintf(err, n, "too many plugins or path too long"), -1;
    snprintf(c->plugins[c->n_plugins++], sizeof c->plugins[0], "%s", v);
    return 0;
}

int cmd_train(int argc, char **argv)
{
    sq_train_cfg c;
    sq_train_defaults(&c);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", cli_data_dir());
    int quiet = 0;
    char out[sizeof c.out] = "";
    const opt t[] = {
        {"model", OPT_STR, STR(c.model), 0, 0, "NAME", "architecture: lenet5 (default), lenet5-classic; see `symog models`"},
        {"data", OPT_STR, STR(c.data), 0, 0, "NAME", "dataset: fashion-mnist (default), mnist, cifar10, cifar100"},
        {"data-dir", OPT_STR, STR(c.data_dir), 0, 0, "DIR", "where mnist/cifar live (default $SYMOG_DATA or ./data)"},
        {"epochs", OPT_INT, &c.epochs, 0, 1, 1000, "N", "training epochs (default 10)"},
        {"batch", OPT_INT, &c.batch, 0, 1, 65536, "N", "mini-batch size (default 64)"},
        {"eval-batch", OPT_INT, &c.eval_batch, 0, 1, 65536, "N", "batch size for evaluation (default 500)"},
        {"lr", OPT_NUM, &c.lr, 0, 1e-12, 100, "X", "base learning rate (default 0.01)"},
        {"optim", OPT_STR, STR(c.optim), 0, 0, "NAME", "sgd[:MOM] (default, momentum 0.9), nesterov[:MOM], adam[:B1,B2[,EPS]]"},
        {"momentum", OPT_NUM, &c.momentum, 0, 0, 0.9999, "X", "SGD momentum when --optim sgd (default 0.9)"},
        {"wd", OPT_NUM, &c.weight_decay, 0, 0, 1, "X", "weight decay on conv/dense weights (default 5e-4)"},
        {"schedule", OPT_STR, STR(c.schedule), 0, 0, "S", "lr schedule: const, step:E[:G], multistep:E1,E2[:G], cosine[:MIN] (default), exp:G, any +warmup:W"},
        {"seed", OPT_U64, &c.seed, 0, 0, 0, "N", "random seed for init, shuffling, augmentation (default 1)"},
        {"threads", OPT_INT, &c.threads, 0, 1, 256, "N", "OpenBLAS threads (default 2)"},
        {"out", OPT_STR, STR(out), 0, 0, "DIR", "run directory (default results/runs/manual/MODEL-DATA)"},
        {"resume", OPT_FLAG, &c.resume, 0, 0, 0, NULL, "continue from DIR/state.safetensors if it exists"},
        {"init", OPT_STR, STR(c.init), 0, 0, "FILE", "start from this checkpoint's weights instead of random"},
        {"augment", OPT_INT, &c.augment, 0, -1, 1, "0|1", "pad-4 crop + flip (default: on for 32x32 data)"},
        {"train-subset", OPT_INT, &c.train_subset, 0, 0, 1e9, "N", "use only the first N training images"},
        {"test-subset", OPT_INT, &c.test_subset, 0, 0, 1e9, "N", "use only the first N test images"},
        {"progress", OPT_INT, &c.progress, 0, -1, 1, "0|1", "progress bar (default: when stderr is a terminal)"},
        {"quantizer", OPT_STR, STR(c.quantizer), 0, 0, "NAME", "float (default), symog, or a plugin's; see `symog quantizers`"},
        {"bits", OPT_INT, &c.bits, 0, 1, 8, "N", "weight bit width (default 2)"},
        {"q-opt", OPT_LIST, NULL, 0, 0, 0, "KEY=VAL", "quantizer option, repeatable; unknown keys are refused", add_qopt},
        {"plugin", OPT_LIST, NULL, 0, 0, 0, "FILE.so", "load a quantizer plugin, repeatable", add_plugin},
        {"first-last", OPT_INT, &c.first_last, 0, 0, 1, "0|1", "also quantize the first and last layer (default 1)"},
        {"quiet", OPT_FLAG, &quiet, 0, 0, 0, NULL, "no per-epoch lines"},
    };
    int rc = opts_parse(t, sizeof t / sizeof t[0], argc, argv, 2,
                        "usage: symog train [OPTIONS]\n\nTrains one network and writes DIR/{config.yaml, "
                        "metrics.csv, state.safetensors, model.safetensors, result.yaml, diag.csv, hist/}.",
                        &c);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (out[0])
        memcpy(c.out, out, sizeof out);
    else
        snprintf(c.out, sizeof c.out, "results/runs/manual/%s-%s", c.model, c.data);
    if (quiet)
        sq_log_level = SQ_LOG_QUIET;
    sq_train_result res;
    sq_err e = {{0}};
    if (sq_train(&c, &res, &e)) {
        fprintf(stderr, "symog train: %s\n", e.msg);
        return 1;
    }
    printf("test_error %.2f%% (best %.2f%%) after %d epochs in %.0fs -> %s/result.yaml\n",
           res.test_error, res.best_test_error, res.epochs_done, res.seconds, c.out);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    char model[32] = "lenet5", data[32] = "fashion-mnist", ckpt[512] = "", dir[512];
    int threads = 2, batch = 500;
    snprintf(dir, sizeof dir, "%s", cli_data_dir());
    const opt t[] = {
        {"model", OPT_STR, STR(model), 0, 0, "NAME", "architecture the checkpoint was trained as"},
        {"data", OPT_STR, STR(data), 0, 0, "NAME", "dataset whose test split to evaluate"},
        {"data-dir", OPT_STR, STR(dir), 0, 0, "DIR", "where mnist/cifar live"},
        {"checkpoint", OPT_STR, STR(ckpt), 0, 0, "FILE", "a model.safetensors written by symog train"},
        {"threads", OPT_INT, &threads, 0, 1, 256, "N", "OpenBLAS threads"},
        {"batch", OPT_INT, &batch, 0, 1, 65536, "N", "evaluation batch size"},
    };
    int rc = opts_parse(t, sizeof t / sizeof t[0], argc, argv, 2,
                        "usage: symog eval --model M --data D --checkpoint FILE\n\nPrints the test error.",
                        NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!ckpt[0]) {
        fprintf(stderr, "symog eval: --checkpoint FILE is required\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    sq_err e = {{0}};
    sq_dataset d = {0};
    sq_net net = {0};
    float mean[3], std[3];
    int *idx = NULL, *y = NULL, wrong = 0;
    sq_real *x = NULL;
    rc = 1;
    if (sq_data_open(data, dir, 0, &d, &e) || sq_data_norm(data, mean, std, &e) ||
        sq_model_build(model, &net, (sq_shape){d.c, d.h, d.w}, d.classes, &e) ||
        sq_net_reserve(&net, batch, 0, &e) || sq_ckpt_load_net(ckpt, &net, NULL, NULL, &e))
        goto done;
    idx = sq_calloc((size_t)batch, sizeof *idx);
    y = sq_calloc((size_t)batch, sizeof *y);
    x = sq_alloc_real((size_t)batch * d.c * d.h * d.w);
    if (!idx || !y || !x) {
        sq_fail(&e, "out of memory");
        goto done;
    }
    for (int i = 0; i < d.n; i += batch) {
        int nb = SQ_MIN(batch, d.n - i), w;
        for (int j = 0; j < nb; j++)
            idx[j] = i + j;
        sq_make_batch(&d, idx, nb, mean, std, 0, NULL, x, y);
        sq_softmax_xent(sq_net_forward(&net, x, nb, 0, NULL), y, nb, net.classes, NULL, &w);
        wrong += w;
    }
    printf("test_error %.2f%% (%d of %d wrong) %s on %s\n", 100.0 * wrong / d.n, wrong, d.n, model, data);
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "symog eval: %s\n", e.msg);
    sq_free(idx);
    sq_free(y);
    sq_free(x);
    sq_net_free(&net);
    sq_dataset_free(&d);
    return rc;
}

int cmd_models(int argc, char **argv)
{
    if (argc > 2) {
        printf("usage: symog models\n\nLists the architectures for 28x28x1 / 32x32x3 inputs.\n");
        return strcmp(argv[2], "--help") ? 2 : 0;
    }
    printf("%-16s %12s %14s %12s %14s  %s\n", "model", "params(28x1)", "MFLOPs(28x1)",
           "params(32x3)", "MFLOPs(32x3)", "description");
    for (int i = 0; sq_model_at(i); i++) {
        const sq_model_info *m = sq_model_at(i);
        sq_net a = {0}, b = {0};
        sq_err e;
        int oka = !sq_model_build(m->name, &a, (sq_shape){1, 28, 28}, 10, &e);
        int okb = !sq_model_build(m->name, &b, (sq_shape){3, 32, 32}, 10, &e);
        printf("%-16s %12zu %14.2f %12zu %14.2f  %s\n", m->name, oka ? sq_net_param_count(&a) : 0,
               oka ? sq_net_flops(&a) / 1e6 : 0, okb ? sq_net_param_count(&b) : 0,
               okb ? sq_net_flops(&b) / 1e6 : 0, m->summary);
        if (oka)
            sq_net_free(&a);
        if (okb)
            sq_net_free(&b);
    }
    return 0;
}

int cmd_quantizers(int argc, char **argv)
{
    const char *plugins[8];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: symog quantizers [--plugin FILE.so]...\n\nLists every registered "
                   "quantizer, where it came from, and its options with defaults.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--plugin") && i + 1 < argc && n < 8) {
            plugins[n++] = argv[++i];
            continue;
        }
        fprintf(stderr, "symog quantizers: unexpected argument '%s'\n", argv[i]);
        return 2;
    }
    sq_err e = {{0}};
    if (sq_quant_setup(plugins, n, &e)) {
        fprintf(stderr, "symog quantizers: %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < sq_quant_count(); i++) {
        const char *origin;
        const sq_quantizer *q = sq_quant_at(i, &origin);
        printf("%-14s %s\n%-14s [%s]\n", q->name, q->summary, "", origin);
        for (int k = 0; k < q->n_options; k++) {
            const sq_qoption *o = &q->options[k];
            char def[96];
            snprintf(def, sizeof def, "%s=%s", o->key, o->def);
            printf("    %-22s %s", def, o->help);
            if (o->choices)
                printf("  {%s}", o->choices);
            else if (o->type != SQ_QOPT_BOOL)
                printf("  [%g, %g]", o->min, o->max);
            printf("\n");
        }
    }
    for (int i = 0; sq_quant_refusal(i); i++)
        fprintf(stderr, "refused plugin: %s\n", sq_quant_refusal(i));
    return 0;
}
