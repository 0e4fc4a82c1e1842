/* cmd_train.c - `symog train`, `symog eval`, `symog models` and `symog
 * quantizers`: option tables, validation of every name before any work
 * (a bad invocation exits 2), SIGINT/SIGTERM handling and exit codes. */
#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "data/data.h"
#include "models/models.h"
#include "optim/optim.h"
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

/* ---- validation: every name checked before data are loaded ------------- */
static int bad_option(const char *cmd, const char *opt, const char *msg)
{
    if (!strncmp(msg, opt, strlen(opt))) /* already says which option */
        fprintf(stderr, "symog %s: %s\n", cmd, msg);
    else
        fprintf(stderr, "symog %s: %s: %s\n", cmd, opt, msg);
    return 2;
}

static int check_model(const char *cmd, const char *name)
{
    sq_err e = {{0}};
    return sq_model_check(name, &e) ? bad_option(cmd, "--model", e.msg) : 0;
}

static int check_data(const char *cmd, const char *name)
{
    float mean[3], std[3];
    sq_err e = {{0}};
    return sq_data_norm(name, mean, std, &e) ? bad_option(cmd, "--data", e.msg) : 0;
}

static int check_readable(const char *cmd, const char *opt, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, R_OK) != 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "'%s' is not a readable file", path);
        return bad_option(cmd, opt, msg);
    }
    return 0;
}

/* Models, dataset, optimizer, schedule, quantizer, its options, plugins and
 * files: 0, or a message naming the option and what is allowed, and 2. */
static int check_train(const sq_train_cfg *c)
{
    sq_err e = {{0}};
    sq_optim_cfg oc;
    sq_sched sc;
    if (check_model("train", c->model) || check_data("train", c->data))
        return 2;
    if (sq_optim_parse(c->optim, &oc, &e))
        return bad_option("train", "--optim", e.msg);
    if (sq_sched_parse(c->schedule, &sc, &e))
        return bad_option("train", "--schedule", e.msg);
    for (int ep = 0; ep < c->epochs; ep++) {
        double lr = sq_sched_lr(&sc, c->lr, ep, c->epochs);
        if (!isfinite(lr) || lr < 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "'%s' with --lr %g gives the learning rate %g in epoch %d; "
                     "choose one whose rate stays finite and >= 0", c->schedule, c->lr, lr, ep + 1);
            return bad_option("train", "--schedule", msg);
        }
    }
    for (int i = 0; i < c->n_plugins; i++)
        if (check_readable("train", "--plugin", c->plugins[i]))
            return 2;
    const char *plugins[8], *kv[16];
    double vals[SQ_QMAX_OPTS];
    for (int i = 0; i < c->n_plugins; i++)
        plugins[i] = c->plugins[i];
    for (int i = 0; i < c->n_qopts; i++)
        kv[i] = c->qopts[i];
    if (sq_quant_setup(plugins, c->n_plugins, &e))
        return bad_option("train", "--plugin", e.msg);
    const sq_quantizer *q = sq_quant_get(c->quantizer, &e);
    if (!q)
        return bad_option("train", "--quantizer", e.msg);
    if (sq_qopts_parse(q, kv, c->n_qopts, vals, &e))
        return bad_option("train", "--q-opt", e.msg);
    if (c->init[0] && check_readable("train", "--init", c->init))
        return 2;
    struct stat st;
    char path[600], msg[1400];
    if (stat(c->out, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(msg, sizeof msg, "'%s' exists and is not a directory", c->out);
        return bad_option("train", "--out", msg);
    }
    snprintf(path, sizeof path, "%s/state.safetensors", c->out);
    int state = access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/result.yaml", c->out);
    int done = access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/diverged.yaml", c->out);
    if (!c->resume && state && !done && access(path, F_OK) != 0) {
        snprintf(msg, sizeof msg, "'%s' holds an unfinished run (state.safetensors): add --resume "
                 "to continue it, or choose another --out (or delete the directory) to start over",
                 c->out);
        return bad_option("train", "--out", msg);
    }
    return 0;
}

/* ---- SIGINT / SIGTERM: stop at the next batch, save, exit 128 + signal --- */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    static const char msg[] = "\nsymog train: stopping after this batch to save the state "
                              "(send the signal again to quit at once)\n";
    if (stop_signal) { /* the second one: the default action, now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* file I/O carries on; the loop checks the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The value of option --name in argv (either "--name V" or "--name=V"), or
 * NULL; the last one wins, as in opts_parse. */
static const char *prescan(int argc, char **argv, const char *name)
{
    const char *v = NULL;
    size_t n = strlen(name);
    for (int i = 2; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n)) {
            if (argv[i][2 + n] == '=')
                v = argv[i] + 3 + n;
            else if (!argv[i][2 + n] && i + 1 < argc)
                v = argv[++i];
        }
    return v;
}

/* --recipe (default: by --data) sets its fields before the options are
 * parsed, so options given explicitly override it wherever they stand. */
static int apply_recipe(sq_train_cfg *c, int argc, char **argv)
{
    const char *data = prescan(argc, argv, "data"), *name = prescan(argc, argv, "recipe");
    sq_err e = {{0}};
    if (data)
        snprintf(c->data, sizeof c->data, "%s", data);
    return sq_train_recipe(c, name ? name : "auto", &e) ? bad_option("train", "--recipe", e.msg)
                                                        : 0;
}

int cmd_train(int argc, char **argv)
{
    sq_train_cfg c;
    sq_train_defaults(&c);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", cli_data_dir());
    if (apply_recipe(&c, argc, argv))
        return 2;
    int quiet = 0;
    char out[sizeof c.out] = "";
    const opt t[] = {
        {"model", OPT_STR, STR(c.model), 0, 0, "NAME", "architecture: lenet5 (default), lenet5-classic, lenet5-bn, vgg7, vgg11, densenet40, densenet-bc100; see `symog models`"},
        {"data", OPT_STR, STR(c.data), 0, 0, "NAME", "dataset: fashion-mnist (default), mnist, cifar10, cifar100"},
        {"data-dir", OPT_STR, STR(c.data_dir), 0, 0, "DIR", "where mnist/cifar live (default $SYMOG_DATA or ./data)"},
        {"recipe", OPT_STR, STR(c.recipe), 0, 0, "NAME", "settings to start from: mnist, cifar, twn (default: cifar for CIFAR data, else mnist); explicit options override it"},
        {"epochs", OPT_INT, &c.epochs, 0, 1, 1000, "N", "training epochs (default 10)"},
        {"batch", OPT_INT, &c.batch, 0, 1, 65536, "N", "mini-batch size (default: the recipe's, 64 or 128)"},
        {"eval-batch", OPT_INT, &c.eval_batch, 0, 1, 65536, "N", "batch size for evaluation (default: the recipe's, 500 or 128)"},
        {"lr", OPT_NUM, &c.lr, 0, 1e-12, 100, "X", "base learning rate (default: the recipe's, 0.01 or 0.1)"},
        {"optim", OPT_STR, STR(c.optim), 0, 0, "NAME", "sgd[:MOM] (default, momentum 0.9), nesterov[:MOM], adam[:B1,B2[,EPS]]"},
        {"momentum", OPT_NUM, &c.momentum, 0, 0, 0.9999, "X", "SGD momentum when --optim sgd (default 0.9)"},
        {"wd", OPT_NUM, &c.weight_decay, 0, 0, 1, "X", "weight decay on conv/dense weights (default: the recipe's, 5e-4; twn 1e-4)"},
        {"schedule", OPT_STR, STR(c.schedule), 0, 0, "S", "lr schedule: const, step:E[:G], multistep:E1,E2[:G], cosine[:MIN] (default), exp:G, any +warmup:W"},
        {"seed", OPT_U64, &c.seed, 0, 0, 0, "N", "random seed for init, shuffling, augmentation (default 1)"},
        {"threads", OPT_INT, &c.threads, 0, 1, 256, "N", "OpenBLAS threads (default 2)"},
        {"out", OPT_STR, STR(out), 0, 0, "DIR", "run directory (default results/runs/manual/MODEL-DATA)"},
        {"resume", OPT_FLAG, &c.resume, 0, 0, 0, NULL, "continue from DIR/state.safetensors if it exists"},
        {"save-steps", OPT_INT, &c.save_steps, 0, 0, 1e9, "N", "also checkpoint every N batches inside an epoch (default 0: off)"},
        {"save-minutes", OPT_NUM, &c.save_minutes, 0, 0, 1e6, "X", "also checkpoint every X minutes (default 10; 0: off)"},
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
                        "metrics.csv, state.safetensors, model.safetensors, result.yaml, diag.csv, hist/}.\n"
                        "SIGINT/SIGTERM stop at the next batch and save the state for --resume.\n"
                        "Exit: 0 done, 1 failed, 2 bad invocation, 3 diverged (NaN/Inf; DIR/diverged.yaml),\n"
                        "130/143 stopped by SIGINT/SIGTERM (state saved).",
                        &c);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (out[0])
        memcpy(c.out, out, sizeof out);
    else
        snprintf(c.out, sizeof c.out, "results/runs/manual/%s-%s", c.model, c.data);
    if (check_train(&c))
        return 2;
    if (quiet)
        sq_log_level = SQ_LOG_QUIET;
    sq_train_result res;
    sq_err e = {{0}};
    c.interrupt = &stop_signal;
    catch_stop_signals();
    if (sq_train(&c, &res, &e)) {
        fprintf(stderr, "symog train: %s\n", e.msg);
        return res.status == SQ_TRAIN_DIVERGED ? 3 : 1;
    }
    if (res.status == SQ_TRAIN_INTERRUPTED) {
        fprintf(stderr, "symog train: interrupted by %s in epoch %d after batch %d of %d; the "
                        "state is saved in %s/state.safetensors: run the same command with "
                        "--resume to continue\n", res.signal == SIGINT ? "SIGINT" :
                        res.signal == SIGTERM ? "SIGTERM" : "a signal", res.stop_epoch,
                res.stop_step, res.epoch_steps, c.out);
        return 128 + res.signal;
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
    if (check_model("eval", model) || check_data("eval", data) ||
        check_readable("eval", "--checkpoint", ckpt))
        return 2;
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
        if (strcmp(argv[2], "--help") && strcmp(argv[2], "-h")) {
            fprintf(stderr, "symog models: unexpected argument '%s' (it takes no options; "
                            "see --help)\n", argv[2]);
            return 2;
        }
        printf("usage: symog models\n\nLists the architectures for 28x28x1 / 32x32x3 inputs.\n");
        return 0;
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
        const char *v = !strncmp(argv[i], "--plugin=", 9) ? argv[i] + 9
                        : !strcmp(argv[i], "--plugin") && i + 1 < argc ? argv[++i] : NULL;
        if (v && n < 8 && !check_readable("quantizers", "--plugin", v)) {
            plugins[n++] = v;
            continue;
        }
        if (v && n < 8)
            return 2;
        if (v || !strcmp(argv[i], "--plugin")) {
            fprintf(stderr, "symog quantizers: --plugin: %s\n",
                    v ? "at most 8 plugins" : "needs a value (FILE.so)");
            return 2;
        }
        fprintf(stderr, "symog quantizers: unexpected argument '%s' (valid: --plugin FILE.so, "
                        "--help)\n", argv[i]);
        return 2;
    }
    sq_err e = {{0}};
    if (sq_quant_setup(plugins, n, &e)) {
        fprintf(stderr, "symog quantizers: %s\n", e.msg);
        return 2; /* a --plugin that cannot be loaded */
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
