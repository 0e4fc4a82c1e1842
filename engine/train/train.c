/* train.c - one training run: data, model, optimizer, the epoch loop,
 * evaluation, progress, and the files a run leaves in its directory:
 *   config.yaml   every setting (written first)
 *   metrics.csv   one row per finished epoch
 *   state.safetensors  everything --resume needs (rewritten each epoch,
 *                 and inside an epoch every --save-steps batches, every
 *                 --save-minutes and when interrupted by SIGINT/SIGTERM);
 *                 state.c writes and reads it
 *   model.safetensors  the final model, PyTorch names and layouts
 *   result.yaml   the outcome (written last: its presence means "done")
 *   diverged.yaml instead of result.yaml when NaN/Inf appeared: the epoch,
 *                 step and tensor where (the run is then never a result)
 *   diag.csv, hist/   per-epoch quantization diagnostics (quant/qrun.c)
 *
 * Crash safety: every file is written atomically (io/atomic.h), so a run
 * killed at any point leaves the previous complete version of each; what
 * the state holds, so that --resume from any checkpoint ends with exactly
 * the bytes of an uninterrupted run, and how resume checks the settings,
 * is told in state.c. The default settings and the named recipes are in
 * recipe.c; struct run, which this file and state.c share, is in run.h.
 *
 * One training step, with the quantizer's hooks:
 *   qrun_forward (wq from w) -> net forward -> loss -> net backward (dL/dwq)
 *   -> qrun_backward (dL/dw, regulariser) -> optimizer step (w, learned
 *   quantizer parameters) -> qrun_after_step (clipping). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "checkpoint.h"
#include "data/data.h"
#include "guard.h"
#include "io/atomic.h"
#include "io/yamlio.h"
#include "models/models.h"
#include "optim/optim.h"
#include "quant/quant.h"
#include "run.h"
#include "train.h"

static int load_data(run *r, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    if (sq_data_open(c->data, c->data_dir, 1, &r->train, e) ||
        sq_data_open(c->data, c->data_dir, 0, &r->test, e))
        return -1;
    if (c->train_subset > 0 && sq_dataset_subset(&r->train, c->train_subset, e))
        return sq_wrap(e, "--train-subset %d", c->train_subset);
    if (c->test_subset > 0 && sq_dataset_subset(&r->test, c->test_subset, e))
        return sq_wrap(e, "--test-subset %d", c->test_subset);
    if (sq_data_norm(c->data, r->mean, r->std, e))
        return -1;
    r->augment = c->augment >= 0 ? c->augment : r->train.h == 32;
    return 0;
}

static int setup_quantizer(run *r, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    const char *plugins[8], *kv[16];
    double opt[SQ_QMAX_OPTS];
    for (int i = 0; i < c->n_plugins; i++)
        plugins[i] = c->plugins[i];
    for (int i = 0; i < c->n_qopts; i++)
        kv[i] = c->qopts[i];
    if (sq_quant_setup(plugins, c->n_plugins, e))
        return -1;
    const sq_quantizer *q = sq_quant_get(c->quantizer, e);
    if (!q || sq_qopts_parse(q, kv, c->n_qopts, opt, e))
        return -1;
    r->quantized = strcmp(q->name, "float") != 0;
    sq_rng_seed(&r->qrng, c->seed ^ 0x51554e54ULL);
    return sq_qrun_init(&r->q, q, c->bits, opt, c->first_last, &r->net, &r->opt, &r->qrng, e);
}

/* ---- numerical faults (guard.c finds and records them) ------------------ */
/* Weights loaded from a file (--init, --resume) must be finite. */
int sq_tr_check_loaded(run *r, const char *path, sq_err *e)
{
    sq_fault f;
    char v[32];
    if (sq_scan_state(&r->net, &r->q, &f))
        return sq_fail(e, "%s: the %s of %s hold %s: the run that wrote it had diverged; use an "
                          "earlier checkpoint or start over", path, f.kind, f.tensor,
                       sq_gnum(f.value, v));
    return 0;
}

/* Record a divergence in DIR/diverged.yaml (never result.yaml) and fail
 * with the epoch, step (1-based batch of the epoch) and tensor. */
static int diverged(run *r, int epoch, int step, double loss, double lr, const sq_fault *f,
                    const char *detail, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    sq_divergence d = {epoch + 1, step, r->nbatches, r->epochs_done, loss, lr,
                       (unsigned long long)c->seed, c->model, c->quantizer, detail};
    sq_err we = {{0}};
    int wrote = sq_write_diverged(c->out, &d, f, &we) == 0;
    r->status = SQ_TRAIN_DIVERGED;
    r->stop_epoch = epoch + 1;
    r->stop_step = step;
    return sq_fail(e, "training diverged in epoch %d, step %d of %d: %s; recorded in "
                      "%s/diverged.yaml%s%s, no result.yaml; lower --lr (now %g) or change the "
                      "quantizer options", epoch + 1, step, r->nbatches, detail, c->out,
                   wrote ? "" : " (failed: ", wrote ? "" : we.msg, lr);
}

/* The loss of batch k (0-based) of epoch is not finite. */
static int diverged_loss(run *r, int epoch, int k, int nb, double loss, double lr, sq_err *e)
{
    sq_fault f;
    char detail[SQ_NAME + 256];
    sq_fault_explain_loss(&r->net, &r->q, nb, loss, &f, detail, sizeof detail);
    return diverged(r, epoch, k + 1, loss, lr, &f, detail, e);
}

/* After the last step of an epoch: weights, their last gradients, the
 * quantizer's parameters and the batch-norm statistics must be finite
 * (NaN can vanish on its way to the loss: ReLU maps it to 0). */
static int check_epoch(run *r, int epoch, double loss, double lr, sq_err *e)
{
    sq_fault f = {0};
    char detail[SQ_NAME + 256], v[32];
    if (!sq_scan_params(&r->net, SQ_SCAN_GRADIENTS, &f) && !sq_scan_state(&r->net, &r->q, &f))
        return 0;
    snprintf(detail, sizeof detail, "after the epoch's last step the %s of %s hold %s", f.kind,
             f.tensor, sq_gnum(f.value, v));
    return diverged(r, epoch, r->nbatches, loss, lr, &f, detail, e);
}

static int setup(run *r, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    int B = SQ_MAX(c->batch, c->eval_batch);
    sq_shape in = {r->train.c, r->train.h, r->train.w};
    if (sq_model_build(c->model, &r->net, in, r->train.classes, e))
        return -1;
    r->net.threads = c->threads;
    if (sq_net_reserve(&r->net, B, 1, e))
        return -1;
    sq_rng init_rng;
    sq_rng_seed(&init_rng, c->seed);
    sq_net_init(&r->net, &init_rng);
    if (c->init[0] && sq_ckpt_load_net(c->init, &r->net, NULL, NULL, e))
        return sq_wrap(e, "--init");
    if (c->init[0] && sq_tr_check_loaded(r, c->init, e))
        return sq_wrap(e, "--init");
    if (sq_optim_parse(c->optim, &r->ocfg, e))
        return -1;
    if (r->ocfg.kind == SQ_SGD && strcmp(c->optim, "sgd") == 0)
        r->ocfg.momentum = c->momentum;
    r->ocfg.weight_decay = c->weight_decay;
    if (sq_optim_init(&r->opt, &r->ocfg, &r->net, e) || sq_sched_parse(c->schedule, &r->sched, e))
        return -1;
    for (int ep = 0; ep < c->epochs; ep++) {
        double lr = sq_sched_lr(&r->sched, c->lr, ep, c->epochs);
        if (!isfinite(lr) || lr < 0)
            return sq_fail(e, "--schedule %s with --lr %g gives the learning rate %g in epoch %d; "
                              "choose a schedule whose rate stays finite", c->schedule, c->lr, lr,
                           ep + 1);
    }
    if (setup_quantizer(r, e))
        return -1;
    r->nbatches = (r->train.n + c->batch - 1) / c->batch;
    r->idx = sq_calloc((size_t)r->train.n, sizeof(int));
    r->y = sq_calloc((size_t)B, sizeof(int));
    r->x = sq_alloc_real((size_t)B * r->train.c * r->train.h * r->train.w);
    r->dlogits = sq_alloc_real((size_t)B * r->net.classes);
    if (!r->idx || !r->y || !r->x || !r->dlogits)
        return sq_fail(e, "out of memory for batch buffers");
    return 0;
}

/* ---- files ------------------------------------------------------------- */
static void write_quant_config(run *r, sq_yw *w)
{
    const sq_quantizer *q = r->q.q;
    const char *origin = "built-in";
    for (int i = 0; i < sq_quant_count(); i++)
        if (sq_quant_at(i, &origin) == q)
            break;
    sq_yw_map_begin(w, "quantizer");
    sq_yw_str(w, "name", q->name);
    sq_yw_str(w, "origin", origin);
    sq_yw_int(w, "bits", r->quantized ? r->cfg->bits : 32);
    sq_yw_bool(w, "first_last_quantized", r->cfg->first_last);
    sq_yw_seq_begin(w, "tensors");
    for (int k = 0; k < r->q.n; k++)
        sq_yw_str(w, NULL, r->q.s[k].t.name);
    sq_yw_seq_end(w);
    sq_yw_map_begin(w, "options");
    for (int i = 0; i < q->n_options; i++) {
        char buf[64];
        sq_qopt_format(q, i, r->q.opt[i], buf, sizeof buf);
        sq_yw_str(w, q->options[i].key, buf);
    }
    sq_yw_map_end(w);
    sq_yw_map_end(w);
}

static int write_config(run *r, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    char path[1100], buf[SQ_SCHED_STR];
    path_in(path, sizeof path, c->out, "config.yaml");
    sq_yw *w = sq_yw_open(path, e);
    if (!w)
        return -1;
    sq_yw_str(w, "model", c->model);
    sq_yw_str(w, "recipe", c->recipe);
    sq_yw_int(w, "params", (long long)sq_net_param_count(&r->net));
    sq_yw_map_begin(w, "data");
    sq_yw_str(w, "name", c->data);
    sq_yw_str(w, "source", r->train.source);
    sq_yw_str(w, "sha256_train", r->train.sha256);
    sq_yw_str(w, "sha256_test", r->test.sha256);
    sq_yw_int(w, "train_size", r->train.n);
    sq_yw_int(w, "test_size", r->test.n);
    sq_yw_bool(w, "augment", r->augment);
    sq_yw_seq_begin(w, "norm_mean");
    for (int i = 0; i < r->train.c; i++)
        sq_yw_float(w, NULL, r->mean[i]);
    sq_yw_seq_end(w);
    sq_yw_seq_begin(w, "norm_std");
    for (int i = 0; i < r->train.c; i++)
        sq_yw_float(w, NULL, r->std[i]);
    sq_yw_seq_end(w);
    sq_yw_str(w, "norm_applies_to", "pixel/255, per channel: (x - mean) / std");
    sq_yw_map_end(w);
    sq_yw_int(w, "epochs", c->epochs);
    sq_yw_int(w, "batch", c->batch);
    sq_yw_num(w, "lr", c->lr);
    sq_yw_str(w, "optimizer", sq_optim_str(&r->ocfg, buf));
    sq_yw_num(w, "weight_decay", c->weight_decay);
    sq_yw_str(w, "schedule", sq_sched_str(&r->sched, buf));
    sq_yw_int(w, "seed", (long long)c->seed);
    sq_yw_int(w, "threads", c->threads);
    sq_yw_str(w, "init", c->init[0] ? c->init : "random (He normal, zero biases)");
    sq_yw_str(w, "epoch_policy", "final (test_error is the last epoch's)");
    write_quant_config(r, w);
    return sq_yw_close(w, e);
}

static int write_metrics(run *r, sq_err *e)
{
    char path[1100];
    path_in(path, sizeof path, r->cfg->out, "metrics.csv");
    sq_afile *a = sq_afile_open(path, e);
    if (!a)
        return -1;
    FILE *f = sq_afile_fp(a);
    fprintf(f, "epoch,train_loss,train_error,test_error,test_error_soft,lr,seconds\n");
    for (int i = 0; i < r->epochs_done; i++) {
        const double *m = r->metrics[i];
        fprintf(f, "%d,%.6f,%.4f,%.4f,%.4f,%.6g,%.2f\n", (int)m[M_EPOCH], m[M_LOSS],
                m[M_TRAIN_ERR], m[M_TEST_ERR], m[M_TEST_SOFT], m[M_LR], m[M_SECONDS]);
    }
    return sq_afile_commit(a, e);
}

/* ---- the loop ---------------------------------------------------------- */
static double evaluate(run *r, const sq_dataset *d)
{
    int B = r->cfg->eval_batch, wrong = 0;
    for (int i = 0; i < d->n; i += B) {
        int nb = SQ_MIN(B, d->n - i), w;
        for (int j = 0; j < nb; j++)
            r->idx[j] = i + j;
        sq_make_batch(d, r->idx, nb, r->mean, r->std, 0, NULL, r->x, r->y);
        const sq_real *z = sq_net_forward(&r->net, r->x, nb, 0, NULL);
        sq_softmax_xent(z, r->y, nb, r->net.classes, NULL, &w);
        wrong += w;
    }
    return 100.0 * wrong / d->n;
}

static void progress(const run *r, int epoch, int done, int total, double loss, double t0, int bar)
{
    double el = sq_now() - t0, ips = done / (el > 0 ? el : 1);
    double eta = (total - done) / (ips > 0 ? ips : 1);
    if (!bar)
        return;
    int width = 24, fill = (int)((double)width * done / total);
    char b[32];
    for (int i = 0; i < width; i++)
        b[i] = i < fill ? '#' : '.';
    b[width] = 0;
    fprintf(stderr, "\repoch %d/%d [%s] %3d%% loss %.4f %6.0f img/s ETA %3.0fs ", epoch + 1,
            r->cfg->epochs, b, 100 * done / total, loss, ips, eta);
    fflush(stderr);
}

static int interrupted(const run *r)
{
    return r->cfg->interrupt && *r->cfg->interrupt;
}

/* A checkpoint inside the epoch is due after batch k+1 (not the last). */
static int periodic_due(const run *r, int done)
{
    const sq_train_cfg *c = r->cfg;
    if (done >= r->nbatches)
        return 0;
    return (c->save_steps > 0 && done % c->save_steps == 0) ||
           (c->save_minutes > 0 && sq_now() - r->last_save >= 60 * c->save_minutes);
}

/* Stop at a batch boundary: save where we are. Returns 1 or -1. */
static int stop_here(run *r, int epoch, sq_err *e)
{
    if (sq_tr_checkpoint(r, e))
        return -1;
    r->status = SQ_TRAIN_INTERRUPTED;
    r->stop_epoch = epoch + 1;
    r->stop_step = r->ep_step;
    return 1;
}

/* Train epoch `epoch` from batch r->ep_step on (0, or where a mid-epoch
 * checkpoint left off). 0: the epoch is done; 1: interrupted, state saved;
 * -1: an error or divergence (e set). */
static int train_epoch(run *r, int epoch, double lr, double *loss_out, double *err_out, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    int n = r->train.n, B = c->batch;
    long long steps = (long long)c->epochs * r->nbatches;
    sq_rng shuffle;
    sq_rng_seed(&shuffle, c->seed * 1000003ULL + (uint64_t)epoch + 1);
    for (int i = 0; i < n; i++)
        r->idx[i] = i;
    sq_shuffle(r->idx, n, &shuffle);
    if (r->ep_step == 0) { /* a fresh epoch (else ep_* came from the state) */
        if (interrupted(r))
            return stop_here(r, epoch, e); /* before epoch_begin: an epoch-end state */
        r->ep_rng = shuffle;
        r->ep_loss = 0;
        r->ep_wrong = 0;
        sq_qrun_progress(&r->q, epoch, c->epochs, r->opt.t, steps);
        sq_qrun_epoch_begin(&r->q);
    }
    int bar = c->progress > 0 || (c->progress < 0 && isatty(2)), first = r->ep_step;
    double t0 = sq_now(), last = 0;
    for (int k = first; k < r->nbatches; k++) {
        int i = k * B, nb = SQ_MIN(B, n - i), w;
        r->ep_step = k;
        if (k > 0 && interrupted(r))
            return stop_here(r, epoch, e);
        sq_make_batch(&r->train, r->idx + i, nb, r->mean, r->std, r->augment, &r->ep_rng, r->x,
                      r->y);
        sq_qrun_progress(&r->q, epoch, c->epochs, r->opt.t, steps);
        sq_qrun_forward(&r->q);
        const sq_real *z = sq_net_forward(&r->net, r->x, nb, 1, &r->ep_rng);
        double bl = sq_softmax_xent(z, r->y, nb, r->net.classes, r->dlogits, &w);
        if (!isfinite(bl))
            return diverged_loss(r, epoch, k, nb, bl, lr, e);
        r->ep_loss += bl * nb;
        r->ep_wrong += w;
        sq_net_backward(&r->net, r->dlogits);
        sq_qrun_backward(&r->q);
        sq_optim_step(&r->opt, &r->net, lr);
        sq_qrun_step(&r->q, &r->opt, lr);
        sq_qrun_after_step(&r->q);
        r->bn_batches++;
        r->ep_step = k + 1;
        if (periodic_due(r, k + 1) && sq_tr_save_state(r, e))
            return -1;
        if (sq_now() - last > 0.2 || i + nb == n) {
            progress(r, epoch, i + nb - first * B, n - first * B, r->ep_loss / (i + nb), t0, bar);
            last = sq_now();
        }
    }
    if (bar)
        fprintf(stderr, "\n");
    r->ep_step = 0;
    *loss_out = r->ep_loss / n;
    *err_out = 100.0 * r->ep_wrong / n;
    return 0;
}

/* Test error with the weights training computes with (soft) and with the
 * hard-quantized Q(w); for the float run they are the same evaluation. */
static void evaluate_both(run *r, double *soft, double *hard)
{
    sq_qrun_forward(&r->q);
    *soft = evaluate(r, &r->test);
    if (!r->quantized) {
        *hard = *soft;
        return;
    }
    sq_qrun_hard(&r->q);
    *hard = evaluate(r, &r->test);
    sq_qrun_forward(&r->q);
}

/* -1 when counting distinct values ran out of memory. */
static int write_quant_result(run *r, sq_yw *w)
{
    sq_qrun *q = &r->q;
    double packed = 0, floatsz = 4.0 * sq_net_param_count(&r->net);
    size_t qn = 0;
    sq_yw_str(w, "quantizer", q->q->name);
    sq_yw_int(w, "bits", r->quantized ? r->cfg->bits : 32);
    sq_yw_bool(w, "first_last_quantized", r->cfg->first_last);
    sq_yw_map_begin(w, "quantizer_options");
    for (int i = 0; i < q->q->n_options; i++) {
        char buf[64];
        sq_qopt_format(q->q, i, q->opt[i], buf, sizeof buf);
        sq_yw_str(w, q->q->options[i].key, buf);
    }
    sq_yw_map_end(w);
    sq_yw_map_begin(w, "layers");
    for (int k = 0; k < q->n; k++) {
        const sq_qtensor *t = &q->s[k].t;
        sq_qstats st = {0, SQ_QEXP_NONE, 0, 0};
        if (q->q->stats)
            q->q->stats(t, &st);
        sq_yw_map_begin(w, t->name);
        sq_yw_int(w, "weights", (long long)t->n);
        size_t distinct = sq_count_distinct(t->w, t->n);
        if (distinct == 0 && t->n > 0)
            return -1;
        sq_yw_int(w, "distinct_values", (long long)distinct);
        if (st.step > 0)
            sq_yw_num(w, "step", st.step);
        if (st.exponent != SQ_QEXP_NONE)
            sq_yw_int(w, "step_exponent", st.exponent);
        sq_yw_map_end(w);
        qn += t->n;
        packed += r->quantized ? t->n * (double)r->cfg->bits / 8 + 4.0 * (size_t)t->dims[0] : 0;
    }
    sq_yw_map_end(w);
    /* packed: codes at `bits` each plus at most one float scale per output
     * channel; every other parameter stays float32 */
    packed += 4.0 * (sq_net_param_count(&r->net) - (r->quantized ? qn : 0));
    sq_yw_int(w, "model_bytes_packed", (long long)ceil(packed));
    sq_yw_int(w, "model_bytes_float", (long long)floatsz);
    return 0;
}

static int write_result(run *r, sq_train_result *res, sq_err *e)
{
    char path[1100];
    path_in(path, sizeof path, r->cfg->out, "result.yaml");
    sq_yw *w = sq_yw_open(path, e);
    if (!w)
        return -1;
    sq_yw_num(w, "test_error", res->test_error);
    sq_yw_num(w, "test_error_soft", res->test_error_soft);
    sq_yw_num(w, "best_test_error", res->best_test_error);
    sq_yw_num(w, "train_error", res->train_error);
    sq_yw_num(w, "train_loss", res->train_loss);
    sq_yw_int(w, "epochs", r->cfg->epochs);
    sq_yw_int(w, "params", (long long)sq_net_param_count(&r->net));
    sq_yw_num(w, "seconds", res->seconds);
    sq_yw_int(w, "seed", (long long)r->cfg->seed);
    sq_yw_str(w, "model", r->cfg->model);
    sq_yw_str(w, "dataset", r->cfg->data);
    sq_yw_str(w, "dataset_sha256_train", r->train.sha256);
    sq_yw_str(w, "dataset_sha256_test", r->test.sha256);
    sq_yw_int(w, "train_size", r->train.n);
    sq_yw_int(w, "test_size", r->test.n);
    if (write_quant_result(r, w)) {
        sq_yw_abort(w);
        return sq_fail(e, "writing %s: out of memory counting distinct weight values", path);
    }
    return sq_yw_close(w, e);
}

/* The integer codes and scales of every quantized tensor, beside the
 * finalized weights in model.safetensors. */
static int export_codes(run *r, sq_ckpt_extra *x, sq_err *e)
{
    sq_qrun *q = &r->q;
    for (int k = 0; k < q->n && r->quantized; k++) {
        const sq_qtensor *t = &q->s[k].t;
        int32_t *codes = sq_malloc(t->n * sizeof(int32_t));
        float *scale = sq_malloc((size_t)t->dims[0] * sizeof(float));
        int per_channel = 0, exponent = SQ_QEXP_NONE, rc = -1;
        char msg[256] = "", name[SQ_NAME + 16];
        int64_t shape[4], ns;
        if (!codes || !scale) {
            sq_fail(e, "out of memory exporting %s", t->name);
            goto next;
        }
        if (q->q->export_codes(t, codes, scale, &per_channel, &exponent, msg, sizeof msg)) {
            sq_fail(e, "quantizer %s cannot export %s: %s", q->q->name, t->name, msg);
            goto next;
        }
        for (int i = 0; i < t->ndim; i++)
            shape[i] = t->dims[i];
        ns = per_channel ? t->dims[0] : 1;
        snprintf(name, sizeof name, "%.*s.codes", SQ_NAME - 1, t->name);
        if (sq_ckpt_extra_add(x, name, "I32", t->ndim, shape, codes, e))
            goto next;
        snprintf(name, sizeof name, "%.*s.scale", SQ_NAME - 1, t->name);
        if (sq_ckpt_extra_add(x, name, "F32", 1, &ns, scale, e))
            goto next;
        if (exponent != SQ_QEXP_NONE) {
            int32_t ex = exponent;
            snprintf(name, sizeof name, "%.*s.scale_exponent", SQ_NAME - 1, t->name);
            if (sq_ckpt_extra_add(x, name, "I32", 0, NULL, &ex, e))
                goto next;
        }
        rc = 0;
    next:
        sq_free(codes);
        sq_free(scale);
        if (rc)
            return -1;
    }
    return 0;
}

static int finish(run *r, sq_train_result *res, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    memset(res, 0, sizeof *res);
    res->best_test_error = 100;
    for (int i = 0; i < r->epochs_done; i++) {
        res->seconds += r->metrics[i][M_SECONDS];
        res->best_test_error = SQ_MIN(res->best_test_error, r->metrics[i][M_TEST_ERR]);
    }
    const double *last = r->metrics[r->epochs_done - 1];
    sq_qrun_forward(&r->q);
    res->test_error_soft = evaluate(r, &r->test);
    sq_qrun_finalize(&r->q);
    res->test_error = evaluate(r, &r->test);
    res->train_loss = last[M_LOSS];
    res->train_error = last[M_TRAIN_ERR];
    res->epochs_done = r->epochs_done;
    char path[1100], bits[16];
    snprintf(bits, sizeof bits, "%d", r->quantized ? c->bits : 32);
    path_in(path, sizeof path, c->out, "model.safetensors");
    const char *meta[] = {"format", "symog-model-1", "model", c->model, "dataset", c->data,
                          "quantizer", r->q.q->name, "bits", bits, NULL};
    sq_ckpt_extra x = {0};
    int rc = export_codes(r, &x, e) ||
             sq_ckpt_save(path, &r->net, r->bn_batches, &x, meta, e) || write_result(r, res, e);
    sq_ckpt_extra_free(&x);
    return rc ? -1 : 0;
}

static int loop(run *r, sq_train_result *res, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    if (!r->from_state && sq_qrun_diagnostics(&r->q, c->out, 0, e))
        return -1;
    r->last_save = sq_now();
    for (int ep = r->epochs_done; ep < c->epochs; ep++) {
        double t0 = sq_now(), lr = sq_sched_lr(&r->sched, c->lr, ep, c->epochs), loss = 0, terr = 0;
        int st = train_epoch(r, ep, lr, &loss, &terr, e);
        if (st < 0)
            return -1;
        if (st > 0) {
            res->epochs_done = r->epochs_done;
            return 0;
        }
        if (check_epoch(r, ep, loss, lr, e))
            return -1;
        double soft, hard;
        evaluate_both(r, &soft, &hard);
        double *m = r->metrics[ep];
        m[M_EPOCH] = ep + 1, m[M_LOSS] = loss, m[M_TRAIN_ERR] = terr, m[M_TEST_ERR] = hard;
        m[M_TEST_SOFT] = soft, m[M_LR] = lr, m[M_SECONDS] = sq_now() - t0;
        r->epochs_done = ep + 1;
        if (r->quantized)
            sq_log(SQ_LOG_INFO, "epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%% (soft %.2f%%)  "
                                "lr %.4g  %.1fs\n",
                   ep + 1, c->epochs, loss, terr, hard, soft, lr, m[M_SECONDS]);
        else
            sq_log(SQ_LOG_INFO, "epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  lr %.4g  %.1fs\n",
                   ep + 1, c->epochs, loss, terr, hard, lr, m[M_SECONDS]);
        if (sq_qrun_diagnostics(&r->q, c->out, ep + 1, e) || write_metrics(r, e))
            return -1;
        int stop = c->stop_after > 0 && r->epochs_done >= c->stop_after && r->epochs_done < c->epochs;
        if ((r->epochs_done % c->save_every == 0 || r->epochs_done == c->epochs || stop) &&
            sq_tr_save_state(r, e))
            return -1;
        if (stop) {
            r->status = SQ_TRAIN_STOPPED;
            res->epochs_done = r->epochs_done;
            return 0;
        }
    }
    return finish(r, res, e);
}

static void run_free(run *r)
{
    sq_dataset_free(&r->train);
    sq_dataset_free(&r->test);
    sq_qrun_free(&r->q);
    sq_net_free(&r->net);
    sq_optim_free(&r->opt);
    sq_free(r->idx);
    sq_free(r->y);
    sq_free(r->x);
    sq_free(r->dlogits);
}

/* Files an atomic write of a killed process left behind
 * (".NAME.tmp.PID.N.T", io/atomic.c): those of processes that are gone. */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *t = de->d_name[0] == '.' ? strstr(de->d_name, ".tmp.") : NULL;
        char *end, path[1400];
        if (!t)
            continue;
        long pid = strtol(t + 5, &end, 10);
        if (end == t + 5 || *end != '.' || pid <= 0 || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path)
            unlink(path);
    }
    closedir(d);
}

/* Before the first write: tidy what earlier runs in DIR left, and refuse to
 * overwrite an unfinished run that --resume could continue. */
static int prepare_dir(run *r, sq_err *e)
{
    const sq_train_cfg *c = r->cfg;
    char state[1100], result[1100], div[1100], hist[1100];
    path_in(state, sizeof state, c->out, "state.safetensors");
    path_in(result, sizeof result, c->out, "result.yaml");
    path_in(div, sizeof div, c->out, "diverged.yaml");
    path_in(hist, sizeof hist, c->out, "hist");
    remove_stale_temps(c->out);
    remove_stale_temps(hist);
    if (!c->resume && access(state, F_OK) == 0 && access(result, F_OK) != 0 &&
        access(div, F_OK) != 0)
        return sq_fail(e, "%s holds an unfinished run (state.safetensors): continue it with "
                          "--resume, or start over with another --out (or delete the directory)",
                       c->out);
    if (!c->resume)
        unlink(result); /* a new run: the old outcome no longer applies */
    unlink(div);
    return 0;
}

int sq_train(const sq_train_cfg *cfg, sq_train_result *res, sq_err *e)
{
    memset(res, 0, sizeof *res);
    res->status = SQ_TRAIN_FAILED;
    if (cfg->epochs < 1 || cfg->epochs > 1000)
        return sq_fail(e, "--epochs %d: must be 1..1000", cfg->epochs);
    if (cfg->batch < 1)
        return sq_fail(e, "--batch %d: must be at least 1", cfg->batch);
    if (cfg->eval_batch < 1)
        return sq_fail(e, "--eval-batch %d: must be at least 1", cfg->eval_batch);
    if (cfg->save_every < 1)
        return sq_fail(e, "save_every %d: must be at least 1 (sq_train_defaults sets it)",
                       cfg->save_every);
    if (!(cfg->lr > 0) || !isfinite(cfg->lr))
        return sq_fail(e, "--lr %g: must be positive and finite", cfg->lr);
    if (cfg->save_steps < 0 || !(cfg->save_minutes >= 0))
        return sq_fail(e, "--save-steps %d, --save-minutes %g: must be >= 0", cfg->save_steps,
                       cfg->save_minutes);
    openblas_set_num_threads(cfg->threads);
    run *r = sq_calloc(1, sizeof *r);
    if (!r)
        return sq_fail(e, "out of memory");
    r->cfg = cfg;
    r->saved_at = -1;
    int rc = -1;
    if (sq_mkdir_p(cfg->out, e) || load_data(r, e) || setup(r, e))
        goto done;
    if (cfg->resume) {
        int st = sq_tr_resume(r, e);
        if (st < 0)
            goto done;
        if (st == 1)
            sq_log(SQ_LOG_INFO, "no state in %s yet: starting from scratch\n", cfg->out);
    }
    if (prepare_dir(r, e) || write_config(r, e))
        goto done;
    sq_log(SQ_LOG_INFO, "%s on %s: %zu parameters, %d train / %d test images, %d epochs\n",
           cfg->model, cfg->data, sq_net_param_count(&r->net), r->train.n, r->test.n, cfg->epochs);
    rc = loop(r, res, e);
    res->status = rc ? (r->status == SQ_TRAIN_DIVERGED ? SQ_TRAIN_DIVERGED : SQ_TRAIN_FAILED)
                     : r->status;
    res->signal = r->status == SQ_TRAIN_INTERRUPTED ? (int)*cfg->interrupt : 0;
    res->stop_epoch = r->stop_epoch;
    res->stop_step = r->stop_step;
    res->epoch_steps = r->nbatches;
done:
    run_free(r);
    sq_free(r);
    return rc;
}
